//! UUID builtins.

use ::uuid::Uuid;

use super::args::arg_str;
use super::{Env, Value};

pub(super) fn uuidv4(_: &Env, _: &[Value]) -> Result<Value, String> {
    Ok(Value::String(Uuid::new_v4().to_string()))
}

/// A name-based UUID. The namespace is one of the RFC 4122 names `dns`, `url`, `oid` and
/// `x500`, or a UUID in any of the forms Google's Go package parses.
pub(super) fn uuidv5(_: &Env, args: &[Value]) -> Result<Value, String> {
    let namespace = arg_str(args, 0, "namespace")?;
    let name = arg_str(args, 1, "name")?;
    let ns = match namespace.as_str() {
        "dns" => Uuid::NAMESPACE_DNS,
        "url" => Uuid::NAMESPACE_URL,
        "oid" => Uuid::NAMESPACE_OID,
        "x500" => Uuid::NAMESPACE_X500,
        other => Uuid::parse_str(other).map_err(|_| {
            let reason = match other.len() {
                32 | 36 | 38 | 45 => "invalid UUID format".to_string(),
                n => format!("invalid UUID length: {n}"),
            };
            format!("uuidv5() doesn't support namespace {other} ({reason})")
        })?,
    };
    Ok(Value::String(
        Uuid::new_v5(&ns, name.as_bytes()).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, s};
    use super::*;

    #[test]
    fn conformance_015_uuidv5() {
        assert_eq!(
            call("uuidv5", &[s("dns"), s("build.example.org")]),
            Ok(s("bacf2b6c-b18c-594c-9885-8490df2b6683"))
        );
    }

    #[test]
    fn uuidv5_namespaces() {
        let explicit = call(
            "uuidv5",
            &[
                s("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
                s("build.example.org"),
            ],
        );
        assert_eq!(explicit, Ok(s("bacf2b6c-b18c-594c-9885-8490df2b6683")));
        assert_eq!(
            call("uuidv5", &[s("xyz"), s("a")]),
            Err("uuidv5() doesn't support namespace xyz (invalid UUID length: 3)".into())
        );
    }

    #[test]
    fn uuidv4_is_random_v4() {
        let Ok(Value::String(a)) = call("uuidv4", &[]) else {
            panic!("uuidv4 failed")
        };
        let Ok(Value::String(b)) = call("uuidv4", &[]) else {
            panic!("uuidv4 failed")
        };
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }
}
