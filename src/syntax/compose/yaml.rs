//! YAML as compose-go sees it after decoding, and where its keys are in the text.

use std::sync::Arc;

use serde_yaml::Value as Yaml;

use super::CODE;
use super::go::go_float;
use super::interpolate::POSITION;
use crate::source::{Diag, FileId, Span};

/// A YAML value with string keys, in file order.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Map(m) => m.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as Go's `fmt.Sprint` writes it, which is how compose turns numbers and booleans
    /// in string maps (`args: { N: 1 }`) into strings.
    pub(super) fn text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(go_float(*f)),
            Node::Bool(b) => Some(b.to_string()),
            Node::Null | Node::List(_) | Node::Map(_) => None,
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// Parses the YAML and applies what yaml.v3 and compose-go apply while decoding: `<<` merge keys,
/// `!reset` (drops the value) and `!override` (keeps it).
pub(super) fn load(text: &str, loc: &Locator) -> Result<(Node, Tagged), Diag> {
    let yaml_error = |e: serde_yaml::Error| {
        let msg = e.to_string();
        if msg.contains("more than one document") {
            return Diag::error(CODE, "compose files with several YAML documents are not supported")
                .label(loc.whole(), "in this file")
                .help("keep one document per file (drop the extra `---` separators), or split it into several `-f` files");
        }
        // The label shows where; the positions in the message would only repeat it.
        let msg = POSITION.replace_all(&msg, "");
        let span = e
            .location()
            .map_or(loc.whole(), |l| loc.line_col(l.line(), l.column()));
        Diag::error(CODE, format!("invalid YAML: {msg}"))
            .label(span, "here")
            .help("fix the YAML syntax at the marked position")
    };
    let mut value: Yaml = serde_yaml::from_str(text).map_err(yaml_error)?;
    value.apply_merge().map_err(yaml_error)?;
    let mut path = Vec::new();
    let mut tagged = Tagged::default();
    match to_node(value, &mut path, &mut tagged) {
        Ok(Some(Node::Null) | None) => Err(Diag::error(CODE, "empty compose file")
            .label(loc.whole(), "in this file")
            .help(
                "add a `services:` section with at least one service that has a `build:` section",
            )),
        Ok(Some(node)) => Ok((node, tagged)),
        Err(key) => Err(
            Diag::error(CODE, format!("non-string key `{key}` in compose file"))
                .label(
                    loc.key(&path.iter().map(String::as_str).collect::<Vec<_>>()),
                    "under this key",
                )
                .help("quote the key to make it a string"),
        ),
    }
}

/// The paths one file tags `!reset` (drop what earlier files set there) or `!override`
/// (replace it whole rather than merge), which matter when files are merged.
#[derive(Default)]
pub(super) struct Tagged {
    pub(super) reset: Vec<Vec<String>>,
    pub(super) replace: Vec<Vec<String>>,
}

/// Converts to a [`Node`]; `None` for a `!reset` value. Fails with the text of a key that is not
/// a string (compose rejects those), leaving `path` at its parent.
pub(super) fn to_node(
    v: Yaml,
    path: &mut Vec<String>,
    tagged: &mut Tagged,
) -> Result<Option<Node>, String> {
    Ok(Some(match v {
        Yaml::Null => Node::Null,
        Yaml::Bool(b) => Node::Bool(b),
        Yaml::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Node::Int(i.into()),
            (None, Some(u)) => Node::Int(u.into()),
            _ => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Yaml::String(s) => Node::Str(s),
        Yaml::Sequence(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(to_node(item, path, tagged)?);
            }
            Node::List(out)
        }
        Yaml::Mapping(m) => {
            let mut out = Vec::new();
            for (k, v) in m {
                let Yaml::String(key) = k else {
                    return Err(serde_yaml::to_string(&k)
                        .unwrap_or_default()
                        .trim()
                        .to_string());
                };
                path.push(key.clone());
                if let Some(v) = to_node(v, path, tagged)? {
                    out.push((key, v));
                }
                path.pop();
            }
            Node::Map(out)
        }
        Yaml::Tagged(t) => {
            if t.tag == "reset" {
                tagged.reset.push(path.clone());
                return Ok(None);
            }
            if t.tag == "override" {
                tagged.replace.push(path.clone());
            }
            return to_node(t.value, path, tagged);
        }
    }))
}

// ---------------------------------------------------------------------------------------------
// Spans: serde_yaml keeps no positions, so keys are found again in the text.

#[derive(Clone)]
pub(super) struct Locator {
    file: FileId,
    text: Arc<str>,
    /// Byte range of each line, without its line break.
    lines: Vec<(usize, usize)>,
}

impl Locator {
    pub(super) fn new(file: FileId, text: Arc<str>) -> Locator {
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let content = line.trim_end_matches(['\n', '\r']);
            lines.push((start, start + content.len()));
            start += line.len();
        }
        Locator { file, text, lines }
    }

    pub(super) fn file(&self) -> FileId {
        self.file
    }

    pub(super) fn whole(&self) -> Span {
        Span::new(self.file, 0..self.text.len())
    }

    /// The character at a 1-based line and column, as parsers report them.
    pub(super) fn line_col(&self, line: usize, col: usize) -> Span {
        let Some(&(start, end)) = self.lines.get(line.saturating_sub(1)) else {
            // Past the last line: the input ended early, so point at its last character.
            let last = self.text.trim_end();
            let at = last.char_indices().next_back().map_or(0, |(i, _)| i);
            return Span::new(self.file, at..last.len());
        };
        let at = self.text[start..end]
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(end, |(i, _)| start + i);
        let next = self.text[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8());
        Span::new(self.file, at..next)
    }

    /// The key at `path` in block-style YAML, or the nearest ancestor found, or the whole file.
    pub(super) fn key(&self, path: &[&str]) -> Span {
        self.key_depth(path).1
    }

    /// The first `needle` written in the value of the key at `path` (a list item, say), or the
    /// key itself when it is not there.
    pub(super) fn item(&self, path: &[&str], needle: &str) -> Span {
        let key = self.key(path);
        let start = key.range().end;
        let Some(line) = self
            .lines
            .iter()
            .position(|&(s, e)| s <= start && start <= e)
        else {
            return key;
        };
        let indent = self.indent(line);
        let end = (line + 1..self.lines.len())
            .find(|&l| !self.blank(l) && self.indent(l) <= indent)
            .map_or(self.text.len(), |l| self.lines[l].0);
        match self.text[start..end].find(needle) {
            Some(at) if !needle.is_empty() => {
                Span::new(self.file, start + at..start + at + needle.len())
            }
            _ => key,
        }
    }

    /// [`Locator::key`], with how many of the path's keys were found.
    fn key_depth(&self, path: &[&str]) -> (usize, Span) {
        let mut region = 0..self.lines.len();
        let mut found = None;
        let mut depth = 0;
        for key in path {
            let Some((line, span)) = self.child(region.clone(), key) else {
                break;
            };
            found = Some(span);
            depth += 1;
            let indent = self.indent(line);
            let end = (line + 1..region.end)
                .find(|&l| !self.blank(l) && self.indent(l) <= indent)
                .unwrap_or(region.end);
            region = line + 1..end;
        }
        (depth, found.unwrap_or_else(|| self.whole()))
    }

    /// A direct child key of a region: a line at the region's smallest indentation.
    pub(super) fn child(&self, region: std::ops::Range<usize>, key: &str) -> Option<(usize, Span)> {
        let min = region
            .clone()
            .filter(|&l| !self.blank(l))
            .map(|l| self.indent(l))
            .min()?;
        region
            .filter(|&l| !self.blank(l) && self.indent(l) == min)
            .find_map(|l| {
                let (start, end) = self.lines[l];
                let content = &self.text[start + min..end];
                [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                    .into_iter()
                    .find_map(|k| {
                        let after = content.strip_prefix(k.as_str())?.trim_start_matches(' ');
                        let value = after.strip_prefix(':')?;
                        (value.is_empty() || value.starts_with([' ', '\t']))
                            .then(|| (l, Span::new(self.file, start + min..start + min + k.len())))
                    })
            })
    }

    pub(super) fn indent(&self, line: usize) -> usize {
        let (start, end) = self.lines[line];
        self.text[start..end].len() - self.text[start..end].trim_start_matches(' ').len()
    }

    pub(super) fn blank(&self, line: usize) -> bool {
        let (start, end) = self.lines[line];
        let t = self.text[start..end].trim();
        t.is_empty() || t.starts_with('#')
    }
}

/// Where a key of the merged document was written: every file that went into it, each
/// perhaps under another service name (a service that `extends` another finds the keys it
/// inherited under the base service's name, maybe in another file).
#[derive(Clone)]
pub(super) struct Spans {
    files: Vec<(Locator, Option<(String, String)>)>,
}

impl Spans {
    pub(super) fn one(loc: Locator) -> Spans {
        Spans {
            files: vec![(loc, None)],
        }
    }

    /// Adds a file; with `alias` `(service, base)`, keys of `services.service` are looked for
    /// under `services.base` in it.
    pub(super) fn add(&mut self, loc: Locator, alias: Option<(String, String)>) {
        self.files.push((loc, alias));
    }

    pub(super) fn whole(&self) -> Span {
        self.files[0].0.whole()
    }

    /// The key at `path` in the file that holds most of it (the later file on a tie, as later
    /// files override earlier ones).
    pub(super) fn key(&self, path: &[&str]) -> Span {
        let mut best = (0, self.whole());
        for (loc, alias) in &self.files {
            let (depth, span) = match alias {
                Some((service, base)) if path.len() >= 2 && path[0] == "services" => {
                    if path[1] != service {
                        continue;
                    }
                    let mut renamed = path.to_vec();
                    renamed[1] = base;
                    loc.key_depth(&renamed)
                }
                Some(_) => continue,
                None => loc.key_depth(path),
            };
            if depth > 0 && depth >= best.0 {
                best = (depth, span);
            }
        }
        best.1
    }
}
