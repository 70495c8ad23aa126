//! Answers a request (names, `--set`) against a [`Config`]: groups expand, targets inherit,
//! overrides apply, `target:` contexts pull in the targets they link, and bake's defaults
//! fill what is left.

use std::collections::BTreeMap;

// foldhash, not SipHash: these maps only ever hold names from the spec, and SipHash cost
// about a tenth of the instructions of resolving 5,000 targets.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::overrides::{self, Override};
use super::{Config, Inputs};
use crate::base::{clean_path, did_you_mean, is_remote};
use crate::model::{Attr, AttrValue, Definition, Group, Item, Target};
use crate::source::{Diag, Diags, Span, Spanned};
use crate::spec::attrs::{self, TARGET_ATTRS};

pub struct Request {
    /// Requested target or group names (or patterns); empty means `default`.
    pub names: Vec<Spanned<String>>,
    pub overrides: Vec<Override>,
}

/// The requested targets that no target inherits from are moved out of `config` into the
/// definition when the request resolves cleanly (their entries stay, emptied): nothing
/// reads a target's own block after it is resolved, and copying them cost time and memory.
/// A group's expansion: its targets in order, and the groups it went through.
type Expanded = (Vec<Item>, Vec<String>);

pub fn resolve(
    config: &mut Config,
    req: &Request,
    inputs: &Inputs,
    diags: &mut Diags,
) -> Option<Definition> {
    // Names are sanitized as bake does; a name that is neither a group nor a target but a
    // pattern (newer bake) stands for every target it matches.
    let mut names: Vec<Spanned<String>> = Vec::new();
    for n in &req.names {
        let name = n.value.replace('.', "_");
        let known = config.groups.contains_key(&name) || config.targets.contains_key(&name);
        if !known && name.contains(['*', '?', '[']) {
            let matched = overrides::expand(&name, config.targets.keys());
            if !matched.is_empty() {
                names.extend(matched.into_iter().map(|m| Spanned::new(m, n.span)));
                continue;
            }
        }
        names.push(Spanned::new(name, n.span));
    }

    // Overrides by target, in command-line order.
    let mut by_target: HashMap<String, Vec<&Override>> = HashMap::new();
    for o in &req.overrides {
        let matched = overrides::expand(&o.pattern, config.targets.keys());
        if matched.is_empty() {
            diags.push(
                Diag::error(
                    "set::no_match",
                    format!("no target matches `{}`", o.pattern),
                )
                .label(o.pattern_span, "matches nothing")
                .help(known_targets_help(&o.pattern, config)),
            );
        }
        for m in matched {
            by_target.entry(m).or_default().push(o);
        }
    }
    if diags.has_errors() {
        return None;
    }

    let parents: HashSet<String> = config
        .targets
        .values()
        .flat_map(|t| t.list("inherits"))
        .map(|i| i.value.clone())
        .collect();
    let mut def = Definition::default();
    let mut order: Vec<Item> = Vec::new();
    {
        let r = Resolver::new(config, &by_target, &parents);
        let mut listed = HashSet::new();
        for name in &names {
            let (targets, groups) = r.expand_group(name);
            order.extend(
                targets
                    .into_iter()
                    .filter(|t| listed.insert(t.value.clone())),
            );
            for g in groups {
                if let Some(group) = config.groups.get(&g) {
                    def.groups.insert(g, group.clone());
                }
            }
        }
    }
    let clean = by_target.is_empty() && resolves_cleanly(config, &order);
    let own: Vec<Option<Target>> = order
        .iter()
        .map(|t| {
            if !clean || parents.contains(&t.value) {
                return None;
            }
            let slot = config.targets.get_mut(&t.value)?;
            let empty = Target::new(slot.name.clone(), slot.span);
            Some(std::mem::replace(slot, empty))
        })
        .collect();
    let config = &*config;
    let mut r = Resolver::new(config, &by_target, &parents);
    for (t, target) in order
        .iter()
        .zip(resolve_targets(&mut r, &order, own, clean))
    {
        if let Some(target) = target {
            def.targets.insert(t.value.clone(), target);
        }
    }
    for name in &names {
        if name.value == "default" {
            continue;
        }
        let g = def.groups.entry("default".into()).or_insert_with(|| Group {
            name: "default".into(),
            span: name.span,
            targets: Vec::new(),
            description: None,
        });
        if !g.targets.iter().any(|t| t.value == name.value) {
            g.targets.push(Item {
                value: name.value.clone(),
                span: name.span,
            });
        }
    }
    if let Some(g) = def.groups.get_mut("default") {
        let mut seen = HashSet::new();
        g.targets.retain(|t| seen.insert(t.value.clone()));
    }

    let requested: Vec<String> = def.targets.keys().cloned().collect();
    for name in requested {
        r.load_links(&name, &mut def, &mut Vec::new());
    }
    diags.extend(r.diags.0);
    if diags.has_errors() {
        return None;
    }
    for t in def.targets.values_mut() {
        finish(t, inputs);
    }
    Some(def)
}

fn known_targets_help(name: &str, config: &Config) -> String {
    let names = config.targets.keys().chain(config.groups.keys());
    match did_you_mean(name, names.clone().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if config.targets.is_empty() => "the definition has no targets".to_string(),
        None => format!(
            "known targets: {}",
            config
                .targets
                .keys()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether resolving `order` can give no diagnostic, whatever order its targets are resolved
/// in: every name is a target, every target they inherit from exists, and no `inherits`
/// chain loops or runs past [`MAX_CHAIN`](super::resolver::MAX_CHAIN). (`--set` can fail
/// too; the caller checks there is none.)
fn resolves_cleanly(config: &Config, order: &[Item]) -> bool {
    /// The longest `inherits` chain from `name`, or `None` where it loops, runs too long or
    /// names no target.
    fn height<'c>(
        config: &'c Config,
        name: &'c str,
        seen: &mut HashMap<&'c str, Option<usize>>,
    ) -> Option<usize> {
        match seen.get(name) {
            Some(Some(h)) => return Some(*h),
            Some(None) => return None,
            None => {}
        }
        let t = config.targets.get(name)?;
        seen.insert(name, None);
        let mut h = 1;
        for p in t.list("inherits") {
            h = h.max(1 + height(config, &p.value, seen)?);
        }
        if h >= super::resolver::MAX_CHAIN {
            return None;
        }
        seen.insert(name, Some(h));
        Some(h)
    }
    let mut seen = HashMap::new();
    order
        .iter()
        .all(|t| height(config, &t.value, &mut seen).is_some())
}

/// The requested targets resolved, in order (`None` where a diagnostic says why). `own`
/// holds, where it could be taken, a target's own block, which is then merged by move.
///
/// A large request that [`resolves_cleanly`] is split in two and the second half resolved
/// by another [`Resolver`] on another thread (each resolves the parents its half inherits
/// from): with no inherits cycle the order of resolution cannot change a result.
fn resolve_targets(
    r: &mut Resolver,
    order: &[Item],
    mut own: Vec<Option<Target>>,
    clean: bool,
) -> Vec<Option<Target>> {
    fn run(r: &mut Resolver, order: &[Item], own: Vec<Option<Target>>) -> Vec<Option<Target>> {
        order
            .iter()
            .zip(own)
            .map(|(t, own)| match own {
                Some(own) => Some(r.leaf(own)),
                None => r.resolve_target(&t.value, t.span),
            })
            .collect()
    }
    if !clean || !crate::base::worth_two_threads(order.len()) {
        return run(r, order, own);
    }
    let (first, second) = order.split_at(order.len() / 2);
    let theirs = own.split_off(first.len());
    let (config, overrides, parents) = (r.config, r.overrides, r.parents);
    let (mut mine, (theirs, diags)) = std::thread::scope(|s| {
        let other = s.spawn(move || {
            let mut other = Resolver::new(config, overrides, parents);
            let out = run(&mut other, second, theirs);
            (out, other.diags)
        });
        let mine = run(r, first, own);
        match other.join() {
            Ok(theirs) => (mine, theirs),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    r.diags.extend(diags);
    mine.extend(theirs);
    mine
}

struct Resolver<'a> {
    config: &'a Config,
    overrides: &'a HashMap<String, Vec<&'a Override>>,
    /// Resolved targets; `None` while a target is being resolved (an inherits cycle).
    /// Shared, so a parent is not copied for each child that inherits it.
    cache: HashMap<String, Option<std::rc::Rc<Target>>>,
    /// Every name some target inherits from.
    parents: &'a HashSet<String>,
    diags: Diags,
    /// How many targets are being resolved inside one another (`inherits` depth).
    depth: usize,
}

impl<'a> Resolver<'a> {
    fn new(
        config: &'a Config,
        overrides: &'a HashMap<String, Vec<&'a Override>>,
        parents: &'a HashSet<String>,
    ) -> Resolver<'a> {
        Resolver {
            config,
            overrides,
            cache: HashMap::new(),
            parents,
            diags: Diags::default(),
            depth: 0,
        }
    }

    /// A name's targets (groups expanded depth-first, deduplicated) and the groups visited.
    fn expand_group(&self, name: &Spanned<String>) -> (Vec<Item>, Vec<String>) {
        let (mut targets, mut groups) = self.walk(&name.value, name.span, &mut HashMap::new());
        let mut seen = HashSet::new();
        targets.retain(|t| seen.insert(t.value.clone()));
        let mut seen = HashSet::new();
        groups.retain(|g| seen.insert(g.clone()));
        (targets, groups)
    }

    /// Compat: bake's group expansion (`Config.group` in bake.go). Each group is expanded
    /// once per requested name: met again, it gives what it gave the first time; met inside
    /// itself, it gives nothing. A member that gives nothing stands for the target of that
    /// name, so `group "app" { targets = ["app"] }` builds target `app`, and an empty group
    /// (or one only reached through itself) asks for a target named like it.
    fn walk(&self, name: &str, span: Span, memo: &mut HashMap<String, Expanded>) -> Expanded {
        if let Some(done) = memo.get(name) {
            return done.clone();
        }
        let Some(g) = self.config.groups.get(name) else {
            let item = Item {
                value: name.to_string(),
                span,
            };
            return (vec![item], Vec::new());
        };
        // In progress: a group reached through itself gives nothing.
        memo.insert(name.to_string(), Expanded::default());
        let mut targets = Vec::new();
        let mut groups = vec![name.to_string()];
        for t in &g.targets {
            let (member_targets, member_groups) = self.walk(&t.value, t.span, memo);
            if member_targets.is_empty() {
                targets.push(t.clone());
            } else {
                targets.extend(member_targets);
            }
            groups.extend(member_groups);
        }
        let expanded = (targets, groups);
        memo.insert(name.to_string(), expanded.clone());
        expanded
    }

    /// A target nothing inherits from, resolved from its own block (moved, not copied):
    /// only for a request that [`resolves_cleanly`].
    fn leaf(&mut self, own: Target) -> Target {
        let mut t = Target::new(own.name.clone(), own.span);
        for parent in own.list("inherits") {
            self.depth += 1;
            let p = self.target(&parent.value, parent.span);
            self.depth -= 1;
            if let Some(p) = p {
                t.merge(&p);
            }
        }
        t.merge_owned(own);
        self.finish_resolved(&mut t);
        t
    }

    fn resolve_target(&mut self, name: &str, at: Span) -> Option<Target> {
        let shared = self.target(name, at)?;
        // A target no other target inherits from is not needed again: the definition takes
        // it rather than a copy.
        if !self.parents.contains(name) {
            self.cache.remove(name);
        }
        Some(std::rc::Rc::unwrap_or_clone(shared))
    }

    fn target(&mut self, name: &str, at: Span) -> Option<std::rc::Rc<Target>> {
        if let Some(t) = self.cache.get(name) {
            return t.clone();
        }
        if self.depth >= super::resolver::MAX_CHAIN {
            self.diags.push(
                Diag::error(
                    "resolve::inherits_too_deep",
                    format!(
                        "`inherits` nests more than {} targets deep",
                        super::resolver::MAX_CHAIN
                    ),
                )
                .label(at, "inherited here")
                .help("shorten the chain of targets inheriting from one another"),
            );
            return None;
        }
        let Some(own) = self.config.targets.get(name) else {
            self.diags.push(if self.config.groups.contains_key(name) {
                // Compat: bake reads a group that yields no target (empty, or reached only
                // through itself) as a target of the same name.
                Diag::error(
                    "resolve::empty_group",
                    format!("group `{name}` yields no target, and there is no target `{name}`"),
                )
                .label(at, "requested here")
                .help(format!(
                    "list targets in group `{name}`, or add a target named `{name}`; bake reads a group that yields nothing as a target of the same name"
                ))
            } else {
                Diag::error(
                    "resolve::unknown_target",
                    format!("there is no target or group named `{name}`"),
                )
                .label(at, "requested here")
                .help(known_targets_help(name, self.config))
            });
            return None;
        };
        self.cache.insert(name.to_string(), None);
        let mut base = Target::new(name, own.span);
        for parent in own.list("inherits").to_vec() {
            if self.cache.get(&parent.value).is_some_and(Option::is_none) {
                // bake tolerates inherits cycles, merging what it has so far.
                self.diags.push(
                    Diag::warning(
                        "resolve::inherits_cycle",
                        format!(
                            "`{name}` inherits from `{}`, which inherits from `{name}`",
                            parent.value
                        ),
                    )
                    .label(parent.span, "closes a cycle")
                    .help("bake merges both sides anyway; remove one direction of the cycle"),
                );
                continue;
            }
            if !self.config.targets.contains_key(&parent.value) {
                self.diags.push(
                    Diag::error(
                        "resolve::unknown_parent",
                        format!(
                            "`{name}` inherits from `{}`, which is not a target",
                            parent.value
                        ),
                    )
                    .label(parent.span, "inherited here")
                    .help(known_targets_help(&parent.value, self.config)),
                );
                continue;
            }
            self.depth += 1;
            let p = self.target(&parent.value, parent.span);
            self.depth -= 1;
            if let Some(p) = p {
                base.merge(&p);
            }
        }
        // `base` is a fresh target holding the parents' merged attributes.
        let mut t = base;
        t.merge(own);
        self.finish_resolved(&mut t);
        let t = std::rc::Rc::new(t);
        self.cache.insert(name.to_string(), Some(t.clone()));
        Some(t)
    }

    /// What follows merging a target onto its parents: `--set`, then the `inherits` list
    /// dropped and values normalised.
    fn finish_resolved(&mut self, t: &mut Target) {
        if let Some(os) = self.overrides.get(&t.name)
            && let Err(d) = overrides::apply(t, os)
        {
            self.diags.push(d);
        }
        // Compat: bake appends each parent's `inherits` to the child's (`Target.Merge`) and
        // drops the list once the target is resolved, so nothing ever reads the merged list.
        // Dropping it here, before children merge it, keeps a diamond of inherits linear
        // instead of doubling the list at each level.
        t.set_def(
            attrs::target_attr("inherits").expect("inherits is an attribute"),
            None,
        );
        for it in t.list("attest") {
            if let Some(d) = attest_problem(it) {
                self.diags.push(d);
            }
        }
        normalize(t);
    }

    /// Follows `contexts = { x = "target:NAME" }`: linked targets join the definition (with
    /// their outputs removed), cycles and platform mismatches are errors.
    fn load_links(&mut self, name: &str, def: &mut Definition, visited: &mut Vec<String>) {
        visited.push(name.to_string());
        let links: Vec<Item> = def.targets[name]
            .map("contexts")
            .into_iter()
            .filter(|(_, v)| v.value.starts_with("target:"))
            .map(|(_, v)| v.clone())
            .collect();
        for link in links {
            let dep = link.value.trim_start_matches("target:").to_string();
            if dep == name {
                self.diags.push(
                    Diag::error(
                        "resolve::self_link",
                        format!("target `{name}` cannot use itself as a context"),
                    )
                    .label(link.span, "links to itself")
                    .help("point the context at another target, a directory or an image"),
                );
                continue;
            }
            if visited.contains(&dep) {
                self.diags.push(
                    Diag::error(
                        "resolve::link_cycle",
                        format!("contexts form a loop: {} -> {dep}", visited.join(" -> ")),
                    )
                    .label(link.span, "closes the loop")
                    .help("a target cannot depend on a target that depends on it"),
                );
                continue;
            }
            if !def.targets.contains_key(&dep) {
                let Some(mut t) = self.resolve_target(&dep, link.span) else {
                    continue;
                };
                t.set_def(
                    attrs::target_attr("output").expect("output is an attribute"),
                    None,
                );
                def.targets.insert(dep.clone(), t);
            }
            self.load_links(&dep, def, visited);
            let mine: Vec<String> = def.targets[name]
                .list("platforms")
                .iter()
                .map(|i| i.value.clone())
                .collect();
            let theirs: Vec<String> = def.targets[&dep]
                .list("platforms")
                .iter()
                .map(|i| i.value.clone())
                .collect();
            if mine.len() > 1 && theirs.len() > 1 && mine.len() == theirs.len() {
                // bake compares sorted copies and, as a side effect, prints both sorted.
                sort_platforms(def.targets.get_mut(name).expect("present"));
                sort_platforms(def.targets.get_mut(&dep).expect("present"));
            }
            let mut a = mine.clone();
            let mut b = theirs.clone();
            a.sort();
            b.sort();
            if mine.len() > 1 && theirs.len() > 1 && a != b {
                let dep_span = def.targets[&dep]
                    .get("platforms")
                    .map_or(def.targets[&dep].span, |p| p.span);
                let my_span = def.targets[name]
                    .get("platforms")
                    .map_or(link.span, |p| p.span);
                let missing: Vec<&String> = mine.iter().filter(|p| !theirs.contains(p)).collect();
                let extra: Vec<&String> = theirs.iter().filter(|p| !mine.contains(p)).collect();
                let detail = match (missing.is_empty(), extra.is_empty()) {
                    (false, _) => format!(
                        "`{dep}` does not build {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (true, false) => format!(
                        "`{dep}` also builds {}",
                        extra
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (true, true) => "they build different platforms".to_string(),
                };
                self.diags.push(
                    Diag::error("resolve::link_platforms", format!("target `{dep}` can't be used by `{name}`: {detail}"))
                        .label(my_span, format!("`{name}` builds [{}]", mine.join(", ")))
                        .label(link.span, "linked here")
                        .related(Diag::error("resolve::link_platforms", format!("`{dep}` builds [{}]", theirs.join(", "))).label(dep_span, format!("`{dep}` builds these")))
                        .help("give both targets the same platforms, or make the dependency single-platform"),
                );
            }
        }
        visited.pop();
    }
}

fn sort_platforms(t: &mut Target) {
    let def = attrs::target_attr("platforms").expect("platforms is an attribute");
    if let Some(Attr {
        value: AttrValue::List(items),
        ..
    }) = t.attrs.get_mut(attrs::index_of(def))
    {
        items.sort_by(|a, b| a.value.cmp(&b.value));
    }
}

/// Removes duplicates (and empty items) from list attributes, and empty context values.
fn normalize(t: &mut Target) {
    for (i, attr) in t.attrs.iter_mut() {
        let def = &TARGET_ATTRS[i];
        match &mut attr.value {
            AttrValue::List(items) if def.key == "attest" => dedup_attest(items),
            AttrValue::List(items) if def.dedup => dedup(items),
            AttrValue::Map(m) if def.key == "contexts" => {
                m.retain(|_, v| v.as_ref().is_some_and(|v| !v.value.is_empty()))
            }
            _ => {}
        }
    }
}

/// Keeps the first of equal items and drops empty ones.
fn dedup(items: &mut Vec<Item>) {
    // Most lists hold a few items: comparing with the kept ones beats hashing copies.
    if items.len() <= 16 {
        let mut kept = 0;
        for i in 0..items.len() {
            let v = &items[i].value;
            if v.is_empty() || items[..kept].iter().any(|k| k.value == *v) {
                continue;
            }
            items.swap(kept, i);
            kept += 1;
        }
        items.truncate(kept);
        return;
    }
    let mut seen = HashSet::new();
    items.retain(|x| !x.value.is_empty() && seen.insert(x.value.clone()));
}

/// Compat: bake 0.13 parses every attestation while resolving (`buildflags.ParseAttest`):
/// each field is `KEY=VALUE`, and `disabled` is a boolean. `--sbom=VALUE` and
/// `--provenance=VALUE` reach this as `type=sbom,VALUE`.
fn attest_problem(it: &Item) -> Option<Diag> {
    let fields = crate::base::csv_fields(&it.value, ',').unwrap_or_default();
    let bad = fields.iter().find(|f| match f.split_once('=') {
        None => true,
        Some((k, v)) => {
            k.eq_ignore_ascii_case("disabled")
                && !matches!(
                    v,
                    "1" | "t"
                        | "T"
                        | "true"
                        | "TRUE"
                        | "True"
                        | "0"
                        | "f"
                        | "F"
                        | "false"
                        | "FALSE"
                        | "False"
                )
        }
    })?;
    Some(
        Diag::error(
            "resolve::attest_invalid",
            format!("invalid attestation field `{bad}` in `{}`", it.value),
        )
        .label(it.span, "bake refuses this attestation")
        .help("write `KEY=VALUE` fields, e.g. `type=provenance,mode=max` or `type=sbom,disabled=true`"),
    )
}

/// Attestations are unique by type: a later one replaces an earlier one in place.
fn dedup_attest(items: &mut Vec<Item>) {
    let mut out: Vec<Item> = Vec::new();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for it in items.drain(..) {
        let ty = overrides::output_type(&it.value);
        if ty.is_empty() {
            out.push(it);
            continue;
        }
        match by_type.get(&ty) {
            Some(&i) => out[i] = it,
            None => {
                by_type.insert(ty, out.len());
                out.push(it);
            }
        }
    }
    *items = out;
}

/// bake's defaults and final touches: `context` and `dockerfile` defaults, the cleaned
/// context path, and `SOURCE_DATE_EPOCH` as a build argument.
fn finish(t: &mut Target, inputs: &Inputs) {
    let span = t.span;
    let context = t.str("context").unwrap_or(".").to_string();
    let cleaned = match context.strip_prefix("cwd://") {
        Some(rest) => clean_path(rest),
        None if is_remote(&context) => context.clone(),
        None => clean_path(&context),
    };
    let ctx_span = t.get("context").map_or(span, |a| a.span);
    t.set_def(
        attrs::target_attr("context").expect("attr"),
        Some(Attr {
            value: AttrValue::Str(cleaned),
            span: ctx_span,
        }),
    );
    if t.get("dockerfile").is_none() {
        t.set_def(
            attrs::target_attr("dockerfile").expect("attr"),
            Some(Attr {
                value: AttrValue::Str("Dockerfile".into()),
                span,
            }),
        );
    }
    if let Some(epoch) = inputs
        .env
        .get("SOURCE_DATE_EPOCH")
        .filter(|v| !v.is_empty())
    {
        let def = attrs::target_attr("args").expect("attr");
        let mut m = match t.get_def(def).map(|a| &a.value) {
            Some(AttrValue::Map(m)) => m.clone(),
            _ => BTreeMap::new(),
        };
        if !m.contains_key("SOURCE_DATE_EPOCH") {
            m.insert(
                "SOURCE_DATE_EPOCH".into(),
                Some(Item {
                    value: epoch.clone(),
                    span,
                }),
            );
            let at = t.get_def(def).map_or(span, |a| a.span);
            t.set_def(
                def,
                Some(Attr {
                    value: AttrValue::Map(m),
                    span: at,
                }),
            );
        }
    }
}
