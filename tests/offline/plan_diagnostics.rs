//! One fixture per problem the planner and the checks report, run through the built binary as a
//! user would: `rbake plan ARGS` in a temp copy of `tests/fixtures/plan/diagnostics/NAME/`.
//!
//! A fixture folder holds the bake file, `args` (the arguments after `plan`, split on
//! whitespace), whatever Dockerfiles and directories the spec names, optionally `env` (`KEY=VALUE`
//! lines added to a clean environment) and optionally `cwd` (the subfolder to run in, for specs
//! that reach outside their working directory), and optionally `fifos` (names of FIFOs to
//! create, which git cannot store). Symlinks are copied as symlinks. The snapshot is the exit code and stderr,
//! rendered without colour since stderr is a pipe, plus stdout when the plan succeeds.

use std::path::{Path, PathBuf};

use crate::support::{Run, TempDir, check_reports, header, parse_env, rbake, read, redact};

macro_rules! fixtures {
    ($($test:ident: $dir:literal exits $code:literal reporting [$($diag:literal),*];)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($dir, $code, &[$($diag),*]);
            }
        )*
        const FIXTURES: &[&str] = &[$($dir),*];
    };
}

fixtures! {
    platform_unsupported: "platform-unsupported" exits 1 reporting ["check::platform_unsupported"];
    unknown_builder: "unknown-builder" exits 1 reporting ["plan::unknown_builder"];
    // Today a single builder name must still be written as a list, although `builder`'s
    // documentation says "a name or a list"; this pins that behaviour until it changes.
    // A single builder name is accepted as well as a list.
    builder_as_string: "builder-as-string" exits 0 reporting [];
    emulated: "emulated" exits 0 reporting ["check::emulated"];
    // Twelve targets emulating one platform on one builder share one warning.
    emulated_grouped: "emulated-grouped" exits 0 reporting ["check::emulated"];
    not_applied: "not-applied" exits 0 reporting ["check::not_applied"];
    annotation_invalid: "annotation-invalid" exits 1 reporting ["check::annotation"];
    emulation_forbidden: "emulation-forbidden" exits 1 reporting ["check::emulation_forbidden"];
    emulation_value: "emulation-value" exits 1 reporting ["check::emulation_value"];
    invalid_platform: "invalid-platform" exits 1 reporting ["plan::invalid_platform"];
    builder_invalid_platform: "builder-invalid-platform" exits 1 reporting ["check::builder_platform"];
    native_not_listed: "native-not-listed" exits 0 reporting ["check::native_not_listed"];
    builder_driver: "builder-driver" exits 1 reporting ["check::builder_driver"];
    max_parallelism: "max-parallelism" exits 1 reporting ["check::max_parallelism"];
    image_store: "image-store" exits 1 reporting ["check::image_store"];
    endpoint: "endpoint" exits 1 reporting ["check::endpoint"];
    // Plain TCP to another machine warns; to loopback (an SSH tunnel) it does not.
    endpoint_plain_tcp: "endpoint-plain-tcp" exits 0 reporting ["check::plain_tcp"];
    invalid_output: "invalid-output" exits 1 reporting ["plan::invalid_output"];
    push_without_tag: "push-without-tag" exits 1 reporting ["plan::push_without_tag"];
    export_without_dest: "export-without-dest" exits 1 reporting ["plan::export_without_dest"];
    cache_export_classic: "cache-export-classic" exits 1 reporting ["check::cache_export"];
    // Attestations need the containerd store; a disabled one is not reported.
    attest_classic: "attest-classic" exits 1 reporting ["check::attest_unsupported"];
    attest_containerd: "attest-containerd" exits 0 reporting [];
    load_split: "load-split" exits 0 reporting ["check::load_split"];
    local_tag_undefined: "local-tag-undefined" exits 1 reporting ["plan::local_tag"];
    duplicate_tag: "duplicate-tag" exits 1 reporting ["plan::duplicate_tag"];
    // Two tags written by the same two targets for two platforms: one error for the pair.
    duplicate_tag_grouped: "duplicate-tag-grouped" exits 1 reporting ["plan::duplicate_tag"];
    context_missing: "context-missing" exits 1 reporting ["check::context_missing"];
    dockerfile_missing: "dockerfile-missing" exits 1 reporting ["check::dockerfile_missing"];
    stage_missing: "stage-missing" exits 1 reporting ["check::stage_missing"];
    named_context_missing: "named-context-missing" exits 1 reporting ["check::named_context_missing"];
    secret_file_missing: "secret-file-missing" exits 1 reporting ["check::secret_missing"];
    secret_env_unset: "secret-env-unset" exits 1 reporting ["check::secret_missing"];
    secret_env_set: "secret-env-set" exits 0 reporting [];
    secret_spec: "secret-spec" exits 1 reporting ["check::secret_spec"];
    network_host: "network-host" exits 1 reporting ["check::entitlement"];
    network_host_allowed: "network-host-allowed" exits 0 reporting [];
    entitlement_insecure: "entitlement-insecure" exits 1 reporting ["check::entitlement"];
    context_outside: "context-outside" exits 1 reporting ["check::entitlement"];
    context_outside_allowed: "context-outside-allowed" exits 0 reporting [];
    // Two multi-platform targets with different platform sets are refused while resolving,
    // whether the sets are disjoint or one contains the other; the planner only sees a
    // single-platform dependent whose platform the dependency lacks.
    dependency_platform_disjoint: "dependency-platform-disjoint" exits 1 reporting ["resolve::link_platforms"];
    dependency_platform_superset: "dependency-platform-superset" exits 1 reporting ["resolve::link_platforms"];
    dependency_platform_single: "dependency-platform-single" exits 1 reporting ["plan::dependency_platform"];
    // Local paths are checked once resolved on disk, for reading and for writing.
    context_symlink_outside: "context-symlink-outside" exits 1 reporting ["check::entitlement"];
    secret_outside: "secret-outside" exits 1 reporting ["check::entitlement"];
    dockerfile_absolute_outside: "dockerfile-absolute-outside" exits 1 reporting ["check::entitlement"];
    export_outside: "export-outside" exits 1 reporting ["check::entitlement"];
    export_outside_allowed: "export-outside-allowed" exits 0 reporting [];
    export_empty_dest: "export-empty-dest" exits 1 reporting ["plan::export_without_dest"];
    export_dest_variable_empty: "export-dest-variable-empty" exits 1 reporting ["plan::export_without_dest"];
    output_overlap: "output-overlap" exits 1 reporting ["check::output_overlap"];
    // A FIFO as Dockerfile is reported, never opened (opening one blocks until a writer comes).
    dockerfile_fifo: "dockerfile-fifo" exits 1 reporting ["check::not_a_file"];
    platforms_empty: "platforms-empty" exits 0 reporting [];
    // Patterns the engine would refuse are reported in the `.dockerignore`, at plan time.
    dockerignore_bad: "dockerignore-bad" exits 1 reporting ["check::dockerignore", "check::dockerignore", "check::dockerignore"];
    platform_duplicate: "platform-duplicate" exits 0 reporting ["plan::duplicate_platform"];
    invalid_tag: "invalid-tag" exits 1 reporting ["plan::invalid_tag"];
    duplicate_tag_normalised: "duplicate-tag-normalised" exits 1 reporting ["plan::duplicate_tag"];
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/diagnostics")
}

/// Runs `rbake plan ARGS EXTRA` for a fixture with only PATH, HOME (the temp dir) and the
/// fixture's `env` in the environment. Temp paths in the output are redacted.
fn run_fixture(name: &str, extra: &[&str]) -> Run {
    let src = fixture_root().join(name);
    let args_text =
        read(&src, "args").unwrap_or_else(|| panic!("fixture {name} has no `args` file"));
    let dir = TempDir::copy_of(&src, name);
    // `fifos` names FIFOs to create (git cannot hold one).
    for fifo in read(&src, "fifos").unwrap_or_default().split_whitespace() {
        let status = std::process::Command::new("mkfifo")
            .arg(dir.path.join(fifo))
            .status()
            .expect("run mkfifo");
        assert!(status.success(), "mkfifo {fifo}");
    }
    let cwd = match read(&src, "cwd") {
        Some(sub) => dir.path.join(sub.trim()),
        None => dir.path.clone(),
    };
    let mut env = vec![
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        ),
        ("HOME".to_string(), dir.path.display().to_string()),
    ];
    env.extend(read(&src, "env").map(|t| parse_env(&t)).unwrap_or_default());
    let mut args = vec!["plan"];
    args.extend(args_text.split_whitespace());
    args.extend(extra);
    let mut run = rbake(&cwd, &args, &env);
    run.stdout = redact_fingerprint(&redact(&run.stdout, &dir.path));
    run.stderr = redact(&run.stderr, &dir.path);
    run
}

/// The fingerprint hashes every field of the plan, so it would churn each snapshot whenever
/// the plan format grows; its format is still checked.
fn redact_fingerprint(stdout: &str) -> String {
    let re = regex::Regex::new(r#""fingerprint": "sha256:[0-9a-f]{64}""#).expect("valid regex");
    re.replace_all(stdout, r#""fingerprint": "sha256:[redacted]""#)
        .into_owned()
}

fn check_fixture(name: &str, want_code: i32, want_codes: &[&str]) {
    let run = run_fixture(name, &[]);
    let code = run
        .code
        .map_or("none (killed by a signal)".to_string(), |c| c.to_string());
    let mut shown = format!("exit code: {code}\n--- stderr\n{}", run.stderr);
    if run.code == Some(0) {
        shown.push_str(&format!("--- stdout\n{}", run.stdout));
    }
    insta::assert_snapshot!(name, shown);

    assert_eq!(
        run.code,
        Some(want_code),
        "exit code of {name}; stderr:\n{}",
        run.stderr
    );
    let errors = run.stderr.lines().filter(|l| l.starts_with("  × ")).count();
    if want_code == 0 {
        assert_eq!(
            errors, 0,
            "{name}: an error with exit code 0:\n{}",
            run.stderr
        );
        assert!(
            !run.stdout.is_empty(),
            "{name}: a successful plan printed nothing"
        );
    } else {
        assert!(
            errors > 0,
            "{name}: exit code {want_code} but no error:\n{}",
            run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{name}: a failed plan printed to stdout:\n{}",
            run.stdout
        );
    }
    if want_codes.is_empty() {
        assert_eq!(run.stderr, "", "{name}: expected a clean plan");
        return;
    }
    let diags = crate::support::split_diagnostics(&run.stderr);
    for code in want_codes {
        assert!(
            diags
                .iter()
                .any(|d| d.starts_with(&format!("rbake::{code}\n"))),
            "{name}: expected rbake::{code}:\n{}",
            run.stderr
        );
    }
    check_reports(name, &run.stderr);
}

#[test]
fn stage_missing_shows_the_dockerfile_stages() {
    let run = run_fixture("stage-missing", &[]);
    let related = run
        .stderr
        .split_once("\nAdvice:")
        .unwrap_or_else(|| panic!("no related report for the Dockerfile:\n{}", run.stderr))
        .1;
    assert_eq!(header(related), Some(("Dockerfile".to_string(), 1, 1)));
    assert!(related.contains("stage `build` (1:1)"), "{related}");
    assert!(related.contains("stage `release` (4:1)"), "{related}");
}

#[test]
fn load_split_tree_shows_a_local_tag_per_platform() {
    let run = run_fixture("load-split", &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for line in [
        "├─ load demo/app:1.0-amd64, demo/app:latest-amd64 (linux/amd64 into amd)",
        "└─ load demo/app:1.0-arm64, demo/app:latest-arm64 (linux/arm64 into amd)",
        "2 builds, 0 pushes, 2 loads",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{}",
            run.stdout
        );
    }
}

#[test]
fn secret_values_never_reach_the_output() {
    const VALUE: &str = "s3cr3t-value";
    let src = read(&fixture_root().join("secret-env-set"), "env").expect("fixture env");
    assert!(
        src.contains(VALUE),
        "the fixture must set SECRET_TOKEN={VALUE}"
    );
    for format in ["json", "tree", "dot"] {
        let run = run_fixture("secret-env-set", &["--format", format]);
        // Exit 0 shows the variable reached rbake: without it the secret is an error.
        assert_eq!(run.code, Some(0), "--format {format}:\n{}", run.stderr);
        assert!(
            !run.stdout.contains(VALUE),
            "--format {format} leaked the secret:\n{}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(VALUE),
            "--format {format} leaked the secret:\n{}",
            run.stderr
        );
    }
    let json = run_fixture("secret-env-set", &["--format", "json"]).stdout;
    assert!(
        json.contains(r#""id=token,env=SECRET_TOKEN""#),
        "the secret's id is gone:\n{json}"
    );
    let tree = run_fixture("secret-env-set", &["--format", "tree"]).stdout;
    assert!(tree.contains("1 secret(s)"), "{tree}");
}

#[test]
fn every_fixture_folder_has_a_test() {
    crate::support::assert_every_fixture_listed(&fixture_root(), FIXTURES);
}

/// A diagnostic shared by many targets or platforms is reported once: twelve targets emulating
/// one platform, two targets writing two tags for two platforms.
#[test]
fn grouped_diagnostics_appear_once() {
    for (name, code) in [
        ("emulated-grouped", "rbake::check::emulated"),
        ("duplicate-tag-grouped", "rbake::plan::duplicate_tag"),
    ] {
        let run = run_fixture(name, &[]);
        let count = run.stderr.lines().filter(|l| *l == code).count();
        assert_eq!(count, 1, "{name}: {count} times `{code}`:\n{}", run.stderr);
    }
}
