//! String builtins: case, trimming, splitting and joining, and character-level slicing.
//!
//! cty counts "characters" as Unicode grapheme clusters, so `strlen`, `substr` and
//! `reverse` do too: an accented letter written with a combining mark is one character.

use unicode_segmentation::UnicodeSegmentation;

use super::args::{arg_error, arg_int, arg_str, arg_str_list, check_size};
use super::{Env, Value};

pub(super) fn upper(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::String(s.chars().map(simple_upper).collect()))
}

pub(super) fn lower(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::String(s.chars().map(simple_lower).collect()))
}

/// Go maps case one character to one character. Rust's full mappings can expand a
/// character (`ß` to `SS`); where they do, Go leaves the character unchanged.
fn simple_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// The only multi-character lowercase mapping is `İ`, which Go lowers to a plain `i`: the
/// first character of Rust's expansion.
fn simple_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `strings.Title`: the first letter after each separator becomes title case.
pub(super) fn title(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let mut prev = ' ';
    let out = s
        .chars()
        .map(|c| {
            let mapped = if is_title_separator(prev) {
                title_case(c)
            } else {
                c
            };
            prev = c;
            mapped
        })
        .collect();
    Ok(Value::String(out))
}

/// Go's word separator rule for `strings.Title`: ASCII letters, digits and `_` join words,
/// other ASCII separates them, and beyond ASCII only spaces separate.
fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// Title case differs from upper case only for the four Latin digraphs.
fn title_case(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        c => simple_upper(c),
    }
}

pub(super) fn reverse(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::String(s.graphemes(true).rev().collect()))
}

pub(super) fn strlen(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::int(s.graphemes(true).count()))
}

pub(super) fn substr(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let offset = arg_int(args, 1, "offset")?;
    let length = arg_int(args, 2, "length")?;
    let clusters: Vec<&str> = s.graphemes(true).collect();
    Ok(Value::String(substr_clusters(&clusters, offset, length)))
}

/// cty's `substr` on grapheme clusters, quirks included: a negative offset counts from the
/// end, and a zero length after a negative offset means "to the end".
fn substr_clusters(clusters: &[&str], offset: i64, length: i64) -> String {
    let total = clusters.len() as i64;
    let offset = if offset < 0 {
        offset + total
    } else if length == 0 {
        return String::new();
    } else {
        offset
    };
    if offset > total {
        return String::new();
    }
    let rest = &clusters[offset.max(0) as usize..];
    let take = if length <= 0 {
        rest.len()
    } else {
        (length as usize).min(rest.len())
    };
    rest[..take].concat()
}

pub(super) fn join(_: &Env, args: &[Value]) -> Result<Value, String> {
    let sep = arg_str(args, 0, "separator")?;
    let lists = args.len().saturating_sub(1);
    if lists == 0 {
        return Err("at least one list is required".into());
    }
    let mut items = Vec::new();
    for n in 1..args.len() {
        for (e, item) in arg_str_list(args, n, "lists")?.into_iter().enumerate() {
            let Some(item) = item else {
                let msg = if lists > 1 {
                    format!("element {e} of list {n} is null; cannot concatenate null values")
                } else {
                    format!("element {e} is null; cannot concatenate null values")
                };
                return Err(arg_error("lists", msg));
            };
            items.push(item);
        }
    }
    Ok(Value::String(items.join(&sep)))
}

/// Go's `strings.Split`, which splits between characters when the separator is empty.
pub(super) fn split(_: &Env, args: &[Value]) -> Result<Value, String> {
    let sep = arg_str(args, 0, "separator")?;
    let s = arg_str(args, 1, "str")?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str()).map(Value::string).collect()
    };
    Ok(Value::List(parts))
}

/// cty removes any run of `\n`, `\r\n` and `\r` at the end, which is any run of those two
/// characters.
pub(super) fn chomp(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::string(s.trim_end_matches(['\r', '\n'])))
}

pub(super) fn indent(_: &Env, args: &[Value]) -> Result<Value, String> {
    let spaces = arg_int(args, 0, "spaces")?;
    let s = arg_str(args, 1, "str")?;
    // Go's strings.Repeat panics on a negative count; an error is the graceful equivalent.
    let spaces =
        usize::try_from(spaces).map_err(|_| arg_error("spaces", "must not be negative"))?;
    let lines = s.matches('\n').count();
    if lines == 0 {
        return Ok(Value::String(s));
    }
    check_size(
        lines.saturating_mul(spaces).saturating_add(s.len()),
        "indented string",
    )?;
    let pad = format!("\n{}", " ".repeat(spaces));
    Ok(Value::String(s.replace('\n', &pad)))
}

/// Trims what Go's `unicode.IsSpace` accepts, which is Unicode's White_Space property, as
/// Rust's `trim` does.
pub(super) fn trimspace(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::string(s.trim()))
}

pub(super) fn trim(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let cutset = arg_str(args, 1, "cutset")?;
    Ok(Value::string(s.trim_matches(|c| cutset.contains(c))))
}

pub(super) fn trimprefix(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let prefix = arg_str(args, 1, "prefix")?;
    Ok(Value::string(s.strip_prefix(prefix.as_str()).unwrap_or(&s)))
}

pub(super) fn trimsuffix(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let suffix = arg_str(args, 1, "suffix")?;
    Ok(Value::string(s.strip_suffix(suffix.as_str()).unwrap_or(&s)))
}

/// A plain substring replacement: unlike Terraform's, cty's `replace` never treats a
/// `/.../` search string as a regular expression.
pub(super) fn replace(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let from = arg_str(args, 1, "substr")?;
    let to = arg_str(args, 2, "replace")?;
    if from.is_empty() {
        // An empty search string matches between every character, so the result grows.
        check_size(
            s.len()
                .saturating_add((s.len() + 1).saturating_mul(to.len())),
            "string",
        )?;
    }
    Ok(Value::String(s.replace(from.as_str(), &to)))
}

/// Keeps only what a bake target name allows, `[a-zA-Z0-9_-]`, replacing anything else
/// with an underscore.
pub(super) fn sanitize(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "name")?;
    let out = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(Value::String(out))
}

/// rbake has no byte-buffer values, so the bytes builtins work on a string's UTF-8 bytes.
pub(super) fn byteslen(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "buf")?;
    Ok(Value::int(s.len()))
}

pub(super) fn bytesslice(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "buf")?;
    let offset = arg_int(args, 1, "offset")?;
    let length = arg_int(args, 2, "length")?;
    let (Ok(start), Ok(len)) = (usize::try_from(offset), usize::try_from(length)) else {
        return Err("offset and length must be non-negative".into());
    };
    let total = s.len();
    if start > total {
        return Err(format!(
            "offset {start} is greater than total buffer length {total}"
        ));
    }
    let end = start.saturating_add(len);
    if end > total {
        return Err(format!(
            "offset {start} + length {len} is greater than total buffer length {total}"
        ));
    }
    // A string value must stay valid UTF-8, so a cut inside a character is refused.
    s.get(start..end)
        .map(Value::string)
        .ok_or_else(|| "offset and length must not split a UTF-8 character".into())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, list, n, s};
    use super::*;

    #[test]
    fn conformance_013_strings() {
        assert_eq!(call("upper", &[s("mixed Case")]), Ok(s("MIXED CASE")));
        assert_eq!(call("lower", &[s("MiXeD")]), Ok(s("mixed")));
        assert_eq!(
            call("title", &[s("hello bake world")]),
            Ok(s("Hello Bake World"))
        );
        assert_eq!(
            call("replace", &[s("a-b-c"), s("-"), s("_")]),
            Ok(s("a_b_c"))
        );
        let r#ref = s("refs/tags/v1.8.2-beta");
        assert_eq!(
            call("trimprefix", &[r#ref, s("refs/tags/")]),
            Ok(s("v1.8.2-beta"))
        );
        assert_eq!(
            call("trimsuffix", &[s("image.tar.gz"), s(".gz")]),
            Ok(s("image.tar"))
        );
        assert_eq!(
            call("substr", &[s("abcdefgh"), n(2.0), n(3.0)]),
            Ok(s("cde"))
        );
        assert_eq!(
            call("join", &[s("+"), list(&["x", "y", "z"])]),
            Ok(s("x+y+z"))
        );
        assert_eq!(
            call("split", &[s("/"), s("a/b/c/d")]),
            Ok(list(&["a", "b", "c", "d"]))
        );
        assert_eq!(call("trimspace", &[s("   padded   ")]), Ok(s("padded")));
        assert_eq!(call("trim", &[s("--xx--"), s("-")]), Ok(s("xx")));
        assert_eq!(call("chomp", &[s("line\n")]), Ok(s("line")));
        assert_eq!(call("strlen", &[s("häuser")]), Ok(n(6.0)));
        assert_eq!(call("reverse", &[s("stressed")]), Ok(s("desserts")));
        assert_eq!(call("indent", &[n(2.0), s("a\nb")]), Ok(s("a\n  b")));
    }

    #[test]
    fn conformance_212_sanitize() {
        assert_eq!(
            call("sanitize", &[s("feature/new.login page")]),
            Ok(s("feature_new_login_page"))
        );
    }

    #[test]
    fn case_mapping_is_one_to_one_like_go() {
        assert_eq!(call("upper", &[s("straße")]), Ok(s("STRAßE")));
        assert_eq!(call("lower", &[s("İ")]), Ok(s("i")));
        assert_eq!(call("upper", &[n(1.5)]), Ok(s("1.5")));
    }

    #[test]
    fn title_uses_go_separators() {
        assert_eq!(
            call("title", &[s("hello world-from_docker")]),
            Ok(s("Hello World-From_docker"))
        );
        assert_eq!(call("title", &[s("ǆemal")]), Ok(s("ǅemal")));
    }

    #[test]
    fn substr_follows_cty_quirks() {
        let abc = s("abc");
        assert_eq!(call("substr", &[abc.clone(), n(-1.0), n(1.0)]), Ok(s("c")));
        assert_eq!(call("substr", &[abc.clone(), n(-1.0), n(0.0)]), Ok(s("c")));
        assert_eq!(call("substr", &[abc.clone(), n(1.0), n(-1.0)]), Ok(s("bc")));
        assert_eq!(call("substr", &[abc.clone(), n(5.0), n(1.0)]), Ok(s("")));
        assert_eq!(call("substr", &[abc.clone(), n(3.0), n(1.0)]), Ok(s("")));
        assert_eq!(call("substr", &[abc.clone(), n(-5.0), n(1.0)]), Ok(s("a")));
        assert_eq!(call("substr", &[abc.clone(), n(0.0), n(0.0)]), Ok(s("")));
        assert_eq!(
            call("substr", &[s("e\u{301}x"), n(0.0), n(1.0)]),
            Ok(s("e\u{301}"))
        );
        assert!(
            call("substr", &[abc, n(0.5), n(1.0)])
                .unwrap_err()
                .contains("whole number")
        );
    }

    /// Cases from go-cty's own `substr` tests.
    #[test]
    fn cty_substr_cases() {
        let cases: &[(&str, i64, i64, &str)] = &[
            ("hello", 0, 2, "he"),
            ("hello", 1, 3, "ell"),
            ("hello", 1, -1, "ello"),
            ("hello", 1, -10, "ello"),
            ("hello", 1, 10, "ello"),
            ("hello", -3, -1, "llo"),
            ("hello", -3, 2, "ll"),
            ("hello", 10, 10, ""),
            ("hello", 0, 0, ""),
            ("noël", 0, 3, "noë"),
            ("noël", 3, -1, "l"),
            ("wé́́é́́é́́!", 2, 2, "é́́é́́"),
            ("wé́́é́́é́́!", 3, 2, "é́́!"),
            ("wé́́é́́é́́!", -2, -1, "é́́!"),
            ("noël", -2, -1, "ël"),
            ("😸😾", 0, 1, "😸"),
            ("😸😾", 1, 1, "😾"),
        ];
        for &(input, offset, length, want) in cases {
            let got = call("substr", &[s(input), n(offset as f64), n(length as f64)]);
            assert_eq!(got, Ok(s(want)), "substr({input:?}, {offset}, {length})");
        }
    }

    #[test]
    fn graphemes_count_as_one_character() {
        assert_eq!(call("strlen", &[s("e\u{301}")]), Ok(n(1.0)));
        assert_eq!(call("reverse", &[s("ae\u{301}")]), Ok(s("e\u{301}a")));
    }

    #[test]
    fn join_checks_lists_and_nulls() {
        assert_eq!(
            call("join", &[s(",")]),
            Err("at least one list is required".into())
        );
        let with_null = Value::List(vec![s("a"), Value::Null]);
        assert_eq!(
            call("join", &[s(","), with_null.clone()]),
            Err("invalid value for \"lists\" parameter: element 1 is null; cannot concatenate null values".into())
        );
        assert_eq!(
            call("join", &[s(","), list(&["x"]), with_null]),
            Err("invalid value for \"lists\" parameter: element 1 of list 2 is null; cannot concatenate null values".into())
        );
        assert_eq!(
            call("join", &[s(","), s("abc")]),
            Err(
                "invalid value for \"lists\" parameter: list of string required, but have string"
                    .into()
            )
        );
        let nums = Value::List(vec![n(1.0), Value::Bool(true)]);
        assert_eq!(
            call("join", &[s("-"), nums, list(&["z"])]),
            Ok(s("1-true-z"))
        );
    }

    #[test]
    fn split_edge_cases() {
        assert_eq!(call("split", &[s(","), s("")]), Ok(list(&[""])));
        assert_eq!(call("split", &[s(""), s("ab")]), Ok(list(&["a", "b"])));
        assert_eq!(call("split", &[s(""), s("")]), Ok(list(&[])));
    }

    #[test]
    fn chomp_trims_every_trailing_newline() {
        assert_eq!(call("chomp", &[s("a\r\n\n\r")]), Ok(s("a")));
        assert_eq!(call("chomp", &[s("a\nb")]), Ok(s("a\nb")));
    }

    #[test]
    fn indent_refuses_negative_and_huge() {
        assert_eq!(
            call("indent", &[n(-1.0), s("a\nb")]),
            Err("invalid value for \"spaces\" parameter: must not be negative".into())
        );
        assert!(call("indent", &[n(1e12), s("a\nb")]).is_err());
        assert_eq!(
            call("indent", &[n(1e12), s("no newline")]),
            Ok(s("no newline"))
        );
    }

    #[test]
    fn replace_is_literal() {
        assert_eq!(call("replace", &[s("a/b/"), s("/b/"), s("x")]), Ok(s("ax")));
        assert_eq!(call("replace", &[s("ab"), s(""), s("-")]), Ok(s("-a-b-")));
        assert_eq!(
            call("replace", &[s("banana"), s("na"), s("--")]),
            Ok(s("ba----"))
        );
    }

    #[test]
    fn bytes_work_on_utf8() {
        assert_eq!(call("byteslen", &[s("hä")]), Ok(n(3.0)));
        assert_eq!(
            call("bytesslice", &[s("Docker"), n(0.0), n(3.0)]),
            Ok(s("Doc"))
        );
        assert_eq!(
            call("bytesslice", &[s("abc"), n(2.0), n(5.0)]),
            Err("offset 2 + length 5 is greater than total buffer length 3".into())
        );
        assert_eq!(
            call("bytesslice", &[s("abc"), n(-1.0), n(1.0)]),
            Err("offset and length must be non-negative".into())
        );
        assert!(call("bytesslice", &[s("ä"), n(0.0), n(1.0)]).is_err());
    }

    #[test]
    fn wrong_types_are_rejected() {
        assert_eq!(
            call("upper", &[list(&["a"])]),
            Err("invalid value for \"str\" parameter: string required, but have tuple".into())
        );
        assert_eq!(
            call("lower", &[Value::Null]),
            Err("invalid value for \"str\" parameter: argument must not be null".into())
        );
    }
}
