//! rbake: build multi-platform container images from one declarative spec.
//!
//! Data flows one way: `base → source → syntax → spec → model → eval → plan → check → exec
//! → report → cli`; each layer uses only those to its left (`layers.rs` checks it). See
//! ARCHITECTURE.md.

pub mod base;
pub mod check;
pub mod cli;
pub mod eval;
pub mod exec;
pub mod layers;
pub mod model;
pub mod plan;
pub mod report;
pub mod source;
pub mod spec;
pub mod syntax;
