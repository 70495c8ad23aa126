//! What compose-go's schema checks in each file on its own, before files are merged: the
//! top level, each service's name and keys, the `build` section's keys and types, and the
//! forms of `extends` and `env_file`.

use super::lower::{Lower, child, quoted, suggest};
use super::yaml::Node;

pub(super) const TOP_KEYS: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
];

#[rustfmt::skip]
pub(super) const SERVICE_KEYS: &[&str] = &[
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
pub(super) enum Shape {
    Str,
    Bool,
    StrList,
    List,
    /// A mapping of scalars, or a list of distinct `KEY=VALUE` strings.
    ListOrDict,
    IntOrStr,
    Map,
    /// Checked where it is read.
    Any,
}

impl Shape {
    pub(super) fn accepts(self, n: &Node) -> bool {
        let all_str = |items: &[Node]| items.iter().all(|i| matches!(i, Node::Str(_)));
        match self {
            Shape::Str => matches!(n, Node::Str(_)),
            Shape::Bool => matches!(n, Node::Bool(_)),
            Shape::StrList => matches!(n, Node::List(items) if all_str(items)),
            Shape::List => matches!(n, Node::List(_)),
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

    pub(super) fn describe(self) -> &'static str {
        match self {
            Shape::Str => "a string",
            Shape::Bool => "`true` or `false`",
            Shape::StrList => "a list of strings",
            Shape::List => "a list",
            Shape::ListOrDict => "a mapping, or a list of distinct `KEY=VALUE` strings",
            Shape::IntOrStr => "a number of bytes or a size such as `128m`",
            Shape::Map => "a mapping",
            Shape::Any => "any value",
        }
    }
}

pub(super) const BUILD_KEYS: &[(&str, Shape)] = &[
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

impl Lower<'_> {
    /// What compose-go's schema checks in each file on its own, before files are merged: the
    /// top level, each service's keys, and the `build` section's keys and types.
    pub(super) fn schema(&mut self, root: &Node) {
        let Node::Map(top) = root else {
            self.error(
                &[],
                "a compose file must be a mapping",
                "not a mapping",
                "start the file with `services:`",
            );
            return;
        };
        for (key, value) in top {
            if key.starts_with("x-") {
                continue;
            }
            let shape = match key.as_str() {
                "version" | "name" => Shape::Str,
                "services" | "networks" | "volumes" | "secrets" | "configs" => Shape::Map,
                "include" => Shape::List,
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
        let Some(Node::Map(services)) = root.get("services") else {
            return;
        };
        for (name, service) in services {
            self.service_schema(name, service);
        }
    }

    /// A service's name and keys, and its `build` section's keys and types.
    fn service_schema(&mut self, name: &str, service: &Node) {
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
            return;
        }
        let Node::Map(keys) = service else {
            self.expect(&path, service, Shape::Map);
            return;
        };
        for (key, value) in keys {
            if key.starts_with("x-") {
                continue;
            }
            let kpath = ["services", name, key.as_str()];
            match key.as_str() {
                "image" => _ = self.expect(&kpath, value, Shape::Str),
                "environment" => _ = self.expect(&kpath, value, Shape::ListOrDict),
                "extends" => _ = self.extends_schema(&kpath, value),
                "env_file" => _ = self.env_file_schema(&kpath, value),
                k if SERVICE_KEYS.contains(&k) => {}
                _ => self.error(
                    &kpath,
                    format!("unknown key `{key}` in service `{name}`"),
                    "unknown key",
                    suggest(key, SERVICE_KEYS),
                ),
            }
        }
        let base = ["services", name, "build"];
        let b = match service.get("build") {
            None | Some(Node::Str(_)) => return,
            Some(Node::Map(b)) => b,
            Some(other) => {
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
                return;
            }
        };
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
    }

    /// `extends: NAME`, or a mapping with `service` and an optional `file`.
    fn extends_schema(&mut self, path: &[&str], value: &Node) -> bool {
        let ok = match value {
            Node::Str(_) => true,
            Node::Map(m) => {
                matches!(value.get("service"), Some(Node::Str(_)))
                    && m.iter().all(|(k, v)| match k.as_str() {
                        "service" => true,
                        "file" => matches!(v, Node::Str(_)),
                        _ => false,
                    })
            }
            _ => false,
        };
        if !ok {
            self.error(
                path,
                format!("`extends` must name a service, not {}", value.kind()),
                "wrong type",
                "write `extends: NAME`, or `extends: { service: NAME, file: PATH }`",
            );
        }
        ok
    }

    /// `env_file: PATH`, or a list of paths or of mappings with `path` and `required`.
    fn env_file_schema(&mut self, path: &[&str], value: &Node) -> bool {
        let entry = |n: &Node| match n {
            Node::Str(_) => true,
            Node::Map(m) => {
                matches!(n.get("path"), Some(Node::Str(_)))
                    && m.iter().all(|(k, v)| match k.as_str() {
                        "path" => true,
                        "required" => matches!(v, Node::Bool(_)),
                        "format" => matches!(v, Node::Str(_)),
                        _ => false,
                    })
            }
            _ => false,
        };
        let ok = match value {
            Node::Str(_) => true,
            Node::List(items) => items.iter().all(entry),
            _ => false,
        };
        if !ok {
            self.error(
                path,
                "`env_file` must be a path or a list of paths",
                "wrong type",
                "write `env_file: PATH`, or a list of paths or of `{ path: PATH, required: false }`",
            );
        }
        ok
    }
}
