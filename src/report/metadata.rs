//! The metadata file `rbake apply --metadata-file` writes, in buildx's shape with rbake's own
//! details beside it: every target at the top level with the keys `docker buildx bake
//! --metadata-file` writes for it (`containerimage.digest`, `containerimage.config.digest`,
//! `containerimage.descriptor`, `image.name`, `buildx.build.ref`), so a script that reads
//! `.<target>["containerimage.digest"]` reads the same thing from either tool; and under the
//! one reserved key [`RESERVED`] (`rbake.metadata`, which no target can be named: target
//! names hold only letters, digits, `_` and `-`) what each node of the plan did.
//! `schema/metadata.v2.json` is generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as J, json};

pub const SCHEMA: &str = "rbake.metadata.v2";

/// The top-level key holding rbake's own details. It has a `.`, which a bake target name
/// cannot have (`eval::invalid_name`), so it never meets a target's key.
pub const RESERVED: &str = "rbake.metadata";

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "rbake metadata",
    description = "What an rbake apply produced (rbake apply --metadata-file): each target under its name with the keys buildx writes, and rbake's own details under `rbake.metadata`"
)]
pub struct Document {
    /// Each target that ran, by name, with the keys `docker buildx bake --metadata-file`
    /// writes for it.
    #[serde(flatten)]
    pub targets: BTreeMap<String, Target>,
    /// rbake's own details: every node of the plan.
    #[serde(rename = "rbake.metadata")]
    pub rbake: Details,
}

/// One target as buildx records it. Keys buildx would not write are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// The build's reference, `BUILDER/NODE/REF` as buildx writes it (BuildKit's solve
    /// reference). Only for a target built by one solve (one platform): a multi-platform
    /// target has one solve per platform, each in `rbake.metadata.nodes`.
    #[serde(
        rename = "buildx.build.ref",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub build_ref: Option<String>,
    /// The image config's digest (single-platform images, as BuildKit reports it).
    #[serde(
        rename = "containerimage.config.digest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub config_digest: Option<String>,
    /// The descriptor of the pushed manifest or index.
    #[serde(
        rename = "containerimage.descriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub descriptor: Option<Descriptor>,
    /// The pushed manifest's or index's digest (what the registry serves for the tags); for
    /// a target only loaded, the image in the engine (its id on a classic store).
    #[serde(
        rename = "containerimage.digest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: Option<String>,
    /// The names written, comma-separated, as BuildKit's exporter reports them.
    #[serde(
        rename = "image.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub image_name: Option<String>,
}

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[schemars(regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub digest: String,
    pub size: u64,
}

/// What each node of the plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Details {
    /// Always `rbake.metadata.v2`.
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
    /// BuildKit's reference for the solve, `BUILDER/BUILDER/REF` as buildx writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_ref: Option<String>,
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
            targets: BTreeMap::new(),
            rbake: Details {
                schema: SCHEMA.to_string(),
                ..Details::default()
            },
        }
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

/// The JSON Schema of [`Document`], as committed in `schema/metadata.v2.json`.
pub fn schema() -> J {
    let mut root = serde_json::to_value(schemars::schema_for!(Document)).unwrap_or(J::Null);
    if let Some(J::Object(props)) = root.pointer_mut("/$defs/Details/properties") {
        props.insert(
            "schema".into(),
            json!({ "const": SCHEMA, "description": "Always `rbake.metadata.v2`." }),
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
        doc.rbake.nodes.insert(
            "build:app:linux/arm64".into(),
            Node {
                digest: digest.clone(),
                platform: "linux/arm64".into(),
                target: "app".into(),
                build_ref: Some("local/local/abc".into()),
            },
        );
        doc.rbake.results.insert(
            "build:app:linux/arm64".into(),
            NodeResult {
                status: "done".into(),
                milliseconds: Some(1200),
                cached_percent: Some(50),
                builder: Some("local".into()),
            },
        );
        doc.rbake.published.push(Published {
            tag: "r/app:1".into(),
            digest: digest.clone(),
            platforms: vec!["linux/arm64".into()],
        });
        doc.targets.insert(
            "app".into(),
            Target {
                digest: Some(digest.clone()),
                image_name: Some("r/app:1".into()),
                ..Target::default()
            },
        );
        let text = doc.to_json();
        let back: Document = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        let value: J = serde_json::from_str(&text).unwrap();
        // A buildx user's script reads the same keys.
        assert_eq!(value["app"]["containerimage.digest"], digest.as_str());
        assert_eq!(value["app"]["image.name"], "r/app:1");
        assert!(value["app"].get("buildx.build.ref").is_none());
        assert_eq!(value[RESERVED]["schema"], SCHEMA);
        assert!(schema()["$defs"]["Details"]["properties"]["nodes"].is_object());
    }

    #[test]
    fn the_reserved_key_cannot_be_a_target_name() {
        assert!(!crate::eval::matrix::valid_name(RESERVED));
    }
}
