//! What execution reports while it runs. The report layer renders these; exec never prints.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A node started (after waiting for its dependencies and a slot on its builder).
    Started {
        node: String,
    },
    /// BuildKit started or finished a step of a build.
    Step {
        node: String,
        name: String,
        cached: bool,
        done: bool,
    },
    /// A line of output from a running step.
    Log {
        node: String,
        line: String,
    },
    /// A transient engine error; the node is tried once more.
    Retry {
        node: String,
        reason: String,
    },
    Done {
        node: String,
        outcome: Outcome,
    },
    Failed {
        node: String,
        error: String,
        logs: Vec<String>,
    },
    /// Not run: a dependency failed, or the run was cancelled.
    Skipped {
        node: String,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Outcome {
    pub duration: Duration,
    /// Image digest (builds: the image id; pushes: the index digest).
    pub digest: Option<String>,
    /// What the metadata file records beside the digest (boxed: most outcomes have none).
    pub recorded: Box<Recorded>,
    pub steps: usize,
    pub cached_steps: usize,
    /// Tags written (pushes, loads) or files written (exports).
    pub published: Vec<String>,
    /// Set when nothing had to run: why the node is up to date.
    pub up_to_date: Option<String>,
    /// The builder a build ran on (or whose engine kept its result).
    pub builder: Option<String>,
    /// A push by digest only (a shard's): each platform's manifest as pushed.
    pub manifests: Vec<Pushed>,
}

/// What the metadata file records of an outcome, as buildx does.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Recorded {
    /// The image config's digest (builds; pushes of a single manifest).
    pub config_digest: Option<String>,
    /// BuildKit's reference for the solve (builds that ran).
    pub build_ref: Option<String>,
    /// What a push wrote under its tags: the index's (or single manifest's) media type and
    /// size, beside `digest`.
    pub descriptor: Option<(String, u64)>,
}

/// One platform's manifest, pushed by digest to every repository of a push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    pub platform: String,
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

impl Outcome {
    pub fn cached_percent(&self) -> Option<u32> {
        (self.cached_steps * 100)
            .checked_div(self.steps)
            .map(|p| p as u32)
    }
}
