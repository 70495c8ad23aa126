//! The document as written: every input file's blocks sorted into variables, functions,
//! global attributes, targets, groups and builders, still as expressions. Merging of
//! repeated blocks and all evaluation happen later, in `eval`.

pub mod attrs;

use indexmap::IndexMap;

use crate::base::did_you_mean;
use crate::source::{Diag, Diags, Span};
use crate::syntax::ast::{Attr, Block, Body, Expr};

#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub span: Span,
    pub default: Option<Expr>,
    pub type_expr: Option<Expr>,
    pub description: Option<Expr>,
    pub validations: Vec<Validation>,
}

#[derive(Clone, Debug)]
pub struct Validation {
    pub condition: Option<Expr>,
    pub error_message: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub span: Span,
    pub params: Option<Attr>,
    pub variadic: Option<Attr>,
    pub result: Option<Attr>,
}

#[derive(Clone, Debug, Default)]
pub struct Document {
    /// Declared variables; a later declaration of the same name replaces an earlier one.
    pub variables: IndexMap<String, Variable>,
    pub functions: IndexMap<String, Function>,
    /// Top-level attributes: values other expressions can reference (not overridable).
    pub globals: IndexMap<String, Attr>,
    /// Target blocks in reading order; blocks sharing a name merge later.
    pub targets: Vec<Block>,
    pub groups: Vec<Block>,
    /// rbake's `builder` blocks.
    pub builders: Vec<Block>,
}

const BLOCK_KINDS: &[&str] = &["target", "group", "variable", "function", "builder"];

impl Document {
    /// Adds one file's body. Problems that don't stop the rest (unknown blocks) are pushed to
    /// `diags` as warnings; malformed blocks as errors.
    pub fn add(&mut self, body: Body, diags: &mut Diags) {
        for a in body.attrs {
            // A global attribute named like a block type is ignored by bake.
            if BLOCK_KINDS.contains(&a.name.as_str()) {
                continue;
            }
            self.globals.insert(a.name.clone(), a);
        }
        for b in body.blocks {
            if !BLOCK_KINDS.contains(&b.kind.as_str()) {
                let help = match did_you_mean(&b.kind, BLOCK_KINDS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`? bake ignores unknown blocks"),
                    None => format!(
                        "bake knows the blocks {}; this one is ignored",
                        list(BLOCK_KINDS)
                    ),
                };
                diags.push(
                    Diag::warning(
                        "spec::unknown_block",
                        format!("unknown block type `{}`", b.kind),
                    )
                    .label(b.kind_span, "ignored")
                    .help(help),
                );
                continue;
            }
            if b.labels.len() != 1 {
                let at = b.labels.get(1).map_or(b.kind_span, |l| l.1);
                diags.push(
                    Diag::error(
                        "spec::block_labels",
                        format!("a `{}` block takes exactly one name", b.kind),
                    )
                    .label(
                        at,
                        if b.labels.is_empty() {
                            "missing a name"
                        } else {
                            "extra label"
                        },
                    )
                    .help(format!("write `{} \"NAME\" {{ ... }}`", b.kind)),
                );
                continue;
            }
            match b.kind.as_str() {
                "variable" => {
                    let v = variable(b, diags);
                    self.variables.insert(v.name.clone(), v);
                }
                "function" => {
                    let f = function(b, diags);
                    self.functions.insert(f.name.clone(), f);
                }
                "target" => self.targets.push(b),
                "group" => self.groups.push(b),
                "builder" => self.builders.push(b),
                _ => unreachable!("filtered by BLOCK_KINDS"),
            }
        }
    }
}

pub fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn variable(b: Block, diags: &mut Diags) -> Variable {
    let name = b.labels[0].0.clone();
    let mut v = Variable {
        name,
        span: b.head_span(),
        default: None,
        type_expr: None,
        description: None,
        validations: Vec::new(),
    };
    for a in b.body.attrs {
        match a.name.as_str() {
            "default" => v.default = Some(a.expr),
            "type" => v.type_expr = Some(a.expr),
            "description" => v.description = Some(a.expr),
            _ => diags.push(unknown_attr(
                "variable",
                &a,
                &["default", "type", "description"],
            )),
        }
    }
    for inner in b.body.blocks {
        if inner.kind != "validation" {
            diags.push(
                Diag::warning("spec::unknown_block", format!("unknown block `{}` in a variable", inner.kind))
                    .label(inner.kind_span, "ignored")
                    .help("a variable may contain `validation { condition = ..., error_message = ... }` blocks"),
            );
            continue;
        }
        let mut val = Validation {
            condition: None,
            error_message: None,
            span: inner.kind_span,
        };
        for a in inner.body.attrs {
            match a.name.as_str() {
                "condition" => val.condition = Some(a.expr),
                "error_message" => val.error_message = Some(a.expr),
                _ => diags.push(unknown_attr(
                    "validation",
                    &a,
                    &["condition", "error_message"],
                )),
            }
        }
        v.validations.push(val);
    }
    v
}

fn function(b: Block, diags: &mut Diags) -> Function {
    let mut f = Function {
        name: b.labels[0].0.clone(),
        span: b.head_span(),
        params: None,
        variadic: None,
        result: None,
    };
    for a in b.body.attrs {
        match a.name.as_str() {
            "params" => f.params = Some(a),
            "variadic_params" => f.variadic = Some(a),
            "result" => f.result = Some(a),
            _ => diags.push(unknown_attr(
                "function",
                &a,
                &["params", "variadic_params", "result"],
            )),
        }
    }
    f
}

pub fn unknown_attr(block: &str, a: &Attr, known: &[&str]) -> Diag {
    let help = match did_you_mean(&a.name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? bake ignores unknown attributes"),
        None => format!("a {block} takes {}; this one is ignored", list(known)),
    };
    Diag::warning(
        "spec::unknown_attribute",
        format!("unknown attribute `{}` in a {block}", a.name),
    )
    .label(a.name_span, "ignored")
    .help(help)
}
