//! Just enough Dockerfile reading to know its stages: `FROM image [AS name]` lines, with
//! line continuations, comments, and parser directives (`# escape=`) respected.

/// A stage: its name (if any) and the byte range of the `FROM` line.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub name: Option<String>,
    pub base: String,
    pub span: std::ops::Range<usize>,
}

pub fn stages(text: &str) -> Vec<Stage> {
    logical_lines(text)
        .into_iter()
        .filter_map(|(line, span)| from_line(&line, span))
        .collect()
}

/// The instructions of a Dockerfile, one logical line each (continuations joined, comment
/// lines dropped), with the byte range they came from.
pub fn logical_lines(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let escape = escape_char(text);
    let mut out = Vec::new();
    let mut offset = 0;
    let mut logical = String::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if logical.is_empty() {
            start = offset;
            if trimmed.trim_start().starts_with('#') {
                offset += line.len();
                continue;
            }
        }
        let t = trimmed.trim_end();
        if let Some(body) = t.strip_suffix(escape) {
            logical.push_str(body);
            logical.push(' ');
        } else {
            logical.push_str(t);
            if !logical.trim().is_empty() {
                out.push((std::mem::take(&mut logical), start..offset + trimmed.len()));
            }
            logical.clear();
        }
        offset += line.len();
    }
    out
}

fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let l = line.trim();
        let Some(d) = l.strip_prefix('#') else { break };
        let d = d.trim().to_ascii_lowercase();
        if let Some(v) = d
            .strip_prefix("escape")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
        {
            return v.trim().chars().next().unwrap_or('\\');
        }
    }
    '\\'
}

fn from_line(line: &str, span: std::ops::Range<usize>) -> Option<Stage> {
    let mut words = line.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("FROM") {
        return None;
    }
    let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
    let base = rest.first()?.to_string();
    let name = match rest.as_slice() {
        [_, kw, name, ..] if kw.eq_ignore_ascii_case("AS") => Some(name.to_ascii_lowercase()),
        _ => None,
    };
    Some(Stage { name, base, span })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_named_stages() {
        let s = stages(
            "# syntax=docker/dockerfile:1\nFROM --platform=$BUILDPLATFORM golang AS Build\nRUN x\nFROM \\\n  scratch as final\n",
        );
        let names: Vec<_> = s.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, vec![Some("build".into()), Some("final".into())]);
        assert_eq!(s[0].base, "golang");
    }
}
