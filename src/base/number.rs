//! Numbers as go-cty holds them: Go's `math/big.Float`, binary floating point with a
//! precision of its own per value, rounded to nearest even, with signed zeros and infinities.
//!
//! cty parses every literal and every string at 512 bits (`cty.ParseNumberVal`), makes
//! integers from Go ints at 64 bits (`NumberIntVal`) and floats at 53 (`NumberFloatVal`, what
//! `pow` and `log` return); an operation rounds to the larger precision of its operands
//! (multiplication to at least as many bits as its 512-bit product needs). A number prints as
//! `big.Float.Text('f', -1)`: the shortest decimal that rounds back to the same value at the
//! value's own precision, never with an exponent. So `0.1 + 0.2` is `0.3`, `1 / 3` has 155
//! digits, and `pow(2, 60)` prints `1152921504606847000`.
//!
//! Most numbers in bake files are small integers, so those are held as an `i64` and computed
//! without allocating while the result stays exact; everything else is a [`Float`] whose
//! mantissa is a `num_bigint::BigUint`. No crate gives Go's per-value precision and shortest
//! formatting at that precision, so the rounding and printing rules are written here, from
//! the semantics of Go's `math/big` (correct rounding, so any correct implementation agrees).

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::fmt;

/// The precision cty parses at.
pub const PARSE_PREC: u32 = 512;
/// Go's `big.Float` exponent range (`MinExp`, `MaxExp`), for a mantissa in [0.5, 1).
const MAX_EXP: i64 = i32::MAX as i64;
const MIN_EXP: i64 = i32::MIN as i64;

#[derive(Clone, Debug)]
pub struct Number(Repr);

#[derive(Clone, Debug)]
enum Repr {
    /// An integer held exactly; `prec` is the precision its `big.Float` carries, never below
    /// the integer's significant bits.
    Small {
        v: i64,
        prec: u32,
    },
    Big(Box<Float>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Float {
    neg: bool,
    prec: u32,
    form: Form,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Form {
    Zero,
    Inf,
    /// `mant * 2^exp`, `mant` odd.
    Finite {
        mant: BigUint,
        exp: i64,
    },
}

/// An operation Go's `big.Float` refuses with `ErrNaN` (cty turns it into a message).
#[derive(Debug, PartialEq, Eq)]
pub struct NaN;

/// The bits from the highest set bit down to the lowest set bit: what a precision must hold.
fn sig_bits(v: u64) -> u32 {
    if v == 0 {
        0
    } else {
        64 - v.leading_zeros() - v.trailing_zeros()
    }
}

impl Float {
    fn zero(neg: bool, prec: u32) -> Float {
        Float {
            neg,
            prec,
            form: Form::Zero,
        }
    }

    fn inf(neg: bool, prec: u32) -> Float {
        Float {
            neg,
            prec,
            form: Form::Inf,
        }
    }

    /// `mant * 2^exp` (+ a nonzero amount below its last bit when `sticky`), rounded to
    /// `prec` bits, nearest even, then clamped to Go's exponent range.
    fn round(neg: bool, mut mant: BigUint, mut exp: i64, sticky: bool, prec: u32) -> Float {
        if mant.is_zero() {
            return Float::zero(neg, prec);
        }
        let bits = mant.bits();
        if bits > u64::from(prec) {
            let shift = bits - u64::from(prec);
            let half = mant.bit(shift - 1);
            let below = sticky || mant.trailing_zeros().is_some_and(|t| t < shift - 1);
            mant >>= shift;
            exp += shift as i64;
            if half && (below || mant.bit(0)) {
                mant += 1u32;
            }
        }
        let tz = mant.trailing_zeros().unwrap_or(0);
        mant >>= tz;
        exp += tz as i64;
        let top = exp + mant.bits() as i64;
        if top > MAX_EXP {
            Float::inf(neg, prec)
        } else if top < MIN_EXP {
            Float::zero(neg, prec)
        } else {
            Float {
                neg,
                prec,
                form: Form::Finite { mant, exp },
            }
        }
    }

    fn from_int(v: i64, prec: u32) -> Float {
        Float::round(v < 0, BigUint::from(v.unsigned_abs()), 0, false, prec)
    }

    fn cmp_abs(&self, other: &Float) -> Ordering {
        match (&self.form, &other.form) {
            (Form::Zero, Form::Zero) | (Form::Inf, Form::Inf) => Ordering::Equal,
            (Form::Zero, _) | (_, Form::Inf) => Ordering::Less,
            (_, Form::Zero) | (Form::Inf, _) => Ordering::Greater,
            (Form::Finite { mant: a, exp: ea }, Form::Finite { mant: b, exp: eb }) => {
                let (ta, tb) = (*ea + a.bits() as i64, *eb + b.bits() as i64);
                ta.cmp(&tb).then_with(|| {
                    let e = (*ea).min(*eb);
                    (a << (*ea - e) as u64).cmp(&(b << (*eb - e) as u64))
                })
            }
        }
    }

    fn cmp(&self, other: &Float) -> Ordering {
        let zero = |f: &Float| f.form == Form::Zero;
        let sign = |f: &Float| {
            if zero(f) {
                0
            } else if f.neg {
                -1
            } else {
                1
            }
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal if sign(self) < 0 => other.cmp_abs(self),
            Ordering::Equal => self.cmp_abs(other),
            unequal => unequal,
        }
    }

    /// Go's `Add` into a zero-precision result: the larger precision of the two.
    fn add(&self, other: &Float) -> Result<Float, NaN> {
        let prec = self.prec.max(other.prec);
        match (&self.form, &other.form) {
            (Form::Inf, Form::Inf) if self.neg != other.neg => Err(NaN),
            (Form::Inf, _) => Ok(Float::inf(self.neg, prec)),
            (_, Form::Inf) => Ok(Float::inf(other.neg, prec)),
            // Round to nearest: -0 only when both are -0.
            (Form::Zero, Form::Zero) => Ok(Float::zero(self.neg && other.neg, prec)),
            (Form::Zero, _) => Ok(Float {
                prec,
                ..other.clone()
            }),
            (_, Form::Zero) => Ok(Float {
                prec,
                ..self.clone()
            }),
            (Form::Finite { mant: a, exp: ea }, Form::Finite { mant: b, exp: eb }) => {
                Ok(add_finite((self.neg, a, *ea), (other.neg, b, *eb), prec))
            }
        }
    }

    /// cty's `Multiply`: the product at 512 bits, kept at the operands' larger precision or
    /// at as many bits as the rounded product needs, whichever is more.
    fn mul(&self, other: &Float) -> Result<Float, NaN> {
        let neg = self.neg != other.neg;
        let prec = self.prec.max(other.prec);
        match (&self.form, &other.form) {
            (Form::Inf, Form::Zero) | (Form::Zero, Form::Inf) => Err(NaN),
            (Form::Inf, _) | (_, Form::Inf) => Ok(Float::inf(neg, prec)),
            (Form::Zero, _) | (_, Form::Zero) => Ok(Float::zero(neg, prec)),
            (Form::Finite { mant: a, exp: ea }, Form::Finite { mant: b, exp: eb }) => {
                let mut r = Float::round(neg, a * b, ea + eb, false, PARSE_PREC);
                let needed = match &r.form {
                    Form::Finite { mant, .. } => mant.bits() as u32,
                    _ => 0,
                };
                r.prec = prec.max(needed);
                Ok(r)
            }
        }
    }

    /// Go's `Quo` into a zero-precision result: the larger precision of the two.
    fn quo(&self, other: &Float) -> Result<Float, NaN> {
        self.quo_to(other, self.prec.max(other.prec))
    }

    /// Go's `z.Quo(x, y)` for a `z` that already has precision `prec`.
    fn quo_to(&self, other: &Float, prec: u32) -> Result<Float, NaN> {
        let neg = self.neg != other.neg;
        match (&self.form, &other.form) {
            (Form::Zero, Form::Zero) | (Form::Inf, Form::Inf) => Err(NaN),
            (Form::Zero, _) | (_, Form::Inf) => Ok(Float::zero(neg, prec)),
            (Form::Inf, _) | (_, Form::Zero) => Ok(Float::inf(neg, prec)),
            (Form::Finite { mant: a, exp: ea }, Form::Finite { mant: b, exp: eb }) => {
                Ok(quo_finite(neg, a, *ea, b, *eb, prec))
            }
        }
    }

    fn neg(&self) -> Float {
        Float {
            neg: !self.neg,
            ..self.clone()
        }
    }

    /// Go's `Float.Int`: the integer part, truncated toward zero (None for infinities).
    fn trunc(&self) -> Option<(bool, BigUint)> {
        match &self.form {
            Form::Inf => None,
            Form::Zero => Some((false, BigUint::zero())),
            Form::Finite { mant, exp } if *exp >= 0 => Some((self.neg, mant << *exp as u64)),
            Form::Finite { mant, exp } => {
                let shift = exp.unsigned_abs();
                let int = if shift >= mant.bits() {
                    BigUint::zero()
                } else {
                    mant >> shift
                };
                Some((self.neg && !int.is_zero(), int))
            }
        }
    }

    fn is_int(&self) -> bool {
        match &self.form {
            Form::Zero => true,
            Form::Inf => false,
            Form::Finite { exp, .. } => *exp >= 0,
        }
    }

    /// Go's `Float64`: nearest even, overflowing to an infinity.
    fn to_f64(&self) -> f64 {
        let sign = if self.neg { -1.0 } else { 1.0 };
        match &self.form {
            Form::Zero => sign * 0.0,
            Form::Inf => sign * f64::INFINITY,
            Form::Finite { mant, exp } => {
                // Round to 53 bits first (subnormals need fewer; rare enough to take the
                // long way through the decimal text, which Rust parses correctly rounded).
                let r = Float::round(false, mant.clone(), *exp, false, 53);
                match r.form {
                    Form::Finite { mant, exp } if exp + (mant.bits() as i64) > -1021 => {
                        let m = mant.to_u64().unwrap_or(0) as f64;
                        sign * m * 2f64.powi(exp.clamp(-1100, 1100) as i32)
                    }
                    Form::Finite { .. } => {
                        sign * self.exact_decimal().parse::<f64>().unwrap_or(0.0)
                    }
                    _ => sign * f64::INFINITY,
                }
            }
        }
    }

    /// The exact value's decimal digits (trailing zeros trimmed) and the decimal exponent:
    /// the value is `0.DIGITS * 10^exp`.
    fn decimal(mant: &BigUint, exp: i64) -> (Vec<u8>, i64) {
        let (int, frac_digits) = if exp >= 0 {
            (mant << exp as u64, 0)
        } else {
            let k = exp.unsigned_abs();
            (mant * BigUint::from(5u32).pow(k as u32), k as i64)
        };
        let mut digits = int.to_str_radix(10).into_bytes();
        let point = digits.len() as i64 - frac_digits;
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        (digits, point)
    }

    /// The exact decimal value, for parsers that round themselves.
    fn exact_decimal(&self) -> String {
        match &self.form {
            Form::Finite { mant, exp } => {
                let (digits, point) = Float::decimal(mant, *exp);
                format_f(&digits, point)
            }
            _ => "0".into(),
        }
    }

    /// `Text('f', -1)`.
    fn text(&self) -> String {
        let sign = if self.neg { "-" } else { "" };
        match &self.form {
            Form::Zero => format!("{sign}0"),
            Form::Inf if self.neg => "-Inf".into(),
            Form::Inf => "+Inf".into(),
            Form::Finite { mant, exp } => {
                let (digits, point) = shortest(mant, *exp, self.prec);
                format!("{sign}{}", format_f(&digits, point))
            }
        }
    }
}

/// Adds two finite numbers given as sign, odd mantissa and exponent. When one is far below
/// the other's last bit, it matters only as a nonzero remainder, so it is replaced by a
/// single bit just below the rounding position rather than shifted out in full.
fn add_finite(x: (bool, &BigUint, i64), y: (bool, &BigUint, i64), prec: u32) -> Float {
    let top = |m: &BigUint, e: i64| e + m.bits() as i64;
    let (big, small) = if top(x.1, x.2) >= top(y.1, y.2) {
        (x, y)
    } else {
        (y, x)
    };
    let floor = top(big.1, big.2) - i64::from(prec) - 4;
    let (small_mant, small_exp) = if top(small.1, small.2) < floor + 1 {
        (BigUint::one(), floor.min(big.2))
    } else {
        (small.1.clone(), small.2)
    };
    let e = big.2.min(small_exp);
    let a = big.1 << (big.2 - e) as u64;
    let b = small_mant << (small_exp - e) as u64;
    let (neg, mant) = match (big.0 == small.0, a.cmp(&b)) {
        (true, _) => (big.0, a + b),
        (false, Ordering::Less) => (small.0, b - a),
        (false, _) => (big.0, a - b),
    };
    // An exact cancellation is +0 when rounding to nearest.
    let neg = neg && !mant.is_zero();
    Float::round(neg, mant, e, false, prec)
}

/// Divides two finite numbers, correctly rounded: enough quotient bits for the precision plus
/// a guard bit, and the remainder as the sticky bit.
fn quo_finite(neg: bool, a: &BigUint, ea: i64, b: &BigUint, eb: i64, prec: u32) -> Float {
    let want = i64::from(prec) + 2;
    let shift = (want + b.bits() as i64 - a.bits() as i64).max(0) as u64;
    let num = a << shift;
    let (q, r) = (&num / b, &num % b);
    Float::round(neg, q, ea - eb - shift as i64, !r.is_zero(), prec)
}

/// Go's `roundShortest`: the fewest digits of the exact decimal that still lie within half an
/// ulp (at `prec` bits) of the value, the bounds included when the mantissa is even.
fn shortest(mant: &BigUint, exp: i64, prec: u32) -> (Vec<u8>, i64) {
    let (digits, point) = Float::decimal(mant, exp);
    // Normalise to exactly `prec` bits, then the bounds are (2M ∓ 1) * 2^(E-1).
    let pad = u64::from(prec).saturating_sub(mant.bits());
    let m = mant << pad;
    let e = exp - pad as i64;
    let inclusive = !m.bit(0);
    let two_m: BigUint = &m << 1u32;
    let (lower, lower_point) = Float::decimal(&(&two_m - 1u32), e - 1);
    let (upper, upper_point) = Float::decimal(&(&two_m + 1u32), e - 1);
    // Line the bounds' digits up with the value's (same decimal point position).
    let at = |d: &[u8], p: i64, i: usize| -> u8 {
        let j = i as i64 - (point - p);
        if j < 0 {
            b'0'
        } else {
            d.get(j as usize).copied().unwrap_or(b'0')
        }
    };
    let lower_len = (lower.len() as i64 + (point - lower_point)).max(0) as usize;
    let upper_len = (upper.len() as i64 + (point - upper_point)).max(0) as usize;
    for (i, &m) in digits.iter().enumerate() {
        let l = at(&lower, lower_point, i);
        let u = at(&upper, upper_point, i);
        let okdown = l != m || inclusive && i + 1 == lower_len;
        let okup = m != u && (inclusive || m + 1 < u || i + 1 < upper_len);
        let n = i + 1;
        match (okdown, okup) {
            (true, true) => return round_digits(digits, point, n, None),
            (true, false) => return round_digits(digits, point, n, Some(false)),
            (false, true) => return round_digits(digits, point, n, Some(true)),
            (false, false) => {}
        }
    }
    (digits, point)
}

/// Keeps `n` digits, rounding up, down, or (None) to nearest with ties to even, as Go's
/// `decimal.round`.
fn round_digits(mut d: Vec<u8>, mut point: i64, n: usize, up: Option<bool>) -> (Vec<u8>, i64) {
    if n >= d.len() {
        return (d, point);
    }
    let up = up.unwrap_or_else(|| {
        if d[n] == b'5' && n + 1 == d.len() {
            n > 0 && (d[n - 1] - b'0') & 1 != 0
        } else {
            d[n] >= b'5'
        }
    });
    d.truncate(n);
    if up {
        let mut i = n;
        loop {
            if i == 0 {
                d = vec![b'1'];
                point += 1;
                break;
            }
            i -= 1;
            if d[i] < b'9' {
                d[i] += 1;
                d.truncate(i + 1);
                break;
            }
        }
    }
    while d.last() == Some(&b'0') {
        d.pop();
    }
    (d, point)
}

/// Go's `%f` body for `0.DIGITS * 10^point` with every digit shown.
fn format_f(digits: &[u8], point: i64) -> String {
    let mut out = String::with_capacity(digits.len() + 4);
    if point > 0 {
        let m = (point as usize).min(digits.len());
        out.push_str(std::str::from_utf8(&digits[..m]).unwrap_or("0"));
        for _ in m..point as usize {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    let frac = digits.len() as i64 - point;
    if frac > 0 {
        out.push('.');
        for i in 0..frac {
            let j = point + i;
            out.push(if j < 0 {
                '0'
            } else {
                digits[j as usize] as char
            });
        }
    }
    out
}

/// Go's `big.ParseFloat(s, 10, prec, ToNearestEven)`, as cty parses literals and strings:
/// an optional sign, digits with an optional point, an optional `e`/`E` (decimal) or
/// `p`/`P` (binary) exponent; `Inf`/`inf` with an optional sign. Nothing else, no spaces.
fn parse_float(s: &str, prec: u32) -> Option<Float> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body == "Inf" || body == "inf" {
        return Some(Float::inf(neg, prec));
    }
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut digits = Vec::new();
    let mut frac: i64 = 0;
    let mut seen_point = false;
    while i < bytes.len() {
        match bytes[i] {
            c @ b'0'..=b'9' => {
                digits.push(c);
                if seen_point {
                    frac += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let (mut exp10, mut exp2) = (0i64, 0i64);
    if i < bytes.len() {
        let binary = matches!(bytes[i], b'p' | b'P');
        if !binary && !matches!(bytes[i], b'e' | b'E') {
            return None;
        }
        let rest = &body[i + 1..];
        let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Go reads the exponent as an int64; past it, ParseFloat fails.
        let e: i64 = rest.parse().ok()?;
        if binary {
            exp2 = e;
        } else {
            exp10 = e;
        }
    }
    let mant = BigUint::parse_bytes(&digits, 10)?;
    let exp5 = exp10.checked_sub(frac)?;
    let exp2 = exp2.checked_add(exp5)?;
    // Go rounds the digits to the precision first, then scales by 5^exp5 (exactly up to
    // 5^27, beyond that a power computed 64 bits wider than the result).
    let z = Float::round(neg, mant, exp2, false, prec);
    if exp5 == 0 || z.form == Form::Zero {
        return Some(z);
    }
    let p = pow5(exp5.unsigned_abs(), prec + 64);
    if exp5 < 0 {
        z.quo_to(&p, prec)
    } else {
        z.mul_to(&p, prec)
    }
    .ok()
}

impl Float {
    /// Go's `z.Mul(x, y)` for a `z` that already has precision `prec`.
    fn mul_to(&self, other: &Float, prec: u32) -> Result<Float, NaN> {
        let neg = self.neg != other.neg;
        match (&self.form, &other.form) {
            (Form::Inf, Form::Zero) | (Form::Zero, Form::Inf) => Err(NaN),
            (Form::Inf, _) | (_, Form::Inf) => Ok(Float::inf(neg, prec)),
            (Form::Zero, _) | (_, Form::Zero) => Ok(Float::zero(neg, prec)),
            (Form::Finite { mant: a, exp: ea }, Form::Finite { mant: b, exp: eb }) => {
                Ok(Float::round(neg, a * b, ea + eb, false, prec))
            }
        }
    }
}

/// Go's `pow5` into a float of precision `prec`: exact from a table up to 5^27, then by
/// squaring a factor held at `prec + 64` bits.
fn pow5(n: u64, prec: u32) -> Float {
    const M: u64 = 27;
    if n <= M {
        return Float::round(false, BigUint::from(5u32).pow(n as u32), 0, false, prec);
    }
    let mut z = Float::round(false, BigUint::from(5u32).pow(M as u32), 0, false, prec);
    let mut f = Float::round(false, BigUint::from(5u32), 0, false, prec + 64);
    let mut n = n - M;
    while n > 0 {
        if n & 1 != 0 {
            z = z
                .mul_to(&f, prec)
                .unwrap_or_else(|_| Float::inf(false, prec));
        }
        f = f
            .mul_to(&f, prec + 64)
            .unwrap_or_else(|_| Float::inf(false, prec));
        n >>= 1;
    }
    z
}

impl Number {
    /// `cty.ParseNumberVal`: a decimal number at 512 bits.
    pub fn parse(s: &str) -> Option<Number> {
        // Plain integers are by far the most common; they are exact at 512 bits.
        if s.len() <= 18 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i64>().ok().map(|v| Number::small(v, PARSE_PREC));
        }
        parse_float(s, PARSE_PREC).map(Number::from_float)
    }

    /// `cty.NumberIntVal`: an integer at 64 bits.
    pub fn int(v: i64) -> Number {
        Number::small(v, 64)
    }

    /// `cty.NumberFloatVal`: a float64 at 53 bits. Go refuses NaN.
    pub fn float(f: f64) -> Result<Number, NaN> {
        if f.is_nan() {
            return Err(NaN);
        }
        if f.is_infinite() {
            return Ok(Number(Repr::Big(Box::new(Float::inf(f < 0.0, 53)))));
        }
        if f.fract() == 0.0 && f.abs() < 9.2e18 && !(f == 0.0 && f.is_sign_negative()) {
            return Ok(Number::small(f as i64, 53));
        }
        if f == 0.0 {
            return Ok(Number(Repr::Big(Box::new(Float::zero(true, 53)))));
        }
        let bits = f.abs().to_bits();
        let (raw_exp, frac) = ((bits >> 52) as i64, bits & ((1 << 52) - 1));
        let (mant, exp) = if raw_exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), raw_exp - 1075)
        };
        Ok(Number::from_float(Float::round(
            f < 0.0,
            BigUint::from(mant),
            exp,
            false,
            53,
        )))
    }

    /// `big.Float.SetInt` of a big integer: at its bit length, at least 64. A `big.Int` has
    /// no -0, so zero is +0 whatever the sign.
    pub fn big_int(neg: bool, magnitude: BigUint) -> Number {
        let neg = neg && !magnitude.is_zero();
        let prec = (magnitude.bits() as u32).max(64);
        Number::from_float(Float::round(neg, magnitude, 0, false, prec))
    }

    fn small(v: i64, prec: u32) -> Number {
        Number(Repr::Small { v, prec })
    }

    /// The canonical form: an exact `i64` when the value is one (and not -0).
    fn from_float(f: Float) -> Number {
        let small = match &f.form {
            Form::Zero if !f.neg => Some(0),
            Form::Finite { mant, exp } if *exp >= 0 && mant.bits() as i64 + *exp <= 63 => {
                let m = (mant << *exp as u64).to_i64();
                m.map(|m| if f.neg { -m } else { m })
            }
            _ => None,
        };
        match small {
            Some(v) => Number::small(v, f.prec),
            None => Number(Repr::Big(Box::new(f))),
        }
    }

    fn big(&self) -> std::borrow::Cow<'_, Float> {
        match &self.0 {
            Repr::Small { v, prec } => std::borrow::Cow::Owned(Float::from_int(*v, *prec)),
            Repr::Big(f) => std::borrow::Cow::Borrowed(f),
        }
    }

    pub fn add(&self, other: &Number) -> Result<Number, NaN> {
        if let (Repr::Small { v: a, prec: pa }, Repr::Small { v: b, prec: pb }) =
            (&self.0, &other.0)
        {
            let prec = *pa.max(pb);
            if let Some(r) = a
                .checked_add(*b)
                .filter(|r| sig_bits(r.unsigned_abs()) <= prec)
            {
                return Ok(Number::small(r, prec));
            }
        }
        self.big().add(&other.big()).map(Number::from_float)
    }

    /// cty's `Subtract`: adding the negation.
    pub fn sub(&self, other: &Number) -> Result<Number, NaN> {
        self.add(&other.neg())
    }

    pub fn mul(&self, other: &Number) -> Result<Number, NaN> {
        if let (Repr::Small { v: a, prec: pa }, Repr::Small { v: b, prec: pb }) =
            (&self.0, &other.0)
        {
            // A zero product of a negative factor is -0, which only the big form holds.
            let negative_zero = |r: &i64| *r == 0 && (*a < 0 || *b < 0);
            if let Some(r) = a.checked_mul(*b).filter(|r| !negative_zero(r)) {
                let prec = (*pa).max(*pb).max(sig_bits(r.unsigned_abs()));
                return Ok(Number::small(r, prec));
            }
        }
        self.big().mul(&other.big()).map(Number::from_float)
    }

    pub fn div(&self, other: &Number) -> Result<Number, NaN> {
        if let (Repr::Small { v: a, prec: pa }, Repr::Small { v: b, prec: pb }) =
            (&self.0, &other.0)
        {
            let prec = *pa.max(pb);
            // An exact quotient; 0 divided by a negative number is -0, which only the big
            // form holds.
            let exact = (*b != 0 && a.checked_rem(*b) == Some(0))
                .then(|| a.checked_div(*b))
                .flatten()
                .filter(|r| (*r != 0 || *b > 0) && sig_bits(r.unsigned_abs()) <= prec);
            if let Some(r) = exact {
                return Ok(Number::small(r, prec));
            }
        }
        self.big().quo(&other.big()).map(Number::from_float)
    }

    /// cty's `Modulo`: the remainder after the truncated quotient, at the dividend's
    /// precision, the dividend itself for a zero divisor, infinities as multiplication.
    pub fn rem(&self, other: &Number) -> Result<Number, NaN> {
        if self.is_inf() || other.is_inf() {
            return self.mul(other);
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        if let (Repr::Small { v: a, prec }, Repr::Small { v: b, .. }) = (&self.0, &other.0) {
            // Below 2^53 the rounded quotient truncates to the exact one at any precision
            // cty uses, so the remainder is Rust's (an exact zero is +0 in Go too).
            let fits = |v: &i64| v.unsigned_abs() < 1 << 53;
            if fits(a) && fits(b) {
                return Ok(Number::small(a % b, *prec));
            }
        }
        let (x, y) = (self.big(), other.big());
        let rat = x.quo(&y)?;
        let Some((neg, int)) = rat.trunc() else {
            return Err(NaN);
        };
        let prec = x.prec;
        let work = Float::round(neg, int, 0, false, prec);
        let work = y.mul_to(&work, prec)?;
        let diff = x.add(&work.neg())?;
        // `work.Sub(v, work)` rounds into `work`'s own precision.
        Ok(Number::from_float(match diff.form {
            Form::Finite { mant, exp } => Float::round(diff.neg, mant, exp, false, prec),
            _ => Float { prec, ..diff },
        }))
    }

    pub fn neg(&self) -> Number {
        match &self.0 {
            Repr::Small { v, prec } if *v != 0 && *v != i64::MIN => Number::small(-v, *prec),
            _ => Number::from_float(self.big().neg()),
        }
    }

    pub fn abs(&self) -> Number {
        match &self.0 {
            Repr::Small { v, prec } if *v != i64::MIN => Number::small(v.abs(), *prec),
            _ => {
                let f = self.big();
                Number::from_float(Float {
                    neg: false,
                    ..f.into_owned()
                })
            }
        }
    }

    pub fn is_inf(&self) -> bool {
        matches!(&self.0, Repr::Big(f) if f.form == Form::Inf)
    }

    pub fn is_zero(&self) -> bool {
        match &self.0 {
            Repr::Small { v, .. } => *v == 0,
            Repr::Big(f) => f.form == Form::Zero,
        }
    }

    pub fn is_int(&self) -> bool {
        match &self.0 {
            Repr::Small { .. } => true,
            Repr::Big(f) => f.is_int(),
        }
    }

    /// The sign: -1, 0 or 1 (zero for -0).
    pub fn signum(&self) -> i32 {
        match self.cmp(&Number::int(0)) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        }
    }

    /// `ceil` and `floor` as cty writes them: the integer through `big.Float.Int`, set back
    /// into the value's own precision.
    pub fn round_toward(&self, up: bool) -> Number {
        let f = self.big();
        match f.trunc() {
            None => self.clone(),
            Some(_) if f.is_int() => self.clone(),
            Some((_, int)) => {
                // Truncation went toward zero; step away from it when that was the wrong
                // way. A big.Int has no -0, so a zero result is +0.
                let (neg, int) = match (up, f.neg) {
                    (true, false) => (false, int + 1u32),
                    (false, true) => (true, int + 1u32),
                    (_, neg) => (neg, int),
                };
                let neg = neg && !int.is_zero();
                Number::from_float(Float::round(neg, int, 0, false, f.prec))
            }
        }
    }

    /// `int`: truncation toward zero, at the integer's own precision (at least 64).
    pub fn trunc(&self) -> Option<Number> {
        if self.is_int() {
            return Some(self.clone());
        }
        let (neg, int) = self.big().trunc()?;
        Some(Number::big_int(neg, int))
    }

    /// gocty's conversion to a Go int64: exact whole numbers in range only.
    pub fn to_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Small { v, .. } => Some(*v),
            Repr::Big(f) => match (&f.form, f.trunc()) {
                (Form::Zero, _) => Some(0),
                (Form::Finite { .. }, Some((neg, int))) if f.is_int() => {
                    let m = int.to_u64()?;
                    if neg {
                        0i64.checked_sub_unsigned(m)
                    } else {
                        i64::try_from(m).ok()
                    }
                }
                _ => None,
            },
        }
    }

    /// gocty's conversion to a Go float64 (nearest even; out of range is an infinity).
    pub fn to_f64(&self) -> f64 {
        match &self.0 {
            Repr::Small { v, .. } => *v as f64,
            Repr::Big(f) => f.to_f64(),
        }
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Small { v: a, .. }, Repr::Small { v: b, .. }) => a.cmp(b),
            _ => self.big().cmp(&other.big()),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// cty compares numbers by value: precision does not count, and -0 equals 0.
impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Number {}

impl From<i64> for Number {
    fn from(v: i64) -> Number {
        Number::int(v)
    }
}

impl From<u64> for Number {
    fn from(v: u64) -> Number {
        i64::try_from(v).map_or_else(|_| Number::big_int(false, BigUint::from(v)), Number::int)
    }
}

impl From<usize> for Number {
    fn from(v: usize) -> Number {
        i64::try_from(v).map_or_else(|_| Number::big_int(false, BigUint::from(v)), Number::int)
    }
}

/// `big.Float.Text('f', -1)`, as cty converts a number to a string and writes it in JSON.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            // Exact at its precision, an integer's shortest form is all its digits.
            Repr::Small { v, prec } if 64 - v.unsigned_abs().leading_zeros() <= *prec => {
                write!(f, "{v}")
            }
            _ => f.write_str(&self.big().text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Number {
        Number::parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    fn check(got: Result<Number, NaN>, want: &str) {
        assert_eq!(got.map(|n| n.to_string()), Ok(want.to_string()));
    }

    /// Expected texts are what `docker buildx bake --print` (0.13.1) printed for the same
    /// expressions.
    #[test]
    fn decimals_add_as_in_cty() {
        check(p("0.1").add(&p("0.2")), "0.3");
        check(p("10").sub(&p("4.5")), "5.5");
        // As buildx 0.13.1 prints them: the 512-bit roundings of 0.3 and 0.1 differ by more
        // than the half ulp of 0.2, and so do 1.1² and the rounding of 1.21.
        check(p("0.3").sub(&p("0.1")), &format!("0.2{}2", "0".repeat(153)));
        check(
            p("1.1").mul(&p("1.1")),
            &format!("1.21{}1", "0".repeat(151)),
        );
        check(p("10").div(&p("4")), "2.5");
    }

    #[test]
    fn one_third_prints_at_512_bits() {
        // The expected text of conformance case 016 (`1 / 3`), as bake 0.13 prints it.
        let want = format!("0.{}5", "3".repeat(154));
        check(p("1").div(&p("3")), &want);
    }

    #[test]
    fn float64_results_print_at_53_bits() {
        let pow = |a: f64, b: f64| Number::float(a.powf(b)).map(|n| n.to_string());
        assert_eq!(pow(2.0, 60.0), Ok("1152921504606847000".into()));
        assert_eq!(pow(2.0, 10.0), Ok("1024".into()));
        assert_eq!(pow(2.0, 0.5), Ok("1.4142135623730951".into()));
        assert_eq!(Number::float(0.1).map(|n| n.to_string()), Ok("0.1".into()));
        assert_eq!(
            Number::float(1e21).map(|n| n.to_string()),
            Ok("1000000000000000000000".into())
        );
        assert_eq!(Number::float(f64::NAN), Err(NaN));
    }

    #[test]
    fn big_integers_stay_exact() {
        check(p("1073741824").mul(&p("1073741824")), "1152921504606846976");
        check(
            p("99999999999999999999").add(&p("1")),
            "100000000000000000000",
        );
        let x = p("123456789012345678901234567890");
        check(
            x.mul(&x),
            "15241578753238836750495351562536198787501905199875019052100",
        );
        assert_eq!(p("1e3").to_string(), "1000");
        assert_eq!(p("1.5e-3").to_string(), "0.0015");
        assert_eq!(p("12e100").to_string(), format!("12{}", "0".repeat(100)));
    }

    #[test]
    fn signed_zero_and_infinities_as_go() {
        assert_eq!(p("0").neg().to_string(), "-0");
        check(p("0").mul(&p("-5")), "-0");
        check(p("0").sub(&p("0")), "0");
        check(p("1").div(&p("0")), "+Inf");
        check(p("-1").div(&p("0")), "-Inf");
        assert_eq!(p("0").div(&p("0")).map(|n| n.to_string()), Err(NaN));
        assert_eq!(p("inf").to_string(), "+Inf");
        assert_eq!(p("-Inf").to_string(), "-Inf");
        assert!(p("0").neg() == p("0"));
    }

    #[test]
    fn parsing_follows_parse_float() {
        for bad in [
            "", "+", "-", ".", "1e", "1e+", "0x10", " 1", "1 ", "1_0", "nan", "1.2.3",
        ] {
            assert!(Number::parse(bad).is_none(), "{bad:?} must not parse");
        }
        assert_eq!(p("1p4").to_string(), "16");
        assert_eq!(p(".5").to_string(), "0.5");
        assert_eq!(p("5.").to_string(), "5");
        assert_eq!(p("+7").to_string(), "7");
        assert_eq!(p("-0.000001").to_string(), "-0.000001");
    }

    #[test]
    fn modulo_keeps_the_dividends_sign() {
        check(p("17").rem(&p("5")), "2");
        check(p("-7").rem(&p("3")), "-1");
        check(p("5.5").rem(&p("2")), "1.5");
        check(p("7").rem(&p("0")), "7");
        check(p("0.3").rem(&p("0.1")), "0");
    }

    #[test]
    fn rounding_toward_integers() {
        assert_eq!(p("4.1").round_toward(true).to_string(), "5");
        assert_eq!(p("4.9").round_toward(false).to_string(), "4");
        assert_eq!(p("-4.1").round_toward(true).to_string(), "-4");
        assert_eq!(p("-4.1").round_toward(false).to_string(), "-5");
        assert_eq!(p("-0.5").round_toward(true).to_string(), "0");
        assert_eq!(p("0.5").round_toward(false).to_string(), "0");
        assert_eq!(p("7.8").trunc().map(|n| n.to_string()), Some("7".into()));
        assert_eq!(p("-7.8").trunc().map(|n| n.to_string()), Some("-7".into()));
    }

    #[test]
    fn conversions_to_go_types() {
        assert_eq!(p("3").to_i64(), Some(3));
        assert_eq!(p("3.5").to_i64(), None);
        assert_eq!(p("9223372036854775807").to_i64(), Some(i64::MAX));
        assert_eq!(p("-9223372036854775808").to_i64(), Some(i64::MIN));
        assert_eq!(p("9223372036854775808").to_i64(), None);
        assert_eq!(p("0.1").to_f64(), 0.1);
        assert_eq!(p("1e400").to_f64(), f64::INFINITY);
        assert_eq!(p("1e-400").to_f64(), 0.0);
        assert_eq!(p("4.9e-324").to_f64(), 5e-324);
    }

    #[test]
    fn comparisons_ignore_precision() {
        assert!(p("0.5") < p("1"));
        assert!(p("-2") < p("-1.5"));
        assert_eq!(Number::float(1024.0).ok(), Some(p("1024")));
        assert!(p("-inf") < p("-1e300"));
    }
}
