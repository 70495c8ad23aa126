//! Boolean builtins and value equality.

use super::args::arg_bool;
use super::{Env, Value};

pub(super) fn and(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(
        arg_bool(args, 0, "a")? && arg_bool(args, 1, "b")?,
    ))
}

pub(super) fn or(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(
        arg_bool(args, 0, "a")? || arg_bool(args, 1, "b")?,
    ))
}

pub(super) fn not(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(!arg_bool(args, 0, "val")?))
}

/// cty equality: no conversion, so values of different types differ (`equal(1, "1")` is
/// false), and null equals only null.
pub(super) fn equal(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(operand(args, 0) == operand(args, 1)))
}

pub(super) fn notequal(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(operand(args, 0) != operand(args, 1)))
}

/// Both parameters of `equal` accept null, so a missing value reads as null.
fn operand(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Null)
}

#[cfg(test)]
mod tests {
    use super::super::testing::call;
    use super::*;

    fn b(v: bool) -> Value {
        Value::Bool(v)
    }

    #[test]
    fn boolean_operators() {
        assert_eq!(call("and", &[b(true), b(false)]), Ok(b(false)));
        assert_eq!(call("or", &[b(true), b(false)]), Ok(b(true)));
        assert_eq!(call("not", &[b(true)]), Ok(b(false)));
        assert_eq!(call("not", &[Value::string("false")]), Ok(b(true)));
        assert_eq!(call("and", &[Value::string("1"), b(true)]), Ok(b(true)));
        assert_eq!(
            call("and", &[b(true), Value::Null]),
            Err("invalid value for \"b\" parameter: argument must not be null".into())
        );
        assert_eq!(
            call("not", &[Value::num(1.0)]),
            Err("invalid value for \"val\" parameter: bool required, but have number".into())
        );
        assert_eq!(
            call("or", &[Value::string("yes"), b(true)]),
            Err("invalid value for \"a\" parameter: a bool is required".into())
        );
    }

    #[test]
    fn equality_is_type_strict() {
        let one = Value::num(1.0);
        assert_eq!(call("equal", &[one.clone(), Value::num(1.0)]), Ok(b(true)));
        assert_eq!(
            call("equal", &[one.clone(), Value::string("1")]),
            Ok(b(false))
        );
        assert_eq!(
            call("notequal", &[Value::string(""), Value::string("reg")]),
            Ok(b(true))
        );
        assert_eq!(call("equal", &[Value::Null, Value::Null]), Ok(b(true)));
        assert_eq!(call("equal", &[Value::Null, one]), Ok(b(false)));
    }
}
