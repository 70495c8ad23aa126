// Resolving and planning allocate many small strings and maps; glibc's allocator spent a
// third of the time there (consolidating fastbins, growing the worker thread's arena by
// mprotect). mimalloc halves end-to-end time on large specs (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc 3 (libmimalloc-sys 0.1.49) holds freed pages for a second before returning them
// (`purge_delay` 1000 ms). A print is over before that, so the pages the syntax tree freed
// after evaluation were not reused for the resolved definition's sizes, and the peak grew by
// 10 MB on a 5000-target file. 10 ms is mimalloc 2's default; it costs about 10% more
// system time there (docs/benchmarks.md). The function is part of mimalloc's C library,
// which the crate links; the crate exposes it only behind a feature that adds a dependency.
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> std::process::ExitCode {
    // `apply` streams large contexts through short-lived packet buffers faster than a
    // delayed purge returns them: purging at once keeps its peak near 50 MiB on a 200 MiB
    // context (about 80 MiB otherwise).
    let apply = std::env::args_os().nth(1).is_some_and(|a| a == "apply");
    // SAFETY: sets one integer option before any other thread exists.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, if apply { 0 } else { 10 }) };
    // Evaluation recurses once per nested reference and expression; the depth limits keep it
    // bounded, and a generous stack keeps those limits far from the edge in debug builds too.
    let worker = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(rbake::cli::main);
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => std::process::ExitCode::from(101),
    }
}
