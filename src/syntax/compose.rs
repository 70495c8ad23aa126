//! Compose files: services with a `build:` section become targets, as bake reads them.

use std::collections::BTreeMap;

use super::ast::Body;
use crate::source::{Diag, Diags, FileId, Span};

pub fn parse(file: FileId, text: &str, _env: &BTreeMap<String, String>) -> Result<Body, Diags> {
    let mut d = Diags::default();
    d.push(
        Diag::error("syntax::compose", "compose files are not supported yet")
            .label(Span::new(file, 0..text.len().min(1)), "in this file")
            .help("convert the services to bake targets"),
    );
    Err(d)
}
