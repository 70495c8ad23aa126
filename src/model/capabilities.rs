//! What a builder can do: declared in the spec, or probed from the engine (`--probe`).

use super::{Builder, Platform};
use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageStore {
    /// The classic (graphdriver) store: one platform per image, so multi-platform loads are
    /// split into one image per platform.
    Classic,
    /// The containerd store: holds multi-platform images.
    Containerd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CapSource {
    Declared,
    Implicit,
    Probed,
}

/// TLS material for a `tcp://` endpoint, as paths to PEM files (what `docker --tlsverify
/// --tlscacert --tlscert --tlskey` takes). Only paths: the plan never holds a key.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Tls {
    /// The CA certificate the engine's certificate must chain to.
    pub ca: Option<String>,
    /// The client certificate rbake presents.
    pub cert: Option<String>,
    /// The client certificate's private key.
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Capabilities {
    pub name: String,
    pub endpoint: String,
    /// TLS for a `tcp://` endpoint (builder `tls-*` attributes, `DOCKER_TLS_VERIFY` with
    /// `DOCKER_CERT_PATH`, or a Docker CLI context's TLS store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// The Docker CLI context the endpoint came from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub driver: String,
    /// Everything it can build; the ones not in `native` run under emulation.
    pub platforms: Vec<Platform>,
    pub native: Vec<Platform>,
    pub image_store: ImageStore,
    pub max_parallelism: usize,
    /// BuildKit's version, when probed.
    pub buildkit: Option<String>,
    /// Whether the Dockerfile frontend takes named contexts (BuildKit 0.10+). rbake builds
    /// `target:` contexts either way; this only changes how.
    pub named_contexts: bool,
    pub source: CapSource,
    #[serde(skip)]
    pub span: Span,
}

/// Platforms an engine with qemu-user-static registered commonly builds. The implicit
/// builder assumes them until `--probe` says otherwise.
pub const COMMON_EMULATED: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
];

pub const DEFAULT_PARALLELISM: usize = 4;

impl Capabilities {
    pub fn is_native(&self, p: &Platform) -> bool {
        self.native.contains(p)
    }

    pub fn can_build(&self, p: &Platform) -> bool {
        self.platforms.contains(p) || self.native.contains(p)
    }

    /// The implicit builder: the local engine, with the local platform native.
    pub fn implicit(endpoint: String, local: Platform) -> Capabilities {
        let mut platforms = vec![local.clone()];
        for p in COMMON_EMULATED {
            let p = Platform::parse(p).expect("valid constant");
            if !platforms.contains(&p) {
                platforms.push(p);
            }
        }
        Capabilities {
            name: "local".into(),
            endpoint,
            tls: None,
            context: None,
            driver: "docker".into(),
            platforms,
            native: vec![local],
            image_store: ImageStore::Classic,
            max_parallelism: DEFAULT_PARALLELISM,
            buildkit: None,
            named_contexts: false,
            source: CapSource::Implicit,
            span: Span::default(),
        }
    }

    /// A declared builder's capabilities. Bad values are reported by `check`; here they
    /// are skipped.
    pub fn declared(b: &Builder, default_endpoint: &str, local: &Platform) -> Capabilities {
        let parse = |key: &str| -> Vec<Platform> {
            b.list(key)
                .iter()
                .filter_map(|i| Platform::parse(&i.value).ok())
                .collect()
        };
        let mut platforms = parse("platforms");
        let mut native = parse("native");
        if platforms.is_empty() {
            platforms.push(local.clone());
        }
        if native.is_empty() && !b.attrs.contains_key("native") {
            native.push(platforms[0].clone());
        }
        for n in &native {
            if !platforms.contains(n) {
                platforms.push(n.clone());
            }
        }
        Capabilities {
            name: b.name.clone(),
            endpoint: b.str("endpoint").unwrap_or(default_endpoint).to_string(),
            tls: {
                let t = Tls {
                    ca: b.str("tls-ca").map(str::to_string),
                    cert: b.str("tls-cert").map(str::to_string),
                    key: b.str("tls-key").map(str::to_string),
                };
                (t != Tls::default()).then_some(t)
            },
            context: b.str("context").map(str::to_string),
            driver: b.str("driver").unwrap_or("docker").to_string(),
            platforms,
            native,
            image_store: match b.str("image-store") {
                Some("containerd") => ImageStore::Containerd,
                _ => ImageStore::Classic,
            },
            max_parallelism: b
                .str("max-parallelism")
                .and_then(|s| s.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_PARALLELISM),
            buildkit: None,
            named_contexts: false,
            source: CapSource::Declared,
            span: b.span,
        }
    }
}
