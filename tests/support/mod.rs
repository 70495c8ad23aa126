//! What every test binary shares (`tests/offline/`, `tests/e2e/` include it as `support`):
//! throw-away working directories and copies of fixture trees, a way to run the built binary
//! in one with a clean environment, and the diagnostic fixtures' harness: one folder per
//! problem, run as a user would, its snapshot, the exact span its primary caret underlines,
//! and for every diagnostic a `╭─[file:line:col]` header and a `help:` line.

#![allow(dead_code)] // Each test binary uses a different part of this module.

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
        // Fixed-width numbers: a message quoting the path wraps at the same place in every
        // run, so redacting it leaves the same snapshot.
        let path = std::env::temp_dir().join(format!(
            "rbake-test-{:07}-{n:04}-{label}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// A temp dir holding a copy of the tree at `from` (see [`copy_tree`]).
    pub fn copy_of(from: &Path, label: &str) -> TempDir {
        let dir = TempDir::new(label);
        copy_tree(from, &dir.path);
        dir
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path.join(name), text).expect("write test file");
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

/// Copies the tree at `from` into `to` (created if missing), subfolders included; symlinks
/// are recreated as symlinks, so fixtures can hold links that point outside themselves.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", from.display()))
    {
        let entry = entry.expect("fixture entry");
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("read fixture symlink");
            std::os::unix::fs::symlink(target, &dest).expect("recreate fixture symlink");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy fixture file");
        }
    }
}

/// A file of a fixture folder, if it has one.
pub fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

/// The exit code; a run ended by a signal is a failure of its own.
pub fn code(run: &Run) -> i32 {
    run.code
        .unwrap_or_else(|| panic!("rbake was killed by a signal:\n{}", run.stderr))
}

/// Runs one `print` fixture (`tests/fixtures/diagnostics/`, `tests/fixtures/toml/diagnostics/`):
/// `rbake print ARGS` in a temp copy of `root/NAME`, where `args` holds the arguments after
/// `print` and optionally `env` the only environment the run gets. Temp paths in stderr are
/// redacted. The caller snapshots [`shown`] (insta names snapshots after the calling module)
/// and then calls [`check_print_fixture`]; [`print_fixtures!`] does both.
pub fn run_print_fixture(root: &Path, name: &str) -> Run {
    let src = root.join(name);
    let args_text =
        read(&src, "args").unwrap_or_else(|| panic!("fixture {name} has no `args` file"));
    let env = read(&src, "env").map(|t| parse_env(&t)).unwrap_or_default();
    let dir = TempDir::copy_of(&src, name);
    let mut args = vec!["print"];
    args.extend(args_text.split_whitespace());
    let mut run = rbake(&dir.path, &args, &env);
    // A message may name the working directory, which differs per run: only the path is
    // redacted, never the whole line.
    run.stderr = redact(&run.stderr, &dir.path);
    run
}

/// `text` with the temp dir `path` replaced by `[TMP]`, also where miette wrapped a message
/// inside the path (temp dir names have a fixed width, so the wrap is the same every run).
pub fn redact(text: &str, path: &Path) -> String {
    let wrap = r"(?:\n *│ )?";
    let pattern: Vec<String> = path
        .display()
        .to_string()
        .chars()
        .map(|c| regex::escape(&c.to_string()))
        .collect();
    let re = regex::Regex::new(&pattern.join(wrap)).expect("a valid pattern");
    re.replace_all(text, "[TMP]").into_owned()
}

/// `print_fixtures!("tests/fixtures/...", name: "folder" exits CODE; ...)` defines a test per
/// `print` fixture folder (run, snapshot, [`check_print_fixture`]) and one requiring every
/// folder under the root to be listed. It expands in the calling module, so insta names the
/// snapshots after that module.
#[allow(unused_macros)] // The e2e binary has no `print` fixtures.
macro_rules! print_fixtures {
    ($root:literal, $($test:ident: $dir:literal exits $code:literal;)*) => {
        fn fixture_root() -> std::path::PathBuf {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join($root)
        }

        $(
            #[test]
            fn $test() {
                let run = $crate::support::run_print_fixture(&fixture_root(), $dir);
                insta::assert_snapshot!($dir, $crate::support::shown(&run));
                $crate::support::check_print_fixture(&fixture_root(), $dir, &run, $code);
            }
        )*

        #[test]
        fn every_fixture_folder_has_a_test() {
            $crate::support::assert_every_fixture_listed(&fixture_root(), &[$($dir),*]);
        }
    };
}
#[allow(unused_imports)] // The e2e binary has no `print` fixtures.
pub(crate) use print_fixtures;

/// What a `print` fixture's snapshot holds: the exit code and stderr (without colour, since
/// stderr is a pipe).
pub fn shown(run: &Run) -> String {
    format!("exit code: {}\n--- stderr\n{}", code(run), run.stderr)
}

/// Checks a `print` fixture's run: the exit code; on 0 a warning and JSON on stdout,
/// otherwise an error and nothing on stdout; every report's header and help line
/// ([`check_reports`]); and that the primary caret underlines exactly the fixture's `span`.
pub fn check_print_fixture(root: &Path, name: &str, run: &Run, want_code: i32) {
    assert_eq!(
        code(run),
        want_code,
        "exit code of {name}; stderr:\n{}",
        run.stderr
    );
    if want_code == 0 {
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "{name}: a warning must not stop the JSON output ({e}):\n{}",
                run.stdout
            )
        });
        assert!(
            run.stderr.contains('⚠'),
            "{name}: expected a warning on stderr:\n{}",
            run.stderr
        );
    } else {
        assert!(
            run.stdout.is_empty(),
            "{name}: a failed run printed to stdout:\n{}",
            run.stdout
        );
        assert!(
            run.stderr.contains('×'),
            "{name}: expected an error on stderr:\n{}",
            run.stderr
        );
    }
    check_reports(name, &run.stderr);
    let want_span = read(&root.join(name), "span")
        .unwrap_or_else(|| panic!("fixture {name} has no `span` file"));
    let want_span = want_span.strip_suffix('\n').unwrap_or(&want_span);
    assert_eq!(
        underlined(&run.stderr).as_deref(),
        Some(want_span),
        "{name}: the primary caret is misplaced:\n{}",
        run.stderr
    );
}

/// Every diagnostic on stderr points somewhere and says what to do: each report (a
/// diagnostic and its related reports) has a `╭─[file:line:col]` header, and each diagnostic
/// a `help:` line.
pub fn check_reports(name: &str, stderr: &str) {
    for diag in split_diagnostics(stderr) {
        for part in diag.split("\nError: ") {
            assert!(
                header(part).is_some(),
                "{name}: a report has no `╭─[file:line:col]` header:\n{part}"
            );
        }
        assert!(
            diag.lines().any(|l| l.trim_start().starts_with("help: ")),
            "{name}: a diagnostic has no `help:` line:\n{diag}"
        );
    }
}

/// The first `╭─[name:line:col]` header: the primary location.
pub fn header(text: &str) -> Option<(String, usize, usize)> {
    let re = regex::Regex::new(r"╭─\[([^\]]+):(\d+):(\d+)\]").expect("valid regex");
    let c = re.captures(text)?;
    Some((c[1].to_string(), c[2].parse().ok()?, c[3].parse().ok()?))
}

/// The text under the first label of the first diagnostic: the snippet line numbered as the
/// header says, cut where the underline (`──┬──`) on the next line starts and ends.
pub fn underlined(stderr: &str) -> Option<String> {
    let (_, line, col) = header(stderr)?;
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{line} │")))?;
    let source: Vec<char> = lines[at].split_once("│ ")?.1.chars().collect();
    let marks: Vec<char> = lines.get(at + 1)?.split_once("· ")?.1.chars().collect();
    let start = marks.iter().position(|c| *c != ' ')?;
    let len = marks[start..]
        .iter()
        .take_while(|c| matches!(c, '─' | '┬'))
        .count();
    assert_eq!(
        start + 1,
        col,
        "the underline starts at another column than the header says:\n{stderr}"
    );
    Some(source.get(start..start + len)?.iter().collect())
}

/// Every folder under a fixture root is listed in its test module's `fixtures!`.
pub fn assert_every_fixture_listed(root: &Path, listed: &[&str]) {
    let mut on_disk: Vec<String> = std::fs::read_dir(root)
        .expect("fixture root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add new fixture folders to `fixtures!`");
}
