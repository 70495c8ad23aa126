//! The bake standard library: every function buildx registers in
//! `bake/hclparser/stdlib.go`, except those that need the network.
//!
//! `try` and `can` are not here: they take unevaluated arguments, so the evaluator
//! implements them itself.

use super::value::Value;

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
    FUNCS.iter().find(|f| f.name == name)
}

/// Every builtin's name, for "did you mean" help.
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCS.iter().map(|f| f.name)
}

static FUNCS: &[Func] = &[];
