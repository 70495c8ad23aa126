//! Export nodes: `oci` layouts, `local` directories and `tar` files on the local disk.
//! `oci` reads the built images back with `docker save`; `local` and `tar` go through
//! BuildKit's own exporters ([`files`]).

mod files;

use super::apply::{Ctx, docker, inputs};
use super::events::Outcome;
use super::image::{self, Image};
use super::paths;
use crate::model::access::Access;
use crate::plan::Export;

pub(crate) async fn export(ctx: &Ctx, e: &Export) -> Result<Outcome, String> {
    let builds = inputs(ctx, &e.id).await?;
    // Planning checked the destination; it is checked again now, resolved as it is on disk
    // at this moment, so a symlink swapped in since cannot redirect the write.
    let dest = paths::recheck(&ctx.opts.cwd, &ctx.plan.grants, &e.dest, Access::Write)
        .map(|p| p.real().to_path_buf())
        .map_err(|why| format!("cannot export to `{}`: {why}", e.dest))?;
    match e.kind.as_str() {
        "oci" => {
            let mut images = Vec::new();
            for b in &builds {
                images.push(image::save(&docker(&b.endpoint)?, &b.reference).await?);
            }
            let refs: Vec<&Image> = images.iter().collect();
            let layout = image::oci_layout(&refs, None)?;
            write_atomic(&dest, &layout)?;
        }
        "tar" => files::tar(ctx, e, &builds, &dest).await?,
        _ => files::local(ctx, e, &builds, &dest).await?,
    }
    Ok(Outcome {
        published: vec![e.dest.clone()],
        ..Outcome::default()
    })
}

/// Writes a file via a temporary sibling, so a failed export leaves no partial file.
fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("rbake-partial");
    // The temporary file is created afresh: a symlink left at its name (which `recheck` did
    // not look at) is removed, not followed out of the checked directory.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::io::Write::write_all(&mut file, data)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    // `rename` replaces whatever is at `path`, a symlink included, without following it.
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    /// A symlink planted at the temporary file's name or at the destination is replaced, and
    /// the file it points at is left alone.
    #[test]
    fn writes_never_follow_planted_symlinks() {
        let d = std::env::temp_dir().join(format!("rbake-export-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("proj")).unwrap();
        std::fs::write(d.join("victim"), "keep").unwrap();
        std::os::unix::fs::symlink(d.join("victim"), d.join("proj/out.rbake-partial")).unwrap();
        std::os::unix::fs::symlink(d.join("victim"), d.join("proj/out.tar")).unwrap();
        write_atomic(&d.join("proj/out.tar"), b"image").unwrap();
        assert_eq!(std::fs::read_to_string(d.join("victim")).unwrap(), "keep");
        assert_eq!(std::fs::read(d.join("proj/out.tar")).unwrap(), b"image");
        assert!(
            !std::fs::symlink_metadata(d.join("proj/out.tar"))
                .unwrap()
                .is_symlink()
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
