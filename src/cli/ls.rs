//! `rbake ls [targets|groups|variables]`.

use clap::{Args, ValueEnum};

use super::settings::Settings;
use super::{SpecArgs, emit, spec};
use crate::eval::VarSource;
use crate::report::table;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// What to list
    #[arg(value_enum, default_value = "targets")]
    what: What,
    /// Spec file to read (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum What {
    Targets,
    Groups,
    Variables,
}

pub fn run(settings: &Settings, args: &LsArgs) -> Result<(), spec::Failed> {
    let spec_args = SpecArgs {
        files: args.files.clone(),
        ..SpecArgs::default()
    };
    let loaded = match spec::load(settings, &spec_args, &[]) {
        Ok(l) => l,
        Err((sources, diags)) => {
            emit(&diags.0, &sources);
            return Err(1);
        }
    };
    emit(&loaded.warnings, &loaded.sources);
    let c = &loaded.config;
    let out = match args.what {
        What::Targets => {
            let rows: Vec<Vec<String>> = c
                .targets
                .values()
                .map(|t| {
                    let platforms: Vec<&str> = t
                        .list("platforms")
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect();
                    vec![
                        t.name.clone(),
                        t.str("description").unwrap_or("").to_string(),
                        if platforms.is_empty() {
                            "(builder default)".into()
                        } else {
                            platforms.join(",")
                        },
                    ]
                })
                .collect();
            table::render(&["TARGET", "DESCRIPTION", "PLATFORMS"], &rows)
        }
        What::Groups => {
            let rows: Vec<Vec<String>> = c
                .groups
                .values()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        g.description.clone().unwrap_or_default(),
                        g.targets
                            .iter()
                            .map(|t| t.value.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect();
            table::render(&["GROUP", "DESCRIPTION", "TARGETS"], &rows)
        }
        What::Variables => {
            let rows: Vec<Vec<String>> = c
                .variables
                .iter()
                .map(|v| {
                    let value = match &v.value {
                        crate::eval::value::Value::Null => "null".to_string(),
                        other => other
                            .to_str()
                            .unwrap_or_else(|| other.to_json().to_string()),
                    };
                    let source = match &v.source {
                        VarSource::Default => "default".to_string(),
                        VarSource::Env(name) => format!("env ${name}"),
                        VarSource::Unset => "unset".to_string(),
                    };
                    vec![
                        v.name.clone(),
                        value,
                        source,
                        v.description.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            table::render(&["VARIABLE", "VALUE", "FROM", "DESCRIPTION"], &rows)
        }
    };
    super::stdout(&out)?;
    Ok(())
}
