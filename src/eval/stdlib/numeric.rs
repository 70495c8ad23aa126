//! Number builtins: arithmetic, rounding, comparison and integer parsing, computed as cty
//! computes them (`function/stdlib/number.go`): arithmetic, `ceil`, `floor`, `int`, `min`,
//! `max` and `parseint` on big floats at the operands' precision; `pow` and `log` through Go's
//! float64 `math` package, as cty does, so their results carry 53 bits.

use num_bigint::BigUint;

use super::args::{arg, arg_error, arg_int, arg_num, quote, type_name, whole};
use super::{Env, Number, Value};

/// cty turns Go's `big.ErrNaN` panic into a message.
fn number(n: Result<Number, crate::base::number::NaN>, what: &str) -> Result<Value, String> {
    n.map(Value::Number).map_err(|_| format!("can't {what}"))
}

fn pair(args: &[Value]) -> Result<(Number, Number), String> {
    Ok((arg_num(args, 0, "a")?, arg_num(args, 1, "b")?))
}

pub(super) fn add(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a.add(&b), "compute sum of opposing infinities")
}

pub(super) fn subtract(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a.sub(&b), "subtract infinity from itself")
}

pub(super) fn multiply(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a.mul(&b), "multiply zero by infinity")
}

/// Dividing a non-zero number by zero gives an infinity, as in cty.
pub(super) fn divide(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a.div(&b), "divide zero by zero or infinity by infinity")
}

/// cty's remainder keeps the dividend's sign, returns the dividend for a zero divisor, and
/// lets infinities through as multiplication would.
pub(super) fn modulo(_: &Env, args: &[Value]) -> Result<Value, String> {
    let (a, b) = pair(args)?;
    number(a.rem(&b), "use modulo with zero and infinity")
}

pub(super) fn absolute(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.abs()))
}

pub(super) fn negate(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.neg()))
}

pub(super) fn ceil(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.round_toward(true)))
}

pub(super) fn floor(_: &Env, args: &[Value]) -> Result<Value, String> {
    Ok(Value::Number(arg_num(args, 0, "num")?.round_toward(false)))
}

/// Truncates toward zero.
pub(super) fn int(_: &Env, args: &[Value]) -> Result<Value, String> {
    arg_num(args, 0, "num")?
        .trunc()
        .map(Value::Number)
        .ok_or_else(|| "can't truncate infinity to an integer".into())
}

/// gocty's conversion to float64: out of range is refused rather than made infinite.
fn float_arg(args: &[Value], i: usize, name: &str) -> Result<f64, String> {
    let n = arg_num(args, i, name)?;
    let f = n.to_f64();
    if f.is_infinite() && !n.is_inf() {
        return Err(format!(
            "value must be between {:.6} and {:.6} inclusive",
            -f64::MAX,
            f64::MAX
        ));
    }
    Ok(f)
}

pub(super) fn log(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = float_arg(args, 0, "num")?;
    let base = float_arg(args, 1, "base")?;
    number(
        Number::float(n.ln() / base.ln()),
        "compute a logarithm that is not a number",
    )
}

pub(super) fn pow(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = float_arg(args, 0, "num")?;
    let power = float_arg(args, 1, "power")?;
    number(
        Number::float(n.powf(power)),
        "compute a power that is not a number",
    )
}

/// cty reads the argument as a Go int, so fractions are refused rather than signed.
pub(super) fn signum(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = arg_int(args, 0, "num")?;
    Ok(Value::int(n.signum()))
}

pub(super) fn max(_: &Env, args: &[Value]) -> Result<Value, String> {
    extreme(args, std::cmp::Ordering::Greater)
}

pub(super) fn min(_: &Env, args: &[Value]) -> Result<Value, String> {
    extreme(args, std::cmp::Ordering::Less)
}

/// The first number that beats every earlier one, so among equal values the first is kept
/// (with its own precision), as cty's loop does.
fn extreme(args: &[Value], wins: std::cmp::Ordering) -> Result<Value, String> {
    if args.is_empty() {
        return Err("must pass at least one number".into());
    }
    let mut best: Option<Number> = None;
    for i in 0..args.len() {
        let n = arg_num(args, i, "numbers")?;
        if best.as_ref().is_none_or(|b| n.cmp(b) == wins) {
            best = Some(n);
        }
    }
    Ok(best.map_or(Value::Null, Value::Number))
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
/// (case-insensitive up to base 36) and `A-Z` as 36–61 above it, with no underscores. The
/// integer is exact, at its own bit length (at least 64), as `big.Float.SetInt` keeps it.
pub(super) fn parseint(_: &Env, args: &[Value]) -> Result<Value, String> {
    let text = match arg(args, 0, "number")? {
        Value::String(s) => s,
        other => {
            let msg = format!("first argument must be a string, not {}", type_name(other));
            return Err(arg_error("number", msg));
        }
    };
    let base = whole(&arg_num(args, 1, "base")?).map_err(|e| arg_error("base", e))?;
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

fn parse_in_base(text: &str, base: u32) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let digits: Vec<u8> = digits
        .chars()
        .map(|c| digit_value(c, base).map(|d| d as u8))
        .collect::<Option<_>>()?;
    let magnitude = BigUint::from_radix_be(&digits, base)?;
    Some(Number::big_int(negative, magnitude))
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

    fn big(text: &str) -> Value {
        Value::Number(Number::parse(text).expect("parses"))
    }

    /// The text bake prints for a call's result.
    fn text(name: &str, args: &[Value]) -> String {
        call(name, args).map_or_else(
            |e| format!("error: {e}"),
            |v| v.to_str().unwrap_or_default(),
        )
    }

    /// Results as `docker buildx bake --print` (0.13.1) printed them for the same calls.
    #[test]
    fn results_print_as_cty_prints_them() {
        let cases: &[(&str, &[Value], &str)] = &[
            ("add", &[big("0.1"), big("0.2")], "0.3"),
            ("subtract", &[big("0.5"), big("0.25")], "0.25"),
            ("multiply", &[big("0.1"), big("3")], "0.3"),
            (
                "divide",
                &[big("1"), big("3")],
                &format!("0.{}5", "3".repeat(154)),
            ),
            (
                "divide",
                &[big("2"), big("3")],
                &format!("0.{}7", "6".repeat(153)),
            ),
            ("modulo", &[big("10.5"), big("3")], "1.5"),
            ("pow", &[big("2"), big("60")], "1152921504606847000"),
            ("pow", &[big("10"), big("-2")], "0.01"),
            ("pow", &[big("2"), big("0.5")], "1.4142135623730951"),
            ("log", &[big("8"), big("2")], "3"),
            ("log", &[big("10"), big("3")], "2.095903274289385"),
            ("floor", &[big("-4.1")], "-5"),
            ("ceil", &[big("-4.9")], "-4"),
            ("ceil", &[big("-0.5")], "0"),
            (
                "floor",
                &[big("123456789012345678901234567890.5")],
                "123456789012345678901234567890",
            ),
            ("int", &[big("-0.5")], "0"),
            ("absolute", &[big("-0.000001")], "0.000001"),
            ("negate", &[big("0")], "-0"),
            (
                "max",
                &[big("1"), big("1.0000000000000000000001")],
                "1.0000000000000000000001",
            ),
            (
                "min",
                &[big("-1e30"), big("2")],
                "-1000000000000000000000000000000",
            ),
            ("signum", &[big("0")], "0"),
            ("parseint", &[s("-zz"), big("36")], "-1295"),
            ("parseint", &[s("1"), big("2")], "1"),
            ("parseint", &[s("-0"), big("10")], "0"),
        ];
        for (name, args, want) in cases {
            assert_eq!(&text(name, args), want, "{name}({args:?})");
        }
    }

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
            Ok(big("87112285931760246646623899502532662132735"))
        );
    }
}
