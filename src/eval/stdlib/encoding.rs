//! Encoding builtins: JSON, CSV, base64 and URL query escaping.
//!
//! The JSON encoder is written here rather than taken from serde_json because cty's output
//! differs from serde's in ways users can see: numbers never use an exponent, and strings
//! escape `<`, `>` and `&` as Go's `encoding/json` does.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::args::{arg_str, quote};
use super::{Env, Number, Value};

pub(super) fn jsonencode(_: &Env, args: &[Value]) -> Result<Value, String> {
    // cty accepts a null here and encodes it as `null`.
    let v = args.first().unwrap_or(&Value::Null);
    json_encode(v).map(Value::String)
}

/// cty's compact JSON encoding: object keys sorted, no whitespace.
pub(super) fn json_encode(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

fn write_json(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_inf() => {
            return Err("cannot serialize infinity as JSON".into());
        }
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&json_quote(s)),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_quote(k));
                out.push(':');
                write_json(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Quotes a string as Go's `encoding/json` does, including its HTML-safe escapes.
pub(super) fn json_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// cty reads JSON numbers at 512 bits from their text, so the text must survive parsing:
/// jsonc-parser, with every extension to JSON turned off, keeps it (serde_json would round
/// to an f64). Its messages are less familiar, so a failure is reported in serde_json's words.
pub(super) fn jsondecode(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let strict = jsonc_parser::ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    match jsonc_parser::parse_to_value(&s, &strict) {
        Ok(Some(json)) => Ok(from_json_text(json)),
        _ => serde_json::from_str::<serde_json::Value>(&s)
            .map(|json| Value::from_json(&json))
            .map_err(|e| e.to_string()),
    }
}

fn from_json_text(json: jsonc_parser::JsonValue<'_>) -> Value {
    use jsonc_parser::JsonValue as J;
    match json {
        J::Null => Value::Null,
        J::Boolean(b) => Value::Bool(b),
        J::Number(text) => Number::parse(text).map_or(Value::Null, Value::Number),
        J::String(s) => Value::String(s.into_owned()),
        J::Array(items) => {
            Value::List(items.take_inner().into_iter().map(from_json_text).collect())
        }
        J::Object(m) => Value::Map(
            m.take_inner()
                .into_iter()
                .map(|(k, v)| (k.into_owned(), from_json_text(v)))
                .collect(),
        ),
    }
}

/// Decodes CSV with a header row into a list of objects, one per data row.
pub(super) fn csvdecode(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(s.as_bytes());
    let mut records = reader.records();
    let headers = match records.next() {
        None => return Err("missing header line".into()),
        Some(record) => record.map_err(csv_error)?,
    };
    let mut names: Vec<String> = Vec::with_capacity(headers.len());
    for name in &headers {
        if names.iter().any(|n| n == name) {
            return Err(format!("duplicate column name {}", quote(name)));
        }
        names.push(name.to_string());
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(csv_error)?;
        if record.len() != names.len() {
            let line = record.position().map_or(0, |p| p.line());
            return Err(format!(
                "CSV parse error on line {line}: wrong number of fields"
            ));
        }
        let row: BTreeMap<String, Value> = names
            .iter()
            .cloned()
            .zip(record.iter().map(Value::string))
            .collect();
        rows.push(Value::Map(row));
    }
    Ok(Value::List(rows))
}

fn csv_error(e: csv::Error) -> String {
    let line = e.position().map_or(0, |p| p.line());
    format!("CSV parse error on line {line}: {e}")
}

/// Go's standard base64 alphabet with required padding; like Go, stray bits in the last
/// character are tolerated.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

pub(super) fn base64encode(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    Ok(Value::String(BASE64.encode(s.as_bytes())))
}

pub(super) fn base64decode(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let bytes = decode_base64(&s).ok_or_else(|| format!("failed to decode base64 data '{s}'"))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "the result of decoding the the provided string is not valid UTF-8".into())
}

/// Decodes standard base64 as Go's `StdEncoding` does, which skips line breaks because
/// wrapped base64 often contains them.
pub(super) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    BASE64.decode(compact.as_bytes()).ok()
}

/// Go's `url.QueryEscape`: spaces become `+`, and everything but letters, digits and
/// `-_.~` is percent-encoded.
pub(super) fn urlencode(_: &Env, args: &[Value]) -> Result<Value, String> {
    let s = arg_str(args, 0, "str")?;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, s};
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn conformance_015_encoding() {
        assert_eq!(
            call("base64encode", &[s("bake:conformance")]),
            Ok(s("YmFrZTpjb25mb3JtYW5jZQ=="))
        );
        assert_eq!(call("base64decode", &[s("cmJha2U=")]), Ok(s("rbake")));
        let obj = map(&[
            ("name", s("x")),
            ("n", Value::num(3.0)),
            ("ok", Value::Bool(true)),
            ("list", Value::List(vec![Value::num(1.0), s("two")])),
        ]);
        assert_eq!(
            call("jsonencode", &[obj]),
            Ok(s(r#"{"list":[1,"two"],"n":3,"name":"x","ok":true}"#))
        );
        assert_eq!(
            call("jsondecode", &[s("{\"k\": \"v\"}")]),
            Ok(map(&[("k", s("v"))]))
        );
        assert_eq!(
            call("urlencode", &[s("a b&c=d/e")]),
            Ok(s("a+b%26c%3Dd%2Fe"))
        );
        let csv = call("csvdecode", &[s("name,arch\nweb,amd64\nweb,arm64\n")]).unwrap();
        assert_eq!(
            call("jsonencode", &[csv]),
            Ok(s(
                r#"[{"arch":"amd64","name":"web"},{"arch":"arm64","name":"web"}]"#
            ))
        );
    }

    #[test]
    fn conformance_014_json() {
        let merged = map(&[("a", s("1")), ("b", s("3"))]);
        assert_eq!(call("jsonencode", &[merged]), Ok(s(r#"{"a":"1","b":"3"}"#)));
    }

    #[test]
    fn json_matches_go_encoding() {
        assert_eq!(
            call("jsonencode", &[s("<a & b>")]),
            Ok(s(r#""\u003ca \u0026 b\u003e""#))
        );
        assert_eq!(
            call("jsonencode", &[s("\u{1}\u{8}\t")]),
            Ok(s(r#""\u0001\b\t""#))
        );
        assert_eq!(call("jsonencode", &[Value::num(1e-7)]), Ok(s("0.0000001")));
        assert_eq!(
            call("jsonencode", &[Value::num(1e21)]),
            Ok(s("1000000000000000000000"))
        );
        assert_eq!(call("jsonencode", &[Value::Null]), Ok(s("null")));
        assert_eq!(
            call("jsonencode", &[Value::num(f64::INFINITY)]),
            Err("cannot serialize infinity as JSON".into())
        );
    }

    #[test]
    fn jsondecode_reports_bad_json() {
        assert!(call("jsondecode", &[s("{")]).is_err());
        assert_eq!(
            call("jsondecode", &[s("[1, true, null]")]),
            Ok(Value::List(vec![
                Value::num(1.0),
                Value::Bool(true),
                Value::Null
            ]))
        );
    }

    /// As `docker buildx bake --print` (0.13.1) prints `jsonencode(jsondecode(...))` of it.
    #[test]
    fn jsondecode_keeps_numbers_exact() {
        let text = "[0.1,12345678901234567890123,-0,1e400]";
        let back = call("jsondecode", &[s(text)]).and_then(|v| call("jsonencode", &[v]));
        let want = format!("[0.1,12345678901234567890123,-0,1{}]", "0".repeat(400));
        assert_eq!(back, Ok(s(&want)));
        for lax in [
            "[1,]", "// c\n1", "0x10", "+1", ".5", "NaN", "{a: 1}", "'a'",
        ] {
            assert!(call("jsondecode", &[s(lax)]).is_err(), "{lax} is not JSON");
        }
    }

    #[test]
    fn csvdecode_errors() {
        assert_eq!(
            call("csvdecode", &[s("")]),
            Err("missing header line".into())
        );
        assert_eq!(
            call("csvdecode", &[s("a,a\n1,2")]),
            Err("duplicate column name \"a\"".into())
        );
        assert_eq!(
            call("csvdecode", &[s("a,b\n1,2\n3\n")]),
            Err("CSV parse error on line 3: wrong number of fields".into())
        );
        assert_eq!(call("csvdecode", &[s("a,b\n")]), Ok(Value::List(vec![])));
        let quoted = call("csvdecode", &[s("a\n\"x,\"\"y\"\"\"\n")]).unwrap();
        assert_eq!(quoted, Value::List(vec![map(&[("a", s("x,\"y\""))])]));
    }

    #[test]
    fn base64_follows_go() {
        assert_eq!(call("base64decode", &[s("SGVs\nbG8=")]), Ok(s("Hello")));
        assert_eq!(
            call("base64decode", &[s("SGVsbG8")]),
            Err("failed to decode base64 data 'SGVsbG8'".into())
        );
        assert_eq!(
            call("base64decode", &[s("/w==")]),
            Err("the result of decoding the the provided string is not valid UTF-8".into())
        );
    }

    #[test]
    fn urlencode_keeps_unreserved() {
        assert_eq!(
            call("urlencode", &[s("a-b_c.d~e*ä")]),
            Ok(s("a-b_c.d~e%2A%C3%A4"))
        );
    }
}
