//! End-to-end tests of `rbake apply` on the real stack (`scripts/stack.sh install up
//! base-images`): every test runs once on Docker 20.10 (BuildKit 0.8, classic store) and once
//! on Docker 26 (BuildKit 0.13, containerd store), and checks what really happened: the
//! registry read over plain HTTP, the engine's image store, the image layers themselves.
//!
//! Run with `cargo test --release --test e2e apply::` (the helpers serialise the tests).
//! Fixtures: `tests/fixtures/e2e/`; helpers: `tests/e2e/main.rs`.

use std::collections::BTreeSet;

use crate::registry::{self, ACCEPT_INDEX, ACCEPT_MANIFEST, INDEX_TYPES};
use crate::{ALL_PLATFORMS, Applied, Engine, ImageContent, Workspace, export_ref, slug, uname_of};
use serde_json::Value;

/// Checks one platform's image of the multiarch fixture: config platform, `/arch` written by
/// `RUN uname -m` (under qemu for the foreign ones) and the run's nonce.
fn check_multiarch_image(img: &ImageContent, platform: &str, nonce: &str, what: &str) {
    assert_eq!(
        img.platform, platform,
        "{what}: the config's os/architecture/variant"
    );
    let (os, arch, variant) = split_platform(platform);
    assert_eq!(img.config["os"], os, "{what}: config os");
    assert_eq!(
        img.config["architecture"], arch,
        "{what}: config architecture"
    );
    assert_eq!(
        img.config["variant"].as_str().filter(|v| !v.is_empty()),
        variant,
        "{what}: config variant"
    );
    assert_eq!(
        img.text("/arch"),
        uname_of(platform),
        "{what}: /arch (uname -m)"
    );
    assert_eq!(
        img.text("/nonce"),
        nonce,
        "{what}: /nonce is not from this run"
    );
}

fn split_platform(p: &str) -> (&str, &str, Option<&str>) {
    let mut parts = p.split('/');
    let os = parts.next().expect("os");
    let arch = parts.next().expect("arch");
    (os, arch, parts.next())
}

/// What a loaded target left in the engine, by platform, after checking the load nodes fit
/// the engine's store: one image per platform with `<tag>-<os>-<arch>[-<variant>]` tags on a
/// classic store; one multi-platform image under the tag itself on a containerd store.
fn loaded_images(
    ws: &Workspace,
    applied: &Applied,
    target: &str,
    tag: &str,
    platforms: &[&str],
) -> Vec<(String, ImageContent)> {
    let engine = &ws.engine;
    let loads = applied.plan.nodes_of("load", target);
    let store = applied.plan.image_store(engine.name);
    assert_eq!(
        store == "containerd",
        engine.containerd_store(),
        "{}: the probed image store ({store}) is not the engine's",
        engine.label
    );
    let mut out = Vec::new();
    if store == "containerd" {
        assert_eq!(
            loads.len(),
            1,
            "{}: a containerd store takes one multi-platform load, the plan has {loads:#?}",
            engine.label
        );
        assert_eq!(crate::strings(&loads[0]["platforms"]), platforms);
        assert_eq!(crate::strings(&loads[0]["tags"]), [tag]);
        let inspect = engine.must_inspect(tag);
        assert!(
            crate::strings(&inspect["RepoTags"])
                .iter()
                .any(|t| t == tag || t == &format!("docker.io/{tag}")),
            "{}: {tag} is not among the image's RepoTags: {}",
            engine.label,
            inspect["RepoTags"]
        );
        let images = engine.images(tag);
        let got: Vec<&str> = images.iter().map(|i| i.platform.as_str()).collect();
        let mut want = platforms.to_vec();
        want.sort();
        assert_eq!(
            got, want,
            "{}: the platforms `docker save {tag}` holds",
            engine.label
        );
        for img in images {
            assert_eq!(
                img.descriptor_platform.as_deref(),
                Some(img.platform.as_str()),
                "{}: the index entry's platform disagrees with the config",
                engine.label
            );
            out.push((img.platform.clone(), img));
        }
    } else {
        let mut planned: Vec<(Vec<String>, Vec<String>)> = loads
            .iter()
            .map(|l| (crate::strings(&l["platforms"]), crate::strings(&l["tags"])))
            .collect();
        planned.sort();
        let mut want: Vec<(Vec<String>, Vec<String>)> = platforms
            .iter()
            .map(|p| (vec![p.to_string()], vec![format!("{tag}-{}", slug(p))]))
            .collect();
        want.sort();
        assert_eq!(
            planned, want,
            "{}: one load per platform, with local tags",
            engine.label
        );
        for p in platforms {
            let local = format!("{tag}-{}", slug(p));
            let inspect = engine.must_inspect(&local);
            let (os, arch, variant) = split_platform(p);
            assert_eq!(inspect["Os"], os, "{local}: Os");
            assert_eq!(inspect["Architecture"], arch, "{local}: Architecture");
            assert_eq!(
                inspect["Variant"].as_str().filter(|v| !v.is_empty()),
                variant,
                "{local}: Variant"
            );
            let img = engine.image(&local);
            assert_eq!(
                crate::image::sha256(&img.config_bytes),
                inspect["Id"].as_str().unwrap_or_default(),
                "{local}: `docker save` gave another image than inspect"
            );
            out.push((p.to_string(), img));
        }
        // Nothing is loaded under the bare tag on a store that holds one platform per image.
        assert!(
            engine.inspect(tag).is_none(),
            "{}: {tag} exists although the store holds one platform per image",
            engine.label
        );
    }
    out
}

/// `type=registry` for three platforms: each platform is pushed by digest and the tag is
/// an index with exactly one manifest per platform, whose config and layers are that
/// platform's (checked by `uname -m` inside the build, under qemu for arm).
fn multiarch_push(engine: &Engine) {
    let ws = Workspace::new("multiarch", engine);
    let repo_ref = ws.registry_repo("push");
    ws.set_env("REPO", &repo_ref);
    let applied = ws.apply(&["e2e-push"], &["--progress", "plain"]);
    applied.run.assert_success();

    let pushes = applied.plan.nodes_of("push", "e2e-push");
    assert_eq!(pushes.len(), 1, "one push node: {pushes:#?}");
    assert_eq!(
        crate::strings(&pushes[0]["tags"]),
        [format!("{repo_ref}:v1")]
    );
    assert_eq!(crate::strings(&pushes[0]["platforms"]), ALL_PLATFORMS);

    let (_, repo, _) = registry::split_reference(&format!("{repo_ref}:v1"));
    let index = ws.registry.manifest(&repo, "v1", ACCEPT_INDEX);
    assert!(
        INDEX_TYPES.contains(&index.media_type.as_str()),
        "the tag is not an index but {}: {}",
        index.media_type,
        String::from_utf8_lossy(&index.bytes)
    );
    assert_eq!(index.json["schemaVersion"], 2);
    if let Some(mt) = index.json["mediaType"].as_str() {
        assert_eq!(mt, index.media_type, "the index's own mediaType");
    }
    let descriptors = crate::image::descriptors(&index.json);
    let platforms: Vec<String> = descriptors
        .iter()
        .map(|d| {
            crate::image::descriptor_platform(d)
                .unwrap_or_else(|| panic!("an index entry without a platform: {d}"))
        })
        .collect();
    let unique: BTreeSet<&String> = platforms.iter().collect();
    let want: BTreeSet<String> = ALL_PLATFORMS.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        (
            platforms.len(),
            unique.into_iter().cloned().collect::<BTreeSet<_>>()
        ),
        (ALL_PLATFORMS.len(), want),
        "exactly one manifest per platform: {}",
        String::from_utf8_lossy(&index.bytes)
    );
    // Annotations: `index:` on the index, plain ones on every manifest, `manifest[P]:` on P's.
    assert_eq!(
        index.json["annotations"]["org.opencontainers.image.title"], "e2e",
        "index annotations: {}",
        index.json
    );
    for (d, platform) in descriptors.iter().zip(&platforms) {
        let digest = d["digest"].as_str().unwrap_or_default();
        let m = ws
            .registry
            .manifest(&repo, digest, "application/vnd.oci.image.manifest.v1+json");
        let notes = &m.json["annotations"];
        assert_eq!(
            notes["org.opencontainers.image.version"], "1",
            "{platform}: {}",
            m.json
        );
        let arch_note = notes.get("org.example.arch").and_then(|v| v.as_str());
        assert_eq!(
            arch_note,
            (platform == "linux/arm64").then_some("arm64"),
            "{platform}: {}",
            m.json
        );
    }
    for (d, platform) in descriptors.iter().zip(&platforms) {
        let img = ws.registry.image(&repo, d);
        check_multiarch_image(
            &img,
            platform,
            &applied.nonce,
            &format!("{repo}@{}", d["digest"]),
        );
    }
}
crate::on_both_engines!(multiarch_push);

/// `type=docker` for three platforms: what lands in the engine follows its store (per
/// platform images with local tags on 20.10's classic store; one multi-platform image on
/// 26's containerd store), and each platform's image is the right one.
fn multiarch_load(engine: &Engine) {
    let ws = Workspace::new("multiarch", engine);
    let local = ws.local_repo("load");
    ws.set_env("LOCAL_REPO", &local);
    let applied = ws.apply(&["e2e-load"], &["--progress", "plain"]);
    applied.run.assert_success();
    let tag = format!("{local}:v1");
    let images = loaded_images(&ws, &applied, "e2e-load", &tag, ALL_PLATFORMS);
    assert_eq!(images.len(), ALL_PLATFORMS.len());
    for (platform, img) in &images {
        check_multiarch_image(
            img,
            platform,
            &applied.nonce,
            &format!("{tag} ({platform})"),
        );
    }
}
crate::on_both_engines!(multiarch_load);

/// `contexts = { base = "target:e2e-chain-base" }` with `FROM base`, two platforms: base is
/// built first for each platform, and each platform's app image holds what that
/// platform's base wrote.
fn target_dependency_chain(engine: &Engine) {
    let ws = Workspace::new("chain", engine);
    let local = ws.local_repo("chain");
    ws.set_env("LOCAL_REPO", &local);
    let applied = ws.apply(&["e2e-chain-app"], &["--progress", "plain"]);
    applied.run.assert_success();
    let platforms = ["linux/amd64", "linux/arm64"];
    let run = &applied.run;
    for p in platforms {
        let base = format!("build:e2e-chain-base:{p}");
        let app = format!("build:e2e-chain-app:{p}");
        let node = applied
            .plan
            .nodes("build")
            .into_iter()
            .find(|n| n["id"] == app.as_str())
            .unwrap_or_else(|| panic!("no node {app} in the plan"));
        assert_eq!(
            crate::strings(&node["depends_on"]),
            [base.as_str()],
            "{app} depends on"
        );
        let base_done = run
            .stderr_line_starting(&format!("[{base}] done"))
            .unwrap_or_else(|| panic!("no `[{base}] done` line:\n{}", run.output()));
        let app_started = run
            .stderr_line(&format!("[{app}] started"))
            .unwrap_or_else(|| panic!("no `[{app}] started` line:\n{}", run.output()));
        assert!(
            base_done < app_started,
            "{app} started (line {app_started}) before {base} finished (line {base_done}):\n{}",
            run.stderr
        );
    }
    let tag = format!("{local}:v1");
    let images = loaded_images(&ws, &applied, "e2e-chain-app", &tag, &platforms);
    for (platform, img) in &images {
        let uname = uname_of(platform);
        assert_eq!(img.platform, *platform);
        assert_eq!(
            img.text("/base.txt"),
            format!("base {uname} {}", applied.nonce),
            "{tag} ({platform}): the file the base target wrote"
        );
        assert_eq!(
            img.text("/app.txt"),
            format!("app {uname} {}", applied.nonce)
        );
    }
}
crate::on_both_engines!(target_dependency_chain);

/// Whether a string is `sha256:` and 64 lowercase hex digits.
fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `--metadata-file` after a run that pushes one target and loads another: every build
/// node with the digest of the image it left in the engine, the published tag with the
/// index digest the registry serves, every local tag (per platform, with its image id); and
/// the file follows the schema `rbake schema metadata` publishes.
fn metadata_file(engine: &Engine) {
    let ws = Workspace::new("multiarch", engine);
    let repo_ref = ws.registry_repo("meta");
    let local = ws.local_repo("meta");
    ws.set_env("REPO", &repo_ref);
    ws.set_env("LOCAL_REPO", &local);
    let applied = ws.apply(
        &["e2e-push", "e2e-load"],
        &["--progress", "plain", "--metadata-file", "metadata.json"],
    );
    applied.run.assert_success();
    let text = ws.read("metadata.json");
    let file: Value = serde_json::from_slice(&text).expect("the metadata file is JSON");
    let meta = &file["rbake.metadata"];
    assert_eq!(meta["schema"], "rbake.metadata.v2");

    // Every build node, with the digest of the image it produced.
    let builds = applied.plan.nodes("build");
    let nodes = meta["nodes"].as_object().expect("nodes is an object");
    let want: BTreeSet<&str> = builds.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let got: BTreeSet<&str> = nodes.keys().map(String::as_str).collect();
    assert_eq!(got, want, "one entry per build node");
    for b in &builds {
        let id = b["id"].as_str().unwrap();
        let (target, platform) = (
            b["target"].as_str().unwrap(),
            b["platform"].as_str().unwrap(),
        );
        let n = &nodes[id];
        assert_eq!(n["target"], target, "{id}: target");
        assert_eq!(n["platform"], platform, "{id}: platform");
        let digest = n["digest"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no digest: {n}"));
        assert!(is_digest(digest), "{id}: {digest} is not a sha256 digest");
        // Every local load of this build names the same image.
        let loads = meta["loaded"].as_array().cloned().unwrap_or_default();
        for l in loads.iter().filter(|l| {
            l["platform"] == platform && l["tag"].as_str().is_some_and(|t| t.contains(target))
        }) {
            assert_eq!(
                l["image_id"], digest,
                "{id}: the loaded image is not the build's: {l}"
            );
        }
    }

    // The published tag, with the digest the registry serves for it.
    let tag = format!("{repo_ref}:v1");
    let (_, repo, _) = registry::split_reference(&tag);
    let served = ws.registry.manifest(&repo, "v1", ACCEPT_INDEX);
    let published = meta["published"].as_array().expect("published is a list");
    assert_eq!(published.len(), 1, "one published tag: {published:#?}");
    assert_eq!(published[0]["tag"], tag.as_str());
    assert_eq!(
        published[0]["digest"],
        served.digest.as_str(),
        "the published digest is not the registry's Docker-Content-Digest"
    );
    assert_eq!(crate::strings(&published[0]["platforms"]), ALL_PLATFORMS);

    // The same, as buildx writes it: the target under its name, with the index digest the
    // registry serves, its descriptor and the name pushed. Several platforms: several
    // solves, so no single build ref and no single config.
    let pushed = &file["e2e-push"];
    assert_eq!(
        pushed["containerimage.digest"],
        served.digest.as_str(),
        "{pushed}"
    );
    assert_eq!(pushed["image.name"], tag.as_str(), "{pushed}");
    let descriptor = &pushed["containerimage.descriptor"];
    assert_eq!(descriptor["digest"], served.digest.as_str(), "{pushed}");
    assert_eq!(
        descriptor["mediaType"],
        served.media_type.as_str(),
        "{pushed}"
    );
    assert_eq!(descriptor["size"], served.bytes.len(), "{pushed}");
    assert!(pushed.get("buildx.build.ref").is_none(), "{pushed}");
    assert!(
        pushed.get("containerimage.config.digest").is_none(),
        "{pushed}"
    );
    let local_target = &file["e2e-load"];
    assert!(
        local_target["containerimage.digest"]
            .as_str()
            .is_some_and(is_digest),
        "{local_target}"
    );

    // Every local tag the plan loads, once per platform it holds ("one entry per tag and
    // platform"), with the image id of that platform's build.
    let mut want: Vec<(String, String)> = Vec::new();
    for l in applied.plan.nodes("load") {
        for p in crate::strings(&l["platforms"]) {
            for t in crate::strings(&l["tags"]) {
                want.push((t, p.clone()));
            }
        }
    }
    want.sort();
    let loaded = meta["loaded"].as_array().expect("loaded is a list");
    let mut got: Vec<(String, String)> = loaded
        .iter()
        .map(|l| {
            let tag = l["tag"].as_str().expect("a loaded tag").to_string();
            (tag, l["platform"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "every local tag, per platform: {loaded:#?}");
    for l in loaded {
        let (tag, platform) = (l["tag"].as_str().unwrap(), l["platform"].as_str().unwrap());
        let build = &nodes[&format!("build:e2e-load:{platform}")];
        assert_eq!(
            l["image_id"], build["digest"],
            "{tag} ({platform}): not the image its build produced"
        );
        if !engine.containerd_store() {
            // One image per tag: the tag must name exactly that image.
            assert_eq!(
                l["image_id"],
                engine.must_inspect(tag)["Id"],
                "{tag}: the image id is not the tagged image's"
            );
        }
    }

    // The document rbake publishes as its schema.
    let schema = ws.rbake(&["schema", "metadata"]);
    schema.assert_success();
    let schema: Value = serde_json::from_str(&schema.stdout).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&file)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the metadata file does not follow `rbake schema metadata`:\n{}\n{}",
        errors.join("\n"),
        String::from_utf8_lossy(&text)
    );
}
crate::on_both_engines!(metadata_file);

/// Fails unless `secret` occurs nowhere rbake or the engine shows: the run's stdout and
/// stderr, the plan, the metadata file, `docker history --no-trunc`, `docker image inspect`,
/// and the saved image (config and every layer, compressed or not).
pub(crate) fn assert_secret_nowhere(ws: &Workspace, applied: &Applied, secret: &str, image: &str) {
    let engine = &ws.engine;
    let needle = secret.as_bytes();
    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), applied.run.stdout.clone().into_bytes()),
        ("stderr".into(), applied.run.stderr.clone().into_bytes()),
    ];
    places.push((
        "the plan (`rbake plan --probe --format json`)".into(),
        applied.plan.json.to_string().into_bytes(),
    ));
    if ws.dir.join("metadata.json").exists() {
        places.push(("the metadata file".into(), ws.read("metadata.json")));
    }
    places.push((
        format!("docker history --no-trunc {image}"),
        engine.history(image).to_string().into_bytes(),
    ));
    places.push((
        format!("docker image inspect {image}"),
        engine.must_inspect(image).to_string().into_bytes(),
    ));
    let saved = engine.save(image);
    places.push((format!("docker save {image}"), saved.clone()));
    for img in crate::image::from_save_tar(&saved) {
        places.push((
            format!("the {} config", img.platform),
            img.config_bytes.clone(),
        ));
        for (n, layer) in img.layers.iter().enumerate() {
            places.push((
                format!("layer {n} of {} (uncompressed)", img.platform),
                layer.clone(),
            ));
        }
    }
    for (place, bytes) in &places {
        assert!(
            !crate::image::find(bytes, needle),
            "{}: the secret value appears in {place}",
            engine.label
        );
    }
}

fn new_secret() -> (String, String, String) {
    let secret = format!("s3cr3t-{}{}", crate::random_id(), crate::random_id());
    let (a, b) = secret.split_at(secret.len() / 2);
    (secret.clone(), a.to_string(), b.to_string())
}

/// A secret from an environment variable reaches the RUN step (a wrong value fails the
/// build, the right one passes) and its value leaks nowhere, with plain progress.
fn secret_from_env(engine: &Engine) {
    let ws = Workspace::new("secret", engine);
    let local = ws.local_repo("secret");
    let (secret, half1, half2) = new_secret();
    ws.set_env("LOCAL_REPO", &local);
    ws.set_env("HALF1", &half1);
    ws.set_env("HALF2", &half2);

    let wrong = format!("wrong-{}", crate::random_id());
    ws.set_env("E2E_TOKEN", &wrong);
    let failed = ws.apply(&["e2e-secret-env"], &["--progress", "plain"]);
    failed.run.assert_failure();
    assert!(
        failed
            .run
            .stderr_line_starting("[build:e2e-secret-env:linux/amd64] FAILED")
            .is_some()
            && failed.run.stderr.contains("exit code: 1"),
        "with a wrong secret the RUN step should fail:\n{}",
        failed.run.output()
    );
    let all = failed.run.output();
    assert!(
        !all.contains(&wrong) && !all.contains(&secret),
        "a secret leaked:\n{all}"
    );

    ws.set_env("E2E_TOKEN", &secret);
    let applied = ws.apply(
        &["e2e-secret-env"],
        &["--progress", "plain", "--metadata-file", "metadata.json"],
    );
    applied.run.assert_success();
    let tag = format!("{local}:env");
    let img = engine.image(&tag);
    assert_eq!(img.platform, "linux/amd64");
    assert_eq!(
        img.text("/secret-ok"),
        format!("ok {}", applied.nonce),
        "the RUN step saw the secret"
    );
    assert_secret_nowhere(&ws, &applied, &secret, &tag);
}
crate::on_both_engines!(secret_from_env);

/// A secret from a file (outside the context) reaches an emulated arm64 RUN step and its
/// value leaks nowhere, with JSON progress.
fn secret_from_file(engine: &Engine) {
    let ws = Workspace::new("secret", engine);
    let local = ws.local_repo("secret");
    let (secret, half1, half2) = new_secret();
    ws.set_env("LOCAL_REPO", &local);
    ws.set_env("HALF1", &half1);
    ws.set_env("HALF2", &half2);
    ws.write("secret.txt", &secret);

    let applied = ws.apply(
        &["e2e-secret-file"],
        &["--progress", "json", "--metadata-file", "metadata.json"],
    );
    applied.run.assert_success();
    let events: Vec<Value> = applied
        .run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a bad JSON event ({e}): {l}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "done" && e["node"] == "build:e2e-secret-file:linux/arm64"),
        "no JSON `done` event for the build:\n{}",
        applied.run.output()
    );
    let tag = format!("{local}:file");
    let img = engine.image(&tag);
    assert_eq!(img.platform, "linux/arm64");
    assert_eq!(
        img.text("/secret-ok"),
        format!("ok {}", applied.nonce),
        "the RUN step saw the secret"
    );
    assert_secret_nowhere(&ws, &applied, &secret, &tag);
}
crate::on_both_engines!(secret_from_file);

/// The helpers' own checks that need no stack.
#[test]
fn builder_hcl_names_the_engine() {
    let hcl = crate::builder_hcl(&Engine::docker26());
    assert!(hcl.contains("builder \"docker26\""), "{hcl}");
    assert!(hcl.contains("\"linux/arm/v7\""), "{hcl}");
    assert_eq!(
        export_ref("E2E_App/x", "linux/arm/v7"),
        "rbake.local/e2e_app-x:linux-arm-v7"
    );
}

/// The status column of `node`'s row in the summary table `apply` prints.
fn status_of(run: &crate::Run, node: &str) -> String {
    let row = run
        .stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no summary row for {node}:\n{}", run.output()));
    row[node.len()..].trim_start().to_string()
}

fn assert_status(run: &crate::Run, node: &str, want: &str) {
    run.assert_success();
    let got = status_of(run, node);
    assert!(
        got.starts_with(want),
        "{node}: expected `{want}`, got `{got}`\n{}",
        run.output()
    );
}

/// Loads: a second run with nothing changed builds nothing; a file that `.dockerignore`
/// excludes changes nothing; a changed context file, argument or Dockerfile line builds
/// again; a deleted local image is loaded again (from the build the engine keeps).
fn uptodate_load(engine: &Engine) {
    let ws = Workspace::new("uptodate", engine);
    ws.set_env("LOCAL_REPO", &ws.local_repo("uptodate"));
    let first = ws.apply(&["app"], &["--progress", "plain"]);
    let loads: Vec<String> = first
        .plan
        .nodes("load")
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let tags: Vec<String> = first
        .plan
        .nodes("load")
        .iter()
        .flat_map(|l| crate::strings(&l["tags"]))
        .collect();
    let build = "build:app:linux/amd64";
    for l in &loads {
        assert_status(&first.run, l, "done");
    }
    assert_status(&first.run, build, "done");

    let again = ws.rbake(&["apply", "app", "--progress", "plain"]);
    for l in &loads {
        assert_status(&again, l, "up to date");
    }
    assert_status(&again, build, "up to date");
    let probe = ws.rbake(&["plan", "--probe", "app"]);
    assert!(
        probe.stdout.contains(&format!("up to date  {build}: ")),
        "{}",
        probe.output()
    );

    ws.write("app/ignored.txt", "changed, but excluded");
    let ignored = ws.rbake(&["apply", "app", "--progress", "plain"]);
    assert_status(&ignored, build, "up to date");

    ws.write("app/data.txt", "two");
    // `plan --probe` says beforehand what will run and why.
    let probe = ws.rbake(&["plan", "--probe", "app"]);
    probe.assert_success();
    assert!(
        probe
            .stdout
            .contains(&format!("runs        {}: ", loads[0]))
            && probe.stdout.contains("changed: context"),
        "{}",
        probe.output()
    );
    let file = ws.rbake(&["apply", "app", "--progress", "plain"]);
    assert_status(&file, build, "done");
    assert!(
        file.stderr.contains("runs: ") && file.stderr.contains("changed: context"),
        "{}",
        file.output()
    );

    ws.set_env("GREETING", "bonjour");
    let arg = ws.rbake(&["apply", "app", "--progress", "plain"]);
    assert_status(&arg, build, "done");
    let amd64 = tags
        .iter()
        .find(|t| t.contains("amd64"))
        .unwrap_or(&tags[0]);
    let images = engine.images(amd64);
    let img = images
        .iter()
        .find(|i| i.platform == "linux/amd64")
        .expect("an amd64 image");
    assert_eq!(
        img.file("greeting")
            .map(|b| String::from_utf8_lossy(&b).trim().to_string()),
        Some("bonjour".into())
    );

    let df = String::from_utf8(ws.read("app/Dockerfile")).unwrap();
    ws.write("app/Dockerfile", &format!("{df}LABEL changed=yes\n"));
    let line = ws.rbake(&["apply", "app", "--progress", "plain"]);
    assert_status(&line, build, "done");

    let settled = ws.rbake(&["apply", "app", "--progress", "plain"]);
    assert_status(&settled, build, "up to date");
    engine.remove(&tags[0]);
    assert!(
        engine.inspect(&tags[0]).is_none(),
        "{} still there",
        tags[0]
    );
    let deleted = ws.rbake(&["apply", "app", "--progress", "plain"]);
    assert!(
        !status_of(&deleted, &loads[0]).starts_with("up to date"),
        "{}",
        deleted.output()
    );
    assert!(
        engine.inspect(&tags[0]).is_some(),
        "{} not loaded again",
        tags[0]
    );
}
crate::on_both_engines!(uptodate_load);

/// Pushes: nothing changed skips the push; a runner with an empty cache and none of the
/// build's images still skips it, because the registry's index carries the input key; a
/// moved tag is pushed again.
fn uptodate_push(engine: &Engine) {
    let ws = Workspace::new("uptodate", engine);
    let repo_ref = ws.registry_repo("uptodate");
    ws.set_env("REPO", &repo_ref);
    let first = ws.apply(&["pub"], &["--progress", "plain"]);
    assert_status(&first.run, "push:pub", "done");
    let (_, repo, _) = crate::registry::split_reference(&format!("{repo_ref}:v1"));
    let index = ws
        .registry
        .manifest(&repo, "v1", "application/vnd.oci.image.index.v1+json");
    assert!(
        index.json["annotations"]["dev.rbake.input-key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sha256:")),
        "the index carries no input key: {}",
        index.json
    );

    let again = ws.rbake(&["apply", "pub", "--progress", "plain"]);
    assert_status(&again, "push:pub", "up to date");
    assert_status(&again, "build:pub:linux/arm64", "up to date");

    // A fresh runner: no cache directory, and none of the images the last run kept.
    let home = ws.dir.join(".home2");
    std::fs::create_dir_all(&home).unwrap();
    ws.set_env("HOME", &home.display().to_string());
    for reference in anchors(engine, "pub") {
        engine.remove(&reference);
    }
    let fresh = ws.rbake(&["apply", "pub", "--progress", "plain"]);
    assert_status(&fresh, "push:pub", "up to date");

    ws.registry.delete_tag(&repo, "v1");
    let moved = ws.rbake(&["apply", "pub", "--progress", "plain"]);
    assert_status(&moved, "push:pub", "done");
    let index = ws
        .registry
        .manifest(&repo, "v1", "application/vnd.oci.image.index.v1+json");
    assert_eq!(
        index.json["manifests"].as_array().map(Vec::len),
        Some(2),
        "{}",
        index.json
    );
}
crate::on_both_engines!(uptodate_push);

/// The references rbake keeps a target's last builds under in `engine`.
fn anchors(engine: &Engine, target: &str) -> Vec<String> {
    let list = engine.call("GET", "/images/json").expect("list images");
    let v: serde_json::Value = serde_json::from_slice(&list.body).unwrap_or_default();
    let mut out = Vec::new();
    for img in v.as_array().into_iter().flatten() {
        for t in crate::strings(&img["RepoTags"]) {
            if t.starts_with("rbake.local/cache-") && t.contains(&format!("/{target}:")) {
                out.push(t);
            }
        }
    }
    out
}

/// Every entry under `/data` of a one-layer image: path, type, mode, size, mtime, content
/// digest, link target.
fn data_tree(img: &crate::ImageContent) -> Vec<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut out = Vec::new();
    for layer in &img.layers {
        let mut ar = tar::Archive::new(&layer[..]);
        for e in ar.entries().expect("a layer tar") {
            let mut e = e.expect("a layer entry");
            let path = e.path().expect("a path").to_string_lossy().into_owned();
            if !path.trim_start_matches("./").starts_with("data") {
                continue;
            }
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("an entry's data");
            out.push(format!(
                "{} {:?} {:o} {} {} {} {}",
                path.trim_end_matches('/'),
                h.entry_type(),
                h.mode().unwrap_or(0),
                h.size().unwrap_or(0),
                h.mtime().unwrap_or(0),
                e2e_hex(&sha2::Sha256::digest(&data)),
                h.link_name()
                    .ok()
                    .flatten()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
        }
    }
    out.sort();
    out
}

/// `data_tree` lines with the mtime of every directory that has children replaced by
/// `copy-time`.
fn copy_stamped_dirs(lines: Vec<String>) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let Some((path, rest)) = l.split_once(" Directory ") else {
                return l.clone();
            };
            let parent = format!("{path}/");
            if !lines.iter().any(|other| other.starts_with(&parent)) {
                return l.clone();
            }
            let mut f: Vec<&str> = rest.split(' ').collect();
            // mode, size, mtime, digest, link
            f[2] = "copy-time";
            format!("{path} Directory {}", f.join(" "))
        })
        .collect()
}

fn e2e_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Fills `app` with a context of edge cases: names the fixtures' `.dockerignore` excludes,
/// names with spaces and non-ASCII, modes 755 and 600, symlinks to a file, a directory and
/// nowhere, an empty directory, a hard link and a file of `big_mib` MiB.
fn edge_case_context(app: &std::path::Path, big_mib: u32) {
    use std::os::unix::fs::PermissionsExt;
    for d in ["logs", "sub/empty", "sub/deep/er", "x"] {
        std::fs::create_dir_all(app.join(d)).unwrap();
    }
    for (f, text) in [
        ("secret.txt", "excluded"),
        ("logs/a.log", "excluded"),
        ("logs/keep.log", "kept"),
        ("sub/deep/er/x.tmp", "excluded"),
        ("sub/deep/er/y.txt", "kept"),
        ("name with spaces.txt", "spaces"),
        ("naïve-日本.txt", "unicode"),
        ("run.sh", "#!/bin/sh\necho hi\n"),
        ("private.txt", "600"),
    ] {
        std::fs::write(app.join(f), text).unwrap();
    }
    std::fs::set_permissions(app.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        app.join("private.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("run.sh", app.join("link-to-file")).unwrap();
    std::os::unix::fs::symlink("sub/deep", app.join("link-to-dir")).unwrap();
    std::os::unix::fs::symlink("nowhere", app.join("dangling")).unwrap();
    std::fs::hard_link(app.join("run.sh"), app.join("x/hardlink.sh")).unwrap();
    let big: Vec<u8> = (0..(big_mib << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(app.join("big.bin"), big).unwrap();
}

/// The context arrives exactly as buildx sends it: `.dockerignore` with an exception and
/// `**`, symlinks to a file, a directory and nowhere, an empty directory, modes 600 and 755,
/// names with spaces and non-ASCII, a hard link and a file over 100 MiB. rbake's image and
/// buildx's (same engine, same Dockerfile) hold the same tree under `/data`.
fn context_tree_matches_buildx(engine: &Engine) {
    let ws = Workspace::new("tree", engine);
    edge_case_context(&ws.dir.join("app"), 101);

    let mine = format!("{}:rbake", ws.local_repo("tree"));
    let theirs = format!("{}:buildx", ws.local_repo("tree"));
    ws.set_env("TAG", &mine);
    let applied = ws.apply(&["tree"], &["--progress", "plain"]);
    applied.run.assert_success();
    let bx = std::process::Command::new("docker")
        .args([
            "buildx",
            "bake",
            "-f",
            "docker-bake.hcl",
            "--progress",
            "plain",
            "tree",
        ])
        .current_dir(&ws.dir)
        .env("DOCKER_HOST", &engine.host)
        .env("TAG", &theirs)
        .output()
        .expect("run docker buildx bake");
    assert!(
        bx.status.success(),
        "buildx failed:\n{}",
        String::from_utf8_lossy(&bx.stderr)
    );
    let a = data_tree(&engine.image(&mine));
    let b = data_tree(&engine.image(&theirs));
    // Docker 20.10's COPY writes a directory's children after setting the directory's
    // times, so a non-empty directory carries the time of the build, not of the source:
    // the two builds ran seconds apart, so those times can't be compared there.
    let (a, b) = if engine.name == "docker20" {
        (copy_stamped_dirs(a), copy_stamped_dirs(b))
    } else {
        (a, b)
    };
    engine.remove(&theirs);
    assert!(a.iter().any(|l| l.starts_with("data/big.bin ")), "{a:#?}");
    assert!(a.iter().any(|l| l.starts_with("data/sub/empty ")), "{a:#?}");
    assert!(
        !a.iter()
            .any(|l| l.contains("secret.txt") || l.contains("a.log") || l.contains(".tmp")),
        "{a:#?}"
    );
    assert_eq!(a, b, "rbake's tree (left) differs from buildx's (right)");
}
crate::on_both_engines!(context_tree_matches_buildx);

/// A base image that moves (its tag now names another image) makes the build run again,
/// and says so.
fn uptodate_base_image(engine: &Engine) {
    let ws = Workspace::new("uptodate", engine);
    ws.set_env("LOCAL_REPO", &ws.local_repo("uptodate"));
    let base = ws.local_repo("base");
    ws.set_env("BASE_REPO", &base);
    let tag = |source: &str, tag: &str| {
        let r = engine
            .call(
                "POST",
                &format!("/images/{source}/tag?repo={base}&tag={tag}"),
            )
            .expect("tag an image");
        assert!(
            r.status == 201 || r.status == 200,
            "tag {source}: HTTP {}",
            r.status
        );
    };
    tag("rbake-test/busybox:amd64", "v1");
    let first = ws.apply(&["based"], &["--progress", "plain"]);
    assert_status(&first.run, "build:based:linux/amd64", "done");
    let again = ws.rbake(&["apply", "based", "--progress", "plain"]);
    assert_status(&again, "build:based:linux/amd64", "up to date");

    let variant = ws.apply(&["variant"], &["--progress", "plain"]);
    variant.run.assert_success();
    tag(&format!("{base}:v2"), "v1");
    let moved = ws.rbake(&["apply", "based", "--progress", "plain"]);
    assert_rebuilt_for_base(&moved, &format!("{base}:v1"));
    engine.remove(&format!("{base}:v1"));
    engine.remove(&format!("{base}:v2"));
}
crate::on_both_engines!(uptodate_base_image);

/// `based` ran again, and says the base image `reference` is what changed.
fn assert_rebuilt_for_base(run: &crate::Run, reference: &str) {
    assert_status(run, "build:based:linux/amd64", "done");
    assert!(
        run.stderr
            .contains(&format!("changed: base image {reference}")),
        "{}",
        run.output()
    );
}

/// A base image that only a registry holds is pinned by the digest the registry serves for
/// its tag: nothing changed skips the build (where it used to run every time); the tag moved
/// in the registry rebuilds, and says which input changed.
fn uptodate_registry_base_image(engine: &Engine) {
    let ws = Workspace::new("uptodate", engine);
    ws.set_env("LOCAL_REPO", &ws.local_repo("uptodate"));
    let base = ws.registry_repo("base");
    ws.set_env("BASE_REPO", &base);
    let (_, repo, _) = registry::split_reference(&format!("{base}:v1"));
    let busybox = engine.image("rbake-test/busybox:amd64");
    put_image(&ws.registry, &repo, "v1", &busybox, None);
    assert!(
        engine.inspect(&format!("{base}:v1")).is_none(),
        "the engine must not hold the base image for this test"
    );

    let first = ws.apply(&["based"], &["--progress", "plain"]);
    assert_status(&first.run, "build:based:linux/amd64", "done");
    let again = ws.rbake(&["apply", "based", "--progress", "plain"]);
    assert_status(&again, "build:based:linux/amd64", "up to date");

    put_image(&ws.registry, &repo, "v1", &busybox, Some("moved"));
    let moved = ws.rbake(&["apply", "based", "--progress", "plain"]);
    assert_rebuilt_for_base(&moved, &format!("{base}:v1"));
    ws.registry.delete_tag(&repo, "v1");
}
crate::on_both_engines!(uptodate_registry_base_image);

/// Uploads `img` (its uncompressed layers and its config, with the label `variant` set to
/// `variant` when given, so the manifest's digest changes) as `repo:tag`.
fn put_image(
    registry: &crate::registry::Registry,
    repo: &str,
    tag: &str,
    img: &ImageContent,
    variant: Option<&str>,
) {
    let mut config = img.config.clone();
    if let Some(v) = variant {
        config["config"]["Labels"]["variant"] = Value::String(v.to_string());
    }
    let config = serde_json::to_vec(&config).unwrap();
    let descriptor = |media_type: &str, digest: String, size: usize| serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size });
    let layers: Vec<Value> = img
        .layers
        .iter()
        .map(|l| {
            descriptor(
                "application/vnd.oci.image.layer.v1.tar",
                registry.put_blob(repo, l),
                l.len(),
            )
        })
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(
            "application/vnd.oci.image.config.v1+json",
            registry.put_blob(repo, &config),
            config.len(),
        ),
        "layers": layers,
    });
    registry.put_manifest(
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
}

/// A directory's entries, sorted, one line each: path, type, mode, size, content digest, link
/// target (the root is `.`). Symlinks are listed, never followed.
fn dir_listing(root: &std::path::Path) -> Vec<String> {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &std::path::Path, rel: &str, out: &mut Vec<String>) {
        let path = if rel == "." {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let m = std::fs::symlink_metadata(&path).expect("lstat an exported entry");
        let mode = m.permissions().mode() & 0o7777;
        let (kind, size, digest, link) = if m.is_symlink() {
            let l = std::fs::read_link(&path).expect("readlink");
            (
                "symlink",
                0,
                String::new(),
                l.to_string_lossy().into_owned(),
            )
        } else if m.is_dir() {
            ("dir", 0, String::new(), String::new())
        } else {
            let data = std::fs::read(&path).expect("read an exported file");
            (
                "file",
                m.len(),
                e2e_hex(&sha2::Sha256::digest(&data)),
                String::new(),
            )
        };
        out.push(format!("{rel} {kind} {mode:o} {size} {digest} {link}"));
        if m.is_dir() {
            let mut names: Vec<String> = std::fs::read_dir(&path)
                .expect("list an exported dir")
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                let child = if rel == "." { n } else { format!("{rel}/{n}") };
                walk(root, &child, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, ".", &mut out);
    out
}

/// A tarball's entries in order, one line each: path (without `./` or a trailing `/`),
/// type, mode, owner, size, content digest, link target.
fn tar_listing(path: &std::path::Path) -> Vec<String> {
    use sha2::Digest;
    use std::io::Read;
    let file = std::fs::File::open(path).expect("open an exported tarball");
    let mut ar = tar::Archive::new(std::io::BufReader::new(file));
    let mut out = Vec::new();
    for e in ar.entries().expect("a tarball") {
        let mut e = e.expect("a tar entry");
        let name = e.path().expect("a path").to_string_lossy().into_owned();
        let h = e.header().clone();
        let link = e
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("an entry's data");
        out.push(format!(
            "{} {:?} {:o} {}:{} {} {} {link}",
            name.trim_start_matches("./").trim_end_matches('/'),
            h.entry_type(),
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            data.len(),
            e2e_hex(&sha2::Sha256::digest(&data)),
        ));
    }
    out
}

/// `docker buildx bake TARGET --set TARGET.output=OUTPUT` in the workspace, on the engine.
fn buildx_export(ws: &Workspace, engine: &Engine, target: &str, output: &str) {
    let bx = std::process::Command::new("docker")
        .args([
            "buildx",
            "bake",
            "-f",
            "docker-bake.hcl",
            "--progress",
            "plain",
        ])
        .args(["--set", &format!("{target}.output={output}"), target])
        .current_dir(&ws.dir)
        .env("DOCKER_HOST", &engine.host)
        .output()
        .expect("run docker buildx bake");
    assert!(
        bx.status.success(),
        "buildx failed:\n{}",
        String::from_utf8_lossy(&bx.stderr)
    );
}

/// Issue 15: `local` and `tar` exports hold exactly the image's filesystem, as BuildKit's
/// exporters write it. A context of edge cases (`.dockerignore` with an exception and `**`,
/// symlinks to a file, a directory and nowhere, an empty directory, modes 600 and 755, names
/// with spaces and non-ASCII, a hard link, a 20 MiB file) is copied into a `FROM scratch`
/// image and exported by rbake and by buildx: both listings are equal, entry for entry.
fn export_matches_buildx(engine: &Engine) {
    let ws = Workspace::new("export", engine);
    edge_case_context(&ws.dir.join("app"), 20);

    let applied = ws.apply(&["tree"], &["--progress", "plain"]);
    applied.run.assert_success();
    std::fs::create_dir_all(ws.dir.join("bx")).unwrap();
    buildx_export(&ws, engine, "tree", "type=local,dest=bx/local");
    buildx_export(&ws, engine, "tree", "type=tar,dest=bx/fs.tar");

    let mine = dir_listing(&ws.dir.join("out/local"));
    let theirs = dir_listing(&ws.dir.join("bx/local"));
    for want in [
        "big.bin file 644 20971520 ",
        "sub/empty dir 755 ",
        "dangling symlink 777 0  nowhere",
        "private.txt file 600 ",
        "run.sh file 755 ",
        "naïve-日本.txt file 644 ",
    ] {
        assert!(
            mine.iter().any(|l| l.starts_with(want)),
            "{want}: {mine:#?}"
        );
    }
    for junk in [
        ".dockerenv",
        "dev",
        "etc",
        "proc",
        "sys",
        "secret.txt",
        "logs/a.log",
    ] {
        assert!(
            !mine.iter().any(|l| l.starts_with(&format!("{junk} "))),
            "{junk}: {mine:#?}"
        );
    }
    assert_eq!(
        mine, theirs,
        "rbake's local export (left) differs from buildx's (right)"
    );
    let mine = tar_listing(&ws.dir.join("out/fs.tar"));
    let theirs = tar_listing(&ws.dir.join("bx/fs.tar"));
    assert!(
        mine.iter().any(|l| l.starts_with("x/hardlink.sh Link ")),
        "{mine:#?}"
    );
    assert_eq!(
        mine, theirs,
        "rbake's tar export (left) differs from buildx's (right)"
    );
}
crate::on_both_engines!(export_matches_buildx);

/// A multi-stage build's export holds its last stage only: the two artefacts and the binary
/// it copied, nothing from the build stage and nothing a container would add.
fn export_holds_only_artefacts(engine: &Engine) {
    let ws = Workspace::new("export", engine);
    ws.apply(&["artefacts"], &["--progress", "plain"])
        .run
        .assert_success();
    let listing = dir_listing(&ws.dir.join("out/artefacts"));
    let paths: Vec<&str> = listing
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [".", "app.txt", "bin", "bin/tool", "lib", "lib/readme.md"],
        "{listing:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.dir.join("out/artefacts/app.txt")).unwrap(),
        "the app\n"
    );
}
crate::on_both_engines!(export_holds_only_artefacts);

/// Three platforms into one `local` folder and one tarball, laid out as BuildKit lays out a
/// multi-platform result: a directory per platform (`linux_amd64`, `linux_arm64`,
/// `linux_arm_v7`), each holding that platform's filesystem.
fn export_three_platforms(engine: &Engine) {
    let ws = Workspace::new("export", engine);
    let applied = ws.apply(&["multi"], &["--progress", "plain"]);
    applied.run.assert_success();
    let out = ws.dir.join("out/multi");
    let mut top: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["linux_amd64", "linux_arm64", "linux_arm_v7"]);
    for platform in ALL_PLATFORMS {
        let dir = out.join(platform.replace('/', "_"));
        let text = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(text("arch").trim(), uname_of(platform), "{platform}");
        assert_eq!(text("nonce").trim(), applied.nonce, "{platform}");
        assert!(!dir.join(".dockerenv").exists(), "{platform}");
        assert!(dir.join("bin/busybox").exists(), "{platform}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755, "{platform}");
    }
    let tar = tar_listing(&ws.dir.join("out/multi.tar"));
    let tops: BTreeSet<&str> = tar
        .iter()
        .map(|l| l.split(['/', ' ']).next().unwrap())
        .collect();
    assert_eq!(
        tops.into_iter().collect::<Vec<_>>(),
        ["linux_amd64", "linux_arm64", "linux_arm_v7"]
    );
    for platform in ALL_PLATFORMS {
        let arch = format!("{}/arch Regular ", platform.replace('/', "_"));
        assert!(tar.iter().any(|l| l.starts_with(&arch)), "{arch}: {tar:#?}");
    }
}
crate::on_both_engines!(export_three_platforms);

/// `platform-split=false` puts every platform at the root: platforms may share directories,
/// but one replacing another's file is refused (as BuildKit refuses it), leaving nothing
/// behind.
fn export_without_platform_split(engine: &Engine) {
    let ws = Workspace::new("export", engine);
    ws.apply(&["flat"], &["--progress", "plain"])
        .run
        .assert_success();
    let listing = dir_listing(&ws.dir.join("out/flat"));
    let paths: Vec<&str> = listing
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            ".",
            "amd64",
            "amd64/arch",
            "arm64",
            "arm64/arch",
            "armv7",
            "armv7/arch"
        ],
        "{listing:#?}"
    );
    let tar: Vec<String> = tar_listing(&ws.dir.join("out/flat.tar"))
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(
        tar,
        [
            "amd64",
            "amd64/arch",
            "arm64",
            "arm64/arch",
            "armv7",
            "armv7/arch"
        ]
    );
    for (dir, platform) in [
        ("amd64", "linux/amd64"),
        ("arm64", "linux/arm64"),
        ("armv7", "linux/arm/v7"),
    ] {
        let arch = std::fs::read_to_string(ws.dir.join("out/flat").join(dir).join("arch")).unwrap();
        assert_eq!(arch.trim(), uname_of(platform));
    }
    // Every platform of `multi` holds /bin/busybox.
    let conflict = ws.rbake(&[
        "apply",
        "multi",
        "--progress",
        "plain",
        "--set",
        "multi.output=type=local,dest=out/conflict,platform-split=false",
    ]);
    assert_ne!(conflict.code, Some(0), "{}", conflict.output());
    assert!(
        conflict.stderr.contains("cannot overwrite")
            && conflict.stderr.contains("when split option is disabled"),
        "{}",
        conflict.output()
    );
    let left: Vec<String> = std::fs::read_dir(ws.dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("conflict"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
crate::on_both_engines!(export_without_platform_split);

/// `rbake verify` and `apply --verify` read a release back from the registry: a correct
/// one passes; a tag moved by hand to another image, an index missing a platform and a
/// manifest whose config says the wrong architecture (each made here through the registry
/// API) are each reported with their diagnostic, pointed at the tag in the plan file.
fn verify_reads_a_release_back(engine: &Engine) {
    let ws = Workspace::new("multiarch", engine);
    let repo_ref = ws.registry_repo("verify");
    ws.set_env("REPO", &repo_ref);
    let label = "e2e-push.labels.org.example.checked=yes";
    let applied = ws.apply(
        &["e2e-push"],
        &[
            "--set",
            label,
            "--progress",
            "plain",
            "--verify",
            "--metadata-file",
            "meta.json",
        ],
    );
    applied.run.assert_success();
    let tag = format!("{repo_ref}:v1");
    assert!(
        applied
            .run
            .stdout
            .contains(&format!("verified  {tag}  sha256:")),
        "{}",
        applied.run.output()
    );
    let saved = ws.rbake(&[
        "plan",
        "--probe",
        "--out",
        "plan.json",
        "--set",
        label,
        "e2e-push",
    ]);
    saved.assert_success();
    let verify = |what: &str| {
        let run = ws.rbake(&[
            "verify",
            "--plan",
            "plan.json",
            "--metadata-file",
            "meta.json",
        ]);
        eprintln!("[verify after {what}]\n{}", run.output());
        run
    };
    let ok = verify("the push");
    ok.assert_success();
    assert!(ok.stdout.contains(&tag), "{}", ok.output());

    let (_, repo, _) = registry::split_reference(&tag);
    let index = ws.registry.manifest(&repo, "v1", ACCEPT_INDEX);
    let entries = crate::image::descriptors(&index.json);
    let entry = |platform: &str| {
        entries
            .iter()
            .find(|d| crate::image::descriptor_platform(d).as_deref() == Some(platform))
            .unwrap_or_else(|| panic!("no {platform} in {}", index.json))
            .clone()
    };
    let restore = || {
        ws.registry
            .put_manifest(&repo, "v1", &index.media_type, &index.bytes)
    };
    let expect = |run: &crate::Run, codes: &[&str]| {
        assert_eq!(run.code, Some(1), "{}", run.output());
        for c in codes {
            assert!(run.stderr.contains(c), "no {c}:\n{}", run.output());
        }
        assert!(
            run.stderr.contains("plan.json"),
            "points into the plan:\n{}",
            run.output()
        );
    };

    // 1. The tag moved by hand to one platform's manifest.
    let arm = entry("linux/arm64");
    let arm_manifest =
        ws.registry
            .manifest(&repo, arm["digest"].as_str().unwrap(), ACCEPT_MANIFEST);
    ws.registry
        .put_manifest(&repo, "v1", &arm_manifest.media_type, &arm_manifest.bytes);
    expect(
        &verify("moving the tag"),
        &["verify::moved", "verify::not_an_index"],
    );
    restore();
    verify("restoring").assert_success();

    // 2. An index without linux/arm/v7.
    let mut partial = index.json.clone();
    partial["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|d| crate::image::descriptor_platform(d).as_deref() != Some("linux/arm/v7"));
    let bytes = serde_json::to_vec(&partial).unwrap();
    ws.registry
        .put_manifest(&repo, "v1", &index.media_type, &bytes);
    let run = verify("dropping a platform");
    expect(&run, &["verify::platform_missing", "linux/arm/v7"]);
    restore();

    // 3. The amd64 entry pointing at a manifest whose config says arm64.
    let amd = entry("linux/amd64");
    let amd_manifest =
        ws.registry
            .manifest(&repo, amd["digest"].as_str().unwrap(), ACCEPT_MANIFEST);
    let config_digest = amd_manifest.json["config"]["digest"].as_str().unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&ws.registry.blob(&repo, config_digest)).unwrap();
    config["architecture"] = "arm64".into();
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let new_config = ws.registry.put_blob(&repo, &config_bytes);
    let mut manifest = amd_manifest.json.clone();
    manifest["config"]["digest"] = new_config.clone().into();
    manifest["config"]["size"] = config_bytes.len().into();
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let new_manifest = ws.registry.put_manifest(
        &repo,
        &crate::image::sha256(&manifest_bytes),
        &amd_manifest.media_type,
        &manifest_bytes,
    );
    let mut wrong = index.json.clone();
    for d in wrong["manifests"].as_array_mut().unwrap() {
        if crate::image::descriptor_platform(d).as_deref() == Some("linux/amd64") {
            d["digest"] = new_manifest.clone().into();
            d["size"] = manifest_bytes.len().into();
        }
    }
    let bytes = serde_json::to_vec(&wrong).unwrap();
    ws.registry
        .put_manifest(&repo, "v1", &index.media_type, &bytes);
    let run = verify("a wrong config");
    expect(&run, &["verify::wrong_platform", "linux/amd64"]);
    assert!(
        run.stderr.contains("config for linux/arm64"),
        "{}",
        run.output()
    );
    restore();
    verify("restoring").assert_success();
}
crate::on_both_engines!(verify_reads_a_release_back);

/// A sharded release: one frozen plan of 4 targets x 3 platforms (a `target:` dependency
/// included) built as three platform shards, amd64 on Docker 20.10 and arm64 and arm/v7 on
/// Docker 26, each pushing by digest only; before `publish` no tag exists, a missing shard
/// or a result of another plan makes `publish` refuse with nothing tagged, and after it every
/// index is complete and `rbake verify` agrees. Re-running a shard and `publish` changes
/// nothing.
#[test]
fn sharded_release() {
    let d20 = Engine::docker20();
    let d26 = Engine::docker26();
    let ws = Workspace::new("shards", &d20);
    let repo_ref = ws.registry_repo("shards");
    ws.set_env("REPO", &repo_ref);
    let nonce = format!("nonce-{}", crate::random_id());
    ws.set_env("E2E_NONCE", &nonce);
    let plan = ws.plan(&[]);
    let saved = ws.rbake(&["plan", "--probe", "--out", "plan.json"]);
    saved.assert_success();
    let targets = ["base", "app", "tool", "docs"];
    assert_eq!(plan.nodes("push").len(), targets.len());
    let tag = |t: &str| format!("{repo_ref}/{t}:v1");
    let repo = |t: &str| registry::split_reference(&tag(t)).1;
    let no_tags = |when: &str| {
        for t in targets {
            assert!(
                !ws.registry.has_manifest(&repo(t), "v1"),
                "{} exists {when}",
                tag(t)
            );
        }
    };

    let shard = |engine: &Engine, platform: &str, result: &str| {
        ws.write("build.hcl", &crate::builder_hcl(engine));
        let run = ws.rbake(&[
            "apply",
            "--plan",
            "plan.json",
            "--shard",
            &format!("platform={platform}"),
            "--result",
            result,
            "--progress",
            "plain",
        ]);
        run.assert_success();
        // Digests, sizes and names only: no build argument (nor anything else from the
        // spec's values) reaches the file a shard hands on.
        let text = String::from_utf8(ws.read(result)).unwrap();
        assert!(
            !text.contains(&nonce),
            "a build argument in {result}: {text}"
        );
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let a = shard(&d20, "linux/amd64", "a.json");
    assert_eq!(a["pushes"].as_object().unwrap().len(), targets.len(), "{a}");
    for p in a["pushes"].as_object().unwrap().values() {
        assert_eq!(p["manifests"].as_array().unwrap().len(), 1, "{p}");
        assert_eq!(p["manifests"][0]["platform"], "linux/amd64");
    }
    shard(&d26, "linux/arm64", "b.json");
    no_tags("after two shards");

    // A missing shard: refused, nothing tagged.
    let publish = |results: &[&str]| {
        let mut args = vec!["publish", "--plan", "plan.json"];
        args.extend_from_slice(results);
        ws.rbake(&args)
    };
    let partial = publish(&["a.json", "b.json"]);
    assert_eq!(partial.code, Some(1), "{}", partial.output());
    assert!(
        partial.stderr.contains("publish::missing_platform"),
        "{}",
        partial.output()
    );
    assert!(
        partial.stderr.contains("linux/arm/v7"),
        "{}",
        partial.output()
    );
    no_tags("after a refused publish");

    let c = shard(&d26, "linux/arm/v7", "c.json");
    no_tags("after three shards");
    // A result of another plan: refused.
    let mut other = c.clone();
    other["fingerprint"] =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000".into();
    ws.write("other.json", &other.to_string());
    let wrong = publish(&["a.json", "b.json", "other.json"]);
    assert_eq!(wrong.code, Some(1), "{}", wrong.output());
    assert!(
        wrong.stderr.contains("publish::other_plan"),
        "{}",
        wrong.output()
    );
    no_tags("after publishing a result of another plan");

    let done = publish(&["a.json", "b.json", "c.json"]);
    done.assert_success();
    let mut digests = Vec::new();
    for t in targets {
        let index = ws.registry.manifest(&repo(t), "v1", ACCEPT_INDEX);
        assert!(
            INDEX_TYPES.contains(&index.media_type.as_str()),
            "{t}: {}",
            index.media_type
        );
        let entries = crate::image::descriptors(&index.json);
        let platforms: Vec<String> = entries
            .iter()
            .map(|d| crate::image::descriptor_platform(d).unwrap())
            .collect();
        // In the plan's order (targets linked by `target:` list their platforms sorted).
        let planned = crate::strings(&plan.nodes_of("push", t)[0]["platforms"]);
        assert_eq!(platforms, planned, "{t}");
        let unique: BTreeSet<&String> = platforms.iter().collect();
        assert_eq!(unique.len(), ALL_PLATFORMS.len(), "{t}: {platforms:?}");
        for (d, platform) in entries.iter().zip(&platforms) {
            let img = ws.registry.image(&repo(t), d);
            let (os, arch, variant) = split_platform(platform);
            assert_eq!(
                (
                    img.config["os"].as_str(),
                    img.config["architecture"].as_str()
                ),
                (Some(os), Some(arch)),
                "{t} {platform}"
            );
            if let Some(v) = variant {
                assert_eq!(img.config["variant"].as_str(), Some(v), "{t} {platform}");
            }
        }
        digests.push(index.digest);
    }
    let app = ws.registry.manifest(&repo("app"), "v1", ACCEPT_INDEX);
    assert_eq!(
        app.json["annotations"]["org.opencontainers.image.title"],
        "app"
    );
    let verify = ws.rbake(&["verify", "--plan", "plan.json"]);
    verify.assert_success();
    assert_eq!(
        verify
            .stdout
            .lines()
            .filter(|l| l.starts_with("verified"))
            .count(),
        4
    );

    // Again: the same shard and the same publish write the same bytes.
    let c2 = shard(&d26, "linux/arm/v7", "c.json");
    assert_eq!(
        c2["pushes"], c["pushes"],
        "a re-run shard pushes the same manifests"
    );
    publish(&["a.json", "b.json", "c.json"]).assert_success();
    for (t, before) in targets.iter().zip(&digests) {
        let after = ws.registry.manifest(&repo(t), "v1", ACCEPT_INDEX).digest;
        assert_eq!(&after, before, "{t} moved on a second publish");
    }
}

/// bake's shorthand flags do what `print` says they stand for, on a target with no output:
/// `--push` (`*.push=true`, an image output that pushes) puts an index for the target's
/// platform in the registry; `--load` (`*.output=type=docker`) puts an arm64 image in the
/// engine; `--no-cache` runs the RUN step again (a new `/stamp`) where a plain rerun is served
/// from cache or skipped as up to date (the same `/stamp`).
fn bake_flags_apply(engine: &Engine) {
    let ws = Workspace::new("flags", engine);
    let repo_ref = ws.registry_repo("flags");
    ws.set_env("REPO", &repo_ref);
    let tag = format!("{repo_ref}:v1");

    let printed = ws.rbake(&["print", "e2e-flags", "--push"]);
    printed.assert_success();
    let printed: Value = serde_json::from_str(&printed.stdout).expect("print JSON");
    assert_eq!(
        printed["target"]["e2e-flags"]["output"],
        serde_json::json!(["type=image,push=true"]),
        "what --push stands for"
    );

    // --push: the plan has a push node, and the registry serves the tag.
    let pushed = ws.apply(&["e2e-flags", "--push"], &["--progress", "plain"]);
    pushed.run.assert_success();
    assert_eq!(pushed.plan.nodes_of("push", "e2e-flags").len(), 1);
    let (_, repo, _) = registry::split_reference(&tag);
    // One platform may be pushed as a plain manifest or as an index of one.
    let accept = format!("{ACCEPT_INDEX}, application/vnd.oci.image.manifest.v1+json");
    let index = ws.registry.manifest(&repo, "v1", &accept);
    let descriptors = if INDEX_TYPES.contains(&index.media_type.as_str()) {
        crate::image::descriptors(&index.json)
    } else {
        vec![serde_json::json!({
            "mediaType": index.media_type,
            "digest": crate::image::sha256(&index.bytes),
            "platform": {"os": "linux", "architecture": "arm64"},
        })]
    };
    let images: Vec<ImageContent> = descriptors
        .iter()
        .filter(|d| crate::image::descriptor_platform(d).as_deref() == Some("linux/arm64"))
        .map(|d| ws.registry.image(&repo, d))
        .collect();
    assert_eq!(images.len(), 1, "one arm64 manifest: {}", index.json);
    assert_eq!(images[0].text("/arch"), uname_of("linux/arm64"));
    assert_eq!(images[0].text("/nonce"), pushed.nonce);

    // --load: the engine holds the tag, built for arm64 under emulation.
    let loaded = ws.apply(&["e2e-flags", "--load"], &["--progress", "plain"]);
    loaded.run.assert_success();
    assert_eq!(loaded.plan.nodes_of("push", "e2e-flags").len(), 0);
    assert!(!loaded.plan.nodes_of("load", "e2e-flags").is_empty());
    let first = engine.image(&tag);
    assert_eq!(first.platform, "linux/arm64", "{}", engine.label);
    assert_eq!(first.text("/arch"), uname_of("linux/arm64"));
    assert_eq!(first.text("/nonce"), loaded.nonce);
    let stamp = first.text("/stamp");

    // The same inputs again: cached (or up to date), so the stamp stays.
    let again = ws.rbake(&["apply", "e2e-flags", "--load", "--progress", "plain"]);
    again.assert_success();
    assert_eq!(engine.image(&tag).text("/stamp"), stamp, "a plain rerun");

    // --no-cache: the RUN step runs again, so the stamp changes.
    let fresh = ws.rbake(&[
        "apply",
        "e2e-flags",
        "--load",
        "--no-cache",
        "--progress",
        "plain",
    ]);
    fresh.assert_success();
    let rebuilt = engine.image(&tag);
    assert_eq!(rebuilt.text("/nonce"), loaded.nonce);
    assert_ne!(
        rebuilt.text("/stamp"),
        stamp,
        "--no-cache reran the RUN step"
    );
}
crate::on_both_engines!(bake_flags_apply);
