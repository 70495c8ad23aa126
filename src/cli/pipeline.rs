//! The pipeline every entry point runs: spec files → syntax → document → evaluation →
//! resolution → plan → check. `print` and `ls` stop after `resolve`/`load`, `plan` and
//! `apply` run [`plan`]; the fuzzer (`tests/offline/fuzz.rs`) and the benchmarks
//! (`benches/pipeline.rs`) call the same functions, so what they exercise is what users run.
//!
//! No I/O happens here: the spec files arrive as bytes ([`File`], read by `spec.rs`), the
//! environment and clock as `Settings`, the builders' capabilities and the local files'
//! `Facts` from the caller (declared or probed builders; facts gathered on disk by the CLI,
//! made up by the fuzzer).

use std::collections::BTreeMap;

use super::SpecArgs;
use super::settings::{Settings, local_platform};
use crate::check::{self, Facts};
use crate::eval::{self, overrides, resolve};
use crate::model::{Capabilities, Definition, Platform};
use crate::plan::{self, Plan};
use crate::source::{Diag, Diags, FileId, Origin, SourceMap, Span, Spanned};
use crate::spec::Document;
use crate::syntax::{self, Format, compose};

/// One spec file as named on the command line (or discovered), with its bytes or the error
/// reading them gave.
pub struct File {
    pub name: String,
    pub bytes: Result<Vec<u8>, crate::exec::paths::ReadError>,
}

impl File {
    /// A file already in memory.
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> File {
        File {
            name: name.into(),
            bytes: Ok(text.into().into_bytes()),
        }
    }
}

/// The evaluated spec: every source read so far, the evaluated config, and the warnings.
pub struct Loaded {
    pub sources: SourceMap,
    pub config: eval::Config,
    pub warnings: Vec<Diag>,
}

/// A plan that passed every check, with the sources its warnings point into.
pub struct Checked {
    pub plan: Plan,
    pub def: Definition,
    /// `warnings` holds every warning of every stage, in the order they are shown.
    pub loaded: Loaded,
}

/// Where the pipeline stopped: every diagnostic to show (warnings first), and their sources.
pub struct Failure {
    pub sources: SourceMap,
    pub diags: Vec<Diag>,
}

/// The spec files parsed, before evaluation: every source, the files' trees in the order
/// bake merges them (compose first), and the problems so far.
pub struct Parsed {
    pub sources: SourceMap,
    pub bodies: Vec<(Format, crate::syntax::ast::Body)>,
    pub diags: Diags,
}

/// Parses every file and evaluates the document (`parse`, then `evaluate`). `compose_env` is
/// the environment compose interpolation reads (the process environment over the working
/// directory's `.env`).
pub fn load(
    files: Vec<File>,
    settings: &Settings,
    compose_env: &BTreeMap<String, String>,
    refs: Refs<'_>,
) -> Result<Loaded, (SourceMap, Diags)> {
    evaluate(parse(files, compose_env, refs)?, settings)
}

/// How compose files read the files they name (`include`, `extends.file`, `env_file`):
/// given the path as written, where it is named and whether it may be missing, the file's
/// name and bytes, `None` for a missing optional file, or the diagnostic why not. The CLI
/// reads through the entitlement checks (`cli::spec`); [`no_refs`] reads nothing.
pub type Refs<'a> = &'a mut dyn FnMut(&str, Span, bool) -> RefRead;

/// What a [`Refs`] gives for one file: its name and bytes, `None` for a missing optional
/// file, or the diagnostic why it cannot be read.
pub type RefRead = Result<Option<(String, Vec<u8>)>, Diag>;

/// A [`Refs`] for inputs given as text alone (the fuzzer, the benchmarks): every file a
/// compose file names is unreadable.
pub fn no_refs(path: &str, at: Span, _optional: bool) -> RefRead {
    Err(Diag::error("syntax::compose", format!("cannot read `{path}` here"))
        .label(at, "named here")
        .help("this compose file is read without access to other files; run it with `rbake print -f FILE`"))
}

/// The bridge from a [`Refs`] to the compose loader: decoded and registered as sources.
struct Referenced<'a, 'b> {
    sources: &'a mut SourceMap,
    read: Refs<'b>,
}

impl compose::Files for Referenced<'_, '_> {
    fn read(
        &mut self,
        path: &str,
        at: Span,
        optional: bool,
    ) -> Result<Option<(FileId, String)>, Diag> {
        let Some((name, bytes)) = (self.read)(path, at, optional)? else {
            return Ok(None);
        };
        let text = decode(&name, bytes, self.sources)?;
        let id = self.sources.add(name, text.clone(), Origin::File);
        Ok(Some((id, text)))
    }
}

/// Decodes and parses every file; stops after the last file if any had an error. Compose
/// files given together are one project: merged, then checked and lowered.
pub fn parse(
    files: Vec<File>,
    compose_env: &BTreeMap<String, String>,
    refs: Refs<'_>,
) -> Result<Parsed, (SourceMap, Diags)> {
    let mut sources = SourceMap::new();
    let mut diags = Diags::default();
    if files.is_empty() {
        diags.push(
            Diag::error("cli::no_definition", "couldn't find a bake definition").help(format!(
                "create docker-bake.hcl, build.hcl or build.toml here, or name a file with `-f`; looked for {}",
                syntax::DEFAULT_FILES.join(", ")
            )),
        );
        return Err((sources, diags));
    }
    let mut bodies = Vec::new();
    let mut composed: Vec<(String, String)> = Vec::new();
    for File { name, bytes } in files {
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                diags.push(
                    Diag::error("cli::read_file", format!("cannot read `{name}`: {e}")).help(
                        "name a bake file with `-f`; paths are relative to the working directory",
                    ),
                );
                continue;
            }
        };
        let text = match decode(&name, bytes, &mut sources) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if syntax::detect(&name, &text) == Format::Compose {
            composed.push((name, text));
            continue;
        }
        let id = sources.add(name, text, Origin::File);
        match syntax::parse(&sources, id, compose_env) {
            Ok((format, body)) => bodies.push((format, body)),
            Err(ds) => diags.extend(ds),
        }
    }
    if !composed.is_empty() {
        let ids: Vec<FileId> = composed
            .iter()
            .map(|(name, text)| sources.add(name.clone(), text.clone(), Origin::File))
            .collect();
        let inputs: Vec<compose::Input> = composed
            .iter()
            .zip(&ids)
            .map(|((name, text), &file)| compose::Input { file, name, text })
            .collect();
        let mut files = Referenced {
            sources: &mut sources,
            read: refs,
        };
        match compose::parse(&inputs, compose_env, &mut files) {
            Ok(body) => bodies.push((Format::Compose, body)),
            Err(ds) => diags.extend(ds),
        }
    }
    if diags.has_errors() {
        return Err((sources, diags));
    }
    // Compose files are read first, whatever their position, as bake merges them first.
    bodies.sort_by_key(|(f, _)| *f != Format::Compose);
    Ok(Parsed {
        sources,
        bodies,
        diags,
    })
}

/// Sorts the parsed blocks into a document and evaluates it.
pub fn evaluate(parsed: Parsed, settings: &Settings) -> Result<Loaded, (SourceMap, Diags)> {
    let Parsed {
        mut sources,
        bodies,
        mut diags,
    } = parsed;
    let mut doc = Document::default();
    for (_, body) in bodies {
        doc.add(body, &mut diags);
    }
    let inputs = settings.inputs();
    let config = eval::collect(&doc, &inputs, &mut sources, &mut diags);
    if diags.has_errors() {
        return Err((sources, diags));
    }
    Ok(Loaded {
        sources,
        config,
        warnings: diags.0,
    })
}

/// A spec file's text: UTF-8, without the byte order mark some editors write (bake skips
/// it too). Invalid UTF-8 is reported at its line and column.
fn decode(name: &str, bytes: Vec<u8>, sources: &mut SourceMap) -> Result<String, Diag> {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    let bytes = match bytes.strip_prefix(BOM) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        // The lossy text equals the original up to the first bad byte, which becomes one
        // replacement character there.
        let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let end = at + lossy[at..].chars().next().map_or(0, char::len_utf8);
        let file = sources.add(name.to_string(), lossy, Origin::File);
        Diag::error("syntax::encoding", format!("`{name}` is not valid UTF-8"))
            .label(Span::new(file, at..end), "not UTF-8")
            .help("save the file as UTF-8; bake files are text")
    })
}

/// Resolves the requested names with overrides. The warnings of resolution join
/// `loaded.warnings`; on failure the errors (and that stage's warnings) are returned.
pub fn resolve(
    settings: &Settings,
    args: &SpecArgs,
    loaded: &mut Loaded,
) -> Result<Definition, Diags> {
    let mut diags = Diags::default();
    let mut sets = Vec::new();
    for s in &args.set {
        // `builder:NAME.KEY=VALUE` overrides an rbake builder; everything else a target.
        if s.starts_with("builder:") {
            if let Err(d) =
                overrides::apply_builder(s, &mut loaded.sources, &mut loaded.config.builders)
            {
                diags.push(d);
            }
            continue;
        }
        match overrides::parse(s, &mut loaded.sources, &settings.env) {
            Ok(Some(o)) => sets.push(o),
            Ok(None) => {}
            Err(d) => diags.push(d),
        }
    }
    // bake's shorthand flags are overrides too, applied after every `--set`, as bake appends
    // them.
    for (flag, text) in shorthands(args) {
        match overrides::parse_from(flag, &text, &mut loaded.sources, &settings.env) {
            Ok(Some(o)) => sets.push(o),
            Ok(None) => {}
            Err(d) => diags.push(d),
        }
    }
    if let Some(d) = call_refused(args) {
        diags.push(d);
    }
    // Without names rbake resolves the `default` group; if there is none, say so rather
    // than point at a `default` the user never typed.
    let config = &loaded.config;
    if args.targets.is_empty()
        && !config.groups.contains_key("default")
        && !config.targets.contains_key("default")
    {
        diags.push(if config.targets.is_empty() {
            Diag::error("resolve::no_targets", "the spec defines no targets")
                .help("add a target, e.g. `target \"app\" { tags = [\"app:dev\"] }`, or name the bake file to read with `-f`")
        } else {
            let names: Vec<&str> = config.targets.keys().take(8).map(String::as_str).collect();
            Diag::error(
                "resolve::no_default",
                "no target was named, and the spec has no `default` group",
            )
            .help(format!(
                "name targets to build (e.g. `{}`), or add `group \"default\" {{ targets = [...] }}`; targets: {}{}",
                names[0],
                names.join(", "),
                if config.targets.len() > names.len() { ", ..." } else { "" }
            ))
        });
    }
    let names = command_line_names(&args.targets, &mut loaded.sources);
    if diags.has_errors() {
        return Err(diags);
    }
    let request = resolve::Request {
        names,
        overrides: sets,
    };
    let inputs = settings.inputs();
    match resolve::resolve(&mut loaded.config, &request, &inputs, &mut diags) {
        Some(def) if !diags.has_errors() => {
            loaded.warnings.extend(diags.0);
            Ok(def)
        }
        _ => Err(diags),
    }
}

/// The builders as the spec declares them, or the implicit local engine at `DOCKER_HOST`
/// when it declares none: what `plan` checks against without `--probe`.
pub fn declared_builders(settings: &Settings, loaded: &Loaded) -> Vec<Capabilities> {
    let local = Platform::parse(&local_platform()).unwrap_or(Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    });
    let endpoint = settings
        .env
        .get("DOCKER_HOST")
        .cloned()
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
    if loaded.config.builders.is_empty() {
        return vec![Capabilities::implicit(endpoint, local)];
    }
    loaded
        .config
        .builders
        .values()
        .map(|b| Capabilities::declared(b, &endpoint, &local))
        .collect()
}

/// Lowers the definition onto `builders` and checks the plan against them and `facts`
/// (`lower`, then `verify`). Diagnostics go to `diags`.
pub fn check(
    loaded: &mut Loaded,
    def: &Definition,
    args: &SpecArgs,
    builders: Vec<Capabilities>,
    facts: &Facts,
    diags: &mut Diags,
) -> Plan {
    let mut plan = lower(def, args, builders, diags);
    plan.grants = facts.grants.clone();
    verify(&plan, loaded, def, facts, diags);
    plan
}

/// The definition as a graph of nodes on `builders`, recording the request it answers.
pub fn lower(
    def: &Definition,
    args: &SpecArgs,
    builders: Vec<Capabilities>,
    diags: &mut Diags,
) -> Plan {
    let mut plan = plan::lower(def, builders, diags);
    plan.request = plan::Request {
        files: args.files.clone(),
        // The shorthand flags are recorded as the `--set`s they stand for, so applying the
        // saved plan repeats them.
        set: args
            .set
            .iter()
            .cloned()
            .chain(shorthands(args).into_iter().map(|(_, s)| s))
            .collect(),
        targets: args.targets.clone(),
    };
    plan
}

/// Checks a lowered plan against the spec's builders and `facts`.
pub fn verify(
    plan: &Plan,
    loaded: &mut Loaded,
    def: &Definition,
    facts: &Facts,
    diags: &mut Diags,
) {
    let declared: Vec<_> = loaded.config.builders.values().cloned().collect();
    check::verify(plan, def, &declared, facts, &mut loaded.sources, diags);
}

/// The whole pipeline: load, resolve, then lower and check against the builders `builders`
/// gives (it may report problems, e.g. a probe that failed, which end the run) and the facts
/// `facts` gathers for the definition.
pub fn plan(
    files: Vec<File>,
    settings: &Settings,
    compose_env: &BTreeMap<String, String>,
    refs: Refs<'_>,
    args: &SpecArgs,
    builders: impl FnOnce(&Loaded, &Definition, &mut Diags) -> Vec<Capabilities>,
    facts: impl FnOnce(&Definition) -> Facts,
) -> Result<Checked, Failure> {
    let mut loaded =
        load(files, settings, compose_env, refs).map_err(|(sources, diags)| Failure {
            sources,
            diags: diags.0,
        })?;
    let def = match resolve(settings, args, &mut loaded) {
        Ok(d) => d,
        Err(diags) => {
            let mut all = std::mem::take(&mut loaded.warnings);
            all.extend(diags.0);
            return Err(Failure {
                sources: loaded.sources,
                diags: all,
            });
        }
    };
    // bake's `--builder` picks a buildx instance; rbake's builders come from the spec, so
    // ignoring the flag silently would build somewhere the user did not ask for.
    if let Some(name) = &args.builder {
        loaded.warnings.push(
            Diag::warning(
                "cli::builder_ignored",
                format!("`--builder {name}` is ignored: rbake builds with the spec's `builder` blocks"),
            )
            .help("declare the builder in a `builder` block, or set DOCKER_HOST to use another local engine"),
        );
    }
    let mut diags = Diags::default();
    let builders = builders(&loaded, &def, &mut diags);
    if diags.has_errors() {
        return Err(Failure {
            sources: loaded.sources,
            diags: diags.0,
        });
    }
    let facts = facts(&def);
    let plan = check(&mut loaded, &def, args, builders, &facts, &mut diags);
    let mut all = std::mem::take(&mut loaded.warnings);
    all.extend(diags.0);
    all.sort_by_key(|d| d.is_error());
    if all.iter().any(Diag::is_error) {
        return Err(Failure {
            sources: loaded.sources,
            diags: all,
        });
    }
    loaded.warnings = all;
    Ok(Checked { plan, def, loaded })
}

/// The overrides bake's shorthand flags stand for, each with its flag, in the order bake
/// 0.13 appends them after the `--set`s: push, load, no-cache, pull, sbom, provenance.
pub fn shorthands(args: &SpecArgs) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if args.push {
        out.push(("--push", "*.push=true".to_string()));
    }
    // Compat: bake 0.13's `--load` replaces every output with `type=docker` (newer bake adds
    // one with `*.load=true`); with `--push` too, the replaced outputs are what print shows.
    if args.load {
        out.push(("--load", "*.output=type=docker".to_string()));
    }
    if let Some(b) = args.no_cache {
        out.push(("--no-cache", format!("*.no-cache={b}")));
    }
    if let Some(b) = args.pull {
        out.push(("--pull", format!("*.pull={b}")));
    }
    for (flag, kind, value) in [
        ("--sbom", "sbom", &args.sbom),
        ("--provenance", "provenance", &args.provenance),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out.push((flag, format!("*.attest={}", attest(kind, v))));
        }
    }
    out
}

/// Compat: bake's `CanonicalizeAttest`: a boolean (as Go reads one) becomes
/// `type=KIND,disabled=!b`; anything else is options for that attestation.
fn attest(kind: &str, value: &str) -> String {
    match go_bool(value) {
        Ok(b) => format!("type={kind},disabled={}", !b),
        Err(_) => format!("type={kind},{value}"),
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it, which is what bake's flags accept.
pub fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("`{text}` is not a boolean (true or false)")),
    }
}

/// `--call` and `--check` select newer bake's other build methods (checks, outlines); rbake
/// only builds, and printing or building anyway would pass off a build as a check.
fn call_refused(args: &SpecArgs) -> Option<Diag> {
    let method = match (&args.call, args.check) {
        (_, true) => "check",
        (Some(m), false) if m != "build" => m.as_str(),
        _ => return None,
    };
    Some(
        Diag::error(
            "cli::call_unsupported",
            format!("rbake does not run bake's `{method}` method"),
        )
        .help("drop `--call`/`--check`: rbake only builds (`--call=build`); `rbake plan` checks the spec against the builders and local files"),
    )
}

/// The positional names as a source of their own, so an unknown name can be pointed at.
fn command_line_names(targets: &[String], sources: &mut SourceMap) -> Vec<Spanned<String>> {
    let targets: Vec<String> = if targets.is_empty() {
        vec!["default".into()]
    } else {
        targets.to_vec()
    };
    let text = targets.join(" ");
    let file = sources.add("command line", text, Origin::Set);
    let mut at = 0;
    targets
        .into_iter()
        .map(|t| {
            let span = Span::new(file, at..at + t.len());
            at += t.len() + 1;
            Spanned::new(t, span)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// The flags come out in bake 0.13's order whatever their order on the command line, and
    /// `--sbom`/`--provenance` canonicalise as bake's `CanonicalizeAttest` does.
    #[test]
    fn shorthands_follow_bake() {
        let args = super::SpecArgs {
            provenance: Some("mode=max".into()),
            sbom: Some("false".into()),
            pull: Some(false),
            no_cache: Some(true),
            load: true,
            push: true,
            ..Default::default()
        };
        let got: Vec<String> = super::shorthands(&args)
            .into_iter()
            .map(|(flag, set)| format!("{flag} {set}"))
            .collect();
        assert_eq!(
            got,
            [
                "--push *.push=true",
                "--load *.output=type=docker",
                "--no-cache *.no-cache=true",
                "--pull *.pull=false",
                "--sbom *.attest=type=sbom,disabled=true",
                "--provenance *.attest=type=provenance,mode=max",
            ]
        );
        let empty = super::SpecArgs {
            sbom: Some(String::new()),
            ..Default::default()
        };
        assert!(super::shorthands(&empty).is_empty());
        assert_eq!(
            super::attest("provenance", "T"),
            "type=provenance,disabled=false"
        );
    }
}
