//! The spanned syntax tree every input format lowers to: HCL native syntax, HCL-JSON, the
//! `x-bake`/`build:` parts of compose files and `build.toml`. It knows bodies, attributes and
//! expressions, not targets or groups.

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
    Number(f64),
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
