//! General helpers every layer may use: no I/O, no knowledge of specs, plans or engines.
//! Everything here sits below `source` in the layering (ARCHITECTURE.md).

pub mod csv;
pub mod path;
pub mod patterns;
pub mod suggest;

pub use csv::csv_fields;
pub use path::{clean_path, is_remote};
pub use suggest::did_you_mean;

/// Lowercase hexadecimal, as digests are written.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
