//! Checks a plan against the builders' capabilities and the local files, secrets and
//! entitlements it needs. Pure: the files and environment arrive as [`Facts`], gathered by
//! the CLI from [`needs`].

pub mod dockerfile;

use std::collections::{BTreeMap, BTreeSet};

use crate::base::{clean_path, is_remote};
use crate::model::capabilities::ImageStore;
use crate::model::output::{SecretSource, SecretSpec, cache_type};
use crate::model::{Builder, Definition, Platform, Target};
use crate::plan::{Node, Plan};
use crate::source::{Diag, Diags, Origin, SourceMap, Span};

/// What a path is on disk.
#[derive(Clone, Debug, PartialEq)]
pub enum PathFact {
    Missing,
    Dir,
    /// A file; Dockerfiles come with their text.
    File(Option<String>),
}

/// The outside world as far as the checks need it.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Keyed by the path as the spec resolves it (relative to the working directory).
    pub paths: BTreeMap<String, PathFact>,
    /// Names of the environment variables that are set (never their values).
    pub env: BTreeSet<String>,
    /// Entitlements granted on the command line (`--allow`).
    pub allow: Vec<String>,
}

/// A path the checks want to know about, and whether its text is needed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub path: String,
    pub read: bool,
}

/// The paths `verify` will look at for this definition.
pub fn needs(def: &Definition) -> Vec<Need> {
    let mut out = BTreeSet::new();
    for t in def.targets.values() {
        let ctx = t.str("context").unwrap_or(".");
        if is_remote(ctx) || ctx.starts_with("target:") {
            continue;
        }
        out.insert(Need {
            path: ctx.to_string(),
            read: false,
        });
        if t.get("dockerfile-inline").is_none() {
            // The text is only needed to find a `target` stage; otherwise existence is enough.
            // (Needs sort `read: false` first, so a shared Dockerfile read for one target keeps
            // its text.)
            out.insert(Need {
                path: dockerfile_path(t),
                read: t.get("target").is_some(),
            });
        }
        for (_, v) in t.map("contexts") {
            if let Some(p) = local_context(&v.value) {
                out.insert(Need {
                    path: p,
                    read: false,
                });
            }
        }
        for s in t.list("secret") {
            if let Ok(SecretSpec {
                source: SecretSource::File(f),
                ..
            }) = SecretSpec::parse(&s.value)
            {
                out.insert(Need {
                    path: f,
                    read: false,
                });
            }
        }
    }
    out.into_iter().collect()
}

fn dockerfile_path(t: &Target) -> String {
    let ctx = t.str("context").unwrap_or(".");
    let df = t.str("dockerfile").unwrap_or("Dockerfile");
    if df.starts_with('/') {
        df.to_string()
    } else {
        clean_path(&format!("{ctx}/{df}"))
    }
}

/// A named context that is a local directory (not an image, URL or target).
fn local_context(v: &str) -> Option<String> {
    if v.starts_with("target:")
        || v.starts_with("docker-image://")
        || v.starts_with("oci-layout://")
        || is_remote(v)
    {
        return None;
    }
    Some(v.trim_start_matches("cwd://").to_string())
}

/// Runs every check, collecting all problems.
pub fn verify(
    plan: &Plan,
    def: &Definition,
    builders: &[Builder],
    facts: &Facts,
    sources: &mut SourceMap,
    diags: &mut Diags,
) {
    check_builders(builders, diags);
    check_platforms(plan, def, diags);
    check_outputs(plan, def, diags);
    let mut dockerfiles: BTreeMap<String, crate::source::FileId> = BTreeMap::new();
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();
    for name in names {
        let t = &def.targets[name];
        check_inputs(t, facts, sources, &mut dockerfiles, diags);
        check_secrets(t, facts, diags);
        check_entitlements(t, facts, diags);
        check_unapplied(t, diags);
    }
}

fn check_builders(builders: &[Builder], diags: &mut Diags) {
    for b in builders {
        for key in ["platforms", "native"] {
            for item in b.list(key) {
                if let Err(msg) = Platform::parse(&item.value) {
                    diags.push(
                        Diag::error(
                            "check::builder_platform",
                            format!("builder `{}` lists {msg}", b.name),
                        )
                        .label(item.span, "not a platform")
                        .help("write platforms as os/arch[/variant], e.g. `linux/arm64`"),
                    );
                }
            }
        }
        let platforms: Vec<Platform> = b
            .list("platforms")
            .iter()
            .filter_map(|i| Platform::parse(&i.value).ok())
            .collect();
        if !platforms.is_empty() {
            for item in b.list("native") {
                if let Ok(p) = Platform::parse(&item.value)
                    && !platforms.contains(&p)
                {
                    diags.push(
                        Diag::warning(
                            "check::native_not_listed",
                            format!(
                                "builder `{}` lists {p} as native but not in `platforms`",
                                b.name
                            ),
                        )
                        .label(item.span, "not in `platforms`")
                        .help(format!(
                            "add {p} to `platforms` too; rbake treats it as buildable anyway"
                        )),
                    );
                }
            }
        }
        if let Some(d) = b.str("driver")
            && d != "docker"
        {
            diags.push(
                Diag::error(
                    "check::builder_driver",
                    format!(
                        "builder `{}` uses driver `{d}`, which rbake does not support",
                        b.name
                    ),
                )
                .label(b.span_of("driver"), "unsupported driver")
                .help("use `driver = \"docker\"`: the engine's embedded BuildKit"),
            );
        }
        if let Some(m) = b.str("max-parallelism")
            && m.parse::<usize>().map_or(true, |n| n == 0)
        {
            diags.push(
                Diag::error(
                    "check::max_parallelism",
                    format!("`max-parallelism` must be a positive whole number, not `{m}`"),
                )
                .label(b.span_of("max-parallelism"), "not a positive number")
                .help("write a whole number of at least 1, e.g. `max-parallelism = 4` (4 solves at a time keeps a 2-core engine healthy)"),
            );
        }
        if let Some(s) = b.str("image-store")
            && s != "classic"
            && s != "containerd"
        {
            diags.push(
                Diag::error("check::image_store", format!("unknown image store `{s}`"))
                    .label(b.span_of("image-store"), "expected classic or containerd")
                    .help("use `classic` (one platform per image) or `containerd` (multi-platform images)"),
            );
        }
        if let Some(e) = b.str("endpoint")
            && !["unix://", "tcp://", "npipe://", "ssh://"]
                .iter()
                .any(|s| e.starts_with(s))
        {
            diags.push(
                Diag::error(
                    "check::endpoint",
                    format!("`{e}` is not an engine endpoint"),
                )
                .label(b.span_of("endpoint"), "unknown scheme")
                .help("write `unix:///var/run/docker.sock` or `tcp://HOST:PORT`"),
            );
        }
    }
}

fn check_platforms(plan: &Plan, def: &Definition, diags: &mut Diags) {
    let mut emulated: BTreeMap<&str, Vec<(String, String, Span)>> = BTreeMap::new();
    for n in plan.graph.node_weights() {
        let Node::Build(b) = n else { continue };
        let t = &def.targets[&b.target];
        match &b.builder {
            None => {
                let list: Vec<String> = plan
                    .builders
                    .iter()
                    .map(|c| {
                        format!(
                            "{} [{}]",
                            c.name,
                            c.platforms
                                .iter()
                                .map(Platform::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect();
                diags.push(
                    Diag::error(
                        "check::platform_unsupported",
                        format!(
                            "no builder can build `{}` for target `{}`",
                            b.platform, b.target
                        ),
                    )
                    .label(b.platform_span, "requested here")
                    .help(format!(
                        "add `{}` to a builder's `platforms` (builders: {}), or drop it here",
                        b.platform,
                        list.join("; ")
                    )),
                );
            }
            Some(builder) if b.emulated => {
                emulated.entry(b.target.as_str()).or_default().push((
                    b.platform.to_string(),
                    builder.clone(),
                    b.platform_span,
                ));
            }
            Some(_) => {}
        }
        let _ = t;
    }
    for (target, list) in emulated {
        let t = &def.targets[target];
        let forbid = t.str("emulation") == Some("forbid");
        let mut by_builder: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (p, b, _) in &list {
            by_builder.entry(b.as_str()).or_default().push(p.as_str());
        }
        let platforms: Vec<String> = by_builder
            .iter()
            .map(|(b, ps)| format!("{} on `{b}`", ps.join(", ")))
            .collect();
        let mut d = if forbid {
            Diag::error("check::emulation_forbidden", format!("target `{target}` forbids emulation but {} would run emulated", platforms.join(", ")))
                .help("add a builder that builds these platforms natively (`native = [...]`), or allow emulation")
        } else {
            Diag::warning("check::emulated", format!("target `{target}` builds {} under emulation", platforms.join(", ")))
                .help("emulated builds are slower; add a native builder for these platforms, or set `emulation = \"forbid\"` to make this an error")
        };
        for (_, _, span) in &list {
            d = d.label(*span, "emulated");
        }
        diags.push(d);
    }
    if let Some(e) = def.targets.values().find_map(|t| {
        t.get("emulation")
            .filter(|_| !matches!(t.str("emulation"), Some("allow") | Some("forbid")))
            .map(|a| (a.span, t.str("emulation").unwrap_or("").to_string()))
    }) {
        diags.push(
            Diag::error(
                "check::emulation_value",
                format!("`emulation` must be `allow` or `forbid`, not `{}`", e.1),
            )
            .label(e.0, "unknown value")
            .help("write `emulation = \"forbid\"` to refuse emulated builds"),
        );
    }
}

fn check_outputs(plan: &Plan, def: &Definition, diags: &mut Diags) {
    let mut split: BTreeMap<&str, usize> = BTreeMap::new();
    for n in plan.graph.node_weights() {
        if let Node::Load(l) = n
            && l.id.matches(':').count() > 1
        {
            *split.entry(l.target.as_str()).or_default() += 1;
        }
    }
    for (target, count) in split {
        let t = &def.targets[target];
        let at = t.get("output").map_or(t.span, |a| a.span);
        diags.push(
            Diag::warning("check::load_split", format!("target `{target}` loads {count} platforms into an engine whose image store holds one platform per image"))
                .label(at, "split into one image per platform")
                .help("rbake loads each platform under its own local tag (see `local-tag`); a containerd image store (`image-store = \"containerd\"`) takes one multi-platform image"),
        );
    }
    // Cache export needs a store that can hold its blobs; report once per target.
    let mut seen = BTreeSet::new();
    for n in plan.graph.node_weights() {
        let Node::Build(b) = n else { continue };
        let Some(caps) = b.builder.as_ref().and_then(|n| plan.builder(n)) else {
            continue;
        };
        if caps.image_store == ImageStore::Containerd || !seen.insert(b.target.clone()) {
            continue;
        }
        let t = &def.targets[&b.target];
        for item in t.list("cache-to") {
            let ty = cache_type(&item.value);
            if ty != "inline" {
                diags.push(
                    Diag::error("check::cache_export", format!("builder `{}` cannot export `{ty}` cache: its engine uses the classic image store", caps.name))
                        .label(item.span, "not exportable here")
                        .help("use `cache-to = [\"type=inline\"]`, or a builder whose engine has the containerd image store"),
                );
            }
        }
    }
}

fn check_inputs(
    t: &Target,
    facts: &Facts,
    sources: &mut SourceMap,
    dockerfiles: &mut BTreeMap<String, crate::source::FileId>,
    diags: &mut Diags,
) {
    let ctx = t.str("context").unwrap_or(".");
    if !is_remote(ctx) && !ctx.starts_with("target:") {
        let at = t.get("context").map_or(t.span, |a| a.span);
        let exists = matches!(facts.paths.get(ctx), Some(PathFact::Dir));
        match facts.paths.get(ctx) {
            Some(PathFact::Dir) => {}
            Some(PathFact::File(_)) => diags.push(
                Diag::error("check::context_not_dir", format!("the context `{ctx}` of target `{}` is a file", t.name))
                    .label(at, "not a directory")
                    .help("point `context` at the directory the Dockerfile builds from"),
            ),
            _ => diags.push(
                Diag::error("check::context_missing", format!("the context `{ctx}` of target `{}` does not exist", t.name))
                    .label(at, "no such directory")
                    .help("create the directory, or fix `context` (paths are relative to the working directory)"),
            ),
        }
        // Without its context there is no Dockerfile to look for: one error is enough.
        if exists && t.get("dockerfile-inline").is_none() {
            let path = dockerfile_path(t);
            let at = t.get("dockerfile").map_or(t.span, |a| a.span);
            match facts.paths.get(&path) {
                Some(PathFact::File(text)) => {
                    if let (Some(stage), Some(text)) = (t.get("target"), text) {
                        let file = *dockerfiles.entry(path.clone()).or_insert_with(|| sources.add(path.clone(), text.clone(), Origin::File));
                        check_stage(t, stage, &path, file, sources, diags);
                    }
                }
                _ => diags.push(
                    Diag::error("check::dockerfile_missing", format!("target `{}` has no Dockerfile at `{path}`", t.name))
                        .label(at, "not found")
                        .help("create it, set `dockerfile` (relative to the context), or use `dockerfile-inline`"),
                ),
            }
        }
    }
    for (name, v) in t.map("contexts") {
        let Some(p) = local_context(&v.value) else {
            continue;
        };
        if !matches!(facts.paths.get(&p), Some(PathFact::Dir)) {
            diags.push(
                Diag::error("check::named_context_missing", format!("named context `{name}` of target `{}` does not resolve: `{p}` is not a directory", t.name))
                    .label(v.span, "no such directory")
                    .help("use a directory, `docker-image://REF`, or `target:NAME` for another target's result"),
            );
        }
    }
}

fn check_stage(
    t: &Target,
    stage: &crate::model::Attr,
    path: &str,
    file: crate::source::FileId,
    sources: &SourceMap,
    diags: &mut Diags,
) {
    let crate::model::AttrValue::Str(want) = &stage.value else {
        return;
    };
    let text = sources.get(file).text.clone();
    let stages = dockerfile::stages(&text);
    if stages
        .iter()
        .any(|s| s.name.as_deref() == Some(&want.to_ascii_lowercase()))
    {
        return;
    }
    let names: Vec<String> = stages.iter().filter_map(|s| s.name.clone()).collect();
    let mut related = Diag::error("check::stage_missing", format!("stages in `{path}`"));
    for s in stages.iter().filter(|s| s.name.is_some()).take(8) {
        related = related.label(
            Span::new(file, s.span.clone()),
            format!("stage `{}`", s.name.clone().unwrap_or_default()),
        );
    }
    if related.labels.is_empty() {
        related = related.label(Span::new(file, 0..text.len().min(1)), "no named stages");
    }
    diags.push(
        Diag::error(
            "check::stage_missing",
            format!(
                "target `{}` builds stage `{want}`, which `{path}` does not define",
                t.name
            ),
        )
        .label(stage.span, "no such stage")
        .related(related)
        .help(
            match crate::base::did_you_mean(want, names.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => {
                    "name a stage with `FROM image AS name`, or remove `target`".to_string()
                }
                None => format!("the Dockerfile's stages are: {}", names.join(", ")),
            },
        ),
    );
}

fn check_secrets(t: &Target, facts: &Facts, diags: &mut Diags) {
    for item in t.list("secret") {
        match SecretSpec::parse(&item.value) {
            Err(msg) => diags.push(
                Diag::error(
                    "check::secret_spec",
                    format!("invalid secret `{}`: {msg}", item.value),
                )
                .label(item.span, "cannot be read")
                .help("write `id=NAME,src=FILE` or `id=NAME,env=VARIABLE`"),
            ),
            Ok(SecretSpec {
                id,
                source: SecretSource::File(f),
            }) => {
                if !matches!(facts.paths.get(&f), Some(PathFact::File(_))) {
                    diags.push(
                        Diag::error("check::secret_missing", format!("secret `{id}` of target `{}` reads `{f}`, which does not exist", t.name))
                            .label(item.span, "file not found")
                            .help("create the file (keep it out of version control), or take the secret from an environment variable with `env=NAME`"),
                    );
                }
            }
            Ok(SecretSpec {
                id,
                source: SecretSource::Env(e),
            }) => {
                if !facts.env.contains(&e) {
                    diags.push(
                        Diag::error(
                            "check::secret_missing",
                            format!(
                                "secret `{id}` of target `{}` reads ${e}, which is not set",
                                t.name
                            ),
                        )
                        .label(item.span, "variable not set")
                        .help(format!(
                            "export {e} before running rbake (its value is never printed)"
                        )),
                    );
                }
            }
        }
    }
}

fn check_entitlements(t: &Target, facts: &Facts, diags: &mut Diags) {
    let granted = |e: &str| facts.allow.iter().any(|a| a == e);
    if t.str("network") == Some("host") && !granted("network.host") {
        let at = t.get("network").map_or(t.span, |a| a.span);
        diags.push(
            Diag::error(
                "check::entitlement",
                format!(
                    "target `{}` uses the host network, which was not granted",
                    t.name
                ),
            )
            .label(at, "needs network.host")
            .help("run with `--allow network.host` if you trust this build"),
        );
    }
    for e in t.list("entitlements") {
        if !granted(&e.value) {
            diags.push(
                Diag::error(
                    "check::entitlement",
                    format!(
                        "target `{}` needs entitlement `{}`, which was not granted",
                        t.name, e.value
                    ),
                )
                .label(e.span, "not granted")
                .help(format!(
                    "run with `--allow {}` if you trust this build",
                    e.value
                )),
            );
        }
    }
    let ctx = t.str("context").unwrap_or(".");
    let mut outside: Vec<(String, Span)> = Vec::new();
    if !is_remote(ctx) && escapes(ctx) {
        outside.push((ctx.to_string(), t.get("context").map_or(t.span, |a| a.span)));
    }
    for (_, v) in t.map("contexts") {
        if let Some(p) = local_context(&v.value)
            && escapes(&p)
        {
            outside.push((p, v.span));
        }
    }
    for (p, span) in outside {
        let allowed = facts.allow.iter().any(|a| {
            a == "fs.read"
                || a.strip_prefix("fs.read=")
                    .or(a.strip_prefix("fs="))
                    .is_some_and(|root| clean_path(&p).starts_with(&clean_path(root)))
        });
        if !allowed {
            diags.push(
                Diag::error(
                    "check::entitlement",
                    format!(
                        "target `{}` reads `{p}`, outside the working directory",
                        t.name
                    ),
                )
                .label(span, "outside the project")
                .help(format!(
                    "run with `--allow fs.read={p}` if the build may read it"
                )),
            );
        }
    }
}

/// Whether a relative path leaves the working directory (absolute paths count as leaving).
fn escapes(p: &str) -> bool {
    let c = clean_path(p);
    c.starts_with('/') || c == ".." || c.starts_with("../")
}

/// Attributes bake accepts that `rbake apply` does not apply yet: say so at plan time rather
/// than build without them silently. (Annotations are written into pushed manifests and
/// indexes; loads and exports do not carry them.)
fn check_unapplied(t: &Target, diags: &mut Diags) {
    for key in ["attest"] {
        if let Some(a) = t.get(key).filter(|_| !t.list(key).is_empty()) {
            diags.push(
                Diag::warning("check::not_applied", format!("`rbake apply` does not apply `{key}` yet"))
                    .label(a.span, "planned, but not sent to BuildKit")
                    .help(format!("the image of `{}` is built without it; remove `{key}` to silence this, or build this target with buildx", t.name)),
            );
        }
    }
    for item in t.list("annotations") {
        if let Err(msg) = crate::model::annotation::Annotation::parse(&item.value) {
            diags.push(
                Diag::error("check::annotation", msg)
                    .label(item.span, "cannot be applied")
                    .help("write `KEY=VALUE` (the manifests), `index:KEY=VALUE`, or `manifest[linux/arm64]:KEY=VALUE`"),
            );
        }
    }
    if let Some(c) = t.str("call").filter(|c| *c != "build") {
        let at = t.get("call").map_or(t.span, |a| a.span);
        diags.push(
            Diag::warning(
                "check::not_applied",
                format!("`rbake apply` does not run `call = \"{c}\"` yet"),
            )
            .label(at, "apply builds the target instead")
            .help("run the check with `docker buildx build --call`, or remove `call`"),
        );
    }
}
