//! Evaluation: from the document as written to resolved targets and groups.
//!
//! `collect` evaluates every block (variables, functions, matrix expansion, attributes) into
//! a [`Config`], the equivalent of bake's parsed config; `resolve` then answers one request
//! (target/group names, `--set`) with inherits, overrides and links applied.

pub mod decode;
pub mod expr;
pub mod limits;
pub mod matrix;
pub mod overrides;
pub mod resolve;
pub mod resolver;
pub mod stdlib;
pub mod types;
pub mod value;

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::model::{Group, Item, Target};
use crate::source::{Diag, Diags, SourceMap};
use crate::spec::attrs::{self, TARGET_ATTRS};
use crate::spec::{self, Document};
pub use resolver::VarSource;

/// Everything evaluation reads from the world, gathered once by the CLI.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The process environment (variable overrides, `SOURCE_DATE_EPOCH`).
    pub env: BTreeMap<String, String>,
    /// Names of environment variables whose values are not UTF-8: kept out of `env`, and
    /// reported only when a variable they would override is evaluated.
    pub env_not_utf8: std::collections::BTreeSet<String>,
    /// Built-in variables: `BAKE_CMD_CONTEXT`, `BAKE_LOCAL_PLATFORM`.
    pub builtins: BTreeMap<String, String>,
    pub stdlib: stdlib::Env,
}

/// All targets and groups of the document, evaluated and merged by name, before any request.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub targets: IndexMap<String, Target>,
    pub groups: IndexMap<String, Group>,
    pub variables: Vec<VariableInfo>,
    /// rbake's builders, in declaration order (empty: the implicit local engine).
    pub builders: IndexMap<String, crate::model::Builder>,
}

/// A variable's value and where it came from, for `rbake ls variables`.
#[derive(Clone, Debug)]
pub struct VariableInfo {
    pub name: String,
    pub value: value::Value,
    pub source: VarSource,
    pub description: Option<String>,
}

/// Evaluates every block of the document. Errors are collected across blocks; warnings are
/// returned alongside a successful result.
pub fn collect(
    doc: &Document,
    inputs: &Inputs,
    sources: &mut SourceMap,
    diags: &mut Diags,
) -> Config {
    let mut ctx = resolver::Ctx::new(doc, inputs, sources);
    let mut config = Config::default();

    for (name, r) in ctx.all_variables() {
        match r {
            Ok(value) => {
                let v = &doc.variables[&name];
                let description = v
                    .description
                    .as_ref()
                    .and_then(|d| ctx.eval_with(d, &[]).ok())
                    .and_then(|d| d.to_str());
                let source = ctx
                    .var_sources
                    .get(&name)
                    .cloned()
                    .unwrap_or(VarSource::Default);
                config.variables.push(VariableInfo {
                    name,
                    value,
                    source,
                    description,
                });
            }
            Err(d) => diags.push(d),
        }
    }
    diags.extend(ctx.all_functions());
    if diags.has_errors() {
        return config;
    }

    // Names first, so that attributes can refer to any target by its final name.
    let mut expanded: Vec<(usize, Vec<resolver::Instance>)> = Vec::new();
    for (i, block) in doc.targets.iter().enumerate() {
        let instances = matrix::expand(&mut ctx, i, block, diags);
        let all = std::sync::Arc::make_mut(&mut ctx.instances);
        for inst in &instances {
            all.entry(inst.name.clone()).or_default().push(inst.clone());
        }
        expanded.push((i, instances));
    }

    let mut renamed: Vec<Group> = Vec::new();
    for (i, instances) in &expanded {
        let label = &doc.targets[*i].labels[0];
        if !instances.is_empty() && (instances.len() != 1 || instances[0].name != label.0) {
            renamed.push(Group {
                name: label.0.clone(),
                span: label.1,
                targets: instances
                    .iter()
                    .map(|x| Item {
                        value: x.name.clone(),
                        span: label.1,
                    })
                    .collect(),
                description: None,
            });
        }
    }
    for (block, (targets, block_diags)) in expanded.iter().zip(targets_of(&mut ctx, &expanded)) {
        diags.extend(block_diags);
        for (inst, t) in block.1.iter().zip(targets) {
            match config.targets.get_mut(&inst.name) {
                Some(existing) => existing.merge(&t),
                None => {
                    config.targets.insert(inst.name.clone(), t);
                }
            }
        }
    }

    for block in &doc.groups {
        if let Some(g) = group(&mut ctx, block, diags) {
            // A later group block of the same name replaces the earlier one (bake decodes
            // groups without merging them, unlike targets).
            config.groups.insert(g.name.clone(), g);
        }
    }
    for block in &doc.builders {
        builder(&mut ctx, block, &mut config, diags);
    }
    for g in renamed {
        config.groups.entry(g.name.clone()).or_insert(g);
    }
    let globals: Vec<(String, crate::source::Span)> = doc
        .globals
        .iter()
        .map(|(k, a)| (k.clone(), a.name_span))
        .collect();
    for (name, span) in globals {
        use expr::Resolver;
        if let Some(Err(d)) = ctx.global(&name, span) {
            diags.push(d);
        }
    }
    config
}

/// Each target block's instances evaluated, with the block's diagnostics, in block order.
///
/// Large documents (generated monorepo files) are split in two at the middle instance and
/// the second half evaluated on another thread by a [`resolver::Ctx::fork`]. Blocks do not
/// see one another's evaluation (a reference to another target's attribute is evaluated
/// where it is needed), so when the other half evaluates without a single diagnostic and
/// within the steps this context had left after a first half without errors, it is exactly
/// what evaluating it here would give. Otherwise (an error, a warning, a limit) the second half
/// is evaluated again here, in order, so diagnostics are always those of one pass.
fn targets_of(
    ctx: &mut resolver::Ctx,
    expanded: &[(usize, Vec<resolver::Instance>)],
) -> Vec<(Vec<Target>, Diags)> {
    let doc = ctx.doc;
    let one = |ctx: &mut resolver::Ctx, (i, instances): &(usize, Vec<resolver::Instance>)| {
        let block = &doc.targets[*i];
        let mut d = Diags::default();
        warn_unknown_attrs(block, &mut d);
        let targets = instances
            .iter()
            .map(|inst| target(ctx, block, inst, &mut d))
            .collect();
        (targets, d)
    };
    let total: usize = expanded.iter().map(|(_, x)| x.len()).sum();
    if !crate::base::worth_two_threads(total) {
        return expanded.iter().map(|b| one(ctx, b)).collect();
    }
    let mut seen = 0;
    let mid = expanded
        .iter()
        .position(|(_, x)| {
            seen += x.len();
            seen > total / 2
        })
        .map_or(expanded.len(), |p| p + 1);
    let (first, second) = expanded.split_at(mid);
    let fork = ctx.fork();
    let inputs = ctx.inputs;
    let (mut out, theirs) = std::thread::scope(|s| {
        let other = std::thread::Builder::new()
            // As deep as the main worker: evaluation recurses.
            .stack_size(64 << 20)
            .spawn_scoped(s, move || {
                let mut sources = SourceMap::new();
                let mut forked = resolver::Ctx::from_fork(doc, inputs, &mut sources, fork);
                let start = forked.steps_left();
                let out: Vec<(Vec<Target>, Diags)> =
                    second.iter().map(|b| one(&mut forked, b)).collect();
                let spent = start - forked.steps_left();
                drop(forked);
                let clean = sources.is_empty() && out.iter().all(|(_, d)| d.is_empty());
                clean.then_some((out, spent))
            });
        let mine: Vec<_> = first.iter().map(|b| one(ctx, b)).collect();
        (mine, other.ok().and_then(|h| h.join().ok().flatten()))
    });
    // An error in the first half may stop later evaluations here (a reference chain past
    // the limit is reported once and fails everything after it).
    let first_clean = out.iter().all(|(_, d)| !d.has_errors());
    match theirs {
        Some((theirs, spent)) if first_clean && ctx.charge(spent) => out.extend(theirs),
        _ => out.extend(second.iter().map(|b| one(ctx, b))),
    }
    out
}

fn warn_unknown_attrs(block: &crate::syntax::ast::Block, diags: &mut Diags) {
    for a in &block.body.attrs {
        if attrs::target_attr(&a.name).is_none() && !attrs::BLOCK_ONLY.contains(&a.name.as_str()) {
            let known: Vec<&str> = TARGET_ATTRS.iter().map(|d| d.key).collect();
            diags.push(spec::unknown_attr("target", a, &known));
        }
    }
    for b in &block.body.blocks {
        diags.push(
            Diag::warning(
                "spec::unknown_block",
                format!("unexpected block `{}` inside a target", b.kind),
            )
            .label(b.kind_span, "ignored")
            .help("targets hold attributes only; move this block to the top level"),
        );
    }
}

fn target(
    ctx: &mut resolver::Ctx,
    block: &crate::syntax::ast::Block,
    inst: &resolver::Instance,
    diags: &mut Diags,
) -> Target {
    let mut t = Target::new(inst.name.clone(), block.head_span());
    for a in &block.body.attrs {
        let Some(def) = attrs::target_attr(&a.name) else {
            continue;
        };
        let value = match ctx.eval_with(&a.expr, &inst.locals) {
            Ok(v) => v,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        match decode::decode(def, value, &a.expr, a.expr.span) {
            Ok(attr) => {
                // Within one block a later attribute of the same key replaces the earlier.
                t.set_def(def, attr);
            }
            Err(d) => diags.push(d),
        }
    }
    t
}

fn group(
    ctx: &mut resolver::Ctx,
    block: &crate::syntax::ast::Block,
    diags: &mut Diags,
) -> Option<Group> {
    let label = &block.labels[0];
    if !matrix::valid_name(&label.0) {
        diags.push(matrix::invalid_name("group", &label.0, label.1));
        return None;
    }
    let mut g = Group {
        name: label.0.clone(),
        span: block.head_span(),
        targets: Vec::new(),
        description: None,
    };
    for a in &block.body.attrs {
        match a.name.as_str() {
            "targets" => {
                let def = attrs::target_attr("tags").expect("tags is a list attribute");
                match ctx
                    .eval_with(&a.expr, &[])
                    .and_then(|v| decode::decode(def, v, &a.expr, a.expr.span))
                {
                    Ok(Some(crate::model::Attr {
                        value: crate::model::AttrValue::List(items),
                        ..
                    })) => g.targets = items,
                    Ok(_) => {}
                    Err(mut d) => {
                        d.message = d.message.replace("`tags`", "`targets`");
                        d.help = Some("write `targets = [\"app\", \"db\"]`".into());
                        diags.push(d);
                    }
                }
            }
            "description" => match ctx.eval_with(&a.expr, &[]) {
                Ok(v) => g.description = v.to_str(),
                Err(d) => diags.push(d),
            },
            "matrix" | "name" => diags.push(
                Diag::error(
                    "eval::group_matrix",
                    format!("`{}` is not supported for groups", a.name),
                )
                .label(a.name_span, "only targets take this")
                .help(
                    "put the matrix on a target; its name becomes a group of the generated targets",
                ),
            ),
            _ => diags.push(spec::unknown_attr("group", a, attrs::GROUP_ATTRS)),
        }
    }
    Some(g)
}

fn builder(
    ctx: &mut resolver::Ctx,
    block: &crate::syntax::ast::Block,
    config: &mut Config,
    diags: &mut Diags,
) {
    let label = &block.labels[0];
    if !matrix::valid_name(&label.0) {
        diags.push(matrix::invalid_name("builder", &label.0, label.1));
        return;
    }
    let b = config
        .builders
        .entry(label.0.clone())
        .or_insert_with(|| crate::model::Builder {
            name: label.0.clone(),
            span: block.head_span(),
            attrs: BTreeMap::new(),
        });
    for a in &block.body.attrs {
        let Some(def) = attrs::builder_attr(&a.name) else {
            let known: Vec<&str> = attrs::BUILDER_ATTRS.iter().map(|d| d.key).collect();
            diags.push(spec::unknown_attr("builder", a, &known));
            continue;
        };
        match ctx
            .eval_with(&a.expr, &[])
            .and_then(|v| decode::decode(def, v, &a.expr, a.expr.span))
        {
            // A later block of the same name overrides attribute by attribute.
            Ok(Some(attr)) => {
                b.attrs.insert(def.key, attr);
            }
            Ok(None) => {
                b.attrs.remove(def.key);
            }
            Err(d) => diags.push(d),
        }
    }
}

/// Unit-test support for the layers from `eval` on: a bake file's text through syntax,
/// spec, [`collect`] and [`resolve::resolve`], as the pipeline runs them.
#[cfg(test)]
pub mod sample {
    use std::collections::BTreeMap;

    use super::{Config, Inputs, overrides, resolve, value::Value};
    use crate::model::Definition;
    use crate::source::{Diags, Origin, SourceMap, Span, Spanned};
    use crate::spec::Document;

    /// An evaluated `docker-bake.hcl`: its sources, config and every diagnostic so far.
    pub struct Sample {
        pub sources: SourceMap,
        pub config: Config,
        pub diags: Diags,
        pub inputs: Inputs,
    }

    /// Parses and evaluates `text` as `docker-bake.hcl` with `env` as the environment.
    pub fn collect(text: &str, env: &[(&str, &str)]) -> Sample {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let inputs = Inputs {
            env: env.clone(),
            ..Inputs::default()
        };
        let mut sources = SourceMap::new();
        let mut diags = Diags::default();
        let id = sources.add("docker-bake.hcl", text, Origin::File);
        let mut doc = Document::default();
        match crate::syntax::parse(&sources, id, &env) {
            Ok((_, body)) => doc.add(body, &mut diags),
            Err(ds) => diags.extend(ds),
        }
        let config = if diags.has_errors() {
            Config::default()
        } else {
            super::collect(&doc, &inputs, &mut sources, &mut diags)
        };
        Sample {
            sources,
            config,
            diags,
            inputs,
        }
    }

    impl Sample {
        /// A variable's value; panics with the diagnostics when it has none.
        pub fn var(&self, name: &str) -> Value {
            self.config
                .variables
                .iter()
                .find(|v| v.name == name)
                .map(|v| v.value.clone())
                .unwrap_or_else(|| panic!("no value for `{name}`: {:?}", self.codes()))
        }

        /// The builders the sample declares, or the implicit local engine, on a linux/amd64
        /// machine: what `plan` checks against without `--probe`.
        pub fn builders(&self) -> Vec<crate::model::Capabilities> {
            use crate::model::{Capabilities, Platform};
            let local = Platform::parse("linux/amd64").expect("a platform");
            if self.config.builders.is_empty() {
                return vec![Capabilities::implicit("unix:///e.sock".into(), local)];
            }
            self.config
                .builders
                .values()
                .map(|b| Capabilities::declared(b, "unix:///e.sock", &local))
                .collect()
        }

        /// The codes of the diagnostics so far, in order.
        pub fn codes(&self) -> Vec<&'static str> {
            self.diags.0.iter().map(|d| d.code).collect()
        }

        /// The text under the primary label of the first diagnostic with `code`.
        pub fn span_of(&self, code: &str) -> String {
            let d = self
                .diags
                .0
                .iter()
                .find(|d| d.code == code)
                .unwrap_or_else(|| panic!("no `{code}` among {:?}", self.codes()));
            let span = d.labels.first().expect("a label").span;
            let text = &self.sources.get(span.file).text;
            text[span.start as usize..span.end as usize].to_string()
        }

        /// Resolves `names` (none: `default`) with `sets` (`--set` texts).
        pub fn resolve(&mut self, names: &[&str], sets: &[&str]) -> Option<Definition> {
            let names: Vec<&str> = if names.is_empty() {
                vec!["default"]
            } else {
                names.to_vec()
            };
            let cmd = self
                .sources
                .add("command line", names.join(" "), Origin::Set);
            let mut at = 0;
            let names = names
                .iter()
                .map(|n| {
                    let s = Spanned::new(n.to_string(), Span::new(cmd, at..at + n.len()));
                    at += n.len() + 1;
                    s
                })
                .collect();
            let mut request = resolve::Request {
                names,
                overrides: Vec::new(),
            };
            for s in sets {
                match overrides::parse(s, &mut self.sources, &self.inputs.env) {
                    Ok(Some(o)) => request.overrides.push(o),
                    Ok(None) => {}
                    Err(d) => self.diags.push(d),
                }
            }
            if self.diags.has_errors() {
                return None;
            }
            resolve::resolve(&mut self.config, &request, &self.inputs, &mut self.diags)
                .filter(|_| !self.diags.has_errors())
        }
    }
}
