//! Every target attribute, described once: its key, the shape of its value, how `inherits`
//! and repeated blocks merge it, how `--set` writes it, and a line of documentation.
//! Lowering, merging, `--set`, `print` and the reference docs all read this table.

/// The shape a target attribute's value is decoded into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Str,
    Bool,
    /// A list of strings. Items given as objects (newer bake's composable attributes) are
    /// written as `key=value` CSV, the form buildx 0.13 prints.
    List,
    /// A map of strings where a null value means "no value here".
    Map,
    /// A list of names, or a single name (rbake's `builder`).
    Names,
}

/// How a value from a parent (`inherits`) or an earlier block combines with a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// The later value replaces the earlier one.
    Replace,
    /// Lists concatenate.
    Append,
    /// Maps merge key by key; the later value of a key wins, null values never override.
    Keys,
}

/// How `--set TARGET.KEY=VALUE` writes the attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    /// The value replaces the attribute.
    Value,
    /// Repeated `--set`s collect into a list that replaces the attribute.
    List,
    /// Repeated `--set`s collect into a list appended to the attribute.
    AppendList,
    /// `KEY.NAME=VALUE` sets one entry.
    Entry,
    /// Parsed as a boolean.
    Bool,
    /// Accepted but, as in buildx 0.13, without effect.
    Ignored,
    /// Cannot be set from the command line.
    Never,
}

#[derive(Debug)]
pub struct AttrDef {
    /// The key in the spec (kebab-case, as in bake).
    pub key: &'static str,
    /// The key `--set` uses where bake's differs (`platform`, `secrets`).
    pub set_key: &'static str,
    pub shape: Shape,
    pub merge: Merge,
    pub set: Set,
    /// Whether `rbake print` shows it (bake 0.13 compatibility).
    pub printed: bool,
    /// Whether duplicates are removed after merging.
    pub dedup: bool,
    pub doc: &'static str,
}

macro_rules! attr {
    ($key:literal, $set_key:literal, $shape:ident, $merge:ident, $set:ident, $printed:literal, $dedup:literal, $doc:literal) => {
        AttrDef {
            key: $key,
            set_key: $set_key,
            shape: Shape::$shape,
            merge: Merge::$merge,
            set: Set::$set,
            printed: $printed,
            dedup: $dedup,
            doc: $doc,
        }
    };
}

/// In the order buildx prints them.
#[rustfmt::skip]
pub static TARGET_ATTRS: &[AttrDef] = &[
    attr!("inherits", "inherits", List, Append, Never, false, false, "Targets whose attributes this target starts from, in order; later ones win."),
    attr!("annotations", "annotations", List, Append, Ignored, true, true, "OCI annotations to add to the image index, manifests or descriptors."),
    attr!("attest", "attest", List, Append, AppendList, true, true, "Attestations to generate: `type=sbom`, `type=provenance,mode=max`."),
    attr!("context", "context", Str, Replace, Value, true, false, "The build context: a directory, a URL, or `target:NAME` (default `.`)."),
    attr!("contexts", "contexts", Map, Keys, Entry, true, false, "Named build contexts; `target:NAME` uses another target's result."),
    attr!("dockerfile", "dockerfile", Str, Replace, Value, true, false, "The Dockerfile, relative to the context (default `Dockerfile`)."),
    attr!("dockerfile-inline", "dockerfile-inline", Str, Replace, Value, true, false, "The Dockerfile's content, instead of a file."),
    attr!("args", "args", Map, Keys, Entry, true, false, "Build arguments (`ARG`s)."),
    attr!("labels", "labels", Map, Keys, Entry, true, false, "Image labels."),
    attr!("tags", "tags", List, Replace, List, true, true, "Image references to tag the result with."),
    attr!("cache-from", "cache-from", List, Append, List, true, true, "Cache sources, e.g. `type=registry,ref=...`."),
    attr!("cache-to", "cache-to", List, Replace, List, true, true, "Cache exports, e.g. `type=inline` or `type=registry,ref=...,mode=max`."),
    attr!("target", "target", Str, Replace, Value, true, false, "The Dockerfile stage to build."),
    attr!("secret", "secrets", List, Append, List, true, true, "Secrets exposed to `RUN --mount=type=secret`: `id=NAME,src=FILE` or `id=NAME,env=VAR`."),
    attr!("ssh", "ssh", List, Append, List, true, true, "SSH agent sockets or keys exposed to `RUN --mount=type=ssh`."),
    attr!("platforms", "platform", List, Replace, List, true, true, "Platforms to build for, e.g. `linux/amd64`, `linux/arm64`, `linux/arm/v7`."),
    attr!("output", "output", List, Replace, List, true, true, "Outputs: `type=registry`, `type=docker`, `type=local,dest=DIR`, `type=tar,dest=FILE`, `type=oci,dest=FILE`."),
    attr!("pull", "pull", Bool, Replace, Bool, true, false, "Always pull referenced images."),
    attr!("no-cache", "no-cache", Bool, Replace, Bool, true, false, "Build without using the cache."),
    attr!("no-cache-filter", "no-cache-filter", List, Append, List, true, true, "Stages to build without the cache."),
    attr!("shm-size", "shm-size", Str, Replace, Value, true, false, "Size of `/dev/shm` for `RUN` steps, e.g. `128m`."),
    attr!("ulimits", "ulimits", List, Append, List, true, true, "Ulimits for `RUN` steps, e.g. `nofile=1024:2048`."),
    attr!("call", "call", Str, Replace, Value, true, false, "The frontend method to call: `build` (default), `check`, `outline`, `targets`."),
    attr!("network", "network", Str, Replace, Value, true, false, "Network mode for `RUN` steps: `default`, `none`, `host`."),
    attr!("extra-hosts", "extra-hosts", Map, Keys, Entry, true, false, "Extra `/etc/hosts` entries for `RUN` steps."),
    attr!("entitlements", "entitlements", List, Append, List, true, true, "Entitlements the build needs: `network.host`, `security.insecure`."),
    attr!("description", "description", Str, Replace, Value, false, false, "A human description, shown by `rbake ls`."),
    attr!("builder", "builder", Names, Replace, List, false, false, "rbake: the builders this target may use (a name or a list); default: any that can."),
    attr!("emulation", "emulation", Str, Replace, Value, false, false, "rbake: `allow` (default) or `forbid` building emulated platforms."),
    attr!("local-tag", "local-tag", Str, Replace, Value, false, false, "rbake: template for per-platform local tags (default `{{ tag }}-{{ platform }}`, e.g. `app:1.0-linux-arm-v7`)."),
];

/// Attributes of a target block that are not target attributes: they shape the block itself.
pub const BLOCK_ONLY: &[&str] = &["name", "matrix"];

/// Group attributes, in print order.
pub const GROUP_ATTRS: &[&str] = &["targets", "description"];

pub fn target_attr(key: &str) -> Option<&'static AttrDef> {
    TARGET_ATTRS.iter().find(|a| a.key == key)
}

pub fn target_attr_by_set_key(key: &str) -> Option<&'static AttrDef> {
    TARGET_ATTRS.iter().find(|a| a.set_key == key)
}

/// The index of an attribute in [`TARGET_ATTRS`], used as a compact key in resolved targets.
pub fn index_of(def: &'static AttrDef) -> usize {
    TARGET_ATTRS
        .iter()
        .position(|a| std::ptr::eq(a, def))
        .unwrap_or(0)
}

/// Attributes of rbake's `builder` block.
#[rustfmt::skip]
pub static BUILDER_ATTRS: &[AttrDef] = &[
    attr!("description", "description", Str, Replace, Value, false, false, "A human description."),
    attr!("endpoint", "endpoint", Str, Replace, Value, false, false, "The engine's API: `unix:///var/run/docker.sock` (default: the implicit builder's, from `DOCKER_HOST` or `DOCKER_CONTEXT`, then the local socket), `tcp://HOST:PORT` (with `tls-*` for TLS), `ssh://[USER@]HOST[:PORT]` (through `ssh ... docker system dial-stdio`)."),
    attr!("context", "context", Str, Replace, Value, false, false, "A Docker CLI context by name (`docker context ls`): its endpoint and TLS material from the CLI's context store. Not with `endpoint`."),
    attr!("tls-ca", "tls-ca", Str, Replace, Value, false, false, "For `tcp://`: the CA certificate (PEM) the engine's certificate must chain to; with it, rbake speaks TLS, as `docker --tlsverify --tlscacert`."),
    attr!("tls-cert", "tls-cert", Str, Replace, Value, false, false, "For `tcp://` with TLS: the client certificate (PEM) rbake presents, as `--tlscert`."),
    attr!("tls-key", "tls-key", Str, Replace, Value, false, false, "For `tcp://` with TLS: the client certificate's private key (PEM), as `--tlskey`. Only its path reaches the plan."),
    attr!("driver", "driver", Str, Replace, Value, false, false, "`docker`: the engine's embedded BuildKit (the only driver so far)."),
    attr!("platforms", "platforms", List, Replace, List, false, true, "Platforms the builder can build, natively or under emulation."),
    attr!("native", "native", List, Replace, List, false, true, "Platforms it builds natively (default: the first of `platforms`); the rest run under emulation."),
    attr!("max-parallelism", "max-parallelism", Str, Replace, Value, false, false, "How many solves run at once on this builder (default 4)."),
    attr!("image-store", "image-store", Str, Replace, Value, false, false, "`classic` (default) or `containerd`: whether the engine's store can hold a multi-platform image. `--probe` reads it from the engine."),
];

pub fn builder_attr(key: &str) -> Option<&'static AttrDef> {
    BUILDER_ATTRS.iter().find(|a| a.key == key)
}
