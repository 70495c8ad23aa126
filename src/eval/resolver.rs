//! The lazy world an expression is evaluated in: variables (with environment overrides,
//! types and validation), global attributes, user functions and other blocks' attributes,
//! each computed on first use, cached, and checked for cycles.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use foldhash::HashMap;
use indexmap::IndexMap;

use super::Inputs;
use super::expr::{Evaluator, Resolver, UserFunction};
use super::types::Type;
use super::value::Value;
use crate::source::{Diag, Origin, SourceMap, Span};
use crate::spec::{Document, Variable};
use crate::syntax::ast::{Block, ExprKind};

/// Where a variable's value came from, for `rbake ls variables`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarSource {
    Default,
    Env(String),
    Unset,
}

/// One target block evaluated for one matrix combination.
#[derive(Clone, Debug)]
pub struct Instance {
    pub block: usize,
    pub locals: Vec<(String, Value)>,
    pub name: String,
}

pub struct Ctx<'a> {
    pub doc: &'a Document,
    pub inputs: &'a Inputs,
    pub sources: &'a mut SourceMap,
    vars: HashMap<String, Result<Value, Diag>>,
    pub var_sources: BTreeMap<String, VarSource>,
    /// Names being evaluated, innermost last, to report cycles with every step.
    stack: Vec<(String, Span)>,
    funcs: HashMap<String, Result<Rc<UserFunction>, Diag>>,
    /// Every target instance by name. Shared (not copied) with a [`Fork`]; written only
    /// while matrices are expanded, before any fork exists.
    pub instances: Arc<IndexMap<String, Vec<Instance>>>,
    block_attrs: HashMap<(String, String, String), Result<Value, Diag>>,
    /// What each global name (`Resolver::global`) evaluated to: a variable, a global
    /// attribute or a built-in. Every reference asks again, so one lookup answers it.
    globals: HashMap<String, Result<Value, Diag>>,
    /// Set once a reference chain exceeds [`MAX_CHAIN`].
    too_deep: Option<Diag>,
    /// The evaluation steps the document has left (`limits::MAX_STEPS`).
    budget: super::limits::Budget,
}

/// A context's state handed to another thread: see [`Ctx::fork`].
pub struct Fork {
    vars: HashMap<String, Result<Value, Diag>>,
    globals: HashMap<String, Result<Value, Diag>>,
    instances: Arc<IndexMap<String, Vec<Instance>>>,
    steps: u64,
}

/// How many variables, attributes and functions may be under evaluation at once. Deeper
/// chains are reported instead of risking the stack.
pub const MAX_CHAIN: usize = 200;

impl<'a> Ctx<'a> {
    pub fn new(doc: &'a Document, inputs: &'a Inputs, sources: &'a mut SourceMap) -> Ctx<'a> {
        Ctx {
            doc,
            inputs,
            sources,
            vars: HashMap::default(),
            var_sources: BTreeMap::new(),
            stack: Vec::new(),
            funcs: HashMap::default(),
            instances: Arc::default(),
            block_attrs: HashMap::default(),
            globals: HashMap::default(),
            too_deep: None,
            budget: super::limits::Budget::default(),
        }
    }

    /// What another thread needs to evaluate target blocks as this context would: the
    /// variables and global names evaluated so far, every instance, and the steps left
    /// (the caller charges what the fork spent with [`Ctx::charge`]).
    pub fn fork(&mut self) -> Fork {
        Fork {
            vars: self.vars.clone(),
            globals: self.globals.clone(),
            instances: self.instances.clone(),
            steps: self.budget.left(),
        }
    }

    /// A context evaluating where `fork` left off. `sources` is the fork's own map: a
    /// forked context adds to it only if it evaluates a variable anew, which never happens
    /// once [`Ctx::all_variables`] has run (the caller checks, and redoes the work here if
    /// it did).
    pub fn from_fork(
        doc: &'a Document,
        inputs: &'a Inputs,
        sources: &'a mut SourceMap,
        fork: Fork,
    ) -> Ctx<'a> {
        let mut ctx = Ctx::new(doc, inputs, sources);
        ctx.vars = fork.vars;
        ctx.globals = fork.globals;
        ctx.instances = fork.instances;
        ctx.budget = super::limits::Budget::new(fork.steps);
        ctx
    }

    /// The evaluation steps this context has left.
    pub fn steps_left(&self) -> u64 {
        self.budget.left()
    }

    /// Spends `n` steps that a fork of this context took; false (and nothing spent) if
    /// fewer are left, when evaluating here would have run out.
    pub fn charge(&mut self, n: u64) -> bool {
        self.budget.spend_many(n)
    }

    /// Evaluates an expression with the given locals (matrix values) in scope.
    pub fn eval_with(
        &mut self,
        e: &crate::syntax::ast::Expr,
        locals: &[(String, Value)],
    ) -> Result<Value, Diag> {
        let env = &self.inputs.stdlib;
        let budget = self.budget.clone();
        let mut ev = Evaluator::with_budget(self, env, budget);
        for (k, v) in locals {
            ev.push(k.clone(), v.clone());
        }
        ev.eval(e)
    }

    fn enter(&mut self, key: &str, at: Span) -> Result<(), Diag> {
        if let Some(d) = &self.too_deep {
            return Err(d.clone());
        }
        if self.stack.len() >= MAX_CHAIN {
            // A cycle longer than the limit reaches the limit before it comes back round:
            // it is still a cycle, and saying "too deep" would send the user hunting for a
            // long chain. Reported once, like the limit.
            if let Some(cycle) = self.variable_cycle(key) {
                let d = cycle_diag(key, at, &cycle, self.doc);
                self.too_deep = Some(d.clone());
                return Err(d);
            }
            // Reported once: every later evaluation fails with the same diagnostic.
            let d = Diag::error(
                "eval::too_deep",
                format!("references nest more than {MAX_CHAIN} levels deep"),
            )
            .label(
                at,
                format!("`{key}` is {MAX_CHAIN} references away from where evaluation started"),
            )
            .help(
                "shorten the chain of variables, attributes or functions that refer to one another",
            );
            self.too_deep = Some(d.clone());
            return Err(d);
        }
        if let Some(pos) = self.stack.iter().position(|(k, _)| k == key) {
            let cycle: Vec<&str> = self.stack[pos..]
                .iter()
                .map(|(k, _)| k.as_str())
                .chain([key])
                .collect();
            let mut d = Diag::error("eval::cycle", format!("`{key}` depends on itself"))
                .label(at, "refers back here")
                .help(format!("break the cycle {}", cycle.join(" -> ")));
            for (k, s) in &self.stack[pos..] {
                d = d.label(*s, format!("`{k}` is being evaluated"));
            }
            return Err(d);
        }
        self.stack.push((key.to_string(), at));
        Ok(())
    }

    fn leave(&mut self) {
        self.stack.pop();
    }

    /// A cycle of variable defaults reachable from variable `start`, read from the spec
    /// without evaluating (so it is found however long it is): the names in order, the
    /// first repeated at the end.
    fn variable_cycle(&self, start: &str) -> Option<Vec<String>> {
        let vars = &self.doc.variables;
        vars.get(start)?;
        let refs = |name: &str| -> Vec<String> {
            let mut out = Vec::new();
            if let Some(d) = vars.get(name).and_then(|v| v.default.as_ref()) {
                d.names(&mut out);
            }
            let mut refs: Vec<String> = out
                .into_iter()
                .filter(|n| vars.contains_key(*n))
                .map(str::to_string)
                .collect();
            refs.dedup();
            refs
        };
        // Depth-first without recursion: the chain can be as long as the spec.
        let mut done: std::collections::HashSet<String> = Default::default();
        let mut path: Vec<(String, Vec<String>)> = vec![(start.to_string(), refs(start))];
        while let Some((_, next)) = path.last_mut() {
            let Some(n) = next.pop() else {
                if let Some((name, _)) = path.pop() {
                    done.insert(name);
                }
                continue;
            };
            if let Some(pos) = path.iter().position(|(p, _)| *p == n) {
                let mut cycle: Vec<String> = path[pos..].iter().map(|(p, _)| p.clone()).collect();
                cycle.push(n);
                return Some(cycle);
            }
            if !done.contains(&n) {
                let r = refs(&n);
                path.push((n, r));
            }
        }
        None
    }

    /// Every declared variable, evaluated (bake reports errors in unused variables too).
    pub fn all_variables(&mut self) -> Vec<(String, Result<Value, Diag>)> {
        let names: Vec<String> = self.doc.variables.keys().cloned().collect();
        names
            .into_iter()
            .map(|n| {
                let span = self.doc.variables[&n].span;
                let r = self.variable(&n, span);
                (n, r)
            })
            .collect()
    }

    fn variable(&mut self, name: &str, at: Span) -> Result<Value, Diag> {
        if let Some(r) = self.vars.get(name) {
            return r.clone();
        }
        let doc = self.doc;
        let v = &doc.variables[name];
        self.enter(name, at)?;
        let r = self.compute_variable(v);
        self.leave();
        self.vars.insert(name.to_string(), r.clone());
        let r = match r {
            Ok(value) => self.validate(v, value),
            Err(d) => Err(d),
        };
        self.vars.insert(name.to_string(), r.clone());
        // Final (validated): later references find it in one lookup, unless a global
        // attribute or a built-in of the same name hides the variable.
        if !self.doc.globals.contains_key(name) && !self.inputs.builtins.contains_key(name) {
            self.globals.insert(name.to_string(), r.clone());
        }
        r
    }

    fn compute_variable(&mut self, v: &Variable) -> Result<Value, Diag> {
        let ty = match &v.type_expr {
            Some(t) => Some(Type::parse(t).map_err(|msg| {
                Diag::error(
                    "eval::invalid_type",
                    format!("invalid type for variable `{}`: {msg}", v.name),
                )
                .label(t.span, "not a type")
                .help("use `string`, `number`, `bool`, `list(string)`, `map(string)`, ... or `any`")
            })?),
            None => None,
        };
        let typed = ty.is_some();
        let ty = ty.unwrap_or(Type::Any);
        let (env_value, from_json) = self.env_override(&v.name, typed);
        if env_value.is_none() && self.inputs.env_not_utf8.contains(&v.name) {
            return Err(Diag::error(
                "eval::env_not_utf8",
                format!(
                    "${} is not valid UTF-8, so it cannot override variable `{}`",
                    v.name, v.name
                ),
            )
            .label(v.span, "overridden from the environment")
            .help(format!(
                "set {} to UTF-8 text, or unset it to use the default",
                v.name
            )));
        }
        let default = match &v.default {
            Some(d) => {
                let value = self.eval_with(d, &[])?;
                Some(ty.convert(value).map_err(|msg| {
                    Diag::error(
                        "eval::default_type",
                        format!(
                            "the default of `{}` does not match its type {}: {msg}",
                            v.name,
                            ty.name()
                        ),
                    )
                    .label(d.span, "this default")
                    .help(format!(
                        "give a default of type {}, or change the variable's `type`",
                        ty.name()
                    ))
                })?)
            }
            None => None,
        };
        let Some((env_name, text)) = env_value else {
            self.var_sources.insert(
                v.name.clone(),
                if default.is_some() {
                    VarSource::Default
                } else {
                    VarSource::Unset
                },
            );
            return Ok(match default {
                Some(d) => d,
                None if typed => Value::Null,
                None => Value::String(String::new()),
            });
        };
        self.var_sources
            .insert(v.name.clone(), VarSource::Env(env_name.clone()));
        let parsed = if from_json {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| e.to_string())
                .and_then(|j| ty.convert(Value::from_json(&j)))
        } else if typed {
            ty.from_env(&text)
        } else {
            // Untyped: the default's type decides, as in bake.
            match &default {
                None | Some(Value::Null) | Some(Value::String(_)) => {
                    Ok(Value::String(text.clone()))
                }
                Some(Value::Bool(_)) => super::types::parse_primitive(&text, &Type::Bool),
                Some(Value::Number(_)) => super::types::parse_primitive(&text, &Type::Number),
                Some(other) => Err(format!(
                    "a {} default cannot be overridden from the environment without a declared type",
                    other.kind()
                )),
            }
        };
        parsed.map_err(|msg| {
            let src = format!("{env_name}={text}");
            let file = self.sources.add(format!("environment variable {env_name}"), src, Origin::Env);
            let span = Span::new(file, env_name.len() + 1..env_name.len() + 1 + text.len());
            Diag::error("eval::env_override", format!("cannot use ${env_name} as variable `{}`: {msg}", v.name))
                .label(span, "from the environment")
                .label(v.span, "declared here")
                .help(match &default {
                    Some(Value::List(_)) | Some(Value::Map(_)) if !typed => {
                        format!("declare `type = list(string)` (or map) on `{}` to accept comma-separated values, or unset ${env_name}", v.name)
                    }
                    _ => format!("set ${env_name} to a value of the variable's type, or unset it"),
                })
        })
    }

    /// The environment value overriding a variable: `NAME`, or `NAME_JSON` (read as JSON).
    fn env_override(&self, name: &str, favor_json: bool) -> (Option<(String, String)>, bool) {
        let env = &self.inputs.env;
        let plain = env.get(name).cloned();
        if plain.is_none() || favor_json {
            let json_name = format!("{name}_JSON");
            if !self.doc.variables.contains_key(&json_name)
                && let Some(j) = env.get(&json_name)
            {
                return (Some((json_name, j.clone())), true);
            }
        }
        (plain.map(|p| (name.to_string(), p)), false)
    }

    fn validate(&mut self, v: &Variable, value: Value) -> Result<Value, Diag> {
        for val in &v.validations {
            let Some(cond) = &val.condition else { continue };
            let ok = self.eval_with(cond, &[])?;
            match ok.to_bool() {
                Some(true) => {}
                Some(false) => {
                    let msg = match &val.error_message {
                        Some(m) => self.eval_with(m, &[])?.to_str().unwrap_or_default(),
                        None => format!("validation of `{}` failed", v.name),
                    };
                    // Point at where the value came from: the environment or the default.
                    let shown = format!("`{}` is {}", v.name, super::types::show(&value));
                    let from = match self.var_sources.get(&v.name) {
                        Some(super::resolver::VarSource::Env(env_name)) => {
                            let text = self.inputs.env.get(env_name).cloned().unwrap_or_default();
                            let file = self.sources.add(
                                format!("environment variable {env_name}"),
                                format!("{env_name}={text}"),
                                Origin::Env,
                            );
                            // An empty value has no characters to underline: take the line.
                            if text.is_empty() {
                                Span::new(file, 0..env_name.len() + 1)
                            } else {
                                Span::new(file, env_name.len() + 1..env_name.len() + 1 + text.len())
                            }
                        }
                        _ => v.default.as_ref().map_or(v.span, |d| d.span),
                    };
                    return Err(Diag::error(
                        "eval::validation_failed",
                        format!("invalid value for variable `{}`: {msg}", v.name),
                    )
                    .label(from, shown)
                    .label(cond.span, "this condition is false")
                    .help(format!(
                        "give `{}` a value that satisfies the condition",
                        v.name
                    )));
                }
                None => {
                    return Err(super::expr::type_error(
                        cond.span,
                        "validation condition",
                        super::value::Kind::Bool,
                        &ok,
                    ));
                }
            }
        }
        Ok(value)
    }

    fn global_attr(&mut self, name: &str, at: Span) -> Result<Value, Diag> {
        let key = format!("global {name}");
        if let Some(r) = self.vars.get(&key) {
            return r.clone();
        }
        let doc = self.doc;
        let a = &doc.globals[name];
        self.enter(name, at)?;
        let r = self.eval_with(&a.expr, &[]);
        self.leave();
        self.vars.insert(key, r.clone());
        self.globals.insert(name.to_string(), r.clone());
        r
    }

    fn function(&mut self, name: &str) -> Result<Rc<UserFunction>, Diag> {
        if let Some(r) = self.funcs.get(name) {
            return r.clone();
        }
        let f = &self.doc.functions[name];
        let r = (|| {
            let missing = |what: &str| {
                Diag::error(
                    "eval::function_incomplete",
                    format!("function `{name}` has no `{what}`"),
                )
                .label(f.span, format!("missing `{what}`"))
                .help("a function needs `params = [a, b]` and `result = ...`")
            };
            let params_attr = f.params.as_ref().ok_or_else(|| missing("params"))?;
            let result = f.result.as_ref().ok_or_else(|| missing("result"))?;
            let ExprKind::Array(items) = &params_attr.expr.kind else {
                return Err(Diag::error(
                    "eval::function_params",
                    "`params` must be a list of names",
                )
                .label(params_attr.expr.span, "not a list")
                .help("write `params = [name, other]`"));
            };
            let keyword = |e: &crate::syntax::ast::Expr| -> Result<String, Diag> {
                e.as_keyword()
                    .map(str::to_string)
                    .or_else(|| e.as_literal_str())
                    .ok_or_else(|| {
                        Diag::error("eval::function_params", "each parameter must be a name")
                            .label(e.span, "not a name")
                            .help("write parameter names bare, e.g. `params = [items, sep]`")
                    })
            };
            let params = items.iter().map(keyword).collect::<Result<Vec<_>, _>>()?;
            let variadic = f.variadic.as_ref().map(|v| keyword(&v.expr)).transpose()?;
            Ok(Rc::new(UserFunction {
                name: name.to_string(),
                params,
                variadic,
                result: result.expr.clone(),
            }))
        })();
        self.funcs.insert(name.to_string(), r.clone());
        r
    }

    /// Checks every function definition (bake reports a broken one even if unused).
    pub fn all_functions(&mut self) -> Vec<Diag> {
        let names: Vec<String> = self.doc.functions.keys().cloned().collect();
        names
            .into_iter()
            .filter_map(|n| self.function(&n).err())
            .collect()
    }

    fn target_block(&self, i: usize) -> &'a Block {
        &self.doc.targets[i]
    }
}

impl Resolver for Ctx<'_> {
    fn evaluated_global(&self, name: &str) -> Option<&Value> {
        self.globals.get(name)?.as_ref().ok()
    }

    fn global(&mut self, name: &str, at: Span) -> Option<Result<Value, Diag>> {
        if let Some(r) = self.globals.get(name) {
            return Some(r.clone());
        }
        if self.doc.globals.contains_key(name) {
            return Some(self.global_attr(name, at));
        }
        if let Some(v) = self.inputs.builtins.get(name) {
            return Some(Ok(Value::String(v.clone())));
        }
        if self.doc.variables.contains_key(name) {
            return Some(self.variable(name, at));
        }
        None
    }

    fn is_block_type(&self, name: &str) -> bool {
        matches!(name, "target" | "group")
    }

    fn block_attr(&mut self, kind: &str, name: &str, attr: &str, at: Span) -> Result<Value, Diag> {
        let key = (kind.to_string(), name.to_string(), attr.to_string());
        if let Some(r) = self.block_attrs.get(&key) {
            return r.clone();
        }
        if attr == "name" {
            return Ok(Value::String(name.to_string()));
        }
        // The last block of that name that sets the attribute is the one that counts.
        let found = match kind {
            "target" => self.instances.get(name).and_then(|list| {
                list.iter().rev().find_map(|inst| {
                    let b = self.target_block(inst.block);
                    b.body
                        .attrs
                        .iter()
                        .find(|a| a.name == attr)
                        .map(|a| (a.expr.clone(), inst.locals.clone()))
                })
            }),
            _ => self
                .doc
                .groups
                .iter()
                .rev()
                .filter(|g| g.labels[0].0 == name)
                .find_map(|g| {
                    g.body
                        .attrs
                        .iter()
                        .find(|a| a.name == attr)
                        .map(|a| (a.expr.clone(), Vec::new()))
                }),
        };
        let exists = match kind {
            "target" => self.instances.contains_key(name),
            _ => self.doc.groups.iter().any(|g| g.labels[0].0 == name),
        };
        if !exists {
            let known: Vec<String> = match kind {
                "target" => self.instances.keys().cloned().collect(),
                _ => self
                    .doc
                    .groups
                    .iter()
                    .map(|g| g.labels[0].0.clone())
                    .collect(),
            };
            return Err(Diag::error(
                "eval::unknown_block",
                format!("there is no {kind} named `{name}`"),
            )
            .label(at, "referenced here")
            .help(
                match crate::base::did_you_mean(name, known.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("define `{kind} \"{name}\" {{ ... }}`"),
                },
            ));
        }
        let Some((expr, locals)) = found else {
            return Ok(Value::Null);
        };
        let label = format!("{kind}.{name}.{attr}");
        self.enter(&label, at)?;
        let r = self.eval_with(&expr, &locals);
        self.leave();
        self.block_attrs.insert(key, r.clone());
        r
    }

    fn user_function(&mut self, name: &str) -> Option<Result<Rc<UserFunction>, Diag>> {
        if let Some(r) = self.funcs.get(name) {
            return Some(r.clone());
        }
        if !self.doc.functions.contains_key(name) {
            return None;
        }
        Some(self.function(name))
    }

    fn global_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.doc.variables.keys().cloned().collect();
        names.extend(self.doc.globals.keys().cloned());
        names.extend(self.inputs.builtins.keys().cloned());
        names
    }
}

/// `eval::cycle` for a cycle found in the spec: the steps named in the help (the middle of a
/// long one elided), the declaration of the first labelled.
fn cycle_diag(key: &str, at: Span, cycle: &[String], doc: &Document) -> Diag {
    let shown = if cycle.len() > 12 {
        format!(
            "{} -> ... -> {} ({} variables)",
            cycle[..5].join(" -> "),
            cycle[cycle.len() - 5..].join(" -> "),
            cycle.len() - 1
        )
    } else {
        cycle.join(" -> ")
    };
    let mut d = Diag::error("eval::cycle", format!("`{}` depends on itself", cycle[0]))
        .label(at, format!("`{key}` is part of the cycle"))
        .help(format!("break the cycle {shown}"));
    if let Some(v) = doc.variables.get(&cycle[0]) {
        d = d.label(v.span, format!("`{}` is declared here", cycle[0]));
    }
    d
}

#[cfg(test)]
mod tests {
    use crate::eval::sample::{self, Sample};

    /// Evaluates `text` with `env`; every variable must evaluate.
    fn check(text: &str, env: &[(&str, &str)]) -> Sample {
        let s = sample::collect(text, env);
        assert!(!s.diags.has_errors(), "{text}: {:?}", s.codes());
        s
    }

    fn json(s: &Sample, name: &str) -> String {
        s.var(name).to_json().to_string()
    }

    #[test]
    fn the_environment_overrides_by_type() {
        let text = r#"
            variable "N" { default = 1 }
            variable "S" { default = "1" }
            variable "B" { default = false }
            variable "L" { type = list(string) }
            variable "M" { type = map(number) }
            variable "J" { type = list(number) }
        "#;
        let s = check(
            text,
            &[
                ("N", "3"),
                ("S", "3"),
                ("B", "true"),
                ("L", "a,b"),
                ("M", "x:1,y:2"),
                ("J", "9"),
                ("J_JSON", "[1, 2]"),
            ],
        );
        // Untyped: the default's type decides; typed: CSV for collections (`key:value` pairs
        // for maps), and `NAME_JSON`
        // wins over `NAME` when the variable has a type.
        assert_eq!(json(&s, "N"), "3");
        assert_eq!(json(&s, "S"), "\"3\"");
        assert_eq!(json(&s, "B"), "true");
        assert_eq!(json(&s, "L"), r#"["a","b"]"#);
        assert_eq!(json(&s, "M"), r#"{"x":1,"y":2}"#);
        assert_eq!(json(&s, "J"), "[1,2]");
        // Untyped, `NAME` wins; `NAME_JSON` is read only when `NAME` is unset.
        let s = check(
            r#"variable "U" { default = "d" }"#,
            &[("U", "plain"), ("U_JSON", "\"json\"")],
        );
        assert_eq!(json(&s, "U"), "\"plain\"");
    }

    #[test]
    fn a_bad_environment_value_points_at_itself() {
        let s = sample::collect(r#"variable "B" { default = false }"#, &[("B", "maybe")]);
        assert_eq!(s.codes(), ["eval::env_override"]);
        assert_eq!(s.span_of("eval::env_override"), "maybe");
        // An untyped list default cannot take an environment value at all.
        let s = sample::collect(r#"variable "L" { default = ["a"] }"#, &[("L", "x")]);
        assert_eq!(s.codes(), ["eval::env_override"]);
        assert!(
            s.diags.0[0]
                .help
                .as_deref()
                .unwrap_or("")
                .contains("type = list(string)")
        );
    }

    #[test]
    fn variables_are_evaluated_in_any_order_and_each_once() {
        let s = check(
            r#"
            variable "A" { default = "${B}-a" }
            variable "B" { default = "${C}-b" }
            variable "C" { default = "c" }
            "#,
            &[],
        );
        assert_eq!(json(&s, "A"), "\"c-b-a\"");
        // A broken variable nothing uses is still reported, once.
        let s = sample::collect(
            r#"
            variable "UNUSED" { default = 0 / 0 }
            target "default" {}
            "#,
            &[],
        );
        assert_eq!(s.codes(), ["eval::divide_by_zero"]);
    }

    #[test]
    fn a_cycle_is_one_diagnostic_naming_every_step() {
        let s = sample::collect(
            r#"
            variable "A" { default = B }
            variable "B" { default = C }
            variable "C" { default = A }
            "#,
            &[],
        );
        assert_eq!(s.codes(), ["eval::cycle"], "{:?}", s.diags.0);
        let help = s.diags.0[0].help.clone().unwrap_or_default();
        for step in ["A", "B", "C"] {
            assert!(help.contains(step), "{help}");
        }
    }

    #[test]
    fn validation_points_at_where_the_value_came_from() {
        let text = r#"
            variable "P" {
              default = 0
              validation {
                condition = P > 0
                error_message = "P must be positive"
              }
            }
        "#;
        let s = sample::collect(text, &[]);
        assert_eq!(s.codes(), ["eval::validation_failed"]);
        assert!(s.diags.0[0].message.contains("P must be positive"));
        assert_eq!(s.span_of("eval::validation_failed"), "0");
        let s = sample::collect(text, &[("P", "-1")]);
        assert_eq!(s.span_of("eval::validation_failed"), "-1");
        assert_eq!(json(&check(text, &[("P", "5")]), "P"), "5");
    }

    #[test]
    fn target_attributes_can_be_referenced_by_final_name() {
        let s = check(
            r#"
            target "a" { tags = ["x:1"] }
            target "b" { tags = concat(target.a.tags, ["y:1"]) }
            target "m" {
              name = "m${v}"
              matrix = { v = ["1", "2"] }
              args = { V = v }
            }
            target "c" { args = target.m2.args }
            "#,
            &[],
        );
        let tags: Vec<&str> = s.config.targets["b"]
            .list("tags")
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        assert_eq!(tags, ["x:1", "y:1"]);
        let args = s.config.targets["c"].map("args");
        assert_eq!(args.len(), 1);
        assert_eq!((args[0].0, args[0].1.value.as_str()), ("V", "2"));
    }
}
