//! The bake standard library: every function buildx registers in
//! `bake/hclparser/stdlib.go`, except those that need the network.
//!
//! `try` and `can` are not here: they take unevaluated arguments, so the evaluator
//! implements them itself.

mod args;
mod cidr;
mod collections;
mod conversion;
mod crypto;
mod datetime;
mod encoding;
mod format;
mod logic;
mod numeric;
mod paths;
mod regex;
mod semver;
mod sequences;
mod sets;
mod strings;
mod uuid;

use super::value::{Number, Value};

/// What a function may read from the world. Filled once in `cli::settings`, so evaluation
/// itself does no I/O and stays deterministic under test.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Seconds since the Unix epoch, for `timestamp()`.
    pub now_unix: i64,
    /// The user's home directory, for functions that expand `~`.
    pub home: Option<String>,
}

/// A builtin's implementation: arguments already evaluated, an error is a one-line message
/// the evaluator attaches to the call's span.
pub type Impl = fn(&Env, &[Value]) -> Result<Value, String>;

pub struct Func {
    pub name: &'static str,
    /// Number of required parameters.
    pub params: usize,
    /// Whether further arguments are accepted after the required ones.
    pub variadic: bool,
    pub call: Impl,
}

/// Looks a builtin up by name.
pub fn lookup(name: &str) -> Option<&'static Func> {
    // Every call, of a builtin or of a user function, looks here first: a hash index over
    // the table (a binary search by name cost about 2% of a large `print`).
    static INDEX: std::sync::OnceLock<foldhash::HashMap<&'static str, usize>> =
        std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| FUNCS.iter().enumerate().map(|(i, f)| (f.name, i)).collect());
    index.get(name).map(|&i| &FUNCS[i])
}

/// Every builtin's name, for "did you mean" help.
/// The builtins whose result is a set (returned as a list in cty's set order).
pub fn returns_set(name: &str) -> bool {
    matches!(
        name,
        "setunion" | "setintersection" | "setsubtract" | "setsymmetricdifference"
    )
}

/// A list converted to a set as cty converts it: elements unified to one type, duplicates
/// removed, in set order. None when the elements have no common type.
pub fn as_set(items: &[Value]) -> Option<Vec<Value>> {
    sets::to_set_unified(items)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCS.iter().map(|f| f.name)
}

/// Shorthand for one table row.
const fn builtin(name: &'static str, params: usize, variadic: bool, call: Impl) -> Func {
    Func {
        name,
        params,
        variadic,
        call,
    }
}

/// Every builtin, in buildx's order (alphabetical, as its documentation lists them).
static FUNCS: &[Func] = &[
    builtin("absolute", 1, false, numeric::absolute),
    builtin("add", 2, false, numeric::add),
    builtin("and", 2, false, logic::and),
    builtin("base64decode", 1, false, encoding::base64decode),
    builtin("base64encode", 1, false, encoding::base64encode),
    builtin("basename", 1, false, paths::basename),
    builtin("bcrypt", 1, true, crypto::bcrypt),
    builtin("byteslen", 1, false, strings::byteslen),
    builtin("bytesslice", 3, false, strings::bytesslice),
    builtin("ceil", 1, false, numeric::ceil),
    builtin("chomp", 1, false, strings::chomp),
    builtin("chunklist", 2, false, sequences::chunklist),
    builtin("cidrhost", 2, false, cidr::cidrhost),
    builtin("cidrnetmask", 1, false, cidr::cidrnetmask),
    builtin("cidrsubnet", 3, false, cidr::cidrsubnet),
    builtin("cidrsubnets", 1, true, cidr::cidrsubnets),
    builtin("coalesce", 0, true, collections::coalesce),
    builtin("coalescelist", 0, true, collections::coalescelist),
    builtin("compact", 1, false, sequences::compact),
    builtin("concat", 0, true, sequences::concat),
    builtin("contains", 2, false, collections::contains),
    builtin("convert", 2, false, conversion::convert),
    builtin("csvdecode", 1, false, encoding::csvdecode),
    builtin("dirname", 1, false, paths::dirname),
    builtin("distinct", 1, false, sequences::distinct),
    builtin("divide", 2, false, numeric::divide),
    builtin("element", 2, false, collections::element),
    builtin("equal", 2, false, logic::equal),
    builtin("flatten", 1, false, sequences::flatten),
    builtin("floor", 1, false, numeric::floor),
    builtin("format", 1, true, format::format),
    builtin("formatdate", 2, false, datetime::formatdate),
    builtin("formatlist", 1, true, format::formatlist),
    builtin("formattimestamp", 2, false, datetime::formattimestamp),
    builtin("greaterthan", 2, false, numeric::greaterthan),
    builtin(
        "greaterthanorequalto",
        2,
        false,
        numeric::greaterthanorequalto,
    ),
    builtin("hasindex", 2, false, collections::hasindex),
    builtin("homedir", 0, false, paths::homedir),
    builtin("indent", 2, false, strings::indent),
    builtin("index", 2, false, collections::index),
    builtin("indexof", 2, false, collections::indexof),
    builtin("int", 1, false, numeric::int),
    builtin("join", 1, true, strings::join),
    builtin("jsondecode", 1, false, encoding::jsondecode),
    builtin("jsonencode", 1, false, encoding::jsonencode),
    builtin("keys", 1, false, collections::keys),
    builtin("length", 1, false, collections::length),
    builtin("lessthan", 2, false, numeric::lessthan),
    builtin("lessthanorequalto", 2, false, numeric::lessthanorequalto),
    builtin("log", 2, false, numeric::log),
    builtin("lookup", 3, false, collections::lookup),
    builtin("lower", 1, false, strings::lower),
    builtin("max", 0, true, numeric::max),
    builtin("md5", 1, false, crypto::md5),
    builtin("merge", 0, true, collections::merge),
    builtin("min", 0, true, numeric::min),
    builtin("modulo", 2, false, numeric::modulo),
    builtin("multiply", 2, false, numeric::multiply),
    builtin("negate", 1, false, numeric::negate),
    builtin("not", 1, false, logic::not),
    builtin("notequal", 2, false, logic::notequal),
    builtin("or", 2, false, logic::or),
    builtin("parseint", 2, false, numeric::parseint),
    builtin("pow", 2, false, numeric::pow),
    builtin("range", 0, true, sequences::range),
    builtin("regex", 2, false, regex::regex),
    builtin("regex_replace", 3, false, regex::regex_replace),
    builtin("regexall", 2, false, regex::regexall),
    builtin("replace", 3, false, strings::replace),
    builtin("reverse", 1, false, strings::reverse),
    builtin("reverselist", 1, false, sequences::reverselist),
    builtin("rsadecrypt", 2, false, crypto::rsadecrypt),
    builtin("sanitize", 1, false, strings::sanitize),
    builtin("semvercmp", 2, false, semver::semvercmp),
    builtin("sethaselement", 2, false, sets::sethaselement),
    builtin("setintersection", 1, true, sets::setintersection),
    builtin("setproduct", 0, true, sets::setproduct),
    builtin("setsubtract", 2, false, sets::setsubtract),
    builtin(
        "setsymmetricdifference",
        1,
        true,
        sets::setsymmetricdifference,
    ),
    builtin("setunion", 1, true, sets::setunion),
    builtin("sha1", 1, false, crypto::sha1),
    builtin("sha256", 1, false, crypto::sha256),
    builtin("sha512", 1, false, crypto::sha512),
    builtin("signum", 1, false, numeric::signum),
    builtin("slice", 3, false, sequences::slice),
    builtin("sort", 1, false, sequences::sort),
    builtin("split", 2, false, strings::split),
    builtin("strlen", 1, false, strings::strlen),
    builtin("substr", 3, false, strings::substr),
    builtin("subtract", 2, false, numeric::subtract),
    builtin("timeadd", 2, false, datetime::timeadd),
    builtin("timestamp", 0, false, datetime::timestamp),
    builtin("title", 1, false, strings::title),
    builtin("trim", 2, false, strings::trim),
    builtin("trimprefix", 2, false, strings::trimprefix),
    builtin("trimspace", 1, false, strings::trimspace),
    builtin("trimsuffix", 2, false, strings::trimsuffix),
    builtin("unixtimestampparse", 1, false, datetime::unixtimestampparse),
    builtin("upper", 1, false, strings::upper),
    builtin("urlencode", 1, false, encoding::urlencode),
    builtin("uuidv4", 0, false, uuid::uuidv4),
    builtin("uuidv5", 2, false, uuid::uuidv5),
    builtin("values", 1, false, collections::values),
    builtin("zipmap", 2, false, collections::zipmap),
];

/// The helpers the builtins' unit tests share: a call with a default environment, and
/// short constructors for arguments.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Env, lookup};
    use crate::eval::value::Value;

    pub fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        let f = lookup(name).expect("builtin exists");
        (f.call)(&Env::default(), args)
    }

    pub fn s(v: &str) -> Value {
        Value::string(v)
    }

    pub fn n(v: f64) -> Value {
        Value::num(v)
    }

    pub fn list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|i| s(i)).collect())
    }

    pub fn nums(items: &[f64]) -> Value {
        Value::List(items.iter().map(|i| n(*i)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sorted() {
        let all: Vec<&str> = names().collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(all, sorted);
        assert_eq!(all.len(), 104);
        assert!(lookup("try").is_none() && lookup("can").is_none());
    }

    /// Every builtin must answer odd arguments with an error, never a panic or a runaway
    /// allocation. bcrypt is left out because a valid cost makes each call slow.
    #[test]
    fn no_builtin_panics_on_odd_arguments() {
        let samples = [
            Value::Null,
            Value::Bool(true),
            Value::num(-1.0),
            Value::num(0.5),
            Value::num(1e300),
            Value::Number(crate::base::Number::parse("-inf").expect("parses")),
            Value::string(""),
            Value::string("é%[9]d"),
            Value::List(vec![]),
            Value::List(vec![
                Value::string("a"),
                Value::num(1.0),
                Value::List(vec![]),
            ]),
            Value::Map(Default::default()),
        ];
        let env = Env::default();
        for f in FUNCS.iter().filter(|f| f.name != "bcrypt") {
            let _ = (f.call)(&env, &[]);
            for a in &samples {
                let _ = (f.call)(&env, std::slice::from_ref(a));
                for b in &samples {
                    let _ = (f.call)(&env, &[a.clone(), b.clone()]);
                    for c in &samples {
                        let _ = (f.call)(&env, &[a.clone(), b.clone(), c.clone()]);
                    }
                }
            }
        }
    }
}

/// Every function call of the conformance cases, composed as the bake files compose them
/// (`length(split(...))`, `jsonencode(merge(...))`), against the strings real buildx
/// produced for them in `expected.json`. The modules' own tests cover each function alone.
#[cfg(test)]
mod conformance {
    use super::*;

    fn call(name: &str, args: &[Value]) -> Value {
        let f = lookup(name).expect("builtin exists");
        (f.call)(&Env::default(), args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// How bake turns an arg value into the string in `expected.json`.
    fn text(v: Value) -> String {
        v.to_str()
            .unwrap_or_else(|| panic!("not a primitive: {v:?}"))
    }

    fn s(v: &str) -> Value {
        Value::string(v)
    }

    fn n(v: f64) -> Value {
        Value::num(v)
    }

    fn list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|i| s(i)).collect())
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn attr(v: Value, name: &str) -> Value {
        v.as_map()
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or_default()
    }

    // The conformance input is the literal 3.14159, not an approximation of π.
    #[allow(clippy::approx_constant)]
    #[test]
    fn case_013_stdlib_strings() {
        let r#ref = s("refs/tags/v1.8.2-beta");
        let cases: [(&str, Value); 17] = [
            ("MIXED CASE", call("upper", &[s("mixed Case")])),
            ("mixed", call("lower", &[s("MiXeD")])),
            ("Hello Bake World", call("title", &[s("hello bake world")])),
            ("a_b_c", call("replace", &[s("a-b-c"), s("-"), s("_")])),
            (
                "v1.8.2-beta",
                call("trimprefix", &[r#ref.clone(), s("refs/tags/")]),
            ),
            (
                "image.tar",
                call("trimsuffix", &[s("image.tar.gz"), s(".gz")]),
            ),
            ("cde", call("substr", &[s("abcdefgh"), n(2.0), n(3.0)])),
            (
                "build-007-3.14",
                call(
                    "format",
                    &[s("%s-%03d-%.2f"), s("build"), n(7.0), n(3.14159)],
                ),
            ),
            ("x+y+z", call("join", &[s("+"), list(&["x", "y", "z"])])),
            (
                "4",
                call("length", &[call("split", &[s("/"), s("a/b/c/d")])]),
            ),
            (
                "1.8.2-beta",
                call("regex_replace", &[r#ref, s("^refs/tags/v"), s("")]),
            ),
            ("padded", call("trimspace", &[s("   padded   ")])),
            ("xx", call("trim", &[s("--xx--"), s("-")])),
            ("line", call("chomp", &[s("line\n")])),
            ("6", call("strlen", &[s("häuser")])),
            ("desserts", call("reverse", &[s("stressed")])),
            ("a\n  b", call("indent", &[n(2.0), s("a\nb")])),
        ];
        for (want, got) in cases {
            assert_eq!(text(got), want);
        }
    }

    #[test]
    fn case_014_stdlib_collections() {
        let tags = call(
            "concat",
            &[list(&["r/app:a", "r/app:b"]), list(&["r/app:a", "r/app:c"])],
        );
        assert_eq!(
            call("distinct", &[tags]),
            list(&["r/app:a", "r/app:b", "r/app:c"])
        );
        let platforms = list(&["linux/s390x", "linux/amd64", "linux/arm64"]);
        assert_eq!(
            call("sort", &[platforms]),
            list(&["linux/amd64", "linux/arm64", "linux/s390x"])
        );
        let join = |v: Value| call("join", &[s(","), v]);
        let nested = Value::List(vec![list(&["a", "b"]), list(&["c"]), list(&[])]);
        let extra = call("split", &[s(","), s("c,a")]);
        let cases: [(&str, Value); 16] = [
            ("a,b,c", join(call("flatten", &[nested]))),
            (
                "3,2,1",
                join(call("reverselist", &[list(&["1", "2", "3"])])),
            ),
            (
                "q,r",
                join(call(
                    "slice",
                    &[list(&["p", "q", "r", "s"]), n(1.0), n(3.0)],
                )),
            ),
            ("true", call("contains", &[list(&["x", "y"]), s("y")])),
            (
                "alpha,zeta",
                join(call("keys", &[map(&[("zeta", n(1.0)), ("alpha", n(2.0))])])),
            ),
            (
                "one,two",
                join(call("values", &[map(&[("b", s("two")), ("a", s("one"))])])),
            ),
            (
                "{\"a\":\"1\",\"b\":\"3\"}",
                call(
                    "jsonencode",
                    &[call(
                        "merge",
                        &[map(&[("a", s("1")), ("b", s("2"))]), map(&[("b", s("3"))])],
                    )],
                ),
            ),
            (
                "unknown",
                call(
                    "lookup",
                    &[map(&[("amd64", s("x86_64"))]), s("arm64"), s("unknown")],
                ),
            ),
            (
                "one",
                call("element", &[list(&["zero", "one", "two"]), n(4.0)]),
            ),
            ("c", call("index", &[list(&["a", "b", "c"]), n(2.0)])),
            ("", call("coalesce", &[s(""), s("fallback")])),
            ("a,b", join(call("compact", &[list(&["a", "", "b"])]))),
            (
                "{\"k1\":\"v1\",\"k2\":\"v2\"}",
                call(
                    "jsonencode",
                    &[call("zipmap", &[list(&["k1", "k2"]), list(&["v1", "v2"])])],
                ),
            ),
            (
                "a,b,c",
                join(call("sort", &[call("setunion", &[extra, list(&["b"])])])),
            ),
            (
                "[[\"a\",\"b\"],[\"c\"]]",
                call(
                    "jsonencode",
                    &[call("chunklist", &[list(&["a", "b", "c"]), n(2.0)])],
                ),
            ),
            (
                "[1,4,7]",
                call("jsonencode", &[call("range", &[n(1.0), n(10.0), n(3.0)])]),
            ),
        ];
        for (want, got) in cases {
            assert_eq!(text(got), want);
        }
    }

    #[test]
    fn case_015_stdlib_encoding_hash() {
        let object = map(&[
            ("name", s("x")),
            ("n", n(3.0)),
            ("ok", Value::Bool(true)),
            ("list", Value::List(vec![n(1.0), s("two")])),
        ]);
        let csv = call("csvdecode", &[s("name,arch\nweb,amd64\nweb,arm64\n")]);
        let formatted = call(
            "formatlist",
            &[s("%s=%s"), list(&["a", "b"]), list(&["1", "2"])],
        );
        let cases: [(&str, Value); 11] = [
            (
                "YmFrZTpjb25mb3JtYW5jZQ==",
                call("base64encode", &[s("bake:conformance")]),
            ),
            ("rbake", call("base64decode", &[s("cmJha2U=")])),
            (
                "{\"list\":[1,\"two\"],\"n\":3,\"name\":\"x\",\"ok\":true}",
                call("jsonencode", &[object]),
            ),
            ("v", attr(call("jsondecode", &[s("{\"k\": \"v\"}")]), "k")),
            ("a+b%26c%3Dd%2Fe", call("urlencode", &[s("a b&c=d/e")])),
            (
                "[{\"arch\":\"amd64\",\"name\":\"web\"},{\"arch\":\"arm64\",\"name\":\"web\"}]",
                call("jsonencode", &[csv]),
            ),
            (
                "58dc14667d65a3ef9386f9fe8640182e",
                call("md5", &[s("rbake")]),
            ),
            (
                "760ec641d31b625ec7a0c4a807e30c82a5d727dc",
                call("sha1", &[s("rbake")]),
            ),
            (
                "7d213cd774e68d99e10511fcd8c3ea6462f5a1ce3601387bebe71f30189c4341",
                call("sha256", &[s("rbake")]),
            ),
            (
                "bacf2b6c-b18c-594c-9885-8490df2b6683",
                call("uuidv5", &[s("dns"), s("build.example.org")]),
            ),
            ("a=1;b=2", call("join", &[s(";"), formatted])),
        ];
        for (want, got) in cases {
            assert_eq!(text(got), want);
        }
    }

    #[test]
    fn case_016_stdlib_math() {
        let cases: [(&str, Value); 16] = [
            ("5", call("add", &[n(2.0), n(3.0)])),
            ("5.5", call("subtract", &[n(10.0), n(4.5)])),
            ("42", call("multiply", &[n(6.0), n(7.0)])),
            ("2.5", call("divide", &[n(10.0), n(4.0)])),
            ("2", call("modulo", &[n(17.0), n(5.0)])),
            ("9", call("max", &[n(3.0), n(9.0), n(1.0)])),
            ("1", call("min", &[n(3.0), n(9.0), n(1.0)])),
            ("1024", call("pow", &[n(2.0), n(10.0)])),
            ("5", call("ceil", &[n(4.1)])),
            ("4", call("floor", &[n(4.9)])),
            ("12", call("absolute", &[n(-12.0)])),
            ("-5", call("negate", &[n(5.0)])),
            ("-1", call("signum", &[n(-3.0)])),
            ("7", call("int", &[n(7.8)])),
            ("255", call("parseint", &[s("ff"), n(16.0)])),
            ("true", call("greaterthan", &[n(5.0), n(3.0)])),
        ];
        for (want, got) in cases {
            assert_eq!(text(got), want);
        }
    }

    #[test]
    fn case_212_new_stdlib_functions() {
        let dockerfile = "services/billing/Dockerfile.prod";
        let cases: [(&str, Value); 6] = [
            ("Dockerfile.prod", call("basename", &[s(dockerfile)])),
            ("services/billing", call("dirname", &[s(dockerfile)])),
            (
                "feature_new_login_page",
                call("sanitize", &[s("feature/new.login page")]),
            ),
            (
                "1",
                call(
                    "indexof",
                    &[list(&["amd64", "arm64", "riscv64"]), s("arm64")],
                ),
            ),
            ("true", call("semvercmp", &[s("1.25.3"), s(">= 1.24")])),
            ("false", call("semvercmp", &[s("1.23.0"), s(">= 1.24")])),
        ];
        for (want, got) in cases {
            assert_eq!(text(got), want);
        }
    }

    #[test]
    fn case_216_timestamp_functions_fixed_input() {
        let epoch = || n(1_700_000_000.0);
        let parsed = || call("unixtimestampparse", &[epoch()]);
        let cases: [(&str, Value); 6] = [
            ("2023", attr(parsed(), "year")),
            ("Tuesday", attr(parsed(), "weekday_name")),
            ("46", attr(parsed(), "iso_week")),
            ("2023-11-14T22:13:20Z", attr(parsed(), "rfc3339")),
            (
                "2023-11-14",
                call("formattimestamp", &[s("YYYY-MM-DD"), epoch()]),
            ),
            (
                "1700000000",
                call("formattimestamp", &[s("X"), s("2023-11-14T22:13:20Z")]),
            ),
        ];
        for (want, got) in cases {
            assert_eq!(text(got), want);
        }
    }
}
