//! The command line: clap definitions and one file per subcommand.

mod apply;
pub mod endpoints;
mod ls;
pub mod pipeline;
mod plan;
mod print;
mod publish;
pub mod schema;
pub mod settings;
mod spec;
mod verify;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};

use crate::source::{Diag, SourceMap};

#[derive(Parser, Debug)]
#[command(
    name = "rbake",
    version,
    about = "Build multi-platform container images from one declarative spec",
    long_about = "rbake reads bake files (docker-bake.hcl, docker-bake.json, compose files) and rbake's \
build.hcl and build.toml, resolves them exactly as `docker buildx bake` does, plans per-platform builds and runs them \
over BuildKit.",
    after_help = "Exit codes: 0 success, 1 problems in the input, 2 usage errors, 101 an internal error (please report it); \
`apply` exits 130 after Ctrl-C and 143 after SIGTERM."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the resolved definition as JSON, like `docker buildx bake --print`
    Print(print::PrintArgs),
    /// Show what `apply` would do: per-platform builds, pushes, loads, exports; check them
    Plan(plan::PlanArgs),
    /// Run the plan over BuildKit: build every platform, then push, load and export
    Apply(apply::ApplyArgs),
    /// Write the indexes and tags of a sharded release, once every shard's result is in
    Publish(publish::PublishArgs),
    /// Read every tag a saved plan pushes back from its registry and check it against the
    /// plan: platforms, image configs, labels, annotations, digests
    Verify(verify::VerifyArgs),
    /// List targets, groups or variables
    Ls(ls::LsArgs),
    /// Print a JSON Schema rbake publishes (e.g. for the plan file)
    Schema(schema::SchemaArgs),
}

/// How to find and resolve the spec; shared by every subcommand that reads one.
#[derive(Args, Debug, Clone, Default)]
pub struct SpecArgs {
    /// Spec file to read (repeatable; later files override earlier ones; `-` reads stdin).
    /// Default: compose.yaml, docker-bake.json, docker-bake.hcl, their overrides, build.hcl,
    /// build.toml
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Override a target attribute: TARGET.KEY=VALUE (TARGET may be a glob like `*`;
    /// `KEY+=VALUE` appends to a list)
    #[arg(long = "set", value_name = "TARGET.KEY=VALUE")]
    pub set: Vec<String>,
    /// Targets or groups to resolve (default: the `default` group)
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Push every image output, as bake's `--push` (shorthand for `--set=*.push=true`)
    #[arg(long)]
    pub push: bool,
    /// Load every target into the local engine, as bake's `--load` (shorthand for
    /// `--set=*.output=type=docker`)
    #[arg(long)]
    pub load: bool,
    /// Build without cache (shorthand for `--set=*.no-cache=true`; `--no-cache=false` too)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = pipeline::go_bool)]
    pub no_cache: Option<bool>,
    /// Always pull base images (shorthand for `--set=*.pull=true`; `--pull=false` too)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = pipeline::go_bool)]
    pub pull: Option<bool>,
    /// Provenance attestation: `true`, `false` or options like `mode=max` (shorthand for
    /// `--set=*.attest=type=provenance,...`)
    #[arg(long, value_name = "VALUE")]
    pub provenance: Option<String>,
    /// SBOM attestation: `true`, `false` or options like `generator=IMAGE` (shorthand for
    /// `--set=*.attest=type=sbom,...`)
    #[arg(long, value_name = "VALUE")]
    pub sbom: Option<String>,
    /// Accepted for bake's command line; rbake uses the spec's `builder` blocks, or the
    /// engine at DOCKER_HOST when there are none
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    /// Newer bake's build method (`build`, `check`, `outline`, `targets`); rbake only builds,
    /// so anything but `build` is refused
    #[arg(long, value_name = "METHOD")]
    pub call: Option<String>,
    /// Newer bake's shorthand for `--call=check`; refused, as rbake does not run build checks
    #[arg(long)]
    pub check: bool,
}

/// Set by the panic hook: a panic anywhere (a worker task included) fails the run.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Whether anything panicked in this process.
pub fn panicked() -> bool {
    PANICKED.load(Ordering::SeqCst)
}

/// What every internal error asks of the user. The README names no issue tracker, so the
/// request names what a report needs instead of where to send it.
pub const REPORT_BUG: &str = "this is a bug in rbake, not a problem with your input; please report it to the rbake maintainers with the command you ran and this message";

/// Replaces Rust's panic message with a short request to report the bug, and records the
/// panic so the process exits non-zero even when the panic was caught (a tokio task).
/// `RUST_BACKTRACE=1` still adds the backtrace, as Rust's own hook does.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        PANICKED.store(true, Ordering::SeqCst);
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let at = info.location().map(|l| (l.file(), l.line()));
        let mut text = panic_message(&what, at);
        // `capture` reads RUST_BACKTRACE (and RUST_LIB_BACKTRACE) itself.
        let trace = std::backtrace::Backtrace::capture();
        if trace.status() == std::backtrace::BacktraceStatus::Captured {
            text.push_str(&format!("\nstack backtrace:\n{trace}"));
        }
        let _ = writeln!(std::io::stderr(), "{text}");
    }));
}

/// The panic report: one line with the message and where it happened, then the request.
fn panic_message(what: &str, at: Option<(&str, u32)>) -> String {
    // A multi-line payload would push the request out of sight; its first line says enough.
    let what = what.lines().next().unwrap_or("unknown cause");
    let at = at
        .map(|(file, line)| format!(" at {file}:{line}"))
        .unwrap_or_default();
    format!("rbake: internal error: {what}{at}\n{REPORT_BUG}")
}

/// Exit code of a run that panicked, as Rust's own.
pub(crate) const PANIC_EXIT: u8 = 101;

pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let settings = settings::Settings::from_process();
    // Debug builds panic on request, so `tests/offline/cli.rs` can check the panic hook and the exit
    // code through the binary; release builds have no such switch.
    #[cfg(debug_assertions)]
    if settings.env.contains_key("RBAKE_TEST_PANIC") {
        panic!("RBAKE_TEST_PANIC is set");
    }
    let result = match cli.command {
        Command::Print(args) => print::run(&settings, &args),
        Command::Plan(args) => plan::run(&settings, &args),
        Command::Apply(args) => apply::run(&settings, &args),
        Command::Verify(args) => verify::run(&settings, &args),
        Command::Publish(args) => publish::run(&settings, &args),
        Command::Ls(args) => ls::run(&settings, &args),
        Command::Schema(args) => schema::run(&args),
    };
    match result {
        _ if panicked() => ExitCode::from(PANIC_EXIT),
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}

/// Writes data to stdout. A reader that went away (`rbake print | head -1`) ends the run
/// quietly, as it ends any shell tool; another failure (`> /dev/full`) is a diagnostic.
pub fn stdout(text: &str) -> Result<(), spec::Failed> {
    let mut out = std::io::stdout().lock();
    finish_stdout(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// The end of writing to stdout: a closed pipe (`rbake print | head`) ends quietly, any other
/// failure is a diagnostic.
pub fn finish_stdout(written: std::io::Result<()>) -> Result<(), spec::Failed> {
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            let d = Diag::error("cli::write_stdout", format!("cannot write the output: {e}")).help(
                "check where stdout is redirected: the disk may be full or the file read-only",
            );
            emit(&[d], &SourceMap::new());
            Err(1)
        }
    }
}

/// Writes a line of text to stderr; a closed stderr is ignored, as there is nowhere left
/// to say anything.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Writes diagnostics to stderr, coloured on a terminal.
pub fn emit(diags: &[Diag], sources: &SourceMap) {
    let tty = std::io::stderr().is_terminal();
    let width = if tty { 120 } else { 100 };
    let handler = if tty {
        miette::GraphicalReportHandler::new().with_width(width)
    } else {
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(width)
    };
    for d in diags {
        let mut out = String::new();
        let report = d.to_report(sources);
        let _ = handler.render_report(&mut out, report.as_ref());
        let _ = std::io::stderr().write_all(out.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    /// A panic anywhere, even one caught (as tokio catches a task's), fails the run.
    #[test]
    fn a_caught_panic_still_fails_the_run() {
        super::install_panic_hook();
        let caught = std::panic::catch_unwind(|| panic!("deliberate, to test the hook"));
        assert!(caught.is_err());
        assert!(super::panicked());
    }

    /// One line says what and where; the next asks for a report.
    #[test]
    fn the_panic_message_asks_for_a_report() {
        let text = super::panic_message("index out of bounds\nmore", Some(("src/plan/mod.rs", 12)));
        assert_eq!(
            text,
            format!(
                "rbake: internal error: index out of bounds at src/plan/mod.rs:12\n{}",
                super::REPORT_BUG
            )
        );
    }
}
