//! `.dockerignore` matching, as the docker CLI does it: Go `filepath.Match` patterns on
//! cleaned, slash-separated relative paths, `**` for any number of directories, `!` for
//! exceptions, the last matching pattern wins, and a directory's exclusion covers its
//! contents.

use regex::Regex;

pub struct Ignore {
    rules: Vec<(Regex, bool)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = crate::base::clean_path(pat.trim_start_matches('/'));
            if let Some(re) = to_regex(&pat) {
                rules.push((re, negate));
            }
        }
        Ignore { rules }
    }

    /// Whether `path` (relative, slash-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let mut excluded = false;
        for (re, negate) in &self.rules {
            // A pattern matching a parent directory matches everything under it.
            let hit = re.is_match(path) || parents(path).any(|p| re.is_match(p));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some exception could re-include something under an excluded directory, in
    /// which case the walk must still descend into it.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|(_, n)| *n)
    }
}

fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(move |(i, _)| &path[..i])
}

fn to_regex(pat: &str) -> Option<Regex> {
    let mut re = String::from("^");
    let chars: Vec<char> = pat.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                    re.push_str("(.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut j = i + 1;
                let mut class = String::from("[");
                if chars.get(j) == Some(&'^') || chars.get(j) == Some(&'!') {
                    class.push('^');
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' || chars[j] == '[' {
                        class.push('\\');
                    }
                    class.push(chars[j]);
                    j += 1;
                }
                class.push(']');
                re.push_str(&class);
                i = j;
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_docker() {
        let ig = Ignore::parse("# comment\nnode_modules\n*.log\n!keep.log\n**/secret\ndocs/\n");
        assert!(ig.excluded("node_modules/x/y.js"));
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(ig.excluded("a/b/secret"));
        assert!(ig.excluded("docs/readme.md"));
        assert!(!ig.excluded("src/main.rs"));
        assert!(!ig.excluded("sub/a.log"));
    }
}
