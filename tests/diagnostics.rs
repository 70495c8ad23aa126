//! One fixture per kind of bad input, run through the built binary exactly as a user would:
//! `rbake print ARGS` in a temp copy of `tests/fixtures/diagnostics/NAME/`.
//!
//! A fixture folder holds the bake file(s), `args` (the arguments after `print`, split on
//! whitespace), `span` (the exact text the primary caret must underline) and optionally `env`
//! (`KEY=VALUE` lines, the only environment the run gets). The snapshot is the exit code and
//! stderr, rendered without colour since stderr is a pipe.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, TempDir, parse_env, rbake};

macro_rules! fixtures {
    ($($test:ident: $dir:literal exits $code:literal;)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($dir, $code);
            }
        )*
        const FIXTURES: &[&str] = &[$($dir),*];
    };
}

fixtures! {
    hcl_syntax_error: "hcl-syntax-error" exits 1;
    json_syntax_error: "json-syntax-error" exits 1;
    block_extra_label: "block-extra-label" exits 1;
    undefined_variable: "undefined-variable" exits 1;
    unknown_function: "unknown-function" exits 1;
    function_argument_count: "function-argument-count" exits 1;
    builtin_argument_count: "builtin-argument-count" exits 1;
    function_missing_result: "function-missing-result" exits 1;
    platforms_not_a_list: "platforms-not-a-list" exits 1;
    no_cache_not_a_bool: "no-cache-not-a-bool" exits 1;
    unknown_target: "unknown-target" exits 1;
    inherits_unknown_parent: "inherits-unknown-parent" exits 1;
    set_unknown_key: "set-unknown-key" exits 1;
    set_missing_equals: "set-missing-equals" exits 1;
    set_no_match: "set-no-match" exits 1;
    set_bool_invalid: "set-bool-invalid" exits 1;
    variable_cycle: "variable-cycle" exits 1;
    name_without_matrix: "name-without-matrix" exits 1;
    matrix_duplicate_names: "matrix-duplicate-names" exits 1;
    invalid_target_name: "invalid-target-name" exits 1;
    context_links_itself: "context-links-itself" exits 1;
    linked_platform_mismatch: "linked-platform-mismatch" exits 1;
    variable_default_type_mismatch: "variable-default-type-mismatch" exits 1;
    validation_failed: "validation-failed" exits 1;
    env_bool_invalid: "env-bool-invalid" exits 1;
    null_in_template: "null-in-template" exits 1;
    index_out_of_range: "index-out-of-range" exits 1;
    divide_by_zero: "divide-by-zero" exits 1;
    unclosed_string: "unclosed-string" exits 1;
    invalid_utf8: "invalid-utf8" exits 1;
    column_after_multibyte: "column-after-multibyte" exits 1;
    string_doubling_functions: "string-doubling-functions" exits 1;
    matrix_too_large: "matrix-too-large" exits 1;
    too_much_work: "too-much-work" exits 1;
    compose_split_incomplete: "compose-split-incomplete" exits 1;
    compose_extends_cycle: "compose-extends-cycle" exits 1;
    compose_extends_unknown: "compose-extends-unknown" exits 1;
    compose_include_missing: "compose-include-missing" exits 1;
    compose_include_cycle: "compose-include-cycle" exits 1;
    compose_env_file_missing: "compose-env-file-missing" exits 1;
    compose_read_outside: "compose-read-outside" exits 1;
    warning_unknown_attribute: "warning-unknown-attribute" exits 0;
    warning_unknown_block: "warning-unknown-block" exits 0;
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diagnostics")
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok()
}

fn run_fixture(name: &str) -> Run {
    let src = fixture_root().join(name);
    let args_text =
        read(&src, "args").unwrap_or_else(|| panic!("fixture {name} has no `args` file"));
    let env = read(&src, "env").map(|t| parse_env(&t)).unwrap_or_default();
    let dir = TempDir::copy_of(&src, name);
    let mut args = vec!["print"];
    args.extend(args_text.split_whitespace());
    let mut run = rbake(&dir.path, &args, &env);
    // A message may name the working directory, which differs per run: only the path is
    // redacted, never the whole line.
    let tmp = dir.path.display().to_string();
    run.stderr = run.stderr.replace(&tmp, "[TMP]");
    run
}

fn check_fixture(name: &str, want_code: i32) {
    let run = run_fixture(name);
    let code = run
        .code
        .unwrap_or_else(|| panic!("{name}: rbake was killed by a signal:\n{}", run.stderr));
    let snapshot = format!("exit code: {code}\n--- stderr\n{}", run.stderr);
    insta::assert_snapshot!(name, snapshot);

    assert_eq!(
        code, want_code,
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
    for diag in common::split_diagnostics(&run.stderr) {
        assert!(
            header(diag).is_some(),
            "{name}: a diagnostic has no `╭─[file:line:col]` header:\n{diag}"
        );
        assert!(
            diag.lines().any(|l| l.trim_start().starts_with("help: ")),
            "{name}: a diagnostic has no `help:` line:\n{diag}"
        );
    }

    let want_span = read(&fixture_root().join(name), "span")
        .unwrap_or_else(|| panic!("fixture {name} has no `span` file"));
    let want_span = want_span.strip_suffix('\n').unwrap_or(&want_span);
    assert_eq!(
        underlined(&run.stderr).as_deref(),
        Some(want_span),
        "{name}: the primary caret is misplaced:\n{}",
        run.stderr
    );
}

/// The first `╭─[name:line:col]` header: the primary location.
fn header(text: &str) -> Option<(String, usize, usize)> {
    let re = regex::Regex::new(r"╭─\[(.+):(\d+):(\d+)\]").expect("valid regex");
    let c = re.captures(text)?;
    Some((c[1].to_string(), c[2].parse().ok()?, c[3].parse().ok()?))
}

/// The text under the first label of the first diagnostic: the snippet line numbered as the
/// header says, cut where the underline (`──┬──`) on the next line starts and ends.
fn underlined(stderr: &str) -> Option<String> {
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

#[test]
fn every_fixture_folder_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture_root())
        .expect("fixture root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add new fixture folders to `fixtures!`");
}
