fn main() -> std::process::ExitCode {
    rbake::cli::main()
}
