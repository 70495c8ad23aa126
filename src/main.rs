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
