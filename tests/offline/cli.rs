//! The command line as a user meets it: exit codes, data alone on stdout, diagnostics on
//! stderr, and the tables `rbake ls` prints. Each test runs the built binary in its own temp
//! directory with a clean environment.

use crate::support::{Run, TempDir, rbake};
use serde_json::{Value, json};

const SPEC: &str = r#"
variable "TAG" {
  default     = "latest"
  description = "image tag"
}
variable "REGISTRY" {
  default = "docker.io"
}
group "default" {
  targets = ["app", "db"]
}
group "ci" {
  description = "what CI builds"
  targets     = ["app"]
}
target "app" {
  description = "the web app"
  platforms   = ["linux/amd64", "linux/arm64"]
  tags        = ["${REGISTRY}/acme/app:${TAG}"]
}
target "db" {}
"#;

/// A temp dir holding `docker-bake.hcl` with `spec`.
fn project(label: &str, spec: &str) -> TempDir {
    let dir = TempDir::new(label);
    dir.write("docker-bake.hcl", spec);
    dir
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses stdout as one JSON document; fails if anything else shares stdout with it.
fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not only JSON ({e}):\n{}", run.stdout))
}

/// Splits an `ls` table into rows of cells, cutting each line where the header's columns
/// start (cells may be empty, so splitting on spaces would shift them).
fn table(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let head: Vec<char> = lines.next().expect("a header line").chars().collect();
    let starts: Vec<usize> = (0..head.len())
        .filter(|&i| head[i] != ' ' && (i == 0 || head[i - 1] == ' '))
        .collect();
    std::iter::once(head.iter().collect::<String>())
        .chain(lines.map(str::to_string))
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            (0..starts.len())
                .map(|c| {
                    let from = starts[c].min(chars.len());
                    let to = starts
                        .get(c + 1)
                        .map_or(chars.len(), |&e| e.min(chars.len()));
                    chars[from..to]
                        .iter()
                        .collect::<String>()
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .collect()
}

/// The table row whose first cell is `name`.
fn row<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no row `{name}` in {rows:?}"))
}

#[test]
fn help_exits_zero_and_names_the_subcommands() {
    let dir = TempDir::new("help");
    let run = rbake(&dir.path, &["--help"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("print"), "{}", run.stdout);
    assert!(run.stdout.contains("ls"), "{}", run.stdout);
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = project("unknown-flag", SPEC);
    let run = rbake(&dir.path, &["print", "--frobnicate"], &[]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--frobnicate"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn unknown_ls_kind_is_a_usage_error() {
    let dir = project("ls-bogus", SPEC);
    let run = rbake(&dir.path, &["ls", "bogus"], &[]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("bogus"), "{}", run.stderr);
}

#[test]
fn print_in_an_empty_dir_says_which_files_it_looked_for() {
    let dir = TempDir::new("empty");
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("couldn't find a bake definition"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("help:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("docker-bake.hcl") && run.stderr.contains("-f"),
        "{}",
        run.stderr
    );
}

#[test]
fn print_with_a_missing_file_names_it() {
    let dir = project("missing-file", SPEC);
    let run = rbake(&dir.path, &["print", "-f", "nope.hcl"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("nope.hcl"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn print_writes_only_json_to_stdout() {
    let dir = project("print", SPEC);
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");
    let out = json_of(&run);
    assert_eq!(out["group"]["default"]["targets"], json!(["app", "db"]));
    assert_eq!(
        out["target"]["app"]["tags"],
        json!(["docker.io/acme/app:latest"])
    );
    assert_eq!(
        out["target"]["app"]["platforms"],
        json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(out["target"]["db"]["dockerfile"], json!("Dockerfile"));
}

#[test]
fn print_applies_env_and_set_overrides() {
    let dir = project("print-overrides", SPEC);
    let run = rbake(
        &dir.path,
        &["print", "--set", "app.platform=linux/riscv64", "app"],
        &env(&[("TAG", "v1")]),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let out = json_of(&run);
    assert_eq!(
        out["target"]["app"]["tags"],
        json!(["docker.io/acme/app:v1"])
    );
    assert_eq!(out["target"]["app"]["platforms"], json!(["linux/riscv64"]));
    assert!(
        out["target"].get("db").is_none(),
        "only `app` was requested: {out}"
    );
}

/// Numbers as go-cty computes and prints them. Every expected text here is what
/// `docker buildx bake --print` (0.13.1) printed for the same file.
#[test]
fn print_computes_numbers_as_bake_does() {
    let spec = r#"
variable "V" { default = 1.5 }
target "n" {
  args = {
    SUM      = 0.1 + 0.2
    THIRD    = 1 / 3
    POW      = pow(2, 60)
    POW_SUM  = pow(2, 60) + 1
    ROOT     = pow(2, 0.5)
    LOG      = log(10, 3)
    FLOOR    = floor(-4.1)
    CEIL     = ceil(-0.5)
    NEG_ZERO = -0
    PRODUCT  = 0 * -5
    INF      = 1 / 0
    NEG_INF  = -1 / 0
    MOD_ZERO = 5 % 0
    MOD      = 10.5 % 3
    BIG      = 123456789012345678901234567890 * 123456789012345678901234567890
    PARSED   = parseint("ffffffffffffffffffffffffffffffffff", 16)
    TINY     = 1e-7
    HUGE     = 1024 * 1024 * 1024 * 1024 * 1024 * 1024 * 1024
    DIV      = 100000000000000000000000 / 3
    VAR      = V * 3
    JSON     = jsonencode([0.1 + 0.2, pow(2, 60)])
    SET      = join(",", false ? setunion(["b"], ["a"]) : ["c", "a", "c"])
  }
}
"#;
    let dir = project("print-numbers", spec);
    let run = rbake(&dir.path, &["print", "n"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let args = &json_of(&run)["target"]["n"]["args"];
    let third = format!("0.{}5", "3".repeat(154));
    let div = format!("33333333333333333333333.{}4", "3".repeat(131));
    let want = [
        ("SUM", "0.3"),
        ("THIRD", third.as_str()),
        ("POW", "1152921504606847000"),
        ("POW_SUM", "1152921504606846977"),
        ("ROOT", "1.4142135623730951"),
        ("LOG", "2.095903274289385"),
        ("FLOOR", "-5"),
        ("CEIL", "0"),
        ("NEG_ZERO", "-0"),
        ("PRODUCT", "-0"),
        ("INF", "+Inf"),
        ("NEG_INF", "-Inf"),
        ("MOD_ZERO", "5"),
        ("MOD", "1.5"),
        (
            "BIG",
            "15241578753238836750495351562536198787501905199875019052100",
        ),
        ("PARSED", "87112285931760246646623899502532662132735"),
        ("TINY", "0.0000001"),
        ("HUGE", "1180591620717411303424"),
        ("DIV", div.as_str()),
        ("VAR", "4.5"),
        ("JSON", "[0.3,1152921504606847000]"),
        ("SET", "a,c"),
    ];
    for (key, text) in want {
        assert_eq!(args[key], json!(text), "{key}");
    }
}

#[test]
fn print_reads_the_file_named_with_f() {
    let dir = TempDir::new("print-f");
    dir.write("other.hcl", r#"target "default" { tags = ["acme/other"] }"#);
    let run = rbake(&dir.path, &["print", "-f", "other.hcl"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        json_of(&run)["target"]["default"]["tags"],
        json!(["acme/other"])
    );
}

#[test]
fn warnings_go_to_stderr_and_keep_exit_zero() {
    let dir = project(
        "warnings",
        r#"target "default" {
  platfroms = ["linux/arm64"]
  tags      = ["acme/app"]
}
"#,
    );
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("unknown attribute `platfroms`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `platforms`?"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("platfroms"),
        "the warning leaked into stdout:\n{}",
        run.stdout
    );
    assert_eq!(
        json_of(&run)["target"]["default"]["tags"],
        json!(["acme/app"])
    );
}

#[test]
fn input_errors_exit_one_with_nothing_on_stdout() {
    let dir = project("input-error", r#"target "default" { tags = [UNDEFINED] }"#);
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("UNDEFINED"), "{}", run.stderr);
}

#[test]
fn ls_defaults_to_targets() {
    let dir = project("ls-default", SPEC);
    let explicit = rbake(&dir.path, &["ls", "targets"], &[]);
    let default = rbake(&dir.path, &["ls"], &[]);
    assert_eq!(default.code, Some(0), "{default:?}");
    assert_eq!(default.stdout, explicit.stdout);
}

#[test]
fn ls_targets_shows_names_descriptions_and_platforms() {
    let dir = project("ls-targets", SPEC);
    let run = rbake(&dir.path, &["ls", "targets"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rows = table(&run.stdout);
    assert_eq!(rows[0], ["TARGET", "DESCRIPTION", "PLATFORMS"]);
    assert_eq!(
        row(&rows, "app"),
        ["app", "the web app", "linux/amd64,linux/arm64"]
    );
    assert_eq!(row(&rows, "db"), ["db", "", "(builder default)"]);
    assert_eq!(rows.len(), 3, "{}", run.stdout);
}

#[test]
fn ls_groups_shows_members() {
    let dir = project("ls-groups", SPEC);
    let run = rbake(&dir.path, &["ls", "groups"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rows = table(&run.stdout);
    assert_eq!(rows[0], ["GROUP", "DESCRIPTION", "TARGETS"]);
    assert_eq!(row(&rows, "default"), ["default", "", "app,db"]);
    assert_eq!(row(&rows, "ci"), ["ci", "what CI builds", "app"]);
}

#[test]
fn ls_variables_shows_value_and_where_it_came_from() {
    let dir = project("ls-variables", SPEC);
    let run = rbake(&dir.path, &["ls", "variables"], &env(&[("TAG", "v1")]));
    assert_eq!(run.code, Some(0), "{run:?}");
    let rows = table(&run.stdout);
    assert_eq!(rows[0], ["VARIABLE", "VALUE", "FROM", "DESCRIPTION"]);
    assert_eq!(row(&rows, "TAG"), ["TAG", "v1", "env $TAG", "image tag"]);
    assert_eq!(
        row(&rows, "REGISTRY"),
        ["REGISTRY", "docker.io", "default", ""]
    );
}

#[test]
fn ls_reports_input_errors_like_print() {
    let dir = project("ls-error", r#"target "app" { tags = [UNDEFINED] }"#);
    let run = rbake(&dir.path, &["ls", "targets"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("╭─[docker-bake.hcl:1:24]"),
        "{}",
        run.stderr
    );
}

/// Writes a spec whose evaluation recurses `n` levels deep through references, as each of
/// the chains below does.
fn chain(label: &str, n: usize, link: impl Fn(usize) -> String, end: &str) -> TempDir {
    let spec: String = (0..n).map(link).collect::<String>() + end;
    project(label, &spec)
}

/// A reference chain deeper than rbake's limit is one diagnostic, never a crashed process:
/// evaluation bounds how many variables, attributes and `inherits` levels nest.
fn assert_too_deep(run: &Run, code: &str) {
    assert_eq!(run.code, Some(1), "expected a diagnostic, got {run:?}");
    assert!(run.stderr.contains(code), "{}", run.stderr);
    assert!(run.stderr.contains("help:"), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches(code).count(),
        1,
        "the limit is reported once: {}",
        &run.stderr[..run.stderr.len().min(2000)]
    );
}

#[test]
fn long_variable_chain_is_one_diagnostic() {
    let n = 50_000;
    let link = |i: usize| format!("variable \"V{i}\" {{\n  default = V{}\n}}\n", i + 1);
    let end = format!(
        "variable \"V{n}\" {{\n  default = \"end\"\n}}\ntarget \"default\" {{\n  tags = [V0]\n}}\n"
    );
    let dir = chain("variable-chain", n, link, &end);
    assert_too_deep(&rbake(&dir.path, &["print"], &[]), "rbake::eval::too_deep");
}

#[test]
fn long_target_reference_chain_is_one_diagnostic() {
    let n = 50_000;
    let link = |i: usize| format!("target \"t{i}\" {{\n  tags = target.t{}.tags\n}}\n", i + 1);
    let end = format!("target \"t{n}\" {{\n  tags = [\"end\"]\n}}\n");
    let dir = chain("target-chain", n, link, &end);
    assert_too_deep(
        &rbake(&dir.path, &["print", "t0"], &[]),
        "rbake::eval::too_deep",
    );
}

/// A 40-level diamond: each level's two targets both inherit both targets of the level
/// below. Resolving it once per target keeps it linear; merging the parents' `inherits`
/// lists (bake's `Target.Merge` appends them) doubled them at every level, 2^40 entries.
#[test]
fn inherits_diamond_resolves_each_target_once() {
    let mut spec = String::from(
        "target \"l0a\" {\n  tags = [\"a0\"]\n  cache-from = [\"type=gha\"]\n}\n\
         target \"l0b\" {\n  tags = [\"b0\"]\n  cache-to = [\"type=inline\"]\n}\n",
    );
    for i in 1..=40 {
        for s in ["a", "b"] {
            spec += &format!(
                "target \"l{i}{s}\" {{\n  inherits = [\"l{p}a\", \"l{p}b\"]\n  tags = [\"{s}{i}\"]\n  cache-from = [\"type=registry,ref=x/{s}{i}\"]\n}}\n",
                p = i - 1
            );
        }
    }
    let dir = project("inherits-diamond", &spec);
    let run = rbake(&dir.path, &["print", "l40a"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let t = &out["target"]["l40a"];
    assert_eq!(t["tags"], json!(["a40"]));
    assert_eq!(t["cache-to"], json!(["type=inline"]));
    // Every level's cache source once, in bake's order (checked against buildx 0.13.1 on a
    // 10-level diamond): the first parent's before the second's, the target's own last.
    let mut want = vec!["type=gha".to_string()];
    for i in 1..40 {
        want.push(format!("type=registry,ref=x/a{i}"));
        want.push(format!("type=registry,ref=x/b{i}"));
    }
    want.push("type=registry,ref=x/a40".into());
    assert_eq!(t["cache-from"], json!(want));
}

#[test]
fn long_inherits_chain_is_one_diagnostic() {
    let n = 50_000;
    let link = |i: usize| format!("target \"t{i}\" {{\n  inherits = [\"t{}\"]\n}}\n", i + 1);
    let dir = chain(
        "inherits-chain",
        n,
        link,
        &format!("target \"t{n}\" {{}}\n"),
    );
    assert_too_deep(
        &rbake(&dir.path, &["print", "t0"], &[]),
        "rbake::resolve::inherits_too_deep",
    );
}

/// Runs `rbake ARGS` in `dir` with `env` (values as raw bytes) and stdout going to `stdout`.
fn rbake_raw(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &[u8])],
    stdout: std::process::Stdio,
) -> std::process::Child {
    use std::os::unix::ffi::OsStringExt;
    std::process::Command::new(env!("CARGO_BIN_EXE_rbake"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(
            env.iter()
                .map(|(k, v)| (k, std::ffi::OsString::from_vec(v.to_vec()))),
        )
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rbake")
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("wait for rbake");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn an_environment_value_that_is_not_utf8_matters_only_when_a_variable_reads_it() {
    let dir = project("env-not-utf8", SPEC);
    let unused = finish(rbake_raw(
        &dir.path,
        &["print"],
        &[("FOO", b"caf\xe9")],
        std::process::Stdio::piped(),
    ));
    assert_eq!(unused.code, Some(0), "{}", unused.stderr);
    json_of(&unused);
    let used = finish(rbake_raw(
        &dir.path,
        &["print"],
        &[("TAG", b"caf\xe9")],
        std::process::Stdio::piped(),
    ));
    assert_eq!(used.code, Some(1), "{}", used.stderr);
    assert!(
        used.stderr.contains("rbake::eval::env_not_utf8"),
        "{}",
        used.stderr
    );
    assert!(
        used.stderr.contains("docker-bake.hcl:2:1"),
        "{}",
        used.stderr
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = TempDir::new("bom");
    std::fs::write(dir.path.join("docker-bake.hcl"), format!("\u{feff}{SPEC}"))
        .expect("write spec");
    let json_dir = TempDir::new("bom-json");
    json_dir.write(
        "docker-bake.json",
        "\u{feff}{\"target\": {\"app\": {\"tags\": [\"a:1\"]}}}",
    );
    for (dir, args) in [(&dir, vec!["print"]), (&json_dir, vec!["print", "app"])] {
        let run = rbake(&dir.path, &args, &[]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        json_of(&run);
    }
}

/// A generated one-line `docker-bake.json` with a mistake near its end: the caret is past
/// column 65,535, where miette's formatting used to panic. The header still names the true
/// column, counted in characters.
#[test]
fn a_mistake_at_the_end_of_a_very_long_line_is_reported() {
    let dir = TempDir::new("long-line");
    let filler = "é".repeat(70_000);
    let text = format!(r#"{{"target": {{"app": {{"tags": ["{filler}"] "x"}}}}}}"#);
    // The parser stops at the `}` after `"x"`, where it wanted a colon.
    let col = text.rfind("}}}").map(|i| text[..i].chars().count() + 1);
    dir.write("docker-bake.json", &text);
    let run = rbake(&dir.path, &["print", "app"], &[]);
    assert_eq!(
        run.code,
        Some(1),
        "{}",
        &run.stderr[..run.stderr.len().min(3000)]
    );
    assert!(run.stderr.contains("rbake::syntax::json"), "{}", run.stderr);
    let header = format!("docker-bake.json:1:{}]", col.unwrap_or(0));
    assert!(
        run.stderr.contains(&header),
        "want {header} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.len() < 5_000,
        "the long line is shown as a window around the caret, not whole ({} bytes)",
        run.stderr.len()
    );
}

#[test]
fn an_unknown_name_among_seventeen_thousand_is_reported() {
    let dir = project("many-names", SPEC);
    let mut names: Vec<String> = (0..17_000).map(|_| "app".to_string()).collect();
    names.push("nope".into());
    let mut args = vec!["print"];
    args.extend(names.iter().map(String::as_str));
    let run = rbake(&dir.path, &args, &[]);
    assert_eq!(
        run.code,
        Some(1),
        "{}",
        &run.stderr[..run.stderr.len().min(3000)]
    );
    assert!(
        run.stderr.contains("rbake::resolve::unknown_target"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("command line:1:68001]"),
        "{}",
        run.stderr
    );
}

/// `rbake print | head -1`: the reader goes away; rbake stops quietly, as shell tools do.
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    // Enough targets that the output outgrows a pipe's buffer.
    let spec: String = (0..3_000)
        .map(|i| format!("target \"t{i}\" {{\n  tags = [\"acme/t{i}:1\"]\n}}\n"))
        .chain(["group \"default\" {\n  targets = [\"t0\"]\n}\n".to_string()])
        .collect();
    let dir = project("closed-stdout", &spec);
    let names: Vec<String> = (0..3_000).map(|i| format!("t{i}")).collect();
    let mut args = vec!["print"];
    args.extend(names.iter().map(String::as_str));
    let mut child = rbake_raw(&dir.path, &args, &[], std::process::Stdio::piped());
    drop(child.stdout.take());
    let run = finish(child);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, "", "nothing to say about a reader that left");
}

#[test]
fn a_full_disk_on_stdout_is_a_diagnostic() {
    let dir = project("dev-full", SPEC);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let run = finish(rbake_raw(&dir.path, &["print"], &[], full.into()));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::cli::write_stdout"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// A FIFO would block `read` until a writer came, and `/dev/zero` never ends.
#[test]
fn only_regular_files_are_read_as_specs() {
    let dir = TempDir::new("fifo-spec");
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path.join("pipe.hcl"))
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    for (file, kind) in [("pipe.hcl", "a FIFO"), ("/dev/zero", "a device")] {
        let run = rbake(&dir.path, &["print", "-f", file], &[]);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(
            run.stderr.contains("rbake::cli::read_file"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(kind), "{}", run.stderr);
    }
}

/// A plan edited after `rbake plan --out` wrote it is refused, not re-planned from the spec
/// and applied as if nothing had changed. The check comes before any engine is contacted.
#[test]
fn an_edited_saved_plan_is_refused() {
    let dir = project(
        "edited-plan",
        "target \"app\" {\n  platforms = [\"linux/amd64\"]\n  output = [\"type=local,dest=out\"]\n}\n",
    );
    dir.write("Dockerfile", "FROM scratch\n");
    let planned = rbake(&dir.path, &["plan", "app", "--out", "plan.json"], &[]);
    assert_eq!(planned.code, Some(0), "{}", planned.stderr);
    let text = std::fs::read_to_string(dir.path.join("plan.json")).expect("read plan");
    assert!(text.contains(r#""dest": "out""#), "{text}");
    dir.write(
        "plan.json",
        &text.replace(r#""dest": "out""#, r#""dest": "../elsewhere""#),
    );
    let run = rbake(&dir.path, &["apply", "--plan", "plan.json"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::apply::plan_modified"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("plan.json:3:"), "{}", run.stderr);
}

/// A cycle longer than the evaluation depth limit is still a cycle, not "too deep".
#[test]
fn a_long_variable_cycle_is_a_cycle() {
    let n = 300;
    let link = |i: usize| format!("variable \"V{i}\" {{\n  default = V{}\n}}\n", (i + 1) % n);
    let dir = chain(
        "long-cycle",
        n,
        link,
        "target \"default\" {\n  tags = [V0]\n}\n",
    );
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("rbake::eval::cycle"), "{}", run.stderr);
    assert!(!run.stderr.contains("too_deep"), "{}", run.stderr);
    assert!(run.stderr.contains("(300 variables)"), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("rbake::eval::cycle").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn an_empty_spec_is_not_blamed_on_a_default_group() {
    let dir = project("empty-spec", "");
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::resolve::no_targets"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("`default`"), "{}", run.stderr);
    let dir = project("no-default", "target \"app\" {}\ntarget \"db\" {}\n");
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::resolve::no_default"),
        "{}",
        run.stderr
    );
    let flat = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("targets: app, db"), "{}", run.stderr);
}

/// A secret taken from an environment variable whose value is not UTF-8 is reported at plan
/// time: rbake cannot pass it, and "not set" would be wrong.
#[test]
fn a_secret_from_a_non_utf8_variable_is_reported_as_such() {
    let dir = project(
        "secret-not-utf8",
        "target \"app\" {\n  platforms = [\"linux/amd64\"]\n  secret = [\"id=token,env=TOKEN\"]\n}\n",
    );
    dir.write("Dockerfile", "FROM scratch\n");
    let run = finish(rbake_raw(
        &dir.path,
        &["plan", "app"],
        &[("TOKEN", b"\xff\xfe")],
        std::process::Stdio::piped(),
    ));
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::check::secret_missing"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
}

/// `platform-split=false` on a `local` or `tar` output reaches the plan's export node; the
/// default (split) leaves the node as it was.
#[test]
fn platform_split_reaches_the_plan() {
    let dir = project(
        "platform-split",
        "target \"app\" {\n  platforms = [\"linux/amd64\"]\n  output = [\"type=local,dest=split\", \"type=tar,dest=flat.tar,platform-split=false\"]\n}\n",
    );
    dir.write("Dockerfile", "FROM scratch\n");
    let run = rbake(&dir.path, &["plan", "app", "--format", "json"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("a JSON plan");
    let text = plan.to_string();
    assert_eq!(
        text.matches(r#""platform-split":false"#).count(),
        1,
        "{text}"
    );
    assert!(text.contains(r#""dest":"flat.tar""#), "{text}");
}

/// `n` independent targets that inherit a base and call a function, named `pad-0`...:
/// enough (with what a test adds) for evaluation and resolution to split across threads.
fn padding(n: usize) -> String {
    let mut s = String::from(
        "variable \"REG\" {\n  default = \"r.example\"\n}\nfunction \"img\" {\n  params = [n]\n  result = \"${REG}/${n}\"\n}\ntarget \"_base\" {\n  args = { A = \"1\" }\n  platforms = [\"linux/amd64\"]\n}\n",
    );
    for i in 0..n {
        s += &format!(
            "target \"pad-{i}\" {{\n  inherits = [\"_base\"]\n  tags = [img(\"pad-{i}\")]\n  args = {{ B = \"{i}\" }}\n}}\n"
        );
    }
    s
}

/// Large specs are evaluated and resolved in two halves on two threads; the result is what
/// one pass in order gives: each target's own values, and, when the second half holds an
/// `inherits` cycle (whose result depends on the order of resolution) or an error, the same
/// targets and diagnostics as the same blocks in a small spec.
#[test]
fn large_specs_resolve_as_one_pass_would() {
    let big = project("parallel", &padding(600));
    let run = rbake(&big.path, &["print", "pad-0", "pad-599"], &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let out = json_of(&run);
    for i in [0, 599] {
        let t = &out["target"][format!("pad-{i}")];
        assert_eq!(t["tags"], json!([format!("r.example/pad-{i}")]), "{out:#}");
        assert_eq!(t["args"], json!({"A": "1", "B": i.to_string()}), "{out:#}");
    }
    let all = json_of(&rbake(&big.path, &["print", "pad-*"], &[]));
    assert_eq!(all["target"].as_object().map(|o| o.len()), Some(600));
    for i in [1, 299, 300, 450] {
        let t = &all["target"][format!("pad-{i}")];
        assert_eq!(t["tags"], json!([format!("r.example/pad-{i}")]), "{i}");
        assert_eq!(t["args"], json!({"A": "1", "B": i.to_string()}), "{i}");
        assert_eq!(t["platforms"], json!(["linux/amd64"]), "{i}");
    }

    let cycle = "target \"x\" {\n  inherits = [\"y\"]\n  args = { X = \"x\" }\n}\ntarget \"y\" {\n  inherits = [\"x\"]\n  args = { Y = \"y\" }\n}\n";
    let small = project("cycle-small", &format!("{}{cycle}", padding(2)));
    let large = project("cycle-large", &format!("{}{cycle}", padding(600)));
    let names = ["print", "pad-0", "pad-1", "y", "x"];
    let a = rbake(&small.path, &names, &[]);
    let mut wide = names.to_vec();
    let pads: Vec<String> = (2..600).map(|i| format!("pad-{i}")).collect();
    wide.splice(3..3, pads.iter().map(String::as_str));
    let b = rbake(&large.path, &wide, &[]);
    assert_eq!(a.code, Some(0), "{a:?}");
    assert_eq!(b.code, Some(0), "{b:?}");
    for name in ["x", "y", "pad-1"] {
        assert_eq!(
            json_of(&a)["target"][name],
            json_of(&b)["target"][name],
            "{name}"
        );
    }
    assert_eq!(
        a.stderr.matches("inherits_cycle").count(),
        1,
        "{}",
        a.stderr
    );
    assert_eq!(
        b.stderr.matches("inherits_cycle").count(),
        1,
        "{}",
        b.stderr
    );

    let broken = "target \"late\" {\n  tags = [MISSING]\n}\n";
    let big = project("late-error", &format!("{}{broken}", padding(600)));
    let run = rbake(&big.path, &["print", "late"], &[]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr.matches("undefined_variable").count(),
        1,
        "{}",
        run.stderr
    );
}

/// A panic exits 101 with one line saying what and where and a request to report the bug.
/// Debug builds panic when `RBAKE_TEST_PANIC` is set (a switch for this test only, see
/// `cli::main`); release builds ignore it, which this checks too.
#[test]
fn a_panic_asks_for_a_bug_report_and_exits_101() {
    let dir = project("panic", SPEC);
    let run = rbake(&dir.path, &["ls"], &env(&[("RBAKE_TEST_PANIC", "1")]));
    if !cfg!(debug_assertions) {
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        return;
    }
    assert_eq!(run.code, Some(101), "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with("rbake: internal error: RBAKE_TEST_PANIC is set at src/cli/mod.rs:"),
        "{}",
        run.stderr
    );
    assert!(
        lines[1].starts_with("this is a bug in rbake"),
        "{}",
        run.stderr
    );
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

/// bake's shorthand flags and self-named groups print as buildx 0.13.1 prints them: each case
/// of `tests/fixtures/bake-flags/cases` against the output `record.sh` recorded from
/// `docker buildx bake --print ARGUMENTS`, byte for byte.
#[test]
fn bake_flags_and_groups_print_as_buildx() {
    assert_cases_print_as_buildx("bake-flags", 20);
}

/// Compose files given together merge before they are checked, as in compose-go (a service
/// the first file declares without `build` or `image` is completed by a later one); `extends`
/// (in the file and from another), `include` (each included project with its own directory
/// and `.env`), `env_file`, `!reset` and `!override`, each recorded with buildx 0.13.1.
#[test]
fn compose_projects_print_as_buildx() {
    assert_cases_print_as_buildx("compose-merge", 10);
}

/// Runs every case of `tests/fixtures/DIR/cases` (`NAME<TAB>ARGUMENTS`) as `rbake print
/// ARGUMENTS` in a copy of the folder and compares stdout with `NAME.json`, buildx's output.
fn assert_cases_print_as_buildx(dir: &str, at_least: usize) {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let copy = TempDir::copy_of(&fixtures, dir);
    let cases = std::fs::read_to_string(fixtures.join("cases")).expect("cases");
    let mut failed = Vec::new();
    let mut count = 0;
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, args) = line.split_once('\t').expect("NAME<TAB>ARGUMENTS");
        let mut argv = vec!["print"];
        argv.extend(args.split(' '));
        let run = rbake(&copy.path, &argv, &[]);
        let want = std::fs::read_to_string(fixtures.join(format!("{name}.json")))
            .expect("expected output");
        count += 1;
        if run.code != Some(0) || run.stdout != want {
            failed.push(format!(
                "{name}: rbake {}\nexit {:?}\n{}\n--- got\n{}--- want (buildx 0.13.1)\n{want}",
                argv.join(" "),
                run.code,
                run.stderr,
                run.stdout
            ));
        }
    }
    assert!(count >= at_least, "only {count} cases");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// `plan` resolves bake's shorthand flags as `print` does: `--push` gives a push node,
/// `--load` a load node instead, `--no-cache` reaches the build; the plan's request records
/// them as the `--set`s they stand for, so applying the saved plan repeats them.
#[test]
fn bake_flags_reach_the_plan() {
    let dir = project(
        "flags-plan",
        "target \"app\" {\n  platforms = [\"linux/amd64\"]\n  tags = [\"127.0.0.1:5000/app:1\"]\n}\n",
    );
    dir.write("Dockerfile", "FROM scratch\n");
    let kinds = |args: &[&str]| {
        let run = rbake(&dir.path, args, &[]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let plan = json_of(&run);
        let kinds: Vec<String> = plan["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["kind"].as_str().unwrap_or("").to_string())
            .collect();
        (kinds, plan)
    };
    let (plain, _) = kinds(&["plan", "app", "--format", "json"]);
    assert!(!plain.iter().any(|k| k == "push"), "{plain:?}");
    let (pushed, plan) = kinds(&["plan", "app", "--format", "json", "--push", "--no-cache"]);
    assert!(pushed.iter().any(|k| k == "push"), "{pushed:?}");
    assert_eq!(
        plan["request"]["set"],
        json!(["*.push=true", "*.no-cache=true"])
    );
    assert!(plan.to_string().contains(r#""no_cache":true"#), "{plan}");
    let (loaded, _) = kinds(&["plan", "app", "--format", "json", "--load"]);
    assert!(loaded.iter().any(|k| k == "load"), "{loaded:?}");
    assert!(!loaded.iter().any(|k| k == "push"), "{loaded:?}");
}

/// bake's build-only flags are accepted where bake ignores them; `--builder` on `plan` says
/// it changes nothing; `--call`/`--check` are refused rather than passing a build off as a
/// check.
#[test]
fn bake_build_flags_are_accepted_or_explained() {
    let dir = project("flags-misc", SPEC);
    let run = rbake(
        &dir.path,
        &[
            "print",
            "app",
            "--progress=plain",
            "--builder",
            "x",
            "--metadata-file=m.json",
            "--allow=fs.read=/",
        ],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let run = rbake(
        &dir.path,
        &["plan", "app", "--builder=x", "--progress", "plain"],
        &[],
    );
    assert!(
        run.stderr.contains("rbake::cli::builder_ignored"),
        "{}",
        run.stderr
    );
    for flag in ["--check", "--call=outline"] {
        let run = rbake(&dir.path, &["print", "app", flag], &[]);
        assert_eq!(run.code, Some(1), "{flag}: {}", run.stderr);
        assert!(
            run.stderr.contains("rbake::cli::call_unsupported"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    let run = rbake(&dir.path, &["print", "app", "--call=build"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let run = rbake(&dir.path, &["print", "app", "--no-cache=maybe"], &[]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    // bake says `invalid value foo`; the caret is under the override `--sbom` stands for.
    let run = rbake(&dir.path, &["print", "app", "--sbom=foo"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::resolve::attest_invalid") && run.stderr.contains("[--sbom:"),
        "{}",
        run.stderr
    );
}

/// Compat: a group that yields no target stands for the target of its name, as in bake,
/// which says `failed to find target e` when there is none.
#[test]
fn an_empty_group_asks_for_a_target_of_its_name() {
    let dir = project(
        "empty-group",
        "group \"default\" {\n  targets = [\"e\", \"x\"]\n}\ngroup \"e\" {\n  targets = []\n}\ntarget \"x\" {}\n",
    );
    let run = rbake(&dir.path, &["print"], &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::resolve::empty_group"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("group `e` yields no target"),
        "{}",
        run.stderr
    );
}

/// `plan --shard K/N` splits the builds of a plan into N disjoint parts that together are
/// the whole plan, keeps builds linked by `target:` contexts in one part, and turns each
/// push into a push by digest of the part's platforms; `platform=P` takes P's builds.
#[test]
fn shards_split_a_plan_without_cutting_target_links() {
    let spec = r#"
group "default" { targets = ["base", "api", "web", "cli", "docs"] }
target "_p" { platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"] }
target "base" { inherits = ["_p"] }
target "api" {
  inherits = ["_p"]
  args     = { WHAT = "api" }
  contexts = { base = "target:base" }
  tags     = ["127.0.0.1:5000/t/api:1"]
  output   = ["type=registry"]
}
target "web" {
  inherits = ["_p"]
  args     = { WHAT = "web" }
  contexts = { base = "target:base" }
  tags     = ["127.0.0.1:5000/t/web:1"]
  output   = ["type=registry"]
}
target "cli" {
  inherits = ["_p"]
  args     = { WHAT = "cli" }
  tags     = ["127.0.0.1:5000/t/cli:1"]
  output   = ["type=registry"]
}
target "docs" {
  platforms = ["linux/amd64"]
  args      = { WHAT = "docs" }
  tags      = ["127.0.0.1:5000/t/docs:1"]
  output    = ["type=registry"]
}
"#;
    let dir = project("shards", spec);
    dir.write("Dockerfile", "FROM scratch\n");
    let builds_of = |doc: &Value| -> Vec<String> {
        doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "build")
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    };
    let whole = rbake(&dir.path, &["plan", "--format", "json"], &[]);
    assert_eq!(whole.code, Some(0), "{}", whole.stderr);
    let mut all = builds_of(&json_of(&whole));
    all.sort();
    assert_eq!(all.len(), 13);
    let mut union = Vec::new();
    let mut sizes = Vec::new();
    for k in 1..=3 {
        let run = rbake(
            &dir.path,
            &["plan", "--format", "json", "--shard", &format!("{k}/3")],
            &[],
        );
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let doc = json_of(&run);
        let mine = builds_of(&doc);
        // A `target:` link never crosses parts: each api/web build has its base here.
        for b in &mine {
            if b.starts_with("build:api:") || b.starts_with("build:web:") {
                let platform = b.splitn(3, ':').nth(2).unwrap();
                assert!(
                    mine.contains(&format!("build:base:{platform}")),
                    "{k}/3: {mine:?}"
                );
            }
        }
        for n in doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "push")
        {
            let id = n["id"].as_str().unwrap();
            for p in n["platforms"].as_array().unwrap() {
                let target = &id["push:".len()..];
                assert!(
                    mine.contains(&format!("build:{target}:{}", p.as_str().unwrap())),
                    "{n}"
                );
            }
        }
        sizes.push(mine.len());
        union.extend(mine);
    }
    union.sort();
    assert_eq!(union, all, "the parts are disjoint and cover the plan");
    // base+api+web for a platform is 3 builds, cli 1 per platform, docs 1: 9 + 3 + 1 over 3.
    assert!(
        sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 3,
        "{sizes:?}"
    );

    let arm = rbake(
        &dir.path,
        &[
            "plan",
            "--format",
            "json",
            "--shard",
            "platform=linux/arm64",
        ],
        &[],
    );
    assert_eq!(arm.code, Some(0), "{}", arm.stderr);
    let mine = builds_of(&json_of(&arm));
    assert_eq!(mine.len(), 4, "{mine:?}");
    assert!(mine.iter().all(|b| b.ends_with(":linux/arm64")), "{mine:?}");
    let tree = rbake(&dir.path, &["plan", "--shard", "platform=linux/arm64"], &[]);
    assert!(
        tree.stdout
            .contains("push by digest to 127.0.0.1:5000/t/api:1 (linux/arm64"),
        "{}",
        tree.stdout
    );

    let bad = rbake(&dir.path, &["plan", "--shard", "4/3"], &[]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("plan::shard"), "{}", bad.stderr);
    let no_plan = rbake(&dir.path, &["apply", "--shard", "1/2"], &[]);
    assert_eq!(no_plan.code, Some(2), "{}", no_plan.stderr);
    assert!(
        no_plan.stderr.contains("apply::shard"),
        "{}",
        no_plan.stderr
    );
}

/// A compose `extends.file` outside the working directory is read only with `--allow
/// fs.read=...` for it, as every other read outside the project; relative paths in that file
/// are relative to its own directory.
#[test]
fn compose_reads_outside_the_project_only_when_allowed() {
    let outside = TempDir::new("compose-outside");
    outside.write(
        "base.yml",
        "services:\n  base:\n    build:\n      context: ./ctx\n      args: { FROM: base }\n",
    );
    let dir = project("compose-allow", "");
    let base = outside.path.join("base.yml");
    dir.write(
        "compose.yml",
        &format!(
            "services:\n  app:\n    extends:\n      file: {}\n      service: base\n",
            base.display()
        ),
    );
    let denied = rbake(&dir.path, &["print", "-f", "compose.yml"], &[]);
    assert_eq!(denied.code, Some(1), "{}", denied.stderr);
    assert!(
        denied.stderr.contains("cli::entitlement") && denied.stdout.is_empty(),
        "{}",
        denied.stderr
    );
    let grant = format!("fs.read={}", outside.path.display());
    for command in ["print", "plan"] {
        let mut args = vec![command, "-f", "compose.yml", "--allow", &grant];
        if command == "plan" {
            args.extend(["--format", "json"]);
        }
        let run = rbake(&dir.path, &args, &[]);
        assert!(
            !run.stderr.contains("cli::entitlement"),
            "{command}: {}",
            run.stderr
        );
        if command == "print" {
            assert_eq!(run.code, Some(0), "{}", run.stderr);
            let printed = json_of(&run);
            let context = outside.path.join("ctx").display().to_string();
            assert_eq!(printed["target"]["app"]["context"], json!(context));
            assert_eq!(printed["target"]["app"]["args"], json!({"FROM": "base"}));
        }
    }
}

/// Bake files from public projects outside the shared corpus (`tests/fixtures/public-bake`),
/// each printed with the arguments its CI passes and compared with buildx 0.13.1's output; a
/// folder with `expected-difference` is one where rbake follows newer bake on purpose, and
/// must still differ.
#[test]
fn public_bake_files_print_as_buildx() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/public-bake");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .expect("public-bake")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut failed = Vec::new();
    for name in &names {
        let src = root.join(name);
        assert!(src.join("SOURCE").is_file(), "{name} has no SOURCE");
        let args = std::fs::read_to_string(src.join("args")).expect("args");
        let dir = TempDir::copy_of(&src, name);
        let mut argv = vec!["print"];
        argv.extend(args.split_whitespace());
        let run = rbake(&dir.path, &argv, &[]);
        match std::fs::read_to_string(src.join("expected.json")) {
            Ok(want) => {
                if run.code != Some(0) || run.stdout != want {
                    failed.push(format!(
                        "{name}: exit {:?}\n{}\n--- got\n{}--- want (buildx 0.13.1)\n{want}",
                        run.code, run.stderr, run.stdout
                    ));
                }
            }
            Err(_) => {
                let reason = std::fs::read_to_string(src.join("expected-difference"))
                    .unwrap_or_else(|_| panic!("{name}: no expected.json or expected-difference"));
                // The recorded difference is buildx's failure; rbake must still succeed.
                if run.code != Some(0) {
                    failed.push(format!(
                        "{name}: no longer differs ({reason})\n{}",
                        run.stderr
                    ));
                }
            }
        }
    }
    assert!(names.len() >= 20, "only {} public bake files", names.len());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
