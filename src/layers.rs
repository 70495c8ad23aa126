//! The layering rule, checked: every module may use only the modules to its left in
//! [`ORDER`] (ARCHITECTURE.md draws the same arrow). A test reads the sources and fails on a
//! `crate::` path that points rightwards.

/// The layers, lowest first.
pub const ORDER: &[&str] = &[
    "base", "source", "syntax", "spec", "model", "eval", "plan", "check", "exec", "report", "cli",
];

#[cfg(test)]
mod tests {
    use super::ORDER;
    use std::path::Path;

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The layer a source file belongs to (`src/eval/expr.rs` → `eval`).
    fn layer_of(src: &Path, file: &Path) -> Option<&'static str> {
        let rel = file.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let name = first.strip_suffix(".rs").unwrap_or(first);
        ORDER.iter().copied().find(|l| *l == name)
    }

    #[test]
    fn no_layer_uses_a_later_one() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let re = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
        let mut wrong = Vec::new();
        let mut seen = 0;
        for f in &all {
            let Some(layer) = layer_of(&src, f) else {
                continue;
            };
            seen += 1;
            let rank = ORDER.iter().position(|l| *l == layer).unwrap();
            let text = std::fs::read_to_string(f).unwrap();
            for (n, line) in text.lines().enumerate() {
                for c in re.captures_iter(line) {
                    let used = &c[1];
                    if let Some(r) = ORDER.iter().position(|l| *l == used)
                        && r > rank
                    {
                        wrong.push(format!(
                            "{}:{}: `{layer}` uses `{used}`",
                            f.strip_prefix(&src).unwrap().display(),
                            n + 1
                        ));
                    }
                }
            }
        }
        assert!(seen > 50, "the walk found only {seen} files");
        assert!(
            wrong.is_empty(),
            "imports against the layering:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn every_top_level_module_has_a_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        for line in lib.lines() {
            if let Some(m) = line
                .strip_prefix("pub mod ")
                .and_then(|m| m.strip_suffix(';'))
            {
                assert!(
                    ORDER.contains(&m) || m == "layers",
                    "module `{m}` is missing from layers::ORDER"
                );
            }
        }
    }
}
