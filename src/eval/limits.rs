//! How large evaluation may let values grow, and how much work one document may take.
//!
//! bake has no such limits: a function that doubles a string, called through another that
//! doubles it again, or a matrix of five long axes, runs until memory or patience runs out.
//! Each limit here ends evaluation with a diagnostic at the expression or block that crossed
//! it. The limits sit far above anything a real bake file does (the largest generated
//! benchmark, 5000 target blocks, takes under 700,000 steps and no value over a few KB), so they
//! change no result that bake would give in reasonable time.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use super::value::Value;
use crate::source::{Diag, Span};

/// The longest string an expression may produce.
pub const MAX_STRING_BYTES: usize = 16 << 20;
/// The most elements (items, entries, nested ones included) one value may hold.
pub const MAX_ELEMENTS: usize = 1_000_000;
/// The most string bytes one collection may hold in all.
pub const MAX_VALUE_BYTES: usize = 64 << 20;
/// The most targets one matrix block may expand to.
pub const MAX_INSTANCES: usize = 10_000;
/// The most expressions one document may evaluate (each sub-expression, each function body
/// and each `for` iteration counts one).
pub const MAX_STEPS: u64 = 10_000_000;

/// Whether `d` is a limit diagnostic: `try` and `can` pass these on instead of catching
/// them, and a function call does not wrap them, so one report says what ran away.
pub fn is_limit(d: &Diag) -> bool {
    matches!(
        d.code,
        "eval::string_too_large" | "eval::value_too_large" | "eval::too_much_work"
    )
}

/// Checks a value an expression just built against the size limits.
pub fn check(v: &Value, at: Span) -> Result<(), Diag> {
    match v {
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(Diag::error(
            "eval::string_too_large",
            format!(
                "this expression builds a string of {} MiB, more than the {} MiB allowed",
                s.len() >> 20,
                MAX_STRING_BYTES >> 20
            ),
        )
        .label(at, "the string grows past the limit here")
        .help(
            "look for functions that repeat their argument (`\"${s}${s}\"`) and call one another; build the string without doubling it at every level",
        )),
        Value::List(_) | Value::Map(_) => {
            let mut size = Size::default();
            if size.add(v) {
                return Ok(());
            }
            Err(Diag::error(
                "eval::value_too_large",
                format!(
                    "this expression builds a value of more than {MAX_ELEMENTS} elements or {} MiB of strings",
                    MAX_VALUE_BYTES >> 20
                ),
            )
            .label(at, "the value grows past the limit here")
            .help(
                "look for functions or `for` expressions that repeat a list or object (`concat(x, x)`, `[x, x]`) at every level; build it without doubling",
            ))
        }
        _ => Ok(()),
    }
}

#[derive(Default)]
struct Size {
    elements: usize,
    bytes: usize,
}

impl Size {
    /// Adds `v`; false as soon as a limit is crossed, without walking the rest.
    fn add(&mut self, v: &Value) -> bool {
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return false;
        }
        match v {
            Value::String(s) => {
                self.bytes += s.len();
                self.bytes <= MAX_VALUE_BYTES
            }
            Value::List(items) => items.iter().all(|x| self.add(x)),
            Value::Map(m) => m.iter().all(|(k, x)| {
                self.bytes += k.len();
                self.add(x)
            }),
            _ => true,
        }
    }
}

/// The diagnostic for a matrix with more than [`MAX_INSTANCES`] combinations.
pub fn matrix_too_large(axes: &BTreeMap<String, Value>, at: Span) -> Diag {
    let mut total = 1u128;
    let mut shape = Vec::new();
    for (axis, values) in axes {
        let n = values.as_list().map_or(1, <[Value]>::len);
        total = total.saturating_mul(n as u128);
        shape.push(format!("{axis} ({n})"));
    }
    Diag::error(
        "eval::matrix_too_large",
        format!("this matrix makes {total} targets, more than the {MAX_INSTANCES} allowed"),
    )
    .label(at, shape.join(" × "))
    .help("split the matrix over several targets, or drop values from its longest axes")
}

/// The evaluation steps a document has left, shared by every evaluator working on it.
#[derive(Clone, Debug)]
pub struct Budget(Rc<State>);

#[derive(Debug)]
struct State {
    left: Cell<u64>,
    /// The diagnostic of the step that ran out: every later step fails with it, so it is
    /// reported once.
    spent: RefCell<Option<Diag>>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(MAX_STEPS)
    }
}

impl Budget {
    pub fn new(steps: u64) -> Budget {
        Budget(Rc::new(State {
            left: Cell::new(steps),
            spent: RefCell::new(None),
        }))
    }

    /// The steps left.
    pub fn left(&self) -> u64 {
        self.0.left.get()
    }

    /// Spends `n` steps taken elsewhere (another thread's budget), if that many are left.
    pub fn spend_many(&self, n: u64) -> bool {
        let left = self.0.left.get();
        if n > left {
            return false;
        }
        self.0.left.set(left - n);
        true
    }

    /// Takes one step for the expression at `at`.
    #[inline]
    pub fn spend(&self, at: Span) -> Result<(), Diag> {
        let left = self.0.left.get();
        if left > 0 {
            self.0.left.set(left - 1);
            return Ok(());
        }
        self.spent(at)
    }

    #[cold]
    fn spent(&self, at: Span) -> Result<(), Diag> {
        let mut spent = self.0.spent.borrow_mut();
        let d = spent.get_or_insert_with(|| {
            Diag::error(
                "eval::too_much_work",
                format!("evaluation took more than {MAX_STEPS} steps"),
            )
            .label(at, "still evaluating here")
            .help(
                "look for functions that call one another on every element, or nested `for` expressions over long lists, and simplify them",
            )
        });
        Err(d.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn at() -> Span {
        Span::new(FileId(0), 0..1)
    }

    fn code(r: Result<(), Diag>) -> Option<&'static str> {
        r.err().map(|d| d.code)
    }

    #[test]
    fn strings_and_collections_up_to_the_limits_pass() {
        assert_eq!(
            code(check(&Value::string("x".repeat(MAX_STRING_BYTES)), at())),
            None
        );
        let list = Value::List(vec![Value::Null; MAX_ELEMENTS - 1]);
        assert_eq!(code(check(&list, at())), None);
    }

    #[test]
    fn larger_values_are_reported() {
        let s = Value::string("x".repeat(MAX_STRING_BYTES + 1));
        assert_eq!(code(check(&s, at())), Some("eval::string_too_large"));
        let list = Value::List(vec![Value::Null; MAX_ELEMENTS]);
        assert_eq!(code(check(&list, at())), Some("eval::value_too_large"));
        let chunk = Value::string("x".repeat(1 << 20));
        let many = Value::List(vec![chunk; (MAX_VALUE_BYTES >> 20) + 1]);
        assert_eq!(code(check(&many, at())), Some("eval::value_too_large"));
    }

    #[test]
    fn a_spent_budget_reports_the_first_place_every_time() {
        let b = Budget::new(1);
        assert!(b.spend(at()).is_ok());
        let first = b.spend(at()).expect_err("spent");
        let later = b.spend(Span::new(FileId(0), 5..6)).expect_err("spent");
        assert_eq!(first.code, "eval::too_much_work");
        assert_eq!(first, later);
        assert!(is_limit(&first));
    }
}
