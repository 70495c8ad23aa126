//! Argument conversion shared by every builtin.
//!
//! Before calling a cty function, HCL converts each argument to its parameter's type and
//! rejects nulls unless the parameter allows them. These helpers do the same conversions and
//! produce the same messages, so each builtin only states which type it wants.

use std::collections::BTreeMap;
use std::fmt::Display;

use super::super::value::{Kind, Number};
use super::Value;

/// The largest string or list a builtin may build. Calls such as `indent(1e9, s)` or a huge
/// `setproduct` then fail with a message instead of exhausting memory.
pub(super) const MAX_RESULT_LEN: usize = 16 << 20;

/// HCL's wording for an error that concerns one parameter.
pub(super) fn arg_error(name: &str, msg: impl Display) -> String {
    format!("invalid value for \"{name}\" parameter: {msg}")
}

/// cty's friendly name of a value's type. HCL literals build tuples and objects, which is
/// what lists and maps most often are, so messages name them that way.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "tuple",
        Value::Map(_) => "object",
    }
}

/// Quotes a string the way Go's `%q` does, for messages that embed user text.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_go_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Quotes one character the way Go's `%q` does for a rune.
pub(super) fn quote_char(c: char) -> String {
    let mut out = String::from("'");
    push_go_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

fn push_go_escaped(out: &mut String, c: char, delim: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\u{b}' => out.push_str("\\v"),
        c if c == delim => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push(c),
    }
}

/// The argument at `i`, which must not be null.
pub(super) fn arg<'a>(args: &'a [Value], i: usize, name: &str) -> Result<&'a Value, String> {
    match args.get(i) {
        None => Err(arg_error(name, "argument is missing")),
        Some(Value::Null) => Err(arg_error(name, "argument must not be null")),
        Some(v) => Ok(v),
    }
}

/// The argument at `i` converted to a string.
pub(super) fn arg_str(args: &[Value], i: usize, name: &str) -> Result<String, String> {
    to_string(arg(args, i, name)?).map_err(|e| arg_error(name, e))
}

/// The argument at `i` converted to a number.
pub(super) fn arg_num(args: &[Value], i: usize, name: &str) -> Result<Number, String> {
    to_number(arg(args, i, name)?).map_err(|e| arg_error(name, e))
}

/// The argument at `i` converted to a bool.
pub(super) fn arg_bool(args: &[Value], i: usize, name: &str) -> Result<bool, String> {
    to_bool(arg(args, i, name)?).map_err(|e| arg_error(name, e))
}

/// The argument at `i` converted to a number and then to a Go `int`, which is how most cty
/// functions read counts and indices. The conversion error is not tied to the parameter,
/// as in cty, where it comes from the function body rather than from HCL.
pub(super) fn arg_int(args: &[Value], i: usize, name: &str) -> Result<i64, String> {
    whole(&arg_num(args, i, name)?)
}

/// The argument at `i`, which must be a list or tuple; `msg` is the function's own wording.
pub(super) fn arg_seq<'a>(
    args: &'a [Value],
    i: usize,
    name: &str,
    msg: &str,
) -> Result<&'a [Value], String> {
    arg(args, i, name)?
        .as_list()
        .ok_or_else(|| arg_error(name, msg))
}

/// The argument at `i`, which must be a map or object; `msg` is the function's own wording.
pub(super) fn arg_map<'a>(
    args: &'a [Value],
    i: usize,
    name: &str,
    msg: &str,
) -> Result<&'a BTreeMap<String, Value>, String> {
    arg(args, i, name)?
        .as_map()
        .ok_or_else(|| arg_error(name, msg))
}

/// The argument at `i` converted to `list(string)`. Null elements survive the conversion, as
/// in cty, so each function decides what a null element means.
pub(super) fn arg_str_list(
    args: &[Value],
    i: usize,
    name: &str,
) -> Result<Vec<Option<String>>, String> {
    let items = match arg(args, i, name)? {
        Value::List(items) => items,
        Value::Map(_) => return Err(arg_error(name, "list of string required")),
        other => {
            let msg = format!("list of string required, but have {}", type_name(other));
            return Err(arg_error(name, msg));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(n, v)| match v {
            Value::Null => Ok(None),
            v => to_string(v)
                .map(Some)
                .map_err(|e| arg_error(name, format!("element {n}: {e}"))),
        })
        .collect()
}

/// The argument at `i` converted to `list(any)`: a list whose elements share one type.
pub(super) fn arg_uniform_list(args: &[Value], i: usize, name: &str) -> Result<Vec<Value>, String> {
    let items = match arg(args, i, name)? {
        Value::List(items) => items,
        Value::Map(_) => return Err(arg_error(name, "list of any single type required")),
        other => {
            let msg = format!(
                "list of any single type required, but have {}",
                type_name(other)
            );
            return Err(arg_error(name, msg));
        }
    };
    unify(items).ok_or_else(|| arg_error(name, "all list elements must have the same type"))
}

/// cty's conversion to string: primitives convert, everything else is a type mismatch.
pub(super) fn to_string(v: &Value) -> Result<String, String> {
    v.to_str()
        .ok_or_else(|| format!("string required, but have {}", type_name(v)))
}

/// cty's conversion to number, with its messages for strings that are not numbers and for
/// values of the wrong type.
pub(super) fn to_number(v: &Value) -> Result<Number, String> {
    match v {
        Value::String(_) => v
            .to_number()
            .ok_or_else(|| "a number is required".to_string()),
        Value::Number(n) => Ok(n.clone()),
        other => Err(format!("number required, but have {}", type_name(other))),
    }
}

/// cty's conversion to bool. Besides `true` and `false`, cty accepts the strings `1` and `0`.
pub(super) fn to_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => Err(format!(
                "a bool is required; to convert from string, use lowercase \"{}\"",
                s.to_ascii_lowercase()
            )),
            _ => Err("a bool is required".to_string()),
        },
        other => Err(format!("bool required, but have {}", type_name(other))),
    }
}

/// Converts a number to a Go `int` the way cty's `gocty` does, rejecting fractions and
/// values outside the 64-bit range.
pub(super) fn whole(n: &Number) -> Result<i64, String> {
    n.to_i64().ok_or_else(|| {
        format!(
            "value must be a whole number, between {} and {}",
            i64::MIN,
            i64::MAX
        )
    })
}

/// Unifies the elements of a collection to one type, as cty does when a tuple becomes a list
/// or set. Mixed primitives unify to string when a string is among them; any other mix of
/// types cannot be unified. Nulls fit any type.
pub(super) fn unify(items: &[Value]) -> Option<Vec<Value>> {
    let mut kinds = items.iter().filter(|v| !v.is_null()).map(Value::kind);
    let Some(first) = kinds.next() else {
        return Some(items.to_vec());
    };
    let mut has_string = false;
    let mut all_primitive = true;
    let mut same = true;
    for kind in std::iter::once(first).chain(kinds) {
        same &= kind == first;
        has_string |= kind == Kind::String;
        all_primitive &= !matches!(kind, Kind::List | Kind::Map);
    }
    if same {
        return Some(items.to_vec());
    }
    if !(all_primitive && has_string) {
        return None;
    }
    // Every non-null item is a primitive here, so only nulls lack a string form.
    Some(
        items
            .iter()
            .map(|v| v.to_str().map_or(Value::Null, Value::String))
            .collect(),
    )
}

/// Refuses a result that would exceed [`MAX_RESULT_LEN`].
pub(super) fn check_size(len: usize, what: &str) -> Result<(), String> {
    if len > MAX_RESULT_LEN {
        Err(format!(
            "the {what} would be too large ({len} elements or bytes, at most {MAX_RESULT_LEN})"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_cty() {
        assert_eq!(to_string(&Value::num(1.5)), Ok("1.5".into()));
        assert_eq!(
            to_string(&Value::List(vec![])),
            Err("string required, but have tuple".into())
        );
        assert_eq!(
            to_number(&Value::string("x")),
            Err("a number is required".into())
        );
        assert_eq!(
            to_number(&Value::Bool(true)),
            Err("number required, but have bool".into())
        );
        assert_eq!(to_bool(&Value::string("1")), Ok(true));
        assert_eq!(
            to_bool(&Value::string("True")),
            Err("a bool is required; to convert from string, use lowercase \"true\"".into())
        );
    }

    #[test]
    fn whole_numbers_only() {
        let n = |s: &str| Number::parse(s).expect("parses");
        assert_eq!(whole(&n("3")), Ok(3));
        assert!(whole(&n("3.5")).is_err());
        assert!(whole(&n("inf")).is_err());
        assert!(whole(&n("1e19")).is_err());
        assert_eq!(whole(&n("-9223372036854775808")), Ok(i64::MIN));
    }

    #[test]
    fn null_and_missing_arguments_are_rejected() {
        assert_eq!(
            arg_str(&[Value::Null], 0, "str"),
            Err("invalid value for \"str\" parameter: argument must not be null".into())
        );
        assert!(arg_str(&[], 0, "str").is_err());
    }

    #[test]
    fn unification_prefers_strings() {
        let mixed = [Value::string("a"), Value::num(1.0), Value::Null];
        assert_eq!(
            unify(&mixed),
            Some(vec![Value::string("a"), Value::string("1"), Value::Null])
        );
        assert_eq!(unify(&[Value::num(1.0), Value::Bool(true)]), None);
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quote_char('\''), "'\\''");
    }
}
