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

use std::collections::BTreeMap;

use crate::exec::apply::{Report, Result_};
use crate::plan::{Node, Plan};

/// The `--metadata-file` document: every target's image as buildx records it, every
/// build's image digest, every published tag with its (index) digest, every local tag. Never
/// any secret or build argument.
pub fn metadata(plan: &Plan, report: &Report) -> metadata::Document {
    let mut doc = metadata::Document::new();
    let done = |id: &str| match report.get(id) {
        Some(Result_::Done(o)) => Some(o.clone()),
        _ => None,
    };
    for (id, r) in report {
        doc.rbake.results.insert(id.clone(), result(r));
    }
    let mut digests: std::collections::HashMap<String, String> = Default::default();
    // Per target: the builds that made its image (shared builds count for every target they
    // stand for), and what its push or load wrote.
    let mut builds: BTreeMap<String, Vec<crate::exec::events::Outcome>> = BTreeMap::new();
    let mut pushed: BTreeMap<String, (crate::exec::events::Outcome, Vec<String>)> = BTreeMap::new();
    let mut loaded: BTreeMap<String, (crate::exec::events::Outcome, Vec<String>)> = BTreeMap::new();
    for n in plan.order() {
        let node = &plan.graph[n];
        let Some(o) = done(node.id()) else { continue };
        match node {
            Node::Build(b) => {
                for t in std::iter::once(&b.target).chain(&b.shared) {
                    builds.entry(t.clone()).or_default().push(o.clone());
                }
                if let Some(d) = &o.digest {
                    digests.insert(b.id.clone(), d.clone());
                    doc.rbake.nodes.insert(
                        b.id.clone(),
                        metadata::Node {
                            digest: d.clone(),
                            platform: b.platform.to_string(),
                            target: b.target.clone(),
                            build_ref: build_ref(&o),
                        },
                    );
                }
            }
            Node::Push(p) => {
                for t in &p.tags {
                    doc.rbake.published.push(metadata::Published {
                        tag: t.clone(),
                        digest: o.digest.clone().unwrap_or_default(),
                        platforms: p.platforms.iter().map(ToString::to_string).collect(),
                    });
                }
                pushed.insert(p.target.clone(), (o.clone(), p.tags.clone()));
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
                        doc.rbake.loaded.push(metadata::Loaded {
                            tag: t.clone(),
                            platform: p.to_string(),
                            image_id: image_id.clone(),
                        });
                    }
                }
                loaded.insert(l.target.clone(), (o.clone(), l.tags.clone()));
            }
            Node::Export(_) => {}
        }
    }
    for (name, outcomes) in &builds {
        doc.targets.insert(
            name.clone(),
            target_entry(outcomes, pushed.get(name).or(loaded.get(name))),
        );
    }
    doc
}

/// A target as buildx's metadata file records it. A push wins over a load (buildx's docker
/// driver pushes the image it loaded, and reports the pushed digest).
fn target_entry(
    builds: &[crate::exec::events::Outcome],
    written: Option<&(crate::exec::events::Outcome, Vec<String>)>,
) -> metadata::Target {
    let single = match builds {
        [one] => Some(one),
        _ => None,
    };
    let mut entry = metadata::Target {
        build_ref: single.and_then(build_ref),
        ..metadata::Target::default()
    };
    if let Some((o, tags)) = written {
        entry.digest = o.digest.clone();
        entry.image_name = (!tags.is_empty()).then(|| tags.join(","));
        entry.config_digest = o
            .recorded
            .config_digest
            .clone()
            .or_else(|| single.and_then(|b| b.recorded.config_digest.clone()));
        entry.descriptor = match (&o.recorded.descriptor, &o.digest) {
            (Some((media_type, size)), Some(digest)) => Some(metadata::Descriptor {
                media_type: media_type.clone(),
                digest: digest.clone(),
                size: *size,
            }),
            _ => None,
        };
    }
    entry
}

/// buildx's `BUILDER/NODE/REF`; an rbake builder is its own only node.
fn build_ref(o: &crate::exec::events::Outcome) -> Option<String> {
    let r = o.recorded.build_ref.as_ref()?;
    let b = o.builder.as_deref().unwrap_or("default");
    Some(format!("{b}/{b}/{r}"))
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
