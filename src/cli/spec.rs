//! Reading and resolving the spec, shared by the subcommands: files (explicit or
//! discovered), `--set` overrides and names, through syntax, spec and eval.

use super::SpecArgs;
use super::settings::Settings;
use crate::eval::{self, overrides, resolve};
use crate::exec::paths;
use crate::model::Definition;
use crate::model::access::{Access, Grants};
use crate::source::FileId;
use crate::source::{Diag, Diags, Origin, SourceMap, Span, Spanned};
use crate::spec::Document;
use crate::syntax::{self, Format, compose};

pub struct Loaded {
    pub sources: SourceMap,
    pub config: eval::Config,
    pub warnings: Vec<Diag>,
}

/// A failure already reported to the user: the exit code to return.
pub type Failed = u8;

/// Reads every file and evaluates the document.
/// `allow` holds the `--allow` entitlements: a compose `include`, `extends.file` or `env_file`
/// outside the working directory needs `fs.read` for it, as any other read does.
pub fn load(
    settings: &Settings,
    args: &SpecArgs,
    allow: &[String],
) -> Result<Loaded, (SourceMap, Diags)> {
    let mut sources = SourceMap::new();
    let mut diags = Diags::default();
    let names: Vec<String> = if args.files.is_empty() {
        syntax::DEFAULT_FILES
            .iter()
            .filter(|n| settings.cwd.join(n).is_file())
            .map(|n| n.to_string())
            .collect()
    } else {
        args.files.clone()
    };
    if names.is_empty() {
        diags.push(
            Diag::error("cli::no_definition", "couldn't find a bake definition").help(format!(
                "create docker-bake.hcl, build.hcl or build.toml here, or name a file with `-f`; looked for {}",
                syntax::DEFAULT_FILES.join(", ")
            )),
        );
        return Err((sources, diags));
    }
    // Compose interpolation also reads `.env` from the working directory (the process
    // environment wins), as bake does.
    let compose_env = {
        let mut env = settings.env.clone();
        if let Ok(bytes) = paths::read_regular(&settings.cwd.join(".env"), paths::MAX_TEXT)
            && let Ok(text) = String::from_utf8(bytes)
        {
            for (k, v) in syntax::compose::dotenv(&text) {
                env.entry(k).or_insert(v);
            }
        }
        env
    };
    let mut bodies = Vec::new();
    let mut compose = Vec::new();
    for name in &names {
        // Only regular files, up to a cap: a FIFO would block and `/dev/zero` never ends.
        let bytes = if name == "-" {
            paths::capped(std::io::stdin().lock(), paths::MAX_TEXT)
        } else {
            paths::read_regular(&settings.cwd.join(name), paths::MAX_TEXT)
        };
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
        let text = match decode(name, bytes, &mut sources) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if syntax::detect(name, &text) == Format::Compose {
            compose.push((name.clone(), text));
            continue;
        }
        let id = sources.add(name.clone(), text, Origin::File);
        match syntax::parse(&sources, id, &compose_env) {
            Ok((format, body)) => bodies.push((format, body)),
            Err(ds) => diags.extend(ds),
        }
    }
    // Compose files given together are one project: merged, then checked and lowered.
    if !compose.is_empty() {
        let ids: Vec<FileId> = compose
            .iter()
            .map(|(name, text)| sources.add(name.clone(), text.clone(), Origin::File))
            .collect();
        let inputs: Vec<compose::Input> = compose
            .iter()
            .zip(&ids)
            .map(|((name, text), &file)| compose::Input { file, name, text })
            .collect();
        let mut files = ComposeFiles {
            cwd: &settings.cwd,
            real_cwd: paths::real_cwd(&settings.cwd),
            grants: Grants::new(allow, |root| paths::real(&settings.cwd, root)),
            sources: &mut sources,
        };
        match compose::parse(&inputs, &compose_env, &mut files) {
            Ok(body) => bodies.push((Format::Compose, body)),
            Err(ds) => diags.extend(ds),
        }
    }
    if diags.has_errors() {
        return Err((sources, diags));
    }
    // Compose files are read first, whatever their position, as bake merges them first.
    bodies.sort_by_key(|(f, _)| *f != Format::Compose);
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

/// What compose files refer to (`include`, `extends.file`, `env_file`), read through the same
/// checks as every other read: inside the working directory or a root granted with
/// `--allow fs.read=...` once symlinks are resolved, regular files only, up to the cap.
struct ComposeFiles<'a> {
    cwd: &'a std::path::Path,
    real_cwd: std::path::PathBuf,
    grants: Grants,
    sources: &'a mut SourceMap,
}

impl compose::Files for ComposeFiles<'_> {
    fn read(
        &mut self,
        path: &str,
        at: Span,
        optional: bool,
    ) -> Result<Option<(FileId, String)>, Diag> {
        let real = paths::real(self.cwd, path);
        if optional && std::fs::symlink_metadata(&real).is_err() {
            return Ok(None);
        }
        if !self.grants.permits(&self.real_cwd, &real, Access::Read) {
            return Err(Diag::error(
                "cli::entitlement",
                format!(
                    "the compose file reads `{path}`, which resolves to `{}`, outside the working directory",
                    real.display()
                ),
            )
            .label(at, "outside the project")
            .help(format!(
                "run with `--allow fs.read={path}` if rbake may read it"
            )));
        }
        let bytes = paths::read_regular(&real, paths::MAX_TEXT).map_err(|e| {
            Diag::error("cli::read_file", format!("cannot read `{path}`: {e}"))
                .label(at, "named here")
                .help("fix the path; in a compose file it is relative to the file that names it")
        })?;
        let text = decode(path, bytes, self.sources)?;
        let id = self
            .sources
            .add(path.to_string(), text.clone(), Origin::File);
        Ok(Some((id, text)))
    }
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

/// Resolves the requested names with overrides.
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
