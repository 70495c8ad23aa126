//! One compose file as compose-go's loader prepares it before files are merged: parsed,
//! interpolated, checked against the schema, put in canonical form, its services' `extends`
//! applied and its `include`s merged in. `env_file`s are read once the project is merged.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::dotenv::dotenv;
use super::interpolate::{Env, interpolate};
use super::lower::{Lower, quoted};
use super::merge::{canonical, join, merge, parent, rebase};
use super::yaml::{Locator, Node, Spans, Tagged, load};
use super::{CODE, Files};
use crate::source::{Diag, Diags, FileId, Span};

pub(super) struct Loader<'f> {
    files: &'f mut dyn Files,
    pub(super) diags: Diags,
    /// Every file read so far, for the spans of the merged project.
    pub(super) spans: Option<Spans>,
    /// The files being included, outermost first, to report an `include` cycle.
    pub(super) including: Vec<String>,
    /// The services of `extends` cycles already reported, so a cycle is reported once.
    cycles: Vec<(FileId, String)>,
}

/// A file read for `extends`, kept so a base service's own `extends` can be resolved in it.
struct Other {
    services: Vec<(String, Node)>,
    loc: Locator,
}

impl<'f> Loader<'f> {
    pub(super) fn new(files: &'f mut dyn Files) -> Loader<'f> {
        Loader {
            files,
            diags: Diags::default(),
            spans: None,
            including: Vec::new(),
            cycles: Vec::new(),
        }
    }

    fn add_span(&mut self, loc: Locator, alias: Option<(String, String)>) {
        match &mut self.spans {
            Some(spans) => spans.add(loc, alias),
            None => self.spans = Some(Spans::one(loc)),
        }
    }

    /// Reads `text` (a file whose relative paths are relative to `dir`) with its `extends` and
    /// `include`s applied; `None` when it has errors, which are reported.
    pub(super) fn file(
        &mut self,
        file: FileId,
        text: Arc<str>,
        dir: &str,
        env: &BTreeMap<String, String>,
    ) -> Option<(Node, Tagged)> {
        let (mut root, tagged, loc) = self.prepare(file, text, dir, env)?;
        self.add_span(loc.clone(), None);
        self.extends(&mut root, &loc, env);
        self.include(&mut root, &loc, dir, env);
        Some((root, tagged))
    }

    /// Parses, interpolates and checks one file, and puts it in canonical form.
    fn prepare(
        &mut self,
        file: FileId,
        text: Arc<str>,
        dir: &str,
        env: &BTreeMap<String, String>,
    ) -> Option<(Node, Tagged, Locator)> {
        let (root, tagged, loc) = match load(file, text) {
            Ok(r) => r,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let vars = Env::new(env, &root);
        let mut interpolation = Diags::default();
        let root = interpolate(root, &vars, &loc, &mut Vec::new(), &mut interpolation);
        if interpolation.has_errors() {
            self.diags.extend(interpolation);
            return None;
        }
        let mut schema = Lower {
            loc: Spans::one(loc.clone()),
            env: vars,
            diags: interpolation,
        };
        schema.schema(&root);
        let bad = schema.diags.has_errors();
        self.diags.extend(schema.diags);
        if bad {
            return None;
        }
        let mut root = root;
        canonical(&mut root);
        rebase(&mut root, dir);
        Some((root, tagged, loc))
    }

    /// Replaces each service that `extends` another with the base merged under it.
    fn extends(&mut self, root: &mut Node, loc: &Locator, env: &BTreeMap<String, String>) {
        let Some(Node::Map(services)) = root.get("services") else {
            return;
        };
        let snapshot = services.clone();
        let mut resolved = Vec::new();
        for (name, service) in &snapshot {
            if service.get("extends").is_none() {
                continue;
            }
            let mut stack = Vec::new();
            if let Some(done) = self.resolve(&snapshot, loc, name, name, env, &mut stack) {
                resolved.push((name.clone(), done));
            }
        }
        if let Some(Node::Map(services)) = root.get_mut("services") {
            for (name, done) in resolved {
                if let Some(slot) = services.iter_mut().find(|(n, _)| *n == name) {
                    slot.1 = done;
                }
            }
        }
    }

    /// Service `name` of a file (`services`, found at `loc`) with its `extends` chain applied;
    /// `top` is the service being resolved, whose keys may be found in its bases' text.
    fn resolve(
        &mut self,
        services: &[(String, Node)],
        loc: &Locator,
        name: &str,
        top: &str,
        env: &BTreeMap<String, String>,
        stack: &mut Vec<(FileId, String)>,
    ) -> Option<Node> {
        let service = services.iter().find(|(n, _)| n == name).map(|(_, s)| s)?;
        let Some(ext) = service.get("extends") else {
            return Some(service.clone());
        };
        let at = loc.key(&["services", name, "extends"]);
        let base = ext.get("service").and_then(Node::as_str).unwrap_or("");
        stack.push((loc.file(), name.to_string()));
        let (other, file_name) = match ext.get("file").and_then(Node::as_str) {
            Some(path) => {
                let at = loc.key(&["services", name, "extends", "file"]);
                let Some(other) = self.other(path, at, env) else {
                    stack.pop();
                    return None;
                };
                (Some(other), Some(path.to_string()))
            }
            None => (None, None),
        };
        let (base_services, base_loc) = match &other {
            Some(o) => (o.services.as_slice(), &o.loc),
            None => (services, loc),
        };
        let based = if !base_services.iter().any(|(n, _)| n == base) {
            let within = file_name.map_or_else(String::new, |f| format!(" in `{f}`"));
            let names: Vec<&str> = base_services.iter().map(|(n, _)| n.as_str()).collect();
            let help = match crate::base::did_you_mean(base, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None if names.is_empty() => "that file has no services".to_string(),
                None => format!("services there are {}", quoted(&names)),
            };
            self.diags.push(
                Diag::error(
                    CODE,
                    format!("service `{name}` extends `{base}`, which is not a service{within}"),
                )
                .label(at, "unknown service")
                .help(help),
            );
            None
        } else if let Some(i) = stack
            .iter()
            .position(|(f, n)| *f == base_loc.file() && n == base)
        {
            let chain: Vec<String> = stack[i..]
                .iter()
                .map(|(_, n)| format!("`{n}`"))
                .chain([format!("`{base}`")])
                .collect();
            let seen = stack[i..].iter().any(|s| self.cycles.contains(s));
            self.cycles.extend(stack[i..].iter().cloned());
            if !seen {
                self.diags.push(
                    Diag::error(
                        CODE,
                        format!("`extends` cycle: {}", chain.join(" extends ")),
                    )
                    .label(at, "extends a service that extends it")
                    .help("remove one of the `extends` in the cycle"),
                );
            }
            None
        } else {
            let base_loc = base_loc.clone();
            let done = self.resolve(base_services, &base_loc, base, top, env, stack);
            self.add_span(base_loc, Some((top.to_string(), base.to_string())));
            done
        };
        stack.pop();
        let mut own = service.clone();
        if let Node::Map(keys) = &mut own {
            keys.retain(|(k, _)| k != "extends");
        }
        Some(merge(based?, own))
    }

    /// The services of a file named by `extends.file`.
    fn other(&mut self, path: &str, at: Span, env: &BTreeMap<String, String>) -> Option<Other> {
        let (file, text) = match self.files.read(path, at, false) {
            Ok(Some(read)) => read,
            Ok(None) => return None,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        let (root, _, loc) = self.prepare(file, text.into(), &parent(path), env)?;
        let services = match root.get("services") {
            Some(Node::Map(s)) => s.clone(),
            _ => Vec::new(),
        };
        Some(Other { services, loc })
    }

    /// Merges the files a top-level `include` names (each a project of its own, with paths
    /// relative to its directory and its own `.env`) after this file's services.
    fn include(
        &mut self,
        root: &mut Node,
        loc: &Locator,
        dir: &str,
        env: &BTreeMap<String, String>,
    ) {
        let Node::Map(top) = root else {
            return;
        };
        let Some(i) = top.iter().position(|(k, _)| k == "include") else {
            return;
        };
        let (_, entries) = top.remove(i);
        let at = loc.key(&["include"]);
        let Node::List(entries) = entries else {
            return;
        };
        for entry in entries {
            let Some((paths, project, env_files)) = include_entry(&entry) else {
                self.diags.push(
                    Diag::error(CODE, format!("an `include` entry must be a path or a mapping with `path`, not {}", entry.kind()))
                        .label(at, "here")
                        .help("write `- PATH`, or `- path: PATH` with optional `project_directory` and `env_file`"),
                );
                continue;
            };
            for path in paths {
                let at = loc.item(&["include"], &path);
                let full = join(dir, &path);
                if let Some(i) = self.including.iter().position(|f| *f == full) {
                    let chain: Vec<String> = self.including[i..]
                        .iter()
                        .chain([&full])
                        .map(|f| format!("`{f}`"))
                        .collect();
                    self.diags.push(
                        Diag::error(
                            CODE,
                            format!("`include` cycle: {}", chain.join(" includes ")),
                        )
                        .label(at, "includes a file that includes this one")
                        .help("remove one of the `include`s in the cycle"),
                    );
                    continue;
                }
                let (file, text) = match self.files.read(&full, at, false) {
                    Ok(Some(read)) => read,
                    Ok(None) => continue,
                    Err(d) => {
                        self.diags.push(d);
                        continue;
                    }
                };
                let project = project
                    .as_deref()
                    .map_or_else(|| parent(&full), |p| join(dir, p));
                let vars = self.include_env(env, &env_files, &project, dir, at);
                self.including.push(full.clone());
                let included = self.file(file, text.into(), &project, &vars);
                self.including.pop();
                let Some((included, _)) = included else {
                    continue;
                };
                self.merge_included(top, included, &full, at);
            }
        }
    }

    /// The environment of an included project: the caller's, plus its `env_file`s (by
    /// default the project directory's `.env`, if there is one) where the caller's has none.
    fn include_env(
        &mut self,
        env: &BTreeMap<String, String>,
        env_files: &Option<Vec<String>>,
        project: &str,
        dir: &str,
        at: Span,
    ) -> BTreeMap<String, String> {
        let mut vars = env.clone();
        let (paths, optional) = match env_files {
            Some(files) => (files.iter().map(|f| join(dir, f)).collect(), false),
            None => (vec![join(project, ".env")], true),
        };
        for path in paths {
            match self.files.read(&path, at, optional) {
                Ok(Some((_, text))) => {
                    for (k, v) in dotenv(&text) {
                        vars.entry(k).or_insert(v);
                    }
                }
                Ok(None) => {}
                Err(d) => self.diags.push(d),
            }
        }
        vars
    }

    /// Adds an included file's top-level sections; a service (or other resource) both files
    /// define is an error, as in compose-go.
    fn merge_included(
        &mut self,
        top: &mut Vec<(String, Node)>,
        included: Node,
        file: &str,
        at: Span,
    ) {
        let Node::Map(sections) = included else {
            return;
        };
        for (key, value) in sections {
            let Some(slot) = top.iter_mut().find(|(k, _)| *k == key) else {
                top.push((key, value));
                continue;
            };
            match (&mut slot.1, value) {
                (Node::Map(have), Node::Map(more)) if !key.starts_with("x-") && key != "name" => {
                    for (name, resource) in more {
                        match have.iter().find(|(n, _)| *n == name) {
                            Some((_, existing)) if *existing != resource => {
                                self.diags.push(
                                    Diag::error(
                                        CODE,
                                        format!("`{key}.{name}` is defined both here and in the included `{file}`"),
                                    )
                                    .label(at, "included here")
                                    .help(format!("rename `{name}` in one of the files, or drop one definition")),
                                );
                            }
                            Some(_) => {}
                            None => have.push((name, resource)),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Reads each service's `env_file`s into its `environment` (whose own entries win), as
    /// compose-go does once the project is merged.
    pub(super) fn env_files(&mut self, root: &mut Node, spans: &Spans) {
        let Some(Node::Map(services)) = root.get_mut("services") else {
            return;
        };
        for (name, service) in services.iter_mut() {
            let Node::Map(keys) = service else {
                continue;
            };
            let Some(i) = keys.iter().position(|(k, _)| k == "env_file") else {
                continue;
            };
            let (_, files) = keys.remove(i);
            let at = spans.key(&["services", name, "env_file"]);
            let mut vars: Vec<(String, Node)> = Vec::new();
            for entry in match files {
                Node::List(items) => items,
                other => vec![other],
            } {
                let (path, required) = match &entry {
                    Node::Str(p) => (p.clone(), true),
                    Node::Map(_) => (
                        entry
                            .get("path")
                            .and_then(Node::as_str)
                            .unwrap_or("")
                            .to_string(),
                        !matches!(entry.get("required"), Some(Node::Bool(false))),
                    ),
                    _ => continue,
                };
                match self.files.read(&path, at, !required) {
                    Ok(Some((_, text))) => {
                        for (k, v) in dotenv(&text) {
                            set(&mut vars, k, Node::Str(v));
                        }
                    }
                    Ok(None) => {}
                    Err(d) => self.diags.push(d),
                }
            }
            if let Some(Node::Map(own)) = keys
                .iter()
                .find(|(k, _)| k == "environment")
                .map(|(_, v)| v)
            {
                for (k, v) in own {
                    if *v != Node::Null {
                        set(&mut vars, k.clone(), v.clone());
                    }
                }
            }
            keys.retain(|(k, _)| k != "environment");
            keys.push(("environment".into(), Node::Map(vars)));
        }
    }
}

fn set(vars: &mut Vec<(String, Node)>, key: String, value: Node) {
    match vars.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => vars.push((key, value)),
    }
}

/// An `include` entry: its paths, `project_directory` and `env_file`s.
#[allow(clippy::type_complexity)]
fn include_entry(entry: &Node) -> Option<(Vec<String>, Option<String>, Option<Vec<String>>)> {
    let strings = |n: &Node| match n {
        Node::Str(s) => Some(vec![s.clone()]),
        Node::List(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => None,
    };
    match entry {
        Node::Str(p) => Some((vec![p.clone()], None, None)),
        Node::Map(_) => {
            let paths = strings(entry.get("path")?)?;
            let project = match entry.get("project_directory") {
                None => None,
                Some(n) => Some(n.as_str()?.to_string()),
            };
            let env_files = match entry.get("env_file") {
                None => None,
                Some(n) => Some(strings(n)?),
            };
            Some((paths, project, env_files))
        }
        _ => None,
    }
}
