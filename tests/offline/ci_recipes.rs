//! The CI recipes in `examples/ci/` (a GitHub Actions workflow and a GitLab CI file for a
//! sharded release) parse, order their jobs plan → build → publish, run only `rbake`
//! commands and flags that exist, and shard the example's release so that every platform of
//! its plan is built by exactly one shard and published.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value as Y;

use crate::support::rbake;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn yaml(rel: &str) -> Y {
    let text = std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn strings(v: &Y) -> Vec<String> {
    match v {
        Y::String(s) => vec![s.clone()],
        Y::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The `rbake` command lines among `lines`, with `vars` substituted.
fn rbake_lines(lines: &[String], vars: &[(&str, &str)]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| {
            l.lines()
                .map(str::trim)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("rbake "))
        .map(|l| {
            let mut l = l;
            for (k, v) in vars {
                l = l.replace(k, v);
            }
            l
        })
        .collect()
}

/// Every flag of every `rbake` command line is one the subcommand's `--help` lists.
fn flags_exist(lines: &[String]) {
    let dir = root();
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let sub = words[1];
        let help = rbake(&dir, &[sub, "--help"], &[]);
        assert_eq!(help.code, Some(0), "rbake {sub} --help: {}", help.stderr);
        for w in &words[2..] {
            if let Some(flag) = w.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap_or(flag);
                assert!(
                    help.stdout.contains(&format!("--{flag}")),
                    "`{line}`: rbake {sub} has no --{flag}"
                );
            }
        }
    }
}

/// The shard selectors `platforms` give, checked against the example the recipes release:
/// each is valid, each builds its own platform's builds, and together they cover the plan.
fn shards_cover_the_release(recipe: &str, platforms: &[String], publish: &str) {
    let example = root().join("examples/multiarch");
    let whole = rbake(&example, &["plan", "--format", "json", "release"], &[]);
    assert_eq!(whole.code, Some(0), "{}", whole.stderr);
    let doc: serde_json::Value = serde_json::from_str(&whole.stdout).unwrap();
    let planned: BTreeSet<String> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "build")
        .map(|n| n["platform"].as_str().unwrap().to_string())
        .collect();
    let given: BTreeSet<String> = platforms.iter().cloned().collect();
    assert_eq!(
        given.len(),
        platforms.len(),
        "{recipe}: a platform is sharded twice"
    );
    assert_eq!(
        given, planned,
        "{recipe}: the shards must build every platform of the plan"
    );
    for p in platforms {
        let shard = rbake(
            &example,
            &[
                "plan",
                "--format",
                "json",
                "--shard",
                &format!("platform={p}"),
                "release",
            ],
            &[],
        );
        assert_eq!(shard.code, Some(0), "{recipe} {p}: {}", shard.stderr);
        let doc: serde_json::Value = serde_json::from_str(&shard.stdout).unwrap();
        let builds: Vec<&serde_json::Value> = doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "build")
            .collect();
        assert!(
            !builds.is_empty() && builds.iter().all(|b| b["platform"] == p.as_str()),
            "{recipe} {p}"
        );
    }
    // `publish` is given one result per shard.
    let results = publish
        .split_whitespace()
        .filter(|w| w.ends_with(".json") && *w != "plan.json")
        .count();
    assert_eq!(
        results,
        platforms.len(),
        "{recipe}: `{publish}` must name every shard's result"
    );
}

#[test]
fn github_actions_recipe_runs_a_sharded_release() {
    let wf = yaml("examples/ci/github-actions.yml");
    let jobs = &wf["jobs"];
    assert_eq!(strings(&jobs["build"]["needs"]), ["plan"]);
    assert_eq!(strings(&jobs["publish"]["needs"]), ["build"]);
    let runs = |job: &str| -> Vec<String> {
        jobs[job]["steps"]
            .as_sequence()
            .unwrap_or_else(|| panic!("job {job} has no steps"))
            .iter()
            .flat_map(|s| strings(&s["run"]))
            .collect()
    };
    let include = jobs["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .expect("a matrix");
    let platforms: Vec<String> = include
        .iter()
        .map(|m| m["platform"].as_str().unwrap().to_string())
        .collect();
    let first = &include[0];
    let vars = [
        (
            "${{ matrix.platform }}",
            first["platform"].as_str().unwrap(),
        ),
        ("${{ matrix.name }}", first["name"].as_str().unwrap()),
    ];
    let mut all = Vec::new();
    for job in ["plan", "build", "publish"] {
        let lines = rbake_lines(&runs(job), &vars);
        assert!(!lines.is_empty(), "job {job} runs no rbake command");
        all.extend(lines);
    }
    assert!(
        all.iter()
            .any(|l| l.starts_with("rbake plan --probe --out plan.json")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|l| l.contains("--shard platform=") && l.contains("--result")),
        "{all:?}"
    );
    flags_exist(&all);
    let publish = all
        .iter()
        .find(|l| l.starts_with("rbake publish"))
        .expect("a publish step");
    shards_cover_the_release("github-actions.yml", &platforms, publish);
}

#[test]
fn gitlab_recipe_runs_a_sharded_release() {
    let ci = yaml("examples/ci/gitlab-ci.yml");
    assert_eq!(strings(&ci["stages"]), ["plan", "build", "publish"]);
    assert_eq!(strings(&ci["build"]["needs"]), ["plan"]);
    assert!(strings(&ci["publish"]["needs"]).contains(&"build".to_string()));
    let matrix = ci["build"]["parallel"]["matrix"]
        .as_sequence()
        .expect("a matrix");
    let platforms: Vec<String> = matrix
        .iter()
        .map(|m| m["PLATFORM"].as_str().unwrap().to_string())
        .collect();
    let first = &matrix[0];
    let vars = [
        ("$PLATFORM", first["PLATFORM"].as_str().unwrap()),
        ("$ARCH", first["ARCH"].as_str().unwrap()),
    ];
    let mut all = Vec::new();
    for job in ["plan", "build", "publish"] {
        assert_eq!(ci[job]["stage"].as_str(), Some(job));
        let lines = rbake_lines(&strings(&ci[job]["script"]), &vars);
        assert!(!lines.is_empty(), "job {job} runs no rbake command");
        all.extend(lines);
    }
    flags_exist(&all);
    let publish = all
        .iter()
        .find(|l| l.starts_with("rbake publish"))
        .expect("a publish step");
    shards_cover_the_release("gitlab-ci.yml", &platforms, publish);
}
