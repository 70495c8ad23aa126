//! The plan: one build node per (target, platform), plus push (manifest list), load and
//! export nodes, in a petgraph graph whose edges run from a dependency to its dependent.
//! `lower` is pure: it reads the resolved definition and the builders' capabilities.

mod claims;
mod local_tag;
pub mod shard;

use std::collections::{BTreeMap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::model::access::Grants;
use crate::model::capabilities::ImageStore;
use crate::model::output::{Output, OutputKind};
use crate::model::reference::Reference;
use crate::model::{Capabilities, Definition, Item, Platform, Target};
use crate::source::{Diag, Diags, Span};

use claims::Claims;

// Build nodes are larger than the others, but a plan holds few nodes and boxing would only
// add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Node {
    Build(Build),
    Push(Push),
    Load(Load),
    Export(Export),
}

impl Node {
    pub fn id(&self) -> &str {
        match self {
            Node::Build(b) => &b.id,
            Node::Push(p) => &p.id,
            Node::Load(l) => &l.id,
            Node::Export(e) => &e.id,
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Node::Build(b) => &b.target,
            Node::Push(p) => &p.target,
            Node::Load(l) => &l.target,
            Node::Export(e) => &e.target,
        }
    }
}

/// One BuildKit solve: a target for one platform on one builder.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Build {
    pub id: String,
    pub target: String,
    pub platform: Platform,
    /// The preferred builder (the first candidate); `None` when no builder can build the
    /// platform (`check` reports it).
    pub builder: Option<String>,
    pub emulated: bool,
    /// Every builder that may build it, in placement order: native ones first, then (unless
    /// the target forbids emulation) emulating ones, each in declaration order. `apply`
    /// places the build on one of them when it starts (`exec::schedule`).
    pub candidates: Vec<String>,
    pub context: String,
    pub dockerfile: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub contexts: BTreeMap<String, NamedContext>,
    /// Secret ids and where they come from (never their values).
    pub secrets: Vec<String>,
    pub ssh: Vec<String>,
    /// The attestations asked for (`attest` entries not disabled), sent to BuildKit as
    /// `attest:TYPE` frontend attributes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub attest: Vec<String>,
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub pull: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    pub ulimits: Vec<String>,
    pub extra_hosts: BTreeMap<String, String>,
    /// Other targets whose build for this platform is exactly this one: it is built once
    /// and feeds their outputs too.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub shared: Vec<String>,
    #[serde(skip)]
    pub platform_span: Span,
}

impl Build {
    /// Everything that decides what this build produces, as text: two builds with equal
    /// signatures build the same image. Names, spans and the build's own id are left out;
    /// `target:` contexts count by the node they come from.
    pub fn signature(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            for k in ["id", "target", "shared"] {
                o.remove(k);
            }
            if let Some(c) = o.get_mut("contexts").and_then(|c| c.as_object_mut()) {
                for ctx in c.values_mut() {
                    if let Some(ctx) = ctx.as_object_mut() {
                        ctx.remove("target");
                    }
                }
            }
        }
        v.to_string()
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NamedContext {
    /// Another target's build for the same platform (or its only platform).
    Target { target: String, node: String },
    /// Anything else (a directory, `docker-image://`, a URL), passed as written.
    Source { value: String },
}

/// Publishes tags once every platform's image is pushed: an OCI image index (or, for one
/// platform, the image itself).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Push {
    pub id: String,
    pub target: String,
    pub tags: Vec<String>,
    pub platforms: Vec<Platform>,
    /// bake's annotation specs (`KEY=VALUE`, `index:...`, `manifest:...`,
    /// `manifest[PLATFORM]:...`), written into the pushed manifests and index.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub annotations: Vec<String>,
    /// Where each tag was written, in the order of `tags` (for diagnostics about what the
    /// registry serves under it; not part of the plan document).
    #[serde(skip)]
    #[schemars(skip)]
    pub tag_spans: Vec<Span>,
    /// Set when a shard of a saved plan runs this push (`apply --shard`): each platform's
    /// image goes up by digest and nothing else; `rbake publish` writes the index and tags.
    #[serde(skip)]
    #[schemars(skip)]
    pub by_digest: bool,
}

/// Loads images into the builder's engine: one per platform on a classic store, one
/// multi-platform image on a containerd store.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Load {
    pub id: String,
    pub target: String,
    pub builder: Option<String>,
    pub platforms: Vec<Platform>,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Export {
    pub id: String,
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub dest: String,
    pub platforms: Vec<Platform>,
    /// `platform-split=false`: every platform's files go to the root of `dest` (a platform
    /// may not replace another's file), not into one directory per platform. Only written
    /// when false, so plans without it keep their shape.
    #[serde(rename = "platform-split", skip_serializing_if = "is_true")]
    pub platform_split: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub graph: DiGraph<Node, ()>,
    pub builders: Vec<Capabilities>,
    /// What was asked for, so a saved plan can be applied without repeating it.
    pub request: Request,
    /// The filesystem entitlements granted (`--allow fs...`): exec re-checks every local
    /// path against them right before reading or writing it (`exec::paths::recheck`).
    pub grants: Grants,
}

/// The command-line request a plan answers: files, overrides and target names.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Request {
    pub files: Vec<String>,
    pub set: Vec<String>,
    pub targets: Vec<String>,
}

impl Plan {
    /// Node indices in a deterministic execution order (dependencies first, then by id).
    pub fn order(&self) -> Vec<NodeIndex> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut indeg = vec![0usize; self.graph.node_count()];
        for e in self.graph.edge_indices() {
            if let Some((_, b)) = self.graph.edge_endpoints(e) {
                indeg[b.index()] += 1;
            }
        }
        // Creation order (targets by name, platforms as declared) breaks ties: a min-heap
        // of indices among the nodes whose dependencies are all placed.
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = self
            .graph
            .node_indices()
            .filter(|n| indeg[n.index()] == 0)
            .map(Reverse)
            .collect();
        let mut out = Vec::with_capacity(indeg.len());
        while let Some(Reverse(n)) = ready.pop() {
            out.push(n);
            for m in self
                .graph
                .neighbors_directed(n, petgraph::Direction::Outgoing)
            {
                let d = &mut indeg[m.index()];
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse(m));
                }
            }
        }
        out
    }

    pub fn depends_on(&self, n: NodeIndex) -> Vec<&str> {
        let mut deps: Vec<&str> = self
            .graph
            .neighbors_directed(n, petgraph::Direction::Incoming)
            .map(|d| self.graph[d].id())
            .collect();
        deps.sort();
        deps.dedup();
        deps
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for n in self.graph.node_weights() {
            match n {
                Node::Build(_) => c.builds += 1,
                Node::Push(_) => c.pushes += 1,
                Node::Load(_) => c.loads += 1,
                Node::Export(_) => c.exports += 1,
            }
        }
        c
    }

    /// The builds a publishing node (push, load, export) consumes, in the order of its
    /// platforms; a platform without a build is left out.
    pub fn input_builds(&self, n: NodeIndex) -> Vec<&Build> {
        let platforms = match &self.graph[n] {
            Node::Push(p) => &p.platforms,
            Node::Load(l) => &l.platforms,
            Node::Export(e) => &e.platforms,
            Node::Build(_) => return Vec::new(),
        };
        let deps: Vec<&Build> = self
            .graph
            .neighbors_directed(n, petgraph::Direction::Incoming)
            .filter_map(|d| match &self.graph[d] {
                Node::Build(b) => Some(b),
                _ => None,
            })
            .collect();
        platforms
            .iter()
            .filter_map(|p| deps.iter().find(|b| &b.platform == p).copied())
            .collect()
    }

    /// The endpoint of a named builder.
    pub fn endpoint(&self, builder: Option<&str>) -> Option<&str> {
        builder
            .and_then(|b| self.builder(b))
            .map(|c| c.endpoint.as_str())
    }

    pub fn builder(&self, name: &str) -> Option<&Capabilities> {
        self.builders.iter().find(|b| b.name == name)
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Counts {
    pub builds: usize,
    pub pushes: usize,
    pub loads: usize,
    pub exports: usize,
}

/// Lowers a resolved definition into a plan. Structural problems (bad platforms or outputs,
/// unknown builders, dependency platform mismatches, duplicate tags, cycles) are reported
/// here; capability and local-resource problems are `check`'s.
pub fn lower(def: &Definition, builders: Vec<Capabilities>, diags: &mut Diags) -> Plan {
    let mut plan = Plan {
        graph: DiGraph::new(),
        builders,
        request: Request::default(),
        grants: Grants::default(),
    };
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();

    // Every target's build nodes first, so dependencies can be wired in any order.
    let mut builds: HashMap<&str, Vec<(Platform, NodeIndex)>> = HashMap::new();
    for name in &names {
        let t = &def.targets[*name];
        let nodes = build_nodes(t, &mut plan, diags);
        builds.insert(name.as_str(), nodes);
    }
    let mut claims = Claims::default();
    for name in &names {
        let t = &def.targets[*name];
        wire_contexts(t, def, &builds, &mut plan, diags);
        outputs(t, &builds[name.as_str()], &mut plan, &mut claims, diags);
    }
    claims.report(diags);
    if let Err(cycle) = petgraph::algo::toposort(&plan.graph, None) {
        report_cycle(&plan, def, cycle.node_id(), diags);
        return plan;
    }
    merge_identical_builds(&mut plan);
    plan
}

/// Builds that would produce the same image (same inputs, platform and builder) become one
/// node whose result feeds every output that wanted either: the node of the first target by
/// name stays, and lists the others in `shared`. Dependencies are merged first, so chains of
/// identical builds merge all the way down.
fn merge_identical_builds(plan: &mut Plan) {
    // Dependencies first, then by id: deterministic, and the first target by name stays.
    let order = plan.order();
    let mut kept: HashMap<String, NodeIndex> = HashMap::new();
    let mut removed: std::collections::HashSet<NodeIndex> = Default::default();
    for n in order {
        let Node::Build(b) = &plan.graph[n] else {
            continue;
        };
        let sig = b.signature();
        let Some(&keep) = kept.get(&sig) else {
            kept.insert(sig, n);
            continue;
        };
        let (dup_id, dup_target) = (b.id.clone(), b.target.clone());
        let keep_id = plan.graph[keep].id().to_string();
        let dependents: Vec<NodeIndex> = plan
            .graph
            .neighbors_directed(n, petgraph::Direction::Outgoing)
            .collect();
        for d in dependents {
            if plan.graph.find_edge(keep, d).is_none() {
                plan.graph.add_edge(keep, d, ());
            }
            if let Node::Build(db) = &mut plan.graph[d] {
                for c in db.contexts.values_mut() {
                    if let NamedContext::Target { node, .. } = c
                        && *node == dup_id
                    {
                        *node = keep_id.clone();
                    }
                }
            }
        }
        if let Node::Build(k) = &mut plan.graph[keep]
            && !k.shared.contains(&dup_target)
        {
            k.shared.push(dup_target);
            k.shared.sort();
        }
        removed.insert(n);
    }
    if !removed.is_empty() {
        plan.graph.retain_nodes(|_, n| !removed.contains(&n));
    }
}

fn report_cycle(plan: &Plan, def: &Definition, at: NodeIndex, diags: &mut Diags) {
    let sccs = petgraph::algo::tarjan_scc(&plan.graph);
    let members: Vec<String> = sccs
        .into_iter()
        .find(|c| c.contains(&at))
        .unwrap_or_default()
        .iter()
        .map(|n| plan.graph[*n].id().to_string())
        .collect();
    let t = plan.graph[at].target().to_string();
    let span = def.targets.get(&t).map_or(Span::default(), |t| t.span);
    diags.push(
        Diag::error(
            "plan::cycle",
            format!("the build graph has a cycle: {}", members.join(" -> ")),
        )
        .label(span, "part of the cycle")
        .help("a target cannot depend, through `target:` contexts, on a target that depends on it"),
    );
}

fn build_nodes(t: &Target, plan: &mut Plan, diags: &mut Diags) -> Vec<(Platform, NodeIndex)> {
    let candidates = candidate_builders(t, &plan.builders, diags);
    let mut platforms: Vec<(Platform, Span)> = Vec::new();
    for item in t.list("platforms") {
        match Platform::parse(&item.value) {
            // Aliases normalise alike (`linux/x86_64` is `linux/amd64`): a repeat would be a
            // second build of the same image under the same node id.
            Ok(p) => match platforms.iter().find(|(q, _)| *q == p) {
                Some((_, first)) => diags.push(
                    Diag::warning(
                        "plan::duplicate_platform",
                        format!("target `{}` lists {p} more than once", t.name),
                    )
                    .label(item.span, format!("`{}` is {p} again", item.value))
                    .label(*first, "first listed here")
                    .help("remove the repeat; rbake builds each platform once"),
                ),
                None => platforms.push((p, item.span)),
            },
            Err(msg) => diags.push(
                Diag::error("plan::invalid_platform", msg)
                    .label(item.span, "not a platform")
                    .help("write platforms as os/arch[/variant], e.g. `linux/amd64`, `linux/arm64`, `linux/arm/v7`"),
            ),
        }
    }
    if t.list("platforms").is_empty() {
        // No platforms (or `platforms = []`): the builder's own (first native) platform, as
        // bake does.
        if let Some(b) = candidates.first().and_then(|n| plan.builder(n)) {
            let p = b.native.first().or(b.platforms.first()).cloned();
            if let Some(p) = p {
                platforms.push((p, t.span));
            }
        }
    }
    let mut out = Vec::new();
    for (platform, span) in platforms {
        let forbid = t.str("emulation") == Some("forbid");
        let choice = place(&platform, &candidates, &plan.builders, forbid);
        let build = build_node(t, &platform, span, choice);
        let idx = plan.graph.add_node(Node::Build(build));
        out.push((platform, idx));
    }
    out
}

/// The builders a target may use: its `builder` attribute, or all, in declaration order.
fn candidate_builders(t: &Target, builders: &[Capabilities], diags: &mut Diags) -> Vec<String> {
    let wanted = t.list("builder");
    if wanted.is_empty() {
        return builders.iter().map(|b| b.name.clone()).collect();
    }
    let mut out = Vec::new();
    let mut unknown = false;
    for w in wanted {
        if builders.iter().any(|b| b.name == w.value) {
            out.push(w.value.clone());
        } else {
            let names: Vec<&str> = builders.iter().map(|b| b.name.as_str()).collect();
            diags.push(
                Diag::error(
                    "plan::unknown_builder",
                    format!("there is no builder named `{}`", w.value),
                )
                .label(w.span, "unknown builder")
                .help(
                    match crate::base::did_you_mean(&w.value, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!(
                            "declare `builder \"{}\" {{ ... }}`, or use one of: {}",
                            w.value,
                            names.join(", ")
                        ),
                    },
                ),
            );
            unknown = true;
        }
    }
    if unknown {
        // The plan already fails; planning with every builder avoids a second, misleading
        // "no builder can build" error for the same mistake.
        return builders.iter().map(|b| b.name.clone()).collect();
    }
    out
}

/// Where a build may run: the preferred builder (native before emulated, declaration order
/// breaking ties), whether it emulates, and every candidate in placement order. A target that
/// forbids emulation keeps its emulated preference (so `check` reports it) but offers no
/// emulating fallback.
struct Placement {
    preferred: Option<(String, bool)>,
    candidates: Vec<String>,
}

fn place(
    p: &Platform,
    candidates: &[String],
    builders: &[Capabilities],
    forbid: bool,
) -> Placement {
    let caps: Vec<&Capabilities> = candidates
        .iter()
        .filter_map(|n| builders.iter().find(|b| &b.name == n))
        .collect();
    let native: Vec<String> = caps
        .iter()
        .filter(|b| b.is_native(p))
        .map(|b| b.name.clone())
        .collect();
    let emulating: Vec<String> = caps
        .iter()
        .filter(|b| !b.is_native(p) && b.can_build(p))
        .map(|b| b.name.clone())
        .collect();
    let preferred = match (native.first(), emulating.first()) {
        (Some(n), _) => Some((n.clone(), false)),
        (None, Some(e)) => Some((e.clone(), true)),
        (None, None) => None,
    };
    let mut all = native;
    if !forbid || all.is_empty() {
        all.extend(emulating);
    }
    Placement {
        preferred,
        candidates: all,
    }
}

fn strings(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.value.clone()).collect()
}

fn map(t: &Target, key: &str) -> BTreeMap<String, String> {
    t.map(key)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.value.clone()))
        .collect()
}

pub fn build_id(target: &str, p: &Platform) -> String {
    format!("build:{target}:{p}")
}

fn build_node(t: &Target, platform: &Platform, span: Span, placement: Placement) -> Build {
    let choice = placement.preferred;
    let contexts = t
        .map("contexts")
        .into_iter()
        .map(|(k, v)| {
            let ctx = match v.value.strip_prefix("target:") {
                // Wired to the right node by `wire_contexts`.
                Some(dep) => NamedContext::Target {
                    target: dep.to_string(),
                    node: String::new(),
                },
                None => NamedContext::Source {
                    value: v.value.clone(),
                },
            };
            (k.to_string(), ctx)
        })
        .collect();
    Build {
        id: build_id(&t.name, platform),
        target: t.name.clone(),
        platform: platform.clone(),
        builder: choice.as_ref().map(|c| c.0.clone()),
        emulated: choice.is_some_and(|c| c.1),
        candidates: placement.candidates,
        context: t.str("context").unwrap_or(".").to_string(),
        dockerfile: t.str("dockerfile").unwrap_or("Dockerfile").to_string(),
        dockerfile_inline: t.str("dockerfile-inline").map(str::to_string),
        stage: t.str("target").map(str::to_string),
        args: map(t, "args"),
        labels: map(t, "labels"),
        contexts,
        secrets: strings(t.list("secret")),
        ssh: strings(t.list("ssh")),
        attest: crate::model::attest::enabled(t.list("attest").iter().map(|i| i.value.as_str()))
            .into_iter()
            .map(|a| a.spec)
            .collect(),
        cache_from: strings(t.list("cache-from")),
        cache_to: strings(t.list("cache-to")),
        no_cache: t.bool("no-cache").unwrap_or(false),
        no_cache_filter: strings(t.list("no-cache-filter")),
        pull: t.bool("pull").unwrap_or(false),
        network: t.str("network").map(str::to_string),
        shm_size: t.str("shm-size").map(str::to_string),
        ulimits: strings(t.list("ulimits")),
        extra_hosts: map(t, "extra-hosts"),
        shared: Vec::new(),
        platform_span: span,
    }
}

/// Connects each build to the same platform's build of every `target:` context, or to the
/// dependency's only build when it has one platform (e.g. a cross-compiling toolchain).
fn wire_contexts(
    t: &Target,
    def: &Definition,
    builds: &HashMap<&str, Vec<(Platform, NodeIndex)>>,
    plan: &mut Plan,
    diags: &mut Diags,
) {
    let mine = &builds[t.name.as_str()];
    for (name, item) in t.map("contexts") {
        let Some(dep) = item.value.strip_prefix("target:") else {
            continue;
        };
        let Some(theirs) = builds.get(dep) else {
            continue;
        };
        for (p, idx) in mine {
            let source = if theirs.len() == 1 {
                Some(theirs[0].1)
            } else {
                theirs.iter().find(|(q, _)| q == p).map(|(_, i)| *i)
            };
            match source {
                Some(src) => {
                    let node_id = plan.graph[src].id().to_string();
                    plan.graph.add_edge(src, *idx, ());
                    if let Node::Build(b) = &mut plan.graph[*idx]
                        && let Some(NamedContext::Target { node, .. }) = b.contexts.get_mut(name)
                    {
                        *node = node_id;
                    }
                }
                None => {
                    let span = match &plan.graph[*idx] {
                        Node::Build(b) => b.platform_span,
                        _ => t.span,
                    };
                    let dep_t = &def.targets[dep];
                    let dep_span = dep_t.get("platforms").map_or(dep_t.span, |a| a.span);
                    let dep_platforms: Vec<String> =
                        theirs.iter().map(|(q, _)| q.to_string()).collect();
                    diags.push(
                        Diag::error("plan::dependency_platform", format!("target `{}` needs `{dep}` for {p}, which `{dep}` does not build", t.name))
                            .label(span, format!("{p} is built here"))
                            .label(item.span, format!("context `{name}` is target `{dep}`"))
                            .related(Diag::error("plan::dependency_platform", format!("`{dep}` builds only {}", dep_platforms.join(", "))).label(dep_span, "these platforms"))
                            .help(format!("add {p} to `{dep}`'s platforms, or give `{dep}` a single platform that serves every platform (a cross-compiling stage)")),
                    );
                }
            }
        }
    }
}

fn outputs(
    t: &Target,
    builds: &[(Platform, NodeIndex)],
    plan: &mut Plan,
    claims: &mut Claims,
    diags: &mut Diags,
) {
    let mut specs: Vec<(Output, Span)> = Vec::new();
    for item in t.list("output") {
        match Output::parse(&item.value) {
            Ok(o) => specs.push((o, item.span)),
            Err(msg) => diags.push(
                Diag::error("plan::invalid_output", format!("invalid output `{}`: {msg}", item.value))
                    .label(item.span, "cannot be planned")
                    .help("outputs are `type=registry`, `type=docker`, `type=local,dest=DIR`, `type=tar,dest=FILE` or `type=oci,dest=FILE`"),
            ),
        }
    }
    let mut tag_items: Vec<Item> = Vec::new();
    for item in t.list("tags") {
        match Reference::parse(&item.value) {
            Ok(_) => tag_items.push(item.clone()),
            Err(msg) => diags.push(
                Diag::error("plan::invalid_tag", format!("invalid tag: {msg}"))
                    .label(item.span, "not an image reference")
                    .help("write tags as [REGISTRY/]REPOSITORY[:TAG], e.g. `registry.example/team/app:1.2`; repositories are lowercase, tags at most 128 characters of letters, digits, `_`, `.` and `-`"),
            ),
        }
    }
    if specs.is_empty() && t.get("output").is_none() && !tag_items.is_empty() {
        // No output on the engine's own driver: the image lands in the engine, as with bake.
        specs.push((
            Output {
                kind: OutputKind::Docker,
                attrs: BTreeMap::new(),
            },
            t.span,
        ));
    }
    if builds.is_empty() {
        return;
    }
    let platforms: Vec<Platform> = builds.iter().map(|(p, _)| p.clone()).collect();
    for (n, (o, span)) in specs.iter().enumerate() {
        let mut tags: Vec<(String, Span)> = tag_items
            .iter()
            .map(|i| (i.value.clone(), i.span))
            .collect();
        for name in o.names() {
            match Reference::parse(&name) {
                Ok(_) => tags.push((name, *span)),
                Err(msg) => diags.push(
                    Diag::error("plan::invalid_tag", format!("invalid image name: {msg}"))
                        .label(*span, "in this output's `name=`")
                        .help("write names as [REGISTRY/]REPOSITORY[:TAG]; repositories are lowercase"),
                ),
            }
        }
        match o.kind {
            OutputKind::Registry => {
                if tags.is_empty() {
                    diags.push(
                        Diag::error(
                            "plan::push_without_tag",
                            format!("target `{}` pushes to a registry but has no tag", t.name),
                        )
                        .label(*span, "pushes here")
                        .help("add `tags = [\"registry.example/repo:tag\"]` to the target"),
                    );
                    continue;
                }
                claims.claim(&tags, &tags, &t.name, &platforms);
                let push = Push {
                    id: format!("push:{}", t.name),
                    target: t.name.clone(),
                    tag_spans: tags.iter().map(|t| t.1).collect(),
                    tags: tags.into_iter().map(|t| t.0).collect(),
                    platforms: platforms.clone(),
                    annotations: strings(t.list("annotations")),
                    by_digest: false,
                };
                let idx = plan.graph.add_node(Node::Push(push));
                for (_, b) in builds {
                    plan.graph.add_edge(*b, idx, ());
                }
            }
            OutputKind::Docker => load_nodes(t, builds, &tags, plan, claims, diags),
            OutputKind::Local | OutputKind::Tar | OutputKind::Oci => {
                let kind = match o.kind {
                    OutputKind::Local => "local",
                    OutputKind::Tar => "tar",
                    _ => "oci",
                };
                let Some(dest) = o.dest() else {
                    diags.push(
                        Diag::error(
                            "plan::export_without_dest",
                            format!("a `{kind}` output needs `dest=`"),
                        )
                        .label(*span, "no destination")
                        .help(format!(
                            "write `type={kind},dest={}`",
                            if kind == "local" { "DIR" } else { "FILE" }
                        )),
                    );
                    continue;
                };
                if dest.trim().is_empty() {
                    // An empty destination means the working directory: the image's whole
                    // filesystem would be written over the project.
                    diags.push(
                        Diag::error(
                            "plan::export_without_dest",
                            format!("the `dest=` of a `{kind}` output is empty"),
                        )
                        .label(*span, "empty destination")
                        .help(format!(
                            "write `type={kind},dest={}`; if the path comes from a variable (`dest=${{OUT}}`), set it",
                            if kind == "local" { "DIR" } else { "FILE" }
                        )),
                    );
                    continue;
                }
                let e = Export {
                    id: format!("export:{}:{kind}:{n}", t.name),
                    target: t.name.clone(),
                    kind: kind.into(),
                    dest: dest.to_string(),
                    platforms: platforms.clone(),
                    // Compat: BuildKit's `local` and `tar` exporters read the value with Go's
                    // `strconv.ParseBool`; anything else is an error there, true here.
                    platform_split: !matches!(
                        o.attrs.get("platform-split").map(String::as_str),
                        Some("false" | "0" | "f" | "F" | "FALSE" | "False")
                    ),
                };
                let idx = plan.graph.add_node(Node::Export(e));
                for (_, b) in builds {
                    plan.graph.add_edge(*b, idx, ());
                }
            }
            OutputKind::CacheOnly => {}
        }
    }
}

/// A multi-platform load on a store that can't hold it becomes one load per platform, each
/// with a local tag made from the target's `local-tag` template.
fn load_nodes(
    t: &Target,
    builds: &[(Platform, NodeIndex)],
    tags: &[(String, Span)],
    plan: &mut Plan,
    claims: &mut Claims,
    diags: &mut Diags,
) {
    let builder_of = |idx: NodeIndex, plan: &Plan| match &plan.graph[idx] {
        Node::Build(b) => b.builder.clone(),
        _ => None,
    };
    let first_builder = builder_of(builds[0].1, plan);
    let one_store = builds.len() > 1
        && builds
            .iter()
            .all(|(_, i)| builder_of(*i, plan) == first_builder)
        && first_builder
            .as_ref()
            .and_then(|b| plan.builder(b))
            .is_some_and(|c| c.image_store == ImageStore::Containerd);
    if builds.len() == 1 || one_store {
        let platforms: Vec<Platform> = builds.iter().map(|(p, _)| p.clone()).collect();
        claims.claim(tags, tags, &t.name, &platforms);
        let load = Load {
            id: format!("load:{}", t.name),
            target: t.name.clone(),
            builder: first_builder,
            platforms: builds.iter().map(|(p, _)| p.clone()).collect(),
            tags: tags.iter().map(|t| t.0.clone()).collect(),
        };
        let idx = plan.graph.add_node(Node::Load(load));
        for (_, b) in builds {
            plan.graph.add_edge(*b, idx, ());
        }
        return;
    }
    let template = t.get("local-tag").map(|a| match &a.value {
        crate::model::AttrValue::Str(s) => (s.clone(), a.span),
        _ => (String::new(), a.span),
    });
    for (p, b) in builds {
        let mut local = Vec::new();
        for (tag, span) in tags {
            match local_tag::render(template.as_ref().map(|t| t.0.as_str()), tag, p) {
                Ok(s) => local.push((s, *span)),
                Err(msg) => {
                    let at = template.as_ref().map_or(*span, |t| t.1);
                    diags.push(
                        Diag::error("plan::local_tag", format!("cannot make local tags for target `{}`: {msg}", t.name))
                            .label(at, "in this template")
                            .help("the template sees `tag`, `repo`, `version`, `os`, `arch`, `variant` and `platform`, e.g. `{{ repo }}:{{ version }}-{{ arch }}`"),
                    );
                }
            }
        }
        claims.claim(&local, tags, &t.name, std::slice::from_ref(p));
        let load = Load {
            id: format!("load:{}:{p}", t.name),
            target: t.name.clone(),
            builder: builder_of(*b, plan),
            platforms: vec![p.clone()],
            tags: local.into_iter().map(|l| l.0).collect(),
        };
        let idx = plan.graph.add_node(Node::Load(load));
        plan.graph.add_edge(*b, idx, ());
    }
}

#[cfg(test)]
mod tests {
    use super::{Node, Plan};
    use crate::eval::sample;
    use crate::source::Diags;

    /// Lowers `default` of `text` onto the builders it declares, or an implicit local
    /// linux/amd64 engine: the plan and the codes of its diagnostics.
    fn check(text: &str) -> (Plan, Vec<&'static str>) {
        let mut s = sample::collect(text, &[]);
        let def = s
            .resolve(&[], &[])
            .unwrap_or_else(|| panic!("{:?}", s.codes()));
        let builders = s.builders();
        let mut diags = Diags::default();
        let plan = super::lower(&def, builders, &mut diags);
        (plan, diags.0.iter().map(|d| d.code).collect())
    }

    /// The ids of the nodes `id` depends on.
    fn deps<'a>(plan: &'a Plan, id: &str) -> Vec<&'a str> {
        let n = plan
            .graph
            .node_indices()
            .find(|n| plan.graph[*n].id() == id)
            .unwrap_or_else(|| panic!("no node {id}: {:?}", ids(plan)));
        plan.depends_on(n)
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.order()
            .into_iter()
            .map(|n| plan.graph[n].id())
            .collect()
    }

    #[test]
    fn a_push_waits_for_every_platform() {
        let (plan, codes) = check(
            r#"
            target "default" {
              platforms = ["linux/amd64", "linux/arm64"]
              tags = ["127.0.0.1:5000/app:1"]
              output = ["type=image,push=true"]
            }
            "#,
        );
        assert!(codes.is_empty(), "{codes:?}");
        let c = plan.counts();
        assert_eq!((c.builds, c.pushes, c.loads), (2, 1, 0));
        let push = plan
            .graph
            .node_weights()
            .find_map(|n| match n {
                Node::Push(p) => Some(p.id.clone()),
                _ => None,
            })
            .expect("a push node");
        assert_eq!(
            deps(&plan, &push),
            ["build:default:linux/amd64", "build:default:linux/arm64"]
        );
        // Builds come first in the order, in declared platform order.
        assert_eq!(
            &ids(&plan)[..2],
            ["build:default:linux/amd64", "build:default:linux/arm64"]
        );
    }

    #[test]
    fn target_contexts_wire_platform_to_platform() {
        let (plan, codes) = check(
            r#"
            target "base" { platforms = ["linux/amd64", "linux/arm64"] }
            target "app" {
              platforms = ["linux/amd64", "linux/arm64"]
              contexts = { base = "target:base" }
            }
            target "one" { args = { ONE = "1" } }
            target "wide" {
              platforms = ["linux/amd64", "linux/arm64"]
              contexts = { one = "target:one" }
            }
            group "default" { targets = ["app", "wide"] }
            "#,
        );
        assert!(!codes.iter().any(|c| c.starts_with("plan::")), "{codes:?}");
        assert_eq!(
            deps(&plan, "build:app:linux/arm64"),
            ["build:base:linux/arm64"]
        );
        assert_eq!(
            deps(&plan, "build:app:linux/amd64"),
            ["build:base:linux/amd64"]
        );
        // A dependency with one platform feeds every platform of its dependent.
        assert_eq!(
            deps(&plan, "build:wide:linux/arm64"),
            ["build:one:linux/amd64"]
        );
        let order = ids(&plan);
        let at = |id: &str| order.iter().position(|x| *x == id).expect("in the order");
        assert!(at("build:base:linux/arm64") < at("build:app:linux/arm64"));
    }

    /// Two targets that would build the same image build it once; each keeps its own load.
    #[test]
    fn identical_builds_merge() {
        let (plan, _) = check(
            r#"
            target "a" {
              tags = ["a:1"]
              output = ["type=docker"]
            }
            target "b" {
              tags = ["b:1"]
              output = ["type=docker"]
            }
            target "c" {
              tags = ["c:1"]
              args = { X = "1" }
              output = ["type=docker"]
            }
            group "default" { targets = ["a", "b", "c"] }
            "#,
        );
        let c = plan.counts();
        assert_eq!((c.builds, c.loads), (2, 3));
        let shared: Vec<Vec<String>> = plan
            .graph
            .node_weights()
            .filter_map(|n| match n {
                Node::Build(b) => Some(b.shared.clone()),
                _ => None,
            })
            .collect();
        assert!(shared.contains(&vec!["b".to_string()]), "{shared:?}");
    }

    #[test]
    fn structural_problems_are_reported() {
        for (text, code) in [
            (
                r#"target "default" { platforms = ["linux/"] }"#,
                "plan::invalid_platform",
            ),
            (
                r#"target "default" { tags = ["App:1"] }"#,
                "plan::invalid_tag",
            ),
            (
                r#"target "default" { output = ["type=image,push=true"] }"#,
                "plan::push_without_tag",
            ),
            (
                r#"target "default" { output = ["type=local"] }"#,
                "plan::export_without_dest",
            ),
            (
                r#"
                target "a" { tags = ["x:1"] }
                target "b" { tags = ["docker.io/library/x:1"] }
                group "default" { targets = ["a", "b"] }
                "#,
                "plan::duplicate_tag",
            ),
        ] {
            let (_, codes) = check(text);
            assert_eq!(
                codes.iter().filter(|c| **c == code).count(),
                1,
                "{text}: {codes:?}"
            );
        }
    }
}
