//! Go's formatting and parsing, where compose's output depends on it.

use std::sync::LazyLock;

use regex::Regex;

/// Go's `%v` for a float64: the shortest digits, in exponent form outside 1e-4 ≤ |f| < 1e21's
/// `%g` window of six digits.
pub(super) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f == 0.0 || (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

/// docker's `MemBytes.String()`: go-units' `BytesSize`, i.e. `%.4g` and a binary unit.
pub(super) fn bytes_size(bytes: i64) -> String {
    pub(super) const UNITS: &[&str] =
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    let e = format!("{size:.3e}");
    let exp: i32 = e
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let num = if (-4..4).contains(&exp) {
        trim(format!("{size:.*}", (3 - exp) as usize))
    } else {
        let (m, _) = e.split_once('e').unwrap_or((&e, ""));
        format!(
            "{}e{}{:02}",
            trim(m.to_string()),
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    };
    format!("{num}{}", UNITS[unit])
}

/// go-units' `RAMInBytes` in the version Debian's buildx 0.13.1 (the reference) links: a
/// decimal number, an optional space and binary unit (`k`..`p`, optionally `i` and `b`, any case).
pub(super) fn ram_in_bytes(s: &str) -> Result<i64, String> {
    pub(super) static SIZE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([0-9]+(?:\.[0-9]+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
            .expect("the size pattern is valid")
    });
    let caps = SIZE
        .captures(s)
        .ok_or_else(|| format!("invalid size: '{s}'"))?;
    let num = caps.get(1).map_or("", |m| m.as_str());
    let size: f64 = num
        .parse()
        .map_err(|_| format!("invalid number: '{num}'"))?;
    let exp = match caps
        .get(2)
        .map(|m| m.as_str().to_ascii_lowercase())
        .as_deref()
    {
        Some("k") => 1,
        Some("m") => 2,
        Some("g") => 3,
        Some("t") => 4,
        Some("p") => 5,
        _ => 0,
    };
    Ok((size * 1024f64.powi(exp)) as i64)
}
