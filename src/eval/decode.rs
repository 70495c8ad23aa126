//! Turns evaluated attribute values into typed target attributes by the shapes in
//! `spec::attrs`, keeping a span for every item.

use std::collections::BTreeMap;

use super::value::{Kind, Value};
use crate::model::{Attr, AttrValue, Item};
use crate::source::{Diag, Span};
use crate::spec::attrs::{AttrDef, Shape};
use crate::syntax::ast::{Expr, ExprKind, ObjectKey};

/// Decodes `value` (evaluated from `expr`) as attribute `def`. `Ok(None)` for null.
pub fn decode(
    def: &AttrDef,
    value: Value,
    expr: &Expr,
    attr_span: Span,
) -> Result<Option<Attr>, Diag> {
    if value.is_null() {
        return Ok(None);
    }
    let mismatch = |want: &str, got: &Value| {
        Diag::error(
            "eval::attribute_type",
            format!("`{}` must be {want}, not a {}", def.key, got.kind()),
        )
        .label(expr.span, format!("this is a {}", got.kind()))
        .help(match def.shape {
            Shape::List | Shape::Names => format!("write a list: `{} = [\"...\"]`", def.key),
            Shape::Map => format!("write an object: `{} = {{ KEY = \"value\" }}`", def.key),
            Shape::Bool => format!("write `{} = true` or `false`", def.key),
            Shape::Str => format!("write a string: `{} = \"...\"`", def.key),
        })
    };
    // Strings are moved out of the value rather than copied: every attribute of every
    // target passes through here.
    let v = match def.shape {
        Shape::Str => match value {
            Value::String(s) => AttrValue::Str(s),
            other => AttrValue::Str(other.to_str().ok_or_else(|| mismatch("a string", &other))?),
        },
        Shape::Bool => AttrValue::Bool(value.to_bool().ok_or_else(|| mismatch("a bool", &value))?),
        Shape::Names if value.to_str().is_some() => {
            let name = value.to_str().unwrap_or_default();
            AttrValue::List(vec![Item {
                value: name,
                span: expr.span,
            }])
        }
        Shape::List | Shape::Names => {
            let items = match value {
                Value::List(items) => items,
                other => return Err(mismatch("a list", &other)),
            };
            let spans = element_spans(expr, items.len());
            let mut out = Vec::with_capacity(items.len());
            for (item, span) in items.into_iter().zip(spans) {
                match item {
                    Value::Null => {}
                    Value::String(value) => out.push(Item { value, span }),
                    Value::Map(m) => out.push(Item {
                        value: csv_of(&m, span, def)?,
                        span,
                    }),
                    other => match other.to_str() {
                        Some(s) => out.push(Item { value: s, span }),
                        None => return Err(item_error(def, &other, span)),
                    },
                }
            }
            AttrValue::List(out)
        }
        Shape::Map => {
            let m = match value {
                Value::Map(m) => m,
                other => return Err(mismatch("an object", &other)),
            };
            let spans = entry_spans(expr);
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let span = spans.get(k.as_str()).copied().unwrap_or(expr.span);
                let item = match v {
                    Value::Null => None,
                    Value::String(value) => Some(Item { value, span }),
                    other => Some(Item {
                        value: other
                            .to_str()
                            .ok_or_else(|| item_error(def, &other, span))?,
                        span,
                    }),
                };
                out.insert(k, item);
            }
            AttrValue::Map(out)
        }
    };
    Ok(Some(Attr {
        value: v,
        span: attr_span,
    }))
}

fn item_error(def: &AttrDef, got: &Value, span: Span) -> Diag {
    Diag::error(
        "eval::attribute_type",
        format!(
            "items of `{}` must be strings, not a {}",
            def.key,
            got.kind()
        ),
    )
    .label(span, format!("this is a {}", got.kind()))
    .help("give each item as a string")
}

/// An object item of a list attribute (newer bake's composable form) as `type=...,key=value`.
fn csv_of(m: &BTreeMap<String, Value>, span: Span, def: &AttrDef) -> Result<String, Diag> {
    let mut parts = Vec::new();
    if let Some(t) = m.get("type").and_then(Value::to_str) {
        parts.push(format!("type={t}"));
    }
    for (k, v) in m {
        if k == "type" || v.is_null() {
            continue;
        }
        let s = v.to_str().ok_or_else(|| item_error(def, v, span))?;
        parts.push(if s.contains(',') || s.contains('"') {
            format!("{k}=\"{}\"", s.replace('"', "\"\""))
        } else {
            format!("{k}={s}")
        });
    }
    Ok(parts.join(","))
}

/// Spans of a list literal's elements, or the whole expression's for each when it isn't one.
fn element_spans(expr: &Expr, n: usize) -> Vec<Span> {
    match &expr.kind {
        ExprKind::Array(items) if items.len() == n => items.iter().map(|x| x.span).collect(),
        ExprKind::Paren(inner) => element_spans(inner, n),
        _ => vec![expr.span; n],
    }
}

fn entry_spans(expr: &Expr) -> BTreeMap<&str, Span> {
    let mut out = BTreeMap::new();
    if let ExprKind::Object(items) = &expr.kind {
        for (k, v) in items {
            match k {
                ObjectKey::Ident(name, _) => {
                    out.insert(name.as_str(), v.span);
                }
                ObjectKey::Expr(x) => {
                    if let ExprKind::Template(parts) = &x.kind
                        && let [crate::syntax::ast::Part::Lit(s)] = parts.as_slice()
                    {
                        out.insert(s.as_str(), v.span);
                    }
                }
            }
        }
    }
    out
}

/// A value's kind, for messages that name what a list was expected to hold.
pub fn kind_of(v: &Value) -> Kind {
    v.kind()
}
