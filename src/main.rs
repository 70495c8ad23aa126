// Resolving and planning allocate many small strings and maps; glibc's allocator spent a
// third of the time there (consolidating fastbins, growing the worker thread's arena by
// mprotect). mimalloc halves end-to-end time on large specs (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
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
