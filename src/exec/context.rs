//! The build context BuildKit receives: a tar of the context directory without what
//! `.dockerignore` excludes, plus the Dockerfile (rewritten when `target:` contexts must be
//! fed from the engine's store, see ARCHITECTURE.md).

use std::path::{Path, PathBuf};

use super::dockerignore::Ignore;

/// The Dockerfile's name inside the uploaded context when it does not live there already
/// (inline, outside the context, or rewritten).
pub const INJECTED_DOCKERFILE: &str = ".rbake.Dockerfile";

pub struct Context {
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside the tar (the frontend's `filename`).
    pub dockerfile: String,
}

/// Packs `dir` (honouring its `.dockerignore`, or `<Dockerfile>.dockerignore` next to the
/// Dockerfile) with `dockerfile_text` stored at `dockerfile_rel` if that path is inside the
/// context and unchanged, else under [`INJECTED_DOCKERFILE`].
pub fn pack(
    dir: &Path,
    dockerfile_path: Option<&Path>,
    dockerfile_text: &str,
    rewritten: bool,
) -> Result<Context, String> {
    let ignore_text = dockerfile_path
        .and_then(|p| std::fs::read_to_string(format!("{}.dockerignore", p.display())).ok())
        .or_else(|| std::fs::read_to_string(dir.join(".dockerignore")).ok())
        .unwrap_or_default();
    let ignore = Ignore::parse(&ignore_text);
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut files: Vec<PathBuf> = Vec::new();
    walk(dir, dir, &ignore, &mut files)
        .map_err(|e| format!("cannot read the context {}: {e}", dir.display()))?;
    files.sort();
    let inside = dockerfile_path
        .and_then(|p| p.strip_prefix(dir).ok())
        .map(|r| r.to_string_lossy().replace('\\', "/"));
    let dockerfile = match (&inside, rewritten) {
        (Some(rel), false) => rel.clone(),
        _ => INJECTED_DOCKERFILE.to_string(),
    };
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        let rel_s = rel.to_string_lossy().replace('\\', "/");
        if rel_s == dockerfile {
            continue;
        }
        builder
            .append_path_with_name(f, rel)
            .map_err(|e| format!("cannot pack {}: {e}", f.display()))?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile_text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, &dockerfile, dockerfile_text.as_bytes())
        .map_err(|e| format!("cannot pack the Dockerfile: {e}"))?;
    let tar = builder
        .into_inner()
        .map_err(|e| format!("cannot finish the context: {e}"))?;
    Ok(Context { tar, dockerfile })
}

fn walk(root: &Path, dir: &Path, ignore: &Ignore, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let ty = entry.file_type()?;
        let excluded = ignore.excluded(&rel);
        if ty.is_dir() {
            if excluded && !ignore.has_exceptions() {
                continue;
            }
            if !excluded {
                out.push(path.clone());
            }
            walk(root, &path, ignore, out)?;
        } else if !excluded {
            out.push(path);
        }
    }
    Ok(())
}

/// Rewrites `FROM name`, `COPY --from=name` and `--mount=...from=name` so that a named
/// context refers to an image in the engine's store. For engines whose Dockerfile frontend
/// predates named contexts (BuildKit < 0.10).
pub fn rewrite_named(dockerfile: &str, names: &[(String, String)]) -> String {
    let lookup = |w: &str| {
        names
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(w))
            .map(|(_, r)| r.clone())
    };
    let mut out = String::with_capacity(dockerfile.len());
    for line in dockerfile.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let mut words: Vec<String> = trimmed.split(' ').map(str::to_string).collect();
        let instr = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        let mut changed = false;
        if instr == "FROM"
            && let Some(i) = words
                .iter()
                .skip(1)
                .position(|w| !w.starts_with("--") && !w.trim().is_empty())
                .map(|p| p + 1)
        {
            {
                let w = words[i].trim_end().to_string();
                if let Some(r) = lookup(&w) {
                    let tail = &words[i][w.len()..];
                    words[i] = format!("{r}{tail}");
                    changed = true;
                }
            }
        }
        if instr == "COPY" || instr == "RUN" || instr == "ADD" {
            for w in words.iter_mut() {
                for key in ["--from=", "from="] {
                    if let Some(pos) = w.find(key) {
                        let start = pos + key.len();
                        let end = w[start..]
                            .find([',', ' ', '\n', '\r'])
                            .map_or(w.len(), |e| start + e);
                        if let Some(r) = lookup(&w[start..end]) {
                            *w = format!("{}{}{}", &w[..start], r, &w[end..]);
                            changed = true;
                        }
                    }
                }
            }
        }
        if changed {
            out.push_str(indent);
            out.push_str(&words.join(" "));
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_named_contexts() {
        let names = vec![(
            "base".to_string(),
            "rbake.local/base:linux-arm64".to_string(),
        )];
        let df = "FROM base\nRUN x\nFROM --platform=$P base AS b2\nCOPY --from=base /a /b\nRUN --mount=type=bind,from=base,target=/m true\nFROM other\n";
        let out = rewrite_named(df, &names);
        assert_eq!(
            out,
            "FROM rbake.local/base:linux-arm64\nRUN x\nFROM --platform=$P rbake.local/base:linux-arm64 AS b2\nCOPY --from=rbake.local/base:linux-arm64 /a /b\nRUN --mount=type=bind,from=rbake.local/base:linux-arm64,target=/m true\nFROM other\n"
        );
    }

    #[test]
    fn packs_with_dockerignore() {
        let dir = std::env::temp_dir().join(format!("rbake-ctx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(dir.join("a.txt"), "a").unwrap();
        std::fs::write(dir.join("logs/x.log"), "x").unwrap();
        std::fs::write(dir.join(".dockerignore"), "logs\n").unwrap();
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
        let ctx = pack(&dir, Some(&dir.join("Dockerfile")), "FROM scratch\n", false).unwrap();
        let mut names: Vec<String> = tar::Archive::new(&ctx.tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, vec![".dockerignore", "Dockerfile", "a.txt"]);
        assert_eq!(ctx.dockerfile, "Dockerfile");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
