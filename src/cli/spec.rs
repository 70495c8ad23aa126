//! Reading and resolving the spec, shared by the subcommands: files (explicit or
//! discovered), `--set` overrides and names, through syntax, spec and eval.

use std::io::Read;

use super::SpecArgs;
use super::settings::Settings;
use crate::eval::{self, overrides, resolve};
use crate::model::Definition;
use crate::source::{Diag, Diags, Origin, SourceMap, Span, Spanned};
use crate::spec::Document;
use crate::syntax::{self, Format};

pub struct Loaded {
    pub sources: SourceMap,
    pub config: eval::Config,
    pub warnings: Vec<Diag>,
}

/// A failure already reported to the user: the exit code to return.
pub type Failed = u8;

/// Reads every file and evaluates the document.
pub fn load(settings: &Settings, args: &SpecArgs) -> Result<Loaded, (SourceMap, Diags)> {
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
        if let Ok(text) = std::fs::read_to_string(settings.cwd.join(".env")) {
            for (k, v) in dotenv(&text) {
                env.entry(k).or_insert(v);
            }
        }
        env
    };
    let mut bodies = Vec::new();
    for name in &names {
        let text = if name == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map(|_| s)
        } else {
            std::fs::read(settings.cwd.join(name)).and_then(|b| {
                String::from_utf8(b)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
        };
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                diags.push(
                    Diag::error("cli::read_file", format!("cannot read `{name}`: {e}"))
                        .help("check the path given with `-f`; paths are relative to the working directory"),
                );
                continue;
            }
        };
        let id = sources.add(name.clone(), text, Origin::File);
        match syntax::parse(&sources, id, &compose_env) {
            Ok((format, body)) => bodies.push((format, body)),
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
    let names = command_line_names(&args.targets, &mut loaded.sources);
    if diags.has_errors() {
        return Err(diags);
    }
    let request = resolve::Request {
        names,
        overrides: sets,
    };
    let inputs = settings.inputs();
    match resolve::resolve(&loaded.config, &request, &inputs, &mut diags) {
        Some(def) if !diags.has_errors() => {
            loaded.warnings.extend(diags.0);
            Ok(def)
        }
        _ => Err(diags),
    }
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
