//! Finding and reading the spec files for the subcommands (explicit or bake's defaults,
//! stdin, the working directory's `.env`); what is read goes through `pipeline`.

use std::collections::BTreeMap;

use super::SpecArgs;
use super::pipeline::{self, File};
use super::settings::Settings;
use crate::exec::paths;
use crate::source::{Diags, SourceMap};
use crate::syntax;

pub use super::pipeline::{Loaded, resolve};

/// A failure already reported to the user: the exit code to return.
pub type Failed = u8;

/// Reads every file and evaluates the document.
pub fn load(settings: &Settings, args: &SpecArgs) -> Result<Loaded, (SourceMap, Diags)> {
    pipeline::load(read(settings, args), settings, &compose_env(settings))
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
        for (k, v) in dotenv(&text) {
            env.entry(k).or_insert(v);
        }
    }
    env
}

/// `KEY=VALUE` lines of a `.env` file: comments, `export `, and single or double quotes.
fn dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            v.split(" #").next().unwrap_or(v).trim().to_string()
        };
        out.push((k.trim().to_string(), v));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_dotenv() {
        let got = super::dotenv("# c\nA=1\nexport B=\"two words\"\nC='x' \nD=v # note\n");
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), "v".into())
            ]
        );
    }
}
