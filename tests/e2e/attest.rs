//! Issue 11: what rbake records and attaches next to the images it pushes, checked against
//! `docker buildx bake` on the same engine: the metadata file in buildx's shape.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::registry::{self, ACCEPT_MANIFEST};
use crate::{Engine, Workspace};

/// `docker buildx bake --push --metadata-file` and `rbake apply --push --metadata-file` on
/// the same single-platform image, on Docker 20.10 (buildx's docker driver can push one
/// platform): every key buildx writes for the target is in rbake's file, at the same place
/// (`.<target>["containerimage.digest"]`), each `containerimage.digest` is the digest the
/// registry serves for that tool's tag, and the config digests are equal.
///
/// The pushed manifest digests legitimately differ, and the test shows why rather than
/// asserting them equal: buildx's docker driver pushes with the daemon (`docker push`), which
/// writes a Docker schema 2 manifest (`application/vnd.docker.*` media types) and gzips each
/// layer with the daemon's Go compressor; rbake assembles an OCI manifest itself, gzips
/// layers with its own compressor and annotates it with its input key. So what is compared
/// beyond the config is what both manifests mean: the same config blob, and layers that
/// decompress to the same bytes (the config's `diff_ids`).
fn metadata_as_buildx_writes_it(engine: &Engine) {
    let ws = Workspace::new("buildx-metadata", engine);
    let repo_ref = ws.registry_repo("meta-rbake");
    let bx_repo_ref = ws.registry_repo("meta-buildx");
    ws.set_env("REPO", &repo_ref);
    // Content of this run, written now. (Not with a fixed mtime: BuildKit's file sync keeps
    // a file whose size and mtime match its last transfer under the same session key, and
    // buildx's key is per builder and path, so a fixed mtime would hand buildx an earlier
    // run's stamp of the same size.)
    let stamp = ws.dir.join("app/stamp.txt");
    std::fs::write(&stamp, format!("{}\n", ws.id)).unwrap();

    // buildx first: it really builds; rbake's solve of the same definition is then a cache
    // hit and yields the same image (the classic store's exporter stamps a creation time
    // into the config, so two uncached builds would differ by it).
    let bx_tag = format!("{bx_repo_ref}:1");
    let bx = std::process::Command::new("docker")
        .args([
            "buildx",
            "bake",
            "-f",
            "docker-bake.hcl",
            "--progress",
            "plain",
        ])
        .args(["--set", &format!("app.tags={bx_tag}"), "--push"])
        .args(["--metadata-file", "buildx.json", "app"])
        .current_dir(&ws.dir)
        .env("DOCKER_HOST", &engine.host)
        .output()
        .expect("run docker buildx bake");
    ws.images.borrow_mut().push(bx_tag.clone());
    ws.tags.borrow_mut().push(bx_tag.clone());
    assert!(
        bx.status.success(),
        "buildx failed:\n{}",
        String::from_utf8_lossy(&bx.stderr)
    );
    let applied = ws.apply(
        &["app"],
        &[
            "--push",
            "--progress",
            "plain",
            "--metadata-file",
            "rbake.json",
        ],
    );
    // `--push` is not in the plan `apply` records for clean-up: name the tag here.
    ws.tags.borrow_mut().push(format!("{repo_ref}:1"));
    applied.run.assert_success();

    let theirs: Value = serde_json::from_slice(&ws.read("buildx.json")).expect("buildx JSON");
    let mine: Value = serde_json::from_slice(&ws.read("rbake.json")).expect("rbake JSON");
    eprintln!("buildx wrote {theirs:#}\nrbake wrote {mine:#}");
    let (theirs, mine) = (&theirs["app"], &mine["app"]);

    // Keys: everything buildx writes; rbake adds what BuildKit's image exporter reports on
    // newer engines (the daemon's exporter on 20.10 reports neither).
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .unwrap_or_else(|| panic!("no target entry: {v}"))
            .keys()
            .cloned()
            .collect()
    };
    let want: BTreeSet<String> = [
        "buildx.build.ref",
        "containerimage.config.digest",
        "containerimage.digest",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys(theirs), want, "buildx 0.13.1's keys on this engine");
    let mut with_extras = want.clone();
    with_extras.extend(["containerimage.descriptor", "image.name"].map(String::from));
    assert_eq!(keys(mine), with_extras, "rbake's keys");
    for v in [theirs, mine] {
        let r = v["buildx.build.ref"].as_str().unwrap();
        assert_eq!(r.split('/').count(), 3, "BUILDER/NODE/REF: {r}");
    }

    // The image config: the same blob.
    assert_eq!(
        mine["containerimage.config.digest"], theirs["containerimage.config.digest"],
        "the same image, so the same config"
    );
    assert_eq!(mine["image.name"], format!("{repo_ref}:1").as_str());

    // Each `containerimage.digest` is what the registry serves for that tool's tag.
    let served = |tag: &str| {
        let (_, repo, t) = registry::split_reference(tag);
        (
            repo.clone(),
            ws.registry.manifest(&repo, &t, ACCEPT_MANIFEST),
        )
    };
    let (bx_repo, bx_manifest) = served(&bx_tag);
    let (my_repo, my_manifest) = served(&format!("{repo_ref}:1"));
    assert_eq!(theirs["containerimage.digest"], bx_manifest.digest.as_str());
    assert_eq!(mine["containerimage.digest"], my_manifest.digest.as_str());
    let descriptor = &mine["containerimage.descriptor"];
    assert_eq!(descriptor["digest"], my_manifest.digest.as_str());
    assert_eq!(descriptor["mediaType"], my_manifest.media_type.as_str());
    assert_eq!(descriptor["size"], my_manifest.bytes.len());

    // Why the manifest digests differ, and what is the same inside them.
    assert_eq!(
        bx_manifest.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        my_manifest.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_ne!(bx_manifest.digest, my_manifest.digest);
    assert_eq!(
        bx_manifest.json["config"]["digest"],
        my_manifest.json["config"]["digest"]
    );
    let config: Value = serde_json::from_slice(&ws.registry.blob(
        &my_repo,
        my_manifest.json["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let uncompressed = |repo: &str, m: &registry::Manifest| -> Vec<String> {
        m.json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let blob = ws.registry.blob(repo, l["digest"].as_str().unwrap());
                crate::image::sha256(&crate::image::decompress(&blob))
            })
            .collect()
    };
    let diff_ids = crate::strings(&config["rootfs"]["diff_ids"]);
    assert_eq!(
        uncompressed(&bx_repo, &bx_manifest),
        diff_ids,
        "buildx's layers"
    );
    assert_eq!(
        uncompressed(&my_repo, &my_manifest),
        diff_ids,
        "rbake's layers"
    );
}

mod metadata_as_buildx_writes_it {
    /// buildx's docker driver pushes a single platform on the classic store only.
    #[test]
    fn docker20() {
        super::metadata_as_buildx_writes_it(&crate::Engine::docker20());
    }
}

/// `attest = ["type=provenance,mode=max"]` on a two-platform push to the registry, on
/// Docker 26 (BuildKit 0.13, containerd store): the index the registry serves lists both
/// images and then one attestation manifest per platform, as BuildKit lays them out
/// (platform `unknown/unknown`, `vnd.docker.reference.type = attestation-manifest`,
/// `vnd.docker.reference.digest` = that platform's image manifest); each holds a SLSA
/// provenance statement in max mode whose subject is the image manifest the registry
/// serves. The metadata file names the index.
fn provenance_in_the_pushed_index(engine: &Engine) {
    let ws = Workspace::new("attest", engine);
    let repo_ref = ws.registry_repo("prov");
    ws.set_env("REPO", &repo_ref);
    let applied = ws.apply(
        &["prov"],
        &["--progress", "plain", "--metadata-file", "meta.json"],
    );
    applied.run.assert_success();
    let (_, repo, _) = registry::split_reference(&format!("{repo_ref}:1"));
    let index = ws
        .registry
        .manifest(&repo, "1", crate::registry::ACCEPT_INDEX);
    eprintln!("the registry serves {:#}", index.json);
    let entries = crate::image::descriptors(&index.json);
    let (attestations, images): (Vec<&Value>, Vec<&Value>) = entries
        .iter()
        .partition(|d| crate::image::is_attestation(d));
    let platforms: Vec<String> = images
        .iter()
        .map(|d| crate::image::descriptor_platform(d).unwrap_or_default())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(
        attestations.len(),
        2,
        "one attestation manifest per platform"
    );
    // BuildKit's order: every image, then every attestation, in platform order.
    assert!(crate::image::is_attestation(&entries[2]) && crate::image::is_attestation(&entries[3]));
    for (att, img) in attestations.iter().zip(&images) {
        assert_eq!(att["platform"]["os"], "unknown", "{att}");
        assert_eq!(att["platform"]["architecture"], "unknown", "{att}");
        assert_eq!(
            att["annotations"]["vnd.docker.reference.type"],
            "attestation-manifest"
        );
        assert_eq!(
            att["annotations"]["vnd.docker.reference.digest"],
            img["digest"]
        );
        let digest = att["digest"].as_str().unwrap();
        let m = ws.registry.manifest(&repo, digest, ACCEPT_MANIFEST);
        let layers = m.json["layers"].as_array().expect("statement layers");
        let prov = layers
            .iter()
            .find(|l| {
                l["annotations"]["in-toto.io/predicate-type"] == "https://slsa.dev/provenance/v0.2"
            })
            .unwrap_or_else(|| panic!("no provenance statement in {}", m.json));
        assert_eq!(prov["mediaType"], "application/vnd.in-toto+json");
        let statement: Value =
            serde_json::from_slice(&ws.registry.blob(&repo, prov["digest"].as_str().unwrap()))
                .expect("an in-toto statement");
        let subjects = statement["subject"].as_array().expect("subjects");
        let image_hex = img["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        assert!(
            !subjects.is_empty() && subjects.iter().all(|s| s["digest"]["sha256"] == image_hex),
            "the statement is about the pushed manifest: {subjects:?}"
        );
        // Max mode records the build's definition; min mode leaves buildConfig out.
        assert!(
            statement["predicate"]["buildConfig"].is_object(),
            "mode=max provenance: {}",
            statement["predicate"]
        );
        // The image it refers to is served too.
        ws.registry.image(&repo, img);
    }
    let meta: Value = serde_json::from_slice(&ws.read("meta.json")).unwrap();
    assert_eq!(meta["prov"]["containerimage.digest"], index.digest.as_str());
    assert_eq!(
        meta["prov"]["containerimage.descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
}

mod provenance_in_the_pushed_index {
    /// Attestations need the containerd store (Docker 20.10 refuses at plan time, below).
    #[test]
    fn docker26() {
        super::provenance_in_the_pushed_index(&crate::Engine::docker26());
    }
}

/// An SBOM needs BuildKit's generator image. One the engine does not hold is pulled by
/// BuildKit, as with buildx; here it names a loopback registry that does not have it, so
/// the pull fails (no traffic leaves the machine): the failure names the image and the
/// builder and says how to provide it, and nothing is pushed.
fn sbom_without_its_generator(engine: &Engine) {
    let ws = Workspace::new("attest", engine);
    let repo_ref = ws.registry_repo("sbom");
    ws.set_env("REPO", &repo_ref);
    let generator = format!("{}:1", ws.registry_repo("no-such-scanner"));
    ws.set_env("GENERATOR", &generator);
    assert!(
        engine.inspect(&generator).is_none(),
        "this test needs an engine without the generator"
    );
    let applied = ws.apply(&["sbom"], &["--progress", "plain"]);
    applied.run.assert_failure();
    let out = applied.run.output();
    assert!(
        out.contains(&format!(
            "the SBOM generator image `{generator}` is not in the image store of builder `{}`, so BuildKit had to pull it",
            engine.name
        )) && out.contains("type=sbom,generator=IMAGE"),
        "{out}"
    );
    let (_, repo, _) = registry::split_reference(&format!("{repo_ref}:sbom"));
    assert!(
        !ws.registry.has_manifest(&repo, "sbom"),
        "nothing was pushed"
    );
}

mod sbom_without_its_generator {
    #[test]
    fn docker26() {
        super::sbom_without_its_generator(&crate::Engine::docker26());
    }
}

/// On Docker 20.10's classic store BuildKit 0.8 would ignore `attest:*`: `rbake plan`
/// refuses with `check::attest_unsupported` at the `attest` entry, naming the builder.
fn attest_refused_on_a_classic_store(engine: &Engine) {
    let ws = Workspace::new("attest", engine);
    let run = ws.rbake(&["plan", "--probe", "prov"]);
    run.assert_failure();
    let out = run.output();
    assert!(
        out.contains("check::attest_unsupported")
            && out.contains(&format!(
                "builder `{}` cannot attach a `provenance` attestation to `prov`",
                engine.name
            ))
            && out.contains("classic image store")
            && out.contains("type=provenance,mode=max"),
        "{out}"
    );
    // Disabled on the command line, as bake's `--provenance=false`: the plan is fine.
    let run = ws.rbake(&["plan", "--probe", "--provenance=false", "prov"]);
    run.assert_success();
}

mod attest_refused_on_a_classic_store {
    #[test]
    fn docker20() {
        super::attest_refused_on_a_classic_store(&crate::Engine::docker20());
    }
}
