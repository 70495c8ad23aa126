//! `rbake plan` on the examples as users run them: the tree, JSON and DOT they read, the JSON
//! against the published schema, the schema against the code, and the plan's determinism.
//! Each run happens in a temp copy of the example with only PATH and HOME set.
//!
//! `monorepo` and `matrix` declare no builder, so they plan on the implicit local builder,
//! whose native platform is the machine's: their snapshots assume a linux/amd64 host.

use std::path::Path;

use crate::support::{Run, TempDir, rbake};
use serde_json::Value;

/// Every folder in `examples/` and the targets its README plans.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("matrix", &["tool"]),
    ("monorepo", &[]),
    ("multiarch", &["release", "local"]),
    ("toml", &["release", "local"]),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A temp copy of `examples/NAME` (or any folder under the repository root).
fn copy_of(rel: &str) -> TempDir {
    TempDir::copy_of(&root().join(rel), &rel.replace('/', "-"))
}

fn run_in(dir: &TempDir, args: &[&str]) -> Run {
    let env = [
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        ("HOME".to_string(), dir.path.display().to_string()),
    ];
    let mut run = rbake(&dir.path, args, &env);
    let tmp = dir.path.display().to_string();
    run.stdout = run.stdout.replace(&tmp, "[TMP]");
    run.stderr = run.stderr.replace(&tmp, "[TMP]");
    run
}

fn targets(example: &str) -> &'static [&'static str] {
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == example)
        .unwrap_or_else(|| panic!("{example} is not in EXAMPLES"))
        .1
}

/// `rbake plan --format FORMAT TARGETS...` in a fresh copy of the example; it must succeed.
fn plan(example: &str, format: &str) -> Run {
    let dir = copy_of(&format!("examples/{example}"));
    let mut args = vec!["plan", "--format", format];
    args.extend(targets(example));
    let run = run_in(&dir, &args);
    assert_eq!(
        run.code,
        Some(0),
        "{example} --format {format} failed:\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("  × ")),
        "{example}: an error on stderr:\n{}",
        run.stderr
    );
    run
}

fn plan_json(example: &str) -> Value {
    let run = plan(example, "json");
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{example}: stdout is not JSON ({e}):\n{}", run.stdout))
}

/// The fingerprint hashes every field of the plan, so it would churn every snapshot whenever
/// the format grows; only its shape is pinned.
fn redact_fingerprint(json: &str) -> String {
    let re = regex::Regex::new(r#""fingerprint": "sha256:[0-9a-f]{64}""#).expect("valid regex");
    assert_eq!(
        re.find_iter(json).count(),
        1,
        "one sha256 fingerprint expected:\n{json}"
    );
    re.replace(json, r#""fingerprint": "sha256:[redacted]""#)
        .into_owned()
}

fn check_example(example: &str) {
    let tree = plan(example, "tree");
    insta::assert_snapshot!(format!("{example}-tree"), tree.stdout);
    // Warnings (emulated platforms, split loads) are part of what a user reads.
    insta::assert_snapshot!(format!("{example}-stderr"), tree.stderr);
    let json = plan(example, "json");
    insta::assert_snapshot!(format!("{example}-json"), redact_fingerprint(&json.stdout));
    let dot = plan(example, "dot");
    assert!(dot.stdout.starts_with("digraph rbake {\n") && dot.stdout.ends_with("}\n"));
    insta::assert_snapshot!(format!("{example}-dot"), dot.stdout);
}

#[test]
fn example_matrix() {
    check_example("matrix");
}

#[test]
fn example_monorepo() {
    check_example("monorepo");
}

#[test]
fn example_multiarch() {
    check_example("multiarch");
}

#[test]
fn example_toml() {
    check_example("toml");
}

#[test]
fn every_example_is_planned() {
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("examples dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        // `ci/` holds CI recipes, not a spec; `ci_recipes.rs` checks them.
        .filter(|name| name != "ci")
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
    assert_eq!(on_disk, listed, "add new examples to EXAMPLES (sorted)");
}

#[test]
fn multiarch_pushes_one_index_and_loads_one_image_per_platform() {
    let tree = plan("multiarch", "tree").stdout;
    for want in [
        "push 127.0.0.1:5000/demo/hello:1.0.0 (index of linux/amd64, linux/arm64, linux/arm/v7)",
        "load demo/hello:1.0.0-linux-amd64 (linux/amd64 into local)",
        "load demo/hello:1.0.0-linux-arm64 (linux/arm64 into local)",
        "load demo/hello:1.0.0-linux-arm-v7 (linux/arm/v7 into local)",
    ] {
        assert!(tree.contains(want), "missing {want:?} in:\n{tree}");
    }
    // `release` and `local` build exactly the same image: one build per platform feeds both.
    assert!(tree.contains("3 builds, 1 push, 3 loads"), "{tree}");
    assert!(
        tree.contains("build linux/arm64    emulated on local (one build with local)"),
        "{tree}"
    );
    let json = plan_json("multiarch");
    let push: Vec<&Value> = nodes(&json).filter(|n| n["kind"] == "push").collect();
    assert_eq!(push.len(), 1, "one push node");
    assert_eq!(
        push[0]["depends_on"],
        serde_json::json!([
            "build:local:linux/amd64",
            "build:local:linux/arm/v7",
            "build:local:linux/arm64"
        ])
    );
    let builds: Vec<&Value> = nodes(&json).filter(|n| n["kind"] == "build").collect();
    assert_eq!(builds.len(), 3, "one build per platform");
    for b in builds {
        assert_eq!(b["shared"], serde_json::json!(["release"]), "{b}");
    }
}

fn nodes(plan: &Value) -> impl Iterator<Item = &Value> {
    plan["nodes"].as_array().expect("nodes is an array").iter()
}

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join("schema/plan.v1.json")).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_example_plan_matches_the_schema() {
    for (example, _) in EXAMPLES {
        let errors = schema_errors(&plan_json(example));
        assert!(errors.is_empty(), "{example}: {}", errors.join("\n"));
    }
}

#[test]
fn schema_rejects_an_unknown_node_kind() {
    let mut doc = plan_json("multiarch");
    assert!(
        schema_errors(&doc).is_empty(),
        "the unchanged plan must be valid"
    );
    doc["nodes"][0]["kind"] = Value::from("teleport");
    assert!(
        !schema_errors(&doc).is_empty(),
        "a `teleport` node passed the schema"
    );
}

#[test]
fn schema_rejects_a_plan_without_fingerprint() {
    let mut doc = plan_json("monorepo");
    assert!(
        schema_errors(&doc).is_empty(),
        "the unchanged plan must be valid"
    );
    doc.as_object_mut().expect("object").remove("fingerprint");
    assert!(
        !schema_errors(&doc).is_empty(),
        "a plan without fingerprint passed the schema"
    );
}

#[test]
fn committed_schema_is_what_rbake_prints() {
    let dir = TempDir::new("schema");
    let run = run_in(&dir, &["schema", "plan"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let committed =
        std::fs::read_to_string(root().join("schema/plan.v1.json")).expect("schema file");
    assert!(
        run.stdout == committed,
        "schema/plan.v1.json is stale: run `rbake schema plan > schema/plan.v1.json` and commit it"
    );
}

#[test]
fn planning_twice_gives_identical_output() {
    // Separate processes and directories: hash-map order and the temp path must not matter.
    for (example, _) in EXAMPLES {
        for format in ["json", "tree", "dot"] {
            let first = plan(example, format).stdout;
            let second = plan(example, format).stdout;
            assert!(
                first == second,
                "{example} --format {format} differs between runs"
            );
        }
    }
}

#[test]
fn out_file_holds_the_json_plan() {
    let dir = copy_of("examples/multiarch");
    let run = run_in(&dir, &["plan", "--out", "plan.json", "release", "local"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("builder local "),
        "stdout stays the tree:\n{}",
        run.stdout
    );
    let written = std::fs::read_to_string(dir.path.join("plan.json")).expect("plan.json written");
    assert_eq!(written, plan("multiarch", "json").stdout);
}

#[test]
fn unknown_flag_exits_two() {
    let dir = copy_of("examples/multiarch");
    let run = run_in(&dir, &["plan", "--no-such-flag"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn an_error_exits_one_and_writes_no_plan() {
    let dir = copy_of("tests/fixtures/plan/diagnostics/push-without-tag");
    let run = run_in(&dir, &["plan", "--out", "plan.json", "app"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rbake::plan::push_without_tag"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    assert!(
        !dir.path.join("plan.json").exists(),
        "a failed plan wrote --out"
    );
}

/// A fleet: each build lists every builder it may be placed on, native ones first, and the
/// tree names the others beside the preferred one; a target that forbids emulation gets no
/// emulating candidate.
#[test]
fn builds_list_their_candidate_builders() {
    let dir = TempDir::new("fleet-candidates");
    std::fs::write(dir.path.join("Dockerfile"), "FROM busybox\n").unwrap();
    std::fs::write(
        dir.path.join("build.hcl"),
        r#"
builder "amd-a" {
  platforms = ["linux/amd64", "linux/arm64"]
  native    = ["linux/amd64"]
}
builder "amd-b" {
  endpoint  = "tcp://127.0.0.1:2376"
  platforms = ["linux/amd64", "linux/arm64"]
  native    = ["linux/amd64"]
}
builder "arm" {
  endpoint  = "tcp://127.0.0.1:2377"
  platforms = ["linux/arm64"]
  native    = ["linux/arm64"]
}
target "app" {
  platforms = ["linux/amd64", "linux/arm64"]
}
target "strict" {
  platforms = ["linux/arm64"]
  emulation = "forbid"
}
"#,
    )
    .unwrap();
    let tree = run_in(&dir, &["plan", "app", "strict"]);
    assert_eq!(tree.code, Some(0), "{}", tree.stderr);
    assert!(
        tree.stdout
            .contains("build linux/amd64    native on amd-a, or on amd-b\n"),
        "{}",
        tree.stdout
    );
    assert!(
        tree.stdout.contains(
            "build linux/arm64    native on arm, or on amd-a (emulated), amd-b (emulated)\n"
        ),
        "{}",
        tree.stdout
    );
    let json = run_in(&dir, &["plan", "--format", "json", "app", "strict"]);
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let candidates = |id: &str| -> Vec<String> {
        let nodes = v["nodes"].as_array().expect("nodes");
        let n = nodes.iter().find(|n| n["id"] == id).expect(id);
        serde_json::from_value(n["candidates"].clone()).expect("candidates")
    };
    assert_eq!(candidates("build:app:linux/amd64"), ["amd-a", "amd-b"]);
    assert_eq!(
        candidates("build:app:linux/arm64"),
        ["arm", "amd-a", "amd-b"]
    );
    assert_eq!(candidates("build:strict:linux/arm64"), ["arm"]);
}
