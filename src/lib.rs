//! rbake: build multi-platform container images from one declarative spec.
//!
//! Data flows one way: `source → syntax → spec → eval → model → report`, with `cli` on
//! top. See ARCHITECTURE.md.

pub mod cli;
pub mod eval;
pub mod model;
pub mod report;
pub mod source;
pub mod spec;
pub mod syntax;
