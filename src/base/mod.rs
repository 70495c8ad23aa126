//! General helpers every layer may use: no I/O, no knowledge of specs, plans or engines.
//! Everything here sits below `source` in the layering (ARCHITECTURE.md).

pub mod csv;
pub mod number;
pub mod path;
pub mod patterns;
pub mod suggest;

pub use csv::csv_fields;
pub use number::Number;
pub use path::{clean_path, is_remote};
pub use suggest::did_you_mean;

/// Lowercase hexadecimal, as digests are written.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// From this many targets on, the stages that can (evaluation, resolution, `print`) split
/// their work over two threads.
const SPLIT_FROM: usize = 256;

/// Whether work on `items` targets is worth a second thread: enough of them, and a second
/// core to run it on.
pub fn worth_two_threads(items: usize) -> bool {
    items >= SPLIT_FROM && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}
