//! `.env` and `env_file` files: `KEY=VALUE` lines.

/// `KEY=VALUE` lines of a `.env` file: comments, `export `, and single or double quotes.
pub fn dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            v.split(" #").next().unwrap_or(v).trim().to_string()
        };
        out.push((k.trim().to_string(), v));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_dotenv() {
        let got = super::dotenv("# c\nA=1\nexport B=\"two words\"\nC='x' \nD=v # note\n");
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), "v".into())
            ]
        );
    }
}
