//! The scheduler at fleet scale, in simulated time (nothing sleeps, no engine): a release of
//! about 10,000 nodes (builds of three platforms with `target:`-style dependencies between
//! targets, and a push per target) over 100 builders, each native for one platform and able
//! to emulate the others, 4 slots each. Every build takes a random time (seeded, so runs
//! compare); a clock advances from one completion to the next.
//!
//!   cargo bench --bench schedule                 the default fleet
//!   cargo bench --bench schedule -- NODES BUILDERS
//!
//! It prints the scheduling overhead per node (wall time spent inside the scheduler: building
//! it, every `dispatch` and every `finish`, divided by the nodes), the simulated makespan
//! against the lower bound `max(total work / total slots, longest dependency chain)` and
//! against the tighter per-platform bound (each platform's work over its native slots), and
//! the affinity hit rate of a second run that knows where each build ran in the first (its
//! durations jittered by ±20%, as a rerun's would be). `RBAKE_BENCH_RUNS` (default 5) sets
//! how many times the whole simulation repeats; the overhead is the median.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rbake::exec::schedule::{Candidate, Fate, Job, Limits, Scheduler, Start};

/// A small, seeded generator (xorshift64*), so every run simulates the same release.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const PLATFORMS: usize = 3;
/// Share of builders native for each platform (amd64, arm64, arm/v7), and the share of
/// targets that build it: a release's demand, matched to the fleet it was sized for.
const NATIVE_SHARE: [f64; PLATFORMS] = [0.45, 0.35, 0.20];
const TARGET_SHARE: [f64; PLATFORMS] = [1.0, 0.78, 0.44];
const SLOTS: usize = 4;
const OTHER_SLOTS: usize = 32;

struct Release {
    jobs: Vec<Job>,
    /// Simulated seconds per node (a build's on a native builder).
    work: Vec<f64>,
    platform: Vec<Option<usize>>,
    slots: Vec<usize>,
    native_of: Vec<usize>,
}

fn release(nodes: usize, builders: usize, rng: &mut Rng) -> Release {
    let mut native_of = Vec::new();
    for (p, share) in NATIVE_SHARE.iter().enumerate() {
        let n = if p == PLATFORMS - 1 {
            builders - native_of.len()
        } else {
            (builders as f64 * share).round() as usize
        };
        native_of.extend(std::iter::repeat_n(p, n));
    }
    let all: Vec<Vec<Candidate>> = (0..PLATFORMS)
        .map(|p| {
            let mut c: Vec<Candidate> = (0..builders)
                .filter(|b| native_of[*b] == p)
                .map(|builder| Candidate {
                    builder,
                    native: true,
                })
                .collect();
            c.extend(
                (0..builders)
                    .filter(|b| native_of[*b] != p)
                    .map(|builder| Candidate {
                        builder,
                        native: false,
                    }),
            );
            c
        })
        .collect();
    let mut r = Release {
        jobs: Vec::new(),
        work: Vec::new(),
        platform: Vec::new(),
        slots: vec![SLOTS; builders],
        native_of,
    };
    // Targets in tiers (base images, libraries, applications...): a target depends on one
    // or two targets of the tier before, platform by platform.
    const TIERS: usize = 8;
    let per_target = 1.0 + TARGET_SHARE.iter().sum::<f64>();
    let targets = (nodes as f64 / per_target).ceil() as usize;
    let mut tiers: Vec<Vec<Vec<Option<usize>>>> = vec![Vec::new(); TIERS];
    let mut index = 0;
    while r.jobs.len() < nodes {
        let tier = (index * TIERS / targets.max(1)).min(TIERS - 1);
        index += 1;
        let base = 20.0 + rng.unit() * 100.0;
        let mut builds: Vec<Option<usize>> = vec![None; PLATFORMS];
        let parents: Vec<Vec<Option<usize>>> = if tier == 0 || tiers[tier - 1].is_empty() {
            Vec::new()
        } else {
            let prev = &tiers[tier - 1];
            (0..1 + rng.below(2))
                .map(|_| prev[rng.below(prev.len() as u64) as usize].clone())
                .collect()
        };
        let mut platforms = Vec::new();
        for (p, share) in TARGET_SHARE.iter().enumerate() {
            if rng.unit() < *share {
                platforms.push(p);
            }
        }
        for &p in &platforms {
            let deps = parents.iter().filter_map(|t| t[p]).collect();
            builds[p] = Some(r.jobs.len());
            r.jobs.push(Job {
                deps,
                candidates: all[p].clone(),
                affinity: None,
                follow: None,
            });
            r.work.push(base * (0.8 + rng.unit() * 0.4));
            r.platform.push(Some(p));
        }
        let deps: Vec<usize> = builds.iter().flatten().copied().collect();
        r.jobs.push(Job {
            deps,
            candidates: Vec::new(),
            affinity: None,
            follow: None,
        });
        r.work.push(0.5 + rng.unit() * 1.5);
        r.platform.push(None);
        tiers[tier].push(builds);
    }
    r
}

/// When a started node completes (microseconds), the node, its builder and its attempt.
type Completion = (u64, usize, Option<usize>, u8);

struct Outcome {
    makespan: f64,
    overhead: Duration,
    placed: Vec<Option<usize>>,
    emulated: usize,
}

/// One run in simulated time; `work[i] * factor[i]` is node i's duration, times five when a
/// build runs emulated.
fn simulate(r: &Release, jobs: Vec<Job>, factor: &[f64]) -> Outcome {
    let mut overhead = Duration::ZERO;
    let t = Instant::now();
    let mut s: Scheduler<()> = Scheduler::new(
        jobs,
        Limits {
            slots: r.slots.clone(),
            total: None,
            other: OTHER_SLOTS,
            keep_going: false,
        },
    );
    overhead += t.elapsed();
    let mut clock = 0.0f64;
    // Completion events by time (in microseconds, to order floats exactly).
    let mut events: BinaryHeap<Reverse<Completion>> = BinaryHeap::new();
    let mut placed = vec![None; r.jobs.len()];
    let mut emulated = 0;
    loop {
        let t = Instant::now();
        let started = s.dispatch();
        overhead += t.elapsed();
        for st in started {
            let mut d = r.work[st.node] * factor[st.node];
            if let (Some(b), Some(p)) = (st.builder, r.platform[st.node])
                && r.native_of[b] != p
            {
                d *= 5.0;
                emulated += 1;
            }
            placed[st.node] = st.builder;
            let end = ((clock + d) * 1e6) as u64;
            events.push(Reverse((end, st.node, st.builder, st.attempt)));
        }
        let Some(Reverse((end, node, builder, attempt))) = events.pop() else {
            break;
        };
        clock = end as f64 / 1e6;
        let t = Instant::now();
        s.finish(
            Start {
                node,
                builder,
                attempt,
            },
            Ok(()),
        );
        overhead += t.elapsed();
    }
    let fates = s.into_fates();
    assert!(
        fates.iter().all(|f| matches!(f, Fate::Done { .. })),
        "every node must finish"
    );
    Outcome {
        makespan: clock,
        overhead,
        placed,
        emulated,
    }
}

/// The longest chain of work through the dependencies.
fn longest_chain(r: &Release) -> f64 {
    // Jobs are generated dependencies first, so one pass in index order suffices.
    let mut finish = vec![0.0f64; r.jobs.len()];
    for i in 0..r.jobs.len() {
        let start = r.jobs[i]
            .deps
            .iter()
            .map(|d| finish[*d])
            .fold(0.0, f64::max);
        finish[i] = start + r.work[i];
    }
    finish.into_iter().fold(0.0, f64::max)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let nodes = args.first().copied().unwrap_or(10_000);
    let builders = args.get(1).copied().unwrap_or(100);
    let runs: usize = std::env::var("RBAKE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(5);
    let mut rng = Rng(0x5eed_f1ee7);
    let r = release(nodes, builders, &mut rng);
    let n = r.jobs.len();
    let builds: Vec<usize> = (0..n).filter(|i| r.platform[*i].is_some()).collect();

    let build_work: f64 = builds.iter().map(|i| r.work[*i]).sum();
    let total_slots = (builders * SLOTS) as f64;
    let chain = longest_chain(&r);
    let bound = (build_work / total_slots).max(chain);
    let per_platform = (0..PLATFORMS)
        .map(|p| {
            let work: f64 = builds
                .iter()
                .filter(|i| r.platform[**i] == Some(p))
                .map(|i| r.work[*i])
                .sum();
            let slots = r.native_of.iter().filter(|q| **q == p).count() * SLOTS;
            work / slots as f64
        })
        .fold(chain, f64::max);

    let ones = vec![1.0; n];
    let mut overheads = Vec::new();
    let mut first = None;
    for _ in 0..runs {
        let o = simulate(&r, r.jobs.clone(), &ones);
        overheads.push(o.overhead);
        first = Some(o);
    }
    let first = first.expect("at least one run");
    overheads.sort();
    let median = overheads[overheads.len() / 2];

    // The second run: each build knows where it ran; durations change a little.
    let jitter: Vec<f64> = (0..n).map(|_| 0.8 + rng.unit() * 0.4).collect();
    let mut jobs2 = r.jobs.clone();
    for (i, j) in jobs2.iter_mut().enumerate() {
        j.affinity = first.placed[i];
    }
    let second = simulate(&r, jobs2, &jitter);
    let hits = builds
        .iter()
        .filter(|i| second.placed[**i] == first.placed[**i])
        .count();

    println!(
        "schedule: {n} nodes ({} builds, {} pushes) over {builders} builders x {SLOTS} slots",
        builds.len(),
        n - builds.len()
    );
    println!(
        "  overhead: {:.2} us per node (median of {runs}: {:.1} ms in all)",
        median.as_secs_f64() * 1e6 / n as f64,
        median.as_secs_f64() * 1e3
    );
    println!(
        "  makespan: {:.0} s simulated; lower bound {:.0} s (work/slots {:.0} s, longest chain {:.0} s): {:+.1}%",
        first.makespan,
        bound,
        build_work / total_slots,
        chain,
        (first.makespan / bound - 1.0) * 100.0
    );
    println!(
        "  per-platform bound (platform work / its native slots, or the chain): {:.0} s: {:+.1}%",
        per_platform,
        (first.makespan / per_platform - 1.0) * 100.0
    );
    println!("  emulated builds: {}", first.emulated);
    println!(
        "  second run: affinity hit rate {:.1}% ({hits} of {} builds on the builder of the first run), makespan {:.0} s",
        hits as f64 * 100.0 / builds.len() as f64,
        builds.len(),
        second.makespan
    );
}
