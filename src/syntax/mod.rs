//! Input formats into one spanned syntax tree. Knows files and formats, not targets.

pub mod ast;
pub mod compose;
pub mod hcl;
pub mod json;
pub mod native;
pub mod toml;

use crate::source::{Diag, Diags, FileId, SourceMap};

/// The format of one input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Hcl,
    Json,
    Compose,
    /// rbake's `build.toml`.
    Toml,
}

/// bake's default file names, in the order buildx 0.13 reads them (later files override
/// earlier ones), plus rbake's own `build.hcl` and `build.toml`.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "docker-bake.json",
    "docker-bake.override.json",
    "docker-bake.hcl",
    "docker-bake.override.hcl",
    "build.hcl",
    "build.toml",
];

/// Guesses a file's format from its name, then its content, as bake does.
pub fn detect(name: &str, text: &str) -> Format {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yml") || lower.ends_with(".yaml") {
        Format::Compose
    } else if lower.ends_with(".json") {
        Format::Json
    } else if lower.ends_with(".hcl") {
        Format::Hcl
    } else if lower.ends_with(".toml") {
        Format::Toml
    } else if text.trim_start().starts_with('{') {
        Format::Json
    } else if hcl_edit::parser::parse_body(text).is_ok() {
        Format::Hcl
    } else if toml_edit::Document::parse(text).is_ok() {
        Format::Toml
    } else {
        Format::Compose
    }
}

/// Parses one file into a body; compose files come back already lowered to target blocks. A
/// compose file read this way cannot read the files it refers to (`cli::spec` reads compose
/// files together, with a reader that can).
pub fn parse(
    sources: &SourceMap,
    file: FileId,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(Format, ast::Body), Diags> {
    let f = sources.get(file);
    let format = detect(&f.name, &f.text);
    let one = |d: Diag| {
        let mut ds = Diags::default();
        ds.push(d);
        ds
    };
    let body = match format {
        Format::Hcl => hcl::parse(file, &f.text).map_err(one)?,
        Format::Json => json::parse(file, &f.text)?,
        Format::Compose => {
            let input = compose::Input {
                file,
                name: &f.name,
                text: &f.text,
            };
            compose::parse(&[input], env, &mut compose::Offline)?
        }
        Format::Toml => toml::parse(file, &f.text)?,
    };
    Ok((format, body))
}
