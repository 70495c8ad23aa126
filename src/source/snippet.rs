//! The text miette shows for one report. Two things differ from handing miette the whole
//! source: a very long line (a one-line generated `docker-bake.json`, thousands of names on
//! the command line) is cut to a window around the labels on it, since miette pads carets
//! with `{:width$}` and panics past column 65,535; and the `[file:line:col]` header counts
//! columns in characters, as the labels' own `(line:col)` do, where miette counts bytes.

use std::collections::HashMap;
use std::ops::Range;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Lines longer than this (in bytes) are windowed.
const LONG_LINE: usize = 400;
/// Characters kept either side of the labels on a windowed line.
const CONTEXT: usize = 60;
/// Characters kept of a windowed line at most.
const WINDOW: usize = 240;
const ELLIPSIS: &str = "…";

/// A piece of the original text kept verbatim, at `view` in the snippet text.
struct Segment {
    orig: Range<usize>,
    view: usize,
}

pub(crate) struct Snippet {
    name: String,
    text: String,
    segments: Vec<Segment>,
    /// Zero-based (line, column in characters) of the original position of a label start,
    /// by its offset in the snippet: what the header shows.
    pins: HashMap<usize, (usize, usize)>,
}

impl Snippet {
    /// The snippet of `text` for labels at `labels` (byte ranges in `text`).
    pub(crate) fn new(name: String, text: &str, labels: &[Range<usize>]) -> Snippet {
        let mut out = Snippet {
            name,
            text: String::with_capacity(text.len().min(1 << 20)),
            segments: Vec::new(),
            pins: HashMap::new(),
        };
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            let start = at;
            at += line.len();
            let body = line.strip_suffix('\n').unwrap_or(line);
            if body.len() <= LONG_LINE {
                out.keep(start..at, text);
                continue;
            }
            let end = start + body.len();
            let (lo, hi) = labels
                .iter()
                .filter(|l| l.start <= end && l.end >= start)
                .fold(None, |acc: Option<(usize, usize)>, l| {
                    let (s, e) = (l.start.max(start), l.end.min(end).max(l.start.max(start)));
                    Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
                })
                .unwrap_or((start, start));
            let from = back(text, lo, CONTEXT, start);
            let to = forward(text, hi, CONTEXT, end).min(forward(text, from, WINDOW, end));
            if from > start {
                out.text.push_str(ELLIPSIS);
            }
            out.keep(from..to, text);
            if to < end {
                out.text.push_str(ELLIPSIS);
            }
            if end < at {
                out.keep(end..at, text);
            }
        }
        out
    }

    fn keep(&mut self, orig: Range<usize>, text: &str) {
        self.segments.push(Segment {
            orig: orig.clone(),
            view: self.text.len(),
        });
        self.text.push_str(&text[orig]);
    }

    /// Where an original byte offset is in the snippet; offsets cut away land on the nearest
    /// kept character.
    pub(crate) fn map(&self, offset: usize) -> usize {
        let i = self.segments.partition_point(|s| s.orig.start <= offset);
        if i == 0 {
            return 0;
        }
        let s = &self.segments[i - 1];
        s.view + (offset.min(s.orig.end) - s.orig.start)
    }

    /// Maps a label's range into the snippet.
    pub(crate) fn map_range(&self, r: Range<usize>) -> Range<usize> {
        let start = self.map(r.start);
        start..self.map(r.end).max(start)
    }

    /// Makes the header show `(line, column)` (one-based) for a label starting at `view`.
    pub(crate) fn pin(&mut self, view: usize, line: usize, column: usize) {
        self.pins
            .entry(view)
            .or_insert((line.saturating_sub(1), column.saturating_sub(1)));
    }
}

/// The offset `n` characters before `from`, not before `floor`.
fn back(text: &str, from: usize, n: usize, floor: usize) -> usize {
    text[floor..from]
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(floor, |(i, _)| floor + i)
}

/// The offset `n` characters after `from`, not after `ceil`.
fn forward(text: &str, from: usize, n: usize, ceil: usize) -> usize {
    text[from..ceil]
        .char_indices()
        .nth(n)
        .map_or(ceil, |(i, _)| from + i)
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        let (line, column) = match (before, after) {
            (0, 0) => self
                .pins
                .get(&span.offset())
                .copied()
                .unwrap_or((inner.line(), inner.column())),
            _ => (inner.line(), inner.column()),
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        let s = Snippet::new("f".into(), "a\nbc\n", std::slice::from_ref(&(3..4)));
        assert_eq!(s.text, "a\nbc\n");
        assert_eq!(s.map(3), 3);
    }

    #[test]
    fn a_long_line_is_windowed_around_its_label() {
        let line = format!("{}X{}", "é".repeat(70_000), "y".repeat(1000));
        let text = format!("first\n{line}\nlast\n");
        let x = text.find('X').unwrap();
        let s = Snippet::new("f".into(), &text, std::slice::from_ref(&(x..x + 1)));
        assert!(s.text.len() < 1000, "{}", s.text.len());
        assert!(s.text.starts_with("first\n…é"));
        assert!(s.text.ends_with("y…\nlast\n"));
        let at = s.map(x);
        assert_eq!(&s.text[at..at + 1], "X");
        assert_eq!(s.map_range(x..x + 1), at..at + 1);
    }
}
