//! The live terminal display of `apply`: one overall line (done of total, running, failed,
//! elapsed), then the running nodes and the latest failures, never taller than the screen.
//!
//! `Board` is the state events update; `Board::frame` is a pure function of that state, a
//! moment and a screen size, so the display is tested without a terminal. `Screen` draws
//! frames over each other with two ANSI sequences (cursor up, clear below); no terminal
//! library is needed for that, and none was available offline when this was written.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::exec::events::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Done,
    UpToDate,
    Failed,
    Skipped,
}

struct Entry {
    id: String,
    status: Status,
    step: String,
    started: Option<Instant>,
}

/// What the display knows: every node in plan order and the order failures arrived in.
pub struct Board {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    failures: Vec<usize>,
    /// Failures without a node of the plan (an internal error), by message.
    other_failures: usize,
    start: Instant,
}

/// At most this many failures stay on screen; the newest are kept. The full errors are
/// printed above the display as they happen and again after the run.
const FAILURES_SHOWN: usize = 3;

impl Board {
    pub fn new(ids: impl IntoIterator<Item = String>, start: Instant) -> Board {
        let entries: Vec<Entry> = ids
            .into_iter()
            .map(|id| Entry {
                id,
                status: Status::Waiting,
                step: String::new(),
                started: None,
            })
            .collect();
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.clone(), i))
            .collect();
        Board {
            entries,
            index,
            failures: Vec::new(),
            other_failures: 0,
            start,
        }
    }

    pub fn apply(&mut self, e: &Event, now: Instant) {
        let node = match e {
            Event::Started { node }
            | Event::Step { node, .. }
            | Event::Log { node, .. }
            | Event::Retry { node, .. }
            | Event::Done { node, .. }
            | Event::Failed { node, .. }
            | Event::Skipped { node, .. } => node,
        };
        let Some(&i) = self.index.get(node) else {
            if matches!(e, Event::Failed { .. }) {
                self.other_failures += 1;
            }
            return;
        };
        let entry = &mut self.entries[i];
        match e {
            Event::Started { .. } => {
                entry.status = Status::Running;
                entry.started = Some(now);
            }
            Event::Step { name, cached, .. } => {
                entry.step = format!("{}{name}", if *cached { "CACHED " } else { "" });
            }
            Event::Log { .. } | Event::Retry { .. } => {}
            Event::Done { outcome, .. } => {
                entry.status = if outcome.up_to_date.is_some() {
                    Status::UpToDate
                } else {
                    Status::Done
                };
            }
            Event::Failed { error, .. } => {
                entry.status = Status::Failed;
                entry.step = error.lines().next().unwrap_or_default().to_string();
                self.failures.retain(|f| *f != i);
                self.failures.push(i);
            }
            Event::Skipped { .. } => entry.status = Status::Skipped,
        }
    }

    /// How long the run has taken at `now`.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now - self.start
    }

    fn count(&self, status: Status) -> usize {
        self.entries.iter().filter(|e| e.status == status).count()
    }

    /// The overall line: always the first of every frame.
    fn overall(&self, now: Instant) -> String {
        let finished = self
            .entries
            .iter()
            .filter(|e| matches!(e.status, Status::Done | Status::UpToDate))
            .count();
        let mut text = format!(
            "[{finished}/{}] {} running, {} failed",
            self.entries.len(),
            self.count(Status::Running),
            self.count(Status::Failed) + self.other_failures,
        );
        let skipped = self.count(Status::Skipped);
        if skipped > 0 {
            text.push_str(&format!(", {skipped} skipped"));
        }
        text.push_str(&format!(", {}", elapsed(now - self.start)));
        text
    }

    /// The display at `now` for a screen of `width` columns and `height` rows. It uses at
    /// most `height - 1` rows (the row under the display keeps the cursor, so drawing never
    /// scrolls the screen) and at most `width - 1` columns (a character in the last column
    /// makes some terminals wrap).
    pub fn frame(&self, now: Instant, width: usize, height: usize) -> Vec<String> {
        let rows = height.saturating_sub(1).max(1);
        let mut lines = vec![self.overall(now)];
        let failures: Vec<&Entry> = self
            .failures
            .iter()
            .rev()
            .take(FAILURES_SHOWN.min(rows.saturating_sub(1)))
            .map(|&i| &self.entries[i])
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let room = rows - 1 - failures.len();
        let running: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.status == Status::Running)
            .collect();
        // When the running nodes do not fit, the last row says how many are not shown.
        let shown = if running.len() > room {
            room.saturating_sub(1)
        } else {
            running.len()
        };
        for e in &running[..shown] {
            let t = e.started.map(|s| now - s).unwrap_or_default();
            let line = format!("  {:>7} {}  {}", elapsed(t), e.id, e.step);
            lines.push(line.trim_end().to_string());
        }
        if shown < running.len() && room > 0 {
            lines.push(format!("  … and {} more running", running.len() - shown));
        }
        for e in failures {
            let line = format!("  FAILED  {}  {}", e.id, e.step);
            lines.push(line.trim_end().to_string());
        }
        let columns = width.saturating_sub(1).max(1);
        lines.into_iter().map(|l| fit(l, columns)).collect()
    }
}

/// Cuts a line to `columns` terminal columns, marking the cut. Widths are the terminal's: a
/// CJK character or an emoji takes two columns, a combining mark none. A control character
/// (a tab, a carriage return, an escape in a step's name) would move the cursor, so it is
/// shown as a space.
fn fit(line: String, columns: usize) -> String {
    let line = if line.chars().any(char::is_control) {
        line.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    } else {
        line
    };
    if line.width() <= columns {
        return line;
    }
    // Keep what fits in one column less, for the `…`.
    let mut cut = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > columns - 1 {
            break;
        }
        used += w;
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// `4.2s`, `1m05s`, `1h02m`.
pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Draws frames over each other on a terminal.
#[derive(Default)]
pub struct Screen {
    drawn: usize,
}

impl Screen {
    /// Removes the last frame, so that other output (a failure's log) can be written in
    /// its place; the next `draw` puts the display under it.
    pub fn clear(&mut self, out: &mut dyn Write) {
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    pub fn draw(&mut self, out: &mut dyn Write, frame: &[String]) {
        self.clear(out);
        for line in frame {
            let _ = writeln!(out, "{line}");
        }
        self.drawn = frame.len();
        let _ = out.flush();
    }

    /// Leaves the last frame on screen: what follows is written under it.
    pub fn keep(&mut self) {
        self.drawn = 0;
    }
}

/// The terminal's size in columns and rows; 80x24 when it cannot be read.
pub fn terminal_size() -> (usize, usize) {
    terminal_size::terminal_size_of(std::io::stderr())
        .map(|(w, h)| (w.0 as usize, h.0 as usize))
        .filter(|(w, h)| *w > 0 && *h > 0)
        .unwrap_or((80, 24))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::events::Outcome;

    /// A virtual terminal of fixed size that understands what `Screen` writes: text,
    /// newlines, cursor up and clear below. It counts the rows scrolled off the top.
    struct Terminal {
        rows: Vec<String>,
        row: usize,
        width: usize,
        scrolled: usize,
    }

    impl Terminal {
        fn new(width: usize, height: usize) -> Terminal {
            Terminal {
                rows: vec![String::new(); height],
                row: 0,
                width,
                scrolled: 0,
            }
        }

        fn feed(&mut self, bytes: &[u8]) {
            let text = std::str::from_utf8(bytes).unwrap();
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\n' => self.newline(),
                    '\x1b' => {
                        assert_eq!(chars.next(), Some('['));
                        let mut n = String::new();
                        while let Some(d) = chars.next_if(char::is_ascii_digit) {
                            n.push(d);
                        }
                        match chars.next() {
                            Some('A') => self.row -= n.parse::<usize>().unwrap().min(self.row),
                            Some('J') => {
                                for r in &mut self.rows[self.row..] {
                                    r.clear();
                                }
                            }
                            other => panic!("unexpected sequence {other:?}"),
                        }
                    }
                    c => {
                        assert!(
                            self.rows[self.row].width() + c.width().unwrap_or(0) < self.width,
                            "a line wrapped: {}",
                            self.rows[self.row]
                        );
                        self.rows[self.row].push(c);
                    }
                }
            }
        }

        fn newline(&mut self) {
            if self.row + 1 == self.rows.len() {
                self.rows.remove(0);
                self.rows.push(String::new());
                self.scrolled += 1;
            } else {
                self.row += 1;
            }
        }
    }

    /// 32 services x 2 platforms, built then loaded: 128 nodes, four at a time, with a
    /// failure every ninth build.
    fn events() -> (Vec<String>, Vec<Event>) {
        let mut ids = Vec::new();
        for s in 0..32 {
            for p in ["linux/amd64", "linux/arm64"] {
                ids.push(format!("build:service-{s:02}:{p}"));
            }
        }
        let loads: Vec<String> = ids
            .iter()
            .map(|b| b.replacen("build:", "load:", 1))
            .collect();
        let mut events = Vec::new();
        let mut order = ids.clone();
        order.extend(loads.iter().cloned());
        for (k, chunk) in order.chunks(4).enumerate() {
            for id in chunk {
                events.push(Event::Started { node: id.clone() });
                events.push(Event::Step {
                    node: id.clone(),
                    name: format!("[2/3] RUN make {}", "x".repeat(150)),
                    cached: k % 2 == 0,
                    done: false,
                });
            }
            for (j, id) in chunk.iter().enumerate() {
                if (k * 4 + j) % 9 == 4 {
                    events.push(Event::Failed {
                        node: id.clone(),
                        error: "process \"/bin/sh -c make\" did not complete successfully: exit code: 2".into(),
                        logs: vec!["make: *** [all] Error 2".into()],
                    });
                } else {
                    events.push(Event::Done {
                        node: id.clone(),
                        outcome: Outcome::default(),
                    });
                }
            }
        }
        ids.extend(loads);
        (ids, events)
    }

    #[test]
    fn a_128_node_run_fits_a_40_by_120_terminal() {
        let (width, height) = (120, 40);
        let (ids, events) = events();
        assert_eq!(ids.len(), 128);
        let start = Instant::now();
        let mut board = Board::new(ids, start);
        let mut screen = Screen::default();
        let mut terminal = Terminal::new(width, height);
        for (i, e) in events.iter().enumerate() {
            let now = start + Duration::from_millis(700 * i as u64);
            board.apply(e, now);
            let frame = board.frame(now, width, height);
            assert!(frame.len() < height, "{} rows", frame.len());
            assert!(frame[0].starts_with('['), "no overall line: {frame:?}");
            let mut out = Vec::new();
            screen.draw(&mut out, &frame);
            terminal.feed(&out);
            assert_eq!(terminal.scrolled, 0, "the display scrolled the screen");
            assert_eq!(terminal.rows[0], frame[0]);
            assert!(terminal.rows.iter().filter(|r| !r.is_empty()).count() < height);
        }
        let last = board.frame(start + Duration::from_secs(200), width, height);
        assert_eq!(last[0], "[114/128] 0 running, 14 failed, 3m20s");
        assert_eq!(last.len(), 1 + FAILURES_SHOWN);
    }

    /// With more nodes running than rows, the last row counts the ones not shown.
    #[test]
    fn running_nodes_beyond_the_screen_are_counted() {
        let ids: Vec<String> = (0..50).map(|i| format!("build:t{i}:linux/amd64")).collect();
        let start = Instant::now();
        let mut board = Board::new(ids.clone(), start);
        for id in &ids {
            board.apply(&Event::Started { node: id.clone() }, start);
        }
        let frame = board.frame(start + Duration::from_secs(65), 60, 10);
        assert_eq!(frame.len(), 9);
        assert_eq!(frame[0], "[0/50] 50 running, 0 failed, 1m05s");
        assert_eq!(frame[8], "  … and 43 more running");
        assert_eq!(frame[1], "    1m05s build:t0:linux/amd64");
    }

    /// A screen of one row still shows the overall line, and nothing else.
    #[test]
    fn a_tiny_screen_shows_the_overall_line() {
        let board = Board::new(vec!["build:a:linux/amd64".to_string()], Instant::now());
        let now = Instant::now();
        assert_eq!(board.frame(now, 10, 1), vec!["[0/1] 0 …".to_string()]);
    }

    /// Wide names (CJK, emoji) are cut by terminal columns, not characters, so a line never
    /// reaches the last column; control characters in a step cannot move the cursor.
    #[test]
    fn wide_names_are_cut_by_columns() {
        let ids: Vec<String> = ["构建镜像服务", "🚀rocket-service", "e\u{301}cole"]
            .iter()
            .map(|n| format!("build:{}:linux/amd64", n.repeat(8)))
            .collect();
        let start = Instant::now();
        let mut board = Board::new(ids.clone(), start);
        for id in &ids {
            board.apply(&Event::Started { node: id.clone() }, start);
            board.apply(
                &Event::Step {
                    node: id.clone(),
                    name: "[1/2] RUN echo 日本語\tdone\r\x1b[2J".into(),
                    cached: false,
                    done: false,
                },
                start,
            );
        }
        for width in [20, 41, 80, 120] {
            let frame = board.frame(start, width, 10);
            for line in &frame {
                assert!(line.width() < width, "{} columns: {line}", line.width());
                assert!(!line.chars().any(char::is_control), "{line:?}");
            }
            let mut terminal = Terminal::new(width, 10);
            let mut out = Vec::new();
            Screen::default().draw(&mut out, &frame);
            terminal.feed(&out);
        }
        assert_eq!(fit("构建镜像".to_string(), 6), "构建…");
        assert_eq!(fit("构建镜像".to_string(), 5), "构建…");
        assert_eq!(fit("ab构建".to_string(), 6), "ab构建");
        assert_eq!(fit("e\u{301}cole".to_string(), 5), "e\u{301}cole");
        assert_eq!(fit("e\u{301}cole".to_string(), 4), "e\u{301}co…");
    }
}
