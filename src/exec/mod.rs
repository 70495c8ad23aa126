//! The only code that talks to engines and BuildKit. It reports through return values and
//! events; it never prints.

pub mod engine;
pub mod probe;
