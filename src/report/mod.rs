//! What users read: the resolved definition as bake's `--print` JSON, tables for `ls`, plans,
//! the spec reference and JSON Schemas, and the metadata file `apply` writes.

pub mod display;
pub mod metadata;
pub mod plan;
pub mod print;
pub mod progress;
pub mod reference;
pub mod shard;
pub mod table;

use crate::exec::apply::{Report, Result_};
use crate::plan::{Node, Plan};

/// The `--metadata-file` document: every build's image digest, every published tag with
/// its (index) digest, every local tag. Never any secret or build argument.
pub fn metadata(plan: &Plan, report: &Report) -> metadata::Document {
    let mut doc = metadata::Document::new();
    let done = |id: &str| match report.get(id) {
        Some(Result_::Done(o)) => Some(o.clone()),
        _ => None,
    };
    for (id, r) in report {
        doc.results.insert(id.clone(), result(r));
    }
    let mut digests: std::collections::HashMap<String, String> = Default::default();
    for n in plan.order() {
        let node = &plan.graph[n];
        let Some(o) = done(node.id()) else { continue };
        match node {
            Node::Build(b) => {
                if let Some(d) = &o.digest {
                    digests.insert(b.id.clone(), d.clone());
                    doc.nodes.insert(
                        b.id.clone(),
                        metadata::Node {
                            digest: d.clone(),
                            platform: b.platform.to_string(),
                            target: b.target.clone(),
                        },
                    );
                }
            }
            Node::Push(p) => {
                for t in &p.tags {
                    doc.published.push(metadata::Published {
                        tag: t.clone(),
                        digest: o.digest.clone().unwrap_or_default(),
                        platforms: p.platforms.iter().map(ToString::to_string).collect(),
                    });
                }
            }
            Node::Load(l) => {
                // One entry per platform: on a containerd store one tag holds them all.
                for p in &l.platforms {
                    let build = crate::plan::build_id(&l.target, p);
                    let image_id = digests
                        .get(&build)
                        .cloned()
                        .or(o.digest.clone())
                        .unwrap_or_default();
                    for t in &l.tags {
                        doc.loaded.push(metadata::Loaded {
                            tag: t.clone(),
                            platform: p.to_string(),
                            image_id: image_id.clone(),
                        });
                    }
                }
            }
            Node::Export(_) => {}
        }
    }
    doc
}

/// A node's row in the metadata file. Errors and skip reasons stay out: they may quote
/// commands and values from the build, and the metadata file holds no build argument.
fn result(r: &Result_) -> metadata::NodeResult {
    let (status, outcome) = match r {
        Result_::Done(o) if o.up_to_date.is_some() => ("up to date", Some(o)),
        Result_::Done(o) => ("done", Some(o)),
        Result_::Failed(_) => ("failed", None),
        Result_::Skipped(_) => ("skipped", None),
    };
    metadata::NodeResult {
        status: status.to_string(),
        milliseconds: outcome.map(|o| o.duration.as_millis() as u64),
        cached_percent: outcome.and_then(|o| o.cached_percent()),
        builder: outcome.and_then(|o| o.builder.clone()),
    }
}
