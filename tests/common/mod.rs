//! What the CLI test files share: a throw-away working directory and a way to run the built
//! binary in it with a clean environment.

#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed when dropped. Tests run in parallel
/// threads of one process and several test binaries may run at once, so the name carries the
/// process id and a per-process counter as well as a readable label.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rbake-test-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// A temp dir holding a copy of the files in `from`, subfolders included.
    pub fn copy_of(from: &Path, label: &str) -> TempDir {
        let dir = TempDir::new(label);
        copy_tree(from, &dir.path);
        dir
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path.join(name), text).expect("write test file");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture entry");
        let kind = entry.file_type().expect("file type");
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir_all(&target).expect("create fixture subdir");
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target).expect("copy fixture file");
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when a signal ended the process (an abort, say).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rbake ARGS` in `dir` with only `env` in its environment, so that the tester's own
/// variables (a stray `TAG`, say) cannot leak into a variable override.
pub fn rbake(dir: &Path, args: &[&str], env: &[(String, String)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_rbake"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run rbake");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Parses `KEY=VALUE` lines (value is everything after the first `=`; blank lines skipped),
/// the format of the conformance cases' `env` files.
pub fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("env line without `=`: {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Splits stderr into the diagnostics miette printed, each starting with its unindented
/// `rbake::code` line; related notes stay with the diagnostic they belong to.
pub fn split_diagnostics(stderr: &str) -> Vec<&str> {
    let starts: Vec<usize> = stderr
        .match_indices("rbake::")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || stderr.as_bytes()[i - 1] == b'\n')
        .collect();
    assert!(!starts.is_empty(), "no diagnostic on stderr:\n{stderr}");
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| &stderr[s..starts.get(n + 1).copied().unwrap_or(stderr.len())])
        .collect()
}
