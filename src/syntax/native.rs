//! A one-pass parser for the HCL native syntax that bake files use day to day, building
//! [`ast`](super::ast) directly.
//!
//! hcl-edit keeps every space and comment of the input as decor, which rbake never reads;
//! its parse took over 40% of `print` on large files (docs/benchmarks.md). This parser
//! follows hcl-edit's grammar rule by rule (where newlines may appear, what a term is, how
//! operators bind, which span each node gets) for the common subset and declines, with
//! `None`, anything else: heredocs, template directives and strip markers, splats, legacy
//! `.0` indexes, namespaced functions, carriage returns, non-ASCII identifiers, repeated
//! keys, deep nesting and every syntax error. `hcl::parse` then hands the file to hcl-edit,
//! so diagnostics and rare forms stay exactly as they were. A test parses every fixture
//! and example both ways and requires the same tree.

use super::ast::*;
use crate::base::Number;
use crate::source::{FileId, Span};

/// Nesting deeper than this is left to hcl-edit, which rejects it at 64 levels.
const MAX_DEPTH: usize = 32;
/// Longer operator chains are left to hcl-edit, which rejects them past 128 operators.
const MAX_OPERATORS: usize = 32;

/// Parses a whole file, or declines.
pub fn parse(file: FileId, text: &str) -> Option<Body> {
    if text.contains('\r') {
        return None;
    }
    let mut p = Parser {
        src: text,
        b: text.as_bytes(),
        pos: 0,
        file,
        depth: 0,
    };
    let body = p.body()?;
    (p.pos == p.b.len()).then_some(body)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    file: FileId,
    depth: usize,
}

fn is_id_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_id_continue(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn binding(op: BinaryOp) -> u8 {
    use BinaryOp::*;
    match op {
        Mul | Div | Mod => 6,
        Add | Sub => 5,
        Lt | Le | Gt | Ge => 4,
        Eq | Ne => 3,
        And => 2,
        Or => 1,
    }
}

impl<'a> Parser<'a> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start..end)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.b.get(self.pos + n).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        self.b[self.pos..].starts_with(s.as_bytes())
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    // Trivia. `ws` takes newlines and every comment, `sp` spaces and `/* */` comments only.

    fn ws(&mut self) -> Option<()> {
        loop {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n')) {
                self.pos += 1;
            }
            match (self.peek(), self.peek_at(1)) {
                (Some(b'#'), _) | (Some(b'/'), Some(b'/')) => self.line_rest(),
                (Some(b'/'), Some(b'*')) => self.inline_comment()?,
                _ => return Some(()),
            }
        }
    }

    fn sp(&mut self) -> Option<()> {
        loop {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
            if self.starts_with("/*") {
                self.inline_comment()?;
            } else {
                return Some(());
            }
        }
    }

    fn ws_or_sp(&mut self, newlines: bool) -> Option<()> {
        if newlines { self.ws() } else { self.sp() }
    }

    /// The rest of a line comment, up to (not including) the newline.
    fn line_rest(&mut self) {
        match self.b[self.pos..].iter().position(|&c| c == b'\n') {
            Some(n) => self.pos += n,
            None => self.pos = self.b.len(),
        }
    }

    /// A `/* */` comment; an unterminated one is declined.
    fn inline_comment(&mut self) -> Option<()> {
        let rest = &self.src[self.pos + 2..];
        let n = rest.find("*/")?;
        self.pos += 2 + n + 2;
        Some(())
    }

    fn ident(&mut self) -> Option<(String, Span)> {
        let start = self.pos;
        if !self.peek().is_some_and(is_id_start) {
            return None;
        }
        self.pos += 1;
        self.pos += self.b[self.pos..]
            .iter()
            .position(|&c| !is_id_continue(c))
            .unwrap_or(self.b.len() - self.pos);
        // A non-ASCII identifier character is left to hcl-edit's Unicode rules.
        if self.peek().is_some_and(|c| c >= 0x80) {
            return None;
        }
        Some((
            self.src[start..self.pos].to_string(),
            self.span(start, self.pos),
        ))
    }

    // Structure.

    fn body(&mut self) -> Option<Body> {
        let mut out = Body::default();
        loop {
            self.ws()?;
            if !self.peek().is_some_and(is_id_start) {
                break;
            }
            self.structure(&mut out)?;
            self.sp()?;
            if self.peek() == Some(b'#') || self.starts_with("//") {
                self.line_rest();
            }
            match self.peek() {
                None => {}
                Some(b'\n') => self.pos += 1,
                Some(_) => return None,
            }
        }
        Some(out)
    }

    fn structure(&mut self, out: &mut Body) -> Option<()> {
        let start = self.pos;
        let (name, name_span) = self.ident()?;
        self.sp()?;
        match self.peek()? {
            b'=' => {
                // hcl-edit rejects an attribute defined twice in one body.
                if out.attrs.iter().any(|a| a.name == name) {
                    return None;
                }
                let expr = self.attribute_expr()?;
                out.attrs.push(Attr {
                    name,
                    name_span,
                    expr,
                    span: self.span(start, self.pos),
                });
            }
            c if c == b'{' || c == b'"' || is_id_start(c) => {
                let mut labels = Vec::new();
                while self.peek() != Some(b'{') {
                    let label = if self.peek() == Some(b'"') {
                        let s = self.pos;
                        let value = self.plain_string()?;
                        (value, self.span(s, self.pos))
                    } else {
                        self.ident()?
                    };
                    labels.push(label);
                    self.sp()?;
                }
                let body = self.nested(|p| p.block_body())?;
                out.blocks.push(Block {
                    kind: name,
                    kind_span: name_span,
                    labels,
                    body,
                    span: self.span(start, self.pos),
                });
            }
            _ => return None,
        }
        Some(())
    }

    fn attribute_expr(&mut self) -> Option<Expr> {
        if !self.eat(b'=') {
            return None;
        }
        self.sp()?;
        self.expr_inner(&mut false)
    }

    fn block_body(&mut self) -> Option<Body> {
        if !self.eat(b'{') {
            return None;
        }
        let open = self.pos;
        // Multi-line: spaces, perhaps a line comment, a newline, then a body.
        self.sp()?;
        if self.peek() == Some(b'#') || self.starts_with("//") {
            self.line_rest();
        }
        let body = if self.eat(b'\n') {
            let body = self.body()?;
            self.ws()?;
            body
        } else {
            // One line: at most one attribute.
            self.pos = open;
            self.sp()?;
            let mut body = Body::default();
            if self.peek() != Some(b'}') {
                self.structure(&mut body)?;
                if !body.blocks.is_empty() {
                    return None;
                }
                self.sp()?;
            }
            body
        };
        self.eat(b'}').then_some(body)
    }

    // Expressions, after hcl-edit's `expr_inner` and `expr_term_inner`. `newlines` is the
    // expression's "newlines allowed" state: set for `(...)` and `[...]` insides, and once a
    // term holds a list, function arguments or an object `for`.

    fn expr(&mut self) -> Option<Expr> {
        self.nested(|p| p.expr_inner(&mut false))
    }

    fn multiline_expr(&mut self) -> Option<Expr> {
        self.nested(|p| p.expr_inner(&mut true))
    }

    fn expr_with_state(&mut self, newlines: bool) -> Option<Expr> {
        self.nested(|p| p.expr_inner(&mut { newlines }))
    }

    fn expr_inner(&mut self, newlines: &mut bool) -> Option<Expr> {
        let start = self.pos;
        let mut e = self.expr_term(newlines)?;
        loop {
            let checkpoint = self.pos;
            self.ws_or_sp(*newlines)?;
            let (a, b) = (self.peek(), self.peek_at(1));
            if b.is_none() {
                self.pos = checkpoint;
                return Some(e);
            }
            if a == Some(b'?') {
                return self.conditional(e, start, *newlines);
            }
            let comment = a == Some(b'/') && matches!(b, Some(b'/' | b'*'));
            let op = (a == Some(b'=') && b == Some(b'='))
                || matches!(
                    a,
                    Some(b'!' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|')
                );
            if comment || !op {
                self.pos = checkpoint;
                return Some(e);
            }
            self.pos = checkpoint;
            e = self.binary_ops(e, *newlines)?;
        }
    }

    fn conditional(&mut self, cond: Expr, start: usize, newlines: bool) -> Option<Expr> {
        self.pos += 1; // `?`
        self.ws_or_sp(newlines)?;
        let then = self.expr_with_state(newlines)?;
        self.ws_or_sp(newlines)?;
        if !self.eat(b':') {
            return None;
        }
        self.ws_or_sp(newlines)?;
        let otherwise = self.expr_with_state(newlines)?;
        Some(Expr::new(
            ExprKind::Cond(Box::new(cond), Box::new(then), Box::new(otherwise)),
            self.span(start, self.pos),
        ))
    }

    /// A chain of binary operators, combined by precedence, all left-associative.
    fn binary_ops(&mut self, first: Expr, newlines: bool) -> Option<Expr> {
        let mut operands = vec![first];
        let mut operators = Vec::new();
        loop {
            let checkpoint = self.pos;
            match self.binary_op(newlines) {
                Some((op, rhs)) => {
                    operators.push(op);
                    operands.push(rhs);
                }
                None if !operators.is_empty() => {
                    self.pos = checkpoint;
                    break;
                }
                None => return None,
            }
            if operators.len() > MAX_OPERATORS {
                return None;
            }
        }
        let mut operands = operands.into_iter();
        let mut operators = operators.into_iter().peekable();
        let lhs = operands.next()?;
        Some(climb(lhs, 0, &mut operands, &mut operators))
    }

    fn binary_op(&mut self, newlines: bool) -> Option<(BinaryOp, Expr)> {
        use BinaryOp::*;
        self.ws_or_sp(newlines)?;
        let op = match (self.peek()?, self.peek_at(1)) {
            (b'=', Some(b'=')) => (Eq, 2),
            (b'!', Some(b'=')) => (Ne, 2),
            (b'<', Some(b'=')) => (Le, 2),
            (b'<', _) => (Lt, 1),
            (b'>', Some(b'=')) => (Ge, 2),
            (b'>', _) => (Gt, 1),
            (b'+', _) => (Add, 1),
            (b'-', _) => (Sub, 1),
            (b'*', _) => (Mul, 1),
            (b'/', Some(b'/' | b'*')) => return None,
            (b'/', _) => (Div, 1),
            (b'%', _) => (Mod, 1),
            (b'&', Some(b'&')) => (And, 2),
            (b'|', Some(b'|')) => (Or, 2),
            _ => return None,
        };
        self.pos += op.1;
        self.ws_or_sp(newlines)?;
        let rhs = self.expr_term(&mut { newlines })?;
        Some((op.0, rhs))
    }

    fn expr_term(&mut self, newlines: &mut bool) -> Option<Expr> {
        let start = self.pos;
        let term = match self.peek()? {
            b'"' => self.string_expr()?,
            b'[' => self.array(newlines)?,
            b'{' => self.object(newlines)?,
            b'0'..=b'9' => self.number()?,
            b'-' => match self.neg_number() {
                Some(n) => n,
                None => {
                    self.pos = start;
                    self.unary(newlines)?
                }
            },
            b'!' => self.unary(newlines)?,
            b'(' => self.parenthesis()?,
            c if is_id_start(c) => self.identlike(newlines)?,
            _ => return None,
        };
        let checkpoint = self.pos;
        self.ws_or_sp(*newlines)?;
        let (a, b) = (self.peek(), self.peek_at(1));
        if b.is_some() && !(a == Some(b'.') && b == Some(b'.')) && matches!(a, Some(b'.' | b'[')) {
            return self.traversal(term, start, *newlines);
        }
        self.pos = checkpoint;
        Some(term)
    }

    fn traversal(&mut self, root: Expr, start: usize, newlines: bool) -> Option<Expr> {
        let mut ops = Vec::new();
        loop {
            let checkpoint = self.pos;
            if !ops.is_empty() {
                self.ws_or_sp(newlines)?;
            }
            if self.starts_with("..") {
                self.pos = checkpoint;
                break;
            }
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    self.ws()?;
                    // `.*` and `.0` are left to hcl-edit.
                    ops.push(match self.ident() {
                        Some((name, span)) => Traverse::Attr(name, span),
                        None => return None,
                    });
                }
                Some(b'[') => {
                    self.pos += 1;
                    self.ws()?;
                    if self.peek() == Some(b'*') {
                        return None;
                    }
                    let index = self.multiline_expr()?;
                    self.ws()?;
                    if !self.eat(b']') {
                        return None;
                    }
                    ops.push(Traverse::Index(index));
                }
                _ => {
                    self.pos = checkpoint;
                    break;
                }
            }
        }
        Some(Expr::new(
            ExprKind::Traversal(Box::new(root), ops),
            self.span(start, self.pos),
        ))
    }

    fn unary(&mut self, newlines: &mut bool) -> Option<Expr> {
        let start = self.pos;
        let op = match self.peek()? {
            b'-' => UnaryOp::Neg,
            b'!' => UnaryOp::Not,
            _ => return None,
        };
        self.pos += 1;
        self.sp()?;
        let flag = *newlines;
        let operand = self.nested(|p| p.expr_term(&mut { flag }))?;
        Some(Expr::new(
            ExprKind::Unary(op, Box::new(operand)),
            self.span(start, self.pos),
        ))
    }

    fn neg_number(&mut self) -> Option<Expr> {
        let start = self.pos;
        self.pos += 1; // `-`
        self.sp()?;
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return None;
        }
        let (n, _) = self.number_value()?;
        // HCL negates the literal, so `-0` is cty's negative zero (printed `-0`).
        Some(Expr::new(
            ExprKind::Number(n.neg()),
            self.span(start, self.pos),
        ))
    }

    fn number(&mut self) -> Option<Expr> {
        let start = self.pos;
        let (n, _) = self.number_value()?;
        Some(Expr::new(ExprKind::Number(n), self.span(start, self.pos)))
    }

    /// hcl-edit's number: a float (fraction and/or exponent) or an integer.
    fn number_value(&mut self) -> Option<(Number, bool)> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > s
        };
        digits(self);
        let int_end = self.pos;
        let mut float = false;
        if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            digits(self);
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                // hcl-edit makes a missing exponent a syntax error.
                self.pos = save;
                return None;
            }
            float = true;
        }
        if !float {
            self.pos = int_end;
        }
        // Read as HCL reads a literal: `cty.ParseNumberVal`, at 512 bits.
        Number::parse(&self.src[start..self.pos]).map(|n| (n, !float))
    }

    fn parenthesis(&mut self) -> Option<Expr> {
        let start = self.pos;
        self.pos += 1;
        self.ws()?;
        let inner = self.multiline_expr()?;
        self.ws()?;
        if !self.eat(b')') {
            return None;
        }
        Some(Expr::new(
            ExprKind::Paren(Box::new(inner)),
            self.span(start, self.pos),
        ))
    }

    fn identlike(&mut self, newlines: &mut bool) -> Option<Expr> {
        let start = self.pos;
        let (name, name_span) = self.ident()?;
        let checkpoint = self.pos;
        self.ws_or_sp(*newlines)?;
        if self.starts_with("::") {
            return None;
        }
        if self.peek() == Some(b'(') && self.peek_at(1).is_some() {
            *newlines = true;
            let (args, expand_final) = self.call_args()?;
            return Some(Expr::new(
                ExprKind::Call(Box::new(Call {
                    name,
                    name_span,
                    args,
                    expand_final,
                })),
                self.span(start, self.pos),
            ));
        }
        self.pos = checkpoint;
        let kind = match name.as_str() {
            "null" => ExprKind::Null,
            "true" => ExprKind::Bool(true),
            "false" => ExprKind::Bool(false),
            _ => ExprKind::Var(name),
        };
        Some(Expr::new(kind, name_span))
    }

    fn call_args(&mut self) -> Option<(Vec<Expr>, bool)> {
        self.pos += 1; // `(`
        let mut args = Vec::new();
        let mut expand_final = false;
        loop {
            let checkpoint = self.pos;
            if !args.is_empty() && !self.eat(b',') {
                break;
            }
            self.ws()?;
            if matches!(self.peek(), Some(b',' | b'.' | b')')) {
                self.pos = checkpoint;
                break;
            }
            args.push(self.expr_with_state(true)?);
            self.ws()?;
        }
        if !args.is_empty() {
            if self.eat(b',') {
            } else if self.starts_with("...") {
                self.pos += 3;
                expand_final = true;
            } else if self.peek() == Some(b'.') {
                return None;
            }
        }
        self.ws()?;
        self.eat(b')').then_some((args, expand_final))
    }

    /// Whether `for` starts here (after trivia), as hcl-edit decides it.
    fn at_for(&mut self) -> Option<bool> {
        let save = self.pos;
        self.ws()?;
        let found = self.starts_with("for")
            && matches!(self.peek_at(3), Some(b' ' | b'\t' | b'#' | b'/' | b'\n'));
        self.pos = save;
        Some(found)
    }

    fn array(&mut self, newlines: &mut bool) -> Option<Expr> {
        let start = self.pos;
        *newlines = true;
        self.pos += 1; // `[`
        if self.at_for()? {
            let f = self.for_intro()?;
            self.ws()?;
            let value = self.expr_with_state(true)?;
            self.ws()?;
            return self.finish_for(start, f, None, value, false, b']');
        }
        let mut items = Vec::new();
        loop {
            let checkpoint = self.pos;
            if !items.is_empty() && !self.eat(b',') {
                break;
            }
            self.ws()?;
            if self.peek() == Some(b']') {
                self.pos = checkpoint;
                break;
            }
            items.push(self.expr_with_state(true)?);
            self.ws()?;
        }
        self.eat(b',');
        self.ws()?;
        if !self.eat(b']') {
            return None;
        }
        Some(Expr::new(
            ExprKind::Array(items),
            self.span(start, self.pos),
        ))
    }

    /// `for [k,] v in collection :`, with the trivia before it.
    /// The end of a `for` expression (its `if` condition and closing bracket) and the node.
    fn finish_for(
        &mut self,
        start: usize,
        (key_var, value_var, collection): (Option<String>, String, Expr),
        key: Option<Expr>,
        value: Expr,
        grouping: bool,
        close: u8,
    ) -> Option<Expr> {
        let cond = self.for_cond(true)?;
        if !self.eat(close) {
            return None;
        }
        Some(Expr::new(
            ExprKind::For(Box::new(ForExpr {
                key_var,
                value_var,
                collection,
                key,
                value,
                cond,
                grouping,
            })),
            self.span(start, self.pos),
        ))
    }

    fn for_intro(&mut self) -> Option<(Option<String>, String, Expr)> {
        self.ws()?;
        self.pos += 3; // `for`
        self.ws()?;
        let (first, _) = self.ident()?;
        self.ws()?;
        let second = if self.eat(b',') {
            self.ws()?;
            let (v, _) = self.ident()?;
            self.ws()?;
            Some(v)
        } else {
            None
        };
        if !self.starts_with("in") {
            return None;
        }
        self.pos += 2;
        self.ws()?;
        let collection = self.expr()?;
        self.ws()?;
        if !self.eat(b':') {
            return None;
        }
        Some(match second {
            Some(v) => (Some(first), v, collection),
            None => (None, first, collection),
        })
    }

    /// An optional `if cond` ending a `for`, with the trivia before it.
    fn for_cond(&mut self, newlines: bool) -> Option<Option<Expr>> {
        let save = self.pos;
        self.ws()?;
        if !self.starts_with("if") {
            self.pos = save;
            return Some(None);
        }
        self.pos += 2;
        self.ws()?;
        let cond = self.expr_with_state(newlines)?;
        self.ws()?;
        Some(Some(cond))
    }

    fn object(&mut self, newlines: &mut bool) -> Option<Expr> {
        let start = self.pos;
        self.pos += 1; // `{`
        if self.at_for()? {
            *newlines = true;
            let f = self.for_intro()?;
            self.ws()?;
            let key = self.expr()?;
            self.ws()?;
            if !self.starts_with("=>") {
                return None;
            }
            self.pos += 2;
            self.ws()?;
            let value = self.expr()?;
            self.ws()?;
            let grouping = self.starts_with("...");
            if grouping {
                self.pos += 3;
                self.ws()?;
            }
            return self.finish_for(start, f, Some(key), value, grouping, b'}');
        }
        let mut items: Vec<(ObjectKey, Expr)> = Vec::new();
        loop {
            self.ws()?;
            if self.peek()? == b'}' {
                break;
            }
            let key = match self.expr()? {
                Expr {
                    kind: ExprKind::Var(name),
                    span,
                } => ObjectKey::Ident(name, span),
                e => ObjectKey::Expr(Box::new(e)),
            };
            // hcl-edit rejects a repeated key; only keys whose equality is plain are taken.
            let repeated = match &key {
                ObjectKey::Ident(name, _) => items
                    .iter()
                    .any(|(k, _)| matches!(k, ObjectKey::Ident(n, _) if n == name)),
                ObjectKey::Expr(e) => {
                    let text = e.as_literal_str()?;
                    if !matches!(&e.kind, ExprKind::Template(parts) if parts.len() == 1) {
                        return None;
                    }
                    items.iter().any(|(k, _)| {
                        matches!(k, ObjectKey::Expr(x) if x.as_literal_str().as_deref() == Some(text.as_str()))
                    })
                }
            };
            if repeated {
                return None;
            }
            self.sp()?;
            if !(self.eat(b'=') || self.eat(b':')) {
                return None;
            }
            self.sp()?;
            let value = self.expr()?;
            self.sp()?;
            items.push((key, value));
            match self.peek()? {
                b'}' => break,
                b'\n' | b',' => self.pos += 1,
                b'#' => {
                    self.line_rest();
                    if !self.eat(b'\n') {
                        return None;
                    }
                }
                b'/' if self.peek_at(1) == Some(b'/') => {
                    self.line_rest();
                    if !self.eat(b'\n') {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        self.pos += 1; // `}`
        Some(Expr::new(
            ExprKind::Object(items),
            self.span(start, self.pos),
        ))
    }

    // Strings and templates.

    /// A quoted string: a literal, or a template when it interpolates.
    fn string_expr(&mut self) -> Option<Expr> {
        let start = self.pos;
        self.pos += 1; // `"`
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut interpolated = false;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => lit.push(self.escape()?),
                b'$' if self.starts_with("$${") => {
                    self.pos += 3;
                    lit.push_str("${");
                }
                b'%' if self.starts_with("%%{") => {
                    self.pos += 3;
                    lit.push_str("%{");
                }
                b'%' if self.peek_at(1) == Some(b'{') => return None,
                b'$' if self.peek_at(1) == Some(b'{') => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    self.pos += 2;
                    if self.peek() == Some(b'~') {
                        return None;
                    }
                    self.ws()?;
                    let e = self.multiline_expr()?;
                    self.ws()?;
                    if !self.eat(b'}') {
                        return None;
                    }
                    parts.push(Part::Interp(Box::new(e)));
                    interpolated = true;
                }
                _ => {
                    let s = self.pos;
                    // Up to a quote, an escape, or a `${`/`%{` (escaped as `$${`/`%%{` or not).
                    loop {
                        // Bytes that cannot end the run, skipped without a closer look.
                        let plain = self.b[self.pos..]
                            .iter()
                            .position(|&c| matches!(c, b'"' | b'\\' | b'$' | b'%'))
                            .unwrap_or(self.b.len() - self.pos);
                        self.pos += plain;
                        let Some(c) = self.peek() else { break };
                        let marker = (c == b'$' || c == b'%')
                            && (self.peek_at(1) == Some(b'{')
                                || (self.peek_at(1) == Some(c) && self.peek_at(2) == Some(b'{')));
                        if c == b'"' || c == b'\\' || marker {
                            break;
                        }
                        self.pos += 1;
                    }
                    lit.push_str(&self.src[s..self.pos]);
                }
            }
        }
        if !interpolated {
            parts = vec![Part::Lit(lit)];
        } else if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Some(Expr::new(
            ExprKind::Template(parts),
            self.span(start, self.pos),
        ))
    }

    /// A block label: a quoted string without interpolation.
    fn plain_string(&mut self) -> Option<String> {
        match self.string_expr()?.kind {
            ExprKind::Template(parts) => match <[Part; 1]>::try_from(parts) {
                Ok([Part::Lit(s)]) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    fn escape(&mut self) -> Option<char> {
        self.pos += 1; // `\`
        let c = self.peek()?;
        self.pos += 1;
        Some(match c {
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'\\' => '\\',
            b'"' => '"',
            b'u' | b'U' => {
                let n = if c == b'u' { 4 } else { 8 };
                let hex = self.src.get(self.pos..self.pos + n)?;
                if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                    return None;
                }
                self.pos += n;
                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
            }
            _ => return None,
        })
    }
}

/// Precedence climbing over `operands[0] op operands[1] op ...`.
fn climb(
    mut lhs: Expr,
    min: u8,
    operands: &mut impl Iterator<Item = Expr>,
    operators: &mut std::iter::Peekable<impl Iterator<Item = BinaryOp>>,
) -> Expr {
    while let Some(&op) = operators.peek() {
        let p = binding(op);
        if p < min {
            break;
        }
        operators.next();
        let mut rhs = operands.next().expect("one operand per operator");
        while let Some(&next) = operators.peek() {
            if binding(next) <= p {
                break;
            }
            rhs = climb(rhs, binding(next), operands, operators);
        }
        let span = lhs.span.to(rhs.span);
        lhs = Expr::new(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span);
    }
    lhs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree hcl-edit gives, lowered, next to this parser's; `None` when this one declines.
    fn both(text: &str) -> (Option<String>, Option<String>) {
        let file = FileId(0);
        let slow = super::super::hcl::parse_with_hcl_edit(file, text)
            .ok()
            .map(|b| format!("{b:#?}"));
        let fast = parse(file, text).map(|b| format!("{b:#?}"));
        (slow, fast)
    }

    /// Where this parser answers, it answers as hcl-edit does; whether it answered.
    fn check(text: &str) -> bool {
        let (slow, fast) = both(text);
        if let Some(fast) = &fast {
            assert_eq!(
                Some(fast),
                slow.as_ref(),
                "differs from hcl-edit on:\n{text}"
            );
        }
        fast.is_some()
    }

    fn hcl_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                hcl_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "hcl") {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_fixture_and_example_parses_as_with_hcl_edit() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in [
            "tests/fixtures",
            "examples",
            "../shared/corpus",
            "../shared/conformance",
        ] {
            hcl_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 20, "found only {} .hcl files", files.len());
        let mut answered = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            if check(&text) {
                answered += 1;
            }
        }
        // Most real files are in the subset; the rest exercise the decline path.
        assert!(answered * 2 > files.len(), "{answered} of {}", files.len());
    }

    #[test]
    fn tricky_forms_match_or_decline() {
        let cases = [
            ("a = 1\n", true),
            (
                "a = -0\nb = -0.0\nc = - 5\nd = 1e3\ne = 18446744073709551616\nf = 1.5E-2\n",
                true,
            ),
            ("a = 1 + 2 * 3 - 4 / 5 % 6 == 7 && !x || y != z\n", true),
            ("a = a < b ? c : d <= e\nb = x ? y : z ? u : v\n", true),
            (
                "a = \"$${x} %%{y} $$$${z} \\n\\t\\\"\\u00e9\\U0001F600 ${b} c${d}\"\n",
                true,
            ),
            ("a = \"\"\nb = \"${x}\"\nc = \"${ x.y[0] }z\"\n", true),
            (
                "a = [\n  1, # one\n  2, // two\n  /* three */ 3,\n]\nb = []\nc = [ ]\n",
                true,
            ),
            (
                "a = { x = 1, \"y\" : 2\n  z = 3 # c\n  w = 4 // d\n}\nb = {}\n",
                true,
            ),
            (
                "a = f()\nb = f(1, 2,)\nc = f(x...)\nd = f(\n  a,\n  b\n)\ne = f (1)\n",
                true,
            ),
            (
                "a = [for x in y : x if x != \"\"]\nb = {for k, v in m : k => v... if v}\n",
                true,
            ),
            (
                "a = [for x in y: upper(x)]\nb = { for x in y : x => x }\n",
                true,
            ),
            ("a = x.y.z[1][\"k\"]\nc = f()\n  .y\n", true),
            ("b = x\n  .y\n", false),
            ("a = (1 +\n  2)\nb = !(x)\nc = -x.y\nd = - f(1)\n", true),
            (
                "target \"a\" \"b\" {\n  x = 1 # c\n}\nblock {}\nb2 { }\none \"l\" { x = [1] }\n",
                true,
            ),
            (
                "target a {\n\n  // comment\n  inner \"x\" {\n    y = true\n  }\n}\n",
                true,
            ),
            ("a = <<EOF\nx\nEOF\n", false),
            ("a = \"%{ if x }y%{ endif }\"\n", false),
            ("a = x.*.y\nb = x[*]\nc = x.0\n", false),
            ("a = ns::f(1)\n", false),
            ("a = \"${~ x ~}\"\n", false),
            ("a = 1\na = 2\n", false),
            ("a = { x = 1, x = 2 }\n", false),
            ("a = 1 }\n", false),
            ("a = [,]\n", false),
            ("a = f(a,,)\n", false),
            ("a = 1\r\n", false),
            ("a = \"\\q\"\n", false),
            ("a = 1e\n", false),
            ("a = x\n? y : z\n", false),
            ("a = [x\n? y : z]\n", true),
            ("a = f(x\n? y : z)\n", true),
            ("a = 1 /* c */ + 2\nb = x /* c */ .y\n", true),
            ("a = x ? y\n", false),
            ("a = /* unterminated\n", false),
            ("# only a comment", true),
            ("", true),
            ("a = 1", true),
            ("a = x iffy\n", false),
            ("b = [for x in y : x iffy]\n", true),
            ("t \"a\"\"b\" {}\n", true),
            ("a = {\n  \"k\" = 1\n  k = 2\n}\n", true),
            ("a = {\n  true = 1\n}\n", false),
            ("a = a.b\n.c\n", false),
            ("a = [1]\n.c\n", true),
            ("a = é\n", false),
            ("a = \"é${x}ü\"\n", true),
        ];
        for (text, answered) in cases {
            assert_eq!(check(text), answered, "answered or declined:\n{text}");
        }
    }
}
