//! Set builtins. rbake has no set values, so a set is returned as a list in cty's set
//! order: duplicates removed, strings and numbers sorted, `false` before `true`, nulls last,
//! and other values in the order of cty's internal hash encoding.

use std::cmp::Ordering;

use super::args::{arg, arg_error, quote, type_name, unify};

/// The most values a `setproduct` result may hold across all its rows. Each value is a few
/// dozen bytes, so this bounds a call to tens of megabytes.
const MAX_PRODUCT_CELLS: usize = 1 << 20;
use super::{Env, Value};

pub(super) fn sethaselement(_: &Env, args: &[Value]) -> Result<Value, String> {
    let set = set_arg(args, 0, "set")?;
    let elem = arg(args, 1, "elem")?;
    Ok(Value::Bool(set.contains(elem)))
}

pub(super) fn setunion(_: &Env, args: &[Value]) -> Result<Value, String> {
    combine(args, "first_set", "other_sets", |acc, next| {
        acc.extend(next);
    })
}

pub(super) fn setintersection(_: &Env, args: &[Value]) -> Result<Value, String> {
    combine(args, "first_set", "other_sets", |acc, next| {
        acc.retain(|v| next.contains(v));
    })
}

pub(super) fn setsubtract(_: &Env, args: &[Value]) -> Result<Value, String> {
    combine(args, "a", "b", |acc, next| {
        acc.retain(|v| !next.contains(v));
    })
}

pub(super) fn setsymmetricdifference(_: &Env, args: &[Value]) -> Result<Value, String> {
    combine(args, "first_set", "other_sets", |acc, next| {
        let only_next: Vec<Value> = next.iter().filter(|v| !acc.contains(v)).cloned().collect();
        acc.retain(|v| !next.contains(v));
        acc.extend(only_next);
    })
}

/// Converts every argument to a set, unifies their element types across all of them as cty
/// does, then folds them with `op` and returns the result in set order.
fn combine(
    args: &[Value],
    first_name: &str,
    other_name: &str,
    op: impl Fn(&mut Vec<Value>, Vec<Value>),
) -> Result<Value, String> {
    let name = |i: usize| if i == 0 { first_name } else { other_name };
    let sets = (0..args.len())
        .map(|i| set_arg(args, i, name(i)))
        .collect::<Result<Vec<_>, String>>()?;
    let lengths: Vec<usize> = sets.iter().map(Vec::len).collect();
    let all: Vec<Value> = sets.into_iter().flatten().collect();
    let all = unify(&all).ok_or("given sets must all have compatible element types")?;
    let mut rest = all.into_iter();
    let mut parts = lengths
        .iter()
        .map(|&len| rest.by_ref().take(len).collect::<Vec<_>>());
    let mut acc = parts.next().unwrap_or_default();
    for next in parts {
        op(&mut acc, next);
    }
    Ok(Value::List(to_set(acc)))
}

/// An argument converted to `set(any)`: a list of one element type, as a set.
fn set_arg(args: &[Value], i: usize, name: &str) -> Result<Vec<Value>, String> {
    let items = match arg(args, i, name)? {
        Value::List(items) => items,
        Value::Map(_) => return Err(arg_error(name, "set of any single type required")),
        other => {
            let msg = format!(
                "set of any single type required, but have {}",
                type_name(other)
            );
            return Err(arg_error(name, msg));
        }
    };
    let items =
        unify(items).ok_or_else(|| arg_error(name, "all set elements must have the same type"))?;
    Ok(to_set(items))
}

/// A list's elements unified to one type, then as a set.
pub(super) fn to_set_unified(items: &[Value]) -> Option<Vec<Value>> {
    unify(items).map(to_set)
}

/// Removes duplicates and sorts into cty's set order.
fn to_set(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out.sort_by(set_order);
    out
}

fn set_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => hash_bytes(a).cmp(&hash_bytes(b)),
    }
}

/// cty's set hash encoding, which orders elements that have no natural order.
fn hash_bytes(v: &Value) -> String {
    match v {
        Value::Null => "~".into(),
        Value::Bool(b) => if *b { "T" } else { "F" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::List(items) => {
            let inner: String = items.iter().map(|i| hash_bytes(i) + ";").collect();
            format!("[{inner}]")
        }
        Value::Map(m) => {
            let inner: String = m.values().map(|i| hash_bytes(i) + ";").collect();
            format!("<{inner}>")
        }
    }
}

/// The cartesian product of lists, in input order. cty returns a set when any argument is a
/// set; rbake cannot tell, so it always keeps list order.
pub(super) fn setproduct(_: &Env, args: &[Value]) -> Result<Value, String> {
    if args.len() < 2 {
        return Err("at least two arguments are required".into());
    }
    let mut lists = Vec::with_capacity(args.len());
    for i in 0..args.len() {
        let items = arg(args, i, "sets")?
            .as_list()
            .ok_or_else(|| arg_error("sets", "a set or a list is required"))?;
        let items = unify(items)
            .ok_or_else(|| arg_error("sets", "all elements must be of the same type"))?;
        lists.push(items);
    }
    let total = lists
        .iter()
        .try_fold(1usize, |acc, l| acc.checked_mul(l.len()))
        .filter(|&t| t.saturating_mul(lists.len()) <= MAX_PRODUCT_CELLS)
        .ok_or("the product would be too large")?;
    let mut rows = vec![Vec::with_capacity(lists.len()); total];
    let mut repeat = total;
    for list in &lists {
        // Earlier lists vary slowest: each of their elements spans `repeat` rows.
        repeat /= list.len().max(1);
        for (r, row) in rows.iter_mut().enumerate() {
            if let Some(v) = list.get((r / repeat.max(1)) % list.len().max(1)) {
                row.push(v.clone());
            }
        }
    }
    Ok(Value::List(rows.into_iter().map(Value::List).collect()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, list, n, nums, s};
    use super::*;

    #[test]
    fn conformance_014_union() {
        let extra = list(&["c", "a"]);
        assert_eq!(
            call("setunion", &[extra, list(&["b"])]),
            Ok(list(&["a", "b", "c"]))
        );
    }

    #[test]
    fn corpus_alfresco_sets() {
        let versions = list(&["7.4", "23.1"]);
        assert_eq!(
            call("sethaselement", &[versions, s("23.1")]),
            Ok(Value::Bool(true))
        );
        let inputs = list(&["linux/amd64", "linux/arm64"]);
        assert_eq!(
            call("setsubtract", &[inputs, list(&["linux/arm64"])]),
            Ok(list(&["linux/amd64"]))
        );
    }

    #[test]
    fn set_operations() {
        assert_eq!(
            call(
                "setintersection",
                &[list(&["a", "b", "c"]), list(&["b", "c", "d"])]
            ),
            Ok(list(&["b", "c"]))
        );
        assert_eq!(
            call("setsubtract", &[nums(&[1.0, 2.0, 3.0]), nums(&[2.0])]),
            Ok(nums(&[1.0, 3.0]))
        );
        assert_eq!(
            call(
                "setsymmetricdifference",
                &[nums(&[1.0, 2.0, 3.0]), nums(&[3.0, 4.0])]
            ),
            Ok(nums(&[1.0, 2.0, 4.0]))
        );
        assert_eq!(
            call("setunion", &[nums(&[10.0, 2.0]), nums(&[2.0])]),
            Ok(nums(&[2.0, 10.0]))
        );
        assert_eq!(
            call("setunion", &[list(&["b"]), nums(&[1.0])]),
            Ok(list(&["1", "b"]))
        );
        assert_eq!(
            call("sethaselement", &[nums(&[1.0]), s("1")]),
            Ok(Value::Bool(false))
        );
    }

    #[test]
    fn set_errors() {
        assert_eq!(
            call(
                "setunion",
                &[nums(&[1.0]), Value::List(vec![Value::Bool(true)])]
            ),
            Err("given sets must all have compatible element types".into())
        );
        assert_eq!(
            call("setunion", &[s("a")]),
            Err("invalid value for \"first_set\" parameter: set of any single type required, but have string".into())
        );
        assert_eq!(
            call(
                "sethaselement",
                &[Value::List(vec![n(1.0), Value::Bool(false)]), n(1.0)]
            ),
            Err(
                "invalid value for \"set\" parameter: all set elements must have the same type"
                    .into()
            )
        );
    }

    #[test]
    fn product_keeps_list_order() {
        let got = call("setproduct", &[list(&["x", "y"]), nums(&[1.0, 2.0])]).unwrap();
        let row = |a: &str, b: f64| Value::List(vec![s(a), n(b)]);
        assert_eq!(
            got,
            Value::List(vec![
                row("x", 1.0),
                row("x", 2.0),
                row("y", 1.0),
                row("y", 2.0)
            ])
        );
        assert_eq!(
            call("setproduct", &[list(&["x"]), list(&[])]),
            Ok(Value::List(vec![]))
        );
        assert_eq!(
            call("setproduct", &[list(&["x"])]),
            Err("at least two arguments are required".into())
        );
        assert_eq!(
            call("setproduct", &[list(&["x"]), s("y")]),
            Err("invalid value for \"sets\" parameter: a set or a list is required".into())
        );
        let big = Value::List((0..1000).map(|i| n(f64::from(i))).collect());
        assert!(call("setproduct", &[big.clone(), big.clone(), big]).is_err());
    }
}
