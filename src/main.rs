// Resolving and planning allocate many small strings and maps; glibc's allocator spent a
// third of the time there (consolidating fastbins, growing the worker thread's arena by
// mprotect). mimalloc halves end-to-end time on large specs (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` in mimalloc v2's `mi_option_e`.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Return freed memory to the OS at once rather than after 10 ms: streaming a large
    // context allocates and frees packet buffers faster than the delayed purge keeps up,
    // which raised the peak resident set from about 50 to about 80 MiB on a 200 MiB context.
    // SAFETY: setting an option is a plain store into mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
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
