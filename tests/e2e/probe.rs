//! `rbake plan --probe` against the real engines the stack runs (scripts/stack.sh): what
//! BuildKit reports replaces what the spec declares, and a declared platform the engine
//! lacks is an error naming the builder.

use crate::support::{TempDir, rbake};

const ENGINES: &[(&str, &str)] = &[
    ("docker20", "unix:///var/run/docker.sock"),
    ("docker26", "unix:///run/rbake-m/docker.sock"),
];

fn env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), "/root".into()),
    ]
}

fn require_engine(endpoint: &str) {
    let path = endpoint.trim_start_matches("unix://");
    assert!(
        std::path::Path::new(path).exists(),
        "no engine at {endpoint}: start the stack with `bash scripts/stack.sh install up base-images`"
    );
}

fn project(endpoint: &str, platforms: &str) -> TempDir {
    let dir = TempDir::new("probe");
    std::fs::create_dir_all(dir.path.join("app")).unwrap();
    dir.write(
        "app/Dockerfile",
        "FROM rbake-test/busybox:${TARGETARCH}${TARGETVARIANT}\n",
    );
    dir.write(
        "docker-bake.hcl",
        &format!(
            "builder \"engine\" {{\n  endpoint  = \"{endpoint}\"\n  platforms = {platforms}\n  native    = [\"linux/amd64\"]\n}}\n\
             target \"app\" {{\n  context   = \"app\"\n  platforms = [\"linux/amd64\", \"linux/arm64\"]\n  tags      = [\"probe/app:dev\"]\n  output    = [\"type=docker\"]\n}}\n"
        ),
    );
    dir
}

#[test]
fn probe_reports_the_engines_real_capabilities() {
    for (name, endpoint) in ENGINES {
        require_engine(endpoint);
        let dir = project(endpoint, r#"["linux/amd64", "linux/arm64"]"#);
        let run = rbake(
            &dir.path,
            &["plan", "--probe", "--format", "json", "app"],
            &env(),
        );
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("plan JSON");
        let b = &plan["builders"][0];
        assert_eq!(b["source"], "probed", "{name}");
        assert_eq!(
            b["native"][0], "linux/amd64",
            "{name}: the engine runs natively on amd64"
        );
        let platforms: Vec<&str> = b["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            .collect();
        assert!(
            platforms.contains(&"linux/arm64"),
            "{name}: qemu registration makes arm64 buildable: {platforms:?}"
        );
        let store = b["image_store"].as_str().unwrap();
        let buildkit = b["buildkit"].as_str().unwrap_or_default().to_string();
        if *name == "docker20" {
            assert_eq!(store, "classic", "Docker 20.10 has the classic store");
            assert!(
                buildkit.starts_with("0.8"),
                "Docker 20.10 embeds BuildKit 0.8, got {buildkit}"
            );
            assert_eq!(b["named_contexts"], false);
        } else {
            assert_eq!(
                store, "containerd",
                "the Docker 26 engine runs the containerd snapshotter"
            );
            assert!(
                buildkit.starts_with("0.1"),
                "Docker 26 embeds BuildKit 0.13, got {buildkit}"
            );
            assert_eq!(b["named_contexts"], true);
        }
        // The image store decides the loads: per platform on classic, one multi-platform load
        // on containerd.
        let loads: Vec<&serde_json::Value> = plan["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "load")
            .collect();
        let expected = if store == "classic" { 2 } else { 1 };
        assert_eq!(loads.len(), expected, "{name}: {loads:?}");
    }
}

#[test]
fn a_declared_platform_the_engine_lacks_is_an_error_naming_the_builder() {
    for (name, endpoint) in ENGINES {
        require_engine(endpoint);
        let dir = project(
            endpoint,
            r#"["linux/amd64", "linux/arm64", "windows/amd64"]"#,
        );
        let run = rbake(&dir.path, &["plan", "--probe", "app"], &env());
        assert_eq!(run.code, Some(1), "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains("rbake::probe::platform_missing"),
            "{name}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("builder `engine` declares windows/amd64"),
            "{name}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("docker-bake.hcl:3:"),
            "{name}: the error points at the platform: {}",
            run.stderr
        );
        assert!(run.stderr.contains("help:"), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}: no plan is printed on error");
    }
}

#[test]
fn an_unreachable_engine_is_a_diagnostic_naming_builder_and_endpoint() {
    let dir = project(
        "unix:///tmp/rbake-no-such-engine.sock",
        r#"["linux/amd64"]"#,
    );
    let run = rbake(&dir.path, &["plan", "--probe", "app"], &env());
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot probe builder `engine` at unix:///tmp/rbake-no-such-engine.sock"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("docker-bake.hcl:2:"), "{}", run.stderr);
}
