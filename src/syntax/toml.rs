//! rbake's `build.toml`, lowered to the same [`ast`] as HCL. Tables of named tables are blocks
//! (`[target.NAME]`, `[group.NAME]`, `[variable.NAME]`, `[builder.NAME]`), keys inside them are
//! attributes with bake's kebab-case names, and TOML values are literals. TOML has no
//! expressions: a string holding `{{`, `{%` or `{#` becomes a minijinja template
//! ([`ExprKind::Jinja`]) that `eval` renders with the variables and matrix values in scope.

use std::ops::Range;

use toml_edit::{Document, Item, Key, TableLike, Value};

use super::ast::*;
use crate::base::Number;
use crate::source::{Diag, Diags, FileId, Span};

const CODE: &str = "syntax::toml";

/// Block types `build.toml` knows. `function` is HCL-only: TOML has no expressions to write a
/// function body in, and minijinja's filters cover what the common bake functions do.
const BLOCK_TYPES: &[&str] = &["target", "group", "variable", "builder"];

/// Attributes whose value is itself a template rendered later (once per platform, by the
/// planner), so `build.toml` keeps the string as written instead of rendering it now.
const LATE_TEMPLATES: &[&str] = &["local-tag"];

/// Parses one `build.toml`. A TOML syntax error is one diagnostic; problems in the structure
/// (a `target` that is not a table) are all collected.
pub fn parse(file: FileId, text: &str) -> Result<Body, Diags> {
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let at = e.span().unwrap_or(0..0);
            let end = at.end.max(at.start + 1).min(text.len()).max(at.start);
            let mut ds = Diags::default();
            ds.push(
                Diag::error(CODE, format!("invalid TOML: {}", first_line(e.message())))
                    .label(Span::new(file, at.start.min(text.len())..end), "here")
                    .help("fix the TOML syntax at the marked position; blocks are tables like `[target.app]` and attributes are `key = value` lines below them"),
            );
            return Err(ds);
        }
    };
    let lower = Lower { file, text };
    let mut diags = Diags::default();
    let body = lower.top(doc.as_table(), &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(body)
    }
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or(msg).trim()
}

struct Lower<'a> {
    file: FileId,
    text: &'a str,
}

impl Lower<'_> {
    fn span(&self, r: Option<Range<usize>>) -> Span {
        Span::new(self.file, r.unwrap_or(0..0))
    }

    fn key_span(&self, k: &Key) -> Span {
        self.span(k.span())
    }

    fn top(&self, root: &dyn TableLike, diags: &mut Diags) -> Body {
        let mut body = Body::default();
        for (name, item) in root.iter() {
            let Some((key, _)) = root.get_key_value(name) else {
                continue;
            };
            let key_span = self.key_span(key);
            if name == "function" {
                diags.push(
                    Diag::error(CODE, "`function` blocks are not available in build.toml")
                        .label(key_span, "HCL only")
                        .help("use a filter in a template (`{{ NAME | lower }}`), or define the function in a `build.hcl` read alongside this file"),
                );
                continue;
            }
            match item {
                Item::Value(v) if !BLOCK_TYPES.contains(&name) => body.attrs.push(Attr {
                    name: name.to_string(),
                    name_span: key_span,
                    expr: self.value(v, false, diags),
                    span: key_span.to(self.span(v.span())),
                }),
                Item::Table(_) | Item::Value(Value::InlineTable(_))
                    if BLOCK_TYPES.contains(&name) =>
                {
                    let labels = item.as_table_like().expect("matched a table");
                    self.blocks(name, labels, &mut body, diags);
                }
                Item::Table(t) => {
                    // An unknown table keeps its name as the block type, so that `spec` warns
                    // about it with a "did you mean" (`[targets.app]`).
                    body.blocks.push(Block {
                        kind: name.to_string(),
                        kind_span: key_span,
                        labels: Vec::new(),
                        body: self.body(name, t, diags),
                        span: key_span,
                    });
                }
                _ => diags.push(
                    Diag::error(CODE, format!("`{name}` must be a table of named blocks"))
                        .label(self.span(item.span()).to(key_span), "not a table")
                        .help(format!("write `[{name}.NAME]` and the attributes below it")),
                ),
            }
        }
        body
    }

    /// `[target.app]`, `[[target.app]]` (several blocks of one name merge, as in HCL) or
    /// `target.app = { ... }`.
    fn blocks(&self, kind: &str, labels: &dyn TableLike, out: &mut Body, diags: &mut Diags) {
        for (label, item) in labels.iter() {
            let Some((key, _)) = labels.get_key_value(label) else {
                continue;
            };
            let label_span = self.key_span(key);
            let kind_span = self.kind_span(kind, label_span);
            let bodies: Vec<(&dyn TableLike, Span)> = match item {
                Item::Table(t) => vec![(t as &dyn TableLike, self.span(t.span()))],
                Item::Value(Value::InlineTable(t)) => {
                    vec![(t as &dyn TableLike, self.span(t.span()))]
                }
                Item::ArrayOfTables(a) => a
                    .iter()
                    .map(|t| (t as &dyn TableLike, self.span(t.span())))
                    .collect(),
                _ => {
                    diags.push(
                        Diag::error(CODE, format!("{kind} `{label}` must be a table"))
                            .label(label_span.to(self.span(item.span())), "not a table")
                            .help(format!(
                                "write `[{kind}.{label}]` and its attributes on the lines below"
                            )),
                    );
                    continue;
                }
            };
            for (t, span) in bodies {
                let span = if span.end > span.start {
                    span
                } else {
                    label_span
                };
                out.blocks.push(Block {
                    kind: kind.to_string(),
                    kind_span,
                    labels: vec![(label.to_string(), label_span)],
                    body: self.body(kind, t, diags),
                    span,
                });
            }
        }
    }

    /// The span of the block type written just before a label (`target` in
    /// `[target.app]`), so that a block's head reads like HCL's `target "app"`. A label whose
    /// type is written elsewhere (`[target]` then `app = {...}`) is its own head.
    fn kind_span(&self, kind: &str, label: Span) -> Span {
        let before = self.text.get(..label.start as usize).unwrap_or("");
        let trimmed = before.trim_end_matches([' ', '\t']);
        let Some(rest) = trimmed.strip_suffix('.') else {
            return label;
        };
        let rest = rest.trim_end_matches([' ', '\t']);
        for quoted in [kind.to_string(), format!("\"{kind}\""), format!("'{kind}'")] {
            if let Some(start) = rest.strip_suffix(quoted.as_str()).map(str::len) {
                let boundary = rest[..start]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
                if boundary {
                    return Span::new(self.file, start..start + quoted.len());
                }
            }
        }
        label
    }

    fn body(&self, kind: &str, t: &dyn TableLike, diags: &mut Diags) -> Body {
        let mut body = Body::default();
        for (name, item) in t.iter() {
            let Some((key, _)) = t.get_key_value(name) else {
                continue;
            };
            let name_span = self.key_span(key);
            // A variable's `validation` is a nested block, one per table of the array.
            if kind == "variable" && name == "validation" {
                let tables: Vec<&dyn TableLike> = match item {
                    Item::ArrayOfTables(a) => a.iter().map(|x| x as &dyn TableLike).collect(),
                    Item::Value(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_inline_table().map(|x| x as &dyn TableLike))
                        .collect(),
                    other => other.as_table_like().into_iter().collect(),
                };
                for vt in tables {
                    body.blocks.push(Block {
                        kind: name.to_string(),
                        kind_span: name_span,
                        labels: Vec::new(),
                        body: self.body("validation", vt, diags),
                        span: name_span,
                    });
                }
                continue;
            }
            let literal = kind == "target" && LATE_TEMPLATES.contains(&name);
            let expr = if kind == "variable" && name == "type" {
                match item.as_str() {
                    Some(_) => self.type_expr(item.as_value().expect("a string value")),
                    None => self.item(item, literal, diags),
                }
            } else {
                self.item(item, literal, diags)
            };
            let span = name_span.to(expr.span);
            body.attrs.push(Attr {
                name: name.to_string(),
                name_span,
                expr,
                span,
            });
        }
        body
    }

    /// Any value, including a sub-table (`[target.app.args]`, `args.KEY = ...`) or an array
    /// of tables (`[[target.app.output]]`), which become objects and lists of objects.
    fn item(&self, item: &Item, literal: bool, diags: &mut Diags) -> Expr {
        match item {
            Item::Value(v) => self.value(v, literal, diags),
            Item::Table(t) => self.object(t, self.span(t.span()), literal, diags),
            Item::ArrayOfTables(a) => {
                let items = a
                    .iter()
                    .map(|t| self.object(t, self.span(t.span()), literal, diags))
                    .collect();
                Expr::new(ExprKind::Array(items), self.span(a.span()))
            }
            Item::None => Expr::new(ExprKind::Null, self.span(None)),
        }
    }

    fn value(&self, v: &Value, literal: bool, diags: &mut Diags) -> Expr {
        let span = self.span(v.span());
        let kind = match v {
            Value::String(s) => return self.string(s.value(), span, literal),
            Value::Integer(i) => ExprKind::Number(Number::int(*i.value())),
            // TOML floats are float64s; a NaN has no cty number, so it is null.
            Value::Float(f) => Number::float(*f.value()).map_or(ExprKind::Null, ExprKind::Number),
            Value::Boolean(b) => ExprKind::Bool(*b.value()),
            // bake has no date type: a TOML date is the text it was written as.
            Value::Datetime(d) => ExprKind::Template(vec![Part::Lit(d.value().to_string())]),
            Value::Array(a) => {
                ExprKind::Array(a.iter().map(|x| self.value(x, literal, diags)).collect())
            }
            Value::InlineTable(t) => return self.object(t, span, literal, diags),
        };
        Expr::new(kind, span)
    }

    fn object(&self, t: &dyn TableLike, span: Span, literal: bool, diags: &mut Diags) -> Expr {
        let mut items = Vec::new();
        let mut whole = span;
        for (name, item) in t.iter() {
            let Some((key, _)) = t.get_key_value(name) else {
                continue;
            };
            let key_span = self.key_span(key);
            let value = self.item(item, literal, diags);
            if whole.end == whole.start {
                whole = key_span;
            }
            whole = whole.to(key_span).to(value.span);
            items.push((ObjectKey::Ident(name.to_string(), key_span), value));
        }
        Expr::new(ExprKind::Object(items), whole)
    }

    /// A literal string, or a template when it holds minijinja syntax.
    fn string(&self, value: &str, span: Span, literal: bool) -> Expr {
        let is_template = ["{{", "{%", "{#"].iter().any(|m| value.contains(m));
        if literal || !is_template {
            return Expr::new(ExprKind::Template(vec![Part::Lit(value.to_string())]), span);
        }
        let raw = self.text.get(span.range()).unwrap_or("");
        let offsets = match unescape(raw) {
            Some((text, offsets)) if text == value => {
                offsets.into_iter().map(|o| span.start + o as u32).collect()
            }
            // A form this decoder does not know: point every error at the whole string.
            _ => vec![span.start; value.len() + 1],
        };
        Expr::new(
            ExprKind::Jinja(Box::new(Jinja {
                text: value.to_string(),
                offsets,
            })),
            span,
        )
    }

    /// A variable's `type`, written as HCL writes it (`"list(string)"`), parsed into the
    /// expression `eval` reads types from, with spans inside the string.
    fn type_expr(&self, v: &Value) -> Expr {
        let span = self.span(v.span());
        let text = v.as_str().unwrap_or("");
        let raw = self.text.get(span.range()).unwrap_or("");
        // Types hold no escapes; a string that had some is reported as a whole.
        let base = match unescape(raw) {
            Some((t, offsets)) if t == text && offsets.windows(2).all(|w| w[1] == w[0] + 1) => {
                span.start as usize + offsets.first().copied().unwrap_or(0)
            }
            _ => return Expr::new(ExprKind::Template(vec![Part::Lit(text.to_string())]), span),
        };
        let mut p = TypeParser {
            text,
            at: 0,
            file: self.file,
            base,
        };
        match p.ty() {
            Some(e) if p.rest().is_empty() => e,
            _ => Expr::new(ExprKind::Template(vec![Part::Lit(text.to_string())]), span),
        }
    }
}

/// A recursive-descent reader for HCL type expressions: `string`, `list(string)`,
/// `tuple([string, number])`, `object({ name = string })`.
struct TypeParser<'a> {
    text: &'a str,
    at: usize,
    file: FileId,
    base: usize,
}

impl TypeParser<'_> {
    fn rest(&self) -> &str {
        self.text[self.at..].trim_start()
    }

    fn skip_ws(&mut self) {
        self.at = self.text.len() - self.rest().len();
    }

    fn span(&self, r: Range<usize>) -> Span {
        Span::new(self.file, self.base + r.start..self.base + r.end)
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.text[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<(String, Range<usize>)> {
        self.skip_ws();
        let start = self.at;
        let len = self.text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(self.text.len() - start);
        if len == 0 {
            return None;
        }
        self.at += len;
        Some((self.text[start..self.at].to_string(), start..self.at))
    }

    fn ty(&mut self) -> Option<Expr> {
        let (name, r) = self.ident()?;
        if !self.eat('(') {
            return Some(Expr::new(ExprKind::Var(name), self.span(r)));
        }
        let arg = match name.as_str() {
            "tuple" => self.list()?,
            "object" => self.fields()?,
            _ => self.ty()?,
        };
        if !self.eat(')') {
            return None;
        }
        let name_span = self.span(r.clone());
        Some(Expr::new(
            ExprKind::Call(Box::new(Call {
                name,
                name_span,
                args: vec![arg],
                expand_final: false,
            })),
            self.span(r.start..self.at),
        ))
    }

    fn list(&mut self) -> Option<Expr> {
        self.skip_ws();
        let start = self.at;
        if !self.eat('[') {
            return None;
        }
        let mut items = Vec::new();
        while !self.eat(']') {
            items.push(self.ty()?);
            if !self.eat(',') && !self.rest().starts_with(']') {
                return None;
            }
        }
        Some(Expr::new(ExprKind::Array(items), self.span(start..self.at)))
    }

    fn fields(&mut self) -> Option<Expr> {
        self.skip_ws();
        let start = self.at;
        if !self.eat('{') {
            return None;
        }
        let mut items = Vec::new();
        while !self.eat('}') {
            let (key, r) = self.ident()?;
            if !self.eat('=') && !self.eat(':') {
                return None;
            }
            let key_span = self.span(r);
            items.push((ObjectKey::Ident(key, key_span), self.ty()?));
            if !self.eat(',') && !self.rest().starts_with('}') {
                return None;
            }
        }
        Some(Expr::new(
            ExprKind::Object(items),
            self.span(start..self.at),
        ))
    }
}

/// Decodes a TOML string as written (quotes included) into its value and, for each byte of
/// the value plus its end, the offset in `raw` it came from. `None` for text that is not one
/// TOML string.
fn unescape(raw: &str) -> Option<(String, Vec<usize>)> {
    let (delim, multi) = if raw.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if raw.starts_with("'''") {
        ("'''", true)
    } else if raw.starts_with('"') {
        ("\"", false)
    } else if raw.starts_with('\'') {
        ("'", false)
    } else {
        return None;
    };
    let basic = delim.starts_with('"');
    let end = raw.len().checked_sub(delim.len())?;
    if end < delim.len() || !raw[end..].starts_with(delim) {
        return None;
    }
    let mut i = delim.len();
    // A newline right after the opening delimiter of a multi-line string is not part of it.
    if multi {
        if raw[i..end].starts_with("\r\n") {
            i += 2;
        } else if raw[i..end].starts_with('\n') {
            i += 1;
        }
    }
    let mut out = String::new();
    let mut offsets = Vec::new();
    let push = |out: &mut String, offsets: &mut Vec<usize>, c: char, at: usize| {
        out.push(c);
        offsets.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    while i < end {
        let c = raw[i..].chars().next()?;
        if !(basic && c == '\\') {
            push(&mut out, &mut offsets, c, i);
            i += c.len_utf8();
            continue;
        }
        let esc = raw[i + 1..].chars().next()?;
        let simple = match esc {
            'b' => Some('\u{8}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(s) = simple {
            push(&mut out, &mut offsets, s, i);
            i += 2;
            continue;
        }
        let hex = match esc {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if hex > 0 {
            let digits = raw.get(i + 2..i + 2 + hex)?;
            let ch = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
            push(&mut out, &mut offsets, ch, i);
            i += 2 + hex;
            continue;
        }
        // A line-ending backslash: drop it and all whitespace up to the next other character.
        if multi && matches!(esc, ' ' | '\t' | '\r' | '\n') {
            let rest = &raw[i + 1..end];
            let skipped = rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
            if !rest[..skipped].contains('\n') {
                return None;
            }
            i += 1 + skipped;
            continue;
        }
        return None;
    }
    offsets.push(end);
    Some((out, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Body {
        parse(FileId(0), text).unwrap_or_else(|d| panic!("{:?}", d.0))
    }

    fn check_err(text: &str) -> Diag {
        parse(FileId(0), text)
            .expect_err("a syntax error")
            .0
            .remove(0)
    }

    #[test]
    fn tables_become_blocks_with_their_head() {
        let text = "[target.app]\ncontext = \"app\"\n";
        let body = check(text);
        let b = &body.blocks[0];
        assert_eq!((b.kind.as_str(), b.labels[0].0.as_str()), ("target", "app"));
        assert_eq!(&text[b.head_span().range()], "target.app");
        assert_eq!(&text[b.body.attrs[0].span.range()], "context = \"app\"");
    }

    #[test]
    fn a_plain_string_is_a_literal_and_a_template_is_jinja() {
        let body = check("[target.a]\ncontext = \"${X}\"\ntags = [\"r/{{ X }}\"]\n");
        let attrs = &body.blocks[0].body.attrs;
        assert_eq!(attrs[0].expr.as_literal_str().as_deref(), Some("${X}"));
        let ExprKind::Array(items) = &attrs[1].expr.kind else {
            panic!()
        };
        assert!(matches!(&items[0].kind, ExprKind::Jinja(j) if j.text == "r/{{ X }}"));
    }

    #[test]
    fn escapes_keep_offsets_into_the_source() {
        let text = "[target.a]\ncontext = \"\\u00e9{{ X }}\"\n";
        let body = check(text);
        let ExprKind::Jinja(j) = &body.blocks[0].body.attrs[0].expr.kind else {
            panic!()
        };
        let at = j.text.find('X').unwrap();
        assert_eq!(&text[j.span_of(FileId(0), at..at + 1).range()], "X");
    }

    #[test]
    fn multiline_strings_map_back() {
        let text = "[target.a]\ndockerfile-inline = \"\"\"\nFROM {{ BASE }}\n\"\"\"\n";
        let body = check(text);
        let ExprKind::Jinja(j) = &body.blocks[0].body.attrs[0].expr.kind else {
            panic!()
        };
        assert_eq!(j.text, "FROM {{ BASE }}\n");
        let at = j.text.find("BASE").unwrap();
        assert_eq!(&text[j.span_of(FileId(0), at..at + 4).range()], "BASE");
    }

    #[test]
    fn local_tag_stays_a_literal() {
        let body = check("[target.a]\nlocal-tag = \"{{ tag }}-{{ arch }}\"\n");
        assert!(body.blocks[0].body.attrs[0].expr.as_literal_str().is_some());
    }

    #[test]
    fn variable_types_parse_inside_the_string() {
        let text = "[variable.P]\ntype = \"list(string)\"\n";
        let body = check(text);
        let e = &body.blocks[0].body.attrs[0].expr;
        let ExprKind::Call(c) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(c.name, "list");
        assert_eq!(&text[c.args[0].span.range()], "string");
    }

    #[test]
    fn validations_are_blocks() {
        let body =
            check("[variable.V]\n[[variable.V.validation]]\ncondition = \"{{ V != '' }}\"\n");
        assert_eq!(body.blocks[0].body.blocks[0].kind, "validation");
    }

    #[test]
    fn syntax_error_points_at_the_parser_position() {
        let text = "[target.a]\ncontext = \n";
        let d = check_err(text);
        assert_eq!(d.code, "syntax::toml");
        assert_eq!(d.primary().unwrap().start, 21);
    }

    #[test]
    fn function_blocks_are_rejected() {
        let d = check_err("[function.f]\nresult = 1\n");
        assert!(d.message.contains("function"));
    }

    #[test]
    fn unescape_handles_the_four_string_forms() {
        assert_eq!(unescape("'a\\b'").unwrap().0, "a\\b");
        assert_eq!(unescape("\"a\\tb\"").unwrap().0, "a\tb");
        assert_eq!(unescape("'''\nx'''").unwrap().0, "x");
        assert_eq!(unescape("\"\"\"a \\\n   b\"\"\"").unwrap().0, "a b");
    }
}
