//! Rendering a plan: a readable tree, versioned JSON (`schema/plan.v1.json`) and Graphviz.

use std::collections::BTreeMap;
use std::fmt::Write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as J, json};
use sha2::{Digest, Sha256};

use crate::base::hex;
use crate::plan::{NamedContext, Node, Plan};

pub const SCHEMA: &str = "rbake.plan.v1";

/// The plan as written by `--format json` and `--out`; `schema/plan.v1.json` is generated
/// from this type.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "rbake plan",
    description = "A checked rbake build plan (rbake plan --format json)"
)]
pub struct Document {
    /// Always `rbake.plan.v1`.
    pub schema: String,
    /// `sha256:` of the builders, nodes and summary: `apply` re-plans and refuses to run a
    /// saved plan whose fingerprint no longer matches.
    pub fingerprint: String,
    pub builders: Vec<J>,
    /// Nodes in execution order: dependencies first.
    pub nodes: Vec<J>,
    pub summary: J,
    /// The files, `--set` overrides and targets planned: `rbake apply FILE` uses them.
    /// Not part of the fingerprint.
    #[serde(default)]
    pub request: crate::plan::Request,
}

/// The schema of [`Document`], with the node and builder shapes spelled out.
pub fn schema() -> J {
    let mut generator = schemars::SchemaGenerator::default();
    let node = generator.subschema_for::<NodeDoc>();
    let builder = generator.subschema_for::<crate::model::Capabilities>();
    let counts = generator.subschema_for::<crate::plan::Counts>();
    let mut root = serde_json::to_value(generator.root_schema_for::<Document>()).unwrap_or(J::Null);
    if let J::Object(o) = &mut root {
        if let Some(J::Object(props)) = o.get_mut("properties") {
            props.insert("nodes".into(), json!({ "type": "array", "items": node, "description": "Nodes in execution order: dependencies first." }));
            props.insert(
                "builders".into(),
                json!({ "type": "array", "items": builder }),
            );
            props.insert(
                "summary".into(),
                serde_json::to_value(counts).unwrap_or(J::Null),
            );
            props.insert("schema".into(), json!({ "const": SCHEMA }));
        }
        let defs = serde_json::to_value(generator.definitions()).unwrap_or(J::Null);
        o.insert("$defs".into(), defs);
    }
    root
}

/// One node and the ids of the nodes it depends on.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeDoc<'a> {
    #[serde(flatten)]
    pub node: &'a Node,
    pub depends_on: Vec<&'a str>,
}

/// The plan as JSON, with a fingerprint of its content so `apply` can refuse a stale plan.
pub fn to_json(plan: &Plan) -> J {
    let nodes: Vec<J> = plan
        .order()
        .into_iter()
        .map(|n| {
            serde_json::to_value(NodeDoc {
                node: &plan.graph[n],
                depends_on: plan.depends_on(n),
            })
            .unwrap_or(J::Null)
        })
        .collect();
    let builders: Vec<J> = plan
        .builders
        .iter()
        .map(|b| serde_json::to_value(b).unwrap_or(J::Null))
        .collect();
    let summary = serde_json::to_value(plan.counts()).unwrap_or(J::Null);
    let fingerprint = fingerprint(&builders, &nodes, &summary);
    serde_json::to_value(Document {
        schema: SCHEMA.into(),
        fingerprint,
        builders,
        nodes,
        summary,
        request: plan.request.clone(),
    })
    .unwrap_or(J::Null)
}

pub fn fingerprint(builders: &[J], nodes: &[J], summary: &J) -> String {
    // Streamed into the hasher: the plan's JSON can be megabytes, and building a combined
    // document only to hash it doubled the time of `plan --format json`.
    let mut h = HashWriter(Sha256::new());
    let _ = serde_json::to_writer(&mut h, &json!({ "builders": builders }));
    let _ = serde_json::to_writer(&mut h, nodes);
    let _ = serde_json::to_writer(&mut h, summary);
    format!("sha256:{}", hex(&h.0.finalize()))
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The readable tree: per target its builds (preferred builder, native or emulated, and the
/// other candidates), inputs and
/// outputs with exact tags, then a one-line summary.
pub fn tree(plan: &Plan) -> String {
    let mut by_target: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    for n in plan.order() {
        let node = &plan.graph[n];
        by_target.entry(node.target()).or_default().push(node);
        if let Node::Build(b) = node {
            for other in &b.shared {
                by_target.entry(other.as_str()).or_default().push(node);
            }
        }
    }
    let mut out = String::new();
    for b in &plan.builders {
        let _ = writeln!(
            out,
            "builder {} ({}, {}, {:?} image store, {}): native {}; emulated {}",
            b.name,
            b.driver,
            b.endpoint,
            b.image_store,
            match b.source {
                crate::model::capabilities::CapSource::Probed => "probed",
                crate::model::capabilities::CapSource::Declared => "declared",
                crate::model::capabilities::CapSource::Implicit => "implicit",
            },
            list(b.native.iter().map(ToString::to_string)),
            list(
                b.platforms
                    .iter()
                    .filter(|p| !b.native.contains(p))
                    .map(ToString::to_string)
            ),
        );
    }
    for (target, nodes) in by_target {
        let _ = writeln!(out, "\ntarget {target}");
        let mut lines: Vec<String> = Vec::new();
        let mut inputs_done = false;
        for node in &nodes {
            match node {
                Node::Build(b) => {
                    let how = match (&b.builder, b.emulated) {
                        (None, _) => "no builder".to_string(),
                        (Some(name), false) => format!("native on {name}"),
                        (Some(name), true) => format!("emulated on {name}"),
                    };
                    let with: Vec<&str> = std::iter::once(b.target.as_str())
                        .chain(b.shared.iter().map(String::as_str))
                        .filter(|t| *t != target)
                        .collect();
                    let shared = if with.is_empty() {
                        String::new()
                    } else {
                        format!(" (one build with {})", with.join(", "))
                    };
                    lines.push(format!(
                        "build {:<14} {how}{}{shared}",
                        b.platform.to_string(),
                        candidates(plan, b)
                    ));
                    if !inputs_done {
                        inputs_done = true;
                        let mut inputs = vec![format!("context {}", b.context)];
                        match &b.dockerfile_inline {
                            Some(_) => inputs.push("dockerfile (inline)".into()),
                            None => inputs.push(format!(
                                "dockerfile {}",
                                crate::base::clean_path(&format!("{}/{}", b.context, b.dockerfile))
                            )),
                        }
                        if let Some(s) = &b.stage {
                            inputs.push(format!("stage {s}"));
                        }
                        for (name, c) in &b.contexts {
                            inputs.push(match c {
                                NamedContext::Target { target, .. } => {
                                    format!("context {name} <- target {target}")
                                }
                                NamedContext::Source { value } => {
                                    format!("context {name} <- {value}")
                                }
                            });
                        }
                        if !b.args.is_empty() {
                            inputs.push(format!(
                                "args {}",
                                b.args.keys().cloned().collect::<Vec<_>>().join(", ")
                            ));
                        }
                        if !b.secrets.is_empty() {
                            inputs.push(format!("{} secret(s)", b.secrets.len()));
                        }
                        lines.push(format!("inputs {}", inputs.join("; ")));
                    }
                }
                Node::Push(p) if p.by_digest => lines.push(format!(
                    "push by digest to {} ({}; `rbake publish` writes the index and tags)",
                    p.tags.join(", "),
                    list(p.platforms.iter().map(ToString::to_string))
                )),
                Node::Push(p) => lines.push(format!(
                    "push {} ({} of {})",
                    p.tags.join(", "),
                    if p.platforms.len() > 1 {
                        "index"
                    } else {
                        "image"
                    },
                    list(p.platforms.iter().map(ToString::to_string))
                )),
                Node::Load(l) => lines.push(format!(
                    "load {} ({}{})",
                    if l.tags.is_empty() {
                        "untagged".to_string()
                    } else {
                        l.tags.join(", ")
                    },
                    list(l.platforms.iter().map(ToString::to_string)),
                    l.builder
                        .as_ref()
                        .map(|b| format!(" into {b}"))
                        .unwrap_or_default()
                )),
                Node::Export(e) => lines.push(format!(
                    "export {} to {} ({})",
                    e.kind,
                    e.dest,
                    list(e.platforms.iter().map(ToString::to_string))
                )),
            }
        }
        for (i, l) in lines.iter().enumerate() {
            let branch = if i + 1 == lines.len() {
                "└─"
            } else {
                "├─"
            };
            let _ = writeln!(out, "{branch} {l}");
        }
    }
    let c = plan.counts();
    let _ = writeln!(out, "\n{}", summary(&c));
    out
}

pub fn summary(c: &crate::plan::Counts) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![
        plural(c.builds, "build", "builds"),
        plural(c.pushes, "push", "pushes"),
        plural(c.loads, "load", "loads"),
    ];
    if c.exports > 0 {
        parts.push(plural(c.exports, "export", "exports"));
    }
    parts.join(", ")
}

fn list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The other builders a build may be placed on, when there are any: apply picks among all
/// of them as slots free up (native first, then the one holding its cache, then the most
/// free slots).
fn candidates(plan: &Plan, b: &crate::plan::Build) -> String {
    let others: Vec<String> = b
        .candidates
        .iter()
        .filter(|c| Some(*c) != b.builder.as_ref())
        .map(|c| {
            let emulated = plan
                .builder(c)
                .is_some_and(|caps| !caps.is_native(&b.platform));
            if emulated {
                format!("{c} (emulated)")
            } else {
                c.clone()
            }
        })
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(", or on {}", others.join(", "))
    }
}

/// Graphviz: builds as boxes, pushes and loads as other shapes, edges dependency first.
pub fn dot(plan: &Plan) -> String {
    let mut out =
        String::from("digraph rbake {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    let order = plan.order();
    for n in &order {
        let node = &plan.graph[*n];
        let (shape, label) = match node {
            Node::Build(b) => (
                "box",
                format!(
                    "{}\\n{}{}",
                    b.target,
                    b.platform,
                    if b.emulated { " (emulated)" } else { "" }
                ),
            ),
            Node::Push(p) => ("doubleoctagon", format!("push\\n{}", p.tags.join("\\n"))),
            Node::Load(l) => ("cylinder", format!("load\\n{}", l.tags.join("\\n"))),
            Node::Export(e) => ("folder", format!("{}\\n{}", e.kind, e.dest)),
        };
        let _ = writeln!(
            out,
            "  \"{}\" [shape={shape}, label=\"{}\"];",
            node.id(),
            label.replace('"', "\\\"")
        );
    }
    for n in &order {
        for dep in plan.depends_on(*n) {
            let _ = writeln!(out, "  \"{dep}\" -> \"{}\";", plan.graph[*n].id());
        }
    }
    out.push_str("}\n");
    out
}

/// What `rbake plan --probe` adds to the tree: per node, up to date (and why) or what makes
/// it run.
pub fn freshness(plan: &Plan, a: &crate::exec::uptodate::Assessment) -> String {
    use crate::exec::uptodate::Verdict;
    let mut out = String::from("\nup to date?\n");
    let (mut fresh, mut total) = (0, 0);
    for n in plan.order() {
        let id = plan.graph[n].id();
        total += 1;
        let line = match a.verdict(id) {
            Some(Verdict::UpToDate(why)) => {
                fresh += 1;
                format!("  up to date  {id}: {why}")
            }
            Some(Verdict::Reuse { image }) => {
                fresh += 1;
                format!("  kept        {id}: the engine keeps this build as {image}")
            }
            Some(Verdict::Run(why)) => format!("  runs        {id}: {why}"),
            None => format!("  runs        {id}"),
        };
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{fresh} of {total} nodes up to date");
    out
}
