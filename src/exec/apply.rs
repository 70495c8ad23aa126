//! Runs a plan: nodes in dependency order, at most `max-parallelism` solves per builder
//! (or `--jobs` in all), fail fast or keep going, cancellable. Publishing is last by
//! construction: a push node depends on every platform's build, so a failed or cancelled
//! build means its tags are never written.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use bollard::Docker;
use petgraph::graph::NodeIndex;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::credentials::Credentials;
use super::engine::Endpoint;
use super::events::{Event, Outcome};
use super::inputs::Keys;
use super::publish::tag;
use super::registry::Registry;
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
    pub(crate) digest: Option<String>,
}

pub(crate) struct Ctx {
    pub(crate) plan: Arc<Plan>,
    pub(crate) opts: Options,
    pub(crate) built: tokio::sync::Mutex<HashMap<String, Built>>,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) registry: Option<Registry>,
    /// This run's id: intermediate images are stored under it, so concurrent runs (of this
    /// project or another with the same target names) never see each other's results.
    pub(crate) run: String,
    /// Nodes whose failure event was already sent (with logs) by the node itself.
    pub(crate) reported: tokio::sync::Mutex<std::collections::HashSet<String>>,
    /// Input keys and what is already up to date (`uptodate.rs`).
    pub(crate) keys: Keys,
    pub(crate) assessment: Assessment,
}

pub async fn apply(
    plan: Plan,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Report {
    let plan = Arc::new(plan);
    let registry = Registry::new(opts.credentials.clone()).ok();
    let keys = Keys::new(Keys::cache_dir(&opts.env));
    let assessment = tokio::select! {
        a = uptodate::assess(&plan, &opts.cwd, &keys, registry.as_ref(), opts.rebuild) => a,
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
        reported: Default::default(),
        run: super::session::new_id()[..10].to_string(),
    });
    let order = plan.order();
    let mut state: HashMap<NodeIndex, Option<bool>> = order.iter().map(|n| (*n, None)).collect();
    let mut report: Report = BTreeMap::new();
    let builder_slots: HashMap<String, Arc<Semaphore>> = plan
        .builders
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                Arc::new(Semaphore::new(
                    ctx.opts.jobs.unwrap_or(b.max_parallelism).max(1),
                )),
            )
        })
        .collect();
    let any_slots = Arc::new(Semaphore::new(ctx.opts.jobs.unwrap_or(8).max(1)));
    let mut running: JoinSet<(NodeIndex, Result<Outcome, String>)> = JoinSet::new();
    let mut started: std::collections::HashSet<NodeIndex> = Default::default();
    loop {
        // Start every node whose dependencies succeeded; skip those whose dependencies failed.
        for n in &order {
            if started.contains(n) || state[n].is_some() {
                continue;
            }
            let deps: Vec<NodeIndex> = plan
                .graph
                .neighbors_directed(*n, petgraph::Direction::Incoming)
                .collect();
            if let Some(failed) = deps.iter().find(|d| state[d] == Some(false)) {
                let reason = format!("{} did not succeed", plan.graph[*failed].id());
                state.insert(*n, Some(false));
                report.insert(
                    plan.graph[*n].id().to_string(),
                    Result_::Skipped(reason.clone()),
                );
                let _ = events.send(Event::Skipped {
                    node: plan.graph[*n].id().to_string(),
                    reason,
                });
                continue;
            }
            if cancel.is_cancelled() || !deps.iter().all(|d| state[d] == Some(true)) {
                continue;
            }
            started.insert(*n);
            let slots = node_builder(&plan.graph[*n])
                .and_then(|b| builder_slots.get(&b))
                .cloned()
                .unwrap_or_else(|| any_slots.clone());
            let ctx = ctx.clone();
            let cancel = cancel.clone();
            let n = *n;
            running.spawn(async move {
                let _permit = slots.acquire_owned().await;
                let id = ctx.plan.graph[n].id().to_string();
                if cancel.is_cancelled() {
                    return (n, Err("cancelled".to_string()));
                }
                let _ = ctx.events.send(Event::Started { node: id.clone() });
                let r = tokio::select! {
                    r = run_node(&ctx, n) => r,
                    _ = cancel.cancelled() => Err("cancelled".to_string()),
                };
                (n, r)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (n, r) = match joined {
            Ok(x) => x,
            Err(e) => {
                // A panicked task is a bug; stop everything rather than publish anything. The
                // report records it as a failure, so the run can never end as a success.
                cancel.cancel();
                let error = format!("internal error, please report it: {e}");
                report.insert("internal".into(), Result_::Failed(error.clone()));
                let _ = events.send(Event::Failed {
                    node: "internal".into(),
                    error,
                    logs: Vec::new(),
                });
                continue;
            }
        };
        let id = plan.graph[n].id().to_string();
        match r {
            Ok(outcome) => {
                state.insert(n, Some(true));
                let _ = events.send(Event::Done {
                    node: id.clone(),
                    outcome: outcome.clone(),
                });
                report.insert(id, Result_::Done(outcome));
            }
            Err(e) if e == "cancelled" => {
                state.insert(n, Some(false));
                let _ = events.send(Event::Skipped {
                    node: id.clone(),
                    reason: "cancelled".into(),
                });
                report.insert(id, Result_::Skipped("cancelled".into()));
            }
            Err(e) => {
                state.insert(n, Some(false));
                // A failed solve reported itself, with the failing step's logs.
                let reported = ctx.reported.lock().await.contains(&id);
                if !reported {
                    let _ = events.send(Event::Failed {
                        node: id.clone(),
                        error: e.clone(),
                        logs: Vec::new(),
                    });
                }
                report.insert(id, Result_::Failed(e));
                if !ctx.opts.keep_going {
                    cancel.cancel();
                }
            }
        }
    }
    for n in &order {
        let id = plan.graph[*n].id().to_string();
        if let std::collections::btree_map::Entry::Vacant(e) = report.entry(id.clone()) {
            let reason = if cancel.is_cancelled() {
                "cancelled"
            } else {
                "not reached"
            };
            let _ = events.send(Event::Skipped {
                node: id,
                reason: reason.into(),
            });
            e.insert(Result_::Skipped(reason.into()));
        }
    }
    cleanup(&ctx).await;
    ctx.keys.save();
    report
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

fn node_builder(n: &Node) -> Option<String> {
    match n {
        Node::Build(b) => b.builder.clone(),
        Node::Load(l) => l.builder.clone(),
        _ => None,
    }
}

async fn run_node(ctx: &Ctx, n: NodeIndex) -> Result<Outcome, String> {
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
                return build::reuse(ctx, b, image).await;
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
        Node::Build(b) => build::build(ctx, b).await?,
        Node::Load(l) => {
            let o = publish::load(ctx, l).await?;
            publish::record_load(ctx, l).await;
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
