//! compose-go's consistency check on the merged project, then buildx's `ParseCompose`: each
//! service with a `build` section becomes a target block (the schema checks are `schema.rs`).

use std::collections::BTreeMap;

use super::CODE;
use super::go::{bytes_size, ram_in_bytes};
use super::interpolate::Env;
use super::schema::Shape;
use super::yaml::{Node, Spans};
use crate::source::{Diag, Diags, Span};
use crate::syntax::ast::{Attr, Block, Body, Expr, ExprKind, ObjectKey, Part};

/// A top-level `secrets:` definition, as a build secret refers to it.
pub(super) struct SecretDef {
    file: String,
    environment: String,
    external: bool,
}

pub(super) type Val = (String, Span);

/// What buildx's `ParseCompose` fills in for one service, before it becomes attributes.
#[derive(Default)]
pub(super) struct Target {
    pub(super) context: Option<Val>,
    pub(super) dockerfile: Option<Val>,
    pub(super) dockerfile_inline: Option<Val>,
    pub(super) target: Option<Val>,
    pub(super) shm_size: Option<Val>,
    pub(super) args: Option<(Vec<(String, String)>, Span)>,
    pub(super) labels: Option<(Vec<(String, String)>, Span)>,
    pub(super) contexts: Option<(Vec<(String, String)>, Span)>,
    pub(super) tags: Vec<Val>,
    pub(super) cache_from: Vec<Val>,
    pub(super) cache_to: Vec<Val>,
    pub(super) secret: Vec<Val>,
    pub(super) ssh: Vec<Val>,
    pub(super) platforms: Vec<Val>,
    pub(super) output: Vec<Val>,
    pub(super) no_cache_filter: Vec<Val>,
    pub(super) ulimits: Vec<Val>,
    pub(super) pull: Option<(bool, Span)>,
    pub(super) no_cache: Option<(bool, Span)>,
}

pub(super) struct Lower<'a> {
    pub(super) loc: Spans,
    pub(super) env: Env<'a>,
    pub(super) diags: Diags,
}

impl Lower<'_> {
    pub(super) fn error(
        &mut self,
        path: &[&str],
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        let span = self.loc.key(path);
        self.diags
            .push(Diag::error(CODE, message).label(span, label).help(help));
    }

    /// Checks `node` against `shape`, reporting a mismatch at `path`.
    pub(super) fn expect(&mut self, path: &[&str], node: &Node, shape: Shape) -> bool {
        if shape.accepts(node) {
            return true;
        }
        let key = path.join(".");
        self.error(
            path,
            format!("`{key}` must be {}, not {}", shape.describe(), node.kind()),
            "wrong type",
            format!("write `{key}` as {}", shape.describe()),
        );
        false
    }

    /// buildx's `ParseCompose` over the merged document, after compose-go's consistency check.
    pub(super) fn top(&mut self, root: &Node) -> Body {
        let Some(services) = root.get("services") else {
            self.error(&[], "not a compose file: it has no `services` section", "in this file", "add a `services:` section whose services have a `build:` section, or give a bake file an `.hcl` or `.json` name");
            return Body::default();
        };
        let secrets = self.secret_defs(root.get("secrets"));
        let Node::Map(services) = services else {
            return Body::default();
        };
        let mut body = Body::default();
        let mut names = Vec::new();
        for (name, service) in services {
            if let Some(block) = self.service(name, service, &secrets) {
                names.push((block.labels[0].0.clone(), block.kind_span));
                body.blocks.push(block);
            }
        }
        // Compat: buildx adds the default group whenever there are services, even if none builds.
        if !services.is_empty() {
            let span = self.loc.key(&["services"]);
            let targets: Vec<Expr> = names.into_iter().map(|(n, s)| lit(&n, s)).collect();
            let value = if targets.is_empty() {
                ExprKind::Null
            } else {
                ExprKind::Array(targets)
            };
            let attr = Attr {
                name: "targets".into(),
                name_span: span,
                expr: Expr::new(value, span),
                span,
            };
            body.blocks.push(Block {
                kind: "group".into(),
                kind_span: span,
                labels: vec![("default".into(), span)],
                body: Body {
                    attrs: vec![attr],
                    blocks: vec![],
                },
                span,
            });
        }
        body
    }

    pub(super) fn secret_defs(&mut self, node: Option<&Node>) -> BTreeMap<String, SecretDef> {
        let mut out = BTreeMap::new();
        let Some(Node::Map(defs)) = node else {
            return out;
        };
        for (name, def) in defs {
            let path = ["secrets", name.as_str()];
            if !self.expect(&path, def, Shape::Map) {
                continue;
            }
            let field = |k: &str| def.get(k).and_then(Node::as_str).map(str::to_string);
            let (file, environment) = (field("file"), field("environment"));
            let external = matches!(def.get("external"), Some(Node::Bool(true) | Node::Map(_)));
            if file.is_some() && environment.is_some() {
                self.error(
                    &path,
                    format!("secret `{name}` sets both `file` and `environment`"),
                    "here",
                    "keep one of `file` and `environment`",
                );
            } else if file.is_none()
                && environment.is_none()
                && def.get("external").is_none()
                && def.get("driver").is_none()
            {
                self.error(
                    &path,
                    format!("secret `{name}` must set `file` or `environment`"),
                    "here",
                    "add `file: PATH` or `environment: VAR`",
                );
            }
            let file = file.map(|f| self.resolve_path(&f)).unwrap_or_default();
            out.insert(
                name.clone(),
                SecretDef {
                    file,
                    environment: environment.unwrap_or_default(),
                    external,
                },
            );
        }
        out
    }

    fn service(
        &mut self,
        name: &str,
        service: &Node,
        secrets: &BTreeMap<String, SecretDef>,
    ) -> Option<Block> {
        let path = ["services", name];
        let image = service.get("image").and_then(Node::as_str).unwrap_or("");
        let Some(build) = service.get("build") else {
            // Compat: compose-go checks this only once every file is merged, so a service one
            // file declares without `build` or `image` may be completed by a later file.
            if image.is_empty() {
                self.error(
                    &path,
                    format!("service `{name}` has neither an image nor a build context"),
                    "here",
                    "add `build: .` to build it, or an `image:` to run",
                );
            }
            return None;
        };
        let mut t = self.build(name, build, service, secrets)?;
        if t.tags.is_empty() && !image.is_empty() {
            t.tags.push((
                image.to_string(),
                self.loc.key(&["services", name, "image"]),
            ));
        }
        let span = self.loc.key(&path);
        // Compat: bake cannot address a dotted name, so buildx turns dots into underscores.
        let label = name.replace('.', "_");
        Some(Block {
            kind: "target".into(),
            kind_span: span,
            labels: vec![(label, span)],
            body: Body {
                attrs: t.into_attrs(),
                blocks: vec![],
            },
            span,
        })
    }

    pub(super) fn build(
        &mut self,
        name: &str,
        build: &Node,
        service: &Node,
        secrets: &BTreeMap<String, SecretDef>,
    ) -> Option<Target> {
        let base = ["services", name, "build"];
        let mut t = Target::default();
        match build {
            Node::Str(context) => {
                t.context = Some((self.resolve_context(context), self.loc.key(&base)))
                    .filter(|(c, _)| !c.is_empty());
                return Some(t);
            }
            Node::Map(_) => {}
            other => {
                let msg = format!(
                    "`build` of service `{name}` must be a context path or a mapping, not {}",
                    other.kind()
                );
                self.error(
                    &base,
                    msg,
                    "wrong type",
                    "write `build: ./dir`, or a mapping with `context:` and `dockerfile:`",
                );
                return None;
            }
        };
        let str_field = |key: &str| {
            build
                .get(key)
                .and_then(Node::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let span = |this: &Self, key: &str| this.loc.key(&child(&base, key));
        // compose-go defaults a mapping's context to `.`.
        let context = self.resolve_context(&str_field("context").unwrap_or_else(|| ".".into()));
        t.context = Some((context, span(self, "context"))).filter(|(c, _)| !c.is_empty());
        t.dockerfile = str_field("dockerfile").map(|v| (v, span(self, "dockerfile")));
        t.dockerfile_inline =
            str_field("dockerfile_inline").map(|v| (v, span(self, "dockerfile_inline")));
        t.target = str_field("target").map(|v| (v, span(self, "target")));
        if t.dockerfile.is_some() && t.dockerfile_inline.is_some() {
            self.error(
                &child(&base, "dockerfile_inline"),
                format!("service `{name}` sets both `dockerfile` and `dockerfile_inline`"),
                "here",
                "keep one of them",
            );
        }
        if let Some(args) = build.get("args") {
            let args = self.args(args, service.get("environment"));
            t.args = Some((args, span(self, "args"))).filter(|(a, _)| !a.is_empty());
        }
        if let Some(labels) = build.get("labels") {
            let labels = key_values(labels, true)
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect();
            t.labels = Some((labels, span(self, "labels")));
        }
        if let Some(extra) = build.get("additional_contexts") {
            let contexts = self.additional_contexts(&child(&base, "additional_contexts"), extra);
            t.contexts = Some((contexts, span(self, "additional_contexts")));
        }
        let list = |this: &Self, key: &str| -> Vec<Val> {
            let s = span(this, key);
            match build.get(key) {
                Some(Node::List(items)) => items
                    .iter()
                    .filter_map(Node::text)
                    .map(|v| (v, s))
                    .collect(),
                _ => vec![],
            }
        };
        t.tags = list(self, "tags");
        t.cache_from = list(self, "cache_from");
        t.cache_to = list(self, "cache_to");
        if let Some(shm) = build.get("shm_size") {
            self.shm_size(&child(&base, "shm_size"), shm, &mut t);
        }
        if let Some(Node::Map(ulimits)) = build.get("ulimits") {
            self.ulimits(&child(&base, "ulimits"), ulimits, &mut t);
        }
        if let Some(list) = build.get("secrets") {
            self.build_secrets(name, &child(&base, "secrets"), list, secrets, &mut t);
        }
        if let Some(ext) = build.get("x-bake") {
            self.x_bake(&child(&base, "x-bake"), ext, &mut t);
        }
        Some(t)
    }

    /// Build arguments; a bare `KEY` takes its value from the service's `environment`, then from
    /// the caller's environment, and is dropped when neither has it.
    pub(super) fn args(&self, args: &Node, service_env: Option<&Node>) -> Vec<(String, String)> {
        let service_env: BTreeMap<String, String> = service_env
            .map(|n| key_values(n, true))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        key_values(args, true)
            .into_iter()
            .filter_map(|(k, v)| {
                let v = v
                    .or_else(|| service_env.get(&k).cloned())
                    .or_else(|| self.env.get(&k))?;
                Some((k, v))
            })
            .collect()
    }

    pub(super) fn additional_contexts(
        &mut self,
        path: &[&str],
        node: &Node,
    ) -> Vec<(String, String)> {
        let mut contexts = Vec::new();
        for (k, v) in key_values(node, false) {
            match v {
                Some(v) => contexts.push((k, self.resolve_context(&v))),
                None => self.error(
                    path,
                    format!("additional context `{k}` has no value"),
                    "here",
                    "write it as `NAME=PATH`",
                ),
            }
        }
        contexts
    }

    pub(super) fn shm_size(&mut self, path: &[&str], node: &Node, t: &mut Target) {
        let bytes = match node {
            Node::Int(i) => i64::try_from(*i).unwrap_or(i64::MAX),
            Node::Str(s) => match ram_in_bytes(s) {
                Ok(b) => b,
                Err(e) => {
                    self.error(
                        path,
                        format!("invalid `shm_size` `{s}`: {e}"),
                        "here",
                        "write a number of bytes or a size such as `128m` or `1g`",
                    );
                    return;
                }
            },
            _ => return,
        };
        if bytes > 0 {
            t.shm_size = Some((bytes_size(bytes), self.loc.key(path)));
        }
    }

    pub(super) fn ulimits(&mut self, path: &[&str], ulimits: &[(String, Node)], t: &mut Target) {
        let span = self.loc.key(path);
        for (name, limit) in ulimits {
            let at = child(path, name);
            let int = |n: Option<&Node>| match n {
                Some(Node::Int(i)) => i64::try_from(*i).ok(),
                _ => None,
            };
            let (soft, hard) = match limit {
                // Compat: compose-go keeps a single number apart from soft/hard and buildx 0.13
                // formats only soft:hard, so `nofile: 1024` becomes `nofile=0:0`.
                Node::Int(_) => (0, 0),
                Node::Map(_) => match (int(limit.get("soft")), int(limit.get("hard"))) {
                    (Some(s), Some(h)) => (s, h),
                    _ => {
                        self.error(
                            &at,
                            format!("ulimit `{name}` needs integer `soft` and `hard` values"),
                            "here",
                            "write `{ soft: 1024, hard: 2048 }` or a single number",
                        );
                        continue;
                    }
                },
                other => {
                    self.error(
                        &at,
                        format!(
                            "ulimit `{name}` must be a number or a mapping, not {}",
                            other.kind()
                        ),
                        "here",
                        "write `{ soft: 1024, hard: 2048 }` or a single number",
                    );
                    continue;
                }
            };
            if !ULIMIT_NAMES.contains(&name.as_str()) {
                self.error(
                    &at,
                    format!("invalid ulimit type `{name}`"),
                    "here",
                    format!("ulimits are {}", quoted(ULIMIT_NAMES)),
                );
            } else if hard != -1 && (soft == -1 || soft > hard) {
                self.error(
                    &at,
                    format!("ulimit `{name}`: the soft limit {soft} exceeds the hard limit {hard}"),
                    "here",
                    "make `soft` at most `hard`",
                );
            } else {
                t.ulimits.push((format!("{name}={soft}:{hard}"), span));
            }
        }
    }

    pub(super) fn build_secrets(
        &mut self,
        name: &str,
        path: &[&str],
        list: &Node,
        defs: &BTreeMap<String, SecretDef>,
        t: &mut Target,
    ) {
        let span = self.loc.key(path);
        let Node::List(items) = list else {
            self.expect(path, list, Shape::StrList);
            return;
        };
        for item in items {
            let source = match item {
                Node::Str(s) => s.clone(),
                Node::Map(_) => item.get("source").and_then(Node::text).unwrap_or_default(),
                other => {
                    self.error(
                        path,
                        format!(
                            "a build secret must be a name or a mapping, not {}",
                            other.kind()
                        ),
                        "here",
                        "write `- NAME` or `- source: NAME`",
                    );
                    continue;
                }
            };
            let Some(def) = defs.get(&source) else {
                self.error(
                    path,
                    format!("service `{name}` refers to undefined build secret `{source}`"),
                    "here",
                    format!(
                        "define it under the top-level `secrets:` as `{source}: {{ file: PATH }}`"
                    ),
                );
                continue;
            };
            if def.external {
                self.error(
                    path,
                    format!("unsupported external secret `{source}`"),
                    "here",
                    "give the secret a `file` or `environment` instead of `external`",
                );
                continue;
            }
            // buildx's composeToBuildkitSecret.
            let parts = [
                ("id", &source),
                ("src", &def.file),
                ("env", &def.environment),
            ];
            let csv: Vec<String> = parts
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            t.secret.push((csv.join(","), span));
        }
    }

    /// compose-go's path resolution with an empty working directory: `~` expands to `HOME`,
    /// and a relative path is cleaned (it stays relative).
    pub(super) fn resolve_path(&self, p: &str) -> String {
        let p = match (
            p.strip_prefix('~'),
            self.env.get("HOME").filter(|h| !h.is_empty()),
        ) {
            (Some(rest), Some(home)) => crate::base::clean_path(&format!("{home}/{rest}")),
            _ => p.to_string(),
        };
        let windows_abs =
            p.len() >= 3 && p.as_bytes()[0].is_ascii_alphabetic() && p[1..].starts_with(":\\");
        if p.is_empty() || p.starts_with('/') || windows_abs {
            p
        } else {
            crate::base::clean_path(&p)
        }
    }

    /// A context is a path unless it is a URL or another builder-specific reference.
    pub(super) fn resolve_context(&self, c: &str) -> String {
        let remote = [
            "https://",
            "http://",
            "git://",
            "ssh://",
            "github.com/",
            "git@",
        ]
        .iter()
        .any(|p| c.starts_with(p));
        if c.contains("://") || remote {
            c.to_string()
        } else {
            self.resolve_path(c)
        }
    }
}

impl Target {
    pub(super) fn into_attrs(self) -> Vec<Attr> {
        let mut out = Vec::new();
        let mut str_attr = |key: &str, v: Option<Val>| {
            if let Some((v, span)) = v {
                out.push(attr(key, lit(&v, span)));
            }
        };
        str_attr("context", self.context);
        str_attr("dockerfile", self.dockerfile);
        str_attr("dockerfile-inline", self.dockerfile_inline);
        str_attr("target", self.target);
        str_attr("shm-size", self.shm_size);
        for (key, entries) in [
            ("args", self.args),
            ("labels", self.labels),
            ("contexts", self.contexts),
        ] {
            if let Some((entries, span)) = entries.filter(|(e, _)| !e.is_empty()) {
                let items = entries
                    .into_iter()
                    .map(|(k, v)| (object_key(&k, span), lit(&v, span)))
                    .collect();
                out.push(attr(key, Expr::new(ExprKind::Object(items), span)));
            }
        }
        let lists = [
            ("tags", self.tags),
            ("cache-from", self.cache_from),
            ("cache-to", self.cache_to),
            ("secret", self.secret),
            ("ssh", self.ssh),
            ("platforms", self.platforms),
            ("output", self.output),
            ("no-cache-filter", self.no_cache_filter),
            ("ulimits", self.ulimits),
        ];
        for (key, items) in lists {
            if let Some(&(_, span)) = items.first() {
                let items = items.iter().map(|(v, s)| lit(v, *s)).collect();
                out.push(attr(key, Expr::new(ExprKind::Array(items), span)));
            }
        }
        for (key, b) in [("pull", self.pull), ("no-cache", self.no_cache)] {
            if let Some((b, span)) = b {
                out.push(attr(key, Expr::new(ExprKind::Bool(b), span)));
            }
        }
        out
    }
}

/// A compose mapping or `KEY[=VALUE]` list as (key, value) pairs, later keys replacing earlier
/// ones. A `KEY` without `=`, or a null value, has no value; `null_is_none` false makes those
/// empty strings instead, as compose's plain `Mapping` type does.
pub(super) fn key_values(node: &Node, null_is_none: bool) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut put = |k: String, v: Option<String>| match out.iter_mut().find(|(have, _)| *have == k) {
        Some(slot) => slot.1 = v,
        None => out.push((k, v)),
    };
    match node {
        Node::Map(m) => m.iter().for_each(|(k, v)| {
            put(
                k.clone(),
                v.text().or_else(|| (!null_is_none).then(String::new)),
            )
        }),
        Node::List(items) => {
            for item in items.iter().filter_map(Node::text) {
                match item.split_once('=') {
                    Some((k, v)) => put(k.to_string(), Some(v.to_string())),
                    None => put(item, None),
                }
            }
        }
        _ => {}
    }
    out
}

pub(super) fn child<'k>(path: &[&'k str], key: &'k str) -> Vec<&'k str> {
    let mut out = path.to_vec();
    out.push(key);
    out
}

pub(super) fn dedup(list: &mut Vec<Val>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|(v, _)| seen.insert(v.clone()));
}

#[rustfmt::skip]
pub(super) const ULIMIT_NAMES: &[&str] = &[
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack",
];

pub(super) fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Help for an unknown key: the known key it most likely meant (the same rule as every
/// other "did you mean"), else the list of known keys.
pub(super) fn suggest(key: &str, known: &[&str]) -> String {
    match crate::base::did_you_mean(key, known.iter().copied()) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!(
            "known keys are {}, and extension keys starting with `x-`",
            quoted(known)
        ),
    }
}

pub(super) fn lit(s: &str, span: Span) -> Expr {
    Expr::new(ExprKind::Template(vec![Part::Lit(s.to_string())]), span)
}

pub(super) fn attr(name: &str, expr: Expr) -> Attr {
    Attr {
        name: name.to_string(),
        name_span: expr.span,
        span: expr.span,
        expr,
    }
}

/// Keys such as `com.acme.role` are not identifiers, so they become literal string keys.
pub(super) fn object_key(k: &str, span: Span) -> ObjectKey {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident {
        ObjectKey::Ident(k.to_string(), span)
    } else {
        ObjectKey::Expr(Box::new(lit(k, span)))
    }
}
