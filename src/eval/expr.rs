//! Evaluates expressions with go-cty's semantics. Names that are not local (matrix values,
//! `for` variables, function parameters) are asked of a [`Resolver`], which evaluates
//! variables and block attributes lazily, so declaration order never matters.

pub mod jinja;

use std::collections::BTreeMap;
use std::rc::Rc;

use super::limits::{self, Budget};
use super::stdlib::{self, Env};
use super::value::{Kind, Value};
use crate::base::did_you_mean;
use crate::source::{Diag, Span};
use crate::syntax::ast::*;

/// Calls deeper than this are reported as recursion rather than overflowing the stack.
const MAX_DEPTH: usize = 128;

/// What the evaluator asks its surroundings.
pub trait Resolver {
    /// A global name: a variable, a global attribute or a built-in variable.
    /// `None` when no such name exists.
    fn global(&mut self, name: &str, at: Span) -> Option<Result<Value, Diag>>;
    /// Whether `name` is a block type (`target`, `group`) that can be referenced.
    fn is_block_type(&self, name: &str) -> bool;
    /// `kind.name.attr`: one attribute of a named block.
    fn block_attr(&mut self, kind: &str, name: &str, attr: &str, at: Span) -> Result<Value, Diag>;
    /// A user-defined function; `None` when there is none by that name.
    /// Shared: a function's body is evaluated on every call, never copied.
    fn user_function(&mut self, name: &str) -> Option<Result<Rc<UserFunction>, Diag>>;
    /// Every global name, for "did you mean" help.
    fn global_names(&self) -> Vec<String>;
    /// The value of a global name already evaluated, as [`Resolver::global`] would give it,
    /// if there is one; lets a template read it without copying it.
    fn evaluated_global(&self, _name: &str) -> Option<&Value> {
        None
    }
}

/// A `function` block, ready to call.
#[derive(Clone, Debug)]
pub struct UserFunction {
    pub name: String,
    pub params: Vec<String>,
    pub variadic: Option<String>,
    pub result: Expr,
}

pub struct Evaluator<'a> {
    pub resolver: &'a mut dyn Resolver,
    pub env: &'a Env,
    locals: Vec<(String, Value)>,
    depth: usize,
    budget: Budget,
}

type R = Result<Value, Diag>;

impl<'a> Evaluator<'a> {
    pub fn new(resolver: &'a mut dyn Resolver, env: &'a Env) -> Evaluator<'a> {
        Evaluator::with_budget(resolver, env, Budget::default())
    }

    /// An evaluator that shares `budget` with the other evaluators of one document.
    pub fn with_budget(
        resolver: &'a mut dyn Resolver,
        env: &'a Env,
        budget: Budget,
    ) -> Evaluator<'a> {
        Evaluator {
            resolver,
            env,
            locals: Vec::new(),
            depth: 0,
            budget,
        }
    }

    /// Makes `name` visible to the expressions evaluated next (until [`Evaluator::pop`]).
    pub fn push(&mut self, name: impl Into<String>, value: Value) {
        self.locals.push((name.into(), value));
    }

    pub fn pop(&mut self, n: usize) {
        let keep = self.locals.len().saturating_sub(n);
        self.locals.truncate(keep);
    }

    fn local(&self, name: &str) -> Option<&Value> {
        self.locals
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn eval(&mut self, e: &Expr) -> R {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(Diag::error("eval::too_deep", "expression nests too deeply")
                .label(e.span, "evaluation gave up here")
                .help("look for a function that calls itself, directly or through others"));
        }
        let r = self.budget.spend(e.span).and_then(|()| self.eval_inner(e));
        self.depth -= 1;
        let v = r?;
        // Only these build values larger than their operands; the rest select or compare.
        if matches!(
            e.kind,
            ExprKind::Template(_)
                | ExprKind::Call(_)
                | ExprKind::Array(_)
                | ExprKind::Object(_)
                | ExprKind::For(_)
        ) {
            limits::check(&v, e.span)?;
        }
        Ok(v)
    }

    fn eval_inner(&mut self, e: &Expr) -> R {
        match &e.kind {
            ExprKind::Null => Ok(Value::Null),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Number(n) => Ok(Value::Number(n.clone())),
            ExprKind::Template(parts) => self.template(parts),
            ExprKind::Array(items) => items
                .iter()
                .map(|x| self.eval(x))
                .collect::<Result<_, _>>()
                .map(Value::List),
            ExprKind::Object(items) => {
                let mut m = BTreeMap::new();
                for (k, v) in items {
                    let key = match k {
                        ObjectKey::Ident(name, _) => name.clone(),
                        ObjectKey::Expr(x) => {
                            let kv = self.eval(x)?;
                            kv.to_str().ok_or_else(|| {
                                type_error(x.span, "object key", Kind::String, &kv)
                            })?
                        }
                    };
                    let val = self.eval(v)?;
                    m.insert(key, val);
                }
                Ok(Value::Map(m))
            }
            ExprKind::Var(name) => self.var(name, e.span),
            ExprKind::Paren(x) => self.eval(x),
            ExprKind::Traversal(root, ops) => self.traversal(root, ops),
            ExprKind::Call(c) => self.call(&c.name, c.name_span, &c.args, c.expand_final, e.span),
            ExprKind::Cond(c, t, f) => {
                let cv = self.eval(c)?;
                let (chosen, other) = match cv.to_bool() {
                    Some(true) => (t, f),
                    Some(false) => (f, t),
                    None => return Err(type_error(c.span, "condition", Kind::Bool, &cv)),
                };
                let v = self.eval(chosen)?;
                // Compat: HCL unifies the two branches' types, and a set on one side makes
                // a list or tuple on the other a set too (deduplicated, in set order). rbake
                // holds sets as lists, so a branch is a set when it is written as a call of
                // a set function.
                match v {
                    Value::List(items) if !yields_set(chosen) && yields_set(other) => {
                        stdlib::as_set(&items).map(Value::List).ok_or_else(|| {
                            Diag::error(
                                "eval::inconsistent_conditional",
                                "the conditional's branches have inconsistent types",
                            )
                            .label(chosen.span, "a list whose elements cannot form a set")
                            .label(other.span, "a set")
                            .help("make both branches sets of one element type")
                        })
                    }
                    v => Ok(v),
                }
            }
            ExprKind::Unary(op, x) => {
                let v = self.eval(x)?;
                match op {
                    UnaryOp::Neg => v
                        .to_number()
                        .map(|n| Value::Number(n.neg()))
                        .ok_or_else(|| type_error(x.span, "operand", Kind::Number, &v)),
                    UnaryOp::Not => v
                        .to_bool()
                        .map(|b| Value::Bool(!b))
                        .ok_or_else(|| type_error(x.span, "operand", Kind::Bool, &v)),
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r),
            ExprKind::For(f) => self.for_expr(f, e.span),
            ExprKind::Jinja(t) => self.jinja(t, e.span),
        }
    }

    fn var(&mut self, name: &str, at: Span) -> R {
        if let Some(v) = self.local(name) {
            return Ok(v.clone());
        }
        if self.resolver.is_block_type(name) {
            return Err(Diag::error(
                "eval::block_as_value",
                format!("`{name}` cannot be used as a value"),
            )
            .label(at, "a block type")
            .help(format!(
                "reference one attribute of one block, e.g. `{name}.NAME.ATTRIBUTE`"
            )));
        }
        match self.resolver.global(name, at) {
            Some(r) => r,
            None => {
                let mut names = self.resolver.global_names();
                names.extend(self.locals.iter().map(|(n, _)| n.clone()));
                Err(Diag::error("eval::undefined_variable", format!("variable `{name}` is not defined"))
                    .label(at, "not defined")
                    .help(match did_you_mean(name, names.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`? Otherwise declare it: `variable \"{name}\" {{ default = \"...\" }}`"),
                        None => format!("declare it: `variable \"{name}\" {{ default = \"...\" }}`, or set it in the environment"),
                    }))
            }
        }
    }

    fn traversal(&mut self, root: &Expr, ops: &[Traverse]) -> R {
        // `target.NAME.ATTR` reads another block's attribute, unless a local shadows the name.
        if let ExprKind::Var(kind) = &root.kind
            && self.local(kind).is_none()
            && self.resolver.is_block_type(kind)
        {
            let (Some(Traverse::Attr(name, name_span)), Some(Traverse::Attr(attr, attr_span))) =
                (ops.first(), ops.get(1))
            else {
                return Err(Diag::error(
                    "eval::block_reference",
                    format!("incomplete reference to a {kind}"),
                )
                .label(
                    root.span.to(ops.first().map_or(root.span, traverse_span)),
                    "needs a name and an attribute",
                )
                .help(format!(
                    "write `{kind}.NAME.ATTRIBUTE`, e.g. `{kind}.app.tags`"
                )));
            };
            let v = self
                .resolver
                .block_attr(kind, name, attr, name_span.to(*attr_span))?;
            return self.apply_ops(v, &ops[2..], root.span);
        }
        let v = self.eval(root)?;
        self.apply_ops(v, ops, root.span)
    }

    fn apply_ops(&mut self, mut v: Value, ops: &[Traverse], mut at: Span) -> R {
        for (i, op) in ops.iter().enumerate() {
            match op {
                Traverse::Attr(name, span) => {
                    at = at.to(*span);
                    v = get_attr(v, name, *span)?;
                }
                Traverse::Index(ix) => {
                    let key = self.eval(ix)?;
                    at = at.to(ix.span);
                    v = index(v, &key, ix.span)?;
                }
                Traverse::AttrSplat(_) | Traverse::FullSplat(_) => {
                    let items = match v {
                        Value::Null => Vec::new(),
                        Value::List(items) => items,
                        other => vec![other],
                    };
                    let rest = &ops[i + 1..];
                    let out = items
                        .into_iter()
                        .map(|item| self.apply_ops(item, rest, at))
                        .collect::<Result<_, _>>()?;
                    return Ok(Value::List(out));
                }
            }
        }
        Ok(v)
    }

    fn template(&mut self, parts: &[Part]) -> R {
        // A template that is exactly one interpolation yields the value itself, unconverted.
        if let [Part::Interp(x)] = parts {
            return self.eval(x);
        }
        let guess = parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.len(),
                _ => 24,
            })
            .sum();
        let mut out = String::with_capacity(guess);
        self.render(parts, &mut out)?;
        Ok(Value::String(out))
    }

    /// Appends a string variable's value, if `x` names one that is ready, without copying it:
    /// most interpolations are `${NAME}`.
    fn render_var(&mut self, x: &Expr, out: &mut String) -> Option<Result<(), Diag>> {
        let ExprKind::Var(name) = &x.kind else {
            return None;
        };
        let value = match self.local(name) {
            Some(v) => v,
            None if self.resolver.is_block_type(name) => return None,
            None => self.resolver.evaluated_global(name)?,
        };
        let Value::String(s) = value else {
            return None;
        };
        out.push_str(s);
        Some(self.budget.spend(x.span))
    }

    fn render(&mut self, parts: &[Part], out: &mut String) -> Result<(), Diag> {
        for p in parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Interp(x) => {
                    if let Some(r) = self.render_var(x, out) {
                        r?;
                        continue;
                    }
                    let v = self.eval(x)?;
                    match &v {
                        Value::String(s) => out.push_str(s),
                        _ => match v.to_str() {
                            Some(s) => out.push_str(&s),
                            None if v.is_null() => {
                                return Err(Diag::error("eval::null_interpolation", "cannot interpolate a null value")
                                .label(x.span, "this is null")
                                .help("give the variable a default, or use `coalesce(x, \"\")` to turn null into an empty string"));
                            }
                            None => {
                                return Err(type_error(x.span, "interpolation", Kind::String, &v));
                            }
                        },
                    }
                }
                Part::If(d) => {
                    let c = self.eval(&d.cond)?;
                    match c.to_bool() {
                        Some(true) => self.render(&d.then, out)?,
                        Some(false) => self.render(&d.otherwise, out)?,
                        None => return Err(type_error(d.cond.span, "condition", Kind::Bool, &c)),
                    }
                }
                Part::For(d) => {
                    let ForPart {
                        key_var,
                        value_var,
                        collection,
                        body,
                    } = &**d;
                    let coll = self.eval(collection)?;
                    for (k, v) in iterate(&coll, collection.span)? {
                        let mut n = 0;
                        if let Some(kv) = key_var {
                            self.push(kv.clone(), k);
                            n += 1;
                        }
                        self.push(value_var.clone(), v);
                        n += 1;
                        let r = self.render(body, out);
                        self.pop(n);
                        r?;
                    }
                }
            }
        }
        Ok(())
    }

    fn binary(&mut self, op: BinaryOp, l: &Expr, r: &Expr) -> R {
        use BinaryOp::*;
        // `&&` and `||` evaluate both sides in cty, but failing early on the left is harmless.
        let lv = self.eval(l)?;
        let rv = self.eval(r)?;
        match op {
            Eq => Ok(Value::Bool(lv == rv)),
            Ne => Ok(Value::Bool(lv != rv)),
            And | Or => {
                let a = lv
                    .to_bool()
                    .ok_or_else(|| type_error(l.span, "operand", Kind::Bool, &lv))?;
                let b = rv
                    .to_bool()
                    .ok_or_else(|| type_error(r.span, "operand", Kind::Bool, &rv))?;
                Ok(Value::Bool(if op == And { a && b } else { a || b }))
            }
            _ => {
                let a = lv
                    .to_number()
                    .ok_or_else(|| type_error(l.span, "operand", Kind::Number, &lv))?;
                let b = rv
                    .to_number()
                    .ok_or_else(|| type_error(r.span, "operand", Kind::Number, &rv))?;
                let nan = |what: &str| {
                    Diag::error("eval::not_a_number", format!("can't {what}"))
                        .label(l.span.to(r.span), "the result is not a number")
                        .help("guard the operation with a condition")
                };
                Ok(match op {
                    Add => Value::Number(
                        a.add(&b)
                            .map_err(|_| nan("compute sum of opposing infinities"))?,
                    ),
                    Sub => Value::Number(
                        a.sub(&b)
                            .map_err(|_| nan("subtract infinity from itself"))?,
                    ),
                    Mul => Value::Number(a.mul(&b).map_err(|_| nan("multiply zero by infinity"))?),
                    // Compat: cty divides by zero to an infinity and takes the dividend as
                    // the remainder of a division by zero; only 0/0 has no value.
                    Div => {
                        if b.is_zero() && a.is_zero() {
                            return Err(Diag::error(
                                "eval::divide_by_zero",
                                "can't divide zero by zero",
                            )
                            .label(r.span, "this is zero")
                            .help("guard the division with a condition"));
                        }
                        Value::Number(a.div(&b).map_err(|_| nan("divide infinity by infinity"))?)
                    }
                    Mod => Value::Number(
                        a.rem(&b)
                            .map_err(|_| nan("use modulo with zero and infinity"))?,
                    ),
                    Lt => Value::Bool(a < b),
                    Le => Value::Bool(a <= b),
                    Gt => Value::Bool(a > b),
                    Ge => Value::Bool(a >= b),
                    Eq | Ne | And | Or => unreachable!("handled above"),
                })
            }
        }
    }

    fn for_expr(&mut self, f: &ForExpr, span: Span) -> R {
        let coll = self.eval(&f.collection)?;
        let entries = iterate(&coll, f.collection.span)?;
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in entries {
            let mut n = 0;
            if let Some(kv) = &f.key_var {
                self.push(kv.clone(), k);
                n += 1;
            }
            self.push(f.value_var.clone(), v);
            n += 1;
            let r = self.for_item(f, span, &mut list, &mut map);
            self.pop(n);
            r?;
        }
        Ok(if f.key.is_some() {
            Value::Map(map)
        } else {
            Value::List(list)
        })
    }

    fn for_item(
        &mut self,
        f: &ForExpr,
        span: Span,
        list: &mut Vec<Value>,
        map: &mut BTreeMap<String, Value>,
    ) -> Result<(), Diag> {
        if let Some(c) = &f.cond {
            let cv = self.eval(c)?;
            if !cv
                .to_bool()
                .ok_or_else(|| type_error(c.span, "condition", Kind::Bool, &cv))?
            {
                return Ok(());
            }
        }
        let value = self.eval(&f.value)?;
        let Some(kx) = &f.key else {
            list.push(value);
            return Ok(());
        };
        let kv = self.eval(kx)?;
        let key = kv
            .to_str()
            .ok_or_else(|| type_error(kx.span, "object key", Kind::String, &kv))?;
        if f.grouping {
            match map.entry(key).or_insert_with(|| Value::List(Vec::new())) {
                Value::List(items) => items.push(value),
                _ => unreachable!("grouping entries are lists"),
            }
        } else if let std::collections::btree_map::Entry::Vacant(e) = map.entry(key.clone()) {
            e.insert(value);
        } else {
            return Err(Diag::error(
                "eval::duplicate_key",
                format!("duplicate key `{key}` in a `for` expression"),
            )
            .label(kx.span, "produces the same key twice")
            .label(span, "")
            .help("make the keys unique, or group values with `...` after the value expression"));
        }
        Ok(())
    }

    fn call(
        &mut self,
        name: &str,
        name_span: Span,
        args: &[Expr],
        expand_final: bool,
        span: Span,
    ) -> R {
        match name {
            "try" => return self.call_try(args, span),
            "can" => {
                let [arg] = args else {
                    return Err(arity_error(name, name_span, 1, false, args.len()));
                };
                return match self.eval(arg) {
                    Err(d) if limits::is_limit(&d) => Err(d),
                    r => Ok(Value::Bool(r.is_ok())),
                };
            }
            _ => {}
        }
        let mut values = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            let v = self.eval(a)?;
            if expand_final && i + 1 == args.len() {
                match v {
                    Value::List(items) => values.extend(items),
                    other => {
                        return Err(type_error(a.span, "expanded argument", Kind::List, &other));
                    }
                }
            } else {
                values.push(v);
            }
        }
        if let Some(f) = stdlib::lookup(name) {
            if values.len() < f.params || (!f.variadic && values.len() > f.params) {
                return Err(arity_error(name, span, f.params, f.variadic, values.len()));
            }
            return (f.call)(self.env, &values).map_err(|msg| {
                Diag::error("eval::function_failed", format!("`{name}` failed: {msg}"))
                    .label(span, "in this call")
                    .help(format!("check the arguments of `{name}` against the bake standard library reference"))
            });
        }
        match self.resolver.user_function(name) {
            Some(Ok(f)) => self.call_user(&f, values, span),
            Some(Err(d)) => Err(d),
            None => {
                let builtin = stdlib::names().chain(["try", "can"]);
                Err(Diag::error("eval::unknown_function", format!("there is no function named `{name}`"))
                    .label(name_span, "unknown function")
                    .help(match did_you_mean(name, builtin) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "define it with a `function` block, or see the bake standard library for the built-in ones".into(),
                    }))
            }
        }
    }

    fn call_try(&mut self, args: &[Expr], span: Span) -> R {
        let mut last = None;
        for a in args {
            match self.eval(a) {
                Ok(v) => return Ok(v),
                Err(d) if limits::is_limit(&d) => return Err(d),
                Err(d) => last = Some(d),
            }
        }
        Err(match last {
            Some(d) => Diag::error(
                "eval::try_failed",
                "no argument of `try` could be evaluated",
            )
            .label(span, "every argument failed")
            .help(format!(
                "the last one failed with: {}; add a fallback value as the last argument",
                d.message
            )),
            None => arity_error("try", span, 1, true, 0),
        })
    }

    fn call_user(&mut self, f: &UserFunction, args: Vec<Value>, at: Span) -> R {
        let n = f.params.len();
        if args.len() < n || (f.variadic.is_none() && args.len() > n) {
            return Err(arity_error(
                &f.name,
                at,
                n,
                f.variadic.is_some(),
                args.len(),
            ));
        }
        // A function body sees its parameters and the globals, not the caller's locals.
        let saved = std::mem::take(&mut self.locals);
        let mut args = args.into_iter();
        for p in &f.params {
            self.push(p.clone(), args.next().unwrap_or(Value::Null));
        }
        if let Some(v) = &f.variadic {
            self.push(v.clone(), Value::List(args.collect()));
        }
        let r = self.eval(&f.result);
        self.locals = saved;
        r.map_err(|d| {
            if d.code == "eval::too_deep" || limits::is_limit(&d) {
                return d;
            }
            let msg = format!("in function `{}`: {}", f.name, d.message);
            Diag { message: msg, ..d }.label(at, "called here")
        })
    }
}

fn traverse_span(t: &Traverse) -> Span {
    match t {
        Traverse::Attr(_, s) | Traverse::AttrSplat(s) | Traverse::FullSplat(s) => *s,
        Traverse::Index(x) => x.span,
    }
}

/// The entries a `for` iterates: index/element for lists, key/value for objects.
fn iterate(v: &Value, at: Span) -> Result<Vec<(Value, Value)>, Diag> {
    match v {
        Value::List(items) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, x)| (Value::int(i), x.clone()))
            .collect()),
        Value::Map(m) => Ok(m
            .iter()
            .map(|(k, x)| (Value::String(k.clone()), x.clone()))
            .collect()),
        other => Err(type_error(at, "collection", Kind::List, other)),
    }
}

fn get_attr(v: Value, name: &str, at: Span) -> R {
    match v {
        Value::Map(mut m) => match m.remove(name) {
            Some(x) => Ok(x),
            None => {
                let help = match did_you_mean(name, m.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if m.is_empty() => "the object is empty".to_string(),
                    None => format!("the object has: {}", m.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
                };
                Err(Diag::error("eval::unsupported_attribute", format!("this object has no attribute `{name}`"))
                    .label(at, "no such attribute")
                    .help(help))
            }
        },
        Value::Null => Err(Diag::error("eval::null_attribute", format!("cannot read `{name}` from a null value"))
            .label(at, "the value here is null")
            .help("check that the value is set before reading its attributes, e.g. with `try(x.attr, default)`")),
        other => Err(Diag::error("eval::unsupported_attribute", format!("cannot read attribute `{name}` of a {}", other.kind()))
            .label(at, "not an object")
            .help("only objects have attributes; use `[index]` for lists")),
    }
}

fn index(v: Value, key: &Value, at: Span) -> R {
    match v {
        Value::List(mut items) => {
            let Some(n) = key.to_number() else {
                return Err(type_error(at, "list index", Kind::Number, key));
            };
            let n = n.to_i64().and_then(|n| usize::try_from(n).ok());
            let Some(n) = n.filter(|n| *n < items.len()) else {
                return Err(Diag::error(
                    "eval::invalid_index",
                    format!(
                        "index {key} is out of range for a list of {} elements",
                        items.len()
                    ),
                )
                .label(at, "out of range")
                .help("use `length(list)` to guard the index, or `try(list[i], default)`"));
            };
            Ok(items.swap_remove(n))
        }
        Value::Map(_) => {
            let Some(k) = key.to_str() else {
                return Err(type_error(at, "object key", Kind::String, key));
            };
            get_attr(v, &k, at)
        }
        Value::Null => Err(Diag::error("eval::null_index", "cannot index a null value")
            .label(at, "the value indexed is null")
            .help("check that the value is set, e.g. with `try(x[i], default)`")),
        other => Err(Diag::error(
            "eval::invalid_index",
            format!("cannot index a {}", other.kind()),
        )
        .label(at, "not a list or object")
        .help("only lists and objects can be indexed")),
    }
}

/// Whether an expression is written as a set: a call of a set function, perhaps in
/// parentheses or in either branch of a conditional.
fn yields_set(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Call(c) => stdlib::returns_set(&c.name),
        ExprKind::Paren(x) => yields_set(x),
        ExprKind::Cond(_, a, b) => yields_set(a) || yields_set(b),
        _ => false,
    }
}

pub fn type_error(at: Span, what: &str, want: Kind, got: &Value) -> Diag {
    Diag::error(
        "eval::type_mismatch",
        format!("the {what} must be a {want}, not a {}", got.kind()),
    )
    .label(at, format!("this is a {}", got.kind()))
    .help(format!("give a {want} value here"))
}

fn arity_error(name: &str, at: Span, params: usize, variadic: bool, got: usize) -> Diag {
    let want = if variadic {
        format!("at least {params}")
    } else {
        params.to_string()
    };
    Diag::error(
        "eval::wrong_arguments",
        format!("`{name}` takes {want} argument(s), {got} given"),
    )
    .label(at, "in this call")
    .help(format!("call `{name}` with {want} argument(s)"))
}

#[cfg(test)]
mod tests {
    use crate::eval::sample;

    /// `X`'s value as JSON text, after evaluating `variable "X" { default = EXPR }` with the
    /// other blocks in `rest`.
    fn check(expr: &str, rest: &str) -> String {
        let s = sample::collect(
            &format!("variable \"X\" {{\n  default = {expr}\n}}\n{rest}"),
            &[],
        );
        assert!(!s.diags.has_errors(), "{expr}: {:?}", s.codes());
        s.var("X").to_json().to_string()
    }

    /// The first error's code and the text its primary label points at.
    fn check_error(expr: &str) -> (&'static str, String) {
        let s = sample::collect(&format!("variable \"X\" {{\n  default = {expr}\n}}\n"), &[]);
        let d = s
            .diags
            .0
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("{expr} evaluated to {}", s.var("X").to_json()));
        (d.code, s.span_of(d.code))
    }

    #[test]
    fn operators_bind_as_in_hcl() {
        for (expr, want) in [
            ("1 + 2 * 3", "7"),
            ("(1 + 2) * 3", "9"),
            ("10 - 4 - 3", "3"),
            ("2 * 3 % 4", "2"),
            ("-2 * 3", "-6"),
            ("1 + 2 == 3 && 2 > 1", "true"),
            ("!true || true", "true"),
            ("!(true || true)", "false"),
            // The conditional binds loosest: `0 + 5` is its whole false arm.
            ("false ? 1 : 0 + 5", "5"),
            ("true ? 1 : 0 + 5", "1"),
            ("1 < 2 ? \"a\" : \"b\"", "\"a\""),
        ] {
            assert_eq!(check(expr, ""), want, "{expr}");
        }
    }

    #[test]
    fn only_the_chosen_arm_of_a_conditional_is_evaluated() {
        assert_eq!(check("true ? \"ok\" : 0 / 0", ""), "\"ok\"");
        assert_eq!(check("false ? undefined_name : 2", ""), "2");
    }

    /// cty evaluates both operands of `&&` and `||`: a failing right side fails the whole
    /// expression even when the left decides it.
    #[test]
    fn logical_operators_evaluate_both_sides() {
        assert_eq!(
            check_error("false && (0 / 0 == 1)"),
            ("eval::divide_by_zero", "0".to_string())
        );
    }

    #[test]
    fn errors_point_at_the_operand_at_fault() {
        assert_eq!(
            check_error("0 / (2 - 2)"),
            ("eval::divide_by_zero", "(2 - 2)".to_string())
        );
        assert_eq!(
            check_error("1 + \"x\""),
            ("eval::type_mismatch", "\"x\"".to_string())
        );
        assert_eq!(
            check_error("true ? nope : 1"),
            ("eval::undefined_variable", "nope".to_string())
        );
        assert_eq!(check_error("[1, 2][2]").0, "eval::invalid_index");
    }

    #[test]
    fn a_lone_interpolation_keeps_its_type() {
        assert_eq!(check("\"${L}\"", "L = [1, 2]"), "[1,2]");
        assert_eq!(check("\"${1 + 1}\"", ""), "2");
        assert_eq!(check("\"n-${1 + 1}\"", ""), "\"n-2\"");
        assert_eq!(check_error("\"a-${null}\"").0, "eval::null_interpolation");
    }

    #[test]
    fn for_expressions_filter_and_build_objects() {
        assert_eq!(check("[for x in [1, 2, 3] : x * 2 if x != 2]", ""), "[2,6]");
        assert_eq!(
            check("{ for s in [\"a\", \"b\"] : s => upper(s) }", ""),
            "{\"a\":\"A\",\"b\":\"B\"}"
        );
        assert_eq!(
            check("[for i, v in [\"p\", \"q\"] : \"${i}${v}\"]", ""),
            "[\"0p\",\"1q\"]"
        );
    }

    #[test]
    fn try_returns_the_first_argument_that_evaluates() {
        assert_eq!(check("try(0 / 0, nope, \"fallback\")", ""), "\"fallback\"");
        assert_eq!(check("try(\"first\", 0 / 0)", ""), "\"first\"");
        assert_eq!(check_error("try(0 / 0, nope)").0, "eval::try_failed");
    }

    #[test]
    fn user_functions_see_their_parameters_not_the_callers_locals() {
        let f = "function \"twice\" {\n  params = [x]\n  result = x * 2\n}\n";
        assert_eq!(check("[for x in [1, 2] : twice(x + 1)]", f), "[4,6]");
        let variadic = "function \"count\" {\n  params = [a]\n  variadic_params = rest\n  result = length(rest)\n}\n";
        assert_eq!(check("count(1, 2, 3)", variadic), "2");
    }
}
