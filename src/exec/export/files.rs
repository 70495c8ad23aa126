//! `local` and `tar` exports through BuildKit's own exporters: for each platform, a solve of
//! `FROM <the built image>` (resolved from the engine's store, so nothing is rebuilt or
//! pulled) whose `local` or `tar` exporter sends the image's filesystem to the session's
//! file send ([`crate::exec::filesend`]), streamed to disk. The files are exactly what
//! BuildKit exports for the image: nothing a container adds (`.dockerenv`, `/etc/hosts`...).
//!
//! Layout, as BuildKit lays out a multi-platform result: with several platforms each goes to
//! its own directory named after the platform (`linux_amd64`, `linux_arm_v7`), in the
//! folder or at the top of the tarball, unless `platform-split=false` puts every platform
//! at the root (sharing directories, but a platform replacing another's file is refused, as
//! BuildKit refuses it). rbake solves one platform at a time, so it writes those directories
//! itself, as BuildKit describes them: mode 0755, time 0. Multi-platform tarballs are
//! received one per platform beside `dest` and then joined (entries keep their headers and
//! paths; other PAX records, such as extended attributes, are not carried over).
//!
//! Why a second solve rather than exporting from the build's own: a build's result is also
//! loaded, pushed or exported elsewhere, and is kept in the engine for later runs; exporting
//! `FROM` it reuses that result (BuildKit finds it cached), so one build feeds every output.
//!
//! Nothing is half-written: everything goes to a temporary sibling of `dest`
//! (`.NAME.rbake-RUN...`), removed on failure or cancellation. On success a new `dest` is that sibling
//! renamed; an existing `dest` directory receives its entries (merged as BuildKit's clients
//! merge: what the export holds replaces what was there, the rest stays).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::exec::apply::{Built, Ctx};
use crate::exec::filesend::Receiver;
use crate::exec::filesync::Dirs;
use crate::exec::fswalk::Memory;
use crate::exec::solve;
use crate::model::platform::Platform;
use crate::plan::Export;

/// A `local` export into the directory `dest`.
pub(crate) async fn local(
    ctx: &Ctx,
    e: &Export,
    builds: &[Built],
    dest: &Path,
) -> Result<(), String> {
    let stage = staging(dest, &ctx.run, "")?;
    let _cleanup = Cleanup(vec![stage.clone()]);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&stage)
        .map_err(|x| format!("cannot create {}: {x}", stage.display()))?;
    let split = builds.len() > 1 && e.platform_split;
    for (i, (b, platform)) in builds.iter().zip(&e.platforms).enumerate() {
        let into = if split {
            let d = stage.join(platform_dir(platform));
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&d)
                .map_err(|x| format!("cannot create {}: {x}", d.display()))?;
            d
        } else {
            stage.clone()
        };
        // Without split, the second and later platforms go where earlier ones went.
        let shared = (!split && i > 0).then(|| platform.to_string());
        receive(ctx, e, b, platform, Receiver::dir(into.clone(), shared)).await?;
        if split {
            platform_dir_metadata(&into)
                .map_err(|x| format!("cannot finish {}: {x}", into.display()))?;
        }
    }
    place(&stage, dest).map_err(|x| format!("cannot write {}: {x}", dest.display()))
}

/// A `tar` export into the file `dest`.
pub(crate) async fn tar(
    ctx: &Ctx,
    e: &Export,
    builds: &[Built],
    dest: &Path,
) -> Result<(), String> {
    let stage = staging(dest, &ctx.run, "")?;
    let mut parts: Vec<(String, PathBuf)> = Vec::new();
    if builds.len() > 1 {
        for platform in &e.platforms {
            let dir = platform_dir(platform);
            let part = staging(dest, &ctx.run, &format!("-{dir}"))?;
            parts.push((dir, part));
        }
    }
    let _cleanup = Cleanup(
        std::iter::once(stage.clone())
            .chain(parts.iter().map(|p| p.1.clone()))
            .collect(),
    );
    if let [b] = builds {
        receive(ctx, e, b, &e.platforms[0], Receiver::file(stage.clone())).await?;
    } else {
        for ((b, platform), (_, part)) in builds.iter().zip(&e.platforms).zip(&parts) {
            receive(ctx, e, b, platform, Receiver::file(part.clone())).await?;
        }
        let (parts, stage, split) = (parts.clone(), stage.clone(), e.platform_split);
        tokio::task::spawn_blocking(move || combine(&parts, split, &stage))
            .await
            .map_err(|x| x.to_string())?
            .map_err(|x| format!("cannot write {}: {x}", dest.display()))?;
    }
    // `rename` replaces whatever is at `dest`, a symlink included, without following it.
    fs::rename(&stage, dest).map_err(|x| format!("cannot write {}: {x}", dest.display()))
}

/// Removes temporary files and folders when an export ends, however it ends: failed,
/// cancelled (the future dropped on Ctrl-C) or done (then they were renamed away already).
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = remove_all(p);
        }
    }
}

/// One platform's export: `FROM` the built image, sent by BuildKit's exporter to `r`.
async fn receive(
    ctx: &Ctx,
    e: &Export,
    b: &Built,
    platform: &Platform,
    r: Receiver,
) -> Result<(), String> {
    let mut dirs = Dirs::default();
    // The frontend reads `.dockerignore` from the context even when nothing is copied.
    dirs.insert("context", Arc::new(Memory { files: Vec::new() }));
    let dockerfile = format!("FROM {}\n", b.reference).into_bytes();
    dirs.insert(
        "dockerfile",
        Arc::new(Memory {
            files: vec![("Dockerfile".into(), dockerfile)],
        }),
    );
    let shared = solve::Shared {
        credentials: ctx.opts.credentials.clone(),
        env: ctx.opts.env.clone(),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        r.reset();
        let req = solve::Request {
            node: e.id.clone(),
            platform: platform.to_string(),
            dirs: dirs.clone(),
            shared_key: "rbake-export".into(),
            dockerfile: "Dockerfile".into(),
            attrs: HashMap::new(),
            secrets: HashMap::new(),
            ssh: HashMap::new(),
            cache_from: Vec::new(),
            cache_to: Vec::new(),
            entitlements: Vec::new(),
            exporter: solve::Exporter::Files(r.clone()),
        };
        let solved = solve::solve(&b.endpoint, req, &shared, &ctx.events).await;
        // The receiver's own error says more than BuildKit's report of it.
        return match (solved, r.outcome()) {
            (_, Some(Err(why))) => Err(format!("exporting {platform}: {why}")),
            (Err(f), _) if f.transient && attempt == 1 => continue,
            (Err(f), _) => Err(format!("exporting {platform}: {}", f.message)),
            (Ok(_), None) => Err(format!(
                "exporting {platform}: BuildKit finished without sending the files"
            )),
            (Ok(_), Some(Ok(()))) => Ok(()),
        };
    }
}

/// BuildKit's directory name for a platform: `linux/arm/v7` is `linux_arm_v7`.
fn platform_dir(p: &Platform) -> String {
    p.to_string().replace('/', "_")
}

/// A platform directory as BuildKit's exporters describe it: mode 0755, time 0.
fn platform_dir_metadata(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    let zero = filetime::FileTime::from_unix_time(0, 0);
    filetime::set_file_times(dir, zero, zero)
}

/// A fresh temporary sibling of `dest` for this run (anything left at its name by a crashed
/// run is removed first, never followed).
fn staging(dest: &Path, run: &str, suffix: &str) -> Result<PathBuf, String> {
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(format!("cannot export to {}", dest.display()));
    };
    fs::create_dir_all(parent).map_err(|x| format!("cannot create {}: {x}", parent.display()))?;
    let stage = parent.join(format!(".{}.rbake-{run}{suffix}", name.to_string_lossy()));
    remove_all(&stage).map_err(|x| format!("cannot remove {}: {x}", stage.display()))?;
    Ok(stage)
}

/// Moves the finished export to `dest`: renamed into place if `dest` is new, merged into it
/// if it is a directory.
fn place(stage: &Path, dest: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dest) {
        Err(x) if x.kind() == io::ErrorKind::NotFound => fs::rename(stage, dest),
        Ok(m) if m.is_dir() => {
            merge(stage, dest)?;
            remove_all(stage)
        }
        Ok(_) => Err(io::Error::other("it exists and is not a directory")),
        Err(x) => Err(x),
    }
}

/// Moves every entry of `from` into `to`, replacing entries of the same name; a directory
/// meeting a directory is merged and takes the exported one's mode and time.
fn merge(from: &Path, to: &Path) -> io::Result<()> {
    // Both may be read-only directories; their modes are restored (or taken) below.
    fs::set_permissions(from, fs::Permissions::from_mode(0o700))?;
    let to_meta = fs::symlink_metadata(to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let src_meta = fs::symlink_metadata(&src)?;
        match fs::symlink_metadata(&dst) {
            Ok(d) if d.is_dir() && src_meta.is_dir() => {
                merge(&src, &dst)?;
                fs::set_permissions(&dst, src_meta.permissions())?;
                let t = filetime::FileTime::from_last_modification_time(&src_meta);
                filetime::set_file_times(&dst, t, t)?;
            }
            Ok(_) => {
                remove_all(&dst)?;
                fs::rename(&src, &dst)?;
            }
            Err(x) if x.kind() == io::ErrorKind::NotFound => fs::rename(&src, &dst)?,
            Err(x) => return Err(x),
        }
    }
    fs::set_permissions(to, to_meta.permissions())
}

/// Removes a tree that may hold read-only directories, never following a symlink.
fn remove_all(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
            for entry in fs::read_dir(path)? {
                remove_all(&entry?.path())?;
            }
            fs::remove_dir(path)
        }
        Ok(_) => fs::remove_file(path),
        Err(x) if x.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(x) => Err(x),
    }
}

/// One tarball from each platform's: under a directory per platform when `split` (BuildKit's
/// layout), else all at the root. Entries keep their headers; hard links are re-pointed into
/// their platform's directory.
fn combine(parts: &[(String, PathBuf)], split: bool, out: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStringExt;
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)?;
    let mut b = ::tar::Builder::new(io::BufWriter::with_capacity(256 << 10, file));
    // Only without split: every path written so far, and whether it is a directory.
    let mut seen: HashMap<String, bool> = HashMap::new();
    for (dir, part) in parts {
        let prefix = if split {
            format!("{dir}/")
        } else {
            String::new()
        };
        let join = |p: &[u8]| {
            let mut v = prefix.clone().into_bytes();
            v.extend_from_slice(p);
            PathBuf::from(std::ffi::OsString::from_vec(v))
        };
        if split {
            let mut h = ::tar::Header::new_ustar();
            h.set_entry_type(::tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(0);
            b.append_data(&mut h, dir, io::empty())?;
        }
        let mut ar = ::tar::Archive::new(io::BufReader::new(fs::File::open(part)?));
        for entry in ar.entries()? {
            let mut entry = entry?;
            let mut h = entry.header().clone();
            let path = join(&entry.path_bytes());
            if !split {
                // Compat: as BuildKit's exporters, a platform may add to another's
                // directories but not replace anything else of it.
                let is_dir = h.entry_type() == ::tar::EntryType::Directory;
                let key = path.to_string_lossy().trim_end_matches('/').to_string();
                match seen.insert(key.clone(), is_dir) {
                    Some(true) if is_dir => continue,
                    Some(_) => {
                        return Err(io::Error::other(format!(
                            "cannot overwrite {key} from an earlier platform with {dir} when split option is disabled"
                        )));
                    }
                    None => {}
                }
            }
            match h.entry_type() {
                ::tar::EntryType::Link => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    b.append_link(&mut h, path, join(&target))?;
                }
                ::tar::EntryType::Symlink => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    let target = PathBuf::from(std::ffi::OsString::from_vec(target));
                    b.append_link(&mut h, path, target)?;
                }
                ::tar::EntryType::XGlobalHeader | ::tar::EntryType::XHeader => {}
                _ => b.append_data(&mut h, path, &mut entry)?,
            }
        }
    }
    b.into_inner()?.into_inner()?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rbake-files-{name}-{}", std::process::id()));
        let _ = remove_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn platform_dirs_are_named_as_buildkit_names_them() {
        let p = |s: &str| Platform::parse(s).unwrap();
        assert_eq!(platform_dir(&p("linux/arm/v7")), "linux_arm_v7");
        assert_eq!(platform_dir(&p("linux/amd64")), "linux_amd64");
    }

    /// An existing destination keeps what the export does not hold; a planted symlink in
    /// it is replaced, not followed.
    #[test]
    fn merges_into_an_existing_destination() {
        let d = temp("merge");
        fs::create_dir_all(d.join("stage/sub")).unwrap();
        fs::write(d.join("stage/sub/new"), "new").unwrap();
        fs::write(d.join("stage/f"), "exported").unwrap();
        fs::set_permissions(d.join("stage/sub"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::create_dir_all(d.join("dest/sub")).unwrap();
        fs::write(d.join("dest/sub/old"), "old").unwrap();
        fs::write(d.join("victim"), "keep").unwrap();
        std::os::unix::fs::symlink(d.join("victim"), d.join("dest/f")).unwrap();
        place(&d.join("stage"), &d.join("dest")).unwrap();
        assert!(!d.join("stage").exists());
        assert_eq!(fs::read_to_string(d.join("dest/f")).unwrap(), "exported");
        assert_eq!(fs::read_to_string(d.join("victim")).unwrap(), "keep");
        assert_eq!(fs::read_to_string(d.join("dest/sub/old")).unwrap(), "old");
        assert_eq!(fs::read_to_string(d.join("dest/sub/new")).unwrap(), "new");
        let mode = fs::metadata(d.join("dest/sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o555);
        remove_all(&d).unwrap();
    }

    /// Several platforms' tarballs become one with a directory per platform.
    #[test]
    fn combines_tarballs_under_platform_dirs() {
        let d = temp("combine");
        let part = |name: &str| {
            let p = d.join(name);
            let mut b = ::tar::Builder::new(fs::File::create(&p).unwrap());
            let mut h = ::tar::Header::new_ustar();
            h.set_size(2);
            h.set_mode(0o640);
            b.append_data(&mut h, "bin/x", &b"hi"[..]).unwrap();
            let mut h = ::tar::Header::new_ustar();
            h.set_entry_type(::tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, "bin/y", "bin/x").unwrap();
            b.finish().unwrap();
            (name.to_string(), p)
        };
        let parts = vec![part("linux_amd64"), part("linux_arm64")];
        combine(&parts, true, &d.join("out.tar")).unwrap();
        let mut ar = ::tar::Archive::new(fs::File::open(d.join("out.tar")).unwrap());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| format!(" -> {}", l.display()))
                    .unwrap_or_default();
                format!("{}{link}", e.path().unwrap().display())
            })
            .collect();
        assert_eq!(
            names,
            [
                "linux_amd64",
                "linux_amd64/bin/x",
                "linux_amd64/bin/y -> linux_amd64/bin/x",
                "linux_arm64",
                "linux_arm64/bin/x",
                "linux_arm64/bin/y -> linux_arm64/bin/x",
            ]
        );
        remove_all(&d).unwrap();
    }
}
