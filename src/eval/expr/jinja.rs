//! `build.toml` templates. minijinja renders a string with the names it uses, each asked of
//! the same [`Resolver`](super::Resolver) as an HCL expression (matrix values first, then
//! variables, global attributes and built-ins), through a small set of filters that call the
//! bake functions they mirror. An undefined name is an error, never an empty string.
//!
//! A string that is exactly one `{{ expression }}` yields the expression's value unconverted
//! (a list variable stays a list), as `"${x}"` does in HCL; any other template renders to a
//! string, and, as in HCL, interpolating null or a collection is an error.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as J};

use super::{Evaluator, R};
use crate::base::did_you_mean;
use crate::eval::stdlib;
use crate::eval::value::{Kind, Number, Value};
use crate::source::{Diag, FileId, Span};
use crate::syntax::ast::Jinja;

/// The filters a template may use, with what each does; `docs/toml.md` lists them from here.
pub const FILTERS: &[(&str, &str)] = &[
    ("lower", "`{{ s | lower }}`: bake's `lower(s)`."),
    ("upper", "`{{ s | upper }}`: bake's `upper(s)`."),
    (
        "replace",
        "`{{ s | replace(\"/\", \"-\") }}`: bake's `replace(s, old, new)` (`/regex/` too).",
    ),
    (
        "join",
        "`{{ list | join(\",\") }}`: bake's `join(sep, list)`.",
    ),
    (
        "split",
        "`{{ s | split(\",\") }}`: bake's `split(sep, s)`, a list.",
    ),
    (
        "trim",
        "`{{ s | trim }}`: bake's `trimspace(s)`; `{{ s | trim(\"/\") }}`: bake's `trim(s, chars)`.",
    ),
    (
        "default",
        "`{{ s | default(\"x\") }}`: `x` when `s` is undefined, null or empty (bake's `coalesce`).",
    ),
    (
        "sanitize",
        "`{{ s | sanitize }}`: bake's `sanitize(s)`, a tag-safe string (`feature/x` → `feature_x`).",
    ),
];

/// Tests usable after `is`, e.g. `{% if NAME is defined %}`.
pub const TESTS: &[&str] = &["defined", "undefined", "none"];

/// Why the formatter refused a value, carried as the source of its error.
#[derive(Debug)]
struct Interpolated(Kind);

impl std::fmt::Display for Interpolated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot interpolate a {}", self.0)
    }
}

impl std::error::Error for Interpolated {}

impl Evaluator<'_> {
    /// Renders one template (see the module documentation).
    pub(super) fn jinja(&mut self, t: &Jinja, span: Span) -> R {
        let env = environment();
        let file = span.file;
        if let Some(inner) = single_expression(&t.text) {
            let expr = env
                .compile_expression(&t.text[inner.clone()])
                .map_err(|e| syntax_error(t, file, &e, inner.start))?;
            let (ctx, missing) = self.jinja_context(t, span, expr.undeclared_variables(false))?;
            return match expr.eval(ctx) {
                Ok(v) if v.is_undefined() => Err(match missing.first() {
                    Some(name) => self.undefined(t, file, name, None),
                    None => Diag::error("eval::template_failed", "the expression is undefined")
                        .label(t.span_of(file, inner), "undefined")
                        .help("check the names used here"),
                }),
                Ok(v) => Ok(from_jinja(&v)),
                Err(e) => Err(self.render_error(t, file, &e, inner.start, &missing)),
            };
        }
        let tpl = env
            .template_from_str(&t.text)
            .map_err(|e| syntax_error(t, file, &e, 0))?;
        let (ctx, missing) = self.jinja_context(t, span, tpl.undeclared_variables(false))?;
        tpl.render(ctx)
            .map(Value::String)
            .map_err(|e| self.render_error(t, file, &e, 0, &missing))
    }

    /// The names a template uses, with their values; names nobody defines are returned
    /// apart, so that an error about them can say so (a `{% if X is defined %}` guard may
    /// still make their absence fine).
    fn jinja_context(
        &mut self,
        t: &Jinja,
        span: Span,
        names: HashSet<String>,
    ) -> Result<(J, Vec<String>), Diag> {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort_by_key(|n| find_name(&t.text, n, None).map_or(usize::MAX, |r| r.start));
        let mut ctx = BTreeMap::new();
        let mut missing = Vec::new();
        for name in names {
            if let Some(v) = self.local(&name) {
                ctx.insert(name, to_jinja(v));
                continue;
            }
            let at = find_name(&t.text, &name, None).map_or(span, |r| t.span_of(span.file, r));
            match self.resolver.global(&name, at) {
                Some(Ok(v)) => {
                    ctx.insert(name, to_jinja(&v));
                }
                Some(Err(d)) => return Err(d),
                None => missing.push(name),
            }
        }
        Ok((J::from_pairs(ctx), missing))
    }

    fn undefined(&self, t: &Jinja, file: FileId, name: &str, near: Option<Range<usize>>) -> Diag {
        let r = find_name(&t.text, name, near.clone())
            .or(near)
            .unwrap_or(0..t.text.len());
        let mut known = self.resolver.global_names();
        known.extend(self.locals.iter().map(|(n, _)| n.clone()));
        let help = if self.resolver.is_block_type(name) {
            format!(
                "templates in build.toml see variables and matrix values, not `{name}` blocks; read the value from a variable both use"
            )
        } else {
            match did_you_mean(name, known.iter().map(String::as_str)) {
                Some(s) => format!(
                    "did you mean `{s}`? Otherwise declare it: `[variable.{name}]` with `default = \"...\"`"
                ),
                None => format!(
                    "declare it: `[variable.{name}]` with `default = \"...\"`, set it in the environment, or guard it with `{{% if {name} is defined %}}`"
                ),
            }
        };
        Diag::error(
            "eval::undefined_variable",
            format!("variable `{name}` is not defined"),
        )
        .label(t.span_of(file, r), "not defined")
        .help(help)
    }

    fn render_error(
        &self,
        t: &Jinja,
        file: FileId,
        e: &Error,
        offset: usize,
        missing: &[String],
    ) -> Diag {
        let range = e.range().map(|r| r.start + offset..r.end + offset);
        let at = t.span_of(file, range.clone().unwrap_or(0..t.text.len()));
        let detail = e.detail().unwrap_or("").to_string();
        if let Some(Interpolated(kind)) =
            std::error::Error::source(e).and_then(|s| s.downcast_ref())
        {
            return if *kind == Kind::Null {
                Diag::error("eval::null_interpolation", "cannot interpolate a null value")
                    .label(at, "this is null")
                    .help("give the variable a default, or write `{{ x | default(\"\") }}` to turn null into an empty string")
            } else {
                Diag::error(
                    "eval::type_mismatch",
                    format!("the interpolation must be a string, not a {kind}"),
                )
                .label(at, format!("this is a {kind}"))
                .help("make the whole string this one `{{ ... }}` to use the value itself, or `join` a list into a string")
            };
        }
        match e.kind() {
            ErrorKind::UndefinedError => {
                let named = undefined_name(&detail);
                let name = named
                    .filter(|n| missing.iter().any(|m| m == n))
                    .or_else(|| {
                        missing.iter().map(String::as_str).find(|m| {
                            range.clone().is_some_and(|r| {
                                find_name(&t.text, m, Some(r.clone()))
                                    .is_some_and(|f| f.start >= r.start && f.end <= r.end)
                            })
                        })
                    })
                    .or_else(|| missing.first().map(String::as_str));
                match name {
                    Some(n) => self.undefined(t, file, n, range),
                    None => Diag::error(
                        "eval::unsupported_attribute",
                        detail.replace("is undefined", "does not exist"),
                    )
                    .label(at, "undefined")
                    .help("check the attribute or index against the value's contents"),
                }
            }
            ErrorKind::UnknownFilter => {
                let name = range.clone().map_or("", |r| &t.text[r]).to_string();
                let help = match did_you_mean(&name, FILTERS.iter().map(|f| f.0)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "build.toml templates have the filters {}",
                        crate::spec::list(&FILTERS.iter().map(|f| f.0).collect::<Vec<_>>())
                    ),
                };
                Diag::error(
                    "eval::unknown_filter",
                    format!("there is no filter named `{name}`"),
                )
                .label(at, "unknown filter")
                .help(help)
            }
            _ => Diag::error(
                "eval::template_failed",
                format!(
                    "the template failed: {}",
                    if detail.is_empty() {
                        e.kind().to_string()
                    } else {
                        detail
                    }
                ),
            )
            .label(at, "here")
            .help(format!(
                "see the filters and tests build.toml templates have in docs/toml.md; tests: {}",
                crate::spec::list(TESTS)
            )),
        }
    }
}

/// The minijinja environment every template renders in: strict about undefined names,
/// without minijinja's own filters (only [`FILTERS`], which behave like bake's functions),
/// and formatting values as HCL interpolation does.
fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::empty();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_debug(true);
    // A TOML string's final newline is part of its value (an inline Dockerfile's, say).
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    if let Ok(config) = syntax.build() {
        env.set_syntax(config);
    }
    env.set_formatter(|out, _state, v| {
        let text = match v.kind() {
            ValueKind::String => v.as_str().unwrap_or_default().to_string(),
            ValueKind::Bool => v.is_true().to_string(),
            ValueKind::Number => match from_jinja(v) {
                Value::Number(n) => n.to_string(),
                _ => v.to_string(),
            },
            ValueKind::None | ValueKind::Undefined => return Err(interpolated(Kind::Null)),
            ValueKind::Seq | ValueKind::Iterable => return Err(interpolated(Kind::List)),
            ValueKind::Map => return Err(interpolated(Kind::Map)),
            _ => v.to_string(),
        };
        out.write_str(&text)
            .map_err(|_| Error::from(ErrorKind::WriteFailure))
    });
    env.add_filter("lower", |s: J| bake("lower", &[arg(&s)?]));
    env.add_filter("upper", |s: J| bake("upper", &[arg(&s)?]));
    env.add_filter("replace", |s: J, old: J, new: J| {
        bake("replace", &[arg(&s)?, arg(&old)?, arg(&new)?])
    });
    env.add_filter("join", |list: J, sep: Option<J>| {
        let sep = sep.as_ref().map(arg).transpose()?;
        bake(
            "join",
            &[sep.unwrap_or(Value::String(String::new())), arg(&list)?],
        )
    });
    env.add_filter("split", |s: J, sep: J| {
        bake("split", &[arg(&sep)?, arg(&s)?])
    });
    env.add_filter("trim", |s: J, chars: Option<J>| match chars {
        None => bake("trimspace", &[arg(&s)?]),
        Some(c) => bake("trim", &[arg(&s)?, arg(&c)?]),
    });
    env.add_filter("sanitize", |s: J| bake("sanitize", &[arg(&s)?]));
    env.add_filter("default", |v: J, fallback: Option<J>| -> Result<J, Error> {
        if v.is_undefined() || v.is_none() || v.as_str() == Some("") {
            Ok(fallback.unwrap_or_else(|| J::from("")))
        } else {
            Ok(v)
        }
    });
    env.add_test("defined", minijinja::tests::is_defined);
    env.add_test("undefined", minijinja::tests::is_undefined);
    env.add_test("none", minijinja::tests::is_none);
    env
}

fn interpolated(kind: Kind) -> Error {
    Error::new(ErrorKind::InvalidOperation, Interpolated(kind).to_string())
        .with_source(Interpolated(kind))
}

/// Calls the bake function a filter mirrors.
fn bake(name: &str, args: &[Value]) -> Result<J, Error> {
    let f = stdlib::lookup(name).ok_or_else(|| Error::from(ErrorKind::UnknownFilter))?;
    (f.call)(&stdlib::Env::default(), args)
        .map(|v| to_jinja(&v))
        .map_err(|msg| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`{name}` failed: {msg}"),
            )
        })
}

/// A filter's input; an undefined one is the undefined-name error strict mode promises.
fn arg(v: &J) -> Result<Value, Error> {
    if v.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    Ok(from_jinja(v))
}

fn syntax_error(t: &Jinja, file: FileId, e: &Error, offset: usize) -> Diag {
    let r = e
        .range()
        .map_or(0..t.text.len(), |r| r.start + offset..r.end + offset);
    Diag::error(
        "eval::template_syntax",
        format!("invalid template: {}", e.detail().unwrap_or("syntax error")),
    )
    .label(t.span_of(file, r), "here")
    .help("check the `{{ ... }}` and `{% ... %}` pairs in this string; write `{{ '{{' }}` for a literal `{{`")
}

/// The byte range of the expression when the whole text is one `{{ expression }}`.
fn single_expression(text: &str) -> Option<Range<usize>> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let nested = ["{{", "}}", "{%", "%}", "{#"]
        .iter()
        .any(|m| inner.contains(m));
    let trims = inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']);
    if nested || trims || inner.trim().is_empty() {
        return None;
    }
    Some(2..text.len() - 2)
}

/// The name minijinja's "`NAME.attr` is undefined" detail starts with.
fn undefined_name(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix('`')?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Where `name` appears in `text` as a whole identifier, preferring an occurrence inside
/// `within`.
fn find_name(text: &str, name: &str, within: Option<Range<usize>>) -> Option<Range<usize>> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let all: Vec<Range<usize>> = text
        .match_indices(name)
        .map(|(i, _)| i..i + name.len())
        .filter(|r| {
            !text[..r.start].chars().next_back().is_some_and(is_ident)
                && !text[r.end..].chars().next().is_some_and(is_ident)
        })
        .collect();
    if let Some(w) = within
        && let Some(r) = all.iter().find(|r| r.start >= w.start && r.end <= w.end)
    {
        return Some(r.clone());
    }
    all.into_iter().next()
}

/// A value as minijinja sees it: whole numbers become integers, so `{{ 2 }}` renders `2`.
pub fn to_jinja(v: &Value) -> J {
    match v {
        Value::Null => J::from(()),
        Value::Bool(b) => J::from(*b),
        Value::Number(n) => match n.to_i64() {
            Some(i) => J::from(i),
            None => J::from(n.to_f64()),
        },
        Value::String(s) => J::from(s.as_str()),
        Value::List(items) => J::from(items.iter().map(to_jinja).collect::<Vec<_>>()),
        Value::Map(m) => J::from_pairs(m.iter().map(|(k, v)| (k.as_str(), to_jinja(v)))),
    }
}

/// A minijinja value back as a bake value.
pub fn from_jinja(v: &J) -> Value {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Value::Null,
        ValueKind::Bool => Value::Bool(v.is_true()),
        ValueKind::Number => match v.as_i64() {
            Some(i) => Value::int(i),
            None => f64::try_from(v.clone())
                .ok()
                .and_then(|f| Number::float(f).ok())
                .map_or(Value::Null, Value::Number),
        },
        ValueKind::String => Value::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => Value::List(
            v.try_iter()
                .map(|items| items.map(|x| from_jinja(&x)).collect())
                .unwrap_or_default(),
        ),
        ValueKind::Map => {
            let mut m = BTreeMap::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let item = v.get_item(&k).unwrap_or_default();
                    m.insert(
                        k.as_str().map_or_else(|| k.to_string(), str::to_string),
                        from_jinja(&item),
                    );
                }
            }
            Value::Map(m)
        }
        _ => Value::String(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::expr::{Resolver, UserFunction};
    use crate::syntax::ast::{Expr, ExprKind};

    /// Globals `VERSION = "1.0"`, `LIST = ["a", "b"]`, `EMPTY = ""`, `NOTHING = null`.
    struct Globals;

    impl Resolver for Globals {
        fn global(&mut self, name: &str, _at: Span) -> Option<Result<Value, Diag>> {
            let v = match name {
                "VERSION" => Value::string("1.0"),
                "LIST" => Value::List(vec![Value::string("a"), Value::string("b")]),
                "EMPTY" => Value::string(""),
                "NOTHING" => Value::Null,
                _ => return None,
            };
            Some(Ok(v))
        }
        fn is_block_type(&self, name: &str) -> bool {
            name == "target"
        }
        fn block_attr(&mut self, _: &str, _: &str, _: &str, at: Span) -> Result<Value, Diag> {
            Err(Diag::error("test", "no blocks").label(at, ""))
        }
        fn user_function(&mut self, _: &str) -> Option<Result<std::rc::Rc<UserFunction>, Diag>> {
            None
        }
        fn global_names(&self) -> Vec<String> {
            ["VERSION", "LIST", "EMPTY", "NOTHING"]
                .map(String::from)
                .to_vec()
        }
    }

    fn eval(text: &str) -> Result<Value, Diag> {
        let expr = Expr::new(
            ExprKind::Jinja(Box::new(Jinja {
                text: text.to_string(),
                offsets: (0..=text.len() as u32).collect(),
            })),
            Span::new(FileId(0), 0..text.len()),
        );
        let env = stdlib::Env::default();
        let mut g = Globals;
        let mut ev = Evaluator::new(&mut g, &env);
        ev.push("os", Value::string("linux/arm64"));
        ev.eval(&expr)
    }

    fn check(text: &str, want: &str) {
        match eval(text) {
            Ok(v) => assert_eq!(
                v.to_str().unwrap_or_else(|| format!("{v:?}")),
                want,
                "{text}"
            ),
            Err(d) => panic!("{text}: {} at {:?}", d.message, d.primary()),
        }
    }

    fn check_diag(text: &str, code: &str, underlined: &str) {
        let d = eval(text).expect_err("an error");
        assert_eq!(d.code, code, "{text}: {}", d.message);
        assert_eq!(
            &text[d.primary().expect("a label").range()],
            underlined,
            "{text}"
        );
    }

    #[test]
    fn renders_variables_and_matrix_values() {
        check(
            "r/app:{{ VERSION }}-{{ os | replace('/', '-') }}",
            "r/app:1.0-linux-arm64",
        );
    }

    #[test]
    fn one_expression_keeps_its_type() {
        assert_eq!(
            eval("{{ LIST }}").unwrap(),
            Value::List(vec![Value::string("a"), Value::string("b")])
        );
        assert_eq!(eval("{{ VERSION == '1.0' }}").unwrap(), Value::Bool(true));
        assert_eq!(eval("{{ NOTHING }}").unwrap(), Value::Null);
    }

    #[test]
    fn filters_behave_like_bake_functions() {
        check("{{ LIST | join(',') | upper }}", "A,B");
        check("{{ 'a,b' | split(',') | join('+') }}", "a+b");
        check("{{ '  x ' | trim }}", "x");
        check("{{ '/x/' | trim('/') }}", "x");
        check("{{ EMPTY | default('dev') }}", "dev");
        check("{{ 'feature/New.x' | sanitize }}", "feature_New_x");
        check("{% if MISSING is defined %}y{% else %}n{% endif %}", "n");
        check("{{ 2 }}-{{ 1.5 }}-{{ true }}", "2-1.5-true");
    }

    #[test]
    fn undefined_names_point_at_themselves() {
        check_diag("a {{ VERSON }} b", "eval::undefined_variable", "VERSON");
        check_diag(
            "a {{ MISSING | lower }} b",
            "eval::undefined_variable",
            "MISSING",
        );
        check_diag("{{ MISSING }}", "eval::undefined_variable", "MISSING");
    }

    #[test]
    fn bad_filters_and_syntax_point_inside() {
        check_diag("x {{ VERSION | lowr }}", "eval::unknown_filter", "lowr");
        check_diag("x {{ VERSION }", "eval::template_syntax", "}");
        check_diag("x {{ NOTHING }}", "eval::null_interpolation", "NOTHING");
        check_diag("x {{ LIST }}", "eval::type_mismatch", "LIST");
    }
}
