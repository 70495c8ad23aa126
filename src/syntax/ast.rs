//! The spanned syntax tree every input format lowers to: HCL native syntax, HCL-JSON, the
//! `x-bake`/`build:` parts of compose files and `build.toml`. It knows bodies, attributes and
//! expressions, not targets or groups.

use crate::base::Number;
use crate::source::Span;

#[derive(Clone, Debug, Default)]
pub struct Body {
    pub attrs: Vec<Attr>,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug)]
pub struct Attr {
    pub name: String,
    pub name_span: Span,
    pub expr: Expr,
    /// The whole `name = expr` text.
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub kind: String,
    pub kind_span: Span,
    pub labels: Vec<(String, Span)>,
    pub body: Body,
    pub span: Span,
}

impl Block {
    /// The span to point at for the block as a whole: its type and labels.
    pub fn head_span(&self) -> Span {
        self.labels
            .last()
            .map_or(self.kind_span, |(_, s)| self.kind_span.to(*s))
    }
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Number(Number),
    /// A template: a quoted string or heredoc (a literal string is a template of one part).
    Template(Vec<Part>),
    Array(Vec<Expr>),
    Object(Vec<(ObjectKey, Expr)>),
    Var(String),
    Traversal(Box<Expr>, Vec<Traverse>),
    Call(Box<Call>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    For(Box<ForExpr>),
    Paren(Box<Expr>),
    /// A minijinja template: a string in `build.toml` that contains `{{`, `{%` or `{#`.
    Jinja(Box<Jinja>),
}

/// A minijinja template with the source position of every byte of its text, so that an error
/// inside it (an undefined name, an unknown filter) points at its own characters even when the
/// TOML string had escapes.
#[derive(Clone, Debug)]
pub struct Jinja {
    /// The string's value, after TOML unescaping.
    pub text: String,
    /// The source offset of each byte of `text`, plus one entry for its end.
    pub offsets: Vec<u32>,
}

impl Jinja {
    /// The source span of `range`, a byte range of `text` (clamped to it).
    pub fn span_of(&self, file: crate::source::FileId, range: std::ops::Range<usize>) -> Span {
        let last = self.offsets.len().saturating_sub(1);
        let start = self
            .offsets
            .get(range.start.min(last))
            .copied()
            .unwrap_or(0);
        let end = self
            .offsets
            .get(range.end.min(last))
            .copied()
            .unwrap_or(start);
        Span::new(file, start as usize..(end.max(start)) as usize)
    }
}

/// A function call. Boxed in [`ExprKind`], as the other large forms are: a 5000-block file
/// holds hundreds of thousands of expressions while it is evaluated, and the largest
/// variant sets the size of every one.
#[derive(Clone, Debug)]
pub struct Call {
    pub name: String,
    pub name_span: Span,
    pub args: Vec<Expr>,
    pub expand_final: bool,
}

#[derive(Clone, Debug)]
pub enum ObjectKey {
    /// A bare identifier key: never evaluated as a variable.
    Ident(String, Span),
    Expr(Box<Expr>),
}

#[derive(Clone, Debug)]
pub enum Traverse {
    Attr(String, Span),
    Index(Expr),
    AttrSplat(Span),
    FullSplat(Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Mul,
    Div,
    Mod,
    Add,
    Sub,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Clone, Debug)]
pub struct ForExpr {
    pub key_var: Option<String>,
    pub value_var: String,
    pub collection: Expr,
    /// Present for the object form `{ for k, v in c : key => value }`.
    pub key: Option<Expr>,
    pub value: Expr,
    pub cond: Option<Expr>,
    pub grouping: bool,
}

/// One part of a template. All but literals are boxed, so a part takes 32 bytes.
#[derive(Clone, Debug)]
pub enum Part {
    Lit(String),
    Interp(Box<Expr>),
    If(Box<IfPart>),
    For(Box<ForPart>),
}

/// `%{ if cond }then%{ else }otherwise%{ endif }`.
#[derive(Clone, Debug)]
pub struct IfPart {
    pub cond: Expr,
    pub then: Vec<Part>,
    pub otherwise: Vec<Part>,
}

/// `%{ for key_var, value_var in collection }body%{ endfor }`.
#[derive(Clone, Debug)]
pub struct ForPart {
    pub key_var: Option<String>,
    pub value_var: String,
    pub collection: Expr,
    pub body: Vec<Part>,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// Every name the expression refers to as a variable (`NAME`, or the root of
    /// `NAME.attr`), in order. Locals of `for` are not told apart, and names inside a
    /// minijinja template are not seen.
    pub fn names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match &self.kind {
            ExprKind::Var(n) => out.push(n),
            ExprKind::Template(parts) => part_names(parts, out),
            ExprKind::Array(items) => items.iter().for_each(|e| e.names(out)),
            ExprKind::Call(c) => c.args.iter().for_each(|e| e.names(out)),
            ExprKind::Object(entries) => {
                for (k, v) in entries {
                    if let ObjectKey::Expr(k) = k {
                        k.names(out);
                    }
                    v.names(out);
                }
            }
            ExprKind::Traversal(root, steps) => {
                root.names(out);
                for s in steps {
                    if let Traverse::Index(i) = s {
                        i.names(out);
                    }
                }
            }
            ExprKind::Cond(a, b, c) => {
                a.names(out);
                b.names(out);
                c.names(out);
            }
            ExprKind::Unary(_, e) | ExprKind::Paren(e) => e.names(out),
            ExprKind::Binary(_, a, b) => {
                a.names(out);
                b.names(out);
            }
            ExprKind::For(f) => {
                f.collection.names(out);
                if let Some(k) = &f.key {
                    k.names(out);
                }
                f.value.names(out);
                if let Some(c) = &f.cond {
                    c.names(out);
                }
            }
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::Jinja(_) => {}
        }
    }

    /// The literal string of a template without interpolations, if it is one.
    pub fn as_literal_str(&self) -> Option<String> {
        match &self.kind {
            ExprKind::Template(parts) => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Lit(s) => out.push_str(s),
                        _ => return None,
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    /// The bare identifier this expression is, e.g. a function parameter name.
    pub fn as_keyword(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Var(name) => Some(name),
            _ => None,
        }
    }
}

fn part_names<'a>(parts: &'a [Part], out: &mut Vec<&'a str>) {
    for p in parts {
        match p {
            Part::Lit(_) => {}
            Part::Interp(e) => e.names(out),
            Part::If(p) => {
                p.cond.names(out);
                part_names(&p.then, out);
                part_names(&p.otherwise, out);
            }
            Part::For(p) => {
                p.collection.names(out);
                part_names(&p.body, out);
            }
        }
    }
}
