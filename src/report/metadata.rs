//! The metadata file `rbake apply --metadata-file` writes: what each build produced, which
//! tags were published and which images were loaded. `schema/metadata.v1.json` is generated
//! from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as J, json};

pub const SCHEMA: &str = "rbake.metadata.v1";

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "rbake metadata",
    description = "What an rbake apply produced (rbake apply --metadata-file)"
)]
pub struct Document {
    /// Always `rbake.metadata.v1`.
    pub schema: String,
    /// Each build node of the plan, by its node id, with the manifest it produced.
    pub nodes: BTreeMap<String, Node>,
    /// Tags pushed to a registry: one entry per tag, naming the index it points at.
    pub published: Vec<Published>,
    /// Images loaded into an engine: one entry per tag and platform.
    pub loaded: Vec<Loaded>,
    /// How every node of the plan ended, by node id: the table `apply --verbose` prints, for
    /// runs whose terminal showed only a summary.
    #[serde(default)]
    pub results: BTreeMap<String, NodeResult>,
}

/// How one node ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NodeResult {
    /// `done`, `up to date`, `failed` or `skipped`.
    pub status: String,
    /// How long the node ran, in milliseconds (nodes that finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milliseconds: Option<u64>,
    /// The share of build steps BuildKit answered from its cache, in percent (builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_percent: Option<u32>,
    /// The builder it ran on: where a build was placed (or whose engine kept its result),
    /// the engine a load landed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
}

/// One build: a target for one platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Node {
    /// The build's image in its engine: the image ID (config digest) on a classic store, the
    /// stored manifest's digest on a containerd store. Pushed manifests are re-assembled
    /// from the image, so find them through the published index digest instead.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: String,
    /// The platform built, e.g. `linux/arm/v7`.
    pub platform: String,
    /// The target the node builds.
    pub target: String,
}

/// One pushed tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Published {
    /// The full reference pushed, e.g. `registry.example.com/team/app:1.0`.
    pub tag: String,
    /// The digest of the image index (or of the single manifest) the tag points at.
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: String,
    /// The platforms the index holds, in plan order.
    pub platforms: Vec<String>,
}

/// One image loaded into an engine's image store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Loaded {
    /// The local tag the image was loaded as (per platform when the store holds one platform
    /// per image; see `local-tag`).
    pub tag: String,
    pub platform: String,
    /// The engine's image id, `sha256:...`.
    pub image_id: String,
}

impl Document {
    /// An empty document with its schema name set.
    pub fn new() -> Document {
        Document {
            schema: SCHEMA.to_string(),
            ..Document::default()
        }
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// The JSON Schema of [`Document`], as committed in `schema/metadata.v1.json`.
pub fn schema() -> J {
    let mut root = serde_json::to_value(schemars::schema_for!(Document)).unwrap_or(J::Null);
    if let Some(J::Object(props)) = root.get_mut("properties") {
        props.insert(
            "schema".into(),
            json!({ "const": SCHEMA, "description": "Always `rbake.metadata.v1`." }),
        );
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_and_validates() {
        let mut doc = Document::new();
        let digest = format!("sha256:{}", "a".repeat(64));
        doc.nodes.insert(
            "build:app:linux/arm64".into(),
            Node {
                digest: digest.clone(),
                platform: "linux/arm64".into(),
                target: "app".into(),
            },
        );
        doc.results.insert(
            "build:app:linux/arm64".into(),
            NodeResult {
                status: "done".into(),
                milliseconds: Some(1200),
                cached_percent: Some(50),
                builder: Some("local".into()),
            },
        );
        doc.published.push(Published {
            tag: "r/app:1".into(),
            digest,
            platforms: vec!["linux/arm64".into()],
        });
        let text = doc.to_json();
        let back: Document = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        let value: J = serde_json::from_str(&text).unwrap();
        assert_eq!(value["schema"], SCHEMA);
        assert!(schema()["properties"]["nodes"].is_object());
    }
}
