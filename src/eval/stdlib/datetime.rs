//! Date and time builtins: `timestamp`, `formatdate`, `formattimestamp`, `timeadd` and
//! `unixtimestampparse`.
//!
//! Timestamps are RFC 3339 strings parsed as strictly as cty does (uppercase `T` and `Z`,
//! two-digit fields) and keep their UTC offset, so formatting shows the time as written.
//! The clock is read once by the CLI and passed in `Env`, which keeps evaluation
//! deterministic under test.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, Timelike};

use super::args::{arg, arg_error, arg_num, arg_str, quote, whole};
use super::{Env, Number, Value};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

type Time = DateTime<FixedOffset>;

pub(super) fn timestamp(env: &Env, _: &[Value]) -> Result<Value, String> {
    let now = unix_time(&Number::int(env.now_unix))?;
    Ok(Value::String(rfc3339(&now)))
}

pub(super) fn formatdate(_: &Env, args: &[Value]) -> Result<Value, String> {
    let format = arg_str(args, 0, "format")?;
    let time = arg_str(args, 1, "time")?;
    let t = parse_rfc3339(&time).map_err(|e| arg_error("time", e))?;
    format_date(&format, &t).map(Value::String)
}

/// Like `formatdate`, but the time may also be a Unix timestamp, and the format `X` gives
/// the Unix timestamp itself.
pub(super) fn formattimestamp(_: &Env, args: &[Value]) -> Result<Value, String> {
    let format = arg_str(args, 0, "format")?;
    let t = match arg(args, 1, "time")? {
        Value::String(s) if format == "X" => {
            parse_rfc3339(s).map_err(|_| arg_error("time", "timestamp string must be RFC3339"))?
        }
        Value::String(s) => parse_rfc3339(s).map_err(|e| arg_error("time", e))?,
        Value::Number(n) => unix_time(n).map_err(|e| arg_error("time", e))?,
        _ => {
            return Err(arg_error(
                "time",
                "must be a string timestamp or a unix timestamp number",
            ));
        }
    };
    if format == "X" {
        return Ok(Value::String(t.timestamp().to_string()));
    }
    format_date(&format, &t).map(Value::String)
}

pub(super) fn timeadd(_: &Env, args: &[Value]) -> Result<Value, String> {
    let time = arg_str(args, 0, "timestamp")?;
    let duration = arg_str(args, 1, "duration")?;
    let t = parse_rfc3339(&time)?;
    let nanos = parse_duration(&duration)?;
    let sum = t
        .checked_add_signed(TimeDelta::nanoseconds(nanos))
        .ok_or("the resulting time is out of range")?;
    Ok(Value::String(rfc3339(&sum)))
}

/// The parts of a Unix timestamp, in UTC.
pub(super) fn unixtimestampparse(_: &Env, args: &[Value]) -> Result<Value, String> {
    let n = arg_num(args, 0, "unix_timestamp")?;
    let t = unix_time(&n).map_err(|e| arg_error("unix_timestamp", e))?;
    let num = |v: i64| Value::int(v);
    let iso = t.iso_week();
    let fields = [
        ("year", num(t.year().into())),
        ("year_day", num(t.ordinal().into())),
        ("day", num(t.day().into())),
        ("month", num(t.month().into())),
        ("month_name", Value::string(MONTHS[t.month0() as usize])),
        ("weekday", num(t.weekday().num_days_from_sunday().into())),
        (
            "weekday_name",
            Value::string(WEEKDAYS[t.weekday().num_days_from_sunday() as usize]),
        ),
        ("hour", num(t.hour().into())),
        ("minute", num(t.minute().into())),
        ("second", num(t.second().into())),
        ("rfc3339", Value::String(rfc3339(&t))),
        ("iso_year", num(iso.year().into())),
        ("iso_week", num(iso.week().into())),
    ];
    let map: BTreeMap<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok(Value::Map(map))
}

fn unix_time(n: &Number) -> Result<Time, String> {
    let secs = whole(n).map_err(|_| "unix timestamp must be an integer")?;
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.fixed_offset())
        .ok_or_else(|| "unix timestamp is out of range".into())
}

/// Go's `time.RFC3339` layout, which drops fractional seconds and writes a zero offset as `Z`.
fn rfc3339(t: &Time) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        offset(t, "Z", true)
    )
}

/// A UTC offset as `+hh:mm` (or `+hhmm` without the colon), with `zero` for no offset.
fn offset(t: &Time, zero: &str, colon: bool) -> String {
    let secs = t.offset().local_minus_utc();
    if secs == 0 && !zero.is_empty() {
        return zero.to_string();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let (h, m) = (secs.abs() / 3600, secs.abs() % 3600 / 60);
    if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// cty's `formatdate` layout language: runs of one letter are verbs, text in single quotes
/// is literal (with `''` for a quote), and anything else is copied.
fn format_date(format: &str, t: &Time) -> Result<String, String> {
    let b = format.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let end = token_end(b, i);
        let token = &b[i..end];
        if token[0] == b'\'' {
            push_literal(token, &mut out)?;
        } else if token[0].is_ascii_alphabetic() {
            // A verb token is a run of one ASCII letter, so it is valid UTF-8 on its own.
            let verb = std::str::from_utf8(token).unwrap_or_default();
            out.extend_from_slice(format_verb(verb, t)?.as_bytes());
        } else {
            out.extend_from_slice(token);
        }
        i = end;
    }
    // Tokens split only before ASCII bytes, so the output is valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Where the token starting at `i` ends, following cty's scanner exactly.
fn token_end(b: &[u8], i: usize) -> usize {
    let c = b[i];
    if c == b'\'' {
        if b.get(i + 1) == Some(&b'\'') {
            return i + 2;
        }
        let mut j = i + 1;
        while j < b.len() {
            if b[j] == b'\'' {
                if j + 1 == b.len() {
                    return b.len();
                }
                if b[j + 1] == b'\'' {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        return b.len();
    }
    let same_letter = |x: &u8| *x == c;
    let starts_verb = |x: &u8| x.is_ascii_alphabetic() || *x == b'\'';
    let rest = &b[i + 1..];
    let len = if c.is_ascii_alphabetic() {
        rest.iter().position(|x| !same_letter(x))
    } else {
        rest.iter().position(starts_verb)
    };
    len.map_or(b.len(), |n| i + 1 + n)
}

fn push_literal(token: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if token.len() == 1 || token[token.len() - 1] != b'\'' {
        return Err(arg_error("format", "unterminated literal '"));
    }
    if token.len() == 2 {
        out.push(b'\'');
        return Ok(());
    }
    let raw = &token[1..token.len() - 1];
    let mut k = 0;
    while k < raw.len() {
        out.push(raw[k]);
        // A doubled quote inside a literal stands for one quote.
        k += if raw[k] == b'\'' { 2 } else { 1 };
    }
    Ok(())
}

fn format_verb(verb: &str, t: &Time) -> Result<String, String> {
    let bad = |why: &str| {
        let sep = if why.is_empty() { "" } else { ": " };
        Err(arg_error(
            "format",
            format!("invalid date format verb {}{sep}{why}", quote(verb)),
        ))
    };
    let two = |n: u32, len: usize| {
        if len == 1 {
            n.to_string()
        } else {
            format!("{n:02}")
        }
    };
    let month = MONTHS[t.month0() as usize];
    let weekday = WEEKDAYS[t.weekday().num_days_from_sunday() as usize];
    let len = verb.len();
    Ok(match (verb.as_bytes()[0], len) {
        (b'Y', 2) => format!("{:02}", t.year().rem_euclid(100)),
        (b'Y', 4) => format!("{:04}", t.year()),
        (b'Y', _) => return bad("year must either be \"YY\" or \"YYYY\""),
        (b'M', 1 | 2) => two(t.month(), len),
        (b'M', 3) => month[..3].to_string(),
        (b'M', 4) => month.to_string(),
        (b'M', _) => return bad("month must be \"M\", \"MM\", \"MMM\", or \"MMMM\""),
        (b'D', 1 | 2) => two(t.day(), len),
        (b'D', _) => return bad("day of month must either be \"D\" or \"DD\""),
        (b'E', 3) => weekday[..3].to_string(),
        (b'E', 4) => weekday.to_string(),
        (b'E', _) => return bad("day of week must either be \"EEE\" or \"EEEE\""),
        (b'h', 1 | 2) => two(t.hour(), len),
        (b'h', _) => return bad("24-hour must either be \"h\" or \"hh\""),
        (b'H', 1 | 2) => two(t.hour12().1, len),
        (b'H', _) => return bad("12-hour must either be \"H\" or \"HH\""),
        (b'A', 2) => (if t.hour() < 12 { "AM" } else { "PM" }).to_string(),
        (b'a', 2) => (if t.hour() < 12 { "am" } else { "pm" }).to_string(),
        (c @ (b'A' | b'a'), _) => {
            let c = c as char;
            return bad(&format!("must be \"{c}{c}\""));
        }
        (b'm', 1 | 2) => two(t.minute(), len),
        (b'm', _) => return bad("minute must either be \"m\" or \"mm\""),
        (b's', 1 | 2) => two(t.second(), len),
        (b's', _) => return bad("second must either be \"s\" or \"ss\""),
        (b'Z', 1) => offset(t, "Z", true),
        (b'Z', 3) => offset(t, "UTC", false),
        (b'Z', 4) => offset(t, "", false),
        (b'Z', 5) => offset(t, "", true),
        (b'Z', _) => return bad("timezone must be Z, ZZZZ, or ZZZZZ"),
        _ => return bad(""),
    })
}

/// Parses an RFC 3339 timestamp as cty does, with its error messages: the layout is walked
/// element by element as Go's `time.Parse` does, then cty's stricter checks apply.
fn parse_rfc3339(s: &str) -> Result<Time, String> {
    let fail = |msg: String| format!("not a valid RFC3339 timestamp: {msg}");
    let mut p = Parser { rest: s };
    let year = p.digits(4, 4, "year").map_err(fail)?;
    p.literal("-").map_err(fail)?;
    let month = p.digits(2, 2, "month").map_err(fail)?;
    p.in_range(month, 1, 12, "month").map_err(fail)?;
    p.literal("-").map_err(fail)?;
    let day = p.digits(2, 2, "day of month").map_err(fail)?;
    p.in_range(day, 0, 31, "day of month").map_err(fail)?;
    p.literal("T").map_err(fail)?;
    let hour_text = p.rest;
    let hour = p.digits(1, 2, "hour").map_err(fail)?;
    p.in_range(hour, 0, 23, "hour").map_err(fail)?;
    p.literal(":").map_err(fail)?;
    let minute = p.digits(2, 2, "minute").map_err(fail)?;
    p.in_range(minute, 0, 59, "minute").map_err(fail)?;
    p.literal(":").map_err(fail)?;
    let second = p.digits(2, 2, "second").map_err(fail)?;
    p.in_range(second, 0, 59, "second").map_err(fail)?;
    let (nanos, comma) = p.fraction();
    let zone = p.zone().map_err(fail)?;
    if !p.rest.is_empty() {
        return Err(fail(format!(
            "cannot use {} as timestamp segment",
            quote(p.rest)
        )));
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)
        .ok_or_else(|| fail("day out of range".into()))?;
    if hour_text.as_bytes().get(1) == Some(&b':') {
        return Err(fail("hour must have exactly two digits".into()));
    }
    if comma {
        return Err(fail("cannot use \",\" as timestamp segment".into()));
    }
    let naive = date
        .and_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| fail("cannot use the time of day".into()))?;
    let tz = FixedOffset::east_opt(zone).ok_or_else(|| fail("UTC offset out of range".into()))?;
    naive
        .and_local_timezone(tz)
        .single()
        .ok_or_else(|| fail("time out of range".into()))
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    /// Reads `min` to `max` ASCII digits for the named field.
    fn digits(&mut self, min: usize, max: usize, what: &str) -> Result<u32, String> {
        let n = self
            .rest
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if n < min {
            return Err(self.cannot_use(what));
        }
        let value = self.rest[..n].parse().map_err(|_| self.cannot_use(what))?;
        self.rest = &self.rest[n..];
        Ok(value)
    }

    /// Go reports a field out of range against the text after it, which cty words the same
    /// way as a malformed field.
    fn in_range(&self, v: u32, lo: u32, hi: u32, what: &str) -> Result<(), String> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.cannot_use(what))
        }
    }

    fn cannot_use(&self, what: &str) -> String {
        match (what, self.rest) {
            (_, "") => format!("end of string before {what}"),
            ("hour", rest) if rest.contains(':') => {
                "hour must be between 0 and 23 inclusive".into()
            }
            ("minute", rest) if rest.len() != 2 => "minute must have exactly two digits".into(),
            (_, rest) => format!("cannot use {} as {what}", quote(rest)),
        }
    }

    fn literal(&mut self, lit: &str) -> Result<(), String> {
        if let Some(rest) = self.rest.strip_prefix(lit) {
            self.rest = rest;
            return Ok(());
        }
        Err(match (lit, self.rest) {
            ("T", _) => "missing required time introducer 'T'".into(),
            (_, "") => format!("end of string where {} is expected", quote(lit)),
            (_, rest) => format!("found {} where {} is expected", quote(rest), quote(lit)),
        })
    }

    /// Optional fractional seconds, as nanoseconds; Go accepts a comma here and cty then
    /// rejects it, so whether one was used is reported.
    fn fraction(&mut self) -> (u32, bool) {
        let b = self.rest.as_bytes();
        if b.len() < 2 || !matches!(b[0], b'.' | b',') || !b[1].is_ascii_digit() {
            return (0, false);
        }
        let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        let digits = &self.rest[1..n];
        let nanos = format!("{:0<9}", &digits[..digits.len().min(9)])
            .parse()
            .unwrap_or(0);
        let comma = b[0] == b',';
        self.rest = &self.rest[n..];
        (nanos, comma)
    }

    /// `Z` or `±hh:mm`, as an offset in seconds east of UTC.
    fn zone(&mut self) -> Result<i32, String> {
        if let Some(rest) = self.rest.strip_prefix('Z') {
            self.rest = rest;
            return Ok(0);
        }
        let b = self.rest.as_bytes();
        let digit = |i: usize| {
            b.get(i)
                .filter(|c| c.is_ascii_digit())
                .map(|c| i32::from(c - b'0'))
        };
        let parsed = match (b.first(), digit(1), digit(2), b.get(3), digit(4), digit(5)) {
            (Some(&sign @ (b'+' | b'-')), Some(h1), Some(h2), Some(b':'), Some(m1), Some(m2)) => {
                let (h, m) = (h1 * 10 + h2, m1 * 10 + m2);
                (h < 24 && m < 60)
                    .then_some(if sign == b'-' { -1 } else { 1 } * (h * 3600 + m * 60))
            }
            _ => None,
        };
        match parsed {
            Some(secs) => {
                self.rest = &self.rest[6..];
                Ok(secs)
            }
            None => Err(self.cannot_use("UTC offset")),
        }
    }
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with units, such as
/// `1h30m` or `-1.5s`, as nanoseconds.
fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(text));
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let frac_len = if s.as_bytes().get(int_len) == Some(&b'.') {
            1 + s[int_len + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count()
        } else {
            0
        };
        if int_len == 0 && frac_len <= 1 {
            return Err(invalid());
        }
        let number_len = int_len + frac_len;
        let unit_len = s[number_len..]
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len() - number_len);
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let unit_text = &s[number_len..number_len + unit_len];
        let unit: u64 = match unit_text {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_text),
                    quote(text)
                ));
            }
        };
        let whole: u64 = if int_len == 0 {
            0
        } else {
            s[..int_len].parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(unit).ok_or_else(invalid)?;
        if frac_len > 1 {
            let frac = &s[int_len + 1..number_len];
            // Go keeps only as many fraction digits as fit in 64 bits; f64 is as precise.
            let fraction: f64 = format!("0.{frac}").parse().unwrap_or(0.0);
            value = value
                .checked_add((fraction * unit as f64) as u64)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(value)
            .filter(|&t| t <= 1 << 63)
            .ok_or_else(invalid)?;
        s = &s[number_len + unit_len..];
    }
    if negative {
        Ok((total as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::super::lookup;
    use super::super::testing::{n, s};
    use super::*;

    fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        let f = lookup(name).expect("builtin exists");
        let env = Env {
            now_unix: 1_700_000_000,
            home: None,
        };
        (f.call)(&env, args)
    }

    fn field(v: &Value, name: &str) -> Value {
        v.as_map()
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn conformance_216_timestamps() {
        let parsed = call("unixtimestampparse", &[n(1_700_000_000.0)]).unwrap();
        assert_eq!(field(&parsed, "year"), n(2023.0));
        assert_eq!(field(&parsed, "weekday_name"), s("Tuesday"));
        assert_eq!(field(&parsed, "iso_week"), n(46.0));
        assert_eq!(field(&parsed, "rfc3339"), s("2023-11-14T22:13:20Z"));
        assert_eq!(
            call("formattimestamp", &[s("YYYY-MM-DD"), n(1_700_000_000.0)]),
            Ok(s("2023-11-14"))
        );
        assert_eq!(
            call("formattimestamp", &[s("X"), s("2023-11-14T22:13:20Z")]),
            Ok(s("1700000000"))
        );
    }

    #[test]
    fn unixtimestampparse_fields() {
        let parsed = call("unixtimestampparse", &[n(0.0)]).unwrap();
        for (name, want) in [
            ("year_day", n(1.0)),
            ("day", n(1.0)),
            ("month", n(1.0)),
            ("month_name", s("January")),
            ("weekday", n(4.0)),
            ("hour", n(0.0)),
            ("iso_year", n(1970.0)),
            ("iso_week", n(1.0)),
        ] {
            assert_eq!(field(&parsed, name), want, "{name}");
        }
        assert_eq!(
            call("unixtimestampparse", &[n(1.5)]),
            Err(
                "invalid value for \"unix_timestamp\" parameter: unix timestamp must be an integer"
                    .into()
            )
        );
    }

    #[test]
    fn timestamp_uses_env_clock() {
        assert_eq!(call("timestamp", &[]), Ok(s("2023-11-14T22:13:20Z")));
    }

    #[test]
    fn corpus_formatdate_layouts() {
        let t = s("2023-11-14T22:13:20Z");
        assert_eq!(
            call(
                "formatdate",
                &[s("YYYY'-'MM'-'DD'T'hh':'mm':'ss'Z'"), t.clone()]
            ),
            Ok(s("2023-11-14T22:13:20Z"))
        );
        assert_eq!(
            call("formatdate", &[s("YYYYMMDDhhmm"), t.clone()]),
            Ok(s("202311142213"))
        );
        assert_eq!(
            call(
                "formattimestamp",
                &[s("YYYY-MM-DD'T'hh:mm:ssZ"), n(1_445_385_600.0)]
            ),
            Ok(s("2015-10-21T00:00:00Z"))
        );
    }

    #[test]
    fn formatdate_verbs() {
        let t = s("2006-01-02T15:04:05.999-07:00");
        let f = |layout: &str| call("formatdate", &[s(layout), t.clone()]);
        assert_eq!(f("EEEE, D MMMM YY"), Ok(s("Monday, 2 January 06")));
        assert_eq!(f("EEE MMM H:m:s aa h AA"), Ok(s("Mon Jan 3:4:5 pm 15 PM")));
        assert_eq!(f("Z ZZZ ZZZZ ZZZZZ"), Ok(s("-07:00 -0700 -0700 -07:00")));
        assert_eq!(f("'it''s' ''"), Ok(s("it's '")));
        assert_eq!(f("'abc''"), Ok(s("abc'")));
        assert_eq!(
            call("formatdate", &[s("ZZZ"), s("2006-01-02T15:04:05Z")]),
            Ok(s("UTC"))
        );
        assert_eq!(f("YYY"), Err("invalid value for \"format\" parameter: invalid date format verb \"YYY\": year must either be \"YY\" or \"YYYY\"".into()));
        assert_eq!(
            f("q"),
            Err("invalid value for \"format\" parameter: invalid date format verb \"q\"".into())
        );
        assert_eq!(
            f("'abc"),
            Err("invalid value for \"format\" parameter: unterminated literal '".into())
        );
        assert_eq!(f("a"), Err("invalid value for \"format\" parameter: invalid date format verb \"a\": must be \"aa\"".into()));
    }

    #[test]
    fn rfc3339_parsing_is_strict() {
        let bad = |ts: &str| call("formatdate", &[s("YYYY"), s(ts)]).unwrap_err();
        let prefix = "invalid value for \"time\" parameter: not a valid RFC3339 timestamp: ";
        assert_eq!(
            bad("2023-11-14 22:13:20Z"),
            format!("{prefix}missing required time introducer 'T'")
        );
        assert_eq!(
            bad("2023-11-14"),
            format!("{prefix}missing required time introducer 'T'")
        );
        assert_eq!(
            bad("2023"),
            format!("{prefix}end of string where \"-\" is expected")
        );
        assert_eq!(
            bad("20x3-11-14T22:13:20Z"),
            format!("{prefix}cannot use \"20x3-11-14T22:13:20Z\" as year")
        );
        assert_eq!(
            bad("2023-02-30T00:00:00Z"),
            format!("{prefix}day out of range")
        );
        assert_eq!(
            bad("2023-11-14T9:13:20Z"),
            format!("{prefix}hour must have exactly two digits")
        );
        assert_eq!(
            bad("2023-11-14T24:00:00Z"),
            format!("{prefix}hour must be between 0 and 23 inclusive")
        );
        assert_eq!(
            bad("2023-11-14T22:13:20"),
            format!("{prefix}end of string before UTC offset")
        );
        assert_eq!(
            bad("2023-11-14T22:13:20z"),
            format!("{prefix}cannot use \"z\" as UTC offset")
        );
        assert_eq!(
            bad("2023-11-14T22:13:20Zx"),
            format!("{prefix}cannot use \"x\" as timestamp segment")
        );
        assert_eq!(
            bad("2023-11-14T22:13:20,5Z"),
            format!("{prefix}cannot use \",\" as timestamp segment")
        );
        assert_eq!(
            call("formatdate", &[s("YYYY"), n(1.0)]).unwrap_err(),
            format!("{prefix}cannot use \"1\" as year")
        );
    }

    /// go-cty's own `formatdate` cases, formatting 2006-01-02T15:04:05Z.
    #[test]
    fn cty_formatdate_cases() {
        let cases = [
            ("", ""),
            ("YYYY-MM-DD", "2006-01-02"),
            ("EEE, MMM D ''YY", "Mon, Jan 2 '06"),
            ("hh:mm:ss", "15:04:05"),
            ("H 'o''clock' AA", "3 o'clock PM"),
            ("H 'o''clock'", "3 o'clock"),
            ("hh:mm:ssZZZZ", "15:04:05+0000"),
            ("hh:mm:ssZZZZZ", "15:04:05+00:00"),
            ("MMMM", "January"),
            ("EEEE", "Monday"),
            ("aa", "pm"),
            ("YYYY-MM-DD'T'hh:mm:ssZ", "2006-01-02T15:04:05Z"),
            ("DD MMM YYYY hh:mm ZZZ", "02 Jan 2006 15:04 UTC"),
            (
                "EEEE, DD-MMM-YY hh:mm:ss ZZZ",
                "Monday, 02-Jan-06 15:04:05 UTC",
            ),
            (
                "EEE, DD MMM YYYY hh:mm:ss ZZZ",
                "Mon, 02 Jan 2006 15:04:05 UTC",
            ),
        ];
        for (layout, want) in cases {
            let got = call("formatdate", &[s(layout), s("2006-01-02T15:04:05Z")]);
            assert_eq!(got, Ok(s(want)), "{layout:?}");
        }
        let bad = |layout: &str| call("formatdate", &[s(layout), s("2006-01-02T15:04:05Z")]);
        assert!(bad("YYYYY").unwrap_err().ends_with(
            "invalid date format verb \"YYYYY\": year must either be \"YY\" or \"YYYY\""
        ));
        assert!(bad("'").unwrap_err().ends_with("unterminated literal '"));
    }

    /// go-cty's own parse-error cases, message for message.
    #[test]
    fn cty_parse_errors() {
        let cases: &[(&str, &str)] = &[
            (
                r#""#,
                r#"not a valid RFC3339 timestamp: end of string before year"#,
            ),
            (
                r#"2017-01-02"#,
                r#"not a valid RFC3339 timestamp: missing required time introducer 'T'"#,
            ),
            (
                r#"2017-12-02t00:00:00Z"#,
                r#"not a valid RFC3339 timestamp: missing required time introducer 'T'"#,
            ),
            (
                r#"2017:01:02"#,
                r#"not a valid RFC3339 timestamp: found ":01:02" where "-" is expected"#,
            ),
            (
                r#"2017"#,
                r#"not a valid RFC3339 timestamp: end of string where "-" is expected"#,
            ),
            (
                r#"2017-01-02T"#,
                r#"not a valid RFC3339 timestamp: end of string before hour"#,
            ),
            (
                r#"2017-01-02T00"#,
                r#"not a valid RFC3339 timestamp: end of string where ":" is expected"#,
            ),
            (
                r#"2017-01-02T00:00:00"#,
                r#"not a valid RFC3339 timestamp: end of string before UTC offset"#,
            ),
            (
                r#"2017-01-02T26:00:00Z"#,
                r#"not a valid RFC3339 timestamp: hour must be between 0 and 23 inclusive"#,
            ),
            (
                r#"2017-13-02T00:00:00Z"#,
                r#"not a valid RFC3339 timestamp: cannot use "-02T00:00:00Z" as month"#,
            ),
            (
                r#"2017-02-31T00:00:00Z"#,
                r#"not a valid RFC3339 timestamp: day out of range"#,
            ),
            (
                r#""2017-12-02T00:00:00Z""#,
                r#"not a valid RFC3339 timestamp: cannot use "\"2017-12-02T00:00:00Z\"" as year"#,
            ),
            (
                r#"2-12-02T00:00:00Z"#,
                r#"not a valid RFC3339 timestamp: cannot use "2-12-02T00:00:00Z" as year"#,
            ),
            (
                r#"2000-01-01T1:12:34Z"#,
                r#"not a valid RFC3339 timestamp: hour must have exactly two digits"#,
            ),
            (
                r#"2000-01-01T01:1:34Z"#,
                r#"not a valid RFC3339 timestamp: minute must have exactly two digits"#,
            ),
            (
                r#"2000-01-01T01:01:1Z"#,
                r#"not a valid RFC3339 timestamp: cannot use "1Z" as second"#,
            ),
            (
                r#"2000-01-01T00:00:00,000Z"#,
                r#"not a valid RFC3339 timestamp: cannot use "," as timestamp segment"#,
            ),
            (
                r#"2000-01-01T00:00:00+24:00"#,
                r#"not a valid RFC3339 timestamp: cannot use "+24:00" as UTC offset"#,
            ),
            (
                r#"2000-01-01T00:00:00+00:60"#,
                r#"not a valid RFC3339 timestamp: cannot use "+00:60" as UTC offset"#,
            ),
        ];
        for &(input, want) in cases {
            let got = call("formatdate", &[s(""), s(input)]);
            assert_eq!(got, Err(arg_error("time", want)), "{input:?}");
        }
    }

    #[test]
    fn timeadd_durations() {
        assert_eq!(
            call("timeadd", &[s("2025-09-24T12:00:00Z"), s("1h30m")]),
            Ok(s("2025-09-24T13:30:00Z"))
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00Z"), s("-1.5h")]),
            Ok(s("2017-11-21T22:30:00Z"))
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00+02:00"), s("10m")]),
            Ok(s("2017-11-22T00:10:00+02:00"))
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00.75Z"), s("250ms")]),
            Ok(s("2017-11-22T00:00:01Z"))
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00Z"), s("0")]),
            Ok(s("2017-11-22T00:00:00Z"))
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00Z"), s("1d")]),
            Err("time: unknown unit \"d\" in duration \"1d\"".into())
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00Z"), s("1")]),
            Err("time: missing unit in duration \"1\"".into())
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00Z"), s("x")]),
            Err("time: invalid duration \"x\"".into())
        );
        assert_eq!(
            call("timeadd", &[s("2017-11-22T00:00:00Z"), s("")]),
            Err("time: invalid duration \"\"".into())
        );
        assert!(
            call("timeadd", &[s("2017-11-22"), s("1h")])
                .unwrap_err()
                .starts_with("not a valid RFC3339 timestamp")
        );
        assert!(
            call(
                "timeadd",
                &[s("2017-11-22T00:00:00Z"), s("99999999999999h")]
            )
            .is_err()
        );
    }

    #[test]
    fn formattimestamp_rejects_other_types() {
        assert_eq!(
            call("formattimestamp", &[s("X"), Value::Bool(true)]),
            Err("invalid value for \"time\" parameter: must be a string timestamp or a unix timestamp number".into())
        );
        assert_eq!(
            call("formattimestamp", &[s("X"), s("nope")]),
            Err("invalid value for \"time\" parameter: timestamp string must be RFC3339".into())
        );
        assert_eq!(
            call("formattimestamp", &[s("X"), n(0.5)]),
            Err("invalid value for \"time\" parameter: unix timestamp must be an integer".into())
        );
    }
}
