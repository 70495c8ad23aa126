//! What a build may read and write on the local disk: the working directory, plus the roots
//! granted with `--allow fs.read=PATH`, `fs.write=PATH`, `fs=PATH` (both) or `*` (anywhere),
//! as bake's filesystem entitlements do. [`LocalPath`] is the checked path type: the only way
//! to get one is [`Grants::check`], given a path already resolved on disk (symlinks
//! followed), so a symlink inside the project that points outside it is refused like the
//! outside path itself. Resolving is I/O and happens in `exec::paths`; this file only decides.

use std::fmt;
use std::path::{Path, PathBuf};

/// Whether a path is read (contexts, Dockerfiles, secrets) or written (exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    /// The entitlement that grants this access outside the working directory.
    pub fn entitlement(self) -> &'static str {
        match self {
            Access::Read => "fs.read",
            Access::Write => "fs.write",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Access::Read => "reads",
            Access::Write => "writes",
        }
    }
}

/// The filesystem entitlements granted on the command line. Roots are real paths (absolute,
/// symlinks resolved); the working directory is always granted and is passed in by the
/// caller, so a default `Grants` grants nothing beyond it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grants {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    read_any: bool,
    write_any: bool,
}

impl Grants {
    /// Reads the `fs` entitlements among `allow` (others, such as `network.host`, are not
    /// about paths). `real` resolves a root as written, relative to the working directory.
    pub fn new(allow: &[String], mut real: impl FnMut(&str) -> PathBuf) -> Grants {
        let mut g = Grants::default();
        for a in allow {
            let (read, write, root) = if let Some(r) = a.strip_prefix("fs.read=") {
                (true, false, Some(r))
            } else if let Some(r) = a.strip_prefix("fs.write=") {
                (false, true, Some(r))
            } else if let Some(r) = a.strip_prefix("fs=") {
                (true, true, Some(r))
            } else {
                // Compat: a bare `fs.read` (rbake's earlier spelling) grants reading anywhere.
                match a.as_str() {
                    "fs.read" => (true, false, None),
                    "fs.write" => (false, true, None),
                    "fs" => (true, true, None),
                    _ => continue,
                }
            };
            let root = root.filter(|r| *r != "*").map(&mut real);
            match root {
                None => {
                    g.read_any |= read;
                    g.write_any |= write;
                }
                Some(root) => {
                    if read {
                        g.read.push(root.clone());
                    }
                    if write {
                        g.write.push(root);
                    }
                }
            }
        }
        g
    }

    /// Whether `real` (a resolved path) may be accessed: it lies in `cwd` (the resolved
    /// working directory) or under a granted root.
    pub fn permits(&self, cwd: &Path, real: &Path, access: Access) -> bool {
        // A relative (or empty) `cwd` would be a prefix of nothing or of everything.
        if cwd.is_absolute() && real.starts_with(cwd) {
            return true;
        }
        let (any, roots) = match access {
            Access::Read => (self.read_any, &self.read),
            Access::Write => (self.write_any, &self.write),
        };
        any || roots.iter().any(|r| real.starts_with(r))
    }

    /// Checks a path the spec names (`written`) once resolved on disk (`real`).
    pub fn check(
        &self,
        cwd: &Path,
        written: &str,
        real: PathBuf,
        access: Access,
    ) -> Result<LocalPath, Refused> {
        if written.trim().is_empty() {
            return Err(Refused {
                written: written.to_string(),
                real,
                access,
                empty: true,
            });
        }
        if self.permits(cwd, &real, access) {
            Ok(LocalPath {
                written: written.to_string(),
                real,
                access,
            })
        } else {
            Err(Refused {
                written: written.to_string(),
                real,
                access,
                empty: false,
            })
        }
    }
}

/// A local path that was resolved on disk and found inside what was granted, for `access`.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalPath {
    written: String,
    real: PathBuf,
    access: Access,
}

impl LocalPath {
    /// The path as the spec wrote it.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// The resolved path to read or write.
    pub fn real(&self) -> &Path {
        &self.real
    }

    pub fn access(&self) -> Access {
        self.access
    }
}

/// A path outside what was granted (or an empty one).
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    pub written: String,
    pub real: PathBuf,
    pub access: Access,
    pub empty: bool,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.empty {
            return write!(
                f,
                "refusing an empty path: it would mean the working directory"
            );
        }
        write!(
            f,
            "`{}` resolves to {}, outside the working directory, and `{}` was not granted for it",
            self.written,
            self.real.display(),
            self.access.entitlement()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(allow: &[&str]) -> Grants {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        Grants::new(&allow, |r| Path::new("/work/p").join(r))
    }

    fn check(g: &Grants, real: &str, access: Access) -> bool {
        g.permits(Path::new("/work/p"), Path::new(real), access)
    }

    #[test]
    fn the_working_directory_is_always_granted() {
        let g = grants(&[]);
        assert!(check(&g, "/work/p/sub", Access::Read));
        assert!(check(&g, "/work/p", Access::Write));
        assert!(!check(&g, "/work/pp", Access::Read));
        assert!(!check(&g, "/etc/passwd", Access::Read));
    }

    #[test]
    fn roots_grant_one_access_each() {
        let g = grants(&["fs.read=/srv", "fs.write=out"]);
        assert!(check(&g, "/srv/x", Access::Read));
        assert!(!check(&g, "/srv/x", Access::Write));
        assert!(check(&g, "/work/p/out/y", Access::Write));
        let both = grants(&["fs=/srv"]);
        assert!(check(&both, "/srv", Access::Write) && check(&both, "/srv", Access::Read));
        let any = grants(&["fs.read=*"]);
        assert!(check(&any, "/anything", Access::Read));
        assert!(!check(&any, "/anything", Access::Write));
    }

    #[test]
    fn an_empty_path_is_refused() {
        let g = grants(&["fs=*"]);
        let r = g.check(
            Path::new("/work/p"),
            " ",
            PathBuf::from("/work/p"),
            Access::Write,
        );
        assert!(r.is_err_and(|e| e.empty));
    }
}
