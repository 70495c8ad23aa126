//! Renders execution events: a live multi-line display on a terminal, plain lines for CI
//! logs, JSON lines for machines; then a summary table.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::exec::apply::{Report, Result_};
use crate::exec::events::Event;
use crate::plan::{Node, Plan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Live display on a terminal, plain otherwise
    Auto,
    Tty,
    Plain,
    Json,
}

struct Line {
    status: &'static str,
    step: String,
    started: Option<Instant>,
    finished: Option<Duration>,
}

pub struct Progress {
    mode: Mode,
    lines: BTreeMap<String, Line>,
    order: Vec<String>,
    drawn: usize,
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
        let order: Vec<String> = plan
            .order()
            .into_iter()
            .map(|n| plan.graph[n].id().to_string())
            .collect();
        let lines = order
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    Line {
                        status: "waiting",
                        step: String::new(),
                        started: None,
                        finished: None,
                    },
                )
            })
            .collect();
        Progress {
            mode,
            lines,
            order,
            drawn: 0,
            last_draw: Instant::now(),
            out: Box::new(std::io::stderr()),
        }
    }

    pub fn event(&mut self, e: &Event) {
        if self.mode == Mode::Json {
            let _ = writeln!(self.out, "{}", event_json(e));
            return;
        }
        let plain = self.mode == Mode::Plain;
        match e {
            Event::Started { node } => {
                if let Some(l) = self.lines.get_mut(node) {
                    l.status = "running";
                    l.started = Some(Instant::now());
                }
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
                if let Some(l) = self.lines.get_mut(node) {
                    l.step = format!("{}{name}", if *cached { "CACHED " } else { "" });
                }
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
                self.clear();
                let _ = writeln!(
                    self.out,
                    "[{node}] transient engine error, retrying once: {reason}"
                );
            }
            Event::Done { node, outcome } => {
                if let Some(l) = self.lines.get_mut(node) {
                    l.status = if outcome.up_to_date.is_some() {
                        "up to date"
                    } else {
                        "done"
                    };
                    l.finished = l.started.map(|s| s.elapsed());
                }
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
                if let Some(l) = self.lines.get_mut(node) {
                    l.status = "FAILED";
                    l.finished = l.started.map(|s| s.elapsed());
                }
                self.clear();
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
                if let Some(l) = self.lines.get_mut(node) {
                    l.status = "skipped";
                    l.step = reason.clone();
                }
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

    fn clear(&mut self) {
        if self.mode == Mode::Tty && self.drawn > 0 {
            let _ = write!(self.out, "\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    fn draw(&mut self) {
        self.clear();
        let width = 110;
        let mut n = 0;
        for id in &self.order {
            let l = &self.lines[id];
            let t = l
                .finished
                .or(l.started.map(|s| s.elapsed()))
                .map(|d| format!("{:>6.1}s", d.as_secs_f64()))
                .unwrap_or_else(|| "      ".into());
            let mut text = format!("{:<8} {t} {id}  {}", l.status, l.step);
            if text.chars().count() > width {
                text = text.chars().take(width - 1).collect::<String>() + "…";
            }
            let _ = writeln!(self.out, "{text}");
            n += 1;
        }
        self.drawn = n;
        self.last_draw = Instant::now();
        let _ = self.out.flush();
    }

    pub fn finish(&mut self) {
        if self.mode == Mode::Tty {
            self.draw();
            self.drawn = 0;
        }
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

fn short(d: &str) -> String {
    let hex = d.trim_start_matches("sha256:");
    format!("sha256:{}", &hex[..hex.len().min(12)])
}
