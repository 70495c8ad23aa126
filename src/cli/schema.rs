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
    /// The plan written by `rbake plan --format json` / `--out` (schema/plan.v1.json)
    Plan,
}

/// The schema text exactly as committed in `schema/`.
pub fn text(which: Which) -> String {
    let value = match which {
        Which::Plan => report::plan::schema(),
    };
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

pub fn run(args: &SchemaArgs) -> Result<(), spec::Failed> {
    print!("{}", text(args.which));
    Ok(())
}
