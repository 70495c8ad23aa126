//! Everything read from the process once: environment, working directory, clock. Later
//! layers receive these as plain data (`eval::Inputs`) and do no I/O of their own.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::eval::{self, stdlib};

#[derive(Clone, Debug)]
pub struct Settings {
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub now_unix: i64,
}

impl Settings {
    pub fn from_process() -> Settings {
        Settings {
            env: std::env::vars().collect(),
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
