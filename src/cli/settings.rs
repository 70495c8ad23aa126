//! Everything read from the process once: environment, working directory, clock. Later
//! layers receive these as plain data (`eval::Inputs`) and do no I/O of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::eval::{self, stdlib};

#[derive(Clone, Debug)]
pub struct Settings {
    pub env: BTreeMap<String, String>,
    /// Variables whose values are not UTF-8 (`FOO=$'caf\xe9'`): kept out of `env` so nothing
    /// else is affected, and reported only if a spec variable reads one.
    pub env_not_utf8: BTreeSet<String>,
    pub cwd: PathBuf,
    pub now_unix: i64,
}

impl Settings {
    pub fn from_process() -> Settings {
        // `std::env::vars` panics on the first value that is not UTF-8, even one no spec
        // uses; a name that is not UTF-8 cannot be spelled in a spec and is skipped.
        let mut env = BTreeMap::new();
        let mut env_not_utf8 = BTreeSet::new();
        for (name, value) in std::env::vars_os() {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(v) => {
                    env.insert(name, v);
                }
                Err(_) => {
                    env_not_utf8.insert(name);
                }
            }
        }
        Settings {
            env,
            env_not_utf8,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            now_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }

    pub fn inputs(&self) -> eval::Inputs {
        let mut builtins = BTreeMap::new();
        builtins.insert("BAKE_CMD_CONTEXT".to_string(), "cwd://".to_string());
        builtins.insert("BAKE_LOCAL_PLATFORM".to_string(), local_platform());
        eval::Inputs {
            env: self.env.clone(),
            env_not_utf8: self.env_not_utf8.clone(),
            builtins,
            stdlib: stdlib::Env {
                now_unix: self.now_unix,
                home: self.env.get("HOME").cloned(),
            },
        }
    }
}

/// This machine's platform in OCI form, as bake's `BAKE_LOCAL_PLATFORM` gives it.
pub fn local_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm/v7",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}
