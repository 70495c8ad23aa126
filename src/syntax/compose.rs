//! Compose files, read the way buildx 0.13.1 reads them through compose-go v2: every service
//! with a `build:` section becomes a `target` block, and a `group "default"` lists those targets
//! in file order. Compose does its own `${VAR}` interpolation, so every value lowers to a literal
//! the evaluator never interpolates again. The caller passes the environment (the process
//! environment merged with the working directory's `.env`); this module reads no files.
//!
//! Only the parts of the compose schema bake reads are checked closely (the top level, service
//! keys and the `build` section); other sections are accepted as written.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_yaml::Value as Yaml;

use super::ast::{Attr, Block, Body, Expr, ExprKind, ObjectKey, Part};
use crate::source::{Diag, Diags, FileId, Span};

const CODE: &str = "syntax::compose";

pub fn parse(file: FileId, text: &str, env: &BTreeMap<String, String>) -> Result<Body, Diags> {
    let loc = Locator::new(file, text);
    let mut diags = Diags::default();
    let root = match load(text, &loc) {
        Ok(root) => root,
        Err(d) => {
            diags.push(d);
            return Err(diags);
        }
    };
    let env = Env::new(env, &root);
    let mut path = Vec::new();
    let root = interpolate(root, &env, &loc, &mut path, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let mut lower = Lower { loc, env, diags };
    let body = lower.top(&root);
    if lower.diags.has_errors() {
        Err(lower.diags)
    } else {
        Ok(body)
    }
}

// ---------------------------------------------------------------------------------------------
// The document: YAML as compose-go sees it after decoding.

/// A YAML value with string keys, in file order.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as Go's `fmt.Sprint` writes it, which is how compose turns numbers and booleans
    /// in string maps (`args: { N: 1 }`) into strings.
    fn text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(go_float(*f)),
            Node::Bool(b) => Some(b.to_string()),
            Node::Null | Node::List(_) | Node::Map(_) => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// Parses the YAML and applies what yaml.v3 and compose-go apply while decoding: `<<` merge keys,
/// `!reset` (drops the value) and `!override` (keeps it).
fn load(text: &str, loc: &Locator) -> Result<Node, Diag> {
    let yaml_error = |e: serde_yaml::Error| {
        let msg = e.to_string();
        if msg.contains("more than one document") {
            return Diag::error(CODE, "compose files with several YAML documents are not supported")
                .label(loc.whole(), "in this file")
                .help("keep one document per file (drop the extra `---` separators), or split it into several `-f` files");
        }
        // The label shows where; the positions in the message would only repeat it.
        let msg = POSITION.replace_all(&msg, "");
        let span = e
            .location()
            .map_or(loc.whole(), |l| loc.line_col(l.line(), l.column()));
        Diag::error(CODE, format!("invalid YAML: {msg}"))
            .label(span, "here")
            .help("fix the YAML syntax at the marked position")
    };
    let mut value: Yaml = serde_yaml::from_str(text).map_err(yaml_error)?;
    value.apply_merge().map_err(yaml_error)?;
    let mut path = Vec::new();
    match to_node(value, &mut path) {
        Ok(Some(Node::Null) | None) => Err(Diag::error(CODE, "empty compose file")
            .label(loc.whole(), "in this file")
            .help(
                "add a `services:` section with at least one service that has a `build:` section",
            )),
        Ok(Some(node)) => Ok(node),
        Err(key) => Err(
            Diag::error(CODE, format!("non-string key `{key}` in compose file"))
                .label(
                    loc.key(&path.iter().map(String::as_str).collect::<Vec<_>>()),
                    "under this key",
                )
                .help("quote the key to make it a string"),
        ),
    }
}

/// Converts to a [`Node`]; `None` for a `!reset` value. Fails with the text of a key that is not
/// a string (compose rejects those), leaving `path` at its parent.
fn to_node(v: Yaml, path: &mut Vec<String>) -> Result<Option<Node>, String> {
    Ok(Some(match v {
        Yaml::Null => Node::Null,
        Yaml::Bool(b) => Node::Bool(b),
        Yaml::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Node::Int(i.into()),
            (None, Some(u)) => Node::Int(u.into()),
            _ => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Yaml::String(s) => Node::Str(s),
        Yaml::Sequence(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(to_node(item, path)?);
            }
            Node::List(out)
        }
        Yaml::Mapping(m) => {
            let mut out = Vec::new();
            for (k, v) in m {
                let Yaml::String(key) = k else {
                    return Err(serde_yaml::to_string(&k)
                        .unwrap_or_default()
                        .trim()
                        .to_string());
                };
                path.push(key.clone());
                if let Some(v) = to_node(v, path)? {
                    out.push((key, v));
                }
                path.pop();
            }
            Node::Map(out)
        }
        Yaml::Tagged(t) => {
            if t.tag == "reset" {
                return Ok(None);
            }
            return to_node(t.value, path);
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// Interpolation, ported from compose-go's `template` package, quirks included.

/// The variables interpolation sees: the caller's environment plus `COMPOSE_PROJECT_NAME`,
/// which compose-go adds when it is unset (buildx names the project `bake`).
struct Env<'a> {
    vars: &'a BTreeMap<String, String>,
    project: String,
}

impl<'a> Env<'a> {
    fn new(vars: &'a BTreeMap<String, String>, root: &Node) -> Env<'a> {
        // A `name:` in the file renames the project, after its own interpolation.
        let lookup = |k: &str| vars.get(k).cloned();
        let named = root
            .get("name")
            .and_then(Node::text)
            .and_then(|n| substitute(&n, &lookup).ok());
        let project = named
            .map(|n| normalize_project_name(&n))
            .filter(|n| !n.is_empty());
        Env {
            vars,
            project: project.unwrap_or_else(|| "bake".to_string()),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        match self.vars.get(key) {
            Some(v) => Some(v.clone()),
            None if key == "COMPOSE_PROJECT_NAME" => Some(self.project.clone()),
            None => None,
        }
    }
}

fn normalize_project_name(s: &str) -> String {
    let kept: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Interpolates every string value (never keys), collecting one diagnostic per bad value.
fn interpolate(
    node: Node,
    env: &Env,
    loc: &Locator,
    path: &mut Vec<String>,
    diags: &mut Diags,
) -> Node {
    match node {
        Node::Str(s) => match substitute(&s, &|k| env.get(k)) {
            Ok(out) => Node::Str(out),
            Err(e) => {
                let span = loc.key(&path.iter().map(String::as_str).collect::<Vec<_>>());
                let d = match e {
                    SubstError::Invalid => Diag::error(
                        CODE,
                        format!("invalid interpolation format in `{s}`"),
                    )
                    .label(span, "in this value")
                    .help("write variables as `${NAME}` or `$NAME`, and a literal `$` as `$$`"),
                    SubstError::Missing { var, reason } => {
                        let why = if reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {reason}")
                        };
                        Diag::error(
                            CODE,
                            format!("required variable `{var}` is missing a value{why}"),
                        )
                        .label(span, "required here")
                        .help(format!(
                            "set `{var}` in the environment or in a `.env` file"
                        ))
                    }
                };
                diags.push(d);
                Node::Str(s)
            }
        },
        Node::List(items) => {
            path.push("[]".to_string());
            let out = items
                .into_iter()
                .map(|i| interpolate(i, env, loc, path, diags))
                .collect();
            path.pop();
            Node::List(out)
        }
        Node::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    path.push(k.clone());
                    let v = interpolate(v, env, loc, path, diags);
                    path.pop();
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

#[derive(Debug, PartialEq)]
enum SubstError {
    Invalid,
    Missing { var: String, reason: String },
}

static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))")
        .expect("the interpolation pattern is valid")
});

static POSITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r" at line \d+ column \d+").expect("the position pattern is valid")
});

type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn substitute(template: &str, lookup: &Lookup) -> Result<String, SubstError> {
    let mut first_err = None;
    let out = PATTERN.replace_all(template, |caps: &Captures| {
        let whole = caps.get(0).map_or("", |m| m.as_str());
        replace(whole, lookup).unwrap_or_else(|e| {
            first_err.get_or_insert(e);
            String::new()
        })
    });
    match first_err {
        Some(e) => Err(e),
        None => Ok(out.into_owned()),
    }
}

/// One match of [`PATTERN`]. Compat: the braced form's `(.*)` is greedy, so a match runs to the
/// last `}` on the line; compose-go cuts it at the first balanced `}` and interpolates the rest
/// separately, and picks the modifier by the first separator in the whole match.
fn replace(whole: &str, lookup: &Lookup) -> Result<String, SubstError> {
    let sep = [":?", "?", ":-", "-", ":+", "+"]
        .into_iter()
        .filter_map(|s| whole.find(s).map(|i| (i, s)))
        .min()
        .map(|(_, s)| s);
    let (head, rest) = match closing_brace(whole) {
        Some(i) => (&whole[..=i], &whole[i + 1..]),
        None => (whole, ""),
    };
    let caps = PATTERN.captures(head).ok_or(SubstError::Invalid)?;
    let group = |name: &str| caps.name(name).map_or("", |m| m.as_str());
    if !group("escaped").is_empty() {
        return Ok("$".to_string());
    }
    let (name, braced) = match group("named") {
        "" => (group("braced"), true),
        named => (named, false),
    };
    if name.is_empty() {
        return Err(SubstError::Invalid);
    }
    if braced
        && let Some(sep) = sep
        && let Some(value) = modifier(name, sep, lookup)?
    {
        return Ok(value + &substitute(rest, lookup)?);
    }
    Ok(lookup(name).unwrap_or_default())
}

/// Applies `${NAME<sep>ARG}`; `None` when `sep` is not in the substitution.
fn modifier(substitution: &str, sep: &str, lookup: &Lookup) -> Result<Option<String>, SubstError> {
    let Some((name, arg)) = substitution.split_once(sep) else {
        return Ok(None);
    };
    let arg = substitute(arg, lookup)?;
    let value = lookup(name);
    let set_and_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(Some(match sep {
        ":?" | "?" => match value {
            Some(v) if sep == "?" || set_and_nonempty => v,
            _ => {
                return Err(SubstError::Missing {
                    var: name.to_string(),
                    reason: arg,
                });
            }
        },
        ":-" if !set_and_nonempty => arg,
        "-" if value.is_none() => arg,
        ":+" if set_and_nonempty => arg,
        "+" if value.is_some() => arg,
        _ => value.unwrap_or_default(),
    }))
}

/// compose-go's `getFirstBraceClosingIndex`: the `}` that closes the first `{`, skipping the
/// character after each `{` as it does.
fn closing_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut open = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Lowering: the checks compose-go's schema and consistency pass make on what bake reads, then
// buildx's `ParseCompose`.

const TOP_KEYS: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
];

#[rustfmt::skip]
const SERVICE_KEYS: &[&str] = &[
    "develop", "deploy", "annotations", "attach", "build", "blkio_config", "cap_add", "cap_drop",
    "cgroup", "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset",
    "credential_spec", "depends_on", "device_cgroup_rules", "devices", "dns", "dns_opt",
    "dns_search", "domainname", "entrypoint", "env_file", "environment", "expose", "extends",
    "external_links", "extra_hosts", "group_add", "healthcheck", "hostname", "image", "init", "ipc",
    "isolation", "labels", "links", "logging", "mac_address", "mem_limit", "mem_reservation",
    "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "privileged", "profiles",
    "pull_policy", "read_only", "restart", "runtime", "scale", "security_opt", "shm_size",
    "secrets", "sysctls", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "tmpfs",
    "tty", "ulimits", "user", "uts", "userns_mode", "volumes", "volumes_from", "working_dir",
];

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Str,
    Bool,
    StrList,
    /// A mapping of scalars, or a list of distinct `KEY=VALUE` strings.
    ListOrDict,
    IntOrStr,
    Map,
    /// Checked where it is read.
    Any,
}

impl Shape {
    fn accepts(self, n: &Node) -> bool {
        let all_str = |items: &[Node]| items.iter().all(|i| matches!(i, Node::Str(_)));
        match self {
            Shape::Str => matches!(n, Node::Str(_)),
            Shape::Bool => matches!(n, Node::Bool(_)),
            Shape::StrList => matches!(n, Node::List(items) if all_str(items)),
            Shape::ListOrDict => match n {
                Node::Map(m) => m
                    .iter()
                    .all(|(_, v)| !matches!(v, Node::List(_) | Node::Map(_))),
                Node::List(items) => {
                    all_str(items)
                        && items
                            .iter()
                            .enumerate()
                            .all(|(i, x)| !items[..i].contains(x))
                }
                _ => false,
            },
            Shape::IntOrStr => matches!(n, Node::Int(_) | Node::Str(_)),
            Shape::Map => matches!(n, Node::Map(_)),
            Shape::Any => true,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Str => "a string",
            Shape::Bool => "`true` or `false`",
            Shape::StrList => "a list of strings",
            Shape::ListOrDict => "a mapping, or a list of distinct `KEY=VALUE` strings",
            Shape::IntOrStr => "a number of bytes or a size such as `128m`",
            Shape::Map => "a mapping",
            Shape::Any => "any value",
        }
    }
}

const BUILD_KEYS: &[(&str, Shape)] = &[
    ("context", Shape::Str),
    ("dockerfile", Shape::Str),
    ("dockerfile_inline", Shape::Str),
    ("args", Shape::ListOrDict),
    ("ssh", Shape::ListOrDict),
    ("labels", Shape::ListOrDict),
    ("cache_from", Shape::StrList),
    ("cache_to", Shape::StrList),
    ("no_cache", Shape::Bool),
    ("additional_contexts", Shape::ListOrDict),
    ("network", Shape::Str),
    ("pull", Shape::Bool),
    ("target", Shape::Str),
    ("shm_size", Shape::IntOrStr),
    ("extra_hosts", Shape::ListOrDict),
    ("isolation", Shape::Str),
    ("privileged", Shape::Bool),
    ("secrets", Shape::Any),
    ("tags", Shape::StrList),
    ("ulimits", Shape::Map),
    ("platforms", Shape::StrList),
];

/// A top-level `secrets:` definition, as a build secret refers to it.
struct SecretDef {
    file: String,
    environment: String,
    external: bool,
}

type Val = (String, Span);

/// What buildx's `ParseCompose` fills in for one service, before it becomes attributes.
#[derive(Default)]
struct Target {
    context: Option<Val>,
    dockerfile: Option<Val>,
    dockerfile_inline: Option<Val>,
    target: Option<Val>,
    shm_size: Option<Val>,
    args: Option<(Vec<(String, String)>, Span)>,
    labels: Option<(Vec<(String, String)>, Span)>,
    contexts: Option<(Vec<(String, String)>, Span)>,
    tags: Vec<Val>,
    cache_from: Vec<Val>,
    cache_to: Vec<Val>,
    secret: Vec<Val>,
    ssh: Vec<Val>,
    platforms: Vec<Val>,
    output: Vec<Val>,
    no_cache_filter: Vec<Val>,
    ulimits: Vec<Val>,
    pull: Option<(bool, Span)>,
    no_cache: Option<(bool, Span)>,
}

struct Lower<'a> {
    loc: Locator<'a>,
    env: Env<'a>,
    diags: Diags,
}

impl Lower<'_> {
    fn error(
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
    fn expect(&mut self, path: &[&str], node: &Node, shape: Shape) -> bool {
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

    fn top(&mut self, root: &Node) -> Body {
        let Node::Map(top) = root else {
            self.error(
                &[],
                "a compose file must be a mapping",
                "not a mapping",
                "start the file with `services:`",
            );
            return Body::default();
        };
        for (key, value) in top {
            if key.starts_with("x-") {
                continue;
            }
            let shape = match key.as_str() {
                "version" | "name" => Shape::Str,
                "services" | "networks" | "volumes" | "secrets" | "configs" => Shape::Map,
                "include" => {
                    self.error(
                        &[key],
                        "`include` is not supported in compose files",
                        "here",
                        "list the included compose files with further `-f` options instead",
                    );
                    continue;
                }
                _ => {
                    self.error(
                        &[key],
                        format!("unknown top-level key `{key}` in compose file"),
                        "unknown key",
                        format!(
                            "compose files have {}, and extension keys starting with `x-`",
                            quoted(TOP_KEYS)
                        ),
                    );
                    continue;
                }
            };
            self.expect(&[key], value, shape);
        }
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

    fn secret_defs(&mut self, node: Option<&Node>) -> BTreeMap<String, SecretDef> {
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
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            || name.is_empty()
        {
            self.error(
                &path,
                format!("invalid service name `{name}`"),
                "here",
                "service names may hold letters, digits, `.`, `_` and `-`",
            );
            return None;
        }
        let Node::Map(keys) = service else {
            self.expect(&path, service, Shape::Map);
            return None;
        };
        let errors = self.diags.0.len();
        for (key, value) in keys {
            if key.starts_with("x-") {
                continue;
            }
            let kpath = ["services", name, key.as_str()];
            match key.as_str() {
                "image" => _ = self.expect(&kpath, value, Shape::Str),
                "environment" => _ = self.expect(&kpath, value, Shape::ListOrDict),
                "extends" => self.error(
                    &kpath,
                    "`extends` is not supported in compose files",
                    "here",
                    "copy the base service's `build` section into this service",
                ),
                k if SERVICE_KEYS.contains(&k) => {}
                _ => self.error(
                    &kpath,
                    format!("unknown key `{key}` in service `{name}`"),
                    "unknown key",
                    suggest(key, SERVICE_KEYS),
                ),
            }
        }
        let image = service.get("image").and_then(Node::as_str).unwrap_or("");
        let Some(build) = service.get("build") else {
            // A misspelt `build` key is already reported; a second error would only distract.
            if image.is_empty() && self.diags.0.len() == errors {
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

    fn build(
        &mut self,
        name: &str,
        build: &Node,
        service: &Node,
        secrets: &BTreeMap<String, SecretDef>,
    ) -> Option<Target> {
        let base = ["services", name, "build"];
        let mut t = Target::default();
        let b = match build {
            Node::Str(context) => {
                t.context = Some((self.resolve_context(context), self.loc.key(&base)))
                    .filter(|(c, _)| !c.is_empty());
                return Some(t);
            }
            Node::Map(b) => b,
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
        let errors = self.diags.0.len();
        for (key, value) in b {
            if key.starts_with("x-") {
                continue;
            }
            match BUILD_KEYS.iter().find(|(k, _)| k == key) {
                Some((_, shape)) => _ = self.expect(&child(&base, key), value, *shape),
                None => self.error(
                    &child(&base, key),
                    format!("unknown key `{key}` in the `build` section of `{name}`"),
                    "unknown key",
                    suggest(key, &BUILD_KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>()),
                ),
            }
        }
        if self.diags.0.len() > errors {
            return None;
        }
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
    fn args(&self, args: &Node, service_env: Option<&Node>) -> Vec<(String, String)> {
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

    fn additional_contexts(&mut self, path: &[&str], node: &Node) -> Vec<(String, String)> {
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

    fn shm_size(&mut self, path: &[&str], node: &Node, t: &mut Target) {
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

    fn ulimits(&mut self, path: &[&str], ulimits: &[(String, Node)], t: &mut Target) {
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

    fn build_secrets(
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

    /// buildx's `composeExtTarget`: the `x-bake` extension adds what the compose build
    /// specification lacks. Lists append to the compose values without duplicates.
    fn x_bake(&mut self, path: &[&str], ext: &Node, t: &mut Target) {
        let Node::Map(entries) = ext else {
            if *ext != Node::Null {
                self.expect(path, ext, Shape::Map);
            }
            return;
        };
        for (key, value) in entries {
            let kpath = child(path, key);
            let span = self.loc.key(&kpath);
            let list = match key.as_str() {
                "tags" => &mut t.tags,
                "cache-from" => &mut t.cache_from,
                "cache-to" => &mut t.cache_to,
                "secret" => &mut t.secret,
                "ssh" => &mut t.ssh,
                "platforms" => &mut t.platforms,
                "output" => &mut t.output,
                "no-cache-filter" => &mut t.no_cache_filter,
                "pull" | "no-cache" => {
                    let Some(b) = self.x_bake_bool(&kpath, key, value) else {
                        continue;
                    };
                    *(if key == "pull" {
                        &mut t.pull
                    } else {
                        &mut t.no_cache
                    }) = Some((b, span));
                    continue;
                }
                "contexts" => {
                    self.x_bake_contexts(&kpath, value, span, t);
                    continue;
                }
                // Compat: yaml.v3 ignores fields the x-bake struct does not have.
                _ => continue,
            };
            let items: Vec<String> = match value {
                Node::Null => continue,
                Node::List(items)
                    if items.iter().all(|i| i.text().is_some() || *i == Node::Null) =>
                {
                    items.iter().map(|i| i.text().unwrap_or_default()).collect()
                }
                Node::List(_) | Node::Map(_) => {
                    let msg = format!("`x-bake.{key}` must be a list of strings or one string");
                    self.error(&kpath, msg, "here", format!("write `{key}: [\"...\"]`"));
                    continue;
                }
                // A single string holds space-separated values.
                scalar => {
                    let text = scalar.text().unwrap_or_default();
                    text.split_whitespace().map(str::to_string).collect()
                }
            };
            if !items.is_empty() {
                list.extend(items.into_iter().map(|v| (v, span)));
                dedup(list);
            }
        }
    }

    /// yaml.v3's decoding into `*bool`: YAML 1.1 words are accepted, but quoted `"true"` is not.
    fn x_bake_bool(&mut self, path: &[&str], key: &str, value: &Node) -> Option<bool> {
        match value {
            Node::Bool(b) => Some(*b),
            Node::Str(s)
                if matches!(
                    s.as_str(),
                    "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
                ) =>
            {
                Some(true)
            }
            Node::Str(s)
                if matches!(
                    s.as_str(),
                    "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF"
                ) =>
            {
                Some(false)
            }
            Node::Null => None,
            other => {
                let msg = format!(
                    "`x-bake.{key}` must be `true` or `false`, not {}",
                    other.kind()
                );
                self.error(
                    path,
                    msg,
                    "here",
                    format!("write `{key}: true` without quotes"),
                );
                None
            }
        }
    }

    fn x_bake_contexts(&mut self, path: &[&str], value: &Node, span: Span, t: &mut Target) {
        let entries = match value {
            Node::Null => return,
            Node::Map(m)
                if m.iter()
                    .all(|(_, v)| !matches!(v, Node::List(_) | Node::Map(_))) =>
            {
                m
            }
            _ => {
                let msg = "`x-bake.contexts` must be a mapping of names to contexts";
                self.error(path, msg, "here", "write `contexts: { NAME: PATH }`");
                return;
            }
        };
        let (mut have, s) = t.contexts.take().unwrap_or((Vec::new(), span));
        for (k, v) in entries {
            // Compat: buildx's dedupMap keeps the first value, so compose's
            // `additional_contexts` win over `x-bake.contexts`.
            if !have.iter().any(|(h, _)| h == k) {
                have.push((k.clone(), v.text().unwrap_or_default()));
            }
        }
        t.contexts = Some((have, s));
    }

    /// compose-go's path resolution with an empty working directory: `~` expands to `HOME`,
    /// and a relative path is cleaned (it stays relative).
    fn resolve_path(&self, p: &str) -> String {
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
    fn resolve_context(&self, c: &str) -> String {
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
    fn into_attrs(self) -> Vec<Attr> {
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
fn key_values(node: &Node, null_is_none: bool) -> Vec<(String, Option<String>)> {
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

fn child<'k>(path: &[&'k str], key: &'k str) -> Vec<&'k str> {
    let mut out = path.to_vec();
    out.push(key);
    out
}

fn dedup(list: &mut Vec<Val>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|(v, _)| seen.insert(v.clone()));
}

#[rustfmt::skip]
const ULIMIT_NAMES: &[&str] = &[
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack",
];

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Help for an unknown key: the known key it most likely meant (the same rule as every
/// other "did you mean"), else the list of known keys.
fn suggest(key: &str, known: &[&str]) -> String {
    match crate::base::did_you_mean(key, known.iter().copied()) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!(
            "known keys are {}, and extension keys starting with `x-`",
            quoted(known)
        ),
    }
}

fn lit(s: &str, span: Span) -> Expr {
    Expr::new(ExprKind::Template(vec![Part::Lit(s.to_string())]), span)
}

fn attr(name: &str, expr: Expr) -> Attr {
    Attr {
        name: name.to_string(),
        name_span: expr.span,
        span: expr.span,
        expr,
    }
}

/// Keys such as `com.acme.role` are not identifiers, so they become literal string keys.
fn object_key(k: &str, span: Span) -> ObjectKey {
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

// ---------------------------------------------------------------------------------------------
// Go's formatting and parsing, where compose's output depends on it.

/// Go's `%v` for a float64: the shortest digits, in exponent form outside 1e-4 ≤ |f| < 1e21's
/// `%g` window of six digits.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f == 0.0 || (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

/// docker's `MemBytes.String()`: go-units' `BytesSize`, i.e. `%.4g` and a binary unit.
fn bytes_size(bytes: i64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    let e = format!("{size:.3e}");
    let exp: i32 = e
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let num = if (-4..4).contains(&exp) {
        trim(format!("{size:.*}", (3 - exp) as usize))
    } else {
        let (m, _) = e.split_once('e').unwrap_or((&e, ""));
        format!(
            "{}e{}{:02}",
            trim(m.to_string()),
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    };
    format!("{num}{}", UNITS[unit])
}

/// go-units' `RAMInBytes` in the version Debian's buildx 0.13.1 (the reference) links: a
/// decimal number, an optional space and binary unit (`k`..`p`, optionally `i` and `b`, any case).
fn ram_in_bytes(s: &str) -> Result<i64, String> {
    static SIZE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([0-9]+(?:\.[0-9]+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
            .expect("the size pattern is valid")
    });
    let caps = SIZE
        .captures(s)
        .ok_or_else(|| format!("invalid size: '{s}'"))?;
    let num = caps.get(1).map_or("", |m| m.as_str());
    let size: f64 = num
        .parse()
        .map_err(|_| format!("invalid number: '{num}'"))?;
    let exp = match caps
        .get(2)
        .map(|m| m.as_str().to_ascii_lowercase())
        .as_deref()
    {
        Some("k") => 1,
        Some("m") => 2,
        Some("g") => 3,
        Some("t") => 4,
        Some("p") => 5,
        _ => 0,
    };
    Ok((size * 1024f64.powi(exp)) as i64)
}

// ---------------------------------------------------------------------------------------------
// Spans: serde_yaml keeps no positions, so keys are found again in the text.

struct Locator<'a> {
    file: FileId,
    text: &'a str,
    /// Byte range of each line, without its line break.
    lines: Vec<(usize, usize)>,
}

impl<'a> Locator<'a> {
    fn new(file: FileId, text: &'a str) -> Locator<'a> {
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let content = line.trim_end_matches(['\n', '\r']);
            lines.push((start, start + content.len()));
            start += line.len();
        }
        Locator { file, text, lines }
    }

    fn whole(&self) -> Span {
        Span::new(self.file, 0..self.text.len())
    }

    /// The character at a 1-based line and column, as parsers report them.
    fn line_col(&self, line: usize, col: usize) -> Span {
        let Some(&(start, end)) = self.lines.get(line.saturating_sub(1)) else {
            // Past the last line: the input ended early, so point at its last character.
            let last = self.text.trim_end();
            let at = last.char_indices().next_back().map_or(0, |(i, _)| i);
            return Span::new(self.file, at..last.len());
        };
        let at = self.text[start..end]
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(end, |(i, _)| start + i);
        let next = self.text[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8());
        Span::new(self.file, at..next)
    }

    /// The key at `path` in block-style YAML, or the nearest ancestor found, or the whole file.
    fn key(&self, path: &[&str]) -> Span {
        let mut region = 0..self.lines.len();
        let mut found = None;
        for key in path {
            let Some((line, span)) = self.child(region.clone(), key) else {
                break;
            };
            found = Some(span);
            let indent = self.indent(line);
            let end = (line + 1..region.end)
                .find(|&l| !self.blank(l) && self.indent(l) <= indent)
                .unwrap_or(region.end);
            region = line + 1..end;
        }
        found.unwrap_or_else(|| self.whole())
    }

    /// A direct child key of a region: a line at the region's smallest indentation.
    fn child(&self, region: std::ops::Range<usize>, key: &str) -> Option<(usize, Span)> {
        let min = region
            .clone()
            .filter(|&l| !self.blank(l))
            .map(|l| self.indent(l))
            .min()?;
        region
            .filter(|&l| !self.blank(l) && self.indent(l) == min)
            .find_map(|l| {
                let (start, end) = self.lines[l];
                let content = &self.text[start + min..end];
                [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                    .into_iter()
                    .find_map(|k| {
                        let after = content.strip_prefix(k.as_str())?.trim_start_matches(' ');
                        let value = after.strip_prefix(':')?;
                        (value.is_empty() || value.starts_with([' ', '\t']))
                            .then(|| (l, Span::new(self.file, start + min..start + min + k.len())))
                    })
            })
    }

    fn indent(&self, line: usize) -> usize {
        let (start, end) = self.lines[line];
        self.text[start..end].len() - self.text[start..end].trim_start_matches(' ').len()
    }

    fn blank(&self, line: usize) -> bool {
        let (start, end) = self.lines[line];
        let t = self.text[start..end].trim();
        t.is_empty() || t.starts_with('#')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the lowered body one block a line: `target name: key=value ...`.
    fn check(yaml: &str, env: &[(&str, &str)]) -> String {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = match parse(FileId(0), yaml, &env) {
            Ok(b) => b,
            Err(d) => panic!(
                "unexpected diagnostics: {:?}",
                d.0.iter().map(|d| &d.message).collect::<Vec<_>>()
            ),
        };
        fn show(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Bool(b) => b.to_string(),
                ExprKind::Array(items) => {
                    format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(","))
                }
                ExprKind::Object(items) => {
                    let kv = items.iter().map(|(k, v)| {
                        let k = match k {
                            ObjectKey::Ident(k, _) => k.clone(),
                            ObjectKey::Expr(x) => x.as_literal_str().unwrap_or_default(),
                        };
                        format!("{k}={}", show(v))
                    });
                    format!("{{{}}}", kv.collect::<Vec<_>>().join(","))
                }
                _ => e
                    .as_literal_str()
                    .map_or_else(|| "?".into(), |s| format!("{s:?}")),
            }
        }
        body.blocks
            .iter()
            .map(|b| {
                let attrs: Vec<String> = b
                    .body
                    .attrs
                    .iter()
                    .map(|a| format!(" {}={}", a.name, show(&a.expr)))
                    .collect();
                format!("{} {}:{}", b.kind, b.labels[0].0, attrs.concat())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first diagnostic's message and the text its primary label points at.
    fn check_diag(yaml: &str) -> (String, String) {
        let d = parse(FileId(0), yaml, &BTreeMap::new()).expect_err("a diagnostic");
        let first = &d.0[0];
        let span = first.primary().expect("a label");
        (first.message.clone(), yaml[span.range()].to_string())
    }

    #[test]
    fn string_build_is_the_context() {
        assert_eq!(
            check("services:\n  app:\n    build: ./app/\n", &[]),
            "target app: context=\"app\"\ngroup default: targets=[\"app\"]"
        );
    }

    #[test]
    fn mapping_build() {
        let yaml = "services:\n  web:\n    build:\n      dockerfile: Dockerfile.prod\n      target: run\n      labels:\n        com.acme.role: ui\n      cache_from: [a]\n    image: acme/web\n  db:\n    image: postgres\n";
        assert_eq!(
            check(yaml, &[]),
            "target web: context=\".\" dockerfile=\"Dockerfile.prod\" target=\"run\" labels={com.acme.role=\"ui\"} tags=[\"acme/web\"] cache-from=[\"a\"]\ngroup default: targets=[\"web\"]"
        );
    }

    #[test]
    fn list_args_take_bare_names_from_the_environment() {
        let yaml = "services:\n  a:\n    build:\n      args: [X=1, FROM_SVC, FROM_ENV, MISSING]\n    environment:\n      FROM_SVC: s\n";
        assert_eq!(
            check(yaml, &[("FROM_ENV", "e"), ("FROM_SVC", "ignored")]),
            "target a: context=\".\" args={X=\"1\",FROM_SVC=\"s\",FROM_ENV=\"e\"}\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn x_bake_appends_without_duplicates() {
        let yaml = "services:\n  a:\n    build:\n      tags: [t1]\n      x-bake:\n        tags: [t1, t2]\n        platforms: linux/amd64 linux/arm64\n        pull: true\n";
        assert_eq!(
            check(yaml, &[]),
            "target a: context=\".\" tags=[\"t1\",\"t2\"] platforms=[\"linux/amd64\",\"linux/arm64\"] pull=true\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn interpolation_defaults_and_escapes() {
        let yaml = "services:\n  a:\n    build:\n      context: ${CTX:-dflt}\n      target: ${T-x}$${LIT}\n      args:\n        V: ${SET:+yes}/$SET\n";
        assert_eq!(
            check(yaml, &[("T", ""), ("SET", "s")]),
            "target a: context=\"dflt\" target=\"${LIT}\" args={V=\"yes/s\"}\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn image_is_the_tag_when_there_are_none() {
        let yaml = "services:\n  a:\n    image: acme/a:1\n    build: .\n";
        assert_eq!(
            check(yaml, &[]),
            "target a: context=\".\" tags=[\"acme/a:1\"]\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn dotted_service_names_become_underscores() {
        assert_eq!(
            check("services:\n  api.v2:\n    build: .\n", &[]),
            "target api_v2: context=\".\"\ngroup default: targets=[\"api_v2\"]"
        );
    }

    #[test]
    fn secrets_shm_size_and_ulimits() {
        let yaml = "services:\n  a:\n    build:\n      secrets: [tok]\n      shm_size: 128m\n      ulimits:\n        nofile: { soft: 1, hard: 2 }\n        nproc: 5\nsecrets:\n  tok:\n    file: ./t.txt\n";
        assert_eq!(
            check(yaml, &[]),
            "target a: context=\".\" shm-size=\"128MiB\" secret=[\"id=tok,src=t.txt\"] ulimits=[\"nofile=1:2\",\"nproc=0:0\"]\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn yaml_error_points_at_its_position() {
        let (msg, at) = check_diag("services:\n  a: [b\n");
        assert_eq!(
            msg,
            "invalid YAML: did not find expected ',' or ']', while parsing a flow sequence"
        );
        assert_eq!(at, "b");
        let (msg, at) = check_diag("services:\n  a:\n    build: .\n   bad: x\n");
        assert!(msg.starts_with("invalid YAML"), "{msg}");
        assert_eq!(at, "b");
    }

    #[test]
    fn invalid_files_are_diagnostics() {
        assert_eq!(
            check_diag("name: x\n").0,
            "not a compose file: it has no `services` section"
        );
        assert_eq!(check_diag("").0, "empty compose file");
        assert_eq!(check_diag("- a\n").0, "a compose file must be a mapping");
        assert_eq!(
            check_diag("services:\n  a:\n    biuld: .\n"),
            ("unknown key `biuld` in service `a`".into(), "biuld".into())
        );
        assert_eq!(
            check_diag("services:\n  a:\n    build:\n      tags: x\n").1,
            "tags"
        );
        assert_eq!(
            check_diag("services:\n  a:\n    build: .\n    image: ${X:?need it}\n").0,
            "required variable `X` is missing a value: need it"
        );
        assert_eq!(
            check_diag("services:\n  a:\n    build: ${1}\n").0,
            "invalid interpolation format in `${1}`"
        );
    }

    #[test]
    fn substitute_matches_compose() {
        let env = |k: &str| match k {
            "A" => Some("a".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        let s = |t: &str| substitute(t, &env);
        assert_eq!(s("${A:-x}/${B:-y}").as_deref(), Ok("a/y"));
        assert_eq!(s("${E:-d} ${E-d} ${B+p} ${A:+p}").as_deref(), Ok("d   p"));
        assert_eq!(s("${B:-${A}}").as_deref(), Ok("a"));
        assert_eq!(s("$1 $$A $A_ ${A}").as_deref(), Ok("$1 $A  a"));
        assert_eq!(
            s("${E:?}"),
            Err(SubstError::Missing {
                var: "E".into(),
                reason: String::new()
            })
        );
        assert_eq!(s("${E?}").as_deref(), Ok(""));
    }

    #[test]
    fn go_formatting() {
        assert_eq!(bytes_size(134217728), "128MiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(1000), "1000B");
        assert_eq!(bytes_size(1073741824 + 1), "1GiB");
        assert_eq!(ram_in_bytes("1.5g"), Ok(1610612736));
        assert_eq!(ram_in_bytes("64 MB"), Ok(67108864));
        assert_eq!(ram_in_bytes("5ib"), Ok(5));
        assert!(ram_in_bytes("12x").is_err());
        assert!(ram_in_bytes("1e3").is_err());
        assert!(ram_in_bytes("1.2.3m").is_err());
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456.5), "123456.5");
        assert_eq!(crate::base::clean_path("./a/../b/"), "b");
        assert_eq!(crate::base::clean_path(""), ".");
    }

    #[test]
    fn no_panic_on_odd_input() {
        for yaml in [
            "~",
            "services: 1",
            "services:\n  a: ~",
            "services:\n  a:\n    build: [1]",
            "services:\n  a:\n    build:\n      x-bake: 3",
            "{1: 2}",
            "a: !reset b",
            "services:\n  ä:\n    build: .",
            "---\na: 1\n---\nb: 2\n",
            "services:\n  a:\n    build:\n      ulimits: {nofile: x}\n      shm_size: ''",
        ] {
            let _ = parse(FileId(0), yaml, &BTreeMap::new());
        }
    }
}
