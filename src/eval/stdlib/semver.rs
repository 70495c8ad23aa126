//! `semvercmp`, which checks a version against a constraint with the semantics of
//! Masterminds/semver v3, the library buildx uses.
//!
//! The `semver` crate implements Cargo's rules, which differ (a bare `1.2.3` means `^1.2.3`
//! in Cargo but `=1.2.3` here, and ranges, wildcards and pre-release handling differ too),
//! so the library's parsing regexes and comparison rules are ported directly.

use std::cmp::Ordering;
use std::sync::LazyLock;

use ::regex::Regex;

use super::args::arg_str;
use super::{Env, Value};

pub(super) fn semvercmp(_: &Env, args: &[Value]) -> Result<Value, String> {
    let version = Version::parse(&arg_str(args, 0, "version")?)?;
    let constraint = Constraints::parse(&arg_str(args, 1, "contraint")?)?;
    Ok(Value::Bool(constraint.check(&version)))
}

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

/// The patterns are the library's constants, so failing to compile one is a bug in this
/// file that the tests below would reveal, never a consequence of user input.
fn regex(pattern: String) -> Regex {
    Regex::new(&pattern).expect("semver patterns are valid")
}

static LOOSE_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$".into())
});
static CONSTRAINT: LazyLock<Regex> = LazyLock::new(|| regex(format!(r"^\s*({OPS})\s*({CV})\s*$")));
static RANGE: LazyLock<Regex> = LazyLock::new(|| regex(format!(r"\s*({CV})\s+-\s+({CV})\s*")));
static FIND: LazyLock<Regex> = LazyLock::new(|| regex(format!(r"({OPS})\s*({CV})")));
static VALID: LazyLock<Regex> = LazyLock::new(|| {
    regex(format!(
        r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
    ))
});

#[derive(Clone, Debug, PartialEq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

impl Version {
    /// The library's lenient parser: a `v` prefix and missing minor or patch are accepted.
    fn parse(s: &str) -> Result<Version, String> {
        let m = LOOSE_VERSION
            .captures(s)
            .ok_or("invalid semantic version")?;
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let number = |text: &str| {
            let digits = text.trim_start_matches('.');
            if digits.is_empty() {
                return Ok(0);
            }
            digits
                .parse::<u64>()
                .map_err(|_| format!("error parsing version segment: {digits} is out of range"))
        };
        let version = Version {
            major: number(group(1))?,
            minor: number(group(2))?,
            patch: number(group(3))?,
            pre: group(5).to_string(),
        };
        if !version.pre.is_empty() {
            validate_prerelease(&version.pre)?;
        }
        let metadata = group(8);
        if !metadata.is_empty() && metadata.split('.').any(|p| p.is_empty()) {
            return Err("invalid metadata string".into());
        }
        Ok(version)
    }

    fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

fn validate_prerelease(pre: &str) -> Result<(), String> {
    for part in pre.split('.') {
        if part.is_empty() {
            return Err("invalid prerelease string".into());
        }
        if part.bytes().all(|b| b.is_ascii_digit()) && part.len() > 1 && part.starts_with('0') {
            return Err("version segment starts with 0".into());
        }
    }
    Ok(())
}

/// Dot-separated identifiers compare numerically when both are numbers, numbers sort
/// before words, and a missing identifier sorts first.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (a_parts, b_parts): (Vec<&str>, Vec<&str>) =
        (a.split('.').collect(), b.split('.').collect());
    for i in 0..a_parts.len().max(b_parts.len()) {
        let x = a_parts.get(i).copied().unwrap_or("");
        let y = b_parts.get(i).copied().unwrap_or("");
        let order = match (x, y) {
            _ if x == y => Ordering::Equal,
            ("", _) => Ordering::Less,
            (_, "") => Ordering::Greater,
            _ => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(p), Ok(q)) => p.cmp(&q),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => x.cmp(y),
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// One comparison: an operator and a version whose trailing parts may be wildcards.
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

/// Alternatives separated by `||`, each a list of comparisons that must all hold.
struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

impl Constraints {
    fn parse(text: &str) -> Result<Constraints, String> {
        let text = rewrite_ranges(text);
        let mut groups = Vec::new();
        for alternative in text.split("||") {
            if !VALID.is_match(alternative) {
                return Err(format!("improper constraint: {alternative}"));
            }
            let mut parts: Vec<&str> = FIND.find_iter(alternative).map(|m| m.as_str()).collect();
            if parts.is_empty() {
                parts.push(alternative);
            }
            let group = parts
                .into_iter()
                .map(Constraint::parse)
                .collect::<Result<Vec<_>, _>>()?;
            // A group that names a pre-release version may match pre-releases.
            let has_pre = group.iter().any(|c| !c.con.pre.is_empty());
            groups.push((group, has_pre));
        }
        Ok(Constraints { groups })
    }

    fn check(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|(group, include_pre)| group.iter().all(|c| c.check(v, *include_pre)))
    }
}

/// Rewrites hyphen ranges `a - b` as `>= a, <= b`.
fn rewrite_ranges(text: &str) -> String {
    let mut out = text.to_string();
    for m in RANGE.captures_iter(text) {
        let (Some(whole), Some(low), Some(high)) = (m.get(0), m.get(1), m.get(11)) else {
            continue;
        };
        let replacement = format!(">= {}, <= {} ", low.as_str(), high.as_str());
        out = out.replacen(whole.as_str(), &replacement, 1);
    }
    out
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Constraint {
    fn parse(text: &str) -> Result<Constraint, String> {
        let m = CONSTRAINT
            .captures(text)
            .ok_or_else(|| format!("improper constraint: {text}"))?;
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let version = if is_x(major) || major.is_empty() {
            dirty = true;
            format!("0.0.0{pre}")
        } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
            (dirty, minor_dirty) = (true, true);
            format!("{major}.0.0{pre}")
        } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
            (dirty, patch_dirty) = (true, true);
            format!("{major}{minor}.0{pre}")
        } else {
            group(2).to_string()
        };
        let con = Version::parse(&version).map_err(|_| "constraint parser error".to_string())?;
        Ok(Constraint {
            op: group(1).to_string(),
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => v.compare(&self.con) == Ordering::Equal,
            "!=" => self.not_equal(v),
            ">" => self.greater(v),
            "<" => v.compare(&self.con) == Ordering::Less,
            ">=" | "=>" => v.compare(&self.con) != Ordering::Less,
            "<=" | "=<" => self.less_or_equal(v),
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                return (!v.pre.is_empty() || !c.pre.is_empty())
                    && compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) == Ordering::Greater;
        }
        if v.major != c.major {
            return v.major > c.major;
        }
        if self.minor_dirty {
            return false;
        }
        if self.patch_dirty {
            return v.minor > c.minor;
        }
        v.compare(c) == Ordering::Greater
    }

    fn less_or_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) != Ordering::Greater;
        }
        if v.major > c.major {
            return false;
        }
        !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::call;
    use super::*;

    fn cmp(version: &str, constraint: &str) -> Result<Value, String> {
        call(
            "semvercmp",
            &[Value::string(version), Value::string(constraint)],
        )
    }

    #[test]
    fn conformance_212_semvercmp() {
        assert_eq!(cmp("1.25.3", ">= 1.24"), Ok(Value::Bool(true)));
        assert_eq!(cmp("1.23.0", ">= 1.24"), Ok(Value::Bool(false)));
    }

    #[test]
    fn masterminds_semantics() {
        let cases = [
            ("1.2.3", "1.2.3", true),
            ("1.2.4", "1.2.3", false),
            ("v1.2.3", "=1.2.3", true),
            ("1.2.4", "1.2", true),
            ("1.3.0", "1.2", false),
            ("1.2.9", "1.2.x", true),
            ("1.2.9", "~1.2.3", true),
            ("1.3.0", "~1.2.3", false),
            ("1.9.0", "^1.2.3", true),
            ("2.0.0", "^1.2.3", false),
            ("0.2.9", "^0.2.3", true),
            ("0.3.0", "^0.2.3", false),
            ("0.0.4", "^0.0.3", false),
            ("1.3.0", "1.2 - 1.4", true),
            ("1.5.0", "1.2 - 1.4", false),
            ("1.2.4", "!=1.2.3", true),
            ("1.2.3", "!=1.2.3", false),
            ("1.3.0", ">1.2", true),
            ("1.2.9", ">1.2", false),
            ("1.2.9", "<=1.2", true),
            ("1.3.0", "<=1.2", false),
            ("3.0.0", ">=1, <2 || >=3", true),
            ("2.5.0", ">=1, <2 || >=3", false),
            ("1.5.0", ">=1 <2", true),
            ("1.3.0-beta", ">=1.2", false),
            ("1.3.0-beta", ">=1.2.0-0", true),
            ("1.0.0-alpha.2", ">1.0.0-alpha.10", false),
            ("1.0.0-beta", ">1.0.0-alpha.10", true),
            ("5.0.0", "*", true),
        ];
        for (version, constraint, want) in cases {
            assert_eq!(
                cmp(version, constraint),
                Ok(Value::Bool(want)),
                "{version} vs {constraint}"
            );
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            cmp("not.a.version", ">=1"),
            Err("invalid semantic version".into())
        );
        assert_eq!(cmp("1.2.3", "??"), Err("improper constraint: ??".into()));
        assert_eq!(
            cmp("1.2.3-01", ">=1"),
            Err("version segment starts with 0".into())
        );
    }
}
