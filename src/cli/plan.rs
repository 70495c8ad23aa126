//! `rbake plan`: the dry run. Resolves the spec, lowers it into the build graph, checks it
//! against the builders and the local files, and shows exactly what `apply` would do.

use std::path::Path;

use clap::{Args, ValueEnum};

use super::settings::Settings;
use super::{SpecArgs, emit, spec};
use crate::check::{self, Facts, PathFact};
use crate::model::{Capabilities, Platform};
use crate::plan::{self, Plan};
use crate::report;
use crate::source::{Diag, Diags};

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "tree")]
    pub format: Format,
    /// Also write the plan as JSON to FILE, for `rbake apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// Grant an entitlement: network.host, security.insecure, fs.read=PATH (repeatable)
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Tree,
    Json,
    Dot,
}

/// A checked plan with everything needed to show or run it.
pub struct Checked {
    pub plan: Plan,
    pub loaded: spec::Loaded,
}

pub fn run(settings: &Settings, args: &PlanArgs) -> Result<(), spec::Failed> {
    let checked = build(settings, &args.spec, &args.allow)?;
    let plan = &checked.plan;
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&report::plan::to_json(plan)).unwrap_or_default();
        if let Err(e) = std::fs::write(settings.cwd.join(path), text + "\n") {
            let d = Diag::error(
                "cli::write_plan",
                format!("cannot write the plan to `{path}`: {e}"),
            )
            .help("check that the directory exists and is writable");
            emit(&[d], &checked.loaded.sources);
            return Err(1);
        }
    }
    match args.format {
        Format::Tree => print!("{}", report::plan::tree(plan)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::plan::to_json(plan)).unwrap_or_default()
        ),
        Format::Dot => print!("{}", report::plan::dot(plan)),
    }
    Ok(())
}

/// Resolves, lowers and checks. Diagnostics are emitted here; `Err` carries the exit code.
pub fn build(
    settings: &Settings,
    spec_args: &SpecArgs,
    allow: &[String],
) -> Result<Checked, spec::Failed> {
    let mut loaded = match spec::load(settings, spec_args) {
        Ok(l) => l,
        Err((sources, diags)) => {
            emit(&diags.0, &sources);
            return Err(1);
        }
    };
    let def = match spec::resolve(settings, spec_args, &mut loaded) {
        Ok(d) => d,
        Err(diags) => {
            emit(&loaded.warnings, &loaded.sources);
            emit(&diags.0, &loaded.sources);
            return Err(1);
        }
    };
    let builders = capabilities(settings, &loaded);
    let mut diags = Diags::default();
    let plan = plan::lower(&def, builders, &mut diags);
    let facts = gather(settings, &def, allow);
    let declared: Vec<_> = loaded.config.builders.values().cloned().collect();
    check::verify(
        &plan,
        &def,
        &declared,
        &facts,
        &mut loaded.sources,
        &mut diags,
    );
    let mut all = std::mem::take(&mut loaded.warnings);
    all.extend(diags.0);
    all.sort_by_key(|d| d.is_error());
    emit(&all, &loaded.sources);
    if all.iter().any(Diag::is_error) {
        return Err(1);
    }
    Ok(Checked { plan, loaded })
}

/// The builders' declared capabilities, or the implicit local engine when none is declared.
fn capabilities(settings: &Settings, loaded: &spec::Loaded) -> Vec<Capabilities> {
    let local = Platform::parse(&super::settings::local_platform()).unwrap_or(Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    });
    let endpoint = settings
        .env
        .get("DOCKER_HOST")
        .cloned()
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
    if loaded.config.builders.is_empty() {
        return vec![Capabilities::implicit(endpoint, local)];
    }
    loaded
        .config
        .builders
        .values()
        .map(|b| Capabilities::declared(b, &endpoint, &local))
        .collect()
}

/// Reads what the checks need: the paths the definition names, and which variables are set.
fn gather(settings: &Settings, def: &crate::model::Definition, allow: &[String]) -> Facts {
    let mut facts = Facts {
        allow: allow.to_vec(),
        ..Facts::default()
    };
    facts.env = settings.env.keys().cloned().collect();
    for need in check::needs(def) {
        let path = settings.cwd.join(Path::new(&need.path));
        let fact = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => PathFact::Dir,
            Ok(_) if need.read => PathFact::File(std::fs::read_to_string(&path).ok()),
            Ok(_) => PathFact::File(None),
            Err(_) => PathFact::Missing,
        };
        facts.paths.insert(need.path, fact);
    }
    facts
}
