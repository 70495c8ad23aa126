//! Every example plans without errors, and where an example has both an HCL spec and its
//! `build.toml` twin, the two give byte-identical `rbake print` and `rbake plan` output (tree
//! and JSON). The binary runs in the example's own folder, since paths in a spec are
//! relative to the working directory; nothing there is written.

use std::path::{Path, PathBuf};

use crate::support::{Run, code, rbake};

struct Example {
    dir: &'static str,
    /// The targets its README plans (empty: the `default` group).
    targets: &'static [&'static str],
    /// The HCL files of the twin, read together; empty when the example is TOML only.
    hcl: &'static [&'static str],
    /// Whether `build.toml` is there.
    toml: bool,
}

const EXAMPLES: &[Example] = &[
    Example {
        dir: "matrix",
        targets: &["tool"],
        hcl: &["docker-bake.hcl"],
        toml: true,
    },
    Example {
        dir: "monorepo",
        targets: &[],
        hcl: &["docker-bake.hcl"],
        toml: true,
    },
    Example {
        dir: "multiarch",
        targets: &["release", "local"],
        hcl: &["docker-bake.hcl", "build.hcl"],
        toml: true,
    },
    Example {
        dir: "toml",
        targets: &["release", "local"],
        hcl: &[],
        toml: true,
    },
];

fn folder(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(dir)
}

/// `rbake ARGS -f FILE... TARGETS` in the example's folder, with only PATH set.
fn run(ex: &Example, command: &[&str], files: &[&str]) -> Run {
    let mut args: Vec<&str> = command.to_vec();
    for f in files {
        args.extend(["-f", f]);
    }
    args.extend(ex.targets);
    let env = [(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_default(),
    )];
    rbake(&folder(ex.dir), &args, &env)
}

fn assert_ok(ex: &Example, what: &str, r: &Run) {
    assert_eq!(code(r), 0, "{} ({what}) failed:\n{}", ex.dir, r.stderr);
    assert!(
        !r.stderr.contains('×'),
        "{} ({what}) reported an error:\n{}",
        ex.dir,
        r.stderr
    );
}

#[test]
fn every_example_folder_is_listed_and_has_a_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found: Vec<String> = std::fs::read_dir(&root)
        .expect("examples/")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // `ci/` holds CI recipes, not a spec; `ci_recipes.rs` checks them.
        .filter(|name| name != "ci")
        .collect();
    found.sort();
    let listed: Vec<&str> = EXAMPLES.iter().map(|e| e.dir).collect();
    assert_eq!(found, listed, "list every folder of examples/ in EXAMPLES");
    for ex in EXAMPLES {
        let dir = folder(ex.dir);
        assert!(
            dir.join("README.md").is_file(),
            "{} has no README.md",
            ex.dir
        );
        assert_eq!(
            dir.join("build.toml").is_file(),
            ex.toml,
            "{}: build.toml",
            ex.dir
        );
        for f in ex.hcl {
            assert!(dir.join(f).is_file(), "{}: {f} is missing", ex.dir);
        }
    }
}

#[test]
fn every_example_plans_without_errors() {
    for ex in EXAMPLES {
        // Default discovery: what a user gets by running `rbake plan` in the folder.
        assert_ok(ex, "plan", &run(ex, &["plan"], &[]));
        if !ex.hcl.is_empty() {
            assert_ok(ex, "plan of the HCL", &run(ex, &["plan"], ex.hcl));
        }
        if ex.toml {
            assert_ok(
                ex,
                "plan of build.toml",
                &run(ex, &["plan"], &["build.toml"]),
            );
        }
    }
}

#[test]
fn toml_twins_print_and_plan_like_their_hcl() {
    let mut compared = 0;
    for ex in EXAMPLES.iter().filter(|e| e.toml && !e.hcl.is_empty()) {
        for command in [
            &["print"][..],
            &["plan"][..],
            &["plan", "--format", "json"][..],
        ] {
            let hcl = run(ex, command, ex.hcl);
            let toml = run(ex, command, &["build.toml"]);
            assert_ok(ex, "HCL", &hcl);
            assert_ok(ex, "TOML", &toml);
            assert!(!hcl.stdout.is_empty(), "{}: no output", ex.dir);
            assert_eq!(
                without_request(&hcl.stdout),
                without_request(&toml.stdout),
                "{}: `rbake {}` differs between {:?} and build.toml",
                ex.dir,
                command.join(" "),
                ex.hcl
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 9, "three twins, three outputs each");
}

#[test]
fn reading_both_twins_at_once_changes_nothing() {
    // Default discovery reads the HCL files and build.toml together (later files override
    // earlier ones); twins define the same things, so the result is the same.
    for ex in EXAMPLES.iter().filter(|e| e.toml && !e.hcl.is_empty()) {
        let both = run(ex, &["print"], &[]);
        let toml = run(ex, &["print"], &["build.toml"]);
        assert_ok(ex, "print", &both);
        assert_eq!(both.stdout, toml.stdout, "{}", ex.dir);
    }
}

/// A plan document without its `request` (which names the files read, so it differs between
/// twins by design); other output unchanged.
fn without_request(stdout: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stdout) {
        Ok(serde_json::Value::Object(mut o)) if o.contains_key("request") => {
            o.remove("request");
            serde_json::to_string_pretty(&o).unwrap_or_default()
        }
        _ => stdout.to_string(),
    }
}
