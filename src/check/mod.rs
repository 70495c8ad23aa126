//! Checks a plan against the builders' capabilities and the local files, secrets and
//! entitlements it needs. Pure: the files and environment arrive as [`Facts`], gathered by
//! the CLI from [`needs`].

mod attest;
pub mod dockerfile;
mod platforms;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::base::{clean_path, csv_fields, is_remote};
use crate::model::access::{Access, Grants};
use crate::model::capabilities::ImageStore;
use crate::model::output::{Output, OutputKind, SecretSource, SecretSpec, SshSpec, cache_type};
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
    /// A FIFO, device or socket (what it is): reading one could block or never end.
    Special(&'static str),
}

/// The outside world as far as the checks need it.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Keyed by the path as the spec resolves it (relative to the working directory). Paths
    /// outside what was granted are not looked at.
    pub paths: BTreeMap<String, PathFact>,
    /// Every local path the definition reads or writes, resolved on disk (symlinks
    /// followed), keyed like `paths`.
    pub real: BTreeMap<String, PathBuf>,
    /// The working directory, resolved.
    pub cwd: PathBuf,
    /// The filesystem entitlements granted (`--allow fs.read=PATH`, ...), roots resolved.
    pub grants: Grants,
    /// Names of the environment variables that are set (never their values).
    pub env: BTreeSet<String>,
    /// Names of the environment variables set to values that are not UTF-8.
    pub env_not_utf8: BTreeSet<String>,
    /// Entitlements granted on the command line (`--allow`).
    pub allow: Vec<String>,
    /// What the `ssh` paths that are regular files hold (see [`ssh_paths`]); a key is read
    /// to classify it and never kept.
    pub ssh_keys: BTreeMap<String, SshKeyFact>,
}

/// What an `ssh` key file holds, as far as the checks need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshKeyFact {
    Usable,
    /// Protected by a passphrase: only an agent can use it.
    Encrypted,
    /// Not a key rbake can sign with (why, and what to do).
    Unusable {
        why: String,
        help: String,
    },
}

impl Facts {
    /// Whether a path the definition names lies outside what was granted for `access`.
    pub fn refused(&self, path: &str, access: Access) -> bool {
        self.real
            .get(path)
            .is_some_and(|real| !self.grants.permits(&self.cwd, real, access))
    }
}

/// A path the checks want to know about, and whether its text is needed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub path: String,
    pub access: Access,
    pub read: bool,
}

/// One local path a target reads or writes, with the span that names it.
struct LocalUse {
    path: String,
    access: Access,
    span: Span,
    /// Whether the text is needed (a Dockerfile with a `target` stage to find).
    text: bool,
    /// The Dockerfile, found through the context unless given as an absolute path.
    dockerfile: bool,
}

/// Every local path a target reads (context, Dockerfile, named contexts, secret files,
/// local cache imports) or writes (`local`, `tar` and `oci` outputs, local cache exports).
fn local_uses(t: &Target) -> Vec<LocalUse> {
    let mut out = Vec::new();
    let ctx = t.str("context").unwrap_or(".");
    if !is_remote(ctx) && !ctx.starts_with("target:") {
        out.push(LocalUse {
            path: ctx.to_string(),
            access: Access::Read,
            span: t.get("context").map_or(t.span, |a| a.span),
            text: false,
            dockerfile: false,
        });
        if t.get("dockerfile-inline").is_none() {
            // The text is only needed to find a `target` stage; otherwise existence is enough.
            out.push(LocalUse {
                path: dockerfile_path(t),
                access: Access::Read,
                span: t.get("dockerfile").map_or(t.span, |a| a.span),
                text: t.get("target").is_some(),
                dockerfile: true,
            });
        }
    }
    for (_, v) in t.map("contexts") {
        if let Some(p) = local_context(&v.value) {
            out.push(LocalUse {
                path: p,
                access: Access::Read,
                span: v.span,
                text: false,
                dockerfile: false,
            });
        }
    }
    for s in t.list("secret") {
        if let Ok(SecretSpec {
            source: SecretSource::File(f),
            ..
        }) = SecretSpec::parse(&s.value)
        {
            out.push(LocalUse {
                path: f,
                access: Access::Read,
                span: s.span,
                text: false,
                dockerfile: false,
            });
        }
    }
    for item in t.list("ssh") {
        for path in SshSpec::parse(&item.value).paths {
            out.push(LocalUse {
                path,
                access: Access::Read,
                span: item.span,
                text: false,
                dockerfile: false,
            });
        }
    }
    for (key, field, access) in [
        ("cache-from", "src", Access::Read),
        ("cache-to", "dest", Access::Write),
    ] {
        for item in t.list(key) {
            if let Some(p) = local_cache_path(&item.value, field) {
                out.push(LocalUse {
                    path: p,
                    access,
                    span: item.span,
                    text: false,
                    dockerfile: false,
                });
            }
        }
    }
    for (dest, span) in export_dests(t) {
        out.push(LocalUse {
            path: dest,
            access: Access::Write,
            span,
            text: false,
            dockerfile: false,
        });
    }
    out
}

/// The destinations of a target's `local`, `tar` and `oci` outputs (empty ones are the
/// planner's to report).
fn export_dests(t: &Target) -> Vec<(String, Span)> {
    t.list("output")
        .iter()
        .filter_map(|item| {
            let o = Output::parse(&item.value).ok()?;
            if !matches!(
                o.kind,
                OutputKind::Local | OutputKind::Tar | OutputKind::Oci
            ) {
                return None;
            }
            let dest = o.dest().filter(|d| !d.trim().is_empty())?;
            Some((dest.to_string(), item.span))
        })
        .collect()
}

/// The directory of a `type=local` cache spec (`src=` to import, `dest=` to export).
fn local_cache_path(spec: &str, field: &str) -> Option<String> {
    if cache_type(spec) != "local" {
        return None;
    }
    let fields = csv_fields(spec, ',').ok()?;
    fields
        .iter()
        .find_map(|f| f.strip_prefix(&format!("{field}=")))
        .filter(|p| !p.trim().is_empty())
        .map(str::to_string)
}

/// The paths `ssh` entries name (agent sockets or key files), for the CLI to classify.
pub fn ssh_paths(def: &Definition) -> BTreeSet<String> {
    def.targets
        .values()
        .flat_map(|t| t.list("ssh"))
        .flat_map(|item| SshSpec::parse(&item.value).paths)
        .collect()
}

/// The paths `verify` will look at for this definition.
pub fn needs(def: &Definition) -> Vec<Need> {
    let mut out = BTreeSet::new();
    for t in def.targets.values() {
        // The `.dockerignore` files the frontend may read, so bad patterns are reported at
        // plan time rather than as a failed transfer. Optional: never reported as missing
        // or refused themselves.
        let ctx = t.str("context").unwrap_or(".");
        if !is_remote(ctx) && !ctx.starts_with("target:") {
            for path in dockerignore_paths(t) {
                out.insert(Need {
                    path,
                    access: Access::Read,
                    read: true,
                });
            }
        }
        for u in local_uses(t) {
            // Needs sort `read: false` first, so a shared Dockerfile read for one target
            // keeps its text.
            out.insert(Need {
                path: u.path,
                access: u.access,
                read: u.text,
            });
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

/// Where the frontend looks for ignore patterns: `<Dockerfile>.dockerignore` first, then the
/// context's `.dockerignore`.
fn dockerignore_paths(t: &Target) -> Vec<String> {
    let ctx = t.str("context").unwrap_or(".");
    let mut out = Vec::new();
    if t.get("dockerfile-inline").is_none() {
        out.push(format!("{}.dockerignore", dockerfile_path(t)));
    }
    out.push(clean_path(&format!("{ctx}/.dockerignore")));
    out
}

/// Patterns in the `.dockerignore` in force that the engine would refuse (an unclosed `[`,
/// a trailing `\`, a lone `!`), each pointed at in the file.
fn check_dockerignore(t: &Target, facts: &Facts, sources: &mut SourceMap, diags: &mut Diags) {
    for path in dockerignore_paths(t) {
        let Some(PathFact::File(text)) = facts.paths.get(&path) else {
            continue;
        };
        let Some(text) = text else { return };
        let mut file = None;
        for line in crate::base::patterns::read_ignore(text.as_bytes()) {
            if let Err(e) = crate::base::patterns::Matcher::new(&[line.pattern.as_str()]) {
                let f = *file
                    .get_or_insert_with(|| sources.add(path.clone(), text.clone(), Origin::File));
                diags.push(
                    Diag::error("check::dockerignore", format!("`{path}` line {}: {}", line.line, e.message))
                        .label(Span::new(f, line.start..line.end), "the engine refuses this pattern")
                        .help(format!("fix or remove the pattern; target `{}` reads this file (a literal `[` or `\\` is written `\\[` or `\\\\`)", t.name)),
                );
            }
        }
        return;
    }
}

/// A named context that is a local directory (not an image, URL or target).
pub fn local_context(v: &str) -> Option<String> {
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
    platforms::check_platforms(plan, def, diags);
    check_outputs(plan, def, diags);
    attest::check(plan, def, diags);
    let mut dockerfiles: BTreeMap<String, crate::source::FileId> = BTreeMap::new();
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();
    for name in names {
        let t = &def.targets[name];
        check_inputs(t, facts, sources, &mut dockerfiles, diags);
        check_secrets(t, facts, diags);
        check_ssh(t, facts, diags);
        check_entitlements(t, facts, diags);
        check_access(t, facts, diags);
        check_unapplied(t, diags);
    }
    check_overlaps(def, facts, diags);
}

fn check_builders(builders: &[Builder], diags: &mut Diags) {
    for b in builders {
        builder_connection(b, diags);
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
        if let Some(e) = b.str("endpoint")
            && let Some(host) = tcp_host(e)
            && !is_loopback(host)
            && b.str("tls-ca").is_none()
        {
            diags.push(
                Diag::warning(
                    "check::plain_tcp",
                    format!("builder `{}` reaches its engine at `{e}` in clear text", b.name),
                )
                .label(b.span_of("endpoint"), "plain TCP, no TLS")
                .help("whoever can reach that port runs anything as root on that machine, and anyone on the way reads every build's files and secrets: use `ssh://USER@HOST` (the engine's socket through ssh), or run the engine with `--tlsverify` and give this builder `tls-ca`, `tls-cert` and `tls-key`"),
            );
        }
    }
}

/// A builder's `context` and `tls-*` attributes fit its endpoint.
fn builder_connection(b: &Builder, diags: &mut Diags) {
    let tls: Vec<&str> = ["tls-ca", "tls-cert", "tls-key"]
        .into_iter()
        .filter(|k| b.str(k).is_some())
        .collect();
    if b.str("context").is_some() {
        for key in std::iter::once("endpoint").chain(tls.iter().copied()) {
            if b.str(key).is_some() {
                diags.push(
                    Diag::error(
                        "check::builder_context",
                        format!("builder `{}` names a Docker context and sets `{key}` too", b.name),
                    )
                    .label(b.span_of(key), "the context already gives this")
                    .label(b.span_of("context"), "the context")
                    .help("keep either `context` (the endpoint and TLS files of a `docker context`) or `endpoint` with its `tls-*` attributes"),
                );
            }
        }
        return;
    }
    let Some(first) = tls.first() else {
        return;
    };
    let endpoint = b.str("endpoint").unwrap_or("");
    let problem = if !endpoint.starts_with("tcp://") {
        Some(format!("`{first}` applies to a `tcp://` endpoint only"))
    } else if b.str("tls-ca").is_none() {
        Some(
            "TLS needs `tls-ca`, the CA certificate that signed the engine's certificate"
                .to_string(),
        )
    } else if b.str("tls-cert").is_some() != b.str("tls-key").is_some() {
        Some("`tls-cert` and `tls-key` go together".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        diags.push(
            Diag::error("check::builder_tls", format!("builder `{}`: {problem}", b.name))
                .label(b.span_of(first), "TLS material")
                .help("for an engine run with `--tlsverify`, give `endpoint = \"tcp://HOST:2376\"`, `tls-ca`, `tls-cert` and `tls-key` (the files `docker --tlsverify` takes)"),
        );
    }
}

/// The host of a `tcp://HOST:PORT` endpoint (brackets kept off an IPv6 address).
fn tcp_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint.strip_prefix("tcp://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h))
}

/// Whether traffic to `host` stays on this machine: `localhost`, 127.0.0.0/8, `::1`.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
    // A path outside what was granted is reported by `check_access` and never looked at.
    if !is_remote(ctx) && !ctx.starts_with("target:") && !facts.refused(ctx, Access::Read) {
        let at = t.get("context").map_or(t.span, |a| a.span);
        let exists = matches!(facts.paths.get(ctx), Some(PathFact::Dir));
        match facts.paths.get(ctx) {
            Some(PathFact::Dir) => {}
            Some(PathFact::File(_) | PathFact::Special(_)) => diags.push(
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
        if exists {
            check_dockerignore(t, facts, sources, diags);
        }
        // Without its context there is no Dockerfile to look for: one error is enough.
        if exists
            && t.get("dockerfile-inline").is_none()
            && !facts.refused(&dockerfile_path(t), Access::Read)
        {
            let path = dockerfile_path(t);
            let at = t.get("dockerfile").map_or(t.span, |a| a.span);
            match facts.paths.get(&path) {
                Some(PathFact::File(text)) => {
                    if let (Some(stage), Some(text)) = (t.get("target"), text) {
                        let file = *dockerfiles.entry(path.clone()).or_insert_with(|| sources.add(path.clone(), text.clone(), Origin::File));
                        check_stage(t, stage, &path, file, sources, diags);
                    }
                }
                Some(PathFact::Special(kind)) => diags.push(
                    Diag::error("check::not_a_file", format!("the Dockerfile `{path}` of target `{}` is {kind}, not a regular file", t.name))
                        .label(at, "not a regular file")
                        .help("point `dockerfile` at a regular file, or use `dockerfile-inline`"),
                ),
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
        if !facts.refused(&p, Access::Read) && !matches!(facts.paths.get(&p), Some(PathFact::Dir)) {
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
                if let Some(PathFact::Special(kind)) = facts.paths.get(&f) {
                    diags.push(
                        Diag::error("check::not_a_file", format!("secret `{id}` of target `{}` reads `{f}`, which is {kind}, not a regular file", t.name))
                            .label(item.span, "not a regular file")
                            .help("keep the secret in a regular file, or take it from an environment variable with `env=NAME`"),
                    );
                } else if !facts.refused(&f, Access::Read)
                    && !matches!(facts.paths.get(&f), Some(PathFact::File(_)))
                {
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
                if facts.env_not_utf8.contains(&e) {
                    diags.push(
                        Diag::error(
                            "check::secret_missing",
                            format!(
                                "secret `{id}` of target `{}` reads ${e}, whose value is not UTF-8, which rbake cannot pass from the environment",
                                t.name
                            ),
                        )
                        .label(item.span, "value not UTF-8")
                        .help("put the value in a file (kept out of version control) and use `src=FILE`"),
                    );
                } else if !facts.env.contains(&e) {
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

/// Each `ssh` path exists; a key file holds a key rbake's agent can sign with; one id names
/// one agent socket or key files, never both (as buildx).
fn check_ssh(t: &Target, facts: &Facts, diags: &mut Diags) {
    for item in t.list("ssh") {
        let spec = SshSpec::parse(&item.value);
        let id = &spec.id;
        let mut sockets = 0;
        for p in &spec.paths {
            if facts.refused(p, Access::Read) {
                continue;
            }
            match (facts.paths.get(p), facts.ssh_keys.get(p)) {
                (Some(PathFact::Special(kind)), _) if *kind == "a socket" => sockets += 1,
                (Some(PathFact::Special(kind)), _) => diags.push(
                    Diag::error("check::ssh_key", format!("ssh `{id}` of target `{}` names `{p}`, which is {kind}, neither a key file nor an agent socket", t.name))
                        .label(item.span, "not a key or an agent")
                        .help("name a private key file or an agent socket"),
                ),
                (Some(PathFact::Dir), _) => diags.push(
                    Diag::error("check::ssh_key", format!("ssh `{id}` of target `{}` names `{p}`, which is a directory", t.name))
                        .label(item.span, "not a key or an agent")
                        .help("name a private key file (such as `~/.ssh/id_ed25519`) or an agent socket"),
                ),
                (Some(PathFact::File(_)), Some(SshKeyFact::Encrypted)) => diags.push(
                    Diag::error("check::ssh_key", format!("ssh `{id}` of target `{}` names `{p}`, a key encrypted with a passphrase, which rbake does not ask for", t.name))
                        .label(item.span, "encrypted key")
                        .help(format!("load it into an agent (`ssh-add {p}`) and write `{id}` alone, which uses the agent at $SSH_AUTH_SOCK")),
                ),
                (Some(PathFact::File(_)), Some(SshKeyFact::Unusable { why, help })) => diags.push(
                    Diag::error("check::ssh_key", format!("ssh `{id}` of target `{}` names `{p}`, which {why}", t.name))
                        .label(item.span, "not a usable key")
                        .help(help.clone()),
                ),
                // The in-process agent (exec/agent.rs) answers correctly in its unit tests,
                // but a login through BuildKit's forwarding is still refused (the e2e test
                // `ssh_key_file` is not enabled yet): refuse key files rather than let a
                // `RUN --mount=type=ssh` step fail with "Permission denied".
                (Some(PathFact::File(_)), _) => diags.push(
                    Diag::error("check::ssh_key", format!("ssh `{id}` of target `{}` names the key file `{p}`; this version of rbake cannot serve key files to a build yet", t.name))
                        .label(item.span, "a key file")
                        .help(format!("load the key into an agent (`ssh-add {p}`) and write `{id}` alone, which uses the agent at $SSH_AUTH_SOCK")),
                ),
                _ => diags.push(
                    Diag::error("check::ssh_missing", format!("ssh `{id}` of target `{}` names `{p}`, which does not exist", t.name))
                        .label(item.span, "file not found")
                        .help("name an existing private key file or agent socket, or write the id alone to use the agent at $SSH_AUTH_SOCK"),
                ),
            }
        }
        if sockets > 0 && spec.paths.len() > 1 {
            diags.push(
                Diag::error("check::ssh_spec", format!("ssh `{id}` of target `{}` names an agent socket among other paths", t.name))
                    .label(item.span, "one socket, or key files")
                    .help("give one id either a single agent socket or key files; use another id for the other"),
            );
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
}

/// Every local path must lie in the working directory or under a granted `fs.read` /
/// `fs.write` root once resolved on disk, so a symlink that leaves the project counts as
/// leaving it. Compat: bake requires the same entitlements for reads and writes outside the
/// working directory.
fn check_access(t: &Target, facts: &Facts, diags: &mut Diags) {
    let ctx = t.str("context").unwrap_or(".");
    let ctx_real = facts
        .real
        .get(ctx)
        .filter(|_| facts.refused(ctx, Access::Read));
    for u in local_uses(t) {
        if !facts.refused(&u.path, u.access) {
            continue;
        }
        // A Dockerfile inside a refused context has the same cause: one diagnostic.
        if u.dockerfile
            && let (Some(c), Some(d)) = (ctx_real, facts.real.get(&u.path))
            && d.starts_with(c)
        {
            continue;
        }
        let via = match facts.real.get(&u.path) {
            Some(real) if !escapes(&u.path) => {
                format!(", which resolves to `{}`", real.display())
            }
            _ => String::new(),
        };
        let (label, may) = match u.access {
            Access::Read => ("outside the project", "if the build may read it"),
            Access::Write => ("writes outside the project", "if the build may write there"),
        };
        diags.push(
            Diag::error(
                "check::entitlement",
                format!(
                    "target `{}` {} `{}`{via}, outside the working directory",
                    t.name,
                    u.access.verb(),
                    u.path
                ),
            )
            .label(u.span, label)
            .help(format!(
                "run with `--allow {}={}` {may}",
                u.access.entitlement(),
                u.path
            )),
        );
    }
}

/// Whether a relative path leaves the working directory (absolute paths count as leaving).
fn escapes(p: &str) -> bool {
    let c = clean_path(p);
    c.starts_with('/') || c == ".." || c.starts_with("../")
}

/// Two outputs writing the same file or directory, or one inside the other, would overwrite
/// each other in an order nobody chose: one diagnostic per overlapping pair.
fn check_overlaps(def: &Definition, facts: &Facts, diags: &mut Diags) {
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();
    let mut dests: Vec<(&PathBuf, &str, String, Span)> = Vec::new();
    for name in names {
        for (dest, span) in export_dests(&def.targets[name]) {
            if let Some(real) = facts.real.get(&dest) {
                dests.push((real, name.as_str(), dest, span));
            }
        }
    }
    // Sorted by components, a path's descendants follow it directly.
    dests.sort_by(|a, b| a.0.cmp(b.0).then(a.3.start.cmp(&b.3.start)));
    for (i, (outer, t1, d1, s1)) in dests.iter().enumerate() {
        for (inner, t2, d2, s2) in dests[i + 1..].iter() {
            if !inner.starts_with(outer) {
                break;
            }
            let same = inner == outer;
            let message = if same && t1 == t2 {
                format!("two outputs of `{t1}` write `{d2}`")
            } else if same {
                format!("outputs of `{t1}` and `{t2}` both write `{d2}`")
            } else {
                format!(
                    "an output of `{t2}` writes `{d2}`, inside `{d1}`, which an output of `{t1}` writes"
                )
            };
            diags.push(
                Diag::error("check::output_overlap", message)
                    .label(*s2, if same { "same destination" } else { "inside another output" })
                    .label(*s1, format!("`{t1}` writes `{d1}` here"))
                    .help("give each output its own destination, outside the others'; the later write would replace or mix with the earlier"),
            );
        }
    }
}

/// Attributes bake accepts that `rbake apply` does not apply yet: say so at plan time rather
/// than build without them silently. (Annotations are written into pushed manifests and
/// indexes; loads and exports do not carry them. `attest` is checked in `attest.rs`.)
fn check_unapplied(t: &Target, diags: &mut Diags) {
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{Facts, PathFact};
    use crate::base::clean_path;
    use crate::eval::sample;
    use crate::model::access::{Access, Grants};
    use crate::source::Diags;

    /// A working directory `/w` holding `files` (anything else is missing), with `env` set and
    /// `allow` granted: the codes `verify` reports for `default` of `text`, with the text
    /// each one's primary label points at.
    fn check(
        text: &str,
        files: &[(&str, PathFact)],
        env: &[&str],
        allow: &[&str],
    ) -> Vec<(&'static str, String)> {
        let mut s = sample::collect(text, &[]);
        let def = s
            .resolve(&[], &[])
            .unwrap_or_else(|| panic!("{:?}", s.codes()));
        let builders = s.builders();
        let mut diags = Diags::default();
        let plan = crate::plan::lower(&def, builders, &mut diags);
        assert!(!diags.has_errors(), "{:?}", diags.0);
        let cwd = PathBuf::from("/w");
        let real = |p: &str| PathBuf::from(clean_path(&Path::new("/w").join(p).to_string_lossy()));
        let allow: Vec<String> = allow.iter().map(|a| a.to_string()).collect();
        let mut facts = Facts {
            grants: Grants::new(&allow, real),
            cwd,
            env: env.iter().map(|e| e.to_string()).collect(),
            allow,
            ..Facts::default()
        };
        for need in super::needs(&def) {
            facts.real.insert(need.path.clone(), real(&need.path));
            if need.access == Access::Write {
                continue;
            }
            let fact = files
                .iter()
                .find(|(p, _)| *p == need.path)
                .map_or(PathFact::Missing, |(_, f)| f.clone());
            facts.paths.insert(need.path, fact);
        }
        let declared: Vec<_> = s.config.builders.values().cloned().collect();
        super::verify(&plan, &def, &declared, &facts, &mut s.sources, &mut diags);
        diags
            .0
            .iter()
            .map(|d| {
                let shown = d.labels.first().map_or(String::new(), |l| {
                    let text = &s.sources.get(l.span.file).text;
                    text[l.span.start as usize..l.span.end as usize].to_string()
                });
                (d.code, shown)
            })
            .collect()
    }

    fn codes(found: &[(&'static str, String)]) -> Vec<&'static str> {
        found.iter().map(|(c, _)| *c).collect()
    }

    fn project() -> Vec<(&'static str, PathFact)> {
        vec![
            (".", PathFact::Dir),
            (
                "Dockerfile",
                PathFact::File(Some(
                    "FROM scratch AS build\nFROM build AS release\n".into(),
                )),
            ),
        ]
    }

    #[test]
    fn a_complete_project_passes() {
        assert_eq!(check(r#"target "default" {}"#, &project(), &[], &[]), []);
    }

    #[test]
    fn missing_inputs_are_reported_where_they_are_named() {
        let found = check(
            r#"target "default" { context = "app" }"#,
            &project(),
            &[],
            &[],
        );
        assert_eq!(codes(&found), ["check::context_missing"]);
        assert_eq!(found[0].1, r#""app""#);
        let found = check(r#"target "default" {}"#, &[(".", PathFact::Dir)], &[], &[]);
        assert_eq!(codes(&found), ["check::dockerfile_missing"]);
        let found = check(
            r#"target "default" { target = "test" }"#,
            &project(),
            &[],
            &[],
        );
        assert_eq!(codes(&found), ["check::stage_missing"]);
        assert_eq!(found[0].1, r#""test""#);
        assert_eq!(
            check(
                r#"target "default" { target = "release" }"#,
                &project(),
                &[],
                &[]
            ),
            []
        );
        let found = check(
            r#"target "default" { contexts = { assets = "./assets" } }"#,
            &project(),
            &[],
            &[],
        );
        assert_eq!(codes(&found), ["check::named_context_missing"]);
    }

    #[test]
    fn secrets_need_their_source() {
        let spec = r#"target "default" { secret = ["id=token,env=TOKEN"] }"#;
        assert_eq!(
            codes(&check(spec, &project(), &[], &[])),
            ["check::secret_missing"]
        );
        assert_eq!(check(spec, &project(), &["TOKEN"], &[]), []);
        let spec = r#"target "default" { secret = ["id=key,src=key.pem"] }"#;
        assert_eq!(
            codes(&check(spec, &project(), &[], &[])),
            ["check::secret_missing"]
        );
        let mut files = project();
        files.push(("key.pem", PathFact::File(None)));
        assert_eq!(check(spec, &files, &[], &[]), []);
    }

    #[test]
    fn paths_outside_the_working_directory_need_a_grant() {
        let spec = r#"target "default" { context = "../shared" }"#;
        let files = [
            ("../shared", PathFact::Dir),
            ("../shared/Dockerfile", PathFact::File(None)),
        ];
        let found = check(spec, &files, &[], &[]);
        assert!(codes(&found).contains(&"check::entitlement"), "{found:?}");
        assert_eq!(check(spec, &files, &[], &["fs.read=.."]), []);
        // Writing needs a write grant, not a read one.
        let spec = r#"target "default" { output = ["type=local,dest=../out"] }"#;
        let found = check(spec, &project(), &[], &["fs.read=.."]);
        assert_eq!(codes(&found), ["check::entitlement"]);
        assert_eq!(check(spec, &project(), &[], &["fs.write=.."]), []);
        let spec = r#"target "default" { network = "host" }"#;
        assert_eq!(
            codes(&check(spec, &project(), &[], &[])),
            ["check::entitlement"]
        );
        assert_eq!(check(spec, &project(), &[], &["network.host"]), []);
    }

    #[test]
    fn outputs_must_not_overlap_and_caches_need_a_capable_store() {
        let spec = r#"
            target "a" { output = ["type=local,dest=out"] }
            target "b" { output = ["type=local,dest=out/b"] }
            group "default" { targets = ["a", "b"] }
        "#;
        assert!(codes(&check(spec, &project(), &[], &[])).contains(&"check::output_overlap"));
        let spec = r#"target "default" { cache-to = ["type=local,dest=cache"] }"#;
        assert_eq!(
            codes(&check(spec, &project(), &[], &[])),
            ["check::cache_export"]
        );
    }

    use super::{is_loopback, tcp_host};

    #[test]
    fn tcp_hosts_and_loopback() {
        let host = |e: &str| tcp_host(e).map(|h| (h.to_string(), is_loopback(h)));
        assert_eq!(
            host("tcp://127.0.0.1:2375"),
            Some(("127.0.0.1".into(), true))
        );
        assert_eq!(
            host("tcp://127.8.0.1:2375/"),
            Some(("127.8.0.1".into(), true))
        );
        assert_eq!(
            host("tcp://localhost:2375"),
            Some(("localhost".into(), true))
        );
        assert_eq!(host("tcp://[::1]:2375"), Some(("::1".into(), true)));
        assert_eq!(
            host("tcp://[fe80::1]:2375"),
            Some(("fe80::1".into(), false))
        );
        assert_eq!(
            host("tcp://10.0.0.5:2375"),
            Some(("10.0.0.5".into(), false))
        );
        assert_eq!(host("tcp://arm-box"), Some(("arm-box".into(), false)));
        // A name that merely starts like loopback is another machine.
        assert_eq!(
            host("tcp://127.0.0.1.example.com:2375").map(|h| h.1),
            Some(false)
        );
        assert_eq!(host("unix:///var/run/docker.sock"), None);
    }
}
