//! Builtins that build lists from lists: concatenation, slicing, chunking, filtering,
//! ordering, and `range`.

use super::args::{
    arg, arg_error, arg_num, arg_seq, arg_str_list, arg_uniform_list, check_size, type_name, whole,
};
use super::{Env, Number, Value};

/// cty stops `range` at 1024 elements, which also bounds the memory a call can use.
const MAX_RANGE: usize = 1024;

pub(super) fn concat(_: &Env, args: &[Value]) -> Result<Value, String> {
    if args.is_empty() {
        return Err("at least one argument is required".into());
    }
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let items = arg(args, i, "seqs")?.as_list().ok_or_else(|| {
            arg_error(
                "seqs",
                format!(
                    "all arguments must be lists or tuples; got {}",
                    type_name(a)
                ),
            )
        })?;
        out.extend_from_slice(items);
    }
    Ok(Value::List(out))
}

/// Replaces nested lists by their elements, at any depth.
pub(super) fn flatten(_: &Env, args: &[Value]) -> Result<Value, String> {
    let items = arg(args, 0, "list")?
        .as_list()
        .ok_or("can only flatten lists, sets and tuples")?;
    let mut out = Vec::new();
    flatten_into(items, &mut out);
    Ok(Value::List(out))
}

fn flatten_into(items: &[Value], out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::List(inner) => flatten_into(inner, out),
            other => out.push(other.clone()),
        }
    }
}

pub(super) fn slice(_: &Env, args: &[Value]) -> Result<Value, String> {
    let items = arg_seq(args, 0, "list", "must be a list or tuple value")?;
    let start = slice_bound(args, 1, "start_index", "start", items.len())?;
    let end = slice_bound(args, 2, "end_index", "end", items.len())?;
    if start > end {
        let msg = "start index must not be greater than end index";
        return Err(arg_error("start_index", msg));
    }
    Ok(Value::List(items[start..end].to_vec()))
}

/// Reads one bound of `slice`, with cty's checks and wording.
fn slice_bound(
    args: &[Value],
    i: usize,
    name: &str,
    which: &str,
    len: usize,
) -> Result<usize, String> {
    let bound = whole(&arg_num(args, i, name)?)
        .map_err(|e| arg_error(name, format!("invalid {which} index: {e}")))?;
    let bound = usize::try_from(bound)
        .map_err(|_| arg_error(name, format!("{which} index must not be less than zero")))?;
    if bound > len {
        let msg = format!("{which} index must not be greater than the length of the list");
        return Err(arg_error(name, msg));
    }
    Ok(bound)
}

/// Splits a list into chunks of `size`; a size of zero keeps the list whole.
pub(super) fn chunklist(_: &Env, args: &[Value]) -> Result<Value, String> {
    let list = arg_uniform_list(args, 0, "list")?;
    let size = whole(&arg_num(args, 1, "size")?).map_err(|e| format!("invalid size: {e}"))?;
    let size = usize::try_from(size).map_err(|_| "the size argument must be positive")?;
    if list.is_empty() {
        return Ok(Value::List(vec![]));
    }
    if size == 0 {
        return Ok(Value::List(vec![Value::List(list)]));
    }
    Ok(Value::List(
        list.chunks(size).map(|c| Value::List(c.to_vec())).collect(),
    ))
}

/// Drops empty strings and nulls.
pub(super) fn compact(_: &Env, args: &[Value]) -> Result<Value, String> {
    let items = arg_str_list(args, 0, "list")?;
    let kept = items
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(Value::String)
        .collect();
    Ok(Value::List(kept))
}

/// Keeps the first occurrence of each value, after unifying the elements' types as cty's
/// conversion to a list does (so `"1"` and `1` are duplicates).
pub(super) fn distinct(_: &Env, args: &[Value]) -> Result<Value, String> {
    let items = arg_uniform_list(args, 0, "list")?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(Value::List(out))
}

pub(super) fn reverselist(_: &Env, args: &[Value]) -> Result<Value, String> {
    let list = arg(args, 0, "list")?;
    let items = list.as_list().ok_or_else(|| {
        arg_error(
            "list",
            format!(
                "can only reverse list or tuple values, not {}",
                type_name(list)
            ),
        )
    })?;
    Ok(Value::List(items.iter().rev().cloned().collect()))
}

/// Sorts lexicographically by bytes, as Go's `sort.Strings`; numbers sort as strings.
pub(super) fn sort(_: &Env, args: &[Value]) -> Result<Value, String> {
    let items = arg_str_list(args, 0, "list")?;
    let mut strings = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let s = item.ok_or_else(|| {
            format!("given list element {i} is null; a null string cannot be sorted")
        })?;
        strings.push(s);
    }
    strings.sort();
    Ok(Value::List(
        strings.into_iter().map(Value::String).collect(),
    ))
}

/// `range(end)`, `range(start, end)` or `range(start, end, step)`; the end is exclusive.
pub(super) fn range(_: &Env, args: &[Value]) -> Result<Value, String> {
    let nums = (0..args.len())
        .map(|i| arg_num(args, i, "params"))
        .collect::<Result<Vec<Number>, String>>()?;
    let one = |down: bool| Number::int(if down { -1 } else { 1 });
    let (start, end, step) = match &nums[..] {
        [end] => (Number::int(0), end.clone(), one(end < &Number::int(0))),
        [start, end] => (start.clone(), end.clone(), one(end < start)),
        [start, end, step] => (start.clone(), end.clone(), step.clone()),
        _ => return Err("must have one, two, or three arguments".into()),
    };
    if step.is_zero() {
        return Err(arg_error("params", "step must not be zero"));
    }
    let down = step < Number::int(0);
    if down && end > start {
        return Err(arg_error(
            "params",
            "end must be less than start when step is negative",
        ));
    }
    if !down && end < start {
        return Err(arg_error(
            "params",
            "end must be greater than start when step is positive",
        ));
    }
    let mut out = Vec::new();
    let mut n = start;
    while if down { n > end } else { n < end } {
        if out.len() >= MAX_RANGE {
            return Err("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".into());
        }
        let next = n
            .add(&step)
            .map_err(|_| "step must not be infinite".to_string())?;
        out.push(Value::Number(std::mem::replace(&mut n, next)));
    }
    check_size(out.len(), "list")?;
    Ok(Value::List(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, list, n, nums, s};
    use super::*;

    #[test]
    fn conformance_014_sequences() {
        let tags = call(
            "concat",
            &[list(&["r/app:a", "r/app:b"]), list(&["r/app:a", "r/app:c"])],
        )
        .unwrap();
        assert_eq!(
            call("distinct", &[tags]),
            Ok(list(&["r/app:a", "r/app:b", "r/app:c"]))
        );
        let platforms = list(&["linux/s390x", "linux/amd64", "linux/arm64"]);
        assert_eq!(
            call("sort", &[platforms]),
            Ok(list(&["linux/amd64", "linux/arm64", "linux/s390x"]))
        );
        let nested = Value::List(vec![list(&["a", "b"]), list(&["c"]), list(&[])]);
        assert_eq!(call("flatten", &[nested]), Ok(list(&["a", "b", "c"])));
        assert_eq!(
            call("reverselist", &[list(&["1", "2", "3"])]),
            Ok(list(&["3", "2", "1"]))
        );
        assert_eq!(
            call("slice", &[list(&["p", "q", "r", "s"]), n(1.0), n(3.0)]),
            Ok(list(&["q", "r"]))
        );
        assert_eq!(
            call("compact", &[list(&["a", "", "b"])]),
            Ok(list(&["a", "b"]))
        );
        let chunks = call("chunklist", &[list(&["a", "b", "c"]), n(2.0)]);
        assert_eq!(
            chunks,
            Ok(Value::List(vec![list(&["a", "b"]), list(&["c"])]))
        );
        assert_eq!(
            call("range", &[n(1.0), n(10.0), n(3.0)]),
            Ok(nums(&[1.0, 4.0, 7.0]))
        );
    }

    #[test]
    fn range_forms() {
        assert_eq!(call("range", &[n(3.0)]), Ok(nums(&[0.0, 1.0, 2.0])));
        assert_eq!(call("range", &[n(-2.0)]), Ok(nums(&[0.0, -1.0])));
        assert_eq!(call("range", &[n(3.0), n(1.0)]), Ok(nums(&[3.0, 2.0])));
        assert_eq!(call("range", &[n(0.0)]), Ok(nums(&[])));
        assert_eq!(
            call("range", &[]),
            Err("must have one, two, or three arguments".into())
        );
        assert_eq!(
            call("range", &[n(0.0), n(1.0), n(0.0)]),
            Err("invalid value for \"params\" parameter: step must not be zero".into())
        );
        assert_eq!(
            call("range", &[n(0.0), n(5.0), n(-1.0)]),
            Err("invalid value for \"params\" parameter: end must be less than start when step is negative".into())
        );
        assert!(
            call("range", &[n(1e9)])
                .unwrap_err()
                .starts_with("more than 1024 values")
        );
        assert_eq!(call("range", &[s("2")]), Ok(nums(&[0.0, 1.0])));
    }

    #[test]
    fn concat_and_flatten_errors() {
        assert_eq!(
            call("concat", &[]),
            Err("at least one argument is required".into())
        );
        assert_eq!(
            call("concat", &[list(&[]), s("x")]),
            Err("invalid value for \"seqs\" parameter: all arguments must be lists or tuples; got string".into())
        );
        assert_eq!(
            call("flatten", &[s("x")]),
            Err("can only flatten lists, sets and tuples".into())
        );
        let deep = Value::List(vec![Value::List(vec![
            Value::List(vec![n(1.0)]),
            Value::Null,
        ])]);
        assert_eq!(
            call("flatten", &[deep]),
            Ok(Value::List(vec![n(1.0), Value::Null]))
        );
    }

    #[test]
    fn slice_bounds() {
        let abc = list(&["a", "b", "c"]);
        assert_eq!(call("slice", &[abc.clone(), n(3.0), n(3.0)]), Ok(list(&[])));
        assert_eq!(
            call("slice", &[abc.clone(), n(2.0), n(1.0)]),
            Err("invalid value for \"start_index\" parameter: start index must not be greater than end index".into())
        );
        assert_eq!(
            call("slice", &[abc.clone(), n(0.0), n(4.0)]),
            Err("invalid value for \"end_index\" parameter: end index must not be greater than the length of the list".into())
        );
        assert_eq!(
            call("slice", &[abc, n(-1.0), n(1.0)]),
            Err("invalid value for \"start_index\" parameter: start index must not be less than zero".into())
        );
        assert_eq!(
            call("slice", &[s("x"), n(0.0), n(0.0)]),
            Err("invalid value for \"list\" parameter: must be a list or tuple value".into())
        );
    }

    #[test]
    fn chunklist_sizes() {
        let abc = list(&["a", "b", "c"]);
        assert_eq!(
            call("chunklist", &[abc.clone(), n(0.0)]),
            Ok(Value::List(vec![abc.clone()]))
        );
        assert_eq!(
            call("chunklist", &[abc.clone(), n(-1.0)]),
            Err("the size argument must be positive".into())
        );
        assert!(
            call("chunklist", &[abc, n(1.5)])
                .unwrap_err()
                .starts_with("invalid size: value must be a whole number")
        );
        assert_eq!(
            call("chunklist", &[list(&[]), n(2.0)]),
            Ok(Value::List(vec![]))
        );
    }

    #[test]
    fn element_types_unify_like_cty() {
        let mixed = Value::List(vec![s("1"), n(1.0), n(2.0)]);
        assert_eq!(call("distinct", &[mixed]), Ok(list(&["1", "2"])));
        let bad = Value::List(vec![n(1.0), Value::Bool(true)]);
        assert_eq!(
            call("distinct", &[bad]),
            Err(
                "invalid value for \"list\" parameter: all list elements must have the same type"
                    .into()
            )
        );
        assert_eq!(call("sort", &[nums(&[10.0, 9.0])]), Ok(list(&["10", "9"])));
        assert_eq!(
            call("sort", &[Value::List(vec![s("a"), Value::Null])]),
            Err("given list element 1 is null; a null string cannot be sorted".into())
        );
        assert_eq!(
            call("compact", &[Value::List(vec![Value::Null, n(1.0)])]),
            Ok(list(&["1"]))
        );
    }

    #[test]
    fn reverselist_rejects_strings() {
        assert_eq!(
            call("reverselist", &[s("ab")]),
            Err("invalid value for \"list\" parameter: can only reverse list or tuple values, not string".into())
        );
    }
}
