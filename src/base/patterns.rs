//! Path patterns as BuildKit's file sync applies them (moby/patternmatcher, which buildx
//! 0.13 and BuildKit use for `.dockerignore` excludes and for include patterns), and the
//! `.dockerignore` reader of the Dockerfile frontend.
//!
//! Semantics worth knowing:
//! - a pattern is trimmed and cleaned like Go's `filepath.Clean`; a leading `!` makes it an
//!   exception; a lone `!` and a pattern that Go's `filepath.Match` finds malformed (an
//!   unclosed `[`, a trailing `\`, `[]`) are errors, as the engine reports them;
//! - `*` and `?` never cross `/`; `**` crosses any number of directories;
//! - the last pattern that matches a path (or one of its parent directories) decides.

use regex::Regex;

use super::clean_path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    pub message: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.pattern, self.message)
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Exact,
    /// `dir/**`: everything starting with the part before `**`.
    Prefix(String),
    /// `**/name` (or `**name`): everything ending with the part after `**`.
    Suffix(String),
    Regex(Regex),
}

#[derive(Clone, Debug)]
pub struct Pattern {
    /// Cleaned, without the `!`.
    pub text: String,
    pub exclusion: bool,
    kind: Kind,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }

    /// The pattern without a trailing `/**` or `/*` (fsutil's prefix optimisation).
    pub fn without_trailing_glob(&self) -> &str {
        let t = self.text.as_str();
        let t = t.strip_suffix("/**").unwrap_or(t);
        t.strip_suffix("/*").unwrap_or(t)
    }
}

/// An ordered list of patterns; later patterns override earlier ones.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    pub patterns: Vec<Pattern>,
    pub exclusions: bool,
}

/// Per-pattern results for a directory, passed to its children
/// ([`Matcher::matches_with_parent`]).
#[derive(Clone, Debug, Default)]
pub struct MatchInfo(Vec<bool>);

impl Matcher {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, PatternError> {
        let mut m = Matcher::default();
        for raw in patterns {
            let raw = raw.as_ref();
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let p = clean_path(p);
            let (exclusion, p) = match p.strip_prefix('!') {
                Some("") => {
                    return Err(PatternError {
                        pattern: raw.to_string(),
                        message: "illegal exclusion pattern: \"!\"".into(),
                    });
                }
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            validate(&p).map_err(|message| PatternError {
                pattern: raw.to_string(),
                message,
            })?;
            let kind = compile(&p).map_err(|message| PatternError {
                pattern: raw.to_string(),
                message,
            })?;
            m.exclusions |= exclusion;
            m.patterns.push(Pattern {
                text: p,
                exclusion,
                kind,
            });
        }
        Ok(m)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative, slash-separated, cleaned) matches, counting a match of any
    /// parent directory as a match of the path.
    pub fn matches_or_parent_matches(&self, path: &str) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(path);
            if !hit {
                hit = parents(path).any(|parent| p.matches(parent));
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// The same answer as [`Matcher::matches_or_parent_matches`], reusing the parent
    /// directory's per-pattern results during a walk; the returned info is for children.
    pub fn matches_with_parent(&self, path: &str, parent: Option<&MatchInfo>) -> (bool, MatchInfo) {
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = parent.is_some_and(|m| m.0.get(i).copied().unwrap_or(false));
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = p.matches(path);
                if !hit && parent.is_none() {
                    hit = parents(path).any(|parent| p.matches(parent));
                }
            }
            info[i] = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        (matched, MatchInfo(info))
    }
}

/// `a/b/c` → `a`, `a/b`.
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Go's `filepath.Match` syntax check: character classes must be closed and well formed,
/// and a `\` must escape something.
fn validate(p: &str) -> Result<(), String> {
    let chars: Vec<char> = p.chars().collect();
    let bad = |what: &str| Err(format!("syntax error in pattern: {what}"));
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return bad("a trailing `\\` escapes nothing");
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if chars.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    // One class item: a character (escaped or not), then optionally `-hi`.
                    let esc = |i: &mut usize| -> Result<(), ()> {
                        match chars.get(*i) {
                            None | Some('-') | Some(']') => return Err(()),
                            Some('\\') => {
                                *i += 1;
                                if *i >= chars.len() {
                                    return Err(());
                                }
                            }
                            _ => {}
                        }
                        *i += 1;
                        if *i >= chars.len() {
                            return Err(());
                        }
                        Ok(())
                    };
                    if esc(&mut i).is_err() {
                        return bad("a `[` class is empty, unclosed or has a bad range");
                    }
                    if chars.get(i) == Some(&'-') {
                        i += 1;
                        if esc(&mut i).is_err() {
                            return bad("a `[` class is empty, unclosed or has a bad range");
                        }
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn compile(p: &str) -> Result<Kind, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut re = String::from("^");
    #[derive(PartialEq)]
    enum T {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut ty = T::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c == '*' {
            if chars.get(i) == Some(&'*') {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if ty == T::Exact {
                        ty = T::Prefix;
                    } else {
                        re.push_str(".*");
                        ty = T::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    ty = T::Regex;
                }
                if first {
                    ty = T::Suffix;
                }
            } else {
                re.push_str("[^/]*");
                ty = T::Regex;
            }
        } else if c == '?' {
            re.push_str("[^/]");
            ty = T::Regex;
        } else if ".+()|{}$".contains(c) {
            re.push('\\');
            re.push(c);
        } else if c == '\\' {
            if i < chars.len() {
                re.push('\\');
                re.push(chars[i]);
                i += 1;
                ty = T::Regex;
            } else {
                re.push('\\');
            }
        } else if c == '[' || c == ']' {
            re.push(c);
            ty = T::Regex;
        } else {
            re.push(c);
        }
        first = false;
    }
    Ok(match ty {
        T::Exact => Kind::Exact,
        T::Prefix => Kind::Prefix(p[..p.len() - 2].to_string()),
        T::Suffix => Kind::Suffix(p[2..].to_string()),
        T::Regex => {
            re.push('$');
            Kind::Regex(Regex::new(&re).map_err(|e| format!("syntax error in pattern: {e}"))?)
        }
    })
}

/// One pattern line of a `.dockerignore`, as the Dockerfile frontend reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoreLine {
    /// 1-based.
    pub line: usize,
    /// Byte range of the line's text in the file.
    pub start: usize,
    pub end: usize,
    pub pattern: String,
}

/// Reads a `.dockerignore` the way the engine's reader does: a UTF-8 BOM at the start is
/// dropped, lines starting with `#` are comments, each line is trimmed, `\r\n` ends a line
/// like `\n`, a pattern is cleaned (`/` first is dropped) and `!` is kept in front. Bytes that
/// are not UTF-8 are kept as U+FFFD, so a pattern holding them matches no file name.
pub fn read_ignore(data: &[u8]) -> Vec<IgnoreLine> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (n, raw) in data.split(|b| *b == b'\n').enumerate() {
        let line_start = offset;
        offset += raw.len() + 1;
        let mut bytes = raw;
        let mut start = line_start;
        if n == 0 && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bytes = &bytes[3..];
            start += 3;
        }
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = String::from_utf8_lossy(bytes);
        if text.starts_with('#') {
            continue;
        }
        let mut pattern = text.trim().to_string();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim().to_string();
        }
        if !pattern.is_empty() {
            pattern = clean_path(&pattern);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
        }
        if invert {
            pattern.insert(0, '!');
        }
        out.push(IgnoreLine {
            line: n + 1,
            start,
            end: start + bytes.len(),
            pattern,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &[&str]) -> Matcher {
        Matcher::new(p).unwrap()
    }

    #[test]
    fn matches_like_patternmatcher() {
        let ig = m(&["node_modules", "*.log", "!keep.log", "**/secret", "docs/"]);
        assert!(ig.matches_or_parent_matches("node_modules/x/y.js"));
        assert!(ig.matches_or_parent_matches("a.log"));
        assert!(!ig.matches_or_parent_matches("keep.log"));
        assert!(ig.matches_or_parent_matches("a/b/secret"));
        assert!(ig.matches_or_parent_matches("secret"));
        assert!(!ig.matches_or_parent_matches("notsecret"));
        assert!(ig.matches_or_parent_matches("docs/readme.md"));
        assert!(!ig.matches_or_parent_matches("src/main.rs"));
        assert!(!ig.matches_or_parent_matches("sub/a.log"));
        let all = m(&["**"]);
        assert!(all.matches_or_parent_matches("a/b"));
        let pre = m(&["dir/**"]);
        assert!(pre.matches_or_parent_matches("dir/x/y"));
        assert!(!pre.matches_or_parent_matches("dirx"));
        let mid = m(&["a/**/z"]);
        assert!(mid.matches_or_parent_matches("a/z"));
        assert!(mid.matches_or_parent_matches("a/b/c/z"));
        assert!(!mid.matches_or_parent_matches("b/z"));
        let class = m(&["f[0-9].txt", "g?"]);
        assert!(class.matches_or_parent_matches("f1.txt"));
        assert!(!class.matches_or_parent_matches("fa.txt"));
        assert!(class.matches_or_parent_matches("gx"));
        assert!(!class.matches_or_parent_matches("g/"));
    }

    #[test]
    fn exceptions_reinclude_under_excluded_directories() {
        let ig = m(&["dir", "!dir/keep"]);
        assert!(ig.matches_or_parent_matches("dir/other"));
        assert!(!ig.matches_or_parent_matches("dir/keep"));
        // The walk's parent-results form agrees.
        let (d, info) = ig.matches_with_parent("dir", None);
        assert!(d);
        assert!(!ig.matches_with_parent("dir/keep", Some(&info)).0);
        assert!(ig.matches_with_parent("dir/other", Some(&info)).0);
    }

    #[test]
    fn malformed_patterns_are_errors_as_in_go() {
        for bad in ["[", "a[", "x\\", "[]", "[a-]", "!", "[-a]", "a[b"] {
            assert!(Matcher::new(&[bad]).is_err(), "{bad} should be refused");
        }
        for good in ["[a]", "[^a]", "\\*", "a]", "[a-c]x", "[\\]]"] {
            assert!(Matcher::new(&[good]).is_ok(), "{good} should be accepted");
        }
    }

    #[test]
    fn reads_dockerignore_like_the_frontend() {
        let text =
            b"\xEF\xBB\xBFsecret.txt\r\n# comment\n  /abs/./x/  \n! keep \n\n!\nbad\xffname\n";
        let lines = read_ignore(text);
        let pats: Vec<&str> = lines.iter().map(|l| l.pattern.as_str()).collect();
        assert_eq!(
            pats,
            vec!["secret.txt", "abs/x", "!keep", "!", "bad\u{fffd}name"]
        );
        assert_eq!(lines[0].line, 1);
        assert_eq!(&text[lines[0].start..lines[0].end], b"secret.txt");
        assert_eq!(lines[2].line, 4);
        // The BOM does not stop the first pattern from matching.
        let mm = m(&[lines[0].pattern.as_str()]);
        assert!(mm.matches_or_parent_matches("secret.txt"));
    }
}
