//! The only code that talks to engines, BuildKit and registries. It reports through return
//! values and events; it never prints.

pub mod agent;
pub mod apply;
pub mod attest;
pub mod build;
pub mod context;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod events;
pub mod export;
pub mod filesend;
pub mod filesync;
pub mod frontend;
pub mod fsreceive;
pub mod fswalk;
pub mod image;
pub mod inputs;
pub mod paths;
pub mod probe;
pub mod publish;
pub mod registry;
pub mod schedule;
pub mod session;
pub mod solve;
pub mod uptodate;
pub mod verify;
