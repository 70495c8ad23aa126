//! `attest` against the builders that would run it: BuildKit attaches attestations only
//! where the image store can hold an index with attestation manifests (the containerd
//! store). On a classic store BuildKit 0.8 ignores the `attest:*` attributes, so the image
//! would come out without them: an error at plan time, not a silent drop.

use std::collections::BTreeSet;

use crate::model::Definition;
use crate::model::attest::Attest;
use crate::model::capabilities::ImageStore;
use crate::plan::{Node, Plan};
use crate::source::{Diag, Diags};

pub const UNSUPPORTED: &str = "check::attest_unsupported";

pub fn check(plan: &Plan, def: &Definition, diags: &mut Diags) {
    let mut seen = BTreeSet::new();
    for n in plan.graph.node_weights() {
        let Node::Build(b) = n else { continue };
        if b.attest.is_empty() {
            continue;
        }
        let Some(caps) = b.builder.as_ref().and_then(|n| plan.builder(n)) else {
            continue;
        };
        if caps.image_store == ImageStore::Containerd
            || !seen.insert((b.target.clone(), caps.name.clone()))
        {
            continue;
        }
        let Some(t) = def.targets.get(&b.target) else {
            continue;
        };
        let engine = caps.buildkit.as_deref().map_or_else(
            || "its engine".to_string(),
            |v| format!("its engine (BuildKit {v})"),
        );
        for item in t.list("attest") {
            let a = Attest::parse(&item.value);
            if a.disabled || a.kind.is_empty() {
                continue;
            }
            diags.push(
                Diag::error(
                    UNSUPPORTED,
                    format!(
                        "builder `{}` cannot attach a `{}` attestation to `{}`: {engine} uses the classic image store",
                        caps.name, a.kind, b.target
                    ),
                )
                .label(item.span, "would be dropped by this engine")
                .help(format!(
                    "build `{}` on a builder whose engine has the containerd image store (Docker 24+ with BuildKit 0.11+), or write `type={},disabled=true`",
                    b.target, a.kind
                )),
            );
        }
    }
}
