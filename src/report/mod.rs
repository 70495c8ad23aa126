//! What users read: the resolved definition as bake's `--print` JSON, tables for `ls`.

pub mod plan;
pub mod print;
pub mod table;
