//! Combining compose documents as compose-go v2 does before it checks a project for
//! consistency: each file's canonical form, paths rebased for a file read from another
//! directory, and the merge of one document over another (files given together, `extends`,
//! `include`).

use super::lower::key_values;
use super::yaml::{Node, Tagged};
use crate::base::clean_path;

/// Rewrites the short forms whose long forms merge differently: `build: DIR` becomes
/// `build: { context: DIR }`, `KEY=VALUE` lists become mappings (so a later file's `KEY`
/// replaces an earlier one's instead of adding a second entry), `env_file: PATH` a list and
/// `extends: NAME` a mapping.
pub(super) fn canonical(root: &mut Node) {
    let Some(Node::Map(services)) = root.get_mut("services") else {
        return;
    };
    for (_, service) in services.iter_mut() {
        let Node::Map(keys) = service else {
            continue;
        };
        for (key, value) in keys.iter_mut() {
            match key.as_str() {
                "build" => {
                    if let Node::Str(context) = value
                        && !context.is_empty()
                    {
                        *value = Node::Map(vec![("context".into(), Node::Str(context.clone()))]);
                    }
                    if let Node::Map(build) = value {
                        for (k, v) in build.iter_mut() {
                            if matches!(k.as_str(), "args" | "labels" | "additional_contexts") {
                                to_mapping(v);
                            }
                        }
                    }
                }
                "environment" => to_mapping(value),
                "env_file" | "profiles" => {
                    if let Node::Str(_) = value {
                        *value = Node::List(vec![std::mem::replace(value, Node::Null)]);
                    }
                }
                "extends" => {
                    if let Node::Str(_) = value {
                        let name = std::mem::replace(value, Node::Null);
                        *value = Node::Map(vec![("service".into(), name)]);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A `KEY[=VALUE]` list as the mapping it stands for; a bare `KEY` maps to null.
fn to_mapping(value: &mut Node) {
    if let Node::List(_) = value {
        let pairs = key_values(value, true);
        *value = Node::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k, v.map_or(Node::Null, Node::Str)))
                .collect(),
        );
    }
}

/// compose-go's `ResolveRelativePaths` for a file read from `dir` (relative to the working
/// directory): local build contexts, additional contexts, `env_file`s, `extends.file` and
/// secret files become relative to the working directory. Dockerfiles stay relative to their
/// context, as in compose.
pub(super) fn rebase(root: &mut Node, dir: &str) {
    if dir.is_empty() {
        return;
    }
    if let Some(Node::Map(services)) = root.get_mut("services") {
        for (_, service) in services.iter_mut() {
            if let Some(Node::Map(build)) = service.get_mut("build") {
                for (k, v) in build.iter_mut() {
                    match (k.as_str(), v) {
                        ("context", Node::Str(c)) if is_local(c) => *c = join(dir, c),
                        ("additional_contexts", Node::Map(m)) => {
                            for (_, c) in m.iter_mut() {
                                if let Node::Str(c) = c
                                    && is_local(c)
                                {
                                    *c = join(dir, c);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(Node::List(files)) = service.get_mut("env_file") {
                for f in files.iter_mut() {
                    let path = match f {
                        Node::Map(_) => f.get_mut("path"),
                        other => Some(other),
                    };
                    if let Some(Node::Str(p)) = path {
                        *p = join(dir, p);
                    }
                }
            }
            if let Some(Node::Str(f)) = service.get_mut("extends").and_then(|e| e.get_mut("file")) {
                *f = join(dir, f);
            }
        }
    }
    if let Some(Node::Map(secrets)) = root.get_mut("secrets") {
        for (_, def) in secrets.iter_mut() {
            if let Some(Node::Str(f)) = def.get_mut("file") {
                *f = join(dir, f);
            }
        }
    }
}

/// Whether a build context is a local directory rather than a URL or a named reference.
fn is_local(c: &str) -> bool {
    !c.is_empty()
        && !c.contains("://")
        && !c.starts_with("github.com/")
        && !c.starts_with("git@")
        && !c.starts_with("target:")
        && !c.starts_with("service:")
}

/// `p` relative to the working directory, for a path written relative to `dir`. Absolute
/// paths and `~` paths stay as written.
pub(super) fn join(dir: &str, p: &str) -> String {
    if dir.is_empty() || p.starts_with('/') || p.starts_with('~') {
        p.to_string()
    } else {
        clean_path(&format!("{dir}/{p}"))
    }
}

/// The directory of a path relative to the working directory (`""` for the directory itself).
pub(super) fn parent(p: &str) -> String {
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => p[..i].to_string(),
        None => String::new(),
    }
}

/// Merges a later file's document over what earlier files gave, after its `!reset` paths are
/// dropped and its `!override` paths cleared, so they replace rather than merge.
pub(super) fn merge_file(base: Node, over: Node, tagged: &Tagged) -> Node {
    let mut base = base;
    for path in tagged.reset.iter().chain(&tagged.replace) {
        remove(&mut base, path);
    }
    merge(base, over)
}

fn remove(node: &mut Node, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = node;
    for key in parents {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Node::Map(m) = at {
        m.retain(|(k, _)| k != last);
    }
}

/// compose-go's override merge: mappings merge key by key (an `x-` key is replaced whole),
/// sequences append what they do not hold yet, anything else is replaced by the later value.
pub(super) fn merge(base: Node, over: Node) -> Node {
    match (base, over) {
        (Node::Map(mut have), Node::Map(more)) => {
            for (k, v) in more {
                match have.iter().position(|(h, _)| *h == k) {
                    Some(i) if !k.starts_with("x-") => {
                        let old = std::mem::replace(&mut have[i].1, Node::Null);
                        have[i].1 = merge(old, v);
                    }
                    Some(i) => have[i].1 = v,
                    None => have.push((k, v)),
                }
            }
            Node::Map(have)
        }
        (Node::List(mut have), Node::List(more)) => {
            for item in more {
                if !have.contains(&item) {
                    have.push(item);
                }
            }
            Node::List(have)
        }
        (_, over) => over,
    }
}
