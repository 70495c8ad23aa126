//! HCL native syntax: parsed by hcl-edit (which keeps byte spans), lowered to [`ast`].

use hcl_edit::expr::{self as hx, Expression, TraversalOperator};
use hcl_edit::structure::{self as hs, BlockLabel, Structure};
use hcl_edit::template::{self as ht, Element};

use super::ast::*;
use crate::base::Number;
use crate::source::{Diag, FileId, Span};

/// Parses one HCL file. A syntax error is one diagnostic at the parser's position.
pub fn parse(file: FileId, text: &str) -> Result<Body, Diag> {
    // The direct parser answers for the forms bake files mostly use, and leaves the rest
    // (and every error) to hcl-edit.
    match super::native::parse(file, text) {
        Some(body) => Ok(body),
        None => parse_with_hcl_edit(file, text),
    }
}

/// hcl-edit's parse, lowered: every form and every syntax error.
pub fn parse_with_hcl_edit(file: FileId, text: &str) -> Result<Body, Diag> {
    match hcl_edit::parser::parse_body(text) {
        Ok(body) => Ok(Lower { file, text }.body(&body)),
        Err(e) => {
            let loc = e.location();
            // hcl-edit may point inside a multi-byte character: mark the whole character.
            let at = char_start(text, loc.offset());
            // The parser reads an unclosed string on into the next line and stops there;
            // the mistake is the quote that was never closed.
            if let Some(open) = unclosed_string(text, at) {
                let eol = text[open..].find('\n').map_or(text.len(), |i| open + i);
                return Err(Diag::error(
                    "syntax::hcl",
                    "invalid HCL: this string is not closed on its line",
                )
                .label(Span::new(file, open..eol), "unclosed string")
                .help("close the string with `\"`; a quoted string ends on its line (use a heredoc, `<<EOT`, for several lines)"));
            }
            let end = next_char_boundary(text, at);
            Err(Diag::error("syntax::hcl", format!("invalid HCL: {}", e.message()))
                .label(Span::new(file, at..end), "here")
                .help("fix the syntax at the marked position; HCL attributes are `name = value` and blocks are `type \"label\" { ... }`"))
        }
    }
}

/// The opening quote of the first quoted string that runs into a line break before `upto`
/// (HCL strings may not; interpolations inside them may). Comments and heredocs are skipped.
fn unclosed_string(text: &str, upto: usize) -> Option<usize> {
    enum State {
        Code,
        /// A quoted string opened at this offset.
        Str(usize),
        /// Inside `${ }` or `%{ }`, with this many braces open.
        Interp(usize),
    }
    let b = text.as_bytes();
    let upto = upto.min(b.len());
    let mut stack = vec![State::Code];
    let mut i = 0;
    while i < upto {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match stack.last_mut()? {
            State::Code | State::Interp(_) => {
                if c == b'#' || (c == b'/' && next == Some(b'/')) {
                    i = text[i..].find('\n').map_or(b.len(), |n| i + n);
                    continue;
                }
                if c == b'/' && next == Some(b'*') {
                    i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                    continue;
                }
                if c == b'<'
                    && next == Some(b'<')
                    && matches!(stack.last(), Some(State::Code))
                    && let Some(end) = heredoc_end(text, i)
                {
                    i = end;
                    continue;
                }
                match (c, stack.last_mut()?) {
                    (b'"', _) => stack.push(State::Str(i)),
                    (b'{', State::Interp(n)) => *n += 1,
                    (b'}', State::Interp(n)) => {
                        *n -= 1;
                        if *n == 0 {
                            stack.pop();
                        }
                    }
                    _ => {}
                }
            }
            State::Str(open) => match c {
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                b'\n' => return Some(*open),
                b'$' | b'%' if next == Some(b'{') => {
                    stack.push(State::Interp(1));
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Where a heredoc starting at `at` (`<<EOT` or `<<-EOT`) ends: after its closing marker line.
fn heredoc_end(text: &str, at: usize) -> Option<usize> {
    let rest = text[at + 2..].strip_prefix('-').unwrap_or(&text[at + 2..]);
    let marker: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if marker.is_empty() {
        return None;
    }
    let mut pos = at + text[at..].find('\n')? + 1;
    for line in text[pos..].split_inclusive('\n') {
        pos += line.len();
        if line.trim() == marker {
            return Some(pos);
        }
    }
    Some(text.len())
}

/// Parses a standalone template (used for HCL-JSON strings), spans relative to `base`.
pub fn parse_template(base: Span, text: &str) -> Result<Vec<Part>, Diag> {
    match text.parse::<ht::Template>() {
        Ok(t) => {
            let lower = Lower {
                file: base.file,
                text,
            };
            let mut parts = lower.template(&t);
            shift_parts(&mut parts, base.start as usize);
            Ok(parts)
        }
        Err(e) => {
            let at = char_start(text, e.location().offset());
            let end = next_char_boundary(text, at);
            Err(Diag::error("syntax::template", format!("invalid template: {}", e.message()))
                .label(base.slice(at..end.max(at + 1)), "here")
                .help("check `${...}` and `%{...}` sequences in this string; write `$${` for a literal `${`"))
        }
    }
}

/// The start of the character that byte `at` falls in (the text's end when past it).
fn char_start(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn next_char_boundary(text: &str, at: usize) -> usize {
    let mut end = (at + 1).min(text.len());
    while end < text.len() && !text.is_char_boundary(end) {
        end += 1;
    }
    end
}

struct Lower<'a> {
    file: FileId,
    text: &'a str,
}

impl Lower<'_> {
    /// A number literal read from its source text, as HCL reads it (`cty.ParseNumberVal`);
    /// hcl-edit's own value is an f64. hcl-edit folds a leading `-` into the literal, and
    /// HCL negates the literal then, which is what parsing the signed text gives (`-0`
    /// included).
    fn number(&self, span: &Span) -> ExprKind {
        let text: String = self
            .text
            .get(span.range())
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        Number::parse(&text).map_or(ExprKind::Null, ExprKind::Number)
    }

    fn span(&self, s: &impl hcl_edit::Span) -> Span {
        let r = s.span().unwrap_or(0..0);
        Span::new(self.file, r)
    }

    fn body(&self, body: &hs::Body) -> Body {
        let mut out = Body::default();
        for s in body.iter() {
            match s {
                Structure::Attribute(a) => out.attrs.push(Attr {
                    name: a.key.as_str().to_string(),
                    name_span: self.span(&a.key),
                    expr: self.expr(&a.value),
                    span: self.span(a),
                }),
                Structure::Block(b) => out.blocks.push(Block {
                    kind: b.ident.as_str().to_string(),
                    kind_span: self.span(&b.ident),
                    labels: b
                        .labels
                        .iter()
                        .map(|l| match l {
                            BlockLabel::Ident(i) => (i.as_str().to_string(), self.span(i)),
                            BlockLabel::String(s) => (s.as_str().to_string(), self.span(s)),
                        })
                        .collect(),
                    body: self.body(&b.body),
                    span: self.span(b),
                }),
            }
        }
        out
    }

    fn expr(&self, e: &Expression) -> Expr {
        let span = self.span(e);
        let kind = match e {
            Expression::Null(_) => ExprKind::Null,
            Expression::Bool(b) => ExprKind::Bool(*b.value()),
            Expression::Number(_) => self.number(&span),
            Expression::String(s) => ExprKind::Template(vec![Part::Lit(s.value().to_string())]),
            Expression::Array(a) => ExprKind::Array(a.iter().map(|x| self.expr(x)).collect()),
            Expression::Object(o) => ExprKind::Object(
                o.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            hx::ObjectKey::Ident(i) => {
                                ObjectKey::Ident(i.as_str().to_string(), self.span(i))
                            }
                            hx::ObjectKey::Expression(x) => ObjectKey::Expr(Box::new(self.expr(x))),
                        };
                        (key, self.expr(v.expr()))
                    })
                    .collect(),
            ),
            Expression::StringTemplate(t) => ExprKind::Template(self.elements(t.iter())),
            Expression::HeredocTemplate(h) => ExprKind::Template(self.template(&h.template)),
            Expression::Parenthesis(p) => ExprKind::Paren(Box::new(self.expr(p.inner()))),
            Expression::Variable(v) => ExprKind::Var(v.as_str().to_string()),
            Expression::Conditional(c) => ExprKind::Cond(
                Box::new(self.expr(&c.cond_expr)),
                Box::new(self.expr(&c.true_expr)),
                Box::new(self.expr(&c.false_expr)),
            ),
            Expression::FuncCall(f) => {
                let mut name = String::new();
                for ns in &f.name.namespace {
                    name.push_str(ns.as_str());
                    name.push_str("::");
                }
                name.push_str(f.name.name.as_str());
                ExprKind::Call(Box::new(Call {
                    name,
                    name_span: self.span(&f.name.name),
                    args: f.args.iter().map(|a| self.expr(a)).collect(),
                    expand_final: f.args.expand_final(),
                }))
            }
            Expression::Traversal(t) => ExprKind::Traversal(
                Box::new(self.expr(&t.expr)),
                t.operators
                    .iter()
                    .map(|op| {
                        let s = self.span(op);
                        match op.value() {
                            TraversalOperator::AttrSplat(_) => Traverse::AttrSplat(s),
                            TraversalOperator::FullSplat(_) => Traverse::FullSplat(s),
                            TraversalOperator::GetAttr(i) => {
                                Traverse::Attr(i.as_str().to_string(), self.span(i))
                            }
                            TraversalOperator::Index(x) => Traverse::Index(self.expr(x)),
                            TraversalOperator::LegacyIndex(n) => Traverse::Index(Expr::new(
                                ExprKind::Number(Number::from(*n.value())),
                                self.span(n),
                            )),
                        }
                    })
                    .collect(),
            ),
            Expression::UnaryOp(u) => ExprKind::Unary(
                match u.operator.value() {
                    hx::UnaryOperator::Neg => UnaryOp::Neg,
                    hx::UnaryOperator::Not => UnaryOp::Not,
                },
                Box::new(self.expr(&u.expr)),
            ),
            Expression::BinaryOp(b) => {
                use hx::BinaryOperator as B;
                let op = match b.operator.value() {
                    B::Mul => BinaryOp::Mul,
                    B::Div => BinaryOp::Div,
                    B::Mod => BinaryOp::Mod,
                    B::Plus => BinaryOp::Add,
                    B::Minus => BinaryOp::Sub,
                    B::Less => BinaryOp::Lt,
                    B::LessEq => BinaryOp::Le,
                    B::Greater => BinaryOp::Gt,
                    B::GreaterEq => BinaryOp::Ge,
                    B::Eq => BinaryOp::Eq,
                    B::NotEq => BinaryOp::Ne,
                    B::And => BinaryOp::And,
                    B::Or => BinaryOp::Or,
                };
                ExprKind::Binary(
                    op,
                    Box::new(self.expr(&b.lhs_expr)),
                    Box::new(self.expr(&b.rhs_expr)),
                )
            }
            Expression::ForExpr(f) => ExprKind::For(Box::new(ForExpr {
                key_var: f.intro.key_var.as_ref().map(|k| k.as_str().to_string()),
                value_var: f.intro.value_var.as_str().to_string(),
                collection: self.expr(&f.intro.collection_expr),
                key: f.key_expr.as_ref().map(|k| self.expr(k)),
                value: self.expr(&f.value_expr),
                cond: f.cond.as_ref().map(|c| self.expr(&c.expr)),
                grouping: f.grouping,
            })),
        };
        Expr::new(kind, span)
    }

    fn template(&self, t: &ht::Template) -> Vec<Part> {
        self.elements(t.iter())
    }

    /// Lowers template elements, applying `~` strip markers to neighbouring literals.
    fn elements<'a>(&self, elements: impl Iterator<Item = &'a Element>) -> Vec<Part> {
        let elements: Vec<&Element> = elements.collect();
        let mut parts = Vec::with_capacity(elements.len());
        let mut strip_next = false;
        for (i, el) in elements.iter().enumerate() {
            let (strip_prev, strip_after) = strip_markers(el);
            if strip_prev && let Some(Part::Lit(s)) = parts.last_mut() {
                let trimmed = s.trim_end().len();
                s.truncate(trimmed);
            }
            match el {
                Element::Literal(s) => {
                    let mut text = s.value().to_string();
                    if strip_next {
                        text = text.trim_start().to_string();
                    }
                    parts.push(Part::Lit(text));
                }
                Element::Interpolation(x) => parts.push(Part::Interp(Box::new(self.expr(&x.expr)))),
                Element::Directive(d) => parts.push(self.directive(d)),
            }
            strip_next = strip_after;
            let _ = i;
        }
        parts
    }

    fn directive(&self, d: &ht::Directive) -> Part {
        match d {
            ht::Directive::If(d) => Part::If(Box::new(IfPart {
                cond: self.expr(&d.if_expr.cond_expr),
                then: self.template(&d.if_expr.template),
                otherwise: d
                    .else_expr
                    .as_ref()
                    .map(|e| self.template(&e.template))
                    .unwrap_or_default(),
            })),
            ht::Directive::For(d) => Part::For(Box::new(ForPart {
                key_var: d.for_expr.key_var.as_ref().map(|k| k.as_str().to_string()),
                value_var: d.for_expr.value_var.as_str().to_string(),
                collection: self.expr(&d.for_expr.collection_expr),
                body: self.template(&d.for_expr.template),
            })),
        }
    }
}

/// Whether an element strips whitespace before it and after it.
fn strip_markers(el: &Element) -> (bool, bool) {
    match el {
        Element::Literal(_) => (false, false),
        Element::Interpolation(i) => (i.strip.strip_start(), i.strip.strip_end()),
        Element::Directive(d) => match d.as_ref() {
            ht::Directive::If(d) => (
                d.if_expr.strip.strip_start(),
                d.endif_expr.strip.strip_end(),
            ),
            ht::Directive::For(d) => (
                d.for_expr.strip.strip_start(),
                d.endfor_expr.strip.strip_end(),
            ),
        },
    }
}

fn shift_parts(parts: &mut [Part], by: usize) {
    for p in parts {
        match p {
            Part::Lit(_) => {}
            Part::Interp(e) => shift_expr(e, by),
            Part::If(d) => {
                shift_expr(&mut d.cond, by);
                shift_parts(&mut d.then, by);
                shift_parts(&mut d.otherwise, by);
            }
            Part::For(d) => {
                shift_expr(&mut d.collection, by);
                shift_parts(&mut d.body, by);
            }
        }
    }
}

fn shift_span(s: &mut Span, by: usize) {
    s.start += by as u32;
    s.end += by as u32;
}

/// Moves every span in an expression parsed from a substring to the substring's position.
fn shift_expr(e: &mut Expr, by: usize) {
    shift_span(&mut e.span, by);
    match &mut e.kind {
        ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::Var(_) => {}
        ExprKind::Template(parts) => shift_parts(parts, by),
        ExprKind::Jinja(t) => t.offsets.iter_mut().for_each(|o| *o += by as u32),
        ExprKind::Array(items) => items.iter_mut().for_each(|x| shift_expr(x, by)),
        ExprKind::Object(items) => {
            for (k, v) in items {
                match k {
                    ObjectKey::Ident(_, s) => shift_span(s, by),
                    ObjectKey::Expr(x) => shift_expr(x, by),
                }
                shift_expr(v, by);
            }
        }
        ExprKind::Traversal(x, ops) => {
            shift_expr(x, by);
            for op in ops {
                match op {
                    Traverse::Attr(_, s) | Traverse::AttrSplat(s) | Traverse::FullSplat(s) => {
                        shift_span(s, by)
                    }
                    Traverse::Index(x) => shift_expr(x, by),
                }
            }
        }
        ExprKind::Call(c) => {
            shift_span(&mut c.name_span, by);
            c.args.iter_mut().for_each(|x| shift_expr(x, by));
        }
        ExprKind::Cond(a, b, c) => {
            shift_expr(a, by);
            shift_expr(b, by);
            shift_expr(c, by);
        }
        ExprKind::Unary(_, x) | ExprKind::Paren(x) => shift_expr(x, by),
        ExprKind::Binary(_, a, b) => {
            shift_expr(a, by);
            shift_expr(b, by);
        }
        ExprKind::For(f) => {
            shift_expr(&mut f.collection, by);
            if let Some(k) = &mut f.key {
                shift_expr(k, by);
            }
            shift_expr(&mut f.value, by);
            if let Some(c) = &mut f.cond {
                shift_expr(c, by);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// hcl-edit can point inside a multi-byte character; the diagnostic marks the whole
    /// character, so its span always cuts the text on character boundaries.
    #[test]
    fn error_spans_fall_on_character_boundaries() {
        for text in ["ꬠ=[ౘ", "a = [\"x\", ౘ", "t \"ꬠ\" { a = [ౘ }", "ౘ"] {
            let Err(d) = parse_with_hcl_edit(FileId(0), text) else {
                panic!("{text:?} parsed");
            };
            for l in &d.labels {
                let r = l.span.range();
                assert!(
                    text.is_char_boundary(r.start)
                        && text.is_char_boundary(r.end)
                        && r.end <= text.len(),
                    "{text:?}: span {r:?}"
                );
            }
        }
    }
}
