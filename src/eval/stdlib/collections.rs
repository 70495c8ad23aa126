//! Builtins that inspect lists and maps or build maps: lookups by index or key, membership,
//! keys and values, and the `coalesce` family.
//!
//! rbake's values do not record whether a collection is a list or a tuple, a map or an
//! object, so where cty's behaviour depends on that distinction these functions take the
//! more permissive reading (for example, `index` works on any map).

use std::collections::BTreeMap;

use super::args::{
    arg, arg_error, arg_map, arg_str, arg_str_list, to_number, type_name, unify, whole,
};
use super::{Env, Value};

pub(super) fn length(_: &Env, args: &[Value]) -> Result<Value, String> {
    // cty's `length` counts collections only; strings have `strlen`.
    match arg(args, 0, "collection")? {
        Value::List(items) => Ok(Value::int(items.len())),
        Value::Map(m) => Ok(Value::int(m.len())),
        _ => Err("collection must be a list, a map or a tuple".into()),
    }
}

/// The element at `index`, which wraps around the list in both directions.
pub(super) fn element(_: &Env, args: &[Value]) -> Result<Value, String> {
    let list = match arg(args, 0, "list")? {
        Value::List(items) => items,
        other => return Err(format!("cannot read elements from {}", type_name(other))),
    };
    let index = to_number(arg(args, 1, "index")?).map_err(|e| arg_error("index", e))?;
    let index = whole(&index).map_err(|e| format!("invalid index: {e}"))?;
    if list.is_empty() {
        return Err("cannot use element function with an empty list".into());
    }
    let at = index.rem_euclid(list.len() as i64) as usize;
    Ok(list.get(at).cloned().unwrap_or_default())
}

pub(super) fn index(_: &Env, args: &[Value]) -> Result<Value, String> {
    let collection = arg(args, 0, "collection")?;
    let key = arg(args, 1, "key")?;
    match (collection, key) {
        (Value::List(_), k) if !matches!(k, Value::Number(_)) => {
            Err("key for list must be number".into())
        }
        (Value::Map(_), k) if !matches!(k, Value::String(_)) => {
            Err("key for map must be string".into())
        }
        (Value::List(_) | Value::Map(_), _) => get_index(collection, key)
            .cloned()
            .ok_or_else(|| "invalid index".into()),
        _ => Err("collection must be a list, a map or a tuple".into()),
    }
}

pub(super) fn hasindex(_: &Env, args: &[Value]) -> Result<Value, String> {
    let collection = arg(args, 0, "collection")?;
    let key = arg(args, 1, "key")?;
    if !matches!(collection, Value::List(_) | Value::Map(_)) {
        return Err("collection must be a list, a map or a tuple".into());
    }
    Ok(Value::Bool(get_index(collection, key).is_some()))
}

/// cty's indexing is type-strict: lists take whole-number keys and maps take string keys.
fn get_index<'a>(collection: &'a Value, key: &Value) -> Option<&'a Value> {
    match (collection, key) {
        (Value::List(items), Value::Number(n)) => {
            let i = whole(n).ok()?;
            items.get(usize::try_from(i).ok()?)
        }
        (Value::Map(m), Value::String(k)) => m.get(k),
        _ => None,
    }
}

/// The position of the first element equal to `value`.
pub(super) fn indexof(_: &Env, args: &[Value]) -> Result<Value, String> {
    let list = arg(args, 0, "list")?
        .as_list()
        .ok_or("argument must be a list or tuple")?;
    let value = arg(args, 1, "value")?;
    if list.is_empty() {
        return Err("cannot search an empty list".into());
    }
    list.iter()
        .position(|item| item == value)
        .map(Value::int)
        .ok_or_else(|| "item not found".into())
}

/// Equality is cty's: values of different types are never equal, so `contains(["1"], 1)`
/// is false.
pub(super) fn contains(_: &Env, args: &[Value]) -> Result<Value, String> {
    let list = arg(args, 0, "list")?
        .as_list()
        .ok_or("argument must be list, tuple, or set")?;
    let value = arg(args, 1, "value")?;
    Ok(Value::Bool(list.contains(value)))
}

pub(super) fn keys(_: &Env, args: &[Value]) -> Result<Value, String> {
    let m = arg_map(args, 0, "inputMap", "must have map or object type")?;
    Ok(Value::List(m.keys().map(Value::string).collect()))
}

pub(super) fn values(_: &Env, args: &[Value]) -> Result<Value, String> {
    let m = arg(args, 0, "mapping")?
        .as_map()
        .ok_or("values() requires a map as the first argument")?;
    Ok(Value::List(m.values().cloned().collect()))
}

/// cty's `lookup` requires the default: with two arguments buildx reports a missing
/// argument, and the evaluator's arity check does the same here.
pub(super) fn lookup(_: &Env, args: &[Value]) -> Result<Value, String> {
    let m = arg_map(
        args,
        0,
        "inputMap",
        "lookup() requires a map as the first argument",
    )?;
    let key = arg_str(args, 1, "key")?;
    let default = arg(args, 2, "default")?;
    Ok(m.get(&key).cloned().unwrap_or_else(|| default.clone()))
}

/// Later arguments win; null arguments are skipped.
pub(super) fn merge(_: &Env, args: &[Value]) -> Result<Value, String> {
    let mut out = BTreeMap::new();
    for a in args {
        match a {
            Value::Null => {}
            Value::Map(m) => out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
            other => {
                return Err(format!(
                    "arguments must be maps or objects, got \"{}\"",
                    type_name(other)
                ));
            }
        }
    }
    Ok(Value::Map(out))
}

pub(super) fn zipmap(_: &Env, args: &[Value]) -> Result<Value, String> {
    let keys = arg_str_list(args, 0, "keys")?;
    let values = arg(args, 1, "values")?
        .as_list()
        .ok_or("values argument must be a list or tuple value")?;
    if keys.len() != values.len() {
        return Err(format!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        ));
    }
    let mut out = BTreeMap::new();
    for (i, (k, v)) in keys.into_iter().zip(values).enumerate() {
        let k = k.ok_or_else(|| format!("keys list has null value at index {i}"))?;
        out.insert(k, v.clone());
    }
    Ok(Value::Map(out))
}

/// The first non-null argument, converted to the type all arguments share. cty's stdlib
/// version skips only nulls: an empty string is a value like any other.
pub(super) fn coalesce(_: &Env, args: &[Value]) -> Result<Value, String> {
    if args.is_empty() {
        return Err("all arguments must have the same type".into());
    }
    let unified = unify(args).ok_or("all arguments must have the same type")?;
    unified
        .into_iter()
        .find(|v| !v.is_null())
        .ok_or_else(|| "no non-null arguments".into())
}

/// The first argument that is a non-empty list.
pub(super) fn coalescelist(_: &Env, args: &[Value]) -> Result<Value, String> {
    if args.is_empty() {
        return Err("at least one argument is required".into());
    }
    if args
        .iter()
        .any(|a| !matches!(a, Value::List(_) | Value::Null))
    {
        return Err("coalescelist arguments must be lists or tuples".into());
    }
    args.iter()
        .find(|a| a.as_list().is_some_and(|items| !items.is_empty()))
        .cloned()
        .ok_or_else(|| "no non-null arguments".into())
}

#[cfg(test)]
mod tests {
    use super::super::lookup as find;
    use super::super::testing::{list, n, s};
    use super::*;

    fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        let f = find(name).expect("builtin exists");
        (f.call)(&Env::default(), args)
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn conformance_014_collections() {
        assert_eq!(
            call("contains", &[list(&["x", "y"]), s("y")]),
            Ok(Value::Bool(true))
        );
        let zeta_alpha = map(&[("zeta", n(1.0)), ("alpha", n(2.0))]);
        assert_eq!(call("keys", &[zeta_alpha]), Ok(list(&["alpha", "zeta"])));
        let b_a = map(&[("b", s("two")), ("a", s("one"))]);
        assert_eq!(call("values", &[b_a]), Ok(list(&["one", "two"])));
        let merged = call(
            "merge",
            &[map(&[("a", s("1")), ("b", s("2"))]), map(&[("b", s("3"))])],
        );
        assert_eq!(merged, Ok(map(&[("a", s("1")), ("b", s("3"))])));
        let arch = map(&[("amd64", s("x86_64"))]);
        assert_eq!(
            call("lookup", &[arch, s("arm64"), s("unknown")]),
            Ok(s("unknown"))
        );
        assert_eq!(
            call("element", &[list(&["zero", "one", "two"]), n(4.0)]),
            Ok(s("one"))
        );
        assert_eq!(call("index", &[list(&["a", "b", "c"]), n(2.0)]), Ok(s("c")));
        assert_eq!(call("coalesce", &[s(""), s("fallback")]), Ok(s("")));
        let zipped = call("zipmap", &[list(&["k1", "k2"]), list(&["v1", "v2"])]);
        assert_eq!(zipped, Ok(map(&[("k1", s("v1")), ("k2", s("v2"))])));
    }

    #[test]
    fn conformance_212_indexof() {
        let arches = list(&["amd64", "arm64", "riscv64"]);
        assert_eq!(call("indexof", &[arches, s("arm64")]), Ok(n(1.0)));
    }

    #[test]
    fn length_counts_collections_only() {
        assert_eq!(call("length", &[list(&["a", "b"])]), Ok(n(2.0)));
        assert_eq!(call("length", &[map(&[("a", n(1.0))])]), Ok(n(1.0)));
        assert_eq!(
            call("length", &[s("abc")]),
            Err("collection must be a list, a map or a tuple".into())
        );
    }

    #[test]
    fn element_wraps_and_rejects() {
        assert_eq!(
            call("element", &[list(&["a", "b", "c"]), n(-1.0)]),
            Ok(s("c"))
        );
        assert_eq!(
            call("element", &[list(&[]), n(0.0)]),
            Err("cannot use element function with an empty list".into())
        );
        assert_eq!(
            call("element", &[s("x"), n(0.0)]),
            Err("cannot read elements from string".into())
        );
        assert!(
            call("element", &[list(&["a"]), n(0.5)])
                .unwrap_err()
                .starts_with("invalid index: value must be a whole number")
        );
    }

    #[test]
    fn index_is_type_strict() {
        assert_eq!(
            call("index", &[list(&["a"]), n(3.0)]),
            Err("invalid index".into())
        );
        assert_eq!(
            call("index", &[list(&["a"]), s("0")]),
            Err("key for list must be number".into())
        );
        assert_eq!(
            call("index", &[map(&[("baz", s("qux"))]), s("baz")]),
            Ok(s("qux"))
        );
        assert_eq!(
            call("index", &[map(&[("a", s("b"))]), n(1.0)]),
            Err("key for map must be string".into())
        );
        assert_eq!(
            call("hasindex", &[list(&["a", "b"]), n(1.0)]),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call("hasindex", &[list(&["a", "b"]), n(5.0)]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call("hasindex", &[list(&["a", "b"]), s("1")]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call("hasindex", &[s("ab"), n(0.0)]),
            Err("collection must be a list, a map or a tuple".into())
        );
    }

    #[test]
    fn indexof_errors() {
        assert_eq!(
            call("indexof", &[list(&[]), s("a")]),
            Err("cannot search an empty list".into())
        );
        assert_eq!(
            call("indexof", &[list(&["a"]), s("b")]),
            Err("item not found".into())
        );
        assert_eq!(
            call("indexof", &[s("a"), s("a")]),
            Err("argument must be a list or tuple".into())
        );
    }

    #[test]
    fn contains_compares_types() {
        assert_eq!(
            call("contains", &[list(&["1"]), n(1.0)]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            call("contains", &[s("a"), s("a")]),
            Err("argument must be list, tuple, or set".into())
        );
    }

    #[test]
    fn map_functions_reject_non_maps() {
        assert_eq!(
            call("keys", &[list(&[])]),
            Err("invalid value for \"inputMap\" parameter: must have map or object type".into())
        );
        assert_eq!(
            call("values", &[s("x")]),
            Err("values() requires a map as the first argument".into())
        );
        assert_eq!(
            call("lookup", &[s("x"), s("k"), s("d")]),
            Err("invalid value for \"inputMap\" parameter: lookup() requires a map as the first argument".into())
        );
        assert_eq!(
            call("lookup", &[map(&[("k", n(1.0))]), s("k"), s("d")]),
            Ok(n(1.0))
        );
        assert_eq!(
            call("merge", &[s("x")]),
            Err("arguments must be maps or objects, got \"string\"".into())
        );
        assert_eq!(call("merge", &[Value::Null]), Ok(map(&[])));
    }

    #[test]
    fn zipmap_checks_lengths() {
        assert_eq!(
            call("zipmap", &[list(&["a"]), list(&[])]),
            Err("number of keys (1) does not match number of values (0)".into())
        );
        assert_eq!(
            call("zipmap", &[list(&["a"]), s("x")]),
            Err("values argument must be a list or tuple value".into())
        );
    }

    #[test]
    fn coalesce_family() {
        assert_eq!(call("coalesce", &[Value::Null, n(1.0), s("a")]), Ok(s("1")));
        assert_eq!(
            call("coalesce", &[Value::Null]),
            Err("no non-null arguments".into())
        );
        assert_eq!(
            call("coalesce", &[n(1.0), Value::Bool(true)]),
            Err("all arguments must have the same type".into())
        );
        let empty = Value::List(vec![]);
        assert_eq!(
            call("coalescelist", &[empty.clone(), list(&["a"])]),
            Ok(list(&["a"]))
        );
        assert_eq!(
            call("coalescelist", &[empty]),
            Err("no non-null arguments".into())
        );
        assert_eq!(
            call("coalescelist", &[s("a")]),
            Err("coalescelist arguments must be lists or tuples".into())
        );
    }
}
