//! `build.toml` as a user meets it: template diagnostics that point inside the TOML string,
//! environment overrides, matrix values and filters, discovery and stdin.
//!
//! A folder in `tests/fixtures/toml/diagnostics/` holds `build.toml`, `args` (after `print`),
//! `span` (the exact text the primary caret must underline) and optionally `env`; the harness
//! is `support`'s, shared with `diagnostics.rs`.

use crate::support::{Run, TempDir, code, rbake};
use serde_json::Value;

crate::support::print_fixtures! {
    "tests/fixtures/toml/diagnostics",
    undefined_variable: "undefined-variable" exits 1;
    unknown_filter: "unknown-filter" exits 1;
    template_syntax: "template-syntax" exits 1;
    undefined_after_escapes: "undefined-after-escapes" exits 1;
    undefined_in_multiline_string: "undefined-in-multiline-string" exits 1;
    undefined_matrix_value: "undefined-matrix-value" exits 1;
    null_in_template: "null-in-template" exits 1;
    variable_type_invalid: "variable-type-invalid" exits 1;
    validation_failed: "validation-failed" exits 1;
    toml_syntax_error: "toml-syntax-error" exits 1;
    function_block: "function-block" exits 1;
    warning_unknown_attribute: "warning-unknown-attribute" exits 0;
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `rbake print ARGS` in a folder holding only `build.toml` with `spec`.
fn print(spec: &str, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let dir = TempDir::new("toml");
    dir.write("build.toml", spec);
    let mut all = vec!["print"];
    all.extend(args);
    rbake(&dir.path, &all, &env(vars))
}

fn json(run: &Run) -> Value {
    assert_eq!(code(run), 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", run.stdout))
}

const SPEC: &str = r#"
[variable.REGISTRY]
default = "127.0.0.1:5000"

[variable.VERSION]
default = "1.0.0"

[variable.PLATFORMS]
type = "list(string)"
default = ["linux/amd64"]

[variable.PUSH]
default = false

[target.app]
context = "app"
platforms = "{{ PLATFORMS }}"
tags = ["{{ REGISTRY }}/acme/app:{{ VERSION }}"]
no-cache = "{{ PUSH }}"
"#;

#[test]
fn build_toml_is_discovered_and_variables_render() {
    let out = json(&print(SPEC, &["app"], &[]));
    let app = &out["target"]["app"];
    assert_eq!(app["tags"][0], "127.0.0.1:5000/acme/app:1.0.0");
    assert_eq!(app["platforms"], serde_json::json!(["linux/amd64"]));
    assert_eq!(app["no-cache"], false);
}

#[test]
fn the_environment_overrides_variables_as_in_hcl() {
    let vars = [
        ("VERSION", "2.0"),
        ("PLATFORMS", "linux/amd64,linux/arm64"),
        ("PUSH", "true"),
    ];
    let out = json(&print(SPEC, &["app"], &vars));
    let app = &out["target"]["app"];
    assert_eq!(app["tags"][0], "127.0.0.1:5000/acme/app:2.0");
    assert_eq!(
        app["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(app["no-cache"], true);
}

#[test]
fn matrix_values_and_filters_render() {
    let spec = r#"
[variable.BRANCH]
default = "Feature/Login Page"

[target.tool]
name = "tool-{{ distro }}-{{ platform | replace('/', '-') }}"
matrix = { distro = ["alpine", "debian"], platform = ["linux/amd64", "linux/arm/v7"] }
context = "."
args = { DISTRO = "{{ distro | upper }}", CHANNEL = "{{ CHANNEL | default('stable') }}" }
platforms = ["{{ platform }}"]
tags = ["acme/tool:{{ BRANCH | sanitize | lower }}-{{ distro }}", "{{ ['a', distro] | join('+') }}"]
"#;
    let out = json(&print(spec, &["tool"], &[]));
    let t = &out["target"]["tool-debian-linux-arm-v7"];
    assert_eq!(t["args"]["DISTRO"], "DEBIAN");
    assert_eq!(t["args"]["CHANNEL"], "stable");
    assert_eq!(t["tags"][0], "acme/tool:feature_login_page-debian");
    assert_eq!(t["tags"][1], "a+debian");
    assert_eq!(
        out["group"]["tool"]["targets"].as_array().map(Vec::len),
        Some(4)
    );
}

#[test]
fn a_guarded_undefined_name_is_fine() {
    let spec = r#"
[target.app]
context = "."
tags = ["acme/app:{% if TAG is defined %}{{ TAG }}{% else %}latest{% endif %}"]
"#;
    let out = json(&print(spec, &["app"], &[]));
    assert_eq!(out["target"]["app"]["tags"][0], "acme/app:latest");
}

#[test]
fn strings_without_template_syntax_are_literal() {
    let spec = r#"
[target.app]
context = "."
args = { DOLLAR = "${NOT_HCL}", PERCENT = "100%" }
"#;
    let out = json(&print(spec, &["app"], &[]));
    assert_eq!(out["target"]["app"]["args"]["DOLLAR"], "${NOT_HCL}");
    assert_eq!(out["target"]["app"]["args"]["PERCENT"], "100%");
}

#[test]
fn local_tag_is_kept_for_the_planner() {
    // `local-tag` is itself a template rendered per platform by the planner; `build.toml`
    // must not render (and fail on) its `{{ tag }}`.
    let dir = TempDir::new("toml-local-tag");
    dir.write(
        "build.toml",
        r#"
[target.app]
context = "."
dockerfile-inline = "FROM scratch\n"
platforms = ["linux/amd64", "linux/arm64"]
tags = ["acme/app:1"]
output = ["type=docker"]
local-tag = "{{ repo }}:{{ version }}-{{ arch }}"
"#,
    );
    let path = [("PATH", std::env::var("PATH").unwrap_or_default())];
    let vars: Vec<(String, String)> = path
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let run = rbake(&dir.path, &["plan", "app"], &vars);
    assert_eq!(code(&run), 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("load acme/app:1-arm64"),
        "{}",
        run.stdout
    );
}

#[test]
fn stdin_is_recognised_as_toml() {
    let dir = TempDir::new("toml-stdin");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rbake"))
        .args(["print", "-f", "-", "app"])
        .current_dir(&dir.path)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rbake");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"[target.app]\ncontext = \"x\"\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["target"]["app"]["context"], "x");
}

#[test]
fn every_template_problem_is_reported_at_once() {
    let spec = r#"
[target.a]
context = "{{ ONE }}"
[target.b]
context = "{{ TWO | nope }}"
"#;
    let run = print(spec, &["a", "b"], &[]);
    assert_eq!(code(&run), 1);
    assert!(
        run.stderr.contains("`ONE` is not defined"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`TWO` is not defined") || run.stderr.contains("`nope`"),
        "{}",
        run.stderr
    );
}
