//! Images as blobs: read a built image out of the engine (`docker save`), turn it into an
//! OCI manifest with gzip layers, and assemble indexes and OCI layouts. Used for registry
//! pushes by digest, multi-platform loads into a containerd store, and `oci` exports, so
//! all of them work the same way on every engine.

use std::collections::HashMap;
use std::io::{Read, Write};

use bollard::Docker;
use futures_util::StreamExt;
use serde_json::{Value as J, json};
use sha2::{Digest, Sha256};

use super::engine::error_chain;
pub use crate::model::annotation::Annotation;

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Clone, Debug)]
pub struct Blob {
    pub digest: String,
    pub media_type: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            digest: digest(&data),
            media_type: media_type.to_string(),
            data,
        }
    }

    pub fn descriptor(&self) -> J {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.data.len() })
    }
}

pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", crate::base::hex(&Sha256::digest(data)))
}

/// One platform's image: config, layers and the manifest tying them together.
#[derive(Clone, Debug)]
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Blob,
    /// `os`, `architecture`, `variant` as the config records them.
    pub platform: J,
    /// The attestation manifest BuildKit attached to it in the engine, if any.
    pub attestation: Option<Attestation>,
}

/// An attestation manifest as BuildKit lays it out: a manifest whose layers are in-toto
/// statements (`application/vnd.in-toto+json`, each annotated with its predicate type),
/// listed in the image index as platform `unknown/unknown` with the annotations
/// `vnd.docker.reference.type = attestation-manifest` and `vnd.docker.reference.digest` =
/// the image manifest it describes.
#[derive(Clone, Debug)]
pub struct Attestation {
    pub config: Blob,
    /// Each statement with its layer descriptor's annotations.
    pub statements: Vec<(Blob, J)>,
}

pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// Reads an image from the engine's store by reference.
pub async fn save(docker: &Docker, reference: &str) -> Result<Image, String> {
    let mut stream = docker.export_image(reference);
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        tar_bytes.extend_from_slice(&chunk.map_err(|e| {
            format!(
                "cannot export {reference} from the engine: {}",
                error_chain(&e)
            )
        })?);
    }
    from_save_tar(&tar_bytes)
        .map_err(|e| format!("cannot read the exported image {reference}: {e}"))
}

/// Parses `docker save` output: the legacy layout (20.10) or OCI layout with a legacy
/// `manifest.json` (25+); both list the config and layer files in `manifest.json`.
pub fn from_save_tar(tar_bytes: &[u8]) -> Result<Image, String> {
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
        files.insert(path, data);
    }
    let manifest: J = serde_json::from_slice(
        files
            .get("manifest.json")
            .ok_or("no manifest.json in the exported image")?,
    )
    .map_err(|e| e.to_string())?;
    let first = manifest.get(0).ok_or("manifest.json lists no image")?;
    let config_path = first
        .get("Config")
        .and_then(J::as_str)
        .ok_or("manifest.json has no Config")?;
    let config_bytes = files
        .get(config_path)
        .ok_or("the image config is missing")?
        .clone();
    let config_json: J = serde_json::from_slice(&config_bytes).map_err(|e| e.to_string())?;
    let mut layers = Vec::new();
    for l in first
        .get("Layers")
        .and_then(J::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let path = l.as_str().ok_or("a layer path is not a string")?;
        let data = files
            .get(path)
            .ok_or_else(|| format!("layer {path} is missing"))?;
        layers.push(Blob::new(LAYER_GZIP, gzip(data)?));
    }
    let mut platform = json!({
        "architecture": config_json.get("architecture").cloned().unwrap_or(J::Null),
        "os": config_json.get("os").cloned().unwrap_or(J::Null),
    });
    if let Some(v) = config_json
        .get("variant")
        .and_then(J::as_str)
        .filter(|v| !v.is_empty())
    {
        platform["variant"] = json!(v);
    }
    let attestation = attestation_in_save(&files)?;
    let config = Blob::new(CONFIG, config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    let manifest = Blob::new(
        MANIFEST,
        serde_json::to_vec(&manifest).map_err(|e| e.to_string())?,
    );
    Ok(Image {
        config,
        layers,
        manifest,
        platform,
        attestation,
    })
}

/// The attestation manifest in an OCI `docker save` (Docker 25+ with the containerd store
/// keeps the image index BuildKit wrote, attestation manifests included); `None` when the
/// save has none (or is the legacy layout).
fn attestation_in_save(files: &HashMap<String, Vec<u8>>) -> Result<Option<Attestation>, String> {
    let blob = |digest: &str| -> Result<&Vec<u8>, String> {
        files
            .get(&format!(
                "blobs/sha256/{}",
                digest.trim_start_matches("sha256:")
            ))
            .ok_or_else(|| format!("blob {digest} is missing from the exported image"))
    };
    let Some(index) = files.get("index.json") else {
        return Ok(None);
    };
    // Walk nested indexes (index.json names the image's own index) to the attestation.
    let mut pending: Vec<J> = vec![serde_json::from_slice(index).map_err(|e| e.to_string())?];
    let mut found = None;
    let mut steps = 0;
    while let Some(idx) = pending.pop() {
        steps += 1;
        if steps > 16 {
            break;
        }
        for d in idx["manifests"].as_array().cloned().unwrap_or_default() {
            let digest = d["digest"].as_str().unwrap_or_default();
            if d["annotations"][REFERENCE_TYPE] == ATTESTATION_MANIFEST {
                found = Some(digest.to_string());
            } else if (d["mediaType"] == INDEX
                || d["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json")
                && let Ok(bytes) = blob(digest)
            {
                pending.push(serde_json::from_slice(bytes).map_err(|e| e.to_string())?);
            }
        }
    }
    let Some(digest) = found else { return Ok(None) };
    let manifest: J = serde_json::from_slice(blob(&digest)?).map_err(|e| e.to_string())?;
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    let config_type = manifest["config"]["mediaType"].as_str().unwrap_or(CONFIG);
    let config = Blob::new(config_type, blob(config_digest)?.clone());
    let mut statements = Vec::new();
    for l in manifest["layers"].as_array().cloned().unwrap_or_default() {
        let d = l["digest"].as_str().unwrap_or_default();
        let media_type = l["mediaType"].as_str().unwrap_or(IN_TOTO);
        statements.push((
            Blob::new(media_type, blob(d)?.clone()),
            l.get("annotations").cloned().unwrap_or(J::Null),
        ));
    }
    Ok(Some(Attestation { config, statements }))
}

pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The attestation manifest for `image` as pushed: each in-toto statement's subject becomes
/// the pushed manifest (one subject per tag, named `pkg:docker/REPO@TAG?platform=...` as
/// BuildKit names them), since the manifest rbake pushes is re-assembled and so is not the
/// one the engine's statement named. The result is an [`Image`] (config, statements as
/// layers, manifest) with platform `unknown/unknown`, ready to push by digest.
pub fn attestation_for(image: &Image, tags: &[String], platform: &str) -> Option<Image> {
    let att = image.attestation.as_ref()?;
    let hex = image
        .manifest
        .digest
        .trim_start_matches("sha256:")
        .to_string();
    let subjects: Vec<J> = tags
        .iter()
        .map(|t| json!({ "name": purl(t, platform), "digest": { "sha256": hex } }))
        .collect();
    let mut layers = Vec::new();
    let mut descriptors = Vec::new();
    for (blob, annotations) in &att.statements {
        let mut statement: J = serde_json::from_slice(&blob.data).ok()?;
        if !subjects.is_empty() {
            statement["subject"] = J::Array(subjects.clone());
        } else if let Some(list) = statement["subject"].as_array_mut() {
            for s in list {
                s["digest"] = json!({ "sha256": hex });
            }
        }
        let b = Blob::new(&blob.media_type, serde_json::to_vec(&statement).ok()?);
        let mut d = b.descriptor();
        if !annotations.is_null() {
            d["annotations"] = annotations.clone();
        }
        descriptors.push(d);
        layers.push(b);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": att.config.descriptor(),
        "layers": descriptors,
    });
    Some(Image {
        config: att.config.clone(),
        layers,
        manifest: Blob::new(MANIFEST, serde_json::to_vec(&manifest).ok()?),
        platform: json!({ "architecture": "unknown", "os": "unknown" }),
        attestation: None,
    })
}

/// BuildKit's subject name for a tag: `pkg:docker/NAMESPACE/NAME@TAG?platform=OS%2FARCH`.
fn purl(tag: &str, platform: &str) -> String {
    let (name, version) = match tag.rfind(':') {
        Some(i) if !tag[i..].contains('/') => (&tag[..i], &tag[i + 1..]),
        _ => (tag, "latest"),
    };
    let name = name
        .strip_prefix("docker.io/")
        .map(|n| n.strip_prefix("library/").unwrap_or(n))
        .unwrap_or(name);
    format!(
        "pkg:docker/{name}@{version}?platform={}",
        platform.replace('/', "%2F")
    )
}

/// Layers are pushed gzip-compressed; already compressed ones (OCI saves) pass through.
fn gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    if data.starts_with(&[0x1f, 0x8b]) {
        return Ok(data.to_vec());
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// The image with annotations added to its manifest (a new manifest, so a new digest).
pub fn annotate(image: &Image, annotations: &[Annotation], platform: &str) -> Image {
    let mine: Vec<&Annotation> = annotations
        .iter()
        .filter(|a| !a.on_index && a.platform.as_deref().is_none_or(|p| p == platform))
        .collect();
    if mine.is_empty() {
        return image.clone();
    }
    let mut manifest: J = serde_json::from_slice(&image.manifest.data).unwrap_or(J::Null);
    let map: serde_json::Map<String, J> = mine
        .iter()
        .map(|a| (a.key.clone(), J::String(a.value.clone())))
        .collect();
    manifest["annotations"] = J::Object(map);
    let mut out = image.clone();
    out.manifest = Blob::new(MANIFEST, serde_json::to_vec(&manifest).unwrap_or_default());
    out
}

/// An OCI image index over several platforms' manifests, then each attestation manifest
/// (paired with the image manifest it describes), as BuildKit orders them, with `index:`
/// annotations.
pub fn index_with(
    images: &[&Image],
    attestations: &[(&Image, &Image)],
    annotations: &[Annotation],
) -> Blob {
    let mut blob = index(images);
    if !attestations.is_empty() {
        let mut idx: J = serde_json::from_slice(&blob.data).unwrap_or(J::Null);
        if let Some(list) = idx["manifests"].as_array_mut() {
            for (att, of) in attestations {
                let mut d = att.manifest.descriptor();
                d["annotations"] = json!({
                    REFERENCE_DIGEST: of.manifest.digest,
                    REFERENCE_TYPE: ATTESTATION_MANIFEST,
                });
                d["platform"] = att.platform.clone();
                list.push(d);
            }
        }
        blob = Blob::new(INDEX, serde_json::to_vec(&idx).unwrap_or_default());
    }
    let mine: serde_json::Map<String, J> = annotations
        .iter()
        .filter(|a| a.on_index)
        .map(|a| (a.key.clone(), J::String(a.value.clone())))
        .collect();
    if !mine.is_empty() {
        let mut idx: J = serde_json::from_slice(&blob.data).unwrap_or(J::Null);
        idx["annotations"] = J::Object(mine);
        blob = Blob::new(INDEX, serde_json::to_vec(&idx).unwrap_or_default());
    }
    blob
}

/// An OCI image index over several platforms' manifests.
pub fn index(images: &[&Image]) -> Blob {
    let manifests: Vec<J> = images
        .iter()
        .map(|i| {
            let mut d = i.manifest.descriptor();
            d["platform"] = i.platform.clone();
            d
        })
        .collect();
    let idx = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests });
    Blob::new(INDEX, serde_json::to_vec(&idx).unwrap_or_default())
}

/// An OCI image index over manifests already in a registry (a shard's, for `rbake
/// publish`): `(descriptor, platform)` pairs, with `index:` annotations.
pub fn index_of(entries: &[(Blob, crate::model::Platform)], annotations: &[Annotation]) -> Blob {
    let manifests: Vec<J> = entries
        .iter()
        .map(|(m, p)| {
            let mut d = m.descriptor();
            let mut platform = json!({ "architecture": p.arch, "os": p.os });
            if let Some(v) = &p.variant {
                platform["variant"] = J::String(v.clone());
            }
            d["platform"] = platform;
            d
        })
        .collect();
    let mut idx = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests });
    let mine: serde_json::Map<String, J> = annotations
        .iter()
        .filter(|a| a.on_index)
        .map(|a| (a.key.clone(), J::String(a.value.clone())))
        .collect();
    if !mine.is_empty() {
        idx["annotations"] = J::Object(mine);
    }
    Blob::new(INDEX, serde_json::to_vec(&idx).unwrap_or_default())
}

/// A reference as the engine normalises it: `app` is `docker.io/library/app:latest`,
/// `org/app:1` is `docker.io/org/app:1`; a first part with a `.` or `:` (or `localhost`)
/// is a registry host and stays.
pub fn qualified(reference: &str) -> String {
    let (name, tag) = match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    };
    let name = match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            name.to_string()
        }
        Some(_) => format!("docker.io/{name}"),
        None => format!("docker.io/library/{name}"),
    };
    format!("{name}:{tag}")
}

/// An OCI layout tarball (`oci-layout`, `index.json`, `blobs/sha256/...`) holding the
/// images under one index, named `name` (docker load tags it with that name).
pub fn oci_layout(images: &[&Image], name: Option<&str>) -> Result<Vec<u8>, String> {
    let inner = index(images);
    let mut desc = inner.descriptor();
    if let Some(n) = name {
        // containerd stores the name verbatim, and the engine only finds fully qualified
        // names (`docker.io/library/app:1`), so qualify it as the engine would.
        let full = qualified(n);
        let tag = full
            .rsplit_once(':')
            .map(|(_, t)| t.to_string())
            .unwrap_or_else(|| "latest".into());
        desc["annotations"] =
            json!({ "io.containerd.image.name": full, "org.opencontainers.image.ref.name": tag });
    }
    let top = json!({ "schemaVersion": 2, "mediaType": INDEX, "manifests": [desc] });
    let mut b = tar::Builder::new(Vec::new());
    let mut put = |path: &str, data: &[u8]| -> Result<(), String> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, data).map_err(|e| e.to_string())
    };
    put("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    put(
        "index.json",
        &serde_json::to_vec(&top).map_err(|e| e.to_string())?,
    )?;
    let mut written = std::collections::BTreeSet::new();
    let blobs = images
        .iter()
        .flat_map(|i| {
            std::iter::once(&i.config)
                .chain(&i.layers)
                .chain(std::iter::once(&i.manifest))
        })
        .chain(std::iter::once(&inner));
    for blob in blobs {
        if written.insert(blob.digest.clone()) {
            put(
                &format!("blobs/sha256/{}", blob.digest.trim_start_matches("sha256:")),
                &blob.data,
            )?;
        }
    }
    b.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::qualified;

    #[test]
    fn annotations_go_where_their_prefix_says() {
        use super::{Annotation, Blob, Image, MANIFEST, annotate, index_with};
        let specs: Vec<Annotation> = ["index:t=1", "v=2", "manifest[linux/arm64]:a=3"]
            .iter()
            .map(|s| Annotation::parse(s).unwrap())
            .collect();
        assert!(Annotation::parse("manifest-descriptor:x=1").is_err());
        assert!(Annotation::parse("novalue").is_err());
        let blank = Blob::new(MANIFEST, br#"{"schemaVersion":2}"#.to_vec());
        let img = Image {
            config: blank.clone(),
            layers: vec![],
            manifest: blank,
            platform: serde_json::json!({}),
            attestation: None,
        };
        let amd = annotate(&img, &specs, "linux/amd64");
        let arm = annotate(&img, &specs, "linux/arm64");
        let m = |i: &Image| {
            serde_json::from_slice::<serde_json::Value>(&i.manifest.data).unwrap()["annotations"]
                .clone()
        };
        assert_eq!(m(&amd), serde_json::json!({ "v": "2" }));
        assert_eq!(m(&arm), serde_json::json!({ "v": "2", "a": "3" }));
        assert_ne!(
            amd.manifest.digest, img.manifest.digest,
            "a new manifest has a new digest"
        );
        let idx = index_with(&[&amd, &arm], &[], &specs);
        let idx: serde_json::Value = serde_json::from_slice(&idx.data).unwrap();
        assert_eq!(idx["annotations"], serde_json::json!({ "t": "1" }));
    }

    #[test]
    fn names_are_qualified_like_the_engine() {
        assert_eq!(qualified("app"), "docker.io/library/app:latest");
        assert_eq!(qualified("e2e/demo:v1"), "docker.io/e2e/demo:v1");
        assert_eq!(
            qualified("127.0.0.1:5000/demo/hello:1.0"),
            "127.0.0.1:5000/demo/hello:1.0"
        );
        assert_eq!(qualified("localhost/x"), "localhost/x:latest");
    }
}
