//! What users read: the resolved definition as bake's `--print` JSON, tables for `ls`, plans,
//! the spec reference and JSON Schemas, and the metadata file `apply` writes.

pub mod metadata;
pub mod plan;
pub mod print;
pub mod progress;
pub mod reference;
pub mod table;

use serde_json::{Value as J, json};

use crate::exec::apply::{Report, Result_};
use crate::plan::{Node, Plan};

/// The `--metadata-file` document: every build's image digest, every published tag with
/// its (index) digest, every local tag. Never any secret or build argument.
pub fn metadata_json(plan: &Plan, report: &Report) -> J {
    let mut nodes = serde_json::Map::new();
    let mut published = Vec::new();
    let mut loaded = Vec::new();
    for n in plan.order() {
        let node = &plan.graph[n];
        let Some(Result_::Done(o)) = report.get(node.id()) else {
            continue;
        };
        match node {
            Node::Build(b) => {
                nodes.insert(b.id.clone(), json!({ "target": b.target, "platform": b.platform.to_string(), "digest": o.digest }));
            }
            Node::Push(p) => {
                for t in &p.tags {
                    published.push(json!({ "tag": t, "digest": o.digest, "platforms": p.platforms.iter().map(ToString::to_string).collect::<Vec<_>>() }));
                }
            }
            Node::Load(l) => {
                for t in &l.tags {
                    loaded.push(json!({ "tag": t, "platforms": l.platforms.iter().map(ToString::to_string).collect::<Vec<_>>(), "digest": o.digest }));
                }
            }
            Node::Export(_) => {}
        }
    }
    json!({ "schema": "rbake.metadata.v1", "nodes": nodes, "published": published, "loaded": loaded })
}
