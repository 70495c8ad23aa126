//! Regular-expression builtins: `regex`, `regexall` and `regex_replace`.
//!
//! cty uses Go's RE2 engine. Rust's `regex` crate accepts nearly the same syntax, with two
//! differences worth bridging: Go's `\d`, `\w`, `\s` and `\b` are ASCII-only where Rust's
//! are Unicode-aware, and Go supports `\Q…\E` literal quoting. Patterns are rewritten
//! before compiling so that matches agree with buildx.

use std::collections::BTreeMap;

use ::regex::{Captures, Regex};

use super::args::{arg_error, arg_str};
use super::{Env, Value};

pub(super) fn regex(_: &Env, args: &[Value]) -> Result<Value, String> {
    let pattern = arg_str(args, 0, "pattern")?;
    let s = arg_str(args, 1, "string")?;
    let (re, shape) = compile_for_captures(&pattern)?;
    let caps = re
        .captures(&s)
        .ok_or("pattern did not match any part of the given string")?;
    Ok(capture_value(&re, &caps, shape))
}

pub(super) fn regexall(_: &Env, args: &[Value]) -> Result<Value, String> {
    let pattern = arg_str(args, 0, "pattern")?;
    let s = arg_str(args, 1, "string")?;
    let (re, shape) = compile_for_captures(&pattern)?;
    let all = re
        .captures_iter(&s)
        .map(|caps| capture_value(&re, &caps, shape))
        .collect();
    Ok(Value::List(all))
}

/// Go's `ReplaceAllString`, whose `$1` and `${name}` expansion Rust's `replace_all` shares.
pub(super) fn regex_replace(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let pattern = arg_str(args, 1, "pattern")?;
    let replacement = arg_str(args, 2, "replace")?;
    let re = compile(&pattern).map_err(|e| format!("error parsing regexp: {e}: `{pattern}`"))?;
    Ok(Value::String(
        re.replace_all(&s, replacement.as_str()).into_owned(),
    ))
}

/// What a match returns: the whole match without groups, a tuple of unnamed groups, or an
/// object of named groups. cty refuses patterns that mix the two kinds of group.
#[derive(Clone, Copy)]
enum Shape {
    Whole,
    Tuple,
    Object,
}

fn compile_for_captures(pattern: &str) -> Result<(Regex, Shape), String> {
    let re = compile(pattern)
        .map_err(|e| arg_error("pattern", format!("invalid regexp pattern: {e}")))?;
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    let named = names.iter().filter(|n| n.is_some()).count();
    let shape = match (named, names.len() - named) {
        (0, 0) => Shape::Whole,
        (0, _) => Shape::Tuple,
        (_, 0) => Shape::Object,
        _ => {
            let msg = "invalid regexp pattern: cannot mix both named and unnamed capture groups";
            return Err(arg_error("pattern", msg));
        }
    };
    Ok((re, shape))
}

/// Groups that took no part in the match are null, as in cty.
fn capture_value(re: &Regex, caps: &Captures, shape: Shape) -> Value {
    let group = |i: usize| {
        caps.get(i)
            .map_or(Value::Null, |m| Value::string(m.as_str()))
    };
    match shape {
        Shape::Whole => group(0),
        Shape::Tuple => Value::List((1..caps.len()).map(group).collect()),
        Shape::Object => {
            let fields: BTreeMap<String, Value> = re
                .capture_names()
                .enumerate()
                .filter_map(|(i, name)| name.map(|n| (n.to_string(), group(i))))
                .collect();
            Value::Map(fields)
        }
    }
}

/// Compiles a Go pattern, reducing the crate's multi-line diagnostic to its last line.
fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(&translate(pattern)).map_err(|e| {
        let text = e.to_string();
        let last = text.lines().last().unwrap_or_default();
        last.trim_start_matches("error: ").to_string()
    })
}

/// Rewrites Go-only syntax into equivalent Rust syntax; everything else passes through.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    // Right after `[` or `[^`, a `]` is a literal member rather than the class's end.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if e == 'Q' {
                    push_quoted(&mut out, &mut chars, in_class);
                } else {
                    out.push_str(&ascii_escape(e, in_class));
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class such as `[:alpha:]` nests inside a bracket expression.
                out.push('[');
                for n in chars.by_ref() {
                    out.push(n);
                    if n == ']' {
                        break;
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's Perl classes and word boundaries are ASCII-only.
fn ascii_escape(e: char, in_class: bool) -> String {
    let members = match e {
        'd' => r"0-9",
        'D' => r"\x00-\x2F\x3A-\x{10FFFF}",
        'w' => r"0-9A-Za-z_",
        'W' => r"\x00-\x2F\x3A-\x40\x5B-\x5E\x60\x7B-\x{10FFFF}",
        's' => r"\t\n\x0C\r\x20",
        'S' => r"\x00-\x08\x0B\x0E-\x1F\x21-\x{10FFFF}",
        'b' | 'B' if !in_class => return format!("(?-u:\\{e})"),
        e => return format!("\\{e}"),
    };
    if in_class {
        members.to_string()
    } else {
        format!("[{members}]")
    }
}

/// Copies the text of `\Q…\E` as escaped literals.
fn push_quoted(out: &mut String, chars: &mut std::iter::Peekable<std::str::Chars>, in_class: bool) {
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'E') {
            chars.next();
            return;
        }
        if in_class || !c.is_alphanumeric() {
            out.push_str(&::regex::escape(&c.to_string()));
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, s};
    use super::*;

    #[test]
    fn conformance_013_regex_replace() {
        assert_eq!(
            call(
                "regex_replace",
                &[s("refs/tags/v1.8.2-beta"), s("^refs/tags/v"), s("")]
            ),
            Ok(s("1.8.2-beta"))
        );
    }

    #[test]
    fn corpus_patterns() {
        // frappe_docker and jenkinsci/docker-agent use these.
        assert_eq!(
            call("regex", &[s("(v[0-9]+)[.]"), s("v15.2.0")]),
            Ok(Value::List(vec![s("v15")]))
        );
        assert_eq!(
            call("regex_replace", &[s("3.19.1"), s("\\.\\d+$"), s("")]),
            Ok(s("3.19"))
        );
    }

    #[test]
    fn match_shapes() {
        assert_eq!(call("regex", &[s("h.llo"), s("hello")]), Ok(s("hello")));
        let named = call(
            "regex",
            &[s("(?P<major>\\d+)\\.(?P<minor>\\d+)?x?"), s("1.x")],
        )
        .unwrap();
        let mut want = BTreeMap::new();
        want.insert("major".to_string(), s("1"));
        want.insert("minor".to_string(), Value::Null);
        assert_eq!(named, Value::Map(want));
        assert_eq!(
            call("regexall", &[s("[a-z]+"), s("abc123xyz")]),
            Ok(Value::List(vec![s("abc"), s("xyz")]))
        );
        assert_eq!(
            call("regexall", &[s("q"), s("abc")]),
            Ok(Value::List(vec![]))
        );
    }

    #[test]
    fn regex_errors() {
        assert_eq!(
            call("regex", &[s("z"), s("abc")]),
            Err("pattern did not match any part of the given string".into())
        );
        assert_eq!(
            call("regex", &[s("(a)(?P<b>b)"), s("ab")]),
            Err("invalid value for \"pattern\" parameter: invalid regexp pattern: cannot mix both named and unnamed capture groups".into())
        );
        assert_eq!(
            call("regex", &[s("(abc"), s("abc")]),
            Err(
                "invalid value for \"pattern\" parameter: invalid regexp pattern: unclosed group"
                    .into()
            )
        );
        assert_eq!(
            call("regex_replace", &[s("a"), s("("), s("")]),
            Err("error parsing regexp: unclosed group: `(`".into())
        );
    }

    #[test]
    fn go_classes_are_ascii() {
        assert_eq!(
            call("regexall", &[s("\\d"), s("1٣")]),
            Ok(Value::List(vec![s("1")]))
        );
        assert_eq!(
            call("regexall", &[s("[\\w-]+"), s("a-b é")]),
            Ok(Value::List(vec![s("a-b")]))
        );
        assert_eq!(call("regex", &[s("\\Qa.b\\E"), s("xa.b")]), Ok(s("a.b")));
        assert_eq!(call("regex", &[s("[]a]+"), s("x]a]")]), Ok(s("]a]")));
        assert_eq!(call("regex", &[s("[[:digit:]x]+"), s("-x1-")]), Ok(s("x1")));
    }

    #[test]
    fn replacement_expands_groups() {
        assert_eq!(
            call("regex_replace", &[s("a-b"), s("(\\w)-(\\w)"), s("$2+${1}")]),
            Ok(s("b+a"))
        );
    }
}
