//! Every test that needs no engine, in one binary: the CLI run as users run it, the
//! diagnostic fixtures (`print`, `plan`, `build.toml`), the examples, the docs and schemas
//! against the code, and the fuzzer. `cargo test --release --test offline` runs them all;
//! `cargo test --release --test offline diagnostics::` one module.

#[path = "../support/mod.rs"]
mod support;

mod ci_recipes;
mod cli;
mod diagnostics;
mod docs;
mod examples;
mod fuzz;
mod plan;
mod plan_diagnostics;
mod schema;
mod toml;
