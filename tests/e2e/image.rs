//! Images as the tests look at them: one platform's config and layers, read from a
//! `docker save` tarball (the legacy layout of Docker 20.10 or the OCI layout of Docker 25+)
//! or from a registry, plus the file lookup that applies the layers in order.

use std::collections::HashMap;
use std::io::Read;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of the bytes.
pub fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// An OCI platform as rbake writes it: `os/arch[/variant]`.
pub fn platform_of(os: &str, arch: &str, variant: Option<&str>) -> String {
    match variant.filter(|v| !v.is_empty()) {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    }
}

/// What `uname -m` prints inside a build for a platform (through qemu for foreign ones).
pub fn uname_of(platform: &str) -> &'static str {
    match platform {
        "linux/amd64" => "x86_64",
        "linux/arm64" => "aarch64",
        "linux/arm/v7" => "armv7l",
        other => panic!("no uname -m known for {other}"),
    }
}

/// rbake's local-tag suffix for a platform: `linux/arm/v7` → `linux-arm-v7`.
pub fn slug(platform: &str) -> String {
    platform.replace('/', "-")
}

/// One platform's image.
#[derive(Clone, Debug)]
pub struct ImageContent {
    /// The platform the config records, `os/arch[/variant]`.
    pub platform: String,
    /// The manifest's digest, when the source has one (registries, OCI layouts).
    pub manifest_digest: Option<String>,
    /// The platform the index descriptor claims, when there was an index.
    pub descriptor_platform: Option<String>,
    pub config: Value,
    pub config_bytes: Vec<u8>,
    /// Each layer as an uncompressed tar, bottom first.
    pub layers: Vec<Vec<u8>>,
}

impl ImageContent {
    pub fn new(
        config_bytes: Vec<u8>,
        layers: Vec<Vec<u8>>,
        manifest_digest: Option<String>,
        descriptor_platform: Option<String>,
    ) -> ImageContent {
        let config: Value = serde_json::from_slice(&config_bytes)
            .unwrap_or_else(|e| panic!("an image config is not JSON: {e}"));
        let s = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or_default();
        let platform = platform_of(s("os"), s("architecture"), Some(s("variant")));
        let layers = layers.iter().map(|l| decompress(l)).collect();
        ImageContent {
            platform,
            manifest_digest,
            descriptor_platform,
            config,
            config_bytes,
            layers,
        }
    }

    /// The file at `path` (absolute or not) in the image's filesystem, with the layers applied
    /// bottom to top (whiteouts hide lower files); `None` when absent or not a regular file.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let want = clean(path);
        for layer in self.layers.iter().rev() {
            match lookup(layer, &want) {
                Lookup::Found(data) => return Some(data),
                Lookup::Hidden => return None,
                Lookup::Absent => {}
            }
        }
        None
    }

    /// [`ImageContent::file`] as trimmed text; panics naming the image when it is missing.
    pub fn text(&self, path: &str) -> String {
        let data = self.file(path).unwrap_or_else(|| {
            panic!(
                "{path} is not in the {} image (manifest {:?})",
                self.platform, self.manifest_digest
            )
        });
        String::from_utf8_lossy(&data).trim().to_string()
    }

    /// Whether `needle` occurs anywhere in the config or in any layer's bytes (file
    /// contents, names, headers).
    pub fn contains(&self, needle: &[u8]) -> bool {
        find(&self.config_bytes, needle) || self.layers.iter().any(|l| find(l, needle))
    }
}

/// Whether `needle` occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// gzip layers are unpacked; anything else is taken as a plain tar.
pub fn decompress(data: &[u8]) -> Vec<u8> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("a gzip layer does not decompress: {e}"));
        out
    } else {
        data.to_vec()
    }
}

fn clean(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

enum Lookup {
    Found(Vec<u8>),
    /// A whiteout in this layer hides the path (or a parent) from the layers below.
    Hidden,
    Absent,
}

fn lookup(layer: &[u8], want: &str) -> Lookup {
    let mut archive = tar::Archive::new(layer);
    let entries = archive
        .entries()
        .unwrap_or_else(|e| panic!("a layer is not a tar: {e}"));
    let mut hidden = false;
    for entry in entries {
        let mut entry = entry.unwrap_or_else(|e| panic!("a layer entry is unreadable: {e}"));
        let name = clean(&entry.path().expect("entry path").to_string_lossy());
        if name == want {
            if entry.header().entry_type().is_file() {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("read a layer file");
                return Lookup::Found(data);
            }
            return Lookup::Absent;
        }
        let (dir, base) = name.rsplit_once('/').unwrap_or(("", name.as_str()));
        if base == ".wh..wh..opq" && (dir.is_empty() || want.starts_with(&format!("{dir}/"))) {
            hidden = true;
        } else if let Some(gone) = base.strip_prefix(".wh.") {
            let gone = if dir.is_empty() {
                gone.to_string()
            } else {
                format!("{dir}/{gone}")
            };
            if want == gone || want.starts_with(&format!("{gone}/")) {
                hidden = true;
            }
        }
    }
    if hidden {
        Lookup::Hidden
    } else {
        Lookup::Absent
    }
}

/// The files of a tarball by path (`./` stripped); directories and links are left out.
pub fn tar_files(tar_bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().expect("a tarball") {
        let mut entry = entry.expect("a tar entry");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = clean(&entry.path().expect("entry path").to_string_lossy());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read a tar entry");
        files.insert(path, data);
    }
    files
}

/// Every platform's image in a `docker save` tarball. An OCI layout (`index.json`) is walked
/// through nested indexes down to the manifests whose blobs are present; the legacy layout
/// is read from `manifest.json`.
pub fn from_save_tar(tar_bytes: &[u8]) -> Vec<ImageContent> {
    let files = tar_files(tar_bytes);
    let blob = |digest: &str| -> Option<&Vec<u8>> {
        files.get(&format!("blobs/{}", digest.replacen(':', "/", 1)))
    };
    if let Some(index) = files.get("index.json") {
        let index: Value = serde_json::from_slice(index).expect("index.json is JSON");
        let mut out = Vec::new();
        let mut queue: Vec<(Value, Option<String>)> =
            descriptors(&index).into_iter().map(|d| (d, None)).collect();
        while let Some((d, platform)) = queue.pop() {
            if is_attestation(&d) {
                continue;
            }
            let digest = d["digest"].as_str().expect("descriptor digest").to_string();
            let platform = descriptor_platform(&d).or(platform);
            let Some(data) = blob(&digest) else {
                // A platform the store does not hold (a partial pull): nothing to read.
                continue;
            };
            assert_eq!(
                sha256(data),
                digest,
                "blob {digest} in the layout is corrupt"
            );
            let doc: Value = serde_json::from_slice(data).expect("a manifest is JSON");
            if doc.get("manifests").is_some() {
                queue.extend(descriptors(&doc).into_iter().map(|c| (c, platform.clone())));
                continue;
            }
            let Some(config) = doc["config"]["digest"].as_str().and_then(blob) else {
                continue;
            };
            let layers = doc["layers"]
                .as_array()
                .expect("manifest layers")
                .iter()
                .map(|l| {
                    blob(l["digest"].as_str().expect("layer digest"))
                        .expect("a layer blob is in the layout")
                        .clone()
                })
                .collect();
            out.push(ImageContent::new(
                config.clone(),
                layers,
                Some(digest),
                platform,
            ));
        }
        out.sort_by(|a, b| a.platform.cmp(&b.platform));
        return out;
    }
    let manifest: Value = serde_json::from_slice(
        files
            .get("manifest.json")
            .expect("manifest.json in the save"),
    )
    .expect("manifest.json is JSON");
    manifest
        .as_array()
        .expect("manifest.json is a list")
        .iter()
        .map(|m| {
            let config = files
                .get(m["Config"].as_str().expect("Config"))
                .expect("the config file is in the save")
                .clone();
            let layers = m["Layers"]
                .as_array()
                .expect("Layers")
                .iter()
                .map(|l| {
                    files
                        .get(l.as_str().expect("layer path"))
                        .expect("a layer file is in the save")
                        .clone()
                })
                .collect();
            ImageContent::new(config, layers, None, None)
        })
        .collect()
}

/// The `manifests` of an index.
pub fn descriptors(index: &Value) -> Vec<Value> {
    index["manifests"].as_array().cloned().unwrap_or_default()
}

/// `os/arch[/variant]` of a descriptor's `platform`, if it has one.
pub fn descriptor_platform(d: &Value) -> Option<String> {
    let p = d.get("platform")?;
    Some(platform_of(
        p["os"].as_str()?,
        p["architecture"].as_str()?,
        p["variant"].as_str(),
    ))
}

/// Whether a descriptor is a BuildKit attestation (provenance, SBOM), not an image.
pub fn is_attestation(d: &Value) -> bool {
    d["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
}
