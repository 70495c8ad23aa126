//! Input keys: a digest of everything that decides a node's result, so that `apply` can skip
//! what is up to date.
//!
//! A build's key covers its planned attributes (args, labels, stage, platform, network, ...;
//! not its name or builder), the Dockerfile's text, the `.dockerignore` in force, the
//! context's content after that `.dockerignore` (walked exactly as the file sync sends it,
//! hashing each file's content, mode, owner and link target; mtimes do not count, as in
//! BuildKit's own cache), named local contexts, what each base image resolves to (its image
//! id in the builder's engine, or, when the engine does not hold it, the digest its
//! registry serves for the tag now: what BuildKit would pull), and the keys of its
//! `target:` dependencies. A publishing node's key
//! covers the keys of its builds plus what it writes (annotations, platforms).
//!
//! File digests are cached by (size, mtime, ctime, inode) in the user's cache directory, so
//! an unchanged tree is stat-walked, not re-read. What was built with which key is recorded
//! there too (`state.json`, by image id, so a deleted or retagged image no longer counts),
//! and in pushed images' top manifest as the annotation [`ANNOTATION`], so a fresh runner
//! can see that a registry already holds a release.
//!
//! A key is `None` when something cannot be pinned (a base image neither the engine nor its
//! registry can name, `no-cache`, `pull`): such a node always runs.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fswalk::{self, Disk, Filter};
use crate::base::hex;
use crate::base::patterns::read_ignore;
use crate::plan::{Build, NamedContext};

/// The annotation a pushed index (or single manifest) carries its input key in.
pub const ANNOTATION: &str = "dev.rbake.input-key";

/// A node's key and the digests of its parts, kept so that a changed key can say which
/// input changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub digest: String,
    pub parts: BTreeMap<String, String>,
}

impl Key {
    pub fn of(parts: BTreeMap<String, String>) -> Key {
        let mut h = Sha256::new();
        for (k, v) in &parts {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([b'\n']);
        }
        Key {
            digest: format!("sha256:{}", hex(&h.finalize())),
            parts,
        }
    }

    /// The names of the parts that differ from `old` (added, removed or changed).
    pub fn changed_since(&self, old: &BTreeMap<String, String>) -> Vec<String> {
        let mut names: Vec<String> = self
            .parts
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        names.extend(old.keys().filter(|k| !self.parts.contains_key(*k)).cloned());
        names.sort();
        names.dedup();
        names
    }
}

pub fn sha(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// What was built with which key, by image id.
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub images: BTreeMap<String, Record>,
    /// The builder that last built each anchor reference (`build::anchor_name`: project,
    /// target, platform): the one whose BuildKit holds its cache, which placement prefers.
    #[serde(default)]
    pub builders: BTreeMap<String, String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    #[serde(default)]
    pub parts: BTreeMap<String, String>,
    /// Seconds since the epoch, to drop the oldest records first.
    #[serde(default)]
    pub at: u64,
}

const MAX_RECORDS: usize = 20_000;

/// Cached file digests of one directory tree.
#[derive(Default, Serialize, Deserialize)]
struct StatCache {
    /// path → (size, mtime ns, ctime ns, inode, sha256)
    files: HashMap<String, (i64, i64, i64, u64, String)>,
    #[serde(skip)]
    dirty: bool,
}

/// Keys for one run: caches of tree digests, file digests and base images, and the record
/// of earlier builds.
pub struct Keys {
    dir: Option<PathBuf>,
    trees: Mutex<HashMap<String, String>>,
    stat_caches: Mutex<HashMap<PathBuf, StatCache>>,
    pub state: Mutex<State>,
}

impl Keys {
    /// `dir` is rbake's cache directory (`$XDG_CACHE_HOME/rbake` or `~/.cache/rbake`);
    /// without one nothing is remembered between runs.
    pub fn new(dir: Option<PathBuf>) -> Keys {
        let state = dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join("state.json")).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Keys {
            dir,
            trees: Default::default(),
            stat_caches: Default::default(),
            state: Mutex::new(state),
        }
    }

    /// rbake's cache directory from the environment, as the XDG spec places it.
    pub fn cache_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
        env.get("XDG_CACHE_HOME")
            .filter(|v| v.starts_with('/'))
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache")))
            .map(|d| d.join("rbake"))
    }

    /// The record for an image id, if it was built with a known key.
    pub fn recorded(&self, image_id: &str) -> Option<Record> {
        lock(&self.state).images.get(image_id).cloned()
    }

    pub fn record(&self, image_id: &str, key: &Key) {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        lock(&self.state).images.insert(
            image_id.to_string(),
            Record {
                key: key.digest.clone(),
                parts: key.parts.clone(),
                at,
            },
        );
    }

    /// The builder that built this anchor last.
    pub fn last_builder(&self, anchor: &str) -> Option<String> {
        lock(&self.state).builders.get(anchor).cloned()
    }

    pub fn record_builder(&self, anchor: &str, builder: &str) {
        let mut state = lock(&self.state);
        if state.builders.len() >= MAX_RECORDS && !state.builders.contains_key(anchor) {
            // Forgetting an affinity only costs a cold cache; the map stays bounded.
            let first = state.builders.keys().next().cloned();
            if let Some(k) = first {
                state.builders.remove(&k);
            }
        }
        state
            .builders
            .insert(anchor.to_string(), builder.to_string());
    }

    /// Writes the file digests and the build record back (atomically, last writer wins;
    /// records are checked against image ids, so a lost update only costs a rebuild).
    pub fn save(&self) {
        let Some(dir) = &self.dir else { return };
        if std::fs::create_dir_all(dir.join("stat")).is_err() {
            return;
        }
        for (root, cache) in lock(&self.stat_caches).iter() {
            if cache.dirty
                && let Ok(data) = serde_json::to_vec(cache)
            {
                let name = format!("{}.json", &sha(root.to_string_lossy().as_bytes())[..32]);
                write_atomic(&dir.join("stat").join(name), &data);
            }
        }
        let mut state = lock(&self.state);
        if state.images.len() > MAX_RECORDS {
            let mut by_age: Vec<(u64, String)> = state
                .images
                .iter()
                .map(|(k, r)| (r.at, k.clone()))
                .collect();
            by_age.sort();
            for (_, k) in by_age.iter().take(state.images.len() - MAX_RECORDS) {
                state.images.remove(k);
            }
        }
        if let Ok(data) = serde_json::to_vec(&*state) {
            write_atomic(&dir.join("state.json"), &data);
        }
    }

    /// The digest of a directory as BuildKit would receive it under `excludes`.
    pub fn tree_digest(&self, root: &Path, excludes: &[String]) -> Result<String, String> {
        let disk = Disk::new(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let memo = format!("{}\0{}", disk.root.display(), excludes.join("\0"));
        if let Some(d) = lock(&self.trees).get(&memo) {
            return Ok(d.clone());
        }
        let filter = Filter::new(&disk, &[], excludes, &[])
            .map_err(|e| format!("{}: {e}", root.display()))?;
        let mut cache = self.load_stat_cache(&disk.root);
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        // Walk first (metadata only), then hash the files the cache cannot answer for on
        // every core, then fold everything in walk order.
        let mut entries: Vec<(fswalk::Entry, Option<String>)> = Vec::new();
        let mut misses: Vec<usize> = Vec::new();
        fswalk::walk(&disk, &filter, &mut |e| {
            let s = &e.stat;
            let mut content = None;
            if fswalk::is_regular(s.mode) && s.linkname.is_empty() {
                let fp = (s.size, s.mod_time, e.ctime, e.ino);
                match cache.files.get(&s.path) {
                    Some(c) if (c.0, c.1, c.2, c.3) == fp => content = Some(c.4.clone()),
                    _ => misses.push(entries.len()),
                }
            }
            entries.push((e, content));
            Ok(())
        })
        .map_err(|e| format!("{}: {e}", root.display()))?;
        let hashed = hash_files(
            &disk.root,
            misses
                .iter()
                .map(|i| entries[*i].0.stat.path.as_str())
                .collect(),
        )
        .map_err(|e| format!("{}: {e}", root.display()))?;
        for (i, d) in misses.iter().zip(hashed) {
            entries[*i].1 = Some(d);
        }
        let mut h = Sha256::new();
        let mut fresh: HashMap<String, (i64, i64, i64, u64, String)> = HashMap::new();
        for (e, content) in &entries {
            let s = &e.stat;
            // A file changed within the last two seconds may change again within the same
            // timestamp: it is hashed again next time.
            if let Some(c) = content
                && now_ns - s.mod_time.max(e.ctime) > 2_000_000_000
            {
                fresh.insert(
                    s.path.clone(),
                    (s.size, s.mod_time, e.ctime, e.ino, c.clone()),
                );
            }
            h.update(
                format!(
                    "{}\0{:o}\0{}\0{}\0{}\0{}\0{}\n",
                    s.path,
                    s.mode,
                    s.uid,
                    s.gid,
                    s.size,
                    s.linkname,
                    content.as_deref().unwrap_or("")
                )
                .as_bytes(),
            );
        }
        cache.dirty |= !misses.is_empty() || fresh.len() != cache.files.len();
        cache.files = fresh;
        let digest = hex(&h.finalize());
        lock(&self.stat_caches).insert(disk.root.clone(), cache);
        lock(&self.trees).insert(memo, digest.clone());
        Ok(digest)
    }

    fn load_stat_cache(&self, root: &Path) -> StatCache {
        if let Some(c) = lock(&self.stat_caches).remove(root) {
            return c;
        }
        let Some(dir) = &self.dir else {
            return StatCache::default();
        };
        let name = format!("{}.json", &sha(root.to_string_lossy().as_bytes())[..32]);
        std::fs::read(dir.join("stat").join(name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_atomic(path: &Path, data: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, data).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Content digests of `paths` under `root`, in order, hashed on every available core.
fn hash_files(root: &Path, paths: Vec<&str>) -> std::io::Result<Vec<String>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(paths.len().max(1));
    if workers <= 1 {
        return paths.iter().map(|p| hash_file(&root.join(p))).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<std::io::Result<String>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = paths.get(i) else { break };
                    let r = hash_file(&root.join(p));
                    lock(&results)[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(std::io::Error::other("not hashed"))))
        .collect()
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// What a build's key needs beyond the plan: resolved paths and texts.
pub struct BuildInputs<'a> {
    pub build: &'a Build,
    pub context_dir: &'a Path,
    /// The Dockerfile as written (before any rewrite for `target:` contexts).
    pub dockerfile_text: &'a str,
    /// `<Dockerfile>.dockerignore` beside it, or the context's `.dockerignore`.
    pub dockerignore: Option<Vec<u8>>,
    /// Named contexts that are local directories, resolved.
    pub local_contexts: Vec<(String, PathBuf)>,
    /// Each base image reference and what it resolves to: an image id in the engine, or
    /// `registry sha256:...` / `pinned sha256:...` (`None`: neither could say).
    pub base_images: Vec<(String, Option<String>)>,
    /// The keys of `target:` dependencies, by context name.
    pub dependencies: Vec<(String, Option<Key>)>,
}

/// Why a build has no key (so it always runs), or its key.
pub fn build_key(keys: &Keys, i: &BuildInputs<'_>) -> Result<Key, String> {
    let b = i.build;
    if b.no_cache {
        return Err("`no-cache` is set".into());
    }
    if b.pull {
        return Err("`pull` is set: base images are checked in their registry each time".into());
    }
    let mut parts = BTreeMap::new();
    let mut attrs = serde_json::to_value(b).unwrap_or_default();
    if let Some(o) = attrs.as_object_mut() {
        for k in [
            "id",
            "target",
            "shared",
            "builder",
            "emulated",
            "candidates",
            "context",
            "dockerfile",
        ] {
            o.remove(k);
        }
        if let Some(c) = o.get_mut("contexts").and_then(|c| c.as_object_mut()) {
            for v in c.values_mut() {
                if v.get("type").and_then(|t| t.as_str()) == Some("target") {
                    *v = serde_json::Value::String("target".into());
                }
            }
        }
    }
    parts.insert("attributes".into(), sha(attrs.to_string().as_bytes()));
    parts.insert("dockerfile".into(), sha(i.dockerfile_text.as_bytes()));
    let excludes: Vec<String> = match &i.dockerignore {
        Some(data) => {
            parts.insert("dockerignore".into(), sha(data));
            read_ignore(data).into_iter().map(|l| l.pattern).collect()
        }
        None => Vec::new(),
    };
    parts.insert(
        "context".into(),
        keys.tree_digest(i.context_dir, &excludes)?,
    );
    for (name, dir) in &i.local_contexts {
        parts.insert(format!("context {name}"), keys.tree_digest(dir, &[])?);
    }
    for (r, id) in &i.base_images {
        match id {
            Some(id) => {
                parts.insert(format!("base image {r}"), id.clone());
            }
            None => {
                return Err(format!(
                    "base image {r} is neither in the builder's image store nor readable in its registry"
                ));
            }
        }
    }
    for (name, k) in &i.dependencies {
        match k {
            Some(k) => {
                parts.insert(format!("dependency {name}"), k.digest.clone());
            }
            None => return Err(format!("dependency `{name}` always runs")),
        }
    }
    Ok(Key::of(parts))
}

/// A publishing node's key: its builds' keys in platform order and what it writes.
pub fn output_key(kind: &str, builds: &[&Key], extra: &[String]) -> Key {
    let mut parts = BTreeMap::new();
    for (n, k) in builds.iter().enumerate() {
        parts.insert(format!("build {n}"), k.digest.clone());
    }
    parts.insert(
        "output".into(),
        sha(format!("{kind}\0{}", extra.join("\0")).as_bytes()),
    );
    Key::of(parts)
}

/// The image references a Dockerfile's stages and `--from` flags pull in (not stages, not
/// `scratch`, not named contexts), with `ARG`s before the first `FROM` and the platform
/// arguments expanded.
pub fn base_images(text: &str, b: &Build, build_platform: &crate::model::Platform) -> Vec<String> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let tp = &b.platform;
    for (k, v) in [
        ("TARGETPLATFORM", tp.to_string()),
        ("TARGETOS", tp.os.clone()),
        ("TARGETARCH", tp.arch.clone()),
        ("TARGETVARIANT", tp.variant.clone().unwrap_or_default()),
        ("BUILDPLATFORM", build_platform.to_string()),
        ("BUILDOS", build_platform.os.clone()),
        ("BUILDARCH", build_platform.arch.clone()),
        (
            "BUILDVARIANT",
            build_platform.variant.clone().unwrap_or_default(),
        ),
    ] {
        vars.insert(k.to_string(), v);
    }
    let mut stages: Vec<String> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    let mut seen_from = false;
    let add = |r: String, stages: &[String], out: &mut Vec<String>| {
        let lower = r.to_ascii_lowercase();
        if r.is_empty()
            || lower == "scratch"
            || stages.contains(&lower)
            || r.parse::<usize>().is_ok()
            || b.contexts.contains_key(&r)
            || out.contains(&r)
        {
            return;
        }
        out.push(r);
    };
    for (line, _) in crate::check::dockerfile::logical_lines(text) {
        let mut words = line.split_whitespace();
        let Some(instr) = words.next() else { continue };
        let instr = instr.to_ascii_uppercase();
        let rest: Vec<&str> = words.collect();
        match instr.as_str() {
            "ARG" if !seen_from => {
                for a in &rest {
                    let (k, v) = a.split_once('=').unwrap_or((a, ""));
                    let v = b.args.get(k).cloned().unwrap_or_else(|| unquote(v));
                    vars.insert(k.to_string(), v);
                }
            }
            "FROM" => {
                seen_from = true;
                let plain: Vec<&&str> = rest.iter().filter(|w| !w.starts_with("--")).collect();
                if let Some(image) = plain.first() {
                    add(expand(image, &vars), &stages, &mut out);
                }
                if plain.len() >= 3 && plain[1].eq_ignore_ascii_case("as") {
                    stages.push(plain[2].to_ascii_lowercase());
                } else {
                    stages.push(String::new());
                }
            }
            "COPY" | "ADD" | "RUN" => {
                for w in &rest {
                    let from = w.strip_prefix("--from=").or_else(|| {
                        w.strip_prefix("--mount=")
                            .and_then(|m| m.split(',').find_map(|kv| kv.strip_prefix("from=")))
                    });
                    if let Some(f) = from {
                        add(expand(f, &vars), &stages, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(s) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return s.to_string();
        }
    }
    v.to_string()
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` as the Dockerfile expands them.
fn expand(word: &str, vars: &HashMap<String, String>) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(end) = chars[i + 2..].iter().position(|c| *c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + end].iter().collect();
            let value = if let Some((name, def)) = inner.split_once(":-") {
                vars.get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or(def.to_string())
            } else if let Some((name, alt)) = inner.split_once(":+") {
                if vars.get(name).is_some_and(|v| !v.is_empty()) {
                    alt.to_string()
                } else {
                    String::new()
                }
            } else {
                vars.get(&inner).cloned().unwrap_or_default()
            };
            out.push_str(&value);
            i += 3 + end;
        } else {
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            if name.is_empty() {
                out.push('$');
                i += 1;
            } else {
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                i += 1 + name.len();
            }
        }
    }
    out
}

/// The `.dockerignore` the Dockerfile frontend uses: `<Dockerfile>.dockerignore` beside the
/// Dockerfile if there is one, else the context's.
pub fn dockerignore(context: &Path, dockerfile: Option<&Path>) -> Option<Vec<u8>> {
    dockerfile
        .and_then(|p| std::fs::read(format!("{}.dockerignore", p.display())).ok())
        .or_else(|| std::fs::read(context.join(".dockerignore")).ok())
}

/// Named contexts of a build that are local directories, resolved against `cwd`.
pub fn local_contexts(b: &Build, cwd: &Path) -> Vec<(String, PathBuf)> {
    b.contexts
        .iter()
        .filter_map(|(name, c)| match c {
            NamedContext::Source { value } => {
                crate::check::local_context(value).map(|p| (name.clone(), cwd.join(p)))
            }
            NamedContext::Target { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_the_dockerfile() {
        let mut v = HashMap::new();
        v.insert("A".to_string(), "x".to_string());
        assert_eq!(expand("img:${A}", &v), "img:x");
        assert_eq!(expand("img:$A-$B", &v), "img:x-");
        assert_eq!(expand("${B:-def}", &v), "def");
        assert_eq!(expand("${A:+alt}", &v), "alt");
    }

    #[test]
    fn keys_name_what_changed() {
        let a = Key::of(BTreeMap::from([
            ("context".to_string(), "1".to_string()),
            ("dockerfile".to_string(), "2".to_string()),
        ]));
        let b = Key::of(BTreeMap::from([
            ("context".to_string(), "1".to_string()),
            ("dockerfile".to_string(), "3".to_string()),
        ]));
        assert_ne!(a.digest, b.digest);
        assert_eq!(b.changed_since(&a.parts), vec!["dockerfile"]);
    }

    #[test]
    fn tree_digest_follows_content_not_mtime() {
        let dir = std::env::temp_dir().join(format!("rbake-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a"), "one").unwrap();
        std::fs::write(dir.join("sub/ignored.log"), "x").unwrap();
        let keys = Keys::new(None);
        let d1 = keys
            .tree_digest(&dir, &["*.log".into(), "sub/*.log".into()])
            .unwrap();
        // Excluded files do not count.
        std::fs::write(dir.join("sub/ignored.log"), "y").unwrap();
        let keys = Keys::new(None);
        assert_eq!(d1, keys.tree_digest(&dir, &["sub/*.log".into()]).unwrap());
        // Content counts.
        std::fs::write(dir.join("a"), "two").unwrap();
        let keys = Keys::new(None);
        assert_ne!(d1, keys.tree_digest(&dir, &["sub/*.log".into()]).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn base_images_skip_stages_and_scratch() {
        let b = Build {
            id: "build:t:linux/arm64".into(),
            target: "t".into(),
            platform: crate::model::Platform::parse("linux/arm64").unwrap(),
            builder: None,
            emulated: false,
            candidates: Vec::new(),
            context: ".".into(),
            dockerfile: "Dockerfile".into(),
            dockerfile_inline: None,
            stage: None,
            args: BTreeMap::new(),
            labels: BTreeMap::new(),
            contexts: BTreeMap::new(),
            secrets: vec![],
            ssh: vec![],
            attest: vec![],
            cache_from: vec![],
            cache_to: vec![],
            no_cache: false,
            no_cache_filter: vec![],
            pull: false,
            network: None,
            shm_size: None,
            ulimits: vec![],
            extra_hosts: BTreeMap::new(),
            shared: vec![],
            platform_span: Default::default(),
        };
        let text = "ARG BASE=alpine\nFROM ${BASE}:3 AS build\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=other:1 /b /b\nFROM rbake-test/busybox:${TARGETARCH}\n";
        let platform = crate::model::Platform::parse("linux/amd64").unwrap();
        assert_eq!(
            base_images(text, &b, &platform),
            vec!["alpine:3", "other:1", "rbake-test/busybox:arm64"]
        );
    }
}
