//! The spec reference, rendered from `spec::attrs` so it cannot drift from the code: the
//! attribute tables of `docs/reference.md` and the JSON Schemas editors use for `build.toml`
//! (`schema/build-toml.v1.json`) and `docker-bake.json` (`schema/bake-json.v1.json`).

use std::fmt::Write;

use serde_json::{Map, Value as J, json};

use crate::spec::attrs::{AttrDef, BUILDER_ATTRS, Merge, Set, Shape, TARGET_ATTRS};

/// Marks the generated part of `docs/reference.md`; a test compares it with [`markdown`].
pub const BEGIN: &str = "<!-- BEGIN GENERATED: rbake schema reference; do not edit by hand -->";
pub const END: &str = "<!-- END GENERATED -->";

/// Attributes of a `group`.
const GROUP: &[(&str, &str, &str)] = &[
    (
        "targets",
        "list of strings",
        "Targets and groups this group builds.",
    ),
    (
        "description",
        "string",
        "A human description, shown by `rbake ls`.",
    ),
];

/// Attributes of a `variable`.
const VARIABLE: &[(&str, &str, &str)] = &[
    (
        "default",
        "any",
        "The value when the environment does not set one (no default: empty string, or null with a `type`).",
    ),
    (
        "type",
        "type",
        "A type constraint: `string`, `number`, `bool`, `list(string)`, `map(string)`, ... or `any`. Typed lists and maps read CSV from the environment.",
    ),
    (
        "description",
        "string",
        "A human description, shown by `rbake ls variables`.",
    ),
    (
        "validation",
        "blocks",
        "Checks on the value: each has a `condition` (true when valid) and an `error_message`.",
    ),
];

/// Attributes of a target block that shape the block rather than the target.
const TARGET_BLOCK: &[(&str, &str, &str)] = &[
    (
        "matrix",
        "map of lists",
        "One target per combination of the lists' values; each axis name is a variable in the block.",
    ),
    (
        "name",
        "string",
        "The name of each matrix instance, e.g. `app-${os}` (HCL) or `app-{{ os }}` (TOML). Requires `matrix`.",
    ),
];

fn shape_name(s: Shape) -> &'static str {
    match s {
        Shape::Str => "string",
        Shape::Bool => "bool",
        Shape::List => "list of strings",
        Shape::Map => "map of strings",
        Shape::Names => "name or list of names",
    }
}

fn merge_name(m: Merge) -> &'static str {
    match m {
        Merge::Replace => "replaces",
        Merge::Append => "appends",
        Merge::Keys => "merges keys",
    }
}

fn set_form(a: &AttrDef) -> String {
    let k = a.set_key;
    match a.set {
        Set::Value => format!("`T.{k}=V`"),
        Set::List => format!("`T.{k}=V` (repeat for more)"),
        Set::AppendList => format!("`T.{k}=V` (appends)"),
        Set::Entry => format!("`T.{k}.NAME=V`"),
        Set::Bool => format!("`T.{k}=true`"),
        Set::Ignored => "accepted, no effect".to_string(),
        Set::Never => "no".to_string(),
    }
}

fn escape(doc: &str) -> String {
    doc.replace('|', "\\|")
}

/// The generated tables of `docs/reference.md` (between [`BEGIN`] and [`END`]).
pub fn markdown() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(out);
    let _ = writeln!(out, "### Target attributes");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "In the order `rbake print` shows them. *inherits* says how a value from a parent (or an earlier block of the same name) combines with this one; *--set* shows the override form."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| attribute | type | inherits | --set | printed | description |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for a in TARGET_ATTRS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            a.key,
            shape_name(a.shape),
            merge_name(a.merge),
            set_form(a),
            if a.printed { "yes" } else { "no" },
            escape(a.doc)
        );
    }
    let _ = writeln!(out);
    table(&mut out, "Target block attributes", TARGET_BLOCK);
    let _ = writeln!(out, "### Builder attributes (rbake)");
    let _ = writeln!(out);
    let _ = writeln!(out, "| attribute | type | description |");
    let _ = writeln!(out, "|---|---|---|");
    for a in BUILDER_ATTRS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            a.key,
            shape_name(a.shape),
            escape(a.doc)
        );
    }
    let _ = writeln!(out);
    table(&mut out, "Group attributes", GROUP);
    table(&mut out, "Variable attributes", VARIABLE);
    let _ = writeln!(out, "{END}");
    out
}

fn table(out: &mut String, title: &str, rows: &[(&str, &str, &str)]) {
    let _ = writeln!(out, "### {title}");
    let _ = writeln!(out);
    let _ = writeln!(out, "| attribute | type | description |");
    let _ = writeln!(out, "|---|---|---|");
    for (key, ty, doc) in rows {
        let _ = writeln!(out, "| `{key}` | {ty} | {} |", escape(doc));
    }
    let _ = writeln!(out);
}

// The spec schemas are draft-07, which taplo (Even Better TOML) and most editors understand.

/// Which spec format a schema describes: the two differ in how an expression is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `build.toml`: values are literals, strings may be minijinja templates.
    Toml,
    /// `docker-bake.json`: any string may be an HCL template (`"${...}"`).
    Json,
}

impl Dialect {
    /// A string standing for a whole value of another type.
    fn expression(self) -> J {
        match self {
            Dialect::Toml => json!({
                "type": "string",
                "pattern": r"^\{\{.*\}\}$",
                "description": "A template that is exactly one `{{ expression }}`, which keeps the value's type."
            }),
            Dialect::Json => json!({
                "type": "string",
                "pattern": r"^\$\{.*\}$",
                "description": "An HCL template that is exactly one `${expression}`, which keeps the value's type."
            }),
        }
    }
}

fn scalar() -> J {
    json!({ "type": ["string", "number", "boolean"] })
}

fn shape_schema(shape: Shape, d: Dialect) -> J {
    match shape {
        Shape::Str => scalar(),
        Shape::Bool => json!({ "type": ["boolean", "string"] }),
        Shape::List => json!({ "anyOf": [
            { "type": "array", "items": { "anyOf": [
                scalar(),
                { "type": "object", "additionalProperties": scalar() },
            ] } },
            d.expression(),
        ] }),
        Shape::Map => json!({ "anyOf": [
            { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean", "null"] } },
            d.expression(),
        ] }),
        Shape::Names => json!({ "anyOf": [
            { "type": "string" },
            { "type": "array", "items": { "type": "string" } },
            d.expression(),
        ] }),
    }
}

fn attrs_schema(defs: &[AttrDef], d: Dialect, extra: &[(&str, J)], title: &str) -> J {
    let mut props = Map::new();
    for a in defs {
        let mut s = shape_schema(a.shape, d);
        s["description"] = J::from(a.doc);
        props.insert(a.key.to_string(), s);
    }
    for (k, v) in extra {
        props.insert((*k).to_string(), v.clone());
    }
    json!({
        "type": "object",
        "description": title,
        "properties": props,
        "additionalProperties": false,
    })
}

fn rows_doc(rows: &[(&str, &str, &str)], key: &str) -> J {
    rows.iter()
        .find(|r| r.0 == key)
        .map_or(J::Null, |r| J::from(r.2))
}

/// An object of named blocks. Several bodies under one name (`[[target.app]]`, or a JSON
/// list) merge as repeated HCL blocks do.
fn blocks_of(def: &str, what: &str) -> J {
    let body = json!({ "$ref": format!("#/definitions/{def}") });
    // `if` rather than `anyOf`, so that a validator reports a bad attribute at its own path
    // instead of marking the whole block.
    let value = json!({ "if": { "type": "array" }, "then": { "items": body }, "else": body });
    json!({
        "type": "object",
        "description": what,
        "propertyNames": { "pattern": "^[a-zA-Z0-9_-]+$" },
        "additionalProperties": value,
    })
}

fn definitions(d: Dialect) -> J {
    let matrix = json!({
        "anyOf": [
            { "type": "object", "additionalProperties": { "type": "array" } },
            d.expression(),
        ],
        "description": rows_doc(TARGET_BLOCK, "matrix"),
    });
    let name = json!({ "type": "string", "description": rows_doc(TARGET_BLOCK, "name") });
    let target = attrs_schema(
        TARGET_ATTRS,
        d,
        &[("matrix", matrix), ("name", name)],
        "A target: one image built from one Dockerfile, for one or more platforms.",
    );
    let builder = attrs_schema(
        BUILDER_ATTRS,
        d,
        &[],
        "rbake: an engine that builds, the platforms it builds and which of them natively.",
    );
    let group = json!({
        "type": "object",
        "description": "A named set of targets and groups.",
        "properties": {
            "targets": { "anyOf": [{ "type": "array", "items": { "type": "string" } }, d.expression()], "description": rows_doc(GROUP, "targets") },
            "description": { "type": "string", "description": rows_doc(GROUP, "description") },
        },
        "additionalProperties": false,
    });
    let validation = json!({
        "type": "object",
        "properties": {
            "condition": { "type": ["string", "boolean"], "description": match d {
                Dialect::Toml => "True when the value is valid, e.g. `{{ VERSION != '' }}`.",
                Dialect::Json => "True when the value is valid, e.g. `${VERSION != \"\"}`.",
            } },
            "error_message": { "type": "string", "description": "The message when `condition` is false." },
        },
        "required": ["condition"],
        "additionalProperties": false,
    });
    let variable = json!({
        "type": "object",
        "description": "A variable: overridable from the environment by its name.",
        "properties": {
            "default": { "description": rows_doc(VARIABLE, "default") },
            "type": { "type": "string", "description": rows_doc(VARIABLE, "type") },
            "description": { "type": "string", "description": rows_doc(VARIABLE, "description") },
            "validation": {
                "anyOf": [validation.clone(), { "type": "array", "items": validation }],
                "description": rows_doc(VARIABLE, "validation"),
            },
        },
        "additionalProperties": false,
    });
    let mut defs = json!({
        "target": target,
        "group": group,
        "variable": variable,
        "builder": builder,
    });
    if d == Dialect::Json {
        defs["function"] = json!({
            "type": "object",
            "description": "A user function: `params`, optional `variadic_params`, and a `result` expression.",
            "properties": {
                "params": { "type": "array", "items": { "type": "string" } },
                "variadic_params": { "type": "string" },
                "result": {},
            },
            "required": ["params", "result"],
            "additionalProperties": false,
        });
    }
    defs
}

/// The JSON Schema of `build.toml`, as committed in `schema/build-toml.v1.json`.
pub fn toml_schema() -> J {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "rbake build.toml",
        "description": "rbake's own spec: variables, builders, targets and groups, with minijinja templates in strings. Add `#:schema` with this file's path or URL as the first line of build.toml for completion and validation in taplo-based editors.",
        "type": "object",
        "properties": {
            "variable": blocks_of("variable", "Variables, by name (`[variable.NAME]`)."),
            "builder": blocks_of("builder", "rbake builders, by name (`[builder.NAME]`)."),
            "target": blocks_of("target", "Targets, by name (`[target.NAME]`)."),
            "group": blocks_of("group", "Groups, by name (`[group.NAME]`)."),
        },
        "additionalProperties": {
            "description": "A global value other templates can use by name.",
            "type": ["string", "number", "boolean", "array"],
        },
        "definitions": definitions(Dialect::Toml),
    })
}

/// The JSON Schema of an HCL-JSON bake file, as committed in `schema/bake-json.v1.json`.
pub fn bake_json_schema() -> J {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "docker-bake.json",
        "description": "A bake file in HCL's JSON syntax, as rbake and docker buildx bake read it; strings are HCL templates (`${...}`). `builder` blocks are rbake's.",
        "type": "object",
        "properties": {
            "variable": blocks_of("variable", "Variables, by name."),
            "function": blocks_of("function", "User functions, by name."),
            "builder": blocks_of("builder", "rbake builders, by name (bake ignores them)."),
            "target": blocks_of("target", "Targets, by name."),
            "group": blocks_of("group", "Groups, by name."),
        },
        "additionalProperties": { "description": "A global attribute other expressions can use by name." },
        "definitions": definitions(Dialect::Json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_attribute_is_in_the_reference_and_the_schemas() {
        let md = markdown();
        for schema in [toml_schema(), bake_json_schema()] {
            let props = &schema["definitions"]["target"]["properties"];
            for a in TARGET_ATTRS {
                assert!(md.contains(&format!("| `{}` |", a.key)), "{}", a.key);
                assert!(props[a.key].is_object(), "{}", a.key);
            }
        }
    }
}
