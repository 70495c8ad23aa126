//! HCL-JSON bake files (`docker-bake.json`), lowered to the same [`ast`] as HCL. Following the
//! HCL JSON spec, strings are templates, so `"${lower(NAME)}"` is evaluated like HCL.

use jsonc_parser::ast::{ObjectPropName, Value as J};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions};

use super::ast::*;
use super::hcl::parse_template;
use crate::base::Number;
use crate::source::{Diag, Diags, FileId, Span};

/// Block types of the bake language: their JSON objects map labels to bodies.
const BLOCK_TYPES: &[&str] = &["target", "group", "variable", "function", "builder"];

pub fn parse(file: FileId, text: &str) -> Result<Body, Diags> {
    let opts = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        ..ParseOptions::default()
    };
    let parsed =
        jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &opts).map_err(|e| {
            let r = e.range();
            let mut d = Diags::default();
            d.push(
                Diag::error("syntax::json", format!("invalid JSON: {}", e.kind()))
                    .label(
                        Span::new(file, r.start..r.end.max(r.start + 1).min(text.len())),
                        "here",
                    )
                    .help("fix the JSON syntax at the marked position"),
            );
            d
        })?;
    let mut diags = Diags::default();
    let lower = Lower { file };
    let body = match parsed.value {
        Some(J::Object(o)) => lower.top(&o, &mut diags),
        Some(other) => {
            diags.push(
                Diag::error("syntax::json", "a JSON bake file must be an object")
                    .label(lower.span(other.range()), "not an object")
                    .help("wrap the definition in `{ \"target\": { ... } }`"),
            );
            Body::default()
        }
        None => Body::default(),
    };
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(body)
    }
}

struct Lower {
    file: FileId,
}

impl Lower {
    fn span(&self, r: jsonc_parser::common::Range) -> Span {
        Span::new(self.file, r.start..r.end)
    }

    fn top(&self, o: &jsonc_parser::ast::Object, diags: &mut Diags) -> Body {
        let mut body = Body::default();
        for p in &o.properties {
            let (name, name_span) = self.prop_name(&p.name);
            if BLOCK_TYPES.contains(&name.as_str()) {
                self.blocks(&name, name_span, &p.value, &mut body, diags);
            } else {
                body.attrs.push(Attr {
                    name,
                    name_span,
                    expr: self.expr(&p.value, diags),
                    span: self.span(p.range),
                });
            }
        }
        body
    }

    /// `"target": { "app": {...}, "db": [{...}, {...}] }`
    fn blocks(&self, kind: &str, kind_span: Span, v: &J, out: &mut Body, diags: &mut Diags) {
        // The HCL JSON spec also allows a list of such objects.
        if let J::Array(a) = v {
            for item in &a.elements {
                self.blocks(kind, kind_span, item, out, diags);
            }
            return;
        }
        let J::Object(labels) = v else {
            diags.push(
                Diag::error(
                    "syntax::json",
                    format!("`{kind}` must be an object of named blocks"),
                )
                .label(self.span(v.range()), "expected an object")
                .help(format!("write `\"{kind}\": {{ \"NAME\": {{ ... }} }}`")),
            );
            return;
        };
        for p in &labels.properties {
            let (label, label_span) = self.prop_name(&p.name);
            let bodies: Vec<&J> = match &p.value {
                J::Array(a) => a.elements.iter().collect(),
                other => vec![other],
            };
            for b in bodies {
                let J::Object(o) = b else {
                    diags.push(
                        Diag::error(
                            "syntax::json",
                            format!("{kind} `{label}` must be an object"),
                        )
                        .label(self.span(b.range()), "expected an object")
                        .help("a block body is a JSON object of attributes"),
                    );
                    continue;
                };
                out.blocks.push(Block {
                    kind: kind.to_string(),
                    kind_span,
                    labels: vec![(label.clone(), label_span)],
                    body: self.block_body(kind, o, diags),
                    span: self.span(p.range),
                });
            }
        }
    }

    fn block_body(&self, kind: &str, o: &jsonc_parser::ast::Object, diags: &mut Diags) -> Body {
        let mut body = Body::default();
        for p in &o.properties {
            let (name, name_span) = self.prop_name(&p.name);
            // A variable's `validation` is a nested block (or a list of them).
            if kind == "variable" && name == "validation" {
                let items: Vec<&J> = match &p.value {
                    J::Array(a) => a.elements.iter().collect(),
                    other => vec![other],
                };
                for item in items {
                    if let J::Object(vo) = item {
                        body.blocks.push(Block {
                            kind: name.clone(),
                            kind_span: name_span,
                            labels: vec![],
                            body: self.block_body("validation", vo, diags),
                            span: self.span(item.range()),
                        });
                    }
                }
                continue;
            }
            body.attrs.push(Attr {
                name,
                name_span,
                expr: self.expr(&p.value, diags),
                span: self.span(p.range),
            });
        }
        body
    }

    fn prop_name(&self, n: &ObjectPropName) -> (String, Span) {
        match n {
            ObjectPropName::String(s) => (s.value.to_string(), self.span(s.range)),
            ObjectPropName::Word(w) => (w.value.to_string(), self.span(w.range)),
        }
    }

    fn expr(&self, v: &J, diags: &mut Diags) -> Expr {
        let span = self.span(v.range());
        let kind = match v {
            J::NullKeyword(_) => ExprKind::Null,
            J::BooleanLit(b) => ExprKind::Bool(b.value),
            // JSON's number grammar is a subset of the one HCL's JSON parser reads at 512 bits.
            J::NumberLit(n) => Number::parse(n.value).map_or(ExprKind::Null, ExprKind::Number),
            J::StringLit(s) => return self.template(&s.value, span, diags),
            J::Array(a) => {
                ExprKind::Array(a.elements.iter().map(|x| self.expr(x, diags)).collect())
            }
            J::Object(o) => ExprKind::Object(
                o.properties
                    .iter()
                    .map(|p| {
                        let (name, name_span) = self.prop_name(&p.name);
                        let key = self.template(&name, name_span, diags);
                        (ObjectKey::Expr(Box::new(key)), self.expr(&p.value, diags))
                    })
                    .collect(),
            ),
        };
        Expr::new(kind, span)
    }

    fn template(&self, text: &str, span: Span, diags: &mut Diags) -> Expr {
        // Spans inside the string start after its opening quote.
        let inner = span.slice(1..span.end.saturating_sub(span.start).saturating_sub(1) as usize);
        match parse_template(inner, text) {
            Ok(parts) => Expr::new(ExprKind::Template(parts), span),
            Err(d) => {
                diags.push(d);
                Expr::new(ExprKind::Null, span)
            }
        }
    }
}
