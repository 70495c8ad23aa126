//! Renders execution events: a live display on a terminal (`display.rs`), plain lines for CI
//! logs, JSON lines for machines; then a summary: the full table in plain mode and with
//! `--verbose`, otherwise counts, failures and the slowest nodes, which fit any plan's size.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::exec::apply::{Report, Result_};
use crate::exec::events::Event;
use crate::plan::{Node, Plan};

use super::display::{self, Board, Screen};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Live display on a terminal, plain otherwise
    Auto,
    Tty,
    Plain,
    Json,
}

pub struct Progress {
    mode: Mode,
    board: Board,
    screen: Screen,
    last_draw: Instant,
    out: Box<dyn Write + Send>,
}

impl Progress {
    pub fn new(mode: Mode, plan: &Plan) -> Progress {
        let mode = match mode {
            Mode::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => Mode::Tty,
            Mode::Auto => Mode::Plain,
            m => m,
        };
        let ids = plan
            .order()
            .into_iter()
            .map(|n| plan.graph[n].id().to_string());
        Progress {
            mode,
            board: Board::new(ids, Instant::now()),
            screen: Screen::default(),
            last_draw: Instant::now(),
            out: Box::new(std::io::stderr()),
        }
    }

    /// The mode in force (`auto` decided).
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn event(&mut self, e: &Event) {
        if self.mode == Mode::Json {
            let _ = writeln!(self.out, "{}", event_json(e));
            return;
        }
        self.board.apply(e, Instant::now());
        let plain = self.mode == Mode::Plain;
        match e {
            Event::Started { node } => {
                if plain {
                    let _ = writeln!(self.out, "[{node}] started");
                }
            }
            Event::Step {
                node,
                name,
                cached,
                done,
            } => {
                if plain && (!done || *cached) {
                    let _ = writeln!(
                        self.out,
                        "[{node}] {}{name}",
                        if *cached { "CACHED " } else { "" }
                    );
                }
            }
            Event::Log { node, line } => {
                if plain {
                    let _ = writeln!(self.out, "[{node}] | {line}");
                }
            }
            Event::Retry { node, reason } => {
                self.screen.clear(&mut self.out);
                let _ = writeln!(
                    self.out,
                    "[{node}] transient engine error, retrying once: {reason}"
                );
            }
            Event::Done { node, outcome } => {
                if plain && let Some(why) = &outcome.up_to_date {
                    let _ = writeln!(self.out, "[{node}] up to date: {why}");
                } else if plain {
                    let cached = outcome
                        .cached_percent()
                        .map(|c| format!(", {c}% cached"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        self.out,
                        "[{node}] done in {:.1}s{cached}",
                        outcome.duration.as_secs_f64()
                    );
                }
            }
            Event::Failed { node, error, logs } => {
                // The failure and its last log lines scroll above the live display, which
                // keeps only its first line.
                self.screen.clear(&mut self.out);
                let _ = writeln!(self.out, "[{node}] FAILED: {error}");
                for line in logs
                    .iter()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    let _ = writeln!(self.out, "[{node}] | {line}");
                }
            }
            Event::Skipped { node, reason } => {
                if plain {
                    let _ = writeln!(self.out, "[{node}] skipped: {reason}");
                }
            }
        }
        if self.mode == Mode::Tty && self.last_draw.elapsed() > Duration::from_millis(80) {
            self.draw();
        }
    }

    /// Redraws the live display (terminal mode).
    pub fn tick(&mut self) {
        if self.mode == Mode::Tty {
            self.draw();
        }
    }

    fn draw(&mut self) {
        // Read each time: the user may resize the terminal during a long run.
        let (width, height) = display::terminal_size();
        let frame = self.board.frame(Instant::now(), width, height);
        self.screen.draw(&mut self.out, &frame);
        self.last_draw = Instant::now();
    }

    /// Draws the last frame and leaves it on screen.
    pub fn finish(&mut self) {
        if self.mode == Mode::Tty {
            self.draw();
            self.screen.keep();
        }
    }

    /// How long the run has taken so far.
    pub fn elapsed(&self) -> Duration {
        self.board.elapsed(Instant::now())
    }
}

fn event_json(e: &Event) -> serde_json::Value {
    match e {
        Event::Started { node } => json!({ "event": "started", "node": node }),
        Event::Step {
            node,
            name,
            cached,
            done,
        } => json!({ "event": "step", "node": node, "name": name, "cached": cached, "done": done }),
        Event::Log { node, line } => json!({ "event": "log", "node": node, "line": line }),
        Event::Retry { node, reason } => {
            json!({ "event": "retry", "node": node, "reason": reason })
        }
        Event::Done { node, outcome } => json!({
            "event": "done", "node": node, "seconds": outcome.duration.as_secs_f64(),
            "digest": outcome.digest, "steps": outcome.steps, "cached_steps": outcome.cached_steps, "published": outcome.published,
            "up_to_date": outcome.up_to_date,
        }),
        Event::Failed { node, error, logs } => {
            json!({ "event": "failed", "node": node, "error": error, "logs": logs })
        }
        Event::Skipped { node, reason } => {
            json!({ "event": "skipped", "node": node, "reason": reason })
        }
    }
}

/// The table after a run: node, builder, platform, duration, cached %, digest.
pub fn summary(plan: &Plan, report: &Report) -> String {
    let mut rows = Vec::new();
    for n in plan.order() {
        let node = &plan.graph[n];
        let (builder, platform) = match node {
            Node::Build(b) => (
                b.builder.clone().unwrap_or_default(),
                b.platform.to_string(),
            ),
            Node::Load(l) => (
                l.builder.clone().unwrap_or_default(),
                l.platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Node::Push(p) => (
                String::new(),
                p.platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Node::Export(e) => (
                String::new(),
                e.platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        };
        let (status, duration, cached, digest) = match report.get(node.id()) {
            Some(Result_::Done(o)) => (
                if o.up_to_date.is_some() {
                    "up to date".to_string()
                } else {
                    "done".to_string()
                },
                format!("{:.1}s", o.duration.as_secs_f64()),
                o.cached_percent()
                    .map(|c| format!("{c}%"))
                    .unwrap_or_else(|| "-".into()),
                o.digest
                    .clone()
                    .map(|d| short(&d))
                    .unwrap_or_else(|| "-".into()),
            ),
            Some(Result_::Failed(_)) => ("FAILED".into(), "-".into(), "-".into(), "-".into()),
            Some(Result_::Skipped(r)) => {
                (format!("skipped ({r})"), "-".into(), "-".into(), "-".into())
            }
            None => ("?".into(), "-".into(), "-".into(), "-".into()),
        };
        // Where it ran, when it ran; the plan's preferred builder otherwise.
        let builder = match report.get(node.id()) {
            Some(Result_::Done(o)) => o.builder.clone().unwrap_or(builder),
            _ => builder,
        };
        rows.push(vec![
            node.id().to_string(),
            status,
            builder,
            platform,
            duration,
            cached,
            digest,
        ]);
    }
    super::table::render(
        &[
            "NODE", "STATUS", "BUILDER", "PLATFORM", "DURATION", "CACHED", "DIGEST",
        ],
        &rows,
    )
}

/// Nodes listed by name in the brief summary before the rest are counted.
const LISTED: usize = 8;

/// The summary on a terminal, whatever the plan's size: counts, the failed nodes and the
/// slowest nodes that ran. `total` is the plan's node count.
pub fn brief(total: usize, report: &Report, elapsed: Duration) -> String {
    let (mut done, mut fresh, mut skipped) = (0, 0, 0);
    let mut failed = Vec::new();
    let mut ran = Vec::new();
    for (id, r) in report {
        match r {
            Result_::Done(o) if o.up_to_date.is_some() => fresh += 1,
            Result_::Done(o) => {
                done += 1;
                ran.push((o.duration, id.as_str()));
            }
            Result_::Failed(_) => failed.push(id.as_str()),
            Result_::Skipped(_) => skipped += 1,
        }
    }
    let mut text = format!(
        "{total} nodes in {}: {done} done, {fresh} up to date, {} failed, {skipped} skipped\n",
        super::display::elapsed(elapsed),
        failed.len()
    );
    if !failed.is_empty() {
        text.push_str(&format!("failed: {}\n", listed(&failed)));
    }
    ran.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    if !ran.is_empty() {
        text.push_str("slowest:\n");
        for (d, id) in ran.iter().take(5) {
            text.push_str(&format!("  {:>7}  {id}\n", super::display::elapsed(*d)));
        }
    }
    text.push_str("every node: `rbake apply --verbose` or `--progress plain`\n");
    text
}

/// Names up to `LISTED` ids, then counts the rest.
fn listed(ids: &[&str]) -> String {
    let mut text = ids
        .iter()
        .take(LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED {
        text.push_str(&format!(" and {} more", ids.len() - LISTED));
    }
    text
}

fn short(d: &str) -> String {
    let hex = d.trim_start_matches("sha256:");
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::exec::apply::{Report, Result_};
    use crate::exec::events::Outcome;

    /// 128 nodes summarise in a few lines: counts, the failed nodes (eight named), the five
    /// slowest.
    #[test]
    fn the_brief_summary_does_not_grow_with_the_plan() {
        let mut report = Report::new();
        for i in 0..128u64 {
            let r = match i % 16 {
                0 => Result_::Failed("exit code: 2".into()),
                1 => Result_::Skipped("a dependency did not succeed".into()),
                2 => Result_::Done(Outcome {
                    up_to_date: Some("nothing changed".into()),
                    ..Outcome::default()
                }),
                _ => Result_::Done(Outcome {
                    duration: Duration::from_millis(100 * i),
                    ..Outcome::default()
                }),
            };
            report.insert(format!("build:s{i:03}:linux/amd64"), r);
        }
        let text = super::brief(128, &report, Duration::from_secs(125));
        assert_eq!(
            text,
            "128 nodes in 2m05s: 104 done, 8 up to date, 8 failed, 8 skipped
failed: build:s000:linux/amd64, build:s016:linux/amd64, build:s032:linux/amd64, build:s048:linux/amd64, build:s064:linux/amd64, build:s080:linux/amd64, build:s096:linux/amd64, build:s112:linux/amd64
slowest:
    12.7s  build:s127:linux/amd64
    12.6s  build:s126:linux/amd64
    12.5s  build:s125:linux/amd64
    12.4s  build:s124:linux/amd64
    12.3s  build:s123:linux/amd64
every node: `rbake apply --verbose` or `--progress plain`
"
        );
    }
}
