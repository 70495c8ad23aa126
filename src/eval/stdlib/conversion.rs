//! `convert`, HCL's type-conversion function.
//!
//! Its second argument is a type expression (`string`, `list(number)`), which HCL decodes
//! without evaluating. rbake's evaluator passes evaluated arguments, so `convert` cannot see
//! the type: the value passes through unchanged and the second argument is ignored.

use super::{Env, Value};

pub(super) fn convert(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(args.first().cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::super::testing::call;
    use super::*;

    #[test]
    fn value_passes_through() {
        let v = Value::string("42");
        assert_eq!(call("convert", &[v.clone(), Value::Null]), Ok(v));
        assert_eq!(
            call("convert", &[Value::Null, Value::Null]),
            Ok(Value::Null)
        );
    }
}
