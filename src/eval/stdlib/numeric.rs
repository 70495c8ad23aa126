//! Number builtins: arithmetic, rounding, comparison and integer parsing.
//!
//! cty computes with arbitrary-precision decimals; rbake's numbers are f64, so results agree
//! with buildx wherever the values are representable, which covers integers up to 2^53 and
//! the usual short decimals.

use super::args::{arg, arg_error, arg_int, arg_num, quote, type_name, whole};
use super::{Env, Value};

/// cty rejects NaN results where Go's big.Float would panic; a message is kinder.
fn number(n: f64, what: &str) -> Result<Value, String> {
    if n.is_nan() {
        Err(format!("can't {what}"))
    } else {
        Ok(Value::Number(n))
    }
}

fn pair(args: &[Value]) -> Result<(f64, f64), String> {
    Ok((arg_num(args, 0, "a")?, arg_num(args, 1, "b")?))
}

pub(super) fn add(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a + b, "compute sum of opposing infinities")
}

pub(super) fn subtract(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a - b, "subtract infinity from itself")
}

pub(super) fn multiply(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a * b, "multiply zero by infinity")
}

/// Dividing a non-zero number by zero gives an infinity, as in cty.
pub(super) fn divide(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a / b, "divide zero by zero or infinity by infinity")
}

/// cty's remainder keeps the dividend's sign, returns the dividend for a zero divisor, and
/// lets infinities through as multiplication would.
pub(super) fn modulo(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    let result = if a.is_infinite() || b.is_infinite() {
        a * b
    } else if b == 0.0 {
        a
    } else {
        a % b
    };
    number(result, "use modulo with zero and infinity")
}

pub(super) fn absolute(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.abs()))
}

pub(super) fn negate(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(-arg_num(args, 0, "num")?))
}

pub(super) fn ceil(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.ceil()))
}

pub(super) fn floor(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.floor()))
}

/// Truncates toward zero.
pub(super) fn int(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = arg_num(args, 0, "num")?;
    if n.is_infinite() {
        return Err("can't truncate infinity to an integer".into());
    }
    Ok(Value::Number(n.trunc()))
}

pub(super) fn log(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = arg_num(args, 0, "num")?;
    let base = arg_num(args, 1, "base")?;
    number(
        n.ln() / base.ln(),
        "compute a logarithm that is not a number",
    )
}

pub(super) fn pow(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = arg_num(args, 0, "num")?;
    let power = arg_num(args, 1, "power")?;
    number(n.powf(power), "compute a power that is not a number")
}

/// cty reads the argument as a Go int, so fractions are refused rather than signed.
pub(super) fn signum(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = arg_int(args, 0, "num")?;
    Ok(Value::Number(n.signum() as f64))
}

pub(super) fn max(_: &Env, args: &[Value]) -> Result<Value, String> {
    extreme(args, f64::max)
}

pub(super) fn min(_: &Env, args: &[Value]) -> Result<Value, String> {
    extreme(args, f64::min)
}

fn extreme(args: &[Value], pick: fn(f64, f64) -> f64) -> Result<Value, String> {
    if args.is_empty() {
        return Err("must pass at least one number".into());
    }
    let mut nums = (0..args.len()).map(|i| arg_num(args, i, "numbers"));
    let first = nums.next().unwrap_or(Ok(0.0))?;
    nums.try_fold(first, |acc, n| Ok(pick(acc, n?)))
        .map(Value::Number)
}

pub(super) fn greaterthan(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    Ok(Value::Bool(a > b))
}

pub(super) fn greaterthanorequalto(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    Ok(Value::Bool(a >= b))
}

pub(super) fn lessthan(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    Ok(Value::Bool(a < b))
}

pub(super) fn lessthanorequalto(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    Ok(Value::Bool(a <= b))
}

/// Go's `big.Int.SetString` for a given base: an optional sign, then digits `0-9a-z`
/// (case-insensitive up to base 36) and `A-Z` as 36–61 above it, with no underscores.
pub(super) fn parseint(_: &Env, args: &[Value]) -> Result<Value, String> {
    let text = match arg(args, 0, "number")? {
        Value::String(s) => s,
        other => {
            let msg = format!("first argument must be a string, not {}", type_name(other));
            return Err(arg_error("number", msg));
        }
    };
    let base = whole(arg_num(args, 1, "base")?).map_err(|e| arg_error("base", e))?;
    if !(2..=62).contains(&base) {
        return Err(arg_error(
            "base",
            "base must be a whole number between 2 and 62 inclusive",
        ));
    }
    parse_in_base(text, base as u32)
        .map(Value::Number)
        .ok_or_else(|| {
            arg_error(
                "number",
                format!("cannot parse {} as a base {base} integer", quote(text)),
            )
        })
}

fn parse_in_base(text: &str, base: u32) -> Option<f64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    // Exact while it fits in 128 bits, then approximate: rbake's numbers are f64 anyway.
    let mut exact: Option<u128> = Some(0);
    let mut approx = 0.0_f64;
    for c in digits.chars() {
        let d = digit_value(c, base)?;
        exact = exact.and_then(|e| e.checked_mul(u128::from(base))?.checked_add(u128::from(d)));
        approx = approx * f64::from(base) + f64::from(d);
    }
    let magnitude = exact.map_or(approx, |e| e as f64);
    Some(if negative { -magnitude } else { magnitude })
}

fn digit_value(c: char, base: u32) -> Option<u32> {
    let d = match c {
        '0'..='9' => c as u32 - '0' as u32,
        'a'..='z' => c as u32 - 'a' as u32 + 10,
        'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
        'A'..='Z' => c as u32 - 'A' as u32 + 36,
        _ => return None,
    };
    (d < base).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, n, s};
    use super::*;

    #[test]
    fn conformance_016_math() {
        assert_eq!(call("add", &[n(2.0), n(3.0)]), Ok(n(5.0)));
        assert_eq!(call("subtract", &[n(10.0), n(4.5)]), Ok(n(5.5)));
        assert_eq!(call("multiply", &[n(6.0), n(7.0)]), Ok(n(42.0)));
        assert_eq!(call("divide", &[n(10.0), n(4.0)]), Ok(n(2.5)));
        assert_eq!(call("modulo", &[n(17.0), n(5.0)]), Ok(n(2.0)));
        assert_eq!(call("max", &[n(3.0), n(9.0), n(1.0)]), Ok(n(9.0)));
        assert_eq!(call("min", &[n(3.0), n(9.0), n(1.0)]), Ok(n(1.0)));
        assert_eq!(call("pow", &[n(2.0), n(10.0)]), Ok(n(1024.0)));
        assert_eq!(call("ceil", &[n(4.1)]), Ok(n(5.0)));
        assert_eq!(call("floor", &[n(4.9)]), Ok(n(4.0)));
        assert_eq!(call("absolute", &[n(-12.0)]), Ok(n(12.0)));
        assert_eq!(call("negate", &[n(5.0)]), Ok(n(-5.0)));
        assert_eq!(call("signum", &[n(-3.0)]), Ok(n(-1.0)));
        assert_eq!(call("int", &[n(7.8)]), Ok(n(7.0)));
        assert_eq!(call("parseint", &[s("ff"), n(16.0)]), Ok(n(255.0)));
        assert_eq!(
            call("greaterthan", &[n(5.0), n(3.0)]),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn comparisons() {
        assert_eq!(
            call("greaterthanorequalto", &[n(5.0), n(5.0)]),
            Ok(Value::Bool(true))
        );
        assert_eq!(call("lessthan", &[n(10.0), n(3.0)]), Ok(Value::Bool(false)));
        assert_eq!(
            call("lessthanorequalto", &[n(5.0), n(7.0)]),
            Ok(Value::Bool(true))
        );
        assert_eq!(call("lessthan", &[s("2"), n(10.0)]), Ok(Value::Bool(true)));
    }

    #[test]
    fn arithmetic_edges() {
        assert_eq!(call("modulo", &[n(-7.0), n(3.0)]), Ok(n(-1.0)));
        assert_eq!(call("modulo", &[n(7.0), n(0.0)]), Ok(n(7.0)));
        assert_eq!(call("modulo", &[n(5.5), n(2.0)]), Ok(n(1.5)));
        assert_eq!(call("divide", &[n(1.0), n(0.0)]), Ok(n(f64::INFINITY)));
        assert_eq!(
            call("divide", &[n(0.0), n(0.0)]),
            Err("can't divide zero by zero or infinity by infinity".into())
        );
        assert_eq!(
            call("add", &[n(f64::INFINITY), n(f64::NEG_INFINITY)]),
            Err("can't compute sum of opposing infinities".into())
        );
        assert_eq!(call("int", &[n(-7.8)]), Ok(n(-7.0)));
        assert_eq!(
            call("int", &[n(f64::INFINITY)]),
            Err("can't truncate infinity to an integer".into())
        );
        assert_eq!(call("log", &[n(100.0), n(10.0)]), Ok(n(2.0)));
        assert!(call("log", &[n(-1.0), n(10.0)]).is_err());
        assert!(
            call("signum", &[n(-2.5)])
                .unwrap_err()
                .starts_with("value must be a whole number")
        );
        assert_eq!(call("signum", &[n(0.0)]), Ok(n(0.0)));
        assert_eq!(
            call("max", &[]),
            Err("must pass at least one number".into())
        );
    }

    #[test]
    fn argument_conversion_errors() {
        assert_eq!(
            call("add", &[s("x"), n(1.0)]),
            Err("invalid value for \"a\" parameter: a number is required".into())
        );
        assert_eq!(
            call("add", &[n(1.0), Value::Bool(true)]),
            Err("invalid value for \"b\" parameter: number required, but have bool".into())
        );
        assert_eq!(
            call("add", &[n(1.0), Value::Null]),
            Err("invalid value for \"b\" parameter: argument must not be null".into())
        );
        assert_eq!(call("absolute", &[s("-3")]), Ok(n(3.0)));
    }

    #[test]
    fn parseint_follows_big_int() {
        assert_eq!(call("parseint", &[s("-101"), n(2.0)]), Ok(n(-5.0)));
        assert_eq!(call("parseint", &[s("FF"), n(16.0)]), Ok(n(255.0)));
        assert_eq!(call("parseint", &[s("Z"), n(62.0)]), Ok(n(61.0)));
        assert_eq!(
            call("parseint", &[s("zz"), n(16.0)]),
            Err(
                "invalid value for \"number\" parameter: cannot parse \"zz\" as a base 16 integer"
                    .into()
            )
        );
        assert_eq!(
            call("parseint", &[s("1_0"), n(10.0)]),
            Err(
                "invalid value for \"number\" parameter: cannot parse \"1_0\" as a base 10 integer"
                    .into()
            )
        );
        assert_eq!(call("parseint", &[n(12.0), n(10.0)]), Err("invalid value for \"number\" parameter: first argument must be a string, not number".into()));
        assert_eq!(call("parseint", &[s("1"), n(1.0)]), Err("invalid value for \"base\" parameter: base must be a whole number between 2 and 62 inclusive".into()));
        assert_eq!(
            call(
                "parseint",
                &[s("ffffffffffffffffffffffffffffffffff"), n(16.0)]
            ),
            Ok(n(8.711228593176025e40))
        );
    }
}
