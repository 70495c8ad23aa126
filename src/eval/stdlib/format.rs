//! `format` and `formatlist`: cty's printf.
//!
//! cty parses the format string itself (flags, width, precision, then an optional `[n]`
//! argument index, then a verb letter) but renders numbers with Go's `math/big`
//! formatting rules. Both are reproduced here on f64, so `%v` of a million prints `1e+06`
//! and `%03d` pads with zeros exactly as buildx does.

use unicode_segmentation::UnicodeSegmentation;

use super::args::{
    MAX_RESULT_LEN, arg_error, arg_str, check_size, quote, quote_char, to_bool, to_number,
    to_string,
};
use super::encoding::{json_encode, json_quote};
use super::{Env, Value};

/// Go's fmt refuses widths and precisions above a million; so does this printf, which
/// keeps a verb like `%999999999d` from allocating gigabytes.
const MAX_WIDTH: usize = 1_000_000;

pub(super) fn format(_: &Env, args: &[Value]) -> Result<Value, String> {
    let fmt = arg_str(args, 0, "format")?;
    let rest = args.get(1..).unwrap_or_default();
    render(&fmt, rest)
        .map(Value::String)
        .map_err(FormatError::for_format)
}

pub(super) fn formatlist(_: &Env, args: &[Value]) -> Result<Value, String> {
    let fmt = arg_str(args, 0, "format")?;
    let rest = args.get(1..).unwrap_or_default();
    if rest.is_empty() {
        let one = render(&fmt, rest).map_err(FormatError::for_format)?;
        return Ok(Value::List(vec![Value::String(one)]));
    }
    let rows = iteration_count(rest)?;
    check_size(rows, "list")?;
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let row_args: Vec<Value> = rest
            .iter()
            .map(|a| match a {
                Value::List(items) => items.get(row).cloned().unwrap_or_default(),
                other => other.clone(),
            })
            .collect();
        let line = render(&fmt, &row_args)
            .map_err(|e| format!("error on format iteration {row}: {}", e.message()))?;
        out.push(Value::String(line));
    }
    Ok(Value::List(out))
}

/// Lists are iterated in step and other values repeat on every row, so all lists must have
/// the same length; without lists there is exactly one row.
fn iteration_count(args: &[Value]) -> Result<usize, String> {
    let mut chosen: Option<(usize, usize)> = None;
    for (i, a) in args.iter().enumerate() {
        let Value::List(items) = a else { continue };
        match chosen {
            None => chosen = Some((items.len(), i)),
            Some((len, j)) if len != items.len() => {
                let msg = format!(
                    "argument {} has length {}, which is inconsistent with argument {} of length {}",
                    i + 1,
                    items.len(),
                    j + 1,
                    len
                );
                return Err(arg_error("args", msg));
            }
            Some(_) => {}
        }
    }
    Ok(chosen.map_or(1, |(len, _)| len))
}

/// cty distinguishes errors about the argument list as a whole, which HCL attributes to the
/// `args` parameter, from errors in the format itself.
enum FormatError {
    Args(String),
    Other(String),
}

impl FormatError {
    fn for_format(self) -> String {
        match self {
            FormatError::Args(m) => arg_error("args", m),
            FormatError::Other(m) => m,
        }
    }

    fn message(self) -> String {
        match self {
            FormatError::Args(m) | FormatError::Other(m) => m,
        }
    }
}

/// One parsed `%` verb.
#[derive(Default)]
struct Verb<'a> {
    raw: &'a str,
    offset: usize,
    end: usize,
    arg_num: usize,
    mode: char,
    zero: bool,
    sharp: bool,
    plus: bool,
    minus: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Verb<'_> {
    fn unsupported(&self, msg: impl std::fmt::Display) -> FormatError {
        FormatError::Other(format!(
            "unsupported value for {} at {}: {msg}",
            quote(self.raw),
            self.offset
        ))
    }
}

fn render(fmt: &str, args: &[Value]) -> Result<String, FormatError> {
    let bytes = fmt.as_bytes();
    let mut out = String::new();
    let (mut p, mut literal_start) = (0, 0);
    let (mut next_arg, mut highest) = (1, 0);
    while p < bytes.len() {
        if bytes[p] != b'%' {
            p += 1;
            continue;
        }
        out.push_str(&fmt[literal_start..p]);
        if bytes.get(p + 1) == Some(&b'%') {
            out.push('%');
            p += 2;
        } else {
            let verb = parse_verb(fmt, p, next_arg)?;
            highest = highest.max(verb.arg_num);
            append_verb(&verb, args, &mut out)?;
            next_arg = verb.arg_num.saturating_add(1);
            p = verb.end;
        }
        literal_start = p;
        if out.len() > MAX_RESULT_LEN {
            return Err(FormatError::Other(
                "the formatted string would be too large".into(),
            ));
        }
    }
    out.push_str(&fmt[literal_start..]);
    if highest < args.len() {
        return Err(FormatError::Args(if highest == 0 {
            "too many arguments; no verbs in format string".into()
        } else {
            format!("too many arguments; only {highest} used by format string")
        }));
    }
    Ok(out)
}

/// Parses `%[flags][width][.precision][[n]]verb` starting at the `%` at `start`.
fn parse_verb(fmt: &str, start: usize, next_arg: usize) -> Result<Verb<'_>, FormatError> {
    let b = fmt.as_bytes();
    let mut v = Verb {
        offset: start,
        arg_num: next_arg,
        ..Verb::default()
    };
    let mut p = start + 1;
    while let Some(&c) = b.get(p) {
        match c {
            b'0' => v.zero = true,
            b'#' => v.sharp = true,
            b'-' => v.minus = true,
            b'+' => v.plus = true,
            b' ' => v.space = true,
            _ => break,
        }
        p += 1;
    }
    if matches!(b.get(p), Some(b'1'..=b'9')) {
        let (n, next) = digits(b, p);
        v.width = Some(n);
        p = next;
    }
    if b.get(p) == Some(&b'.') {
        let (n, next) = digits(b, p + 1);
        v.prec = Some(n);
        p = next;
    }
    if b.get(p) == Some(&b'[') {
        p += 1;
        if !matches!(b.get(p), Some(b'1'..=b'9')) {
            return Err(bad_char(fmt, p));
        }
        let (n, next) = digits(b, p);
        if b.get(next) != Some(&b']') {
            return Err(bad_char(fmt, next));
        }
        v.arg_num = n;
        p = next + 1;
    }
    match b.get(p) {
        Some(c) if c.is_ascii_alphabetic() => {
            v.mode = *c as char;
            v.end = p + 1;
            v.raw = &fmt[start..v.end];
            Ok(v)
        }
        _ => Err(bad_char(fmt, p)),
    }
}

/// Reads decimal digits, saturating rather than overflowing on absurdly long runs.
fn digits(b: &[u8], mut p: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while let Some(d @ b'0'..=b'9') = b.get(p) {
        n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
        p += 1;
    }
    (n, p)
}

/// cty's two parse errors: running out of input inside a verb, or an unexpected character.
fn bad_char(fmt: &str, p: usize) -> FormatError {
    match fmt.get(p..).and_then(|rest| rest.chars().next()) {
        None => FormatError::Other(format!(
            "invalid format string starting at offset {}",
            fmt.len()
        )),
        Some(c) => FormatError::Other(format!(
            "unrecognized format character {} at offset {p}",
            quote_char(c)
        )),
    }
}

fn append_verb(v: &Verb, args: &[Value], out: &mut String) -> Result<(), FormatError> {
    let Some(arg) = v.arg_num.checked_sub(1).and_then(|i| args.get(i)) else {
        return Err(FormatError::Other(format!(
            "not enough arguments for {} at {}: need index {} but have {} total",
            quote(v.raw),
            v.offset,
            v.arg_num,
            args.len()
        )));
    };
    if v.mode != 'v' && arg.is_null() {
        return Err(v.unsupported("null value cannot be formatted"));
    }
    if v.width.unwrap_or(0) > MAX_WIDTH || v.prec.unwrap_or(0) > MAX_WIDTH {
        return Err(v.unsupported("width or precision is too large"));
    }
    let text = match v.mode {
        'v' => as_is(v, arg)?,
        't' => to_bool(arg).map_err(|e| v.unsupported(e))?.to_string(),
        'b' | 'd' | 'o' | 'x' | 'X' => {
            integer(v, to_number(arg).map_err(|e| v.unsupported(e))?.to_f64())?
        }
        'e' | 'E' | 'f' | 'g' | 'G' => {
            float(v, to_number(arg).map_err(|e| v.unsupported(e))?.to_f64())
        }
        's' | 'q' => string(v, to_string(arg).map_err(|e| v.unsupported(e))?),
        mode => {
            return Err(FormatError::Other(format!(
                "unsupported format verb {} in {} at offset {}",
                quote_char(mode),
                quote(v.raw),
                v.offset
            )));
        }
    };
    out.push_str(&text);
    Ok(())
}

/// `%v` prints strings and numbers plainly and everything else, or anything under `%#v`,
/// as JSON.
fn as_is(v: &Verb, arg: &Value) -> Result<String, FormatError> {
    let text = match arg {
        Value::String(s) if !v.sharp => s.clone(),
        Value::Number(n) if !v.sharp => shortest_g(n.to_f64()),
        other => json_encode(other).map_err(|e| v.unsupported(e))?,
    };
    Ok(pad(v, text))
}

fn string(v: &Verb, mut s: String) -> String {
    if let Some(prec) = v.prec.filter(|&p| p > 0) {
        s = s.graphemes(true).take(prec).collect();
    }
    if v.mode == 'q' {
        s = json_quote(&s);
    }
    pad(v, s)
}

/// cty's own padding for strings and `%v`: width counts characters, and the `0` flag pads
/// with zeros even in front of text.
fn pad(v: &Verb, s: String) -> String {
    let Some(width) = v.width else { return s };
    let len = s.graphemes(true).count();
    if len >= width {
        return s;
    }
    let fill = (if v.zero { "0" } else { " " }).repeat(width - len);
    if v.minus { s + &fill } else { fill + &s }
}

/// Go's `big.Int` formatting for `%b %d %o %x %X`.
fn integer(v: &Verb, x: f64) -> Result<String, FormatError> {
    if !x.is_finite() || x.fract() != 0.0 {
        return Err(v.unsupported("an integer is required"));
    }
    let digits = integer_digits(x.abs(), v.mode);
    let sign = if x < 0.0 {
        "-"
    } else if v.plus {
        "+"
    } else if v.space {
        " "
    } else {
        ""
    };
    let prefix = match (v.sharp, v.mode) {
        (true, 'b') => "0b",
        (true, 'o') => "0",
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        _ => "",
    };
    let mut zeros = 0;
    if let Some(prec) = v.prec {
        if digits.len() < prec {
            zeros = prec - digits.len();
        } else if digits == "0" && prec == 0 {
            // Go prints nothing at all, not even padding, for zero at zero precision.
            return Ok(String::new());
        }
    }
    let (mut left, mut right) = (0, 0);
    let len = sign.len() + prefix.len() + zeros + digits.len();
    if let Some(width) = v.width.filter(|&w| w > len) {
        let d = width - len;
        if v.minus {
            right = d;
        } else if v.zero && v.prec.is_none() {
            zeros += d;
        } else {
            left = d;
        }
    }
    Ok(format!(
        "{}{sign}{prefix}{}{digits}{}",
        " ".repeat(left),
        "0".repeat(zeros),
        " ".repeat(right)
    ))
}

/// The digits of a non-negative whole number in the verb's base. Numbers beyond 64 bits
/// are written out from their binary form, which for an f64 is exact.
fn integer_digits(a: f64, mode: char) -> String {
    if mode == 'd' {
        return format!("{a:.0}");
    }
    let binary = if a < 18_446_744_073_709_551_616.0 {
        format!("{:b}", a as u64)
    } else {
        let bits = a.to_bits();
        let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
        let shift = ((bits >> 52) & 0x7ff) as usize - 1075;
        format!("{mantissa:b}{}", "0".repeat(shift))
    };
    let group = match mode {
        'o' => 3,
        'x' | 'X' => 4,
        _ => return binary,
    };
    let padded = format!(
        "{}{binary}",
        "0".repeat((group - binary.len() % group) % group)
    );
    let digits: String = padded
        .as_bytes()
        .chunks(group)
        .map(|chunk| {
            let value = chunk.iter().fold(0, |acc, b| acc * 2 + u32::from(b - b'0'));
            char::from_digit(value, 16).unwrap_or('0')
        })
        .collect();
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if mode == 'X' {
        digits.to_uppercase()
    } else {
        digits.to_string()
    }
}

/// Go's `big.Float` formatting for `%e %E %f %g %G`, with its sign and padding rules.
fn float(v: &Verb, x: f64) -> String {
    let body = if x.is_infinite() {
        "Inf".to_string()
    } else {
        float_body(v.mode, v.prec, x.abs())
    };
    let sign = if x.is_infinite() && x > 0.0 {
        if v.space { " " } else { "+" }
    } else if x.is_sign_negative() {
        "-"
    } else if v.plus {
        "+"
    } else if v.space {
        " "
    } else {
        ""
    };
    let padding = v.width.unwrap_or(0).saturating_sub(sign.len() + body.len());
    if v.zero && x.is_finite() {
        format!("{sign}{}{body}", "0".repeat(padding))
    } else if v.minus {
        format!("{sign}{body}{}", " ".repeat(padding))
    } else {
        format!("{}{sign}{body}", " ".repeat(padding))
    }
}

fn float_body(mode: char, prec: Option<usize>, a: f64) -> String {
    match mode {
        'f' => format!("{a:.*}", prec.unwrap_or(6)),
        'e' | 'E' => {
            let prec = prec.unwrap_or(6);
            let (digits, dp) = decimal_digits(a, Some(prec + 1));
            fmt_e(&digits, dp, prec, mode == 'E')
        }
        _ => {
            let prec = prec.map(|p| p.max(1));
            let (digits, dp) = decimal_digits(a, prec);
            fmt_g(&digits, dp, prec, mode == 'G')
        }
    }
}

/// `%v` of a number: Go's `Text('g', -1)`, the shortest digits in `%g` layout.
fn shortest_g(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (digits, dp) = decimal_digits(x.abs(), None);
    let sign = if x.is_sign_negative() { "-" } else { "" };
    format!("{sign}{}", fmt_g(&digits, dp, None, false))
}

/// The decimal digits of `a` (no trailing zeros) and the position of the decimal point,
/// so that `a = 0.d1d2d3… × 10^dp`, as Go's `decimal` type holds them. With `significant`
/// the digits are rounded half-to-even to that many places; without, they are the
/// shortest that round-trip.
fn decimal_digits(a: f64, significant: Option<usize>) -> (Vec<u8>, i64) {
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let sci = match significant {
        Some(n) => format!("{a:.*e}", n.saturating_sub(1)),
        None => format!("{a:e}"),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

/// Go's `%g`: exponent form for very small or large exponents, fixed form otherwise.
fn fmt_g(digits: &[u8], dp: i64, prec: Option<usize>, upper: bool) -> String {
    let len = digits.len() as i64;
    let mut p = prec.map_or(len, |p| p as i64);
    let mut eprec = p;
    if eprec > len && len >= dp {
        eprec = len;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        p = p.min(len);
        return fmt_e(digits, dp, (p - 1).max(0) as usize, upper);
    }
    if p > dp {
        p = len;
    }
    fmt_f(digits, dp, (p - dp).max(0) as usize)
}

fn fmt_e(digits: &[u8], dp: i64, prec: usize, upper: bool) -> String {
    let mut out = String::new();
    out.push(digits.first().map_or('0', |&d| d as char));
    if prec > 0 {
        out.push('.');
        let shown = digits
            .get(1..digits.len().min(prec + 1))
            .unwrap_or_default();
        out.extend(shown.iter().map(|&d| d as char));
        out.push_str(&"0".repeat(prec - shown.len()));
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    if exp.abs() < 10 {
        out.push('0');
    }
    out.push_str(&exp.abs().to_string());
    out
}

fn fmt_f(digits: &[u8], dp: i64, prec: usize) -> String {
    let digit_at = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |&d| d as char)
    };
    let mut out: String = if dp > 0 {
        (0..dp).map(digit_at).collect()
    } else {
        "0".into()
    };
    if prec > 0 {
        out.push('.');
        out.extend((1..=prec as i64).map(|i| digit_at(dp - 1 + i)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{call, n, s};
    use super::*;

    fn fmt(f: &str, args: &[Value]) -> Result<String, String> {
        let mut all = vec![s(f)];
        all.extend_from_slice(args);
        call("format", &all).map(|v| v.to_str().unwrap_or_default())
    }

    // The conformance input is the literal 3.14159, not an approximation of π.
    #[allow(clippy::approx_constant)]
    #[test]
    fn conformance_013_format() {
        assert_eq!(
            fmt("%s-%03d-%.2f", &[s("build"), n(7.0), n(3.14159)]),
            Ok("build-007-3.14".into())
        );
    }

    #[test]
    fn conformance_015_formatlist() {
        let a = Value::List(vec![s("a"), s("b")]);
        let b = Value::List(vec![s("1"), s("2")]);
        assert_eq!(
            call("formatlist", &[s("%s=%s"), a, b]),
            Ok(Value::List(vec![s("a=1"), s("b=2")]))
        );
    }

    #[allow(clippy::approx_constant)]
    #[test]
    fn verbs_render_like_go() {
        assert_eq!(
            fmt("%v %v %v", &[n(1e6), n(123456.0), n(0.00001)]),
            Ok("1e+06 123456 1e-05".into())
        );
        assert_eq!(
            fmt(
                "%v|%v|%#v",
                &[Value::Bool(true), Value::List(vec![n(1.0)]), s("<")]
            ),
            Ok("true|[1]|\"\\u003c\"".into())
        );
        assert_eq!(
            fmt(
                "%e|%.2E|%g|%.3g",
                &[n(1234.5), n(0.000123), n(1e21), n(3.14159)]
            ),
            Ok("1.234500e+03|1.23E-04|1e+21|3.14".into())
        );
        assert_eq!(
            fmt(
                "%8.3f|%-8.1f|%+.1f|%08.2f",
                &[n(3.14159), n(2.0), n(2.0), n(-1.5)]
            ),
            Ok("   3.142|2.0     |+2.0|-0001.50".into())
        );
        assert_eq!(
            fmt(
                "%b|%o|%#o|%x|%#X|%5d|%-5d|%+d|%.3d",
                &[
                    n(5.0),
                    n(8.0),
                    n(8.0),
                    n(255.0),
                    n(255.0),
                    n(42.0),
                    n(42.0),
                    n(42.0),
                    n(7.0)
                ]
            ),
            Ok("101|10|010|ff|0XFF|   42|42   |+42|007".into())
        );
        assert_eq!(fmt("[%.0d]", &[n(0.0)]), Ok("[]".into()));
        assert_eq!(fmt("%x", &[n(1e20)]), Ok("56bc75e2d63100000".into()));
        assert_eq!(fmt("%d", &[n(1e20)]), Ok("100000000000000000000".into()));
        assert_eq!(
            fmt(
                "%q|%5s|%-5s|%.2s|%05s",
                &[s("a\"b"), s("ab"), s("ab"), s("héllo"), s("ab")]
            ),
            Ok("\"a\\\"b\"|   ab|ab   |hé|000ab".into())
        );
        assert_eq!(
            fmt("%t %t", &[Value::Bool(false), s("1")]),
            Ok("false true".into())
        );
        assert_eq!(fmt("%[2]s %[1]s %s", &[s("a"), s("b")]), Ok("b a b".into()));
        assert_eq!(fmt("100%% %s", &[n(5.0)]), Ok("100% 5".into()));
        assert_eq!(
            fmt("%f|%v", &[n(f64::INFINITY), n(f64::NEG_INFINITY)]),
            Ok("+Inf|-Inf".into())
        );
        assert_eq!(fmt("%v", &[Value::Null]), Ok("null".into()));
        assert_eq!(fmt("%d", &[s("12")]), Ok("12".into()));
    }

    /// Cases from go-cty's own format tests.
    #[test]
    fn cty_format_cases() {
        let dancer = s("💃🏿");
        assert_eq!(
            fmt("%4s|%-4s|%6q", &[dancer.clone(), dancer.clone(), dancer]),
            Ok("   💃🏿|💃🏿   |   \"💃🏿\"".into())
        );
        assert_eq!(
            fmt(
                "%.5s|%.1q|%6.2q",
                &[s("日本語日本語"), s("日本語日本語"), s("hello")]
            ),
            Ok("日本語日本|\"日\"|  \"he\"".into())
        );
        assert_eq!(
            fmt(
                "%.1f|%g|%G|%e",
                &[
                    s("1.06"),
                    s("0.00000000000000000000001"),
                    n(1e-23),
                    n(1000.0)
                ]
            ),
            Ok("1.1|1e-23|1E-23|1.000000e+03".into())
        );
        assert_eq!(
            fmt("%% d|% f|%+f", &[n(10.0), n(-10.0)]),
            Ok("% d| 10.000000|-10.000000".into())
        );
        assert_eq!(
            fmt("%[0]s", &[s("a")]),
            Err("unrecognized format character '0' at offset 2".into())
        );
        assert_eq!(
            fmt("%v %v %v", &[s("a"), s("b")]),
            Err("not enough arguments for \"%v\" at 6: need index 3 but have 2 total".into())
        );
        assert_eq!(
            fmt("%☠", &[n(10.0)]),
            Err("unrecognized format character '☠' at offset 1".into())
        );
        assert_eq!(
            fmt("%012z", &[n(10.0)]),
            Err("unsupported format verb 'z' in \"%012z\" at offset 0".into())
        );
    }

    #[test]
    fn format_errors_match_cty() {
        assert_eq!(
            fmt("%", &[]),
            Err("invalid format string starting at offset 1".into())
        );
        assert_eq!(
            fmt("%!", &[]),
            Err("unrecognized format character '!' at offset 1".into())
        );
        assert_eq!(
            fmt("%z", &[n(1.0)]),
            Err("unsupported format verb 'z' in \"%z\" at offset 0".into())
        );
        assert_eq!(
            fmt("%s %s", &[s("a")]),
            Err("not enough arguments for \"%s\" at 3: need index 2 but have 1 total".into())
        );
        assert_eq!(fmt("x", &[s("a")]), Err("invalid value for \"args\" parameter: too many arguments; no verbs in format string".into()));
        assert_eq!(fmt("%s", &[s("a"), s("b")]), Err("invalid value for \"args\" parameter: too many arguments; only 1 used by format string".into()));
        assert_eq!(
            fmt("%d", &[n(1.5)]),
            Err("unsupported value for \"%d\" at 0: an integer is required".into())
        );
        assert_eq!(
            fmt("%d", &[s("x")]),
            Err("unsupported value for \"%d\" at 0: a number is required".into())
        );
        assert_eq!(
            fmt("%s", &[Value::Null]),
            Err("unsupported value for \"%s\" at 0: null value cannot be formatted".into())
        );
        assert_eq!(
            fmt("%s", &[Value::List(vec![])]),
            Err("unsupported value for \"%s\" at 0: string required, but have tuple".into())
        );
        assert!(fmt("%999999999d", &[n(1.0)]).is_err());
        assert!(fmt("%99999999999999999999999999d", &[n(1.0)]).is_err());
    }

    #[test]
    fn formatlist_rows() {
        let two = Value::List(vec![s("a"), s("b")]);
        assert_eq!(
            call("formatlist", &[s("x-%s-%s"), two.clone(), s("z")]),
            Ok(Value::List(vec![s("x-a-z"), s("x-b-z")]))
        );
        assert_eq!(
            call("formatlist", &[s("%s"), Value::List(vec![])]),
            Ok(Value::List(vec![]))
        );
        assert_eq!(
            call("formatlist", &[s("hi")]),
            Ok(Value::List(vec![s("hi")]))
        );
        assert_eq!(
            call("formatlist", &[s("%s%s"), two, Value::List(vec![s("1")])]),
            Err("invalid value for \"args\" parameter: argument 2 has length 1, which is inconsistent with argument 1 of length 2".into())
        );
        assert_eq!(
            call("formatlist", &[s("%d"), Value::List(vec![n(1.0), s("x")])]),
            Err("error on format iteration 1: unsupported value for \"%d\" at 0: a number is required".into())
        );
    }
}
