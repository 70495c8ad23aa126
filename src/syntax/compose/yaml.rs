//! YAML as compose-go sees it after decoding (parsed by saphyr-parser, resolved as yaml.v3
//! resolves it), and where its keys are in the text.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

use super::CODE;
use super::go::go_float;
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

/// Parses one compose file and applies what yaml.v3 and compose-go apply while decoding:
/// scalars resolved as yaml.v3 resolves them, anchors and aliases, `<<` merge keys, `!reset`
/// (drops the value) and `!override` (keeps it). A file holds one document; a repeated key
/// and a key that is not a string are refused, as compose-go refuses them. The parser
/// (saphyr-parser) gives every event its span, so the [`Locator`] returned knows where each key
/// was written.
pub(super) fn load(file: FileId, text: Arc<str>) -> Result<(Node, Tagged, Locator), Diag> {
    let mut loc = Locator {
        file,
        text: text.clone(),
        keys: HashMap::new(),
        scalars: Vec::new(),
    };
    let empty = |loc: &Locator| {
        Diag::error(CODE, "empty compose file")
            .label(loc.whole(), "in this file")
            .help("add a `services:` section with at least one service that has a `build:` section")
    };
    let Some(raw) = read(&text, &loc)? else {
        return Err(empty(&loc));
    };
    let mut convert = Convert {
        loc: &mut loc,
        tagged: Tagged::default(),
    };
    match convert.node(raw, &mut Vec::new(), true)? {
        None | Some(Node::Null) => Err(empty(&loc)),
        Some(node) => {
            let tagged = convert.tagged;
            Ok((node, tagged, loc))
        }
    }
}

/// The paths one file tags `!reset` (drop what earlier files set there) or `!override`
/// (replace it whole rather than merge), which matter when files are merged.
#[derive(Default)]
pub(super) struct Tagged {
    pub(super) reset: Vec<Vec<String>>,
    pub(super) replace: Vec<Vec<String>>,
}

/// How deep values may nest, counting what aliases bring in.
const MAX_DEPTH: usize = 128;

/// How many values aliases may copy in all, so that a few lines of nested aliases (a "billion
/// laughs") cannot make the file take all memory.
const MAX_ALIASED: usize = 200_000;

/// A YAML node as the parser gave it, before keys and scalars are resolved. Spans are byte
/// ranges in the file; an aliased node keeps the spans of its anchor.
#[derive(Clone)]
enum Raw {
    Scalar {
        text: String,
        style: ScalarStyle,
        tag: Option<Tag>,
        span: Range<usize>,
    },
    List {
        items: Vec<Raw>,
        tag: Option<Tag>,
        span: Range<usize>,
    },
    Map {
        entries: Vec<(Raw, Raw)>,
        tag: Option<Tag>,
        span: Range<usize>,
    },
}

impl Raw {
    fn span(&self) -> Range<usize> {
        match self {
            Raw::Scalar { span, .. } | Raw::List { span, .. } | Raw::Map { span, .. } => {
                span.clone()
            }
        }
    }

    fn tag(&self) -> Option<&Tag> {
        match self {
            Raw::Scalar { tag, .. } | Raw::List { tag, .. } | Raw::Map { tag, .. } => tag.as_ref(),
        }
    }

    /// A plain `<<` key (or one tagged `!!merge`): yaml.v3's merge key.
    fn is_merge(&self) -> bool {
        match self {
            Raw::Scalar {
                text, style, tag, ..
            } if text == "<<" => match tag {
                None => *style == ScalarStyle::Plain,
                Some(t) => t.is_yaml_core_schema() && t.suffix == "merge",
            },
            _ => false,
        }
    }
}

/// A collection being read: its items so far (a mapping's keys and values alternate), anchor,
/// tag, where it starts, how many nodes it holds and how deep it goes.
struct Open {
    map: bool,
    items: Vec<Raw>,
    anchor: usize,
    tag: Option<Tag>,
    start: usize,
    count: usize,
    depth: usize,
}

/// Reads the file's one document into a [`Raw`] tree, copying aliases; `None` when the file
/// holds no document.
fn read(text: &str, loc: &Locator) -> Result<Option<Raw>, Diag> {
    let offsets = Offsets::new(text);
    let mut parser = Parser::new_from_str(text).keep_tags(true);
    let mut open: Vec<Open> = Vec::new();
    // Each anchor's node, with its node count and depth.
    let mut anchors: HashMap<usize, (Raw, usize, usize)> = HashMap::new();
    let mut root = None;
    let mut documents = 0;
    let mut aliased = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            let at = offsets.byte(e.marker().index());
            Diag::error(CODE, format!("invalid YAML: {}", e.info()))
                .label(loc.at(at), "here")
                .help("fix the YAML syntax at the marked position")
        })?;
        let range = offsets.byte(span.start.index())..offsets.byte(span.end.index());
        let map = matches!(event, Event::MappingStart(..));
        let (node, anchor, count, depth) = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diag::error(
                        CODE,
                        "compose files with several YAML documents are not supported",
                    )
                    .label(loc.whole(), "in this file")
                    .help("keep one document per file (drop the extra `---` separators), or split it into several `-f` files"));
                }
                continue;
            }
            Event::Scalar(value, style, anchor, tag) => (
                Raw::Scalar {
                    text: value.into_owned(),
                    style,
                    tag: tag.map(|t| t.into_owned()),
                    span: range,
                },
                anchor,
                1,
                1,
            ),
            Event::Alias(id) => {
                let Some((node, count, depth)) = anchors.get(&id) else {
                    return Err(Diag::error(CODE, "invalid YAML: an alias names no anchor")
                        .label(Span::new(loc.file, range), "here")
                        .help("define the anchor (`&NAME`) before the alias (`*NAME`)"));
                };
                aliased += count;
                if aliased > MAX_ALIASED {
                    return Err(Diag::error(
                        CODE,
                        format!("invalid YAML: aliases copy more than {MAX_ALIASED} values"),
                    )
                    .label(Span::new(loc.file, range), "the limit is passed here")
                    .help("write the repeated values out, or alias smaller parts"));
                }
                (node.clone(), 0, *count, *depth)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                open.push(Open {
                    map,
                    items: Vec::new(),
                    anchor,
                    tag: tag.map(|t| t.into_owned()),
                    start: range.start,
                    count: 1,
                    depth: 1,
                });
                if open.len() > MAX_DEPTH {
                    return Err(too_deep(loc, range));
                }
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(done) = open.pop() else {
                    continue;
                };
                let span = done.start..range.end.max(done.start);
                let node = if done.map {
                    let mut items = done.items.into_iter();
                    let mut entries = Vec::new();
                    while let Some(key) = items.next() {
                        let value = items.next().unwrap_or_else(|| Raw::Scalar {
                            text: String::new(),
                            style: ScalarStyle::Plain,
                            tag: None,
                            span: span.end..span.end,
                        });
                        entries.push((key, value));
                    }
                    Raw::Map {
                        entries,
                        tag: done.tag,
                        span,
                    }
                } else {
                    Raw::List {
                        items: done.items,
                        tag: done.tag,
                        span,
                    }
                };
                (node, done.anchor, done.count, done.depth)
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
        };
        if open.len() + depth > MAX_DEPTH {
            return Err(too_deep(loc, node.span()));
        }
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), count, depth));
        }
        match open.last_mut() {
            Some(parent) => {
                parent.items.push(node);
                parent.count += count;
                parent.depth = parent.depth.max(depth + 1);
            }
            None => root = Some(node),
        }
    }
    Ok(root)
}

fn too_deep(loc: &Locator, range: Range<usize>) -> Diag {
    Diag::error(
        CODE,
        format!("invalid YAML: values nest more than {MAX_DEPTH} levels deep"),
    )
    .label(Span::new(loc.file, range), "too deep here")
    .help("a compose file needs only a few levels; check the indentation and brackets")
}

/// Byte offsets of the parser's character positions.
struct Offsets {
    len: usize,
    /// The byte offset of each character, for text that is not all ASCII.
    chars: Option<Vec<usize>>,
}

impl Offsets {
    fn new(text: &str) -> Offsets {
        Offsets {
            len: text.len(),
            chars: (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect()),
        }
    }

    fn byte(&self, index: usize) -> usize {
        match &self.chars {
            None => index.min(self.len),
            Some(chars) => chars.get(index).copied().unwrap_or(self.len),
        }
    }
}

/// Turns [`Raw`] nodes into [`Node`]s, recording keys' spans and `!reset`/`!override` tags.
struct Convert<'l> {
    loc: &'l mut Locator,
    tagged: Tagged,
}

impl Convert<'_> {
    /// The node at `path` (keys only: a list adds nothing to it); `None` for a `!reset` value.
    /// `keyed` while the path goes through mappings only, whose keys the locator records.
    fn node(
        &mut self,
        raw: Raw,
        path: &mut Vec<String>,
        keyed: bool,
    ) -> Result<Option<Node>, Diag> {
        if let Some(tag) = raw.tag().filter(|t| t.handle == "!") {
            if tag.suffix == "reset" {
                self.tagged.reset.push(path.clone());
                return Ok(None);
            }
            if tag.suffix == "override" {
                self.tagged.replace.push(path.clone());
            }
        }
        Ok(Some(match raw {
            Raw::Scalar {
                text,
                style,
                tag,
                span,
            } => {
                self.loc.scalars.push((path.clone(), span));
                scalar(text, style, tag.as_ref())
            }
            Raw::List { items, .. } => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.node(item, path, false)?);
                }
                Node::List(out)
            }
            Raw::Map { entries, .. } => {
                let mut out = Vec::new();
                for (key, span, value) in self.entries(entries)? {
                    path.push(key);
                    if keyed {
                        self.loc.keys.entry(path.join(SEP)).or_insert(span);
                    }
                    let value = self.node(value, path, keyed)?;
                    let key = path.pop().unwrap_or_default();
                    out.extend(value.map(|v| (key, v)));
                }
                Node::Map(out)
            }
        }))
    }

    /// A mapping's entries with string keys, its `<<` merges applied as yaml.v3 applies them:
    /// the merged entries stand where `<<` was, a key written in the mapping wins over a merged
    /// one, and of several merged mappings the first to set a key wins.
    fn entries(&self, pairs: Vec<(Raw, Raw)>) -> Result<Vec<(String, Range<usize>, Raw)>, Diag> {
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut written = Vec::new();
        let mut merges = Vec::new();
        for (key, value) in pairs {
            let merge = key.is_merge();
            let (name, span) = if merge {
                ("<<".to_string(), key.span())
            } else {
                self.key(key)?
            };
            if let Some(first) = seen.get(&name) {
                return Err(Diag::error(
                    CODE,
                    format!("invalid YAML: mapping key `{name}` is written twice"),
                )
                .label(Span::new(self.loc.file, span), "written again here")
                .label(Span::new(self.loc.file, first.clone()), "first here")
                .help("remove one of the two (compose refuses a mapping that repeats a key)"));
            }
            seen.insert(name.clone(), span.clone());
            if merge {
                merges.push((written.len(), value));
            } else {
                written.push((name, span, value));
            }
        }
        if merges.is_empty() {
            return Ok(written);
        }
        let mut taken: HashSet<String> = written.iter().map(|(k, _, _)| k.clone()).collect();
        let mut out = Vec::new();
        let mut written = written.into_iter().enumerate().peekable();
        for (at, value) in merges {
            while let Some((_, entry)) = written.next_if(|(i, _)| *i < at) {
                out.push(entry);
            }
            for entry in self.merged(value)? {
                if taken.insert(entry.0.clone()) {
                    out.push(entry);
                }
            }
        }
        out.extend(written.map(|(_, entry)| entry));
        Ok(out)
    }

    /// The entries a `<<` value brings: a mapping's, or those of a list of mappings.
    fn merged(&self, value: Raw) -> Result<Vec<(String, Range<usize>, Raw)>, Diag> {
        let wrong = |span: Range<usize>| {
            Diag::error(
                CODE,
                "invalid YAML: a `<<` merge takes a mapping or a list of mappings",
            )
            .label(Span::new(self.loc.file, span), "not a mapping")
            .help("merge an anchored mapping (`<<: *base`) or a list of them (`<<: [*a, *b]`)")
        };
        match value {
            Raw::Map { entries, .. } => self.entries(entries),
            Raw::List { items, .. } => {
                let mut taken = HashSet::new();
                let mut out = Vec::new();
                for item in items {
                    let Raw::Map { entries, .. } = item else {
                        return Err(wrong(item.span()));
                    };
                    for entry in self.entries(entries)? {
                        if taken.insert(entry.0.clone()) {
                            out.push(entry);
                        }
                    }
                }
                Ok(out)
            }
            other => Err(wrong(other.span())),
        }
    }

    /// A key's text; compose accepts only string keys.
    fn key(&self, key: Raw) -> Result<(String, Range<usize>), Diag> {
        let span = key.span();
        if let Raw::Scalar {
            text, style, tag, ..
        } = key
            && let Node::Str(s) = scalar(text, style, tag.as_ref())
        {
            return Ok((s, span));
        }
        let written = self.loc.text[span.clone()].trim();
        let written = if written.is_empty() { "null" } else { written };
        Err(
            Diag::error(CODE, format!("non-string key `{written}` in compose file"))
                .label(Span::new(self.loc.file, span), "this key")
                .help("quote the key to make it a string"),
        )
    }
}

/// A scalar as yaml.v3 decodes it into an `interface{}`: quoted or `!!str` scalars are strings,
/// plain ones are resolved.
fn scalar(text: String, style: ScalarStyle, tag: Option<&Tag>) -> Node {
    let core = tag.filter(|t| t.is_yaml_core_schema());
    if core.is_some_and(|t| t.suffix == "str") || (style != ScalarStyle::Plain && core.is_none()) {
        return Node::Str(text);
    }
    plain(text)
}

/// yaml.v3's `resolve` for a plain scalar: null, booleans (YAML 1.2: only `true`/`false` in
/// three casings), Go's `ParseInt`/`ParseUint` with base prefixes and underscores dropped
/// (so `0755` is octal, as in yaml.v3), floats of YAML's form, `.inf` and `.nan`. Timestamps
/// stay strings, as yaml.v3 leaves them when decoding into an `interface{}`.
fn plain(text: String) -> Node {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return Node::Str(text);
    }
    let digits = text.replace('_', "");
    if let Some(int) = go_int(&digits) {
        return Node::Int(int);
    }
    if FLOAT.is_match(&digits)
        && let Ok(f) = digits.parse::<f64>()
        && f.is_finite()
    {
        return Node::Float(f);
    }
    Node::Str(text)
}

/// YAML's float form, as yaml.v3 matches it before calling Go's `ParseFloat`.
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
        .expect("the float pattern is valid")
});

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: an optional sign, a base
/// prefix (`0x`, `0o`, `0b`, or a leading `0` for octal) and digits, within 64 bits.
fn go_int(s: &str) -> Option<i128> {
    let (negative, signed, rest) = match s.as_bytes().first()? {
        b'-' => (true, true, &s[1..]),
        b'+' => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let lower = rest.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &rest[2..]),
        Some("0o") => (8, &rest[2..]),
        Some("0b") => (2, &rest[2..]),
        _ if rest.len() > 1 && rest.starts_with('0') => (8, &rest[1..]),
        _ => (10, rest),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = i128::try_from(u128::from_str_radix(digits, radix).ok()?).ok()?;
    let value = if negative { -value } else { value };
    let fits = if signed {
        i64::try_from(value).is_ok()
    } else {
        u64::try_from(value).is_ok()
    };
    fits.then_some(value)
}

// ---------------------------------------------------------------------------------------------
// Spans: where the parser saw each key.

/// Separates the keys of a path in [`Locator`]'s table (a key holding it could only make a
/// span less precise).
const SEP: &str = "\u{0}";

/// Where one file's keys and scalars are written.
#[derive(Clone)]
pub(super) struct Locator {
    file: FileId,
    text: Arc<str>,
    /// The span of each key reached through mappings only, by its path joined with [`SEP`].
    keys: HashMap<String, Range<usize>>,
    /// Every scalar value in document order, with the keys above it.
    scalars: Vec<(Vec<String>, Range<usize>)>,
}

impl Locator {
    pub(super) fn file(&self) -> FileId {
        self.file
    }

    pub(super) fn whole(&self) -> Span {
        Span::new(self.file, 0..self.text.len())
    }

    /// The character at byte `at`, or the last one written when `at` is past it.
    fn at(&self, at: usize) -> Span {
        let last = self.text.trim_end().len();
        let at = if at >= last {
            self.text[..last]
                .char_indices()
                .next_back()
                .map_or(0, |(i, _)| i)
        } else {
            at
        };
        let next = self.text[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8());
        Span::new(self.file, at..next)
    }

    /// The key at `path`, or the nearest ancestor found, or the whole file.
    pub(super) fn key(&self, path: &[&str]) -> Span {
        self.key_depth(path).1
    }

    /// The first `needle` written in a scalar under the key at `path` (a list item, say), or the
    /// key itself when it is not there.
    pub(super) fn item(&self, path: &[&str], needle: &str) -> Span {
        if !needle.is_empty() {
            for (keys, range) in &self.scalars {
                let under = keys.len() >= path.len() && keys.iter().zip(path).all(|(k, p)| k == p);
                if let Some(at) = under
                    .then(|| self.text[range.clone()].find(needle))
                    .flatten()
                {
                    let start = range.start + at;
                    return Span::new(self.file, start..start + needle.len());
                }
            }
        }
        self.key(path)
    }

    /// [`Locator::key`], with how many of the path's keys were found.
    fn key_depth(&self, path: &[&str]) -> (usize, Span) {
        (1..=path.len())
            .rev()
            .find_map(|depth| {
                let range = self.keys.get(&path[..depth].join(SEP))?;
                Some((depth, Span::new(self.file, range.clone())))
            })
            .unwrap_or_else(|| (0, self.whole()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Node, Tagged, Locator), Diag> {
        load(FileId(0), text.into())
    }

    fn node(text: &str) -> Node {
        parse(text)
            .unwrap_or_else(|d| panic!("{text:?}: {}", d.message))
            .0
    }

    /// The error's message and the text its first label points at.
    fn error(text: &str) -> (String, String) {
        let d = parse(text).err().expect("an error");
        let at = d.primary().expect("a label").range();
        (d.message, text[at].to_string())
    }

    /// Each value of `v: X` as [`Node::text`] gives it (`None` for null and collections).
    fn text_of(value: &str) -> Option<String> {
        node(&format!("v: {value}\n")).get("v").and_then(Node::text)
    }

    #[test]
    fn scalars_resolve_as_yaml_v3_decodes_them() {
        for (value, want) in [
            ("true", Some("true")),
            ("False", Some("false")),
            // YAML 1.1 booleans are strings when decoded into an interface{}.
            ("yes", Some("yes")),
            ("off", Some("off")),
            ("'true'", Some("true")),
            ("12", Some("12")),
            ("+12", Some("12")),
            ("-0x1F", Some("-31")),
            ("0o17", Some("15")),
            // yaml.v3 keeps YAML 1.1's octal spelling.
            ("0755", Some("493")),
            ("0b101", Some("5")),
            ("1_000", Some("1000")),
            ("18446744073709551615", Some("18446744073709551615")),
            ("1.50", Some("1.5")),
            ("1e6", Some("1e+06")),
            (".5", Some("0.5")),
            ("08", Some("8")),
            ("'0755'", Some("0755")),
            ("!!str 12", Some("12")),
            ("2001-12-14", Some("2001-12-14")),
            ("0x", Some("0x")),
            ("1.2.3", Some("1.2.3")),
            ("~", None),
            ("null", None),
        ] {
            assert_eq!(text_of(value).as_deref(), want, "{value}");
        }
        assert_eq!(
            node("v: .inf\n").get("v"),
            Some(&Node::Float(f64::INFINITY))
        );
        assert_eq!(node("v: 12\n").get("v"), Some(&Node::Int(12)));
        assert_eq!(node("v: '12'\n").get("v"), Some(&Node::Str("12".into())));
        assert_eq!(node("v:\n").get("v"), Some(&Node::Null));
    }

    #[test]
    fn merge_keys_follow_yaml_v3() {
        let text = "x-a: &a\n  image: a\n  build: a\nx-b: &b\n  build: b\n  shm: b\ns:\n  <<: [*a, *b]\n  build: mine\n  after: 1\n";
        let n = node(text);
        let s = n.get("s").unwrap();
        // Merged keys stand where `<<` was; the mapping's own key wins, then the first source.
        let Node::Map(entries) = s else {
            panic!("{s:?}")
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["image", "shm", "build", "after"]);
        assert_eq!(s.get("build").and_then(Node::as_str), Some("mine"));
        assert_eq!(s.get("shm").and_then(Node::as_str), Some("b"));
        // A merged key is found where it is written: in the anchor.
        let (_, _, loc) = parse(text).unwrap();
        assert_eq!(loc.key(&["s", "image"]).range(), 10..15);
        assert_eq!(
            loc.key(&["s", "build"]).range(),
            text.find("build: mine").unwrap()..text.find(": mine").unwrap()
        );
        // Merges nest, and aliases copy whole values.
        let n = node("b: &b {x: 1}\nc: &c {<<: *b, y: 2}\nd:\n  <<: *c\n  z: [*b]\n");
        let d = n.get("d").unwrap();
        assert_eq!(d.get("x"), Some(&Node::Int(1)));
        assert_eq!(d.get("y"), Some(&Node::Int(2)));
        // A quoted `<<` is an ordinary key.
        assert_eq!(
            node("a: {'<<': 1}\n").get("a").unwrap().get("<<"),
            Some(&Node::Int(1))
        );
        let (msg, at) = error("a: &a 1\nb:\n  <<: *a\n");
        assert!(msg.contains("`<<` merge takes a mapping"), "{msg}");
        // The aliased value keeps its anchor's span.
        assert_eq!(at, "&a 1");
    }

    #[test]
    fn refused_as_compose_go_refuses_them() {
        assert_eq!(
            error("a: 1\nb:\n  c: 1\n  \"c\": 2\n"),
            (
                "invalid YAML: mapping key `c` is written twice".to_string(),
                "\"c\"".to_string()
            )
        );
        assert_eq!(
            error("services:\n  1: x\n"),
            (
                "non-string key `1` in compose file".to_string(),
                "1".to_string()
            )
        );
        assert_eq!(
            error("a: 1\n---\nb: 2\n").0,
            "compose files with several YAML documents are not supported"
        );
        assert_eq!(error("# nothing\n").0, "empty compose file");
        assert_eq!(error("!reset a\n").0, "empty compose file");
        // A "billion laughs" stops at the alias budget instead of filling memory.
        let mut laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 0..9 {
            let prev = (b'a' + i) as char;
            let next = (b'b' + i) as char;
            laughs.push_str(&format!("{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(error(&laughs).0.contains("aliases copy more than"));
        let deep = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        assert!(error(&deep).0.starts_with("invalid YAML"));
        let mut chain = "a0: &a0 [[[[[[[[[[1]]]]]]]]]]\n".to_string();
        for i in 1..20 {
            chain.push_str(&format!("a{i}: &a{i} [[[[[[[[[[*a{}]]]]]]]]]]\n", i - 1));
        }
        assert!(error(&chain).0.contains("nest more than"));
    }

    #[test]
    fn keys_are_found_in_any_style() {
        let text = "services:\n  'web': {build: {context: ., \"args\": {A: 1}}}\n  # a comment with build:\n  api:\n    build:   .\n";
        let (_, _, loc) = parse(text).unwrap();
        let at = |path: &[&str]| &text[loc.key(path).range()];
        assert_eq!(at(&["services", "web"]), "'web'");
        assert_eq!(at(&["services", "web", "build", "args"]), "\"args\"");
        assert_eq!(at(&["services", "web", "build", "args", "B"]), "\"args\"");
        assert_eq!(at(&["services", "api", "build"]), "build");
        assert_eq!(loc.key(&["nothing"]), loc.whole());
        let text = "include:\n  - a.yml\n  - path: \"ä/b.yml\"\n";
        let (_, _, loc) = parse(text).unwrap();
        assert_eq!(&text[loc.item(&["include"], "ä/b.yml").range()], "ä/b.yml");
        assert_eq!(&text[loc.item(&["include"], "zz").range()], "include");
    }

    #[test]
    fn reset_and_override_tags_are_recorded() {
        let (n, tagged, _) =
            parse("s:\n  a: !reset [1]\n  b: !override {x: 1}\n  c: [!reset 1, 2]\n").unwrap();
        let s = n.get("s").unwrap();
        assert_eq!(s.get("a"), None);
        assert_eq!(s.get("b").unwrap().get("x"), Some(&Node::Int(1)));
        assert_eq!(s.get("c"), Some(&Node::List(vec![Node::Int(2)])));
        assert_eq!(tagged.reset, [vec!["s", "a"], vec!["s", "c"]]);
        assert_eq!(tagged.replace, [vec!["s", "b"]]);
    }
}
