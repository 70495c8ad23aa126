//! `rbake print`: the resolved definition in the shape `docker buildx bake --print` (0.13)
//! prints: top-level `group` and `target`, attributes in bake's order, empty ones omitted.

use serde_json::{Map, Value as J};

use crate::model::{AttrValue, Definition, Target};
use crate::spec::attrs::TARGET_ATTRS;

pub fn to_json(def: &Definition) -> J {
    let mut root = Map::new();
    if !def.groups.is_empty() {
        let mut groups = Map::new();
        for (name, g) in &def.groups {
            let mut o = Map::new();
            // Newer bake prints a group's description; 0.13 has none to print, so this
            // changes no 0.13 output. A target's description stays unprinted, as 0.13 does.
            if let Some(d) = &g.description {
                o.insert("description".into(), J::String(d.clone()));
            }
            o.insert(
                "targets".into(),
                J::Array(
                    g.targets
                        .iter()
                        .map(|t| J::String(t.value.clone()))
                        .collect(),
                ),
            );
            groups.insert(name.clone(), J::Object(o));
        }
        root.insert("group".into(), J::Object(groups));
    }
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();
    let mut targets = Map::new();
    for name in names {
        targets.insert(name.clone(), target(&def.targets[name]));
    }
    root.insert("target".into(), J::Object(targets));
    J::Object(root)
}

pub fn target(t: &Target) -> J {
    let mut o = Map::new();
    for (i, attr) in t.attrs.iter() {
        let def = &TARGET_ATTRS[i];
        if !def.printed {
            continue;
        }
        let v = match &attr.value {
            AttrValue::Str(s) => J::String(s.clone()),
            AttrValue::Bool(b) => J::Bool(*b),
            AttrValue::List(items) if items.is_empty() => continue,
            AttrValue::List(items) => {
                J::Array(items.iter().map(|i| J::String(i.value.clone())).collect())
            }
            AttrValue::Map(m) => {
                let entries: Map<String, J> = m
                    .iter()
                    .filter_map(|(k, v)| {
                        v.as_ref().map(|v| (k.clone(), J::String(v.value.clone())))
                    })
                    .collect();
                if entries.is_empty() {
                    continue;
                }
                J::Object(entries)
            }
        };
        o.insert(def.key.into(), v);
    }
    J::Object(o)
}

/// Pretty JSON with two-space indent, as bake prints it (Go escapes `<`, `>` and `&`).
///
/// Written straight into one string: building the [`to_json`] tree first, printing it and
/// then replacing the three characters took a sixth of `print` on large specs and held four
/// copies of the output at once (docs/benchmarks.md). The tests check that both give the
/// same bytes.
pub fn render(def: &Definition) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and the writer emits only UTF-8.
    let _ = write(def, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`render`], streamed to `sink` (with the final newline `print` adds): the output is
/// never held whole, which on a 5000-target file is 13 MB less at the peak.
pub fn write(def: &Definition, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut w = Pretty::new(sink);
    w.open('{');
    if !def.groups.is_empty() {
        w.key("group");
        w.open('{');
        for (name, g) in &def.groups {
            w.key(name);
            w.open('{');
            if let Some(d) = &g.description {
                w.key("description");
                w.string(d);
            }
            w.key("targets");
            w.open('[');
            for t in &g.targets {
                w.item();
                w.string(&t.value);
            }
            w.close(']');
            w.close('}');
        }
        w.close('}');
    }
    let mut names: Vec<&String> = def.targets.keys().collect();
    names.sort();
    w.key("target");
    w.open('{');
    if !crate::base::worth_two_threads(names.len()) {
        write_targets(&mut w, def, &names)?;
    } else {
        // The second half is rendered on another thread while this one writes the first.
        let (first, second) = names.split_at(names.len() / 2);
        let rest = std::thread::scope(|s| {
            let other = s.spawn(|| {
                // Kept in the writer's chunks: one growing buffer would copy itself (and
                // hold twice its size) at every doubling.
                let mut chunks = Chunks::default();
                let mut part = Pretty::new(&mut chunks);
                // Inside the root object and the `target` object, after a member.
                part.empty = vec![false, false];
                write_targets(&mut part, def, second)?;
                part.flush_all()?;
                drop(part);
                Ok::<_, std::io::Error>(chunks.0)
            });
            let mine = write_targets(&mut w, def, first);
            let theirs = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            mine.and(theirs)
        })?;
        w.flush_all()?;
        for chunk in rest {
            w.sink.write_all(&chunk)?;
        }
    }
    w.close('}');
    w.close('}');
    w.finish()
}

/// Output kept as the pieces it was written in.
#[derive(Default)]
struct Chunks(Vec<Vec<u8>>);

impl std::io::Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Each named target as a member of the `target` object, flushed as the buffer fills.
fn write_targets(w: &mut Pretty, def: &Definition, names: &[&String]) -> std::io::Result<()> {
    for name in names {
        w.key(name);
        write_target(w, &def.targets[*name]);
        w.flush_some()?;
    }
    Ok(())
}

/// [`target`], written.
fn write_target(w: &mut Pretty, t: &Target) {
    w.open('{');
    for (i, attr) in t.attrs.iter() {
        let def = &TARGET_ATTRS[i];
        if !def.printed {
            continue;
        }
        match &attr.value {
            AttrValue::Str(s) => {
                w.key(def.key);
                w.string(s);
            }
            AttrValue::Bool(b) => {
                w.key(def.key);
                w.out.push_str(if *b { "true" } else { "false" });
            }
            AttrValue::List(items) if items.is_empty() => {}
            AttrValue::List(items) => {
                w.key(def.key);
                w.open('[');
                for item in items {
                    w.item();
                    w.string(&item.value);
                }
                w.close(']');
            }
            AttrValue::Map(m) => {
                if m.values().all(Option::is_none) {
                    continue;
                }
                w.key(def.key);
                w.open('{');
                for (k, v) in m {
                    if let Some(v) = v {
                        w.key(k);
                        w.string(&v.value);
                    }
                }
                w.close('}');
            }
        }
    }
    w.close('}');
}

/// serde_json's pretty printer (two spaces, `": "`, empty collections as `{}`/`[]`), with
/// Go's escaping of `<`, `>` and `&` added.
struct Pretty<'a> {
    out: String,
    sink: &'a mut dyn std::io::Write,
    /// One entry per open collection: whether it has no member yet.
    empty: Vec<bool>,
}

/// How much output is buffered before it goes to the sink.
const CHUNK: usize = 64 << 10;

impl<'a> Pretty<'a> {
    fn new(sink: &'a mut dyn std::io::Write) -> Pretty<'a> {
        Pretty {
            out: String::with_capacity(2 * CHUNK),
            sink,
            empty: Vec::new(),
        }
    }

    fn flush_some(&mut self) -> std::io::Result<()> {
        if self.out.len() >= CHUNK {
            self.sink.write_all(self.out.as_bytes())?;
            self.out.clear();
        }
        Ok(())
    }

    fn flush_all(&mut self) -> std::io::Result<()> {
        self.sink.write_all(self.out.as_bytes())?;
        self.out.clear();
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.out.push('\n');
        self.sink.write_all(self.out.as_bytes())?;
        self.sink.flush()
    }

    fn open(&mut self, c: char) {
        self.out.push(c);
        self.empty.push(true);
    }

    fn close(&mut self, c: char) {
        if !self.empty.pop().unwrap_or(true) {
            self.out.push('\n');
            self.indent();
        }
        self.out.push(c);
    }

    fn indent(&mut self) {
        for _ in 0..self.empty.len() {
            self.out.push_str("  ");
        }
    }

    /// Starts the next member of the innermost collection.
    fn item(&mut self) {
        let first = self.empty.last_mut().map(|e| std::mem::replace(e, false));
        self.out
            .push_str(if first == Some(false) { ",\n" } else { "\n" });
        self.indent();
    }

    fn key(&mut self, k: &str) {
        self.item();
        self.string(k);
        self.out.push_str(": ");
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        let bytes = s.as_bytes();
        let mut start = 0;
        let mut i = 0;
        // Most text needs no escape: look at it a word at a time, and byte by byte only in
        // a word that may hold something to escape.
        while i < bytes.len() {
            let end = (i + 8).min(bytes.len());
            let word = match bytes.get(i..i + 8) {
                Some(w) => u64::from_le_bytes(w.try_into().unwrap_or_default()),
                None => {
                    let mut w = [b'a'; 8];
                    w[..end - i].copy_from_slice(&bytes[i..end]);
                    u64::from_le_bytes(w)
                }
            };
            if !needs_look(word) {
                i = end;
                continue;
            }
            while i < end {
                let (esc, len) = escape_at(bytes, i);
                if len > 0 {
                    self.out.push_str(&s[start..i]);
                    self.out.push_str(esc);
                    i += len;
                    start = i;
                } else {
                    i += 1;
                }
            }
        }
        self.out.push_str(&s[start..]);
        self.out.push('"');
    }
}

/// The escape Go's JSON encoder writes for the character at `bytes[i]`, and the length of
/// what it replaces; `("", 0)` when it is written as is.
fn escape_at(bytes: &[u8], i: usize) -> (&'static str, usize) {
    const CONTROL: [&str; 32] = [
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011",
        "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019",
        "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    ];
    match bytes[i] {
        b if b < 0x20 => (CONTROL[usize::from(b)], 1),
        b'"' => ("\\\"", 1),
        b'\\' => ("\\\\", 1),
        b'<' => ("\\u003c", 1),
        b'>' => ("\\u003e", 1),
        b'&' => ("\\u0026", 1),
        // The line and paragraph separators U+2028 and U+2029 (E2 80 A8 / E2 80 A9),
        // which JavaScript reads as line ends.
        0xe2 => match bytes.get(i + 1..i + 3) {
            Some([0x80, 0xa8]) => ("\\u2028", 3),
            Some([0x80, 0xa9]) => ("\\u2029", 3),
            _ => ("", 0),
        },
        _ => ("", 0),
    }
}

/// Whether any of the 8 bytes in `w` may need escaping in a JSON string as Go writes it: a
/// control byte, `"`, `\\`, `<`, `>`, `&`, or 0xE2 (which starts U+2028 and U+2029).
/// Word-at-a-time tests; a false positive only costs a look at each byte.
fn needs_look(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero: the classic "has zero byte" test.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let is = |b: u8| zero(w ^ (ONES * u64::from(b)));
    // Bytes below 0x20 (and, harmlessly, some bytes >= 0x80: they get a look and pass).
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (control | is(b'"') | is(b'\\') | is(b'<') | is(b'>') | is(b'&') | is(0xe2)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attr, Group, Item};
    use crate::source::{FileId, Span};
    use crate::spec::attrs;

    /// The output before streaming: serde_json's pretty printer over [`to_json`], then
    /// Go's three escapes.
    fn through_serde(def: &Definition) -> String {
        let s = serde_json::to_string_pretty(&to_json(def)).unwrap_or_default();
        s.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    }

    /// No byte that needs escaping slips past the word-at-a-time test, at any position.
    #[test]
    fn every_escaped_byte_is_seen_in_a_word() {
        for b in 0..=255u8 {
            let must = b < 0x20 || b"\"\\<>&\xe2".contains(&b);
            for at in 0..8 {
                let mut word = *b"abcdefgh";
                word[at] = b;
                if must {
                    assert!(needs_look(u64::from_le_bytes(word)), "{b:#x} at {at}");
                }
            }
        }
        assert!(!needs_look(u64::from_le_bytes(*b"plain-ok")));
    }

    /// Escapes land right wherever they sit in long runs of plain text.
    #[test]
    fn escapes_inside_long_strings() {
        let mut def = Definition::default();
        let span = Span::new(FileId(0), 0..0);
        let mut t = Target::new("t", span);
        let specials = [
            "\"", "\\", "<", ">", "&", "\n", "\u{1}", "\u{2028}", "\u{2029}", "€", "\u{2027}", "é",
        ];
        let mut tags = Vec::new();
        for (n, sp) in specials.iter().enumerate() {
            for pad in 0..17 {
                let text = format!("{}{sp}{}", "x".repeat(pad), "y".repeat(n + pad % 5));
                tags.push(item(&text));
            }
        }
        set(&mut t, "tags", AttrValue::List(tags));
        def.targets.insert("t".into(), t);
        check(&def);
    }

    fn check(def: &Definition) {
        assert_eq!(render(def), through_serde(def) + "\n");
    }

    fn item(s: &str) -> Item {
        Item {
            value: s.into(),
            span: Span::new(FileId(0), 0..0),
        }
    }

    fn set(t: &mut Target, key: &str, value: AttrValue) {
        let def = attrs::target_attr(key).expect("known attribute");
        t.set_def(
            def,
            Some(Attr {
                value,
                span: t.span,
            }),
        );
    }

    #[test]
    fn empty_definition() {
        check(&Definition::default());
    }

    #[test]
    fn matches_serde_with_escapes_and_empty_members() {
        let mut def = Definition::default();
        let span = Span::new(FileId(0), 0..0);
        let weird = "q\"b\\s<a>&\u{1}\u{1f}\n\r\t\u{8}\u{c}é€\u{2028}\u{2029}";
        def.groups.insert(
            "default".into(),
            Group {
                name: "default".into(),
                span,
                targets: vec![item("b"), item(weird)],
                description: Some(weird.into()),
            },
        );
        def.groups.insert(
            "none".into(),
            Group {
                name: "none".into(),
                span,
                targets: vec![],
                description: None,
            },
        );
        let mut t = Target::new("b", span);
        set(&mut t, "context", AttrValue::Str(weird.into()));
        set(&mut t, "tags", AttrValue::List(vec![item("x<y"), item("")]));
        set(&mut t, "platforms", AttrValue::List(vec![]));
        set(&mut t, "no-cache", AttrValue::Bool(true));
        set(&mut t, "pull", AttrValue::Bool(false));
        let mut args = std::collections::BTreeMap::new();
        args.insert("A&B".to_string(), Some(item(weird)));
        args.insert("NONE".to_string(), None);
        set(&mut t, "args", AttrValue::Map(args));
        let mut only_null = std::collections::BTreeMap::new();
        only_null.insert("X".to_string(), None);
        set(&mut t, "labels", AttrValue::Map(only_null));
        def.targets.insert("b".into(), t);
        def.targets.insert("a".into(), Target::new("a", span));
        check(&def);
    }

    /// Large definitions render their second half on another thread; the bytes are the same.
    #[test]
    fn large_definitions_match_serde_too() {
        let mut def = Definition::default();
        let span = Span::new(FileId(0), 0..0);
        for i in (0..519).rev() {
            let name = format!("t{i:04}");
            let mut t = Target::new(name.clone(), span);
            set(
                &mut t,
                "tags",
                AttrValue::List(vec![item(&format!("r/{name}:1"))]),
            );
            if i % 3 == 0 {
                let mut args = std::collections::BTreeMap::new();
                args.insert("N".to_string(), Some(item(&i.to_string())));
                set(&mut t, "args", AttrValue::Map(args));
            }
            def.targets.insert(name, t);
        }
        def.targets
            .insert("empty".into(), Target::new("empty", span));
        check(&def);
    }
}
