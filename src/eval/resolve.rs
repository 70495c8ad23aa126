//! Answers a request (names, `--set`) against a [`Config`]: groups expand, targets inherit,
//! overrides apply, `target:` contexts pull in the targets they link, and bake's defaults
//! fill what is left.

use std::collections::{BTreeMap, HashMap};

use super::overrides::{self, Override};
use super::{Config, Inputs};
use crate::base::{clean_path, did_you_mean, is_remote};
use crate::model::{Attr, AttrValue, Definition, Group, Item, Target};
use crate::source::{Diag, Diags, Span, Spanned};
use crate::spec::attrs::{self, TARGET_ATTRS};

pub struct Request {
    /// Requested target or group names (or patterns); empty means `default`.
    pub names: Vec<Spanned<String>>,
    pub overrides: Vec<Override>,
}

pub fn resolve(
    config: &Config,
    req: &Request,
    inputs: &Inputs,
    diags: &mut Diags,
) -> Option<Definition> {
    // Names are sanitized as bake does; a name that is neither a group nor a target but a
    // pattern (newer bake) stands for every target it matches.
    let mut names: Vec<Spanned<String>> = Vec::new();
    for n in &req.names {
        let name = n.value.replace('.', "_");
        let known = config.groups.contains_key(&name) || config.targets.contains_key(&name);
        if !known && name.contains(['*', '?', '[']) {
            let matched = overrides::expand(&name, config.targets.keys());
            if !matched.is_empty() {
                names.extend(matched.into_iter().map(|m| Spanned::new(m, n.span)));
                continue;
            }
        }
        names.push(Spanned::new(name, n.span));
    }

    // Overrides by target, in command-line order.
    let mut by_target: HashMap<String, Vec<&Override>> = HashMap::new();
    for o in &req.overrides {
        let matched = overrides::expand(&o.pattern, config.targets.keys());
        if matched.is_empty() {
            diags.push(
                Diag::error(
                    "set::no_match",
                    format!("no target matches `{}`", o.pattern),
                )
                .label(o.pattern_span, "matches nothing")
                .help(known_targets_help(&o.pattern, config)),
            );
        }
        for m in matched {
            by_target.entry(m).or_default().push(o);
        }
    }
    if diags.has_errors() {
        return None;
    }

    let mut r = Resolver {
        config,
        overrides: &by_target,
        cache: HashMap::new(),
        parents: config
            .targets
            .values()
            .flat_map(|t| t.list("inherits"))
            .map(|i| i.value.as_str())
            .collect(),
        diags: Diags::default(),
        depth: 0,
    };
    let mut def = Definition::default();
    for name in &names {
        let (targets, groups) = r.expand_group(name);
        for t in targets {
            if def.targets.contains_key(&t.value) {
                continue;
            }
            if let Some(target) = r.resolve_target(&t.value, t.span) {
                def.targets.insert(t.value.clone(), target);
            }
        }
        for g in groups {
            if let Some(group) = config.groups.get(&g) {
                def.groups.insert(g, group.clone());
            }
        }
    }
    for name in &names {
        if name.value == "default" {
            continue;
        }
        let g = def.groups.entry("default".into()).or_insert_with(|| Group {
            name: "default".into(),
            span: name.span,
            targets: Vec::new(),
            description: None,
        });
        if !g.targets.iter().any(|t| t.value == name.value) {
            g.targets.push(Item {
                value: name.value.clone(),
                span: name.span,
            });
        }
    }
    if let Some(g) = def.groups.get_mut("default") {
        let mut seen = std::collections::HashSet::new();
        g.targets.retain(|t| seen.insert(t.value.clone()));
    }

    let requested: Vec<String> = def.targets.keys().cloned().collect();
    for name in requested {
        r.load_links(&name, &mut def, &mut Vec::new());
    }
    diags.extend(r.diags.0);
    if diags.has_errors() {
        return None;
    }
    for t in def.targets.values_mut() {
        finish(t, inputs);
    }
    Some(def)
}

fn known_targets_help(name: &str, config: &Config) -> String {
    let names = config.targets.keys().chain(config.groups.keys());
    match did_you_mean(name, names.clone().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None if config.targets.is_empty() => "the definition has no targets".to_string(),
        None => format!(
            "known targets: {}",
            config
                .targets
                .keys()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

struct Resolver<'a> {
    config: &'a Config,
    overrides: &'a HashMap<String, Vec<&'a Override>>,
    /// Resolved targets; `None` while a target is being resolved (an inherits cycle).
    /// Shared, so a parent is not copied for each child that inherits it.
    cache: HashMap<String, Option<std::rc::Rc<Target>>>,
    /// Every name some target inherits from.
    parents: std::collections::HashSet<&'a str>,
    diags: Diags,
    /// How many targets are being resolved inside one another (`inherits` depth).
    depth: usize,
}

impl Resolver<'_> {
    /// A name's targets (groups expanded depth-first, deduplicated) and the groups visited.
    fn expand_group(&self, name: &Spanned<String>) -> (Vec<Item>, Vec<String>) {
        let mut targets = Vec::new();
        let mut groups = Vec::new();
        self.walk(
            &name.value,
            name.span,
            &mut Vec::new(),
            &mut targets,
            &mut groups,
        );
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(t.value.clone()));
        groups.dedup();
        (targets, groups)
    }

    fn walk(
        &self,
        name: &str,
        span: Span,
        visiting: &mut Vec<String>,
        targets: &mut Vec<Item>,
        groups: &mut Vec<String>,
    ) {
        let Some(g) = self.config.groups.get(name) else {
            targets.push(Item {
                value: name.to_string(),
                span,
            });
            return;
        };
        if visiting.iter().any(|v| v == name) {
            return;
        }
        visiting.push(name.to_string());
        groups.push(name.to_string());
        for t in &g.targets {
            self.walk(&t.value, t.span, visiting, targets, groups);
        }
        visiting.pop();
    }

    fn resolve_target(&mut self, name: &str, at: Span) -> Option<Target> {
        let shared = self.target(name, at)?;
        // A target no other target inherits from is not needed again: the definition takes
        // it rather than a copy.
        if !self.parents.contains(name) {
            self.cache.remove(name);
        }
        Some(std::rc::Rc::unwrap_or_clone(shared))
    }

    fn target(&mut self, name: &str, at: Span) -> Option<std::rc::Rc<Target>> {
        if let Some(t) = self.cache.get(name) {
            return t.clone();
        }
        if self.depth >= super::resolver::MAX_CHAIN {
            self.diags.push(
                Diag::error(
                    "resolve::inherits_too_deep",
                    format!(
                        "`inherits` nests more than {} targets deep",
                        super::resolver::MAX_CHAIN
                    ),
                )
                .label(at, "inherited here")
                .help("shorten the chain of targets inheriting from one another"),
            );
            return None;
        }
        let Some(own) = self.config.targets.get(name) else {
            self.diags.push(
                Diag::error(
                    "resolve::unknown_target",
                    format!("there is no target or group named `{name}`"),
                )
                .label(at, "requested here")
                .help(known_targets_help(name, self.config)),
            );
            return None;
        };
        self.cache.insert(name.to_string(), None);
        let mut base = Target::new(name, own.span);
        for parent in own.list("inherits").to_vec() {
            if self.cache.get(&parent.value).is_some_and(Option::is_none) {
                // bake tolerates inherits cycles, merging what it has so far.
                self.diags.push(
                    Diag::warning(
                        "resolve::inherits_cycle",
                        format!(
                            "`{name}` inherits from `{}`, which inherits from `{name}`",
                            parent.value
                        ),
                    )
                    .label(parent.span, "closes a cycle")
                    .help("bake merges both sides anyway; remove one direction of the cycle"),
                );
                continue;
            }
            if !self.config.targets.contains_key(&parent.value) {
                self.diags.push(
                    Diag::error(
                        "resolve::unknown_parent",
                        format!(
                            "`{name}` inherits from `{}`, which is not a target",
                            parent.value
                        ),
                    )
                    .label(parent.span, "inherited here")
                    .help(known_targets_help(&parent.value, self.config)),
                );
                continue;
            }
            self.depth += 1;
            let p = self.target(&parent.value, parent.span);
            self.depth -= 1;
            if let Some(p) = p {
                base.merge(&p);
            }
        }
        // `base` is a fresh target holding the parents' merged attributes.
        let mut t = base;
        t.merge(own);
        if let Some(os) = self.overrides.get(name)
            && let Err(d) = overrides::apply(&mut t, os)
        {
            self.diags.push(d);
        }
        // Compat: bake appends each parent's `inherits` to the child's (`Target.Merge`) and
        // drops the list once the target is resolved, so nothing ever reads the merged list.
        // Dropping it here, before children merge it, keeps a diamond of inherits linear
        // instead of doubling the list at each level.
        t.set_def(
            attrs::target_attr("inherits").expect("inherits is an attribute"),
            None,
        );
        normalize(&mut t);
        let t = std::rc::Rc::new(t);
        self.cache.insert(name.to_string(), Some(t.clone()));
        Some(t)
    }

    /// Follows `contexts = { x = "target:NAME" }`: linked targets join the definition (with
    /// their outputs removed), cycles and platform mismatches are errors.
    fn load_links(&mut self, name: &str, def: &mut Definition, visited: &mut Vec<String>) {
        visited.push(name.to_string());
        let links: Vec<Item> = def.targets[name]
            .map("contexts")
            .into_iter()
            .filter(|(_, v)| v.value.starts_with("target:"))
            .map(|(_, v)| v.clone())
            .collect();
        for link in links {
            let dep = link.value.trim_start_matches("target:").to_string();
            if dep == name {
                self.diags.push(
                    Diag::error(
                        "resolve::self_link",
                        format!("target `{name}` cannot use itself as a context"),
                    )
                    .label(link.span, "links to itself")
                    .help("point the context at another target, a directory or an image"),
                );
                continue;
            }
            if visited.contains(&dep) {
                self.diags.push(
                    Diag::error(
                        "resolve::link_cycle",
                        format!("contexts form a loop: {} -> {dep}", visited.join(" -> ")),
                    )
                    .label(link.span, "closes the loop")
                    .help("a target cannot depend on a target that depends on it"),
                );
                continue;
            }
            if !def.targets.contains_key(&dep) {
                let Some(mut t) = self.resolve_target(&dep, link.span) else {
                    continue;
                };
                t.set_def(
                    attrs::target_attr("output").expect("output is an attribute"),
                    None,
                );
                def.targets.insert(dep.clone(), t);
            }
            self.load_links(&dep, def, visited);
            let mine: Vec<String> = def.targets[name]
                .list("platforms")
                .iter()
                .map(|i| i.value.clone())
                .collect();
            let theirs: Vec<String> = def.targets[&dep]
                .list("platforms")
                .iter()
                .map(|i| i.value.clone())
                .collect();
            if mine.len() > 1 && theirs.len() > 1 && mine.len() == theirs.len() {
                // bake compares sorted copies and, as a side effect, prints both sorted.
                sort_platforms(def.targets.get_mut(name).expect("present"));
                sort_platforms(def.targets.get_mut(&dep).expect("present"));
            }
            let mut a = mine.clone();
            let mut b = theirs.clone();
            a.sort();
            b.sort();
            if mine.len() > 1 && theirs.len() > 1 && a != b {
                let dep_span = def.targets[&dep]
                    .get("platforms")
                    .map_or(def.targets[&dep].span, |p| p.span);
                let my_span = def.targets[name]
                    .get("platforms")
                    .map_or(link.span, |p| p.span);
                let missing: Vec<&String> = mine.iter().filter(|p| !theirs.contains(p)).collect();
                let extra: Vec<&String> = theirs.iter().filter(|p| !mine.contains(p)).collect();
                let detail = match (missing.is_empty(), extra.is_empty()) {
                    (false, _) => format!(
                        "`{dep}` does not build {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (true, false) => format!(
                        "`{dep}` also builds {}",
                        extra
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (true, true) => "they build different platforms".to_string(),
                };
                self.diags.push(
                    Diag::error("resolve::link_platforms", format!("target `{dep}` can't be used by `{name}`: {detail}"))
                        .label(my_span, format!("`{name}` builds [{}]", mine.join(", ")))
                        .label(link.span, "linked here")
                        .related(Diag::error("resolve::link_platforms", format!("`{dep}` builds [{}]", theirs.join(", "))).label(dep_span, format!("`{dep}` builds these")))
                        .help("give both targets the same platforms, or make the dependency single-platform"),
                );
            }
        }
        visited.pop();
    }
}

fn sort_platforms(t: &mut Target) {
    let def = attrs::target_attr("platforms").expect("platforms is an attribute");
    if let Some(Attr {
        value: AttrValue::List(items),
        ..
    }) = t.attrs.get_mut(attrs::index_of(def))
    {
        items.sort_by(|a, b| a.value.cmp(&b.value));
    }
}

/// Removes duplicates (and empty items) from list attributes, and empty context values.
fn normalize(t: &mut Target) {
    for (i, attr) in t.attrs.iter_mut() {
        let def = &TARGET_ATTRS[i];
        match &mut attr.value {
            AttrValue::List(items) if def.key == "attest" => dedup_attest(items),
            AttrValue::List(items) if def.dedup => dedup(items),
            AttrValue::Map(m) if def.key == "contexts" => {
                m.retain(|_, v| v.as_ref().is_some_and(|v| !v.value.is_empty()))
            }
            _ => {}
        }
    }
}

/// Keeps the first of equal items and drops empty ones.
fn dedup(items: &mut Vec<Item>) {
    // Most lists hold a few items: comparing with the kept ones beats hashing copies.
    if items.len() <= 16 {
        let mut kept = 0;
        for i in 0..items.len() {
            let v = &items[i].value;
            if v.is_empty() || items[..kept].iter().any(|k| k.value == *v) {
                continue;
            }
            items.swap(kept, i);
            kept += 1;
        }
        items.truncate(kept);
        return;
    }
    let mut seen = std::collections::HashSet::new();
    items.retain(|x| !x.value.is_empty() && seen.insert(x.value.clone()));
}

/// Attestations are unique by type: a later one replaces an earlier one in place.
fn dedup_attest(items: &mut Vec<Item>) {
    let mut out: Vec<Item> = Vec::new();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for it in items.drain(..) {
        let ty = overrides::output_type(&it.value);
        if ty.is_empty() {
            out.push(it);
            continue;
        }
        match by_type.get(&ty) {
            Some(&i) => out[i] = it,
            None => {
                by_type.insert(ty, out.len());
                out.push(it);
            }
        }
    }
    *items = out;
}

/// bake's defaults and final touches: `context` and `dockerfile` defaults, the cleaned
/// context path, and `SOURCE_DATE_EPOCH` as a build argument.
fn finish(t: &mut Target, inputs: &Inputs) {
    let span = t.span;
    let context = t.str("context").unwrap_or(".").to_string();
    let cleaned = match context.strip_prefix("cwd://") {
        Some(rest) => clean_path(rest),
        None if is_remote(&context) => context.clone(),
        None => clean_path(&context),
    };
    let ctx_span = t.get("context").map_or(span, |a| a.span);
    t.set_def(
        attrs::target_attr("context").expect("attr"),
        Some(Attr {
            value: AttrValue::Str(cleaned),
            span: ctx_span,
        }),
    );
    if t.get("dockerfile").is_none() {
        t.set_def(
            attrs::target_attr("dockerfile").expect("attr"),
            Some(Attr {
                value: AttrValue::Str("Dockerfile".into()),
                span,
            }),
        );
    }
    if let Some(epoch) = inputs
        .env
        .get("SOURCE_DATE_EPOCH")
        .filter(|v| !v.is_empty())
    {
        let def = attrs::target_attr("args").expect("attr");
        let mut m = match t.get_def(def).map(|a| &a.value) {
            Some(AttrValue::Map(m)) => m.clone(),
            _ => BTreeMap::new(),
        };
        if !m.contains_key("SOURCE_DATE_EPOCH") {
            m.insert(
                "SOURCE_DATE_EPOCH".into(),
                Some(Item {
                    value: epoch.clone(),
                    span,
                }),
            );
            let at = t.get_def(def).map_or(span, |a| a.span);
            t.set_def(
                def,
                Some(Attr {
                    value: AttrValue::Map(m),
                    span: at,
                }),
            );
        }
    }
}
