//! The scheduler: which node runs next and on which builder. [`Scheduler`] is a pure state
//! machine over node and builder indices (no I/O, no clock, no runtime), so the unit tests
//! and `benches/schedule.rs` drive it with fake runners and simulated time; [`run`] drives it
//! for real, spawning one task per started node and feeding their results back.
//!
//! Rules, in the order they apply:
//! - a node starts when every dependency succeeded; a dependent of a failed, cancelled or
//!   skipped node is skipped, so a push never runs unless every platform built;
//! - at most `slots[b]` nodes run on builder `b` (its `max-parallelism`), at most `total` in
//!   all (`--jobs`), and nodes without a builder (pushes, loads, exports) share `other` slots;
//! - placement among a node's candidate builders: native before emulated (a node waits for a
//!   native slot rather than run emulated, which is several times slower, as long as a native
//!   candidate is alive); then its affinity builder (the one that built it last and holds
//!   its cache) if it has a free slot; then the builder with the most free slots; then
//!   candidate order. A slot that frees up goes first to a ready node whose affinity is that
//!   builder, so warm caches stay warm even when every builder is busy;
//! - among ready nodes, the one with the longest chain of dependents goes first, so long
//!   chains start early (creation order breaks ties, so runs are deterministic);
//! - a transient error is retried once; when the builder was lost (unreachable), it takes no
//!   more nodes and the retry goes to another alive candidate; a node whose candidates are
//!   all lost fails with [`Failure::NoBuilder`];
//! - a failure stops new starts (fail fast) unless `keep_going`; so does [`Scheduler::cancel`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A builder a node may run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub builder: usize,
    pub native: bool,
}

/// One node to schedule.
#[derive(Clone, Debug, Default)]
pub struct Job {
    /// Indices of the nodes it needs.
    pub deps: Vec<usize>,
    /// The builders it may run on, in the plan's order of preference; empty for a node that
    /// runs on no builder (pushes, loads, exports).
    pub candidates: Vec<Candidate>,
    /// The builder that built it last (its cache is warm there).
    pub affinity: Option<usize>,
    /// A dependency it must run beside: it goes to the builder that dependency ran on (a
    /// `target:` context is read from that engine's image store).
    pub follow: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Limits {
    /// Slots per builder (`max-parallelism`, or `--jobs`).
    pub slots: Vec<usize>,
    /// At most this many nodes at once in all (`--jobs`).
    pub total: Option<usize>,
    /// Slots for nodes that run on no builder.
    pub other: usize,
    pub keep_going: bool,
}

/// A node to start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    pub node: usize,
    pub builder: Option<usize>,
    /// 1 for the first try, 2 for the retry.
    pub attempt: u8,
}

/// How a runner says a node failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
    pub kind: ErrorKind,
    /// The failing step's output, for the report.
    pub logs: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The node's own fault (a failing step, a bad input): not retried.
    Permanent,
    /// The engine dropped a connection: retried once.
    Transient,
    /// The builder could not be reached at all: it takes no more nodes, and the node is
    /// retried once on another candidate.
    BuilderLost,
}

impl RunError {
    pub fn permanent(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            kind: ErrorKind::Permanent,
            logs: Vec::new(),
        }
    }
}

impl From<String> for RunError {
    fn from(message: String) -> RunError {
        RunError::permanent(message)
    }
}

/// Why a node did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Run(RunError),
    /// Stopped by the cancellation token (Ctrl-C, SIGTERM, or another node's failure).
    #[error("cancelled")]
    Cancelled,
    /// Every candidate builder was lost; `last` is the error that lost the last one, if
    /// this node met it.
    #[error("every builder that can run it was lost{}", last.as_ref().map(|l| format!(" ({l})")).unwrap_or_default())]
    NoBuilder {
        builders: Vec<usize>,
        last: Option<String>,
    },
    /// The task running it panicked: a bug.
    #[error("internal error, please report it: {0}")]
    Panicked(String),
}

/// Why a node never started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("a dependency did not succeed")]
    Dependency { node: usize },
    #[error("cancelled")]
    Cancelled,
}

/// What became of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Fate<T> {
    Done { value: T, builder: Option<usize> },
    Failed(Failure),
    Skipped(Skip),
}

/// What the scheduler did with a finished node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Settled,
    /// Requeued for its second try.
    Retry {
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    Queued,
    Running,
    Settled,
}

/// The scheduling state of one run.
pub struct Scheduler<T> {
    jobs: Vec<Job>,
    limits: Limits,
    state: Vec<State>,
    /// Dependencies not yet succeeded, per node.
    pending: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Longest chain of dependents, per node: the ready queue's priority.
    height: Vec<u32>,
    attempts: Vec<u8>,
    /// A builder a node's retry must avoid.
    avoid: Vec<Option<usize>>,
    /// The error that lost a node's builder, for its report if no builder is left.
    last_error: Vec<Option<String>>,
    fates: Vec<Option<Fate<T>>>,
    /// Ready nodes by candidate set: nodes sharing candidates compete for the same slots.
    queues: Vec<BinaryHeap<(u32, Reverse<usize>)>>,
    /// Ready nodes by affinity builder. A node sits in both queues; whichever starts it
    /// first wins, and the other drops the entry when it meets it.
    warm: Vec<BinaryHeap<(u32, Reverse<usize>)>>,
    group_of: Vec<usize>,
    groups: Vec<Vec<Candidate>>,
    used: Vec<usize>,
    other_used: usize,
    running: usize,
    lost: Vec<bool>,
    stopped: bool,
    /// Nodes settled since the last [`Scheduler::drain_settled`].
    newly_settled: Vec<usize>,
}

impl<T> Scheduler<T> {
    /// `jobs` must form a DAG over their own indices (the plan checked it); a dependency
    /// index out of range is ignored.
    pub fn new(jobs: Vec<Job>, limits: Limits) -> Scheduler<T> {
        let n = jobs.len();
        let mut dependents = vec![Vec::new(); n];
        let mut pending = vec![0; n];
        for (i, j) in jobs.iter().enumerate() {
            for &d in &j.deps {
                if d < n && d != i {
                    dependents[d].push(i);
                    pending[i] += 1;
                }
            }
        }
        let height = heights(&dependents, &pending);
        let mut group_index: HashMap<Vec<Candidate>, usize> = HashMap::new();
        let mut groups = Vec::new();
        let group_of = jobs
            .iter()
            .map(|j| {
                *group_index.entry(j.candidates.clone()).or_insert_with(|| {
                    groups.push(j.candidates.clone());
                    groups.len() - 1
                })
            })
            .collect();
        let builders = limits.slots.len();
        let mut s = Scheduler {
            state: vec![State::Waiting; n],
            pending,
            dependents,
            height,
            attempts: vec![0; n],
            avoid: vec![None; n],
            last_error: vec![None; n],
            fates: (0..n).map(|_| None).collect(),
            queues: vec![BinaryHeap::new(); groups.len()],
            warm: vec![BinaryHeap::new(); builders],
            group_of,
            groups,
            used: vec![0; builders],
            other_used: 0,
            running: 0,
            lost: vec![false; builders],
            stopped: false,
            newly_settled: Vec::new(),
            jobs,
            limits,
        };
        for i in 0..n {
            if s.pending[i] == 0 {
                s.enqueue(i);
            }
        }
        s
    }

    fn enqueue(&mut self, i: usize) {
        self.state[i] = State::Queued;
        self.queues[self.group_of[i]].push((self.height[i], Reverse(i)));
        if let Some(b) = self.jobs[i].affinity
            && b < self.warm.len()
        {
            self.warm[b].push((self.height[i], Reverse(i)));
        }
    }

    /// Every node that can start now, each with its builder; the caller must report each
    /// one back through [`Scheduler::finish`].
    pub fn dispatch(&mut self) -> Vec<Start> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        self.dispatch_warm(&mut out);
        let mut deferred: Vec<(usize, usize)> = Vec::new();
        loop {
            if self.total_full() {
                break;
            }
            // The queue whose best node ranks highest among those that can be placed now.
            let mut best: Option<(u32, Reverse<usize>, usize)> = None;
            for g in 0..self.queues.len() {
                // Nodes started from the warm queues are still listed here: drop them.
                while let Some(&(_, Reverse(i))) = self.queues[g].peek()
                    && self.state[i] != State::Queued
                {
                    self.queues[g].pop();
                }
                let Some(&(h, r)) = self.queues[g].peek() else {
                    continue;
                };
                if best.is_some_and(|(bh, br, _)| (bh, br) >= (h, r)) {
                    continue;
                }
                if self.group_can_start(g) {
                    best = Some((h, r, g));
                }
            }
            let Some((_, Reverse(node), g)) = best else {
                break;
            };
            self.queues[g].pop();
            match self.place(node) {
                Placement::Builder(b) => {
                    self.used[b] += 1;
                    out.push(self.start(node, Some(b)));
                }
                Placement::Other => {
                    self.other_used += 1;
                    out.push(self.start(node, None));
                }
                Placement::Full => {
                    // Its builder is taken (the one its dependency ran on): the node waits,
                    // set aside so that other queues still dispatch.
                    deferred.push((g, node));
                }
                Placement::NoBuilder => {
                    let builders = self.jobs[node]
                        .candidates
                        .iter()
                        .map(|c| c.builder)
                        .collect();
                    let last = self.last_error[node].take();
                    self.settle(node, Fate::Failed(Failure::NoBuilder { builders, last }));
                }
            }
        }
        for (g, node) in deferred {
            self.queues[g].push((self.height[node], Reverse(node)));
        }
        out
    }

    /// The builder a follower must run on: where its dependency ran.
    fn pinned(&self, node: usize) -> Option<usize> {
        let d = self.jobs[node].follow?;
        match self.fates.get(d)? {
            Some(Fate::Done { builder, .. }) => *builder,
            _ => None,
        }
    }

    /// Starts ready nodes on the builder that holds their cache, wherever it has a free slot,
    /// before anything else takes the slot: a warm cache usually saves more than the
    /// priority order gains.
    fn dispatch_warm(&mut self, out: &mut Vec<Start>) {
        for b in 0..self.warm.len() {
            while self.free(b) > 0 && !self.lost[b] && !self.total_full() {
                let Some((_, Reverse(node))) = self.warm[b].pop() else {
                    break;
                };
                let eligible = self.state[node] == State::Queued
                    && self.avoid[node] != Some(b)
                    && self.pinned(node).is_none_or(|p| p == b)
                    && self
                        .tier(&self.jobs[node].candidates)
                        .any(|c| c.builder == b);
                // Not eligible: it waits in its candidates' queue like any other node.
                if eligible {
                    self.used[b] += 1;
                    out.push(self.start(node, Some(b)));
                }
            }
        }
    }

    fn total_full(&self) -> bool {
        self.limits.total.is_some_and(|t| self.running >= t)
    }

    fn start(&mut self, node: usize, builder: Option<usize>) -> Start {
        self.state[node] = State::Running;
        self.running += 1;
        self.attempts[node] += 1;
        Start {
            node,
            builder,
            attempt: self.attempts[node],
        }
    }

    /// The candidates a node may use now: alive native ones, else alive emulated ones.
    fn tier<'a>(&'a self, candidates: &'a [Candidate]) -> impl Iterator<Item = Candidate> + 'a {
        let native_alive = candidates.iter().any(|c| c.native && !self.lost[c.builder]);
        candidates
            .iter()
            .copied()
            .filter(move |c| !self.lost[c.builder] && (c.native || !native_alive))
    }

    fn free(&self, b: usize) -> usize {
        self.limits.slots[b].saturating_sub(self.used[b])
    }

    fn group_can_start(&self, g: usize) -> bool {
        let c = &self.groups[g];
        if c.is_empty() {
            return self.other_used < self.limits.other;
        }
        let mut alive = false;
        for cand in self.tier(c) {
            alive = true;
            if self.free(cand.builder) > 0 {
                return true;
            }
        }
        // Nothing alive: dispatching it settles it as a failure.
        !alive
    }

    fn place(&self, node: usize) -> Placement {
        let job = &self.jobs[node];
        if job.candidates.is_empty() {
            return Placement::Other;
        }
        let pinned = self.pinned(node);
        let tier: Vec<Candidate> = self
            .tier(&job.candidates)
            .filter(|c| pinned.is_none_or(|p| p == c.builder))
            .collect();
        if tier.is_empty() {
            return Placement::NoBuilder;
        }
        let avoid = self.avoid[node].filter(|a| tier.iter().any(|c| c.builder != *a));
        let usable = |c: &&Candidate| self.free(c.builder) > 0 && Some(c.builder) != avoid;
        if let Some(a) = job.affinity
            && let Some(c) = tier.iter().filter(usable).find(|c| c.builder == a)
        {
            return Placement::Builder(c.builder);
        }
        // Most free slots; the first candidate among equals.
        let mut best: Option<(usize, usize)> = None;
        for c in tier.iter().filter(usable) {
            let f = self.free(c.builder);
            if best.is_none_or(|(bf, _)| f > bf) {
                best = Some((f, c.builder));
            }
        }
        match best {
            Some((_, b)) => Placement::Builder(b),
            None => Placement::Full,
        }
    }

    /// Records a started node's result; `builder` is where it ran.
    pub fn finish(&mut self, start: Start, result: Result<T, Failure>) -> Next {
        let node = start.node;
        if self.state[node] != State::Running {
            return Next::Settled;
        }
        self.running -= 1;
        match start.builder {
            Some(b) => self.used[b] -= 1,
            None => self.other_used -= 1,
        }
        match result {
            Ok(value) => {
                self.settle(
                    node,
                    Fate::Done {
                        value,
                        builder: start.builder,
                    },
                );
                Next::Settled
            }
            Err(Failure::Run(e)) if e.kind != ErrorKind::Permanent && !self.stopped => {
                // A builder that dies mid-solve first shows as a dropped connection (a
                // transient error, retried there) and only then as lost: the move to another
                // candidate is one more attempt, once.
                let mut moved = false;
                if e.kind == ErrorKind::BuilderLost
                    && let Some(b) = start.builder
                {
                    moved = self.avoid[node].is_none();
                    self.lost[b] = true;
                    self.avoid[node] = Some(b);
                    self.last_error[node] = Some(e.message.clone());
                }
                if self.attempts[node] < 2 || moved {
                    self.enqueue(node);
                    return Next::Retry { reason: e.message };
                }
                self.fail(node, Failure::Run(e));
                Next::Settled
            }
            Err(f) => {
                self.fail(node, f);
                Next::Settled
            }
        }
    }

    fn fail(&mut self, node: usize, f: Failure) {
        self.settle(node, Fate::Failed(f));
    }

    fn settle(&mut self, node: usize, fate: Fate<T>) {
        let ok = matches!(fate, Fate::Done { .. });
        if let Fate::Failed(f) = &fate
            && !self.limits.keep_going
            && *f != Failure::Cancelled
        {
            self.stopped = true;
        }
        self.state[node] = State::Settled;
        self.fates[node] = Some(fate);
        self.newly_settled.push(node);
        // Dependents become ready, or are skipped, transitively, with an explicit stack.
        let mut stack = vec![(node, ok)];
        while let Some((n, ok)) = stack.pop() {
            for i in 0..self.dependents[n].len() {
                let d = self.dependents[n][i];
                if self.state[d] != State::Waiting {
                    continue;
                }
                if ok {
                    self.pending[d] -= 1;
                    if self.pending[d] == 0 {
                        self.enqueue(d);
                    }
                } else {
                    self.state[d] = State::Settled;
                    self.fates[d] = Some(Fate::Skipped(Skip::Dependency { node: n }));
                    self.newly_settled.push(d);
                    stack.push((d, false));
                }
            }
        }
    }

    /// Starts nothing more; running nodes still report back.
    pub fn cancel(&mut self) {
        self.stopped = true;
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Nodes running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Whether a builder was lost during the run.
    pub fn is_lost(&self, builder: usize) -> bool {
        self.lost[builder]
    }

    /// Nodes settled (finished, failed or skipped) since the last call, in order.
    pub fn drain_settled(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.newly_settled)
    }

    pub fn fate(&self, node: usize) -> Option<&Fate<T>> {
        self.fates[node].as_ref()
    }

    /// Settles every node not yet settled as skipped by cancellation: for the end of a run
    /// that stopped early. Running nodes must have reported back first.
    pub fn skip_the_rest(&mut self) {
        for i in 0..self.fates.len() {
            if self.fates[i].is_none() {
                self.state[i] = State::Settled;
                self.fates[i] = Some(Fate::Skipped(Skip::Cancelled));
                self.newly_settled.push(i);
            }
        }
    }

    /// Every node's fate; nodes never reached are skipped as cancelled.
    pub fn into_fates(self) -> Vec<Fate<T>> {
        self.fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::Skipped(Skip::Cancelled)))
            .collect()
    }
}

enum Placement {
    Builder(usize),
    Other,
    Full,
    NoBuilder,
}

/// The longest chain of dependents below each node (0 for a node nothing depends on).
fn heights(dependents: &[Vec<usize>], pending: &[usize]) -> Vec<u32> {
    let n = dependents.len();
    // Topological order by Kahn's algorithm, then heights in reverse.
    let mut indeg = pending.to_vec();
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<usize> = (0..n).filter(|i| indeg[*i] == 0).collect();
    while let Some(i) = stack.pop() {
        order.push(i);
        for &d in &dependents[i] {
            indeg[d] -= 1;
            if indeg[d] == 0 {
                stack.push(d);
            }
        }
    }
    let mut h = vec![0u32; n];
    for &i in order.iter().rev() {
        h[i] = dependents[i].iter().map(|d| h[*d] + 1).max().unwrap_or(0);
    }
    h
}

/// What [`run`] tells its caller as nodes move.
#[derive(Clone, Debug, PartialEq)]
pub enum Note<'a, T> {
    Started(&'a Start),
    Retry {
        start: &'a Start,
        reason: &'a str,
    },
    /// A node finished, failed or was skipped.
    Settled {
        node: usize,
        fate: &'a Fate<T>,
    },
}

/// Runs every node with `runner`, as the scheduler allows, until all are settled or the
/// token is cancelled (running nodes are dropped then, which cancels their solves). A
/// panicking runner settles its node as [`Failure::Panicked`] and cancels the run.
pub async fn run<T, F, Fut>(
    mut sched: Scheduler<T>,
    cancel: CancellationToken,
    runner: F,
    mut notify: impl FnMut(Note<'_, T>),
) -> Vec<Fate<T>>
where
    T: Send + 'static,
    F: Fn(Start) -> Fut,
    Fut: Future<Output = Result<T, RunError>> + Send + 'static,
{
    let mut tasks: JoinSet<(Start, Result<T, Failure>)> = JoinSet::new();
    let mut by_task: HashMap<tokio::task::Id, Start> = HashMap::new();
    loop {
        if cancel.is_cancelled() {
            sched.cancel();
        }
        let started = sched.dispatch();
        settled(&mut sched, &mut notify);
        for start in started {
            notify(Note::Started(&start));
            let fut = runner(start);
            let token = cancel.clone();
            let handle = tasks.spawn(async move {
                let r = tokio::select! {
                    r = fut => r.map_err(Failure::Run),
                    _ = token.cancelled() => Err(Failure::Cancelled),
                };
                (start, r)
            });
            by_task.insert(handle.id(), start);
        }
        let joined = tokio::select! {
            j = tasks.join_next_with_id() => j,
            // Wake up to stop dispatching; the running tasks see the token themselves.
            _ = cancel.cancelled(), if !sched.is_stopped() => continue,
        };
        let Some(joined) = joined else {
            break;
        };
        let (start, result) = match joined {
            Ok((id, r)) => {
                by_task.remove(&id);
                r
            }
            Err(e) => {
                let Some(start) = by_task.remove(&e.id()) else {
                    continue;
                };
                cancel.cancel();
                (start, Err(Failure::Panicked(e.to_string())))
            }
        };
        if let Err(f) = &result
            && !matches!(f, Failure::Cancelled)
            && !sched.limits.keep_going
        {
            let final_failure = match f {
                Failure::Run(e) => e.kind == ErrorKind::Permanent || start.attempt >= 2,
                _ => true,
            };
            if final_failure {
                cancel.cancel();
            }
        }
        if let Next::Retry { reason } = sched.finish(start, result) {
            notify(Note::Retry {
                start: &start,
                reason: &reason,
            });
        }
        settled(&mut sched, &mut notify);
    }
    sched.skip_the_rest();
    settled(&mut sched, &mut notify);
    sched.into_fates()
}

fn settled<T>(sched: &mut Scheduler<T>, notify: &mut impl FnMut(Note<'_, T>)) {
    for node in sched.drain_settled() {
        if let Some(fate) = sched.fate(node) {
            notify(Note::Settled { node, fate });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn limits(slots: &[usize]) -> Limits {
        Limits {
            slots: slots.to_vec(),
            total: None,
            other: 8,
            keep_going: false,
        }
    }

    fn job(deps: &[usize], candidates: &[(usize, bool)]) -> Job {
        Job {
            deps: deps.to_vec(),
            candidates: candidates
                .iter()
                .map(|&(builder, native)| Candidate { builder, native })
                .collect(),
            affinity: None,
            follow: None,
        }
    }

    /// Drives a scheduler in simulated time: every node takes one tick, `fail` says how a
    /// (node, attempt) ends. Returns the starts in order, with their tick, and the fates.
    #[allow(clippy::type_complexity)]
    fn simulate(
        jobs: Vec<Job>,
        limits: Limits,
        fail: impl Fn(&Start) -> Option<Failure>,
    ) -> (Vec<(u32, Start)>, Vec<Fate<()>>) {
        let mut s: Scheduler<()> = Scheduler::new(jobs, limits);
        let mut log = Vec::new();
        let mut tick = 0;
        loop {
            let started = s.dispatch();
            if started.is_empty() && s.running() == 0 {
                break;
            }
            for st in &started {
                log.push((tick, *st));
            }
            for st in started {
                let r = match fail(&st) {
                    Some(f) => Err(f),
                    None => Ok(()),
                };
                s.finish(st, r);
            }
            tick += 1;
        }
        (log, s.into_fates())
    }

    fn err(kind: ErrorKind) -> Failure {
        Failure::Run(RunError {
            message: "boom".into(),
            kind,
            logs: Vec::new(),
        })
    }

    #[test]
    fn dependencies_run_first() {
        let jobs = vec![
            job(&[], &[(0, true)]),
            job(&[0], &[(0, true)]),
            job(&[1], &[]),
        ];
        let (log, fates) = simulate(jobs, limits(&[4]), |_| None);
        let order: Vec<(u32, usize)> = log.iter().map(|(t, s)| (*t, s.node)).collect();
        assert_eq!(order, vec![(0, 0), (1, 1), (2, 2)]);
        assert!(fates.iter().all(|f| matches!(f, Fate::Done { .. })));
    }

    #[test]
    fn slots_limit_each_builder_and_jobs_all() {
        let jobs: Vec<Job> = (0..6).map(|_| job(&[], &[(0, true), (1, true)])).collect();
        let (log, _) = simulate(jobs.clone(), limits(&[2, 1]), |_| None);
        let first: Vec<Option<usize>> = log
            .iter()
            .filter(|(t, _)| *t == 0)
            .map(|(_, s)| s.builder)
            .collect();
        assert_eq!(first.len(), 3);
        assert_eq!(first.iter().filter(|b| **b == Some(0)).count(), 2);
        let mut l = limits(&[4, 4]);
        l.total = Some(3);
        let (log, _) = simulate(jobs, l, |_| None);
        assert_eq!(log.iter().filter(|(t, _)| *t == 0).count(), 3);
        assert_eq!(log.iter().filter(|(t, _)| *t == 1).count(), 3);
    }

    #[test]
    fn native_before_emulated_and_most_free_slots() {
        // Builder 0 emulates, 1 and 2 are native; 2 has more slots.
        let jobs: Vec<Job> = (0..3)
            .map(|_| job(&[], &[(0, false), (1, true), (2, true)]))
            .collect();
        let (log, _) = simulate(jobs, limits(&[8, 1, 2]), |_| None);
        let at0: Vec<Option<usize>> = log
            .iter()
            .filter(|(t, _)| *t == 0)
            .map(|(_, s)| s.builder)
            .collect();
        // The node waits for a native slot rather than use the idle emulator.
        assert_eq!(at0, vec![Some(2), Some(1), Some(2)]);
        assert!(log.iter().all(|(_, s)| s.builder != Some(0)));
    }

    #[test]
    fn affinity_wins_over_free_slots() {
        let mut j = job(&[], &[(0, true), (1, true)]);
        j.affinity = Some(0);
        let (log, _) = simulate(vec![j], limits(&[1, 4]), |_| None);
        assert_eq!(log[0].1.builder, Some(0));
        // A warm node claims its builder's free slot before a node ranked higher...
        let mut a = job(&[], &[(0, true), (1, true)]);
        a.affinity = Some(0);
        let jobs = vec![job(&[], &[(0, true), (1, true)]), a.clone()];
        let (log, _) = simulate(jobs, limits(&[1, 1]), |_| None);
        assert_eq!((log[0].1.node, log[0].1.builder), (1, Some(0)));
        assert_eq!((log[1].1.node, log[1].1.builder), (0, Some(1)));
        // ...and goes elsewhere when its builder is full.
        let mut busy = job(&[], &[(0, true)]);
        busy.affinity = Some(0);
        let (log, _) = simulate(vec![busy, a], limits(&[1, 1]), |_| None);
        assert_eq!((log[1].0, log[1].1.builder), (0, Some(1)));
    }

    #[test]
    fn fail_fast_skips_dependents_and_starts_nothing_more() {
        let jobs = vec![
            job(&[], &[(0, true)]),
            job(&[0], &[]),
            job(&[], &[(0, true)]),
            job(&[2], &[(0, true)]),
        ];
        let (log, fates) = simulate(jobs, limits(&[1]), |s| {
            (s.node == 0).then(|| err(ErrorKind::Permanent))
        });
        assert_eq!(log.len(), 1);
        assert!(matches!(fates[0], Fate::Failed(Failure::Run(_))));
        assert_eq!(fates[1], Fate::Skipped(Skip::Dependency { node: 0 }));
        assert_eq!(fates[2], Fate::Skipped(Skip::Cancelled));
        assert_eq!(fates[3], Fate::Skipped(Skip::Cancelled));
    }

    #[test]
    fn keep_going_runs_the_rest() {
        let jobs = vec![
            job(&[], &[(0, true)]),
            job(&[0], &[]),
            job(&[1], &[]),
            job(&[], &[(0, true)]),
        ];
        let mut l = limits(&[1]);
        l.keep_going = true;
        let (_, fates) = simulate(jobs, l, |s| {
            (s.node == 0).then(|| err(ErrorKind::Permanent))
        });
        assert_eq!(fates[1], Fate::Skipped(Skip::Dependency { node: 0 }));
        assert_eq!(fates[2], Fate::Skipped(Skip::Dependency { node: 1 }));
        assert!(matches!(fates[3], Fate::Done { .. }));
    }

    #[test]
    fn transient_errors_retry_once() {
        let jobs = vec![job(&[], &[(0, true)]), job(&[], &[(0, true)])];
        let mut l = limits(&[2]);
        l.keep_going = true;
        let (log, fates) = simulate(jobs, l, |s| match (s.node, s.attempt) {
            (0, 1) => Some(err(ErrorKind::Transient)),
            (1, _) => Some(err(ErrorKind::Transient)),
            _ => None,
        });
        assert!(matches!(fates[0], Fate::Done { .. }));
        assert!(matches!(fates[1], Fate::Failed(Failure::Run(_))));
        assert_eq!(log.iter().filter(|(_, s)| s.node == 1).count(), 2);
        // A permanent error is not retried.
        let (log, _) = simulate(vec![job(&[], &[(0, true)])], limits(&[1]), |_| {
            Some(err(ErrorKind::Permanent))
        });
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn a_builder_dying_mid_solve_still_moves_the_node() {
        // First the connection drops (transient), then the builder cannot be reached.
        let jobs = vec![job(&[], &[(0, true), (1, true)])];
        let (log, fates) = simulate(jobs, limits(&[1, 1]), |s| match (s.builder, s.attempt) {
            (Some(0), 1) => Some(err(ErrorKind::Transient)),
            (Some(0), _) => Some(err(ErrorKind::BuilderLost)),
            _ => None,
        });
        assert!(
            matches!(
                fates[0],
                Fate::Done {
                    builder: Some(1),
                    ..
                }
            ),
            "{fates:?}"
        );
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn a_lost_builder_takes_nothing_more_and_the_retry_moves() {
        let jobs: Vec<Job> = (0..4).map(|_| job(&[], &[(0, true), (1, true)])).collect();
        let (log, fates) = simulate(jobs, limits(&[2, 1]), |s| {
            (s.builder == Some(0)).then(|| err(ErrorKind::BuilderLost))
        });
        assert!(fates.iter().all(|f| matches!(
            f,
            Fate::Done {
                builder: Some(1),
                ..
            }
        )));
        let after: Vec<&Start> = log.iter().filter(|(t, _)| *t > 0).map(|(_, s)| s).collect();
        assert!(after.iter().all(|s| s.builder == Some(1)));
    }

    #[test]
    fn a_platform_without_a_builder_left_fails_and_skips_its_push() {
        // Node 0 only builds on builder 0; 1 builds anywhere; 2 pushes both.
        let jobs = vec![
            job(&[], &[(0, true)]),
            job(&[], &[(0, false), (1, true)]),
            job(&[0, 1], &[]),
        ];
        let mut l = limits(&[1, 1]);
        l.keep_going = true;
        let (_, fates) = simulate(jobs, l, |s| {
            (s.builder == Some(0)).then(|| err(ErrorKind::BuilderLost))
        });
        assert!(matches!(fates[0], Fate::Failed(Failure::NoBuilder { .. })));
        assert!(matches!(
            fates[1],
            Fate::Done {
                builder: Some(1),
                ..
            }
        ));
        assert_eq!(fates[2], Fate::Skipped(Skip::Dependency { node: 0 }));
    }

    #[test]
    fn a_follower_runs_where_its_dependency_ran() {
        // 0 lands on builder 1 (most free slots); 1 follows it although 0 has more room, and
        // waits for its slot without holding up 2.
        let mut f = job(&[0], &[(0, true), (1, true)]);
        f.follow = Some(0);
        let jobs = vec![job(&[], &[(0, true), (1, true)]), f, job(&[], &[(0, true)])];
        let (log, fates) = simulate(jobs, limits(&[1, 2]), |_| None);
        assert_eq!(log[0].1.builder, Some(1));
        assert!(matches!(
            fates[1],
            Fate::Done {
                builder: Some(1),
                ..
            }
        ));
        assert!(matches!(
            fates[2],
            Fate::Done {
                builder: Some(0),
                ..
            }
        ));
    }

    #[test]
    fn longest_chain_starts_first() {
        // 0 and 1 are ready; 1 heads a chain of three.
        let jobs = vec![
            job(&[], &[(0, true)]),
            job(&[], &[(0, true)]),
            job(&[1], &[(0, true)]),
            job(&[2], &[(0, true)]),
        ];
        let (log, _) = simulate(jobs, limits(&[1]), |_| None);
        assert_eq!(log[0].1.node, 1);
    }

    #[test]
    fn a_wide_skip_does_not_recurse() {
        // A chain of 100,000 dependents of a failed node is skipped without deep recursion.
        let n = 100_000;
        let jobs: Vec<Job> = (0..n)
            .map(|i| {
                if i == 0 {
                    job(&[], &[])
                } else {
                    job(&[i - 1], &[])
                }
            })
            .collect();
        let (_, fates) = simulate(jobs, limits(&[]), |s| {
            (s.node == 0).then(|| err(ErrorKind::Permanent))
        });
        assert_eq!(
            fates[n - 1],
            Fate::Skipped(Skip::Dependency { node: n - 2 })
        );
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn run_feeds_results_back_and_respects_slots() {
        let jobs: Vec<Job> = (0..8).map(|_| job(&[], &[(0, true)])).collect();
        let live = Arc::new(Mutex::new((0usize, 0usize)));
        let l = live.clone();
        let fates = rt().block_on(run(
            Scheduler::new(jobs, limits(&[3])),
            CancellationToken::new(),
            move |s: Start| {
                let l = l.clone();
                async move {
                    {
                        let mut g = l.lock().unwrap();
                        g.0 += 1;
                        g.1 = g.1.max(g.0);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    l.lock().unwrap().0 -= 1;
                    Ok::<usize, RunError>(s.node * 10)
                }
            },
            |_| {},
        ));
        assert_eq!(live.lock().unwrap().1, 3);
        assert_eq!(
            fates[7],
            Fate::Done {
                value: 70,
                builder: Some(0)
            }
        );
    }

    #[test]
    fn run_cancels_running_nodes_and_starts_no_more() {
        let jobs = vec![job(&[], &[(0, true)]), job(&[0], &[(0, true)])];
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        let fates = rt().block_on(run(
            Scheduler::new(jobs, limits(&[1])),
            cancel,
            move |_s: Start| {
                let c = c.clone();
                async move {
                    c.cancel();
                    // Never finishes by itself: only the token ends it.
                    std::future::pending::<()>().await;
                    Ok::<(), RunError>(())
                }
            },
            |_| {},
        ));
        assert_eq!(fates[0], Fate::Failed(Failure::Cancelled));
        assert_eq!(fates[1], Fate::Skipped(Skip::Dependency { node: 0 }));
    }

    #[test]
    fn run_fail_fast_cancels_the_others_and_retries_are_noted() {
        let jobs = vec![job(&[], &[(0, true)]), job(&[], &[(0, true)])];
        let notes = Arc::new(Mutex::new(Vec::new()));
        let n = notes.clone();
        let fates = rt().block_on(run(
            Scheduler::new(jobs, limits(&[2])),
            CancellationToken::new(),
            move |s: Start| async move {
                if s.node == 0 {
                    let kind = if s.attempt == 1 {
                        ErrorKind::Transient
                    } else {
                        ErrorKind::Permanent
                    };
                    return Err(RunError {
                        message: format!("try {}", s.attempt),
                        kind,
                        logs: Vec::new(),
                    });
                }
                std::future::pending::<()>().await;
                Ok(())
            },
            move |note| {
                if let Note::Retry { reason, .. } = note {
                    n.lock().unwrap().push(reason.to_string());
                }
            },
        ));
        assert_eq!(notes.lock().unwrap().as_slice(), ["try 1"]);
        assert!(matches!(&fates[0], Fate::Failed(Failure::Run(e)) if e.message == "try 2"));
        assert_eq!(fates[1], Fate::Failed(Failure::Cancelled));
    }

    #[test]
    fn run_turns_a_panic_into_a_failure() {
        let jobs = vec![job(&[], &[]), job(&[0], &[])];
        let fates = rt().block_on(run(
            Scheduler::new(jobs, limits(&[])),
            CancellationToken::new(),
            |_s: Start| async move {
                if std::hint::black_box(true) {
                    panic!("bug");
                }
                Ok::<(), RunError>(())
            },
            |_| {},
        ));
        assert!(matches!(fates[0], Fate::Failed(Failure::Panicked(_))));
        assert_eq!(fates[1], Fate::Skipped(Skip::Dependency { node: 0 }));
    }
}
