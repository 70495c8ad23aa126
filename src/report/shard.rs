//! The file a shard of a saved plan writes (`rbake apply --plan FILE --shard S --result
//! FILE`) and `rbake publish` reads: which plan it ran, and every manifest it pushed by
//! digest. `schema/shard-result.v1.json` is generated from these types. It holds digests,
//! sizes and names only: no argument, secret or file content.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as J;
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = "rbake.shard-result.v1";

/// A shard's result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "rbake shard result",
    description = "What one shard of a saved plan pushed by digest (rbake apply --shard S --result FILE)"
)]
pub struct ShardResult {
    /// Always `rbake.shard-result.v1`.
    pub schema: String,
    /// The plan's release fingerprint: sha256 of its builds and pushes,
    /// whichever builders ran them. `rbake publish` refuses results of another plan.
    pub fingerprint: String,
    /// The shard selector this result answers (`platform=linux/arm64`, `2/3`).
    pub shard: String,
    /// Build nodes this shard ran, by node id: how each ended.
    pub builds: BTreeMap<String, String>,
    /// Push nodes of the plan this shard pushed platforms for, by node id.
    pub pushes: BTreeMap<String, ShardPush>,
}

/// The platforms one shard pushed for one push node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShardPush {
    pub target: String,
    /// One entry per platform this shard built, pushed by digest to every repository of the
    /// push's tags.
    pub manifests: Vec<ShardManifest>,
}

/// One platform's manifest as pushed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShardManifest {
    /// e.g. `linux/arm/v7`.
    pub platform: String,
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: u64,
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

/// The schema of [`ShardResult`].
pub fn schema() -> J {
    serde_json::to_value(schemars::schema_for!(ShardResult)).unwrap_or(J::Null)
}

/// Fields of a plan node that depend on which builder runs it, not on the spec: runners of
/// the shards of one plan each have their own engines.
const BUILDER_FIELDS: &[&str] = &["builder", "emulated", "candidates", "preferred"];

/// `sha256:` of the plan's build and push nodes without their builder fields: equal for the
/// plan saved by the planning job and for each runner's own re-plan of the same request, as
/// long as the spec and environment give the same builds and pushes. Loads and exports are
/// left out: they happen where a shard runs, shaped by that engine's image store.
pub fn release_fingerprint(nodes: &[J]) -> String {
    let mut h = Sha256::new();
    for n in nodes {
        if n["kind"] != "build" && n["kind"] != "push" {
            continue;
        }
        let mut n = n.clone();
        if let J::Object(o) = &mut n {
            for f in BUILDER_FIELDS {
                o.remove(*f);
            }
            // Builds depend on builds only; pushes on builds: loads and exports never
            // appear here.
        }
        h.update(serde_json::to_vec(&n).unwrap_or_default());
        h.update(b"\n");
    }
    format!("sha256:{}", crate::base::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builders_do_not_change_the_release_fingerprint() {
        let a = [
            json!({"kind": "build", "id": "b1", "builder": "x", "emulated": false, "args": {"A": "1"}}),
            json!({"kind": "push", "id": "p", "tags": ["r/a:1"]}),
            json!({"kind": "load", "id": "l", "builder": "x"}),
        ];
        let b = [
            json!({"kind": "build", "id": "b1", "builder": "y", "emulated": true, "args": {"A": "1"}}),
            json!({"kind": "push", "id": "p", "tags": ["r/a:1"]}),
        ];
        assert_eq!(release_fingerprint(&a), release_fingerprint(&b));
        let c = [
            json!({"kind": "build", "id": "b1", "builder": "y", "args": {"A": "2"}}),
            json!({"kind": "push", "id": "p", "tags": ["r/a:1"]}),
        ];
        assert_ne!(release_fingerprint(&a), release_fingerprint(&c));
        let d = [
            json!({"kind": "build", "id": "b1", "builder": "x", "args": {"A": "1"}}),
            json!({"kind": "push", "id": "p", "tags": ["r/a:2"]}),
        ];
        assert_ne!(release_fingerprint(&a), release_fingerprint(&d));
    }
}
