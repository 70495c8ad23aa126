//! The test registry (distribution 2.8 on loopback, no auth) read over plain HTTP, as a
//! client pulling an image would: manifests by tag or digest, blobs by digest, every
//! digest checked against the bytes.

use serde_json::Value;

use super::http::{self, Addr, Response};
use super::image::{self, ImageContent};

/// What a client asking for an image index accepts.
pub const ACCEPT_INDEX: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// What a client asking for one platform's manifest accepts.
pub const ACCEPT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
pub const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

#[derive(Clone, Debug)]
pub struct Registry {
    /// `host:port`, as image references name it (e.g. `127.0.0.1:5000`).
    pub host: String,
}

/// A manifest or index as the registry served it.
#[derive(Debug)]
pub struct Manifest {
    /// The `Docker-Content-Digest` header.
    pub digest: String,
    /// The `Content-Type` header.
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Registry {
    /// `$RBAKE_REGISTRY` (as `scripts/stack.sh env` exports it), else `127.0.0.1:5000`.
    pub fn from_env() -> Registry {
        Registry {
            host: std::env::var("RBAKE_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into()),
        }
    }

    fn get(&self, path: &str, accept: Option<&str>) -> Result<Response, String> {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        http::request(&Addr::Tcp(self.host.clone()), "GET", path, &headers, None)
            .map_err(|e| format!("GET http://{}{path}: {e}", self.host))
    }

    /// `GET /v2/` answers 200.
    pub fn ping(&self) -> Result<(), String> {
        let r = self.get("/v2/", None)?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!(
                "GET http://{}/v2/ answered {}: {}",
                self.host,
                r.status,
                r.text()
            ))
        }
    }

    /// `GET /v2/<repo>/manifests/<reference>`; panics unless it is a 200 whose
    /// `Docker-Content-Digest` is the digest of the bytes served.
    pub fn manifest(&self, repo: &str, reference: &str, accept: &str) -> Manifest {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let r = self
            .get(&path, Some(accept))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.status,
            200,
            "GET http://{}{path} answered {}: {}",
            self.host,
            r.status,
            r.text()
        );
        let digest = r
            .header("Docker-Content-Digest")
            .unwrap_or_else(|| panic!("GET {path}: no Docker-Content-Digest header"))
            .to_string();
        assert_eq!(
            image::sha256(&r.body),
            digest,
            "GET {path}: Docker-Content-Digest is not the digest of the body"
        );
        Manifest {
            digest,
            media_type: r.header("Content-Type").unwrap_or_default().to_string(),
            json: r.json(),
            bytes: r.body,
        }
    }

    /// `GET /v2/<repo>/blobs/<digest>`; panics unless the bytes have that digest.
    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let r = self.get(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.status,
            200,
            "GET {path} answered {}: {}",
            r.status,
            r.text()
        );
        assert_eq!(image::sha256(&r.body), digest, "GET {path}: wrong bytes");
        r.body
    }

    /// One platform's image by manifest digest: manifest, config and layers, each fetched
    /// and digest-checked; `descriptor` is the index entry that named it.
    pub fn image(&self, repo: &str, descriptor: &Value) -> ImageContent {
        let digest = descriptor["digest"].as_str().expect("descriptor digest");
        let m = self.manifest(repo, digest, ACCEPT_MANIFEST);
        assert_eq!(m.digest, digest, "the registry served another manifest");
        if let Some(size) = descriptor["size"].as_u64() {
            assert_eq!(
                m.bytes.len() as u64,
                size,
                "manifest {digest}: the index gives the wrong size"
            );
        }
        let config_digest = m.json["config"]["digest"].as_str().expect("config digest");
        let config = self.blob(repo, config_digest);
        let layers = m.json["layers"]
            .as_array()
            .expect("manifest layers")
            .iter()
            .map(|l| self.blob(repo, l["digest"].as_str().expect("layer digest")))
            .collect();
        ImageContent::new(
            config,
            layers,
            Some(digest.to_string()),
            image::descriptor_platform(descriptor),
        )
    }

    /// `PUT /v2/<repo>/manifests/<reference>`: what a person with push rights can do by
    /// hand, for tests that tamper with a pushed tag. Returns the manifest's digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let r = http::request(
            &Addr::Tcp(self.host.clone()),
            "PUT",
            &path,
            &[("Content-Type", media_type)],
            Some(bytes),
        )
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        assert_eq!(
            r.status,
            201,
            "PUT {path} answered {}: {}",
            r.status,
            r.text()
        );
        image::sha256(bytes)
    }

    /// Whether `GET /v2/<repo>/manifests/<reference>` finds anything.
    pub fn has_manifest(&self, repo: &str, reference: &str) -> bool {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let accept = format!("{ACCEPT_INDEX}, {ACCEPT_MANIFEST}");
        match self.get(&path, Some(&accept)) {
            Ok(r) => r.status == 200,
            Err(e) => panic!("{e}"),
        }
    }

    /// Uploads a blob (monolithic POST then PUT); returns its digest.
    pub fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = image::sha256(bytes);
        let addr = Addr::Tcp(self.host.clone());
        let start = format!("/v2/{repo}/blobs/uploads/");
        let r = http::request(&addr, "POST", &start, &[], Some(&[]))
            .unwrap_or_else(|e| panic!("POST {start}: {e}"));
        assert_eq!(
            r.status,
            202,
            "POST {start} answered {}: {}",
            r.status,
            r.text()
        );
        let location = r.header("Location").expect("upload location").to_string();
        let path = location
            .strip_prefix(&format!("http://{}", self.host))
            .unwrap_or(&location)
            .to_string();
        let sep = if path.contains('?') { '&' } else { '?' };
        let put = format!("{path}{sep}digest={}", digest.replace(':', "%3A"));
        let r = http::request(
            &addr,
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            Some(bytes),
        )
        .unwrap_or_else(|e| panic!("PUT {put}: {e}"));
        assert_eq!(
            r.status,
            201,
            "PUT {put} answered {}: {}",
            r.status,
            r.text()
        );
        digest
    }

    /// Best-effort `DELETE /v2/<repo>/manifests/<digest>` (the registry has delete enabled).
    pub fn delete(&self, repo: &str, digest: &str) {
        let _ = http::request(
            &Addr::Tcp(self.host.clone()),
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[],
            None,
        );
    }

    /// Removes what a tag points at: its per-platform manifests and the index (best effort;
    /// blobs stay until the registry's garbage collection).
    pub fn delete_tag(&self, repo: &str, tag: &str) {
        let path = format!("/v2/{repo}/manifests/{tag}");
        let Ok(r) = self.get(&path, Some(&format!("{ACCEPT_INDEX}, {ACCEPT_MANIFEST}"))) else {
            return;
        };
        if r.status != 200 {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
            for d in image::descriptors(&v) {
                if let Some(digest) = d["digest"].as_str() {
                    self.delete(repo, digest);
                }
            }
        }
        if let Some(digest) = r.header("Docker-Content-Digest") {
            self.delete(repo, digest);
        }
    }
}

/// Splits `host:port/repo/path:tag` into (`host:port`, `repo/path`, `tag`).
pub fn split_reference(reference: &str) -> (String, String, String) {
    let (host, rest) = reference
        .split_once('/')
        .unwrap_or_else(|| panic!("{reference} names no registry host"));
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (rest, "latest"),
    };
    (host.to_string(), repo.to_string(), tag.to_string())
}
