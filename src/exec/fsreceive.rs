//! Writing what BuildKit's `local` exporter sends ([`super::filesend`]) into a directory, as
//! fsutil's disk writer does on BuildKit's own clients: each entry is created when its stat
//! arrives (directories, symlinks, hard links, devices, empty regular files), a regular
//! file's content follows in data packets, and then its mode and times are set.
//!
//! What differs from fsutil, on purpose:
//! - Every path is checked before use: relative, no `.` or `..` parts, and its parent a real
//!   directory (never a symlink), so a symlink in the image (or one the sender lists before
//!   a path below it) can never lead a write outside the root. A hard link's source must be a
//!   regular file already written under the root.
//! - Directories are created `0700` and get their own mode and times at the end, deepest
//!   first, so a read-only directory can still be filled and its time is the image's, not
//!   the time its last child was written.
//! - Ownership is not copied: BuildKit's clients map every entry to the receiving user
//!   (`syncTargetDiffCopy`), which is who owns what rbake creates. Extended attributes are
//!   set where the filesystem takes them and otherwise dropped, as fsutil does.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bollard_buildkit_proto::fsutil::types::Stat;

use super::fswalk::{
    MODE_CHAR_DEVICE, MODE_DEVICE, MODE_DIR, MODE_IRREGULAR, MODE_NAMED_PIPE, MODE_SETGID,
    MODE_SETUID, MODE_SOCKET, MODE_STICKY, MODE_SYMLINK,
};

/// A file whose content was asked for and has not fully arrived.
struct Pending {
    path: PathBuf,
    stat: Stat,
    file: Option<File>,
}

pub struct DirWriter {
    root: PathBuf,
    pending: HashMap<u32, Pending>,
    /// Directories created or kept, in arrival order (parents first).
    dirs: Vec<(PathBuf, Stat)>,
    /// Set when earlier platforms were exported into the same root (`platform-split=false`):
    /// this platform's name, and anything but a directory meeting an existing entry is an
    /// error, as in BuildKit's exporters.
    platform: Option<String>,
}

impl DirWriter {
    pub fn new(root: &Path, platform: Option<String>) -> DirWriter {
        DirWriter {
            root: root.to_path_buf(),
            pending: HashMap::new(),
            dirs: Vec::new(),
            platform,
        }
    }

    /// Files whose content is still to come.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Creates the entry a stat describes; true if its content must be requested.
    pub fn create(&mut self, id: u32, stat: Stat) -> io::Result<bool> {
        let path = self.checked(&stat.path)?;
        let mode = stat.mode;
        if let Some(platform) = &self.platform
            && fs::symlink_metadata(&path).is_ok_and(|m| !(m.is_dir() && mode & MODE_DIR != 0))
        {
            // Compat: BuildKit's exporters refuse this with the same words.
            return Err(invalid(format!(
                "cannot overwrite {} from an earlier platform with {platform} when split option is disabled",
                stat.path
            )));
        }
        if mode & MODE_DIR != 0 {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&path)?;
                    mkdir(&path)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => mkdir(&path)?,
                Err(e) => return Err(e),
            }
            self.dirs.push((path, stat));
            return Ok(false);
        }
        remove(&path)?;
        if mode & MODE_SYMLINK != 0 {
            std::os::unix::fs::symlink(&stat.linkname, &path)?;
            set_xattrs(&path, &stat);
            let t = mtime(&stat);
            filetime::set_symlink_file_times(&path, t, t)?;
            return Ok(false);
        }
        if mode & (MODE_DEVICE | MODE_NAMED_PIPE) != 0 {
            mknod(&path, &stat)?;
            finish_file(&path, &stat)?;
            return Ok(false);
        }
        if mode & (MODE_SOCKET | MODE_IRREGULAR) != 0 {
            // Compat: fsutil's sender skips sockets; an irregular file has nothing to write.
            return Ok(false);
        }
        if !stat.linkname.is_empty() {
            let source = self.checked(&stat.linkname)?;
            if !fs::symlink_metadata(&source)?.is_file() {
                return Err(invalid(format!(
                    "{}: hard link to {}, which is not a regular file",
                    stat.path, stat.linkname
                )));
            }
            fs::hard_link(&source, &path)?;
            return Ok(false);
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        self.pending.insert(
            id,
            Pending {
                path,
                stat,
                file: None,
            },
        );
        Ok(true)
    }

    /// Content for file `id`; empty data ends the file.
    pub fn data(&mut self, id: u32, data: &[u8]) -> io::Result<()> {
        let Some(p) = self.pending.get_mut(&id) else {
            return Err(invalid(format!(
                "data for file {id}, which was not requested"
            )));
        };
        if data.is_empty() {
            let p = self.pending.remove(&id).expect("present");
            if let Some(f) = p.file {
                f.sync_data()?;
            }
            return finish_file(&p.path, &p.stat);
        }
        if p.file.is_none() {
            // Opened by rbake's own handle on the file it created: no path lookup that a
            // swapped symlink could redirect (the parent was checked when it was created).
            p.file = Some(
                fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&p.path)?,
            );
        }
        p.file.as_mut().expect("opened").write_all(data)
    }

    /// Gives directories their modes and times, deepest first.
    pub fn finish(&mut self) -> io::Result<()> {
        for (path, stat) in self.dirs.drain(..).rev() {
            set_xattrs(&path, &stat);
            fs::set_permissions(&path, fs::Permissions::from_mode(unix_mode(stat.mode)))?;
            let t = mtime(&stat);
            filetime::set_symlink_file_times(&path, t, t)?;
        }
        Ok(())
    }

    /// `rel` under the root, refused unless it is a clean relative path whose parent is a
    /// real directory.
    fn checked(&self, rel: &str) -> io::Result<PathBuf> {
        let parts: Vec<&str> = rel.split('/').collect();
        if rel.is_empty()
            || rel.contains('\0')
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(invalid(format!("refusing the path {rel:?} from BuildKit")));
        }
        let path = self.root.join(rel);
        let parent = path.parent().unwrap_or(&self.root);
        match fs::symlink_metadata(parent) {
            Ok(m) if m.is_dir() => Ok(path),
            _ => Err(invalid(format!(
                "refusing {rel:?} from BuildKit: its parent is not a directory it sent"
            ))),
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn mkdir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(path)
}

/// Removes whatever is at `path` (an earlier platform's entry), never following a symlink.
fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Mode, extended attributes and times of a file or device whose content is complete.
fn finish_file(path: &Path, stat: &Stat) -> io::Result<()> {
    set_xattrs(path, stat);
    fs::set_permissions(path, fs::Permissions::from_mode(unix_mode(stat.mode)))?;
    let t = mtime(stat);
    filetime::set_symlink_file_times(path, t, t)
}

/// Go's `os.FileMode` as Unix permission bits (what Go's `os.Chmod` passes on).
pub fn unix_mode(mode: u32) -> u32 {
    let mut m = mode & 0o777;
    if mode & MODE_SETUID != 0 {
        m |= 0o4000;
    }
    if mode & MODE_SETGID != 0 {
        m |= 0o2000;
    }
    if mode & MODE_STICKY != 0 {
        m |= 0o1000;
    }
    m
}

fn mtime(stat: &Stat) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(
        stat.mod_time.div_euclid(1_000_000_000),
        stat.mod_time.rem_euclid(1_000_000_000) as u32,
    )
}

fn cstring(path: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| invalid(format!("{} holds a NUL byte", path.display())))
}

fn mknod(path: &Path, stat: &Stat) -> io::Result<()> {
    let kind = if stat.mode & MODE_CHAR_DEVICE != 0 {
        libc::S_IFCHR
    } else if stat.mode & MODE_NAMED_PIPE != 0 {
        libc::S_IFIFO
    } else {
        libc::S_IFBLK
    };
    let dev = libc::makedev(stat.devmajor as u32, stat.devminor as u32);
    let c = cstring(path)?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | (unix_mode(stat.mode) & 0o7777), dev) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "cannot create the device or pipe {} (devices need root, as with BuildKit's own clients): {e}",
                stat.path
            ),
        ));
    }
    Ok(())
}

/// Best effort, as fsutil: a filesystem without extended attributes (or a `security.*` one
/// needing privileges) loses them.
fn set_xattrs(path: &Path, stat: &Stat) {
    if stat.xattrs.is_empty() {
        return;
    }
    let Ok(c) = cstring(path) else { return };
    for (k, v) in &stat.xattrs {
        let Ok(key) = std::ffi::CString::new(k.as_bytes()) else {
            continue;
        };
        // SAFETY: both strings are NUL-terminated and `v` outlives the call.
        unsafe {
            libc::lsetxattr(c.as_ptr(), key.as_ptr(), v.as_ptr().cast(), v.len(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, mode: u32, linkname: &str) -> Stat {
        Stat {
            path: path.into(),
            mode,
            mod_time: 1_600_000_000_123_456_789,
            linkname: linkname.into(),
            ..Stat::default()
        }
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rbake-fsreceive-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("root")).unwrap();
        d
    }

    /// Entries land with their modes and times; a read-only directory is still filled.
    #[test]
    fn writes_entries_as_sent() {
        let d = temp("entries");
        let mut w = DirWriter::new(&d.join("root"), None);
        assert!(!w.create(0, stat("ro", MODE_DIR | 0o555, "")).unwrap());
        assert!(w.create(1, stat("ro/f", 0o640, "")).unwrap());
        assert!(
            !w.create(2, stat("ro/l", MODE_SYMLINK | 0o777, "f"))
                .unwrap()
        );
        assert!(!w.create(3, stat("ro/h", 0o640, "ro/f")).unwrap());
        w.data(1, b"hello").unwrap();
        w.data(1, b"").unwrap();
        assert_eq!(w.pending(), 0);
        w.finish().unwrap();
        let root = d.join("root");
        assert_eq!(fs::read(root.join("ro/h")).unwrap(), b"hello");
        assert_eq!(fs::read_link(root.join("ro/l")).unwrap(), Path::new("f"));
        let m = fs::metadata(root.join("ro/f")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(m.mtime(), 1_600_000_000);
        assert_eq!(m.mtime_nsec(), 123_456_789);
        let m = fs::metadata(root.join("ro")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o555);
        assert_eq!(m.mtime(), 1_600_000_000);
        fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
        let _ = fs::remove_dir_all(&d);
    }

    /// Nothing is written through a symlink, and no path leaves the root.
    #[test]
    fn never_writes_outside_the_root() {
        let d = temp("escape");
        fs::create_dir(d.join("outside")).unwrap();
        let mut w = DirWriter::new(&d.join("root"), None);
        w.create(0, stat("link", MODE_SYMLINK | 0o777, "../outside"))
            .unwrap();
        assert!(w.create(1, stat("link/f", 0o644, "")).is_err());
        assert!(w.create(2, stat("../f", 0o644, "")).is_err());
        assert!(w.create(3, stat("/etc/f", 0o644, "")).is_err());
        assert!(w.create(4, stat("a/./b", 0o644, "")).is_err());
        assert!(w.create(5, stat("h", 0o644, "link")).is_err());
        assert!(w.create(6, stat("h", 0o644, "../outside")).is_err());
        assert!(w.data(9, b"x").is_err());
        assert_eq!(fs::read_dir(d.join("outside")).unwrap().count(), 0);
        let _ = fs::remove_dir_all(&d);
    }

    /// With platform-split=false, a platform may add to another's directories but not
    /// replace its files.
    #[test]
    fn shared_root_refuses_overwrites() {
        let d = temp("shared");
        let mut w = DirWriter::new(&d.join("root"), None);
        w.create(0, stat("bin", MODE_DIR | 0o755, "")).unwrap();
        w.create(1, stat("bin/a", MODE_SYMLINK | 0o777, "x"))
            .unwrap();
        let mut w = DirWriter::new(&d.join("root"), Some("linux/arm64".into()));
        w.create(0, stat("bin", MODE_DIR | 0o755, "")).unwrap();
        w.create(1, stat("bin/b", MODE_SYMLINK | 0o777, "x"))
            .unwrap();
        let e = w
            .create(2, stat("bin/a", MODE_SYMLINK | 0o777, "y"))
            .unwrap_err();
        assert!(e.to_string().contains("cannot overwrite bin/a"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn go_modes_become_unix_modes() {
        assert_eq!(unix_mode(MODE_SETUID | MODE_STICKY | 0o755), 0o5755);
        assert_eq!(unix_mode(MODE_DIR | MODE_SETGID | 0o700), 0o2700);
    }
}
