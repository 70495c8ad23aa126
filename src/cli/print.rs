//! `rbake print`.

use clap::Args;

use super::settings::Settings;
use super::{SpecArgs, emit, spec};
use crate::report;

/// `print` takes bake's whole command line; like `bake --print`, it ignores the flags that
/// only matter to a build.
#[derive(Args, Debug)]
pub struct PrintArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Accepted for bake's command line and ignored: printing builds nothing
    #[arg(long, value_name = "TYPE")]
    pub progress: Option<String>,
    /// Accepted for bake's command line and ignored: printing builds nothing to describe
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<String>,
    /// Grant an entitlement; printing reads only spec files, so only `fs.read=PATH` matters
    /// here, for compose `include`, `extends.file` and `env_file` outside the working
    /// directory (`rbake plan` checks the rest)
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
}

pub fn run(settings: &Settings, args: &PrintArgs) -> Result<(), spec::Failed> {
    let allow = &args.allow;
    let args = &args.spec;
    let mut loaded = match spec::load(settings, args, allow) {
        Ok(l) => l,
        Err((sources, diags)) => {
            emit(&diags.0, &sources);
            return Err(1);
        }
    };
    let def = match spec::resolve(settings, args, &mut loaded) {
        Ok(d) => d,
        Err(diags) => {
            emit(&loaded.warnings, &loaded.sources);
            emit(&diags.0, &loaded.sources);
            return Err(1);
        }
    };
    emit(&loaded.warnings, &loaded.sources);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    super::finish_stdout(report::print::write(&def, &mut out).and_then(|()| {
        use std::io::Write;
        out.flush()
    }))?;
    // The process ends right after this: freeing a large definition piece by piece would
    // only cost time (several percent on big specs).
    std::mem::forget(def);
    std::mem::forget(loaded);
    Ok(())
}
