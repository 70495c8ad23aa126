//! buildx's `x-bake` compose extension.

use super::lower::{Lower, Target, child, dedup};
use super::schema::Shape;
use super::yaml::Node;
use crate::source::Span;

impl Lower<'_> {
    /// buildx's `composeExtTarget`: the `x-bake` extension adds what the compose build
    /// specification lacks. Lists append to the compose values without duplicates.
    pub(super) fn x_bake(&mut self, path: &[&str], ext: &Node, t: &mut Target) {
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
    pub(super) fn x_bake_bool(&mut self, path: &[&str], key: &str, value: &Node) -> Option<bool> {
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

    pub(super) fn x_bake_contexts(
        &mut self,
        path: &[&str],
        value: &Node,
        span: Span,
        t: &mut Target,
    ) {
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
}
