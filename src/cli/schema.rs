//! `rbake schema <which>`: prints the JSON Schemas rbake publishes in `schema/`.

use clap::{Args, ValueEnum};

use super::spec;
use crate::report;

#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// Which schema
    #[arg(value_enum)]
    which: Which,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// rbake's `build.toml` spec (schema/build-toml.v1.json)
    BuildToml,
    /// A `docker-bake.json` bake file in HCL's JSON syntax (schema/bake-json.v1.json)
    BakeJson,
    /// The plan written by `rbake plan --format json` / `--out` (schema/plan.v1.json)
    Plan,
    /// The file `rbake apply --metadata-file` writes (schema/metadata.v2.json)
    Metadata,
    /// The file `rbake apply --shard S --result FILE` writes (schema/shard-result.v1.json)
    ShardResult,
}

impl Which {
    /// Every schema, with the file under `schema/` it is committed as.
    pub const ALL: &[(Which, &str)] = &[
        (Which::BuildToml, "build-toml.v1.json"),
        (Which::BakeJson, "bake-json.v1.json"),
        (Which::Plan, "plan.v1.json"),
        (Which::Metadata, "metadata.v2.json"),
        (Which::ShardResult, "shard-result.v1.json"),
    ];
}

/// The schema text exactly as committed in `schema/`.
pub fn text(which: Which) -> String {
    let value = match which {
        Which::BuildToml => report::reference::toml_schema(),
        Which::BakeJson => report::reference::bake_json_schema(),
        Which::Plan => report::plan::schema(),
        Which::Metadata => report::metadata::schema(),
        Which::ShardResult => report::shard::schema(),
    };
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

pub fn run(args: &SchemaArgs) -> Result<(), spec::Failed> {
    super::stdout(&text(args.which))
}
