//! `matrix` and `name`: one target block becomes one instance per combination of values.

use std::collections::HashSet;

use super::resolver::{Ctx, Instance};
use super::value::Value;
use crate::source::{Diag, Diags, Span};
use crate::syntax::ast::Block;

/// bake's `^[a-zA-Z0-9_-]+$`, checked for every target and matrix instance.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn invalid_name(kind: &str, name: &str, at: Span) -> Diag {
    Diag::error(
        "eval::invalid_name",
        format!("invalid {kind} name `{name}`"),
    )
    .label(at, "not a valid name")
    .help("names may contain only letters, digits, `_` and `-`")
}

/// Expands one target block into its instances. Axes combine in the order of their sorted
/// names, the first varying fastest, which is the order buildx produces most often.
pub fn expand(ctx: &mut Ctx, index: usize, block: &Block, diags: &mut Diags) -> Vec<Instance> {
    let label = &block.labels[0];
    let matrix = block.body.attrs.iter().find(|a| a.name == "matrix");
    let name_attr = block.body.attrs.iter().find(|a| a.name == "name");
    let Some(matrix) = matrix else {
        if let Some(n) = name_attr {
            diags.push(
                Diag::error("eval::name_without_matrix", "`name` needs a `matrix`")
                    .label(n.name_span, "only valid with a matrix")
                    .help("remove `name` (the block's label names the target), or add a `matrix`"),
            );
            return Vec::new();
        }
        if !valid_name(&label.0) {
            diags.push(invalid_name("target", &label.0, label.1));
            return Vec::new();
        }
        return vec![Instance {
            block: index,
            locals: Vec::new(),
            name: label.0.clone(),
        }];
    };
    let value = match ctx.eval_with(&matrix.expr, &[]) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let Value::Map(axes) = value else {
        diags.push(
            Diag::error("eval::matrix_shape", "a matrix must be an object of lists")
                .label(matrix.expr.span, format!("this is a {}", value.kind()))
                .help("write `matrix = { axis = [\"a\", \"b\"] }`"),
        );
        return Vec::new();
    };
    // Counted before expanding: a few long axes multiply into millions of targets.
    let instances = axes.values().try_fold(1usize, |n, v| match v {
        Value::List(items) => n.checked_mul(items.len()),
        _ => Some(n),
    });
    if instances.is_none_or(|n| n > super::limits::MAX_INSTANCES) {
        diags.push(super::limits::matrix_too_large(&axes, matrix.expr.span));
        return Vec::new();
    }
    let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (axis, values) in axes {
        let Value::List(values) = values else {
            diags.push(
                Diag::error(
                    "eval::matrix_shape",
                    format!("matrix axis `{axis}` must be a list"),
                )
                .label(matrix.expr.span, "in this matrix")
                .help(format!("write `{axis} = [\"a\", \"b\"]`")),
            );
            return Vec::new();
        };
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for v in &values {
            for c in &combos {
                let mut c = c.clone();
                c.push((axis.clone(), v.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    let mut out: Vec<Instance> = Vec::new();
    let mut names = HashSet::new();
    for locals in combos {
        let name = match name_attr {
            None => label.0.clone(),
            Some(n) => match ctx.eval_with(&n.expr, &locals) {
                Ok(v) => match v.to_str() {
                    Some(s) => s,
                    None => {
                        diags.push(super::expr::type_error(
                            n.expr.span,
                            "target name",
                            super::value::Kind::String,
                            &v,
                        ));
                        return Vec::new();
                    }
                },
                Err(d) => {
                    diags.push(d);
                    return Vec::new();
                }
            },
        };
        let at = name_attr.map_or(label.1, |n| n.expr.span);
        if !valid_name(&name) {
            diags.push(invalid_name("target", &name, at));
            return Vec::new();
        }
        if !names.insert(name.clone()) {
            diags.push(
                Diag::error(
                    "eval::duplicate_name",
                    format!("the matrix produces the name `{name}` more than once"),
                )
                .label(at, "not unique across the matrix")
                .help(
                    "include every matrix axis in `name`, e.g. `name = \"app-${axis1}-${axis2}\"`",
                ),
            );
            return Vec::new();
        }
        out.push(Instance {
            block: index,
            locals,
            name,
        });
    }
    out
}
