//! Runs a plan: nodes in dependency order, at most `max-parallelism` solves per builder
//! (or `--jobs` in all), fail fast or keep going, cancellable. Publishing is last by
//! construction: a push node depends on every platform's build, so a failed or cancelled
//! build means its tags are never written.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use petgraph::graph::NodeIndex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::build::anchor_name;
use super::credentials::Credentials;
use super::engine::Endpoint;
use super::events::{Event, Outcome};
use super::inputs::Keys;
use super::publish::tag;
use super::registry::Registry;
use super::schedule::{
    self, Candidate, Failure, Fate, Job, Limits, Note, RunError, Scheduler, Skip, Start,
};
use super::uptodate::{self, Assessment, Verdict};
use super::{build, export, publish};
use crate::model::Capabilities;
use crate::plan::{Node, Plan};

pub struct Options {
    /// Total concurrent nodes; `None`: each builder's `max-parallelism`.
    pub jobs: Option<usize>,
    pub keep_going: bool,
    /// Relative paths in the plan are relative to this directory.
    pub cwd: PathBuf,
    pub env: Arc<std::collections::BTreeMap<String, String>>,
    pub credentials: Arc<Credentials>,
    /// Run every node, even those whose outputs are up to date.
    pub rebuild: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Result_ {
    Done(Outcome),
    Failed(String),
    Skipped(String),
}

/// The result of every node, by id.
pub type Report = BTreeMap<String, Result_>;

/// The image each build left in its engine, for the nodes that consume it.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    pub(crate) reference: String,
    /// Where the image stays after the run (see [`cleanup`]).
    pub(crate) anchor: String,
    pub(crate) endpoint: Endpoint,
    /// The builder whose engine holds it.
    pub(crate) builder: String,
    pub(crate) digest: Option<String>,
}

pub(crate) struct Ctx {
    pub(crate) plan: Arc<Plan>,
    pub(crate) opts: Options,
    pub(crate) built: tokio::sync::Mutex<HashMap<String, Built>>,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    /// The registry client, or why it could not start.
    pub(crate) registry: Result<Registry, String>,
    /// This run's id: intermediate images are stored under it, so concurrent runs (of this
    /// project or another with the same target names) never see each other's results.
    pub(crate) run: String,
    /// Input keys and what is already up to date (`uptodate.rs`).
    pub(crate) keys: Keys,
    pub(crate) assessment: Assessment,
}

pub async fn apply(
    mut plan: Plan,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Report {
    // A client that cannot start (no TLS roots) fails each push with its cause; until a push
    // needs it, pushes are simply not checked for being up to date.
    let registry = Registry::new(opts.credentials.clone()).map_err(|e| e.to_string());
    let keys = Keys::new(Keys::cache_dir(&opts.env));
    prefer_warm_builders(&mut plan, &keys, &opts.cwd);
    let plan = Arc::new(plan);
    let assessment = tokio::select! {
        a = uptodate::assess(&plan, &opts.cwd, &keys, registry.as_ref().ok(), opts.rebuild) => a,
        _ = cancel.cancelled() => Assessment::default(),
    };
    let ctx = Arc::new(Ctx {
        keys,
        assessment,
        plan: plan.clone(),
        opts,
        built: Default::default(),
        events: events.clone(),
        registry,
        run: super::session::new_id()[..10].to_string(),
    });
    let order = plan.order();
    let scheduler = Scheduler::new(jobs(&ctx, &order), limits(&plan, &ctx.opts));
    let runner = {
        let (ctx, order) = (ctx.clone(), order.clone());
        move |start: Start| {
            let ctx = ctx.clone();
            let node = order[start.node];
            async move {
                let builder = start.builder.map(|b| ctx.plan.builders[b].name.clone());
                run_node(&ctx, node, builder).await
            }
        }
    };
    let id = |i: usize| plan.graph[order[i]].id().to_string();
    let mut report: Report = BTreeMap::new();
    let notify = |note: Note<'_, Outcome>| match note {
        Note::Started(s) => {
            let _ = events.send(Event::Started { node: id(s.node) });
        }
        Note::Retry { start, reason } => {
            let _ = events.send(Event::Retry {
                node: id(start.node),
                reason: reason.to_string(),
            });
        }
        Note::Settled { node, fate } => {
            let result = settled(&plan, &id, fate);
            let node = id(node);
            let _ = events.send(match &result {
                Result_::Done(outcome) => Event::Done {
                    node: node.clone(),
                    outcome: outcome.clone(),
                },
                Result_::Failed(error) => Event::Failed {
                    node: node.clone(),
                    error: error.clone(),
                    logs: match fate {
                        Fate::Failed(Failure::Run(e)) => e.logs.clone(),
                        _ => Vec::new(),
                    },
                },
                Result_::Skipped(reason) => Event::Skipped {
                    node: node.clone(),
                    reason: reason.clone(),
                },
            });
            report.insert(node, result);
        }
    };
    schedule::run(scheduler, cancel, runner, notify).await;
    cleanup(&ctx).await;
    ctx.keys.save();
    report
}

/// A settled node's report entry.
fn settled(plan: &Plan, id: &dyn Fn(usize) -> String, fate: &Fate<Outcome>) -> Result_ {
    match fate {
        Fate::Done { value, .. } => Result_::Done(value.clone()),
        Fate::Failed(Failure::Cancelled) | Fate::Skipped(Skip::Cancelled) => {
            Result_::Skipped("cancelled".into())
        }
        Fate::Skipped(Skip::Dependency { node }) => {
            Result_::Skipped(format!("{} did not succeed", id(*node)))
        }
        Fate::Failed(Failure::NoBuilder { builders, last }) => {
            let names: Vec<&str> = builders
                .iter()
                .filter_map(|b| plan.builders.get(*b))
                .map(|b| b.name.as_str())
                .collect();
            let why = last.as_ref().map(|l| format!(": {l}")).unwrap_or_default();
            Result_::Failed(format!(
                "no builder is left to run it: {} could not be reached{why}",
                names.join(", ")
            ))
        }
        Fate::Failed(f) => Result_::Failed(f.to_string()),
    }
}

/// The scheduler's view of the plan: each node's dependencies, candidate builders (a build
/// reused from its anchor must run where the anchor is; a node with nothing to do, and every
/// publishing node, takes no builder slot) and the builder that built it last.
fn jobs(ctx: &Ctx, order: &[NodeIndex]) -> Vec<Job> {
    let plan = &ctx.plan;
    let index: HashMap<NodeIndex, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let builder_index = |name: &str| plan.builders.iter().position(|b| b.name == name);
    order
        .iter()
        .map(|n| {
            let deps = plan
                .graph
                .neighbors_directed(*n, petgraph::Direction::Incoming)
                .filter_map(|d| index.get(&d).copied())
                .collect();
            let Node::Build(b) = &plan.graph[*n] else {
                return Job {
                    deps,
                    ..Job::default()
                };
            };
            let names: Vec<&String> = match ctx.assessment.verdict(&b.id) {
                Some(Verdict::UpToDate(_)) => Vec::new(),
                Some(Verdict::Reuse { .. }) => b.builder.iter().collect(),
                _ => b.candidates.iter().collect(),
            };
            let candidates = names
                .iter()
                .filter_map(|name| {
                    let i = builder_index(name)?;
                    Some(Candidate {
                        builder: i,
                        native: plan.builders[i].is_native(&b.platform),
                    })
                })
                .collect();
            let affinity = ctx
                .keys
                .last_builder(&anchor_name(b, &ctx.opts.cwd))
                .and_then(|name| builder_index(&name));
            // A `target:` context is read from the engine that built it: run beside it.
            let follow = b.contexts.values().find_map(|c| match c {
                crate::plan::NamedContext::Target { node, .. } => order
                    .iter()
                    .position(|i| plan.graph[*i].id() == node.as_str()),
                crate::plan::NamedContext::Source { .. } => None,
            });
            Job {
                deps,
                candidates,
                affinity,
                follow,
            }
        })
        .collect()
}

fn limits(plan: &Plan, opts: &Options) -> Limits {
    Limits {
        slots: plan
            .builders
            .iter()
            .map(|b| opts.jobs.unwrap_or(b.max_parallelism).max(1))
            .collect(),
        total: opts.jobs.map(|j| j.max(1)),
        other: opts.jobs.unwrap_or(8).max(1),
        keep_going: opts.keep_going,
    }
}

/// Makes the builder that built each build last its preferred builder, when it is as good a
/// candidate as the preferred one (both native, or both emulating): the up-to-date
/// assessment then looks for the kept image where it is, and a load of that build alone goes
/// to the same engine.
fn prefer_warm_builders(plan: &mut Plan, keys: &Keys, cwd: &std::path::Path) {
    let mut moved: Vec<(NodeIndex, String)> = Vec::new();
    for n in plan.graph.node_indices() {
        let Node::Build(b) = &plan.graph[n] else {
            continue;
        };
        let Some(last) = keys.last_builder(&anchor_name(b, cwd)) else {
            continue;
        };
        let Some(caps) = plan.builder(&last) else {
            continue;
        };
        if b.builder.as_ref() != Some(&last)
            && b.candidates.contains(&last)
            && caps.is_native(&b.platform) != b.emulated
        {
            moved.push((n, last));
        }
    }
    for (n, builder) in moved {
        if let Node::Build(b) = &mut plan.graph[n] {
            b.builder = Some(builder.clone());
        }
        let dependents: Vec<NodeIndex> = plan
            .graph
            .neighbors_directed(n, petgraph::Direction::Outgoing)
            .collect();
        for l in dependents {
            if let Node::Load(load) = &mut plan.graph[l]
                && load.platforms.len() == 1
            {
                load.builder = Some(builder.clone());
            }
        }
    }
}

/// Removes this run's intermediate references from the engines. Loaded and pushed images
/// keep their own tags; BuildKit's cache is separate, so later runs stay cached.
async fn cleanup(ctx: &Ctx) {
    let built: Vec<Built> = ctx
        .built
        .lock()
        .await
        .values()
        .filter(|b| b.reference != b.anchor)
        .cloned()
        .collect();
    // Independent engine calls: run them together rather than one after another.
    let jobs = built.into_iter().map(|b| async move {
        if let Ok(d) = b.endpoint.docker() {
            // Keep the cache: the anchor moves to this run's image before its run tag goes.
            let _ = tag(&d, &b.reference, &b.anchor).await;
            let opts = bollard::query_parameters::RemoveImageOptions {
                force: false,
                noprune: false,
                ..Default::default()
            };
            let _ = d.remove_image(&b.reference, Some(opts), None).await;
        }
    });
    futures_util::future::join_all(jobs).await;
}

/// Runs one node on `builder` (a build's placement; `None` for the others).
async fn run_node(ctx: &Ctx, n: NodeIndex, builder: Option<String>) -> Result<Outcome, RunError> {
    let start = std::time::Instant::now();
    match ctx.assessment.verdict(ctx.plan.graph[n].id()) {
        Some(Verdict::UpToDate(why)) => {
            return Ok(Outcome {
                up_to_date: Some(why.clone()),
                ..Outcome::default()
            });
        }
        Some(Verdict::Reuse { image }) => {
            if let Node::Build(b) = &ctx.plan.graph[n] {
                return Ok(build::reuse(ctx, b, image).await?);
            }
        }
        Some(Verdict::Run(why)) if !why.is_empty() => {
            let _ = ctx.events.send(Event::Log {
                node: ctx.plan.graph[n].id().to_string(),
                line: format!("runs: {why}"),
            });
        }
        _ => {}
    }
    let mut outcome = match &ctx.plan.graph[n] {
        Node::Build(b) => {
            let mut placed = b.clone();
            if let Some(name) = builder {
                placed.emulated = ctx
                    .plan
                    .builder(&name)
                    .is_some_and(|c| !c.is_native(&b.platform));
                placed.builder = Some(name);
            }
            build::build(ctx, &placed).await?
        }
        Node::Load(l) => {
            let o = publish::load(ctx, l).await?;
            publish::record_load(ctx, l, o.builder.as_deref()).await;
            o
        }
        Node::Push(p) => publish::push(ctx, p).await?,
        Node::Export(e) => export::export(ctx, e).await?,
    };
    outcome.duration = start.elapsed();
    Ok(outcome)
}

pub(crate) fn caps<'a>(ctx: &'a Ctx, builder: Option<&String>) -> Result<&'a Capabilities, String> {
    let name = builder.ok_or("no builder can build this platform")?;
    ctx.plan
        .builder(name)
        .ok_or_else(|| format!("unknown builder {name}"))
}

/// The results of the builds a node consumes, in the order of the node's platforms.
pub(crate) async fn inputs(ctx: &Ctx, node_id: &str) -> Result<Vec<Built>, String> {
    let idx = ctx
        .plan
        .graph
        .node_indices()
        .find(|i| ctx.plan.graph[*i].id() == node_id)
        .ok_or("node vanished")?;
    let builds = ctx.plan.input_builds(idx);
    let wanted = match &ctx.plan.graph[idx] {
        Node::Push(p) => p.platforms.len(),
        Node::Load(l) => l.platforms.len(),
        Node::Export(e) => e.platforms.len(),
        Node::Build(_) => return Err("a build has no inputs to publish".into()),
    };
    if builds.len() != wanted {
        return Err(format!("{node_id} lacks a build for one of its platforms"));
    }
    let built = ctx.built.lock().await;
    builds
        .iter()
        .map(|b| {
            built
                .get(&b.id)
                .cloned()
                .ok_or_else(|| format!("{} has no result", b.id))
        })
        .collect()
}

pub(crate) fn docker(e: &Endpoint) -> Result<Docker, String> {
    e.docker()
}
