//! rbake: build multi-platform container images from one declarative spec.
//!
//! Data flows one way: `source → syntax → spec → eval → model → report`, with `cli` on
//! top. See ARCHITECTURE.md.

pub mod check;
pub mod cli;
pub mod eval;
pub mod exec;
pub mod model;
pub mod plan;
pub mod report;
pub mod source;
pub mod spec;
pub mod syntax;
