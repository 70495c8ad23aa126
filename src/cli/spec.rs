//! Finding and reading the spec files for the subcommands (explicit or bake's defaults,
//! stdin, the working directory's `.env`); what is read goes through `pipeline`.

use std::collections::BTreeMap;

use super::SpecArgs;
use super::pipeline::{self, File};
use super::settings::Settings;
use crate::exec::paths;
use crate::model::access::{Access, Grants};
use crate::source::{Diag, Diags, SourceMap, Span};
use crate::syntax;

pub use super::pipeline::{Loaded, resolve};

/// A failure already reported to the user: the exit code to return.
pub type Failed = u8;

/// Reads every file and evaluates the document. `allow` holds the `--allow` entitlements: a
/// compose `include`, `extends.file` or `env_file` outside the working directory needs
/// `fs.read` for it, as any other read does.
pub fn load(
    settings: &Settings,
    args: &SpecArgs,
    allow: &[String],
) -> Result<Loaded, (SourceMap, Diags)> {
    pipeline::load(
        read(settings, args),
        settings,
        &compose_env(settings),
        &mut references(settings, allow),
    )
}

/// What compose files refer to (`include`, `extends.file`, `env_file`), read through the same
/// checks as every other read: inside the working directory or a root granted with
/// `--allow fs.read=...` once symlinks are resolved, regular files only, up to the cap.
pub fn references(
    settings: &Settings,
    allow: &[String],
) -> impl FnMut(&str, Span, bool) -> pipeline::RefRead + use<> {
    let cwd = settings.cwd.clone();
    let real_cwd = paths::real_cwd(&cwd);
    let grants = Grants::new(allow, |root| paths::real(&cwd, root));
    move |path: &str, at: Span, optional: bool| {
        let real = paths::real(&cwd, path);
        if optional && std::fs::symlink_metadata(&real).is_err() {
            return Ok(None);
        }
        if !grants.permits(&real_cwd, &real, Access::Read) {
            return Err(Diag::error(
                "cli::entitlement",
                format!(
                    "the compose file reads `{path}`, which resolves to `{}`, outside the working directory",
                    real.display()
                ),
            )
            .label(at, "outside the project")
            .help(format!("run with `--allow fs.read={path}` if rbake may read it")));
        }
        let bytes = paths::read_regular(&real, paths::MAX_TEXT).map_err(|e| {
            Diag::error("cli::read_file", format!("cannot read `{path}`: {e}"))
                .label(at, "named here")
                .help("fix the path; in a compose file it is relative to the file that names it")
        })?;
        Ok(Some((path.to_string(), bytes)))
    }
}

/// The named files (or bake's default files found in the working directory), read.
pub fn read(settings: &Settings, args: &SpecArgs) -> Vec<File> {
    let names: Vec<String> = if args.files.is_empty() {
        syntax::DEFAULT_FILES
            .iter()
            .filter(|n| settings.cwd.join(n).is_file())
            .map(|n| n.to_string())
            .collect()
    } else {
        args.files.clone()
    };
    names
        .into_iter()
        .map(|name| {
            // Only regular files, up to a cap: a FIFO would block and `/dev/zero` never ends.
            let bytes = if name == "-" {
                paths::capped(std::io::stdin().lock(), paths::MAX_TEXT)
            } else {
                paths::read_regular(&settings.cwd.join(&name), paths::MAX_TEXT)
            };
            File { name, bytes }
        })
        .collect()
}

/// The environment compose interpolation reads: the process environment over the working
/// directory's `.env`, as bake does.
pub fn compose_env(settings: &Settings) -> BTreeMap<String, String> {
    let mut env = settings.env.clone();
    if let Ok(bytes) = paths::read_regular(&settings.cwd.join(".env"), paths::MAX_TEXT)
        && let Ok(text) = String::from_utf8(bytes)
    {
        for (k, v) in syntax::compose::dotenv(&text) {
            env.entry(k).or_insert(v);
        }
    }
    env
}
