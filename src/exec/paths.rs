//! Local paths on disk: resolving a path the way the OS will reach it (symlinks followed),
//! re-checking it against the granted filesystem entitlements right before it is read or
//! written, and reading files safely (regular files only, up to a size cap, so a FIFO or
//! `/dev/zero` named as a spec or Dockerfile cannot hang rbake or exhaust its memory).

use std::fmt;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::model::access::{Access, Grants, LocalPath};

/// The most rbake reads from one spec file, Dockerfile or saved plan.
pub const MAX_TEXT: u64 = 32 << 20;

/// How many symlinks one resolution follows before giving up (Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// The absolute path the OS reaches for `p` (relative to `cwd`): every existing prefix with
/// its symlinks resolved, dangling symlinks followed to where a write would land, and the
/// part that does not exist yet appended with `.` and `..` cleaned.
pub fn real(cwd: &Path, p: &str) -> PathBuf {
    let mut links = 0;
    let base = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    resolve(&base, Path::new(p), &mut links)
}

fn resolve(base: &Path, p: &Path, links: &mut usize) -> PathBuf {
    let mut out = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    };
    for c in p.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            // `out` has no symlinks in it (each existing step was resolved), so popping is
            // what the OS does with `..`.
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                match std::fs::canonicalize(&out) {
                    Ok(r) => out = r,
                    Err(_) => {
                        // A dangling symlink: a write through it lands at its target.
                        if let Ok(target) = std::fs::read_link(&out)
                            && *links < MAX_LINKS
                        {
                            *links += 1;
                            out.pop();
                            out = resolve(&out.clone(), &target, links);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The working directory, resolved.
pub fn real_cwd(cwd: &Path) -> PathBuf {
    std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf())
}

/// Resolves `written` (relative to `cwd`, or absolute) now and checks it against the
/// working directory and `grants`. The exec layer calls this right before reading or
/// writing a path the plan names, so a symlink swapped in after planning is still refused.
pub fn recheck(
    cwd: &Path,
    grants: &Grants,
    written: &str,
    access: Access,
) -> Result<LocalPath, String> {
    grants
        .check(&real_cwd(cwd), written, real(cwd, written), access)
        .map_err(|r| r.to_string())
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// A directory, FIFO, device or socket: reading it could block or never end.
    NotRegular(&'static str),
    TooLarge(u64),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge(cap) => {
                write!(f, "it is larger than {} MiB", cap >> 20)
            }
        }
    }
}

/// Reads a regular file of at most `cap` bytes. The type is checked before opening, since
/// opening a FIFO blocks until a writer appears, and again on the open file.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(&meta)));
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge(cap));
    }
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(&meta)));
    }
    capped(file, cap)
}

/// Reads a stream (stdin) up to `cap` bytes.
pub fn capped(r: impl Read, cap: u64) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    r.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(buf)
}

/// What a path that is not a regular file is, in words: "a FIFO", "a device".
pub fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(label: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rbake-paths-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        real_cwd(&d)
    }

    #[test]
    fn resolves_symlinks_and_missing_tails() {
        let d = tmp("resolve");
        std::fs::create_dir_all(d.join("proj/sub")).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        std::os::unix::fs::symlink(d.join("outside"), d.join("proj/link")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere/file"), d.join("proj/dangling")).unwrap();
        let cwd = d.join("proj");
        assert_eq!(real(&cwd, "sub/./x/../y"), cwd.join("sub/y"));
        assert_eq!(real(&cwd, "link/a"), d.join("outside/a"));
        assert_eq!(real(&cwd, "dangling"), d.join("nowhere/file"));
        assert_eq!(real(&cwd, "../outside"), d.join("outside"));
        assert_eq!(real(&cwd, "/"), PathBuf::from("/"));
        let g = Grants::default();
        assert!(recheck(&cwd, &g, "sub/new", Access::Write).is_ok());
        assert!(recheck(&cwd, &g, "link", Access::Read).is_err());
        assert!(recheck(&cwd, &g, "dangling", Access::Write).is_err());
        assert!(recheck(&cwd, &g, "", Access::Write).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn reads_only_regular_files_up_to_the_cap() {
        let d = tmp("read");
        std::fs::write(d.join("f"), "hello").unwrap();
        assert_eq!(read_regular(&d.join("f"), 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&d.join("f"), 4),
            Err(ReadError::TooLarge(4))
        ));
        assert!(matches!(
            read_regular(&d, 5),
            Err(ReadError::NotRegular("a directory"))
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 5),
            Err(ReadError::NotRegular("a device"))
        ));
        let _ = std::fs::remove_dir_all(&d);
    }
}
