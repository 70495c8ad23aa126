//! The Dockerfile rewrite that `target:` contexts need on BuildKit < 0.10, which has no named
//! contexts: references to a named context become the engine-local image holding it.

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
}
