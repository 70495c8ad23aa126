//! `rbake print`: the resolved definition in the shape `docker buildx bake --print` (0.13)
//! prints: top-level `group` and `target`, attributes in bake's order, empty ones omitted.

use serde_json::{Map, Value as J};

use crate::model::{AttrValue, Definition, Target};
use crate::spec::attrs::TARGET_ATTRS;

pub fn to_json(def: &Definition) -> J {
    let mut root = Map::new();
    if !def.groups.is_empty() {
        let mut groups = Map::new();
        for (name, g) in &def.groups {
            let mut o = Map::new();
            // Newer bake prints a group's description; 0.13 has none to print, so this
            // changes no 0.13 output. A target's description stays unprinted, as 0.13 does.
            if let Some(d) = &g.description {
                o.insert("description".into(), J::String(d.clone()));
            }
            o.insert(
                "targets".into(),
                J::Array(
                    g.targets
                        .iter()
                        .map(|t| J::String(t.value.clone()))
                        .collect(),
                ),
            );
            groups.insert(name.clone(), J::Object(o));
        }
        root.insert("group".into(), J::Object(groups));
    }
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();
    let mut targets = Map::new();
    for name in names {
        targets.insert(name.clone(), target(&def.targets[name]));
    }
    root.insert("target".into(), J::Object(targets));
    J::Object(root)
}

pub fn target(t: &Target) -> J {
    let mut o = Map::new();
    for (i, def) in TARGET_ATTRS.iter().enumerate() {
        if !def.printed {
            continue;
        }
        let Some(attr) = &t.attrs[i] else { continue };
        let v = match &attr.value {
            AttrValue::Str(s) => J::String(s.clone()),
            AttrValue::Bool(b) => J::Bool(*b),
            AttrValue::List(items) if items.is_empty() => continue,
            AttrValue::List(items) => {
                J::Array(items.iter().map(|i| J::String(i.value.clone())).collect())
            }
            AttrValue::Map(m) => {
                let entries: Map<String, J> = m
                    .iter()
                    .filter_map(|(k, v)| {
                        v.as_ref().map(|v| (k.clone(), J::String(v.value.clone())))
                    })
                    .collect();
                if entries.is_empty() {
                    continue;
                }
                J::Object(entries)
            }
        };
        o.insert(def.key.into(), v);
    }
    J::Object(o)
}

/// Pretty JSON with two-space indent, as bake prints it (Go escapes `<`, `>` and `&`).
pub fn render(def: &Definition) -> String {
    let s = serde_json::to_string_pretty(&to_json(def)).unwrap_or_default();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}
