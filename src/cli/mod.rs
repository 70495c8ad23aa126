//! The command line: clap definitions and one file per subcommand.

mod apply;
mod ls;
mod plan;
mod print;
pub mod schema;
pub mod settings;
mod spec;

use std::io::IsTerminal;
use std::process::ExitCode;

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
    after_help = "Exit codes: 0 success, 1 problems in the input, 2 usage errors."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the resolved definition as JSON, like `docker buildx bake --print`
    Print(SpecArgs),
    /// Show what `apply` would do: per-platform builds, pushes, loads, exports; check them
    Plan(plan::PlanArgs),
    /// Run the plan over BuildKit: build every platform, then push, load and export
    Apply(apply::ApplyArgs),
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
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let settings = settings::Settings::from_process();
    let result = match cli.command {
        Command::Print(args) => print::run(&settings, &args),
        Command::Plan(args) => plan::run(&settings, &args),
        Command::Apply(args) => apply::run(&settings, &args),
        Command::Ls(args) => ls::run(&settings, &args),
        Command::Schema(args) => schema::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
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
        eprint!("{out}");
    }
}
