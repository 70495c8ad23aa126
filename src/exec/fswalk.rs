//! The walk BuildKit's file sync expects from a sender (tonistiigi/fsutil's filtered walk):
//! depth first, each directory's entries sorted by name, a directory before its contents;
//! include patterns (plus the targets of `followpaths` symlinks) and exclude patterns applied
//! with parent results; an excluded directory is still entered when an exception could
//! re-include something below it, and is emitted only if something below it is.
//!
//! Every entry carries fsutil's `Stat`: the path relative to the root, Go's `os.FileMode`
//! bits, uid/gid, size, mtime in nanoseconds, symlink target, device numbers, and the first
//! path of a hard-linked file (later links have size 0 and that path as link name).
//!
//! The same walk feeds the file sync ([`super::filesync`]) and the input keys
//! ([`super::inputs`]), so what is hashed is exactly what BuildKit receives.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bollard_buildkit_proto::fsutil::types::Stat;

use crate::base::patterns::{MatchInfo, Matcher, PatternError};

// Go's os.FileMode bits, as fsutil sends and receives them (also `fsreceive`).
pub const MODE_DIR: u32 = 1 << 31;
pub const MODE_SYMLINK: u32 = 1 << 27;
pub const MODE_DEVICE: u32 = 1 << 26;
pub const MODE_NAMED_PIPE: u32 = 1 << 25;
pub const MODE_SETUID: u32 = 1 << 23;
pub const MODE_SETGID: u32 = 1 << 22;
pub const MODE_CHAR_DEVICE: u32 = 1 << 21;
pub const MODE_STICKY: u32 = 1 << 20;
pub const MODE_IRREGULAR: u32 = 1 << 19;
pub const MODE_SOCKET: u32 = 1 << 24;
const MODE_TYPE: u32 = MODE_DIR
    | MODE_SYMLINK
    | MODE_NAMED_PIPE
    | MODE_SOCKET
    | MODE_DEVICE
    | MODE_CHAR_DEVICE
    | MODE_IRREGULAR;

/// Whether the receiver may ask for this entry's content (fsutil: no type bits set).
pub fn is_regular(mode: u32) -> bool {
    mode & MODE_TYPE == 0
}

/// A Unix `st_mode` as Go's `os.FileMode` (the socket bit cleared, as fsutil does).
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match st_mode & 0o170000 {
        0o040000 => m |= MODE_DIR,
        0o120000 => m |= MODE_SYMLINK,
        0o010000 => m |= MODE_NAMED_PIPE,
        0o060000 => m |= MODE_DEVICE,
        0o020000 => m |= MODE_DEVICE | MODE_CHAR_DEVICE,
        _ => {}
    }
    if st_mode & 0o4000 != 0 {
        m |= MODE_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= MODE_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= MODE_STICKY;
    }
    m
}

/// What a tree holds at one path: enough to build a `Stat` and decide how to walk it.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub stat: Stat,
    /// Not part of fsutil's `Stat`, but what a cache of file digests needs.
    pub ctime: i64,
    pub ino: u64,
    pub is_dir: bool,
    /// (device, inode) of a file with more than one link, for hard-link detection.
    pub link_id: Option<(u64, u64)>,
}

/// A directory tree the walk can read: the disk, or a few files held in memory (a
/// rewritten or inline Dockerfile).
pub trait Tree: Send + Sync {
    /// The entries of directory `rel` ("" is the root), in any order.
    fn list(&self, rel: &str) -> io::Result<Vec<Node>>;
    /// One entry, not following a final symlink; `None` if absent.
    fn lstat(&self, rel: &str) -> io::Result<Option<Node>>;
    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send>>;
    /// Where the tree lives, for messages.
    fn describe(&self) -> String;
}

pub struct Disk {
    pub root: PathBuf,
}

impl Disk {
    /// The root with symlinks resolved, as fsutil resolves it; it must be a directory.
    pub fn new(root: &Path) -> io::Result<Disk> {
        let root = std::fs::canonicalize(root)?;
        if !std::fs::metadata(&root)?.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        Ok(Disk { root })
    }

    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }
}

fn node_of(name: String, path: &Path, md: &std::fs::Metadata) -> io::Result<Node> {
    let mode = go_mode(md.mode());
    let is_dir = md.is_dir();
    let mut stat = Stat {
        path: String::new(),
        mode,
        uid: md.uid(),
        gid: md.gid(),
        size: 0,
        mod_time: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        linkname: String::new(),
        devmajor: 0,
        devminor: 0,
        xattrs: Default::default(),
    };
    if !is_dir {
        stat.size = md.size() as i64;
        let rdev = md.rdev();
        stat.devmajor = ((rdev >> 8) & 0xfff) as i64;
        stat.devminor = ((rdev & 0xff) | ((rdev >> 12) & 0xfff00)) as i64;
        if mode & MODE_SYMLINK != 0 {
            let target = std::fs::read_link(path)?;
            stat.linkname = target.to_str().ok_or_else(|| not_utf8(path))?.to_string();
        }
    }
    let link_id =
        (!is_dir && mode & MODE_SYMLINK == 0 && md.nlink() > 1).then(|| (md.dev(), md.ino()));
    Ok(Node {
        name,
        stat,
        ctime: md.ctime() * 1_000_000_000 + md.ctime_nsec(),
        ino: md.ino(),
        is_dir,
        link_id,
    })
}

fn not_utf8(p: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} is not valid UTF-8; BuildKit's file sync carries names as UTF-8 text",
            p.display()
        ),
    )
}

impl Tree for Disk {
    fn list(&self, rel: &str) -> io::Result<Vec<Node>> {
        let dir = self.path(rel);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let path = e.path();
            let name = e.file_name().into_string().map_err(|_| not_utf8(&path))?;
            let md = match std::fs::symlink_metadata(&path) {
                Ok(md) => md,
                // Removed while we walk: as fsutil, skip it.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            out.push(node_of(name, &path, &md)?);
        }
        Ok(out)
    }

    fn lstat(&self, rel: &str) -> io::Result<Option<Node>> {
        let path = self.path(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(md) => {
                let name = rel.rsplit('/').next().unwrap_or(rel).to_string();
                Ok(Some(node_of(name, &path, &md)?))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(self.path(rel))?))
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Files held in memory, all at the root.
pub struct Memory {
    pub files: Vec<(String, Vec<u8>)>,
}

impl Memory {
    fn node(&self, name: &str, data: &[u8]) -> Node {
        // The mtime follows the content, so BuildKit's receiver, which compares metadata,
        // fetches a changed file even when its size is unchanged.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(data);
        let mut n = [0u8; 8];
        n.copy_from_slice(&digest[..8]);
        let mod_time = (u64::from_be_bytes(n) % (1 << 62)) as i64;
        Node {
            name: name.to_string(),
            stat: Stat {
                path: String::new(),
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: data.len() as i64,
                mod_time,
                linkname: String::new(),
                devmajor: 0,
                devminor: 0,
                xattrs: Default::default(),
            },
            ctime: mod_time,
            ino: 0,
            is_dir: false,
            link_id: None,
        }
    }
}

impl Tree for Memory {
    fn list(&self, rel: &str) -> io::Result<Vec<Node>> {
        if !rel.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(self.files.iter().map(|(n, d)| self.node(n, d)).collect())
    }

    fn lstat(&self, rel: &str) -> io::Result<Option<Node>> {
        Ok(self
            .files
            .iter()
            .find(|(n, _)| n == rel)
            .map(|(n, d)| self.node(n, d)))
    }

    fn open(&self, rel: &str) -> io::Result<Box<dyn Read + Send>> {
        let data = self
            .files
            .iter()
            .find(|(n, _)| n == rel)
            .map(|(_, d)| d.clone())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(io::Cursor::new(data)))
    }

    fn describe(&self) -> String {
        "a Dockerfile prepared by rbake".into()
    }
}

/// What the receiver asked for: include and exclude patterns and follow paths.
pub struct Filter {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
    only_prefix_includes: bool,
    only_prefix_exclude_exceptions: bool,
}

const PATTERN_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

impl Filter {
    pub fn none() -> Filter {
        Filter {
            include: None,
            exclude: None,
            only_prefix_includes: true,
            only_prefix_exclude_exceptions: true,
        }
    }

    pub fn new(
        tree: &dyn Tree,
        includes: &[String],
        excludes: &[String],
        follow: &[String],
    ) -> Result<Filter, FilterError> {
        let mut includes: Vec<String> = includes.to_vec();
        if !follow.is_empty() {
            let mut resolved = std::collections::BTreeSet::new();
            for p in follow {
                follow_links(tree, p, &mut resolved, 0)?;
            }
            for r in resolved {
                if !includes.contains(&r) {
                    includes.push(r);
                }
            }
        }
        let include = if includes.is_empty() {
            None
        } else {
            Some(Matcher::new(&includes).map_err(FilterError::Pattern)?)
        };
        let exclude = if excludes.is_empty() {
            None
        } else {
            Some(Matcher::new(excludes).map_err(FilterError::Pattern)?)
        };
        let only_prefix_includes = include.as_ref().is_none_or(|m| {
            m.patterns
                .iter()
                .all(|p| p.exclusion || !p.without_trailing_glob().contains(PATTERN_CHARS))
        });
        let only_prefix_exclude_exceptions = exclude.as_ref().is_none_or(|m| {
            m.patterns
                .iter()
                .all(|p| !p.exclusion || !p.without_trailing_glob().contains(PATTERN_CHARS))
        });
        Ok(Filter {
            include: include.filter(|m| !m.is_empty()),
            exclude: exclude.filter(|m| !m.is_empty()),
            only_prefix_includes,
            only_prefix_exclude_exceptions,
        })
    }
}

#[derive(Debug)]
pub enum FilterError {
    Pattern(PatternError),
    Io(io::Error),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterError::Pattern(p) => write!(f, "invalid pattern {p}"),
            FilterError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// fsutil's `FollowLinks`: each follow path, and every symlink met on the way to it, with
/// the symlinks' targets followed in turn (inside the tree), becomes an include pattern.
fn follow_links(
    tree: &dyn Tree,
    path: &str,
    resolved: &mut std::collections::BTreeSet<String>,
    depth: usize,
) -> Result<(), FilterError> {
    if depth > 255 {
        return Ok(());
    }
    let p = crate::base::clean_path(path.trim_start_matches('/'));
    if p == "." {
        return Ok(());
    }
    let parts: Vec<&str> = p.split('/').collect();
    let mut current = String::new();
    for (i, part) in parts.iter().enumerate() {
        if !current.is_empty() {
            current.push('/');
        }
        current.push_str(part);
        let rest = parts[i + 1..].join("/");
        let targets = read_symlink(tree, &current)?;
        if (rest.is_empty() || !targets.is_empty()) && resolved.contains(&current) {
            return Ok(());
        }
        if !targets.is_empty() {
            resolved.insert(current.clone());
            for t in targets {
                let next = if rest.is_empty() {
                    t
                } else {
                    format!("{t}/{rest}")
                };
                follow_links(tree, &next, resolved, depth + 1)?;
            }
            return Ok(());
        }
        if rest.is_empty() {
            resolved.insert(current.clone());
            return Ok(());
        }
    }
    Ok(())
}

/// The targets of the symlink at `rel` (a glob in the last component matches names), as
/// paths inside the tree; empty if it is not a symlink.
fn read_symlink(tree: &dyn Tree, rel: &str) -> Result<Vec<String>, FilterError> {
    let (dir, base) = rel.rsplit_once('/').unwrap_or(("", rel));
    let mut nodes = Vec::new();
    if base.contains(['*', '?', '[', '\\']) {
        let m = Matcher::new(&[base]).map_err(FilterError::Pattern)?;
        match tree.list(dir) {
            Ok(list) => nodes.extend(
                list.into_iter()
                    .filter(|n| m.matches_or_parent_matches(&n.name)),
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(20) => {}
            Err(e) => return Err(FilterError::Io(e)),
        }
    } else {
        match tree.lstat(rel) {
            Ok(Some(n)) => nodes.push(n),
            Ok(None) => {}
            Err(e) if e.raw_os_error() == Some(20) => {}
            Err(e) => return Err(FilterError::Io(e)),
        }
    }
    Ok(nodes
        .into_iter()
        .filter(|n| n.stat.mode & MODE_SYMLINK != 0)
        .map(|n| {
            let link = crate::base::clean_path(&n.stat.linkname);
            let abs = if link.starts_with('/') {
                link
            } else {
                crate::base::clean_path(&format!("/{dir}/{link}"))
            };
            abs.trim_start_matches('/').to_string()
        })
        .filter(|t| !t.is_empty())
        .collect())
}

/// One entry of the walk, with its `Stat` ready to send.
pub struct Entry {
    pub stat: Stat,
    pub ctime: i64,
    pub ino: u64,
}

struct Pending {
    stat: Stat,
    ctime: i64,
    ino: u64,
    prefix: String,
    include: Option<MatchInfo>,
    exclude: Option<MatchInfo>,
    emitted: bool,
}

/// Walks `tree` under `filter`, calling `emit` for every entry BuildKit should receive, in
/// the order fsutil sends them.
pub fn walk(
    tree: &dyn Tree,
    filter: &Filter,
    emit: &mut dyn FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut stack: Vec<Pending> = Vec::new();
    walk_dir(tree, filter, "", &mut stack, &mut links, emit)
}

fn walk_dir(
    tree: &dyn Tree,
    filter: &Filter,
    dir: &str,
    stack: &mut Vec<Pending>,
    links: &mut HashMap<(u64, u64), String>,
    emit: &mut dyn FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    let mut nodes = match tree.list(dir) {
        Ok(n) => n,
        // A directory removed while walking is skipped, as fsutil does.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !dir.is_empty() => return Ok(()),
        Err(e) => return Err(e),
    };
    nodes.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    for node in nodes {
        let rel = if dir.is_empty() {
            node.name.clone()
        } else {
            format!("{dir}/{}", node.name)
        };
        let parent = stack.last();
        let mut skip = false;
        let mut include_info = None;
        let mut exclude_info = None;
        if let Some(m) = &filter.include {
            let (hit, info) = m.matches_with_parent(&rel, parent.and_then(|p| p.include.as_ref()));
            include_info = Some(info);
            if !hit {
                if node.is_dir && filter.only_prefix_includes {
                    let dir_slash = format!("{rel}/");
                    let could = m.patterns.iter().any(|p| {
                        !p.exclusion
                            && format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash)
                    });
                    if !could {
                        continue;
                    }
                }
                skip = true;
            }
        }
        if let Some(m) = &filter.exclude {
            let (hit, info) = m.matches_with_parent(&rel, parent.and_then(|p| p.exclude.as_ref()));
            exclude_info = Some(info);
            if hit {
                if node.is_dir && filter.only_prefix_exclude_exceptions {
                    if !m.exclusions {
                        continue;
                    }
                    let dir_slash = format!("{rel}/");
                    let could = m.patterns.iter().any(|p| {
                        p.exclusion
                            && format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash)
                    });
                    if !could {
                        continue;
                    }
                }
                skip = true;
            }
        }
        let mut stat = node.stat.clone();
        stat.path = rel.clone();
        if !skip {
            for p in stack.iter_mut().filter(|p| !p.emitted) {
                p.emitted = true;
                emit(Entry {
                    stat: p.stat.clone(),
                    ctime: p.ctime,
                    ino: p.ino,
                })?;
            }
            if let Some(id) = node.link_id {
                match links.get(&id) {
                    Some(first) => {
                        stat.linkname = first.clone();
                        stat.size = 0;
                    }
                    None => {
                        links.insert(id, rel.clone());
                    }
                }
            }
            emit(Entry {
                stat: stat.clone(),
                ctime: node.ctime,
                ino: node.ino,
            })?;
        }
        if node.is_dir {
            stack.push(Pending {
                stat,
                ctime: node.ctime,
                ino: node.ino,
                prefix: rel.clone(),
                include: include_info,
                exclude: exclude_info,
                emitted: !skip,
            });
            walk_dir(tree, filter, &rel, stack, links, emit)?;
            let done = stack.pop();
            debug_assert!(done.is_some_and(|d| d.prefix == rel));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (PathBuf, Disk) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rbake-walk-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["a/b", "a.d", "empty", "logs/keep", "node_modules/x"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        for f in [
            "a/b/c.txt",
            "a.txt",
            "a.d/f",
            "logs/1.log",
            "logs/keep/k.log",
            "node_modules/x/i.js",
            "z",
        ] {
            std::fs::write(dir.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("a.txt", dir.join("link")).unwrap();
        std::fs::hard_link(dir.join("z"), dir.join("z2")).unwrap();
        let disk = Disk::new(&dir).unwrap();
        (dir, disk)
    }

    fn paths(disk: &Disk, inc: &[&str], exc: &[&str], follow: &[&str]) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let f = Filter::new(disk, &s(inc), &s(exc), &s(follow)).unwrap();
        let mut out = Vec::new();
        walk(disk, &f, &mut |e| {
            out.push(e.stat.path);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn walks_in_fsutil_order() {
        let (dir, disk) = tree();
        // A directory comes before its contents, and `a/` sorts before `a.d` by name.
        assert_eq!(
            paths(&disk, &[], &[], &[]),
            vec![
                "a",
                "a/b",
                "a/b/c.txt",
                "a.d",
                "a.d/f",
                "a.txt",
                "empty",
                "link",
                "logs",
                "logs/1.log",
                "logs/keep",
                "logs/keep/k.log",
                "node_modules",
                "node_modules/x",
                "node_modules/x/i.js",
                "z",
                "z2"
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn excludes_with_exceptions_keep_parents() {
        let (dir, disk) = tree();
        let got = paths(
            &disk,
            &[],
            &["logs", "!logs/keep", "node_modules", "*.txt"],
            &[],
        );
        assert_eq!(
            got,
            vec![
                "a",
                "a/b",
                "a/b/c.txt",
                "a.d",
                "a.d/f",
                "empty",
                "link",
                "logs",
                "logs/keep",
                "logs/keep/k.log",
                "z",
                "z2"
            ]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn includes_and_follow_paths() {
        let (dir, disk) = tree();
        assert_eq!(
            paths(&disk, &["a/b"], &[], &[]),
            vec!["a", "a/b", "a/b/c.txt"]
        );
        // Following `link` brings in its target.
        assert_eq!(paths(&disk, &[], &[], &["link"]), vec!["a.txt", "link"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn stats_carry_modes_links_and_hard_links() {
        let (dir, disk) = tree();
        let f = Filter::none();
        let mut stats = HashMap::new();
        walk(&disk, &f, &mut |e| {
            stats.insert(e.stat.path.clone(), e.stat);
            Ok(())
        })
        .unwrap();
        assert!(stats["a"].mode & MODE_DIR != 0);
        assert_eq!(stats["a"].size, 0);
        assert!(is_regular(stats["a.txt"].mode));
        assert_eq!(stats["link"].linkname, "a.txt");
        assert!(stats["link"].mode & MODE_SYMLINK != 0);
        assert_eq!(stats["z"].linkname, "");
        assert_eq!(stats["z2"].linkname, "z");
        assert_eq!(stats["z2"].size, 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_patterns_are_refused() {
        let (dir, disk) = tree();
        assert!(Filter::new(&disk, &[], &["[".into()], &[]).is_err());
        assert!(Filter::new(&disk, &[], &["!".into()], &[]).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
