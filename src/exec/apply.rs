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
use super::engine::{Endpoint, error_chain};
use super::events::{Event, Outcome};
use super::image::{self, Image};
use super::registry::{Reference, Registry};
use super::session::SecretSource;
use super::{context, frontend, solve};
use crate::model::Capabilities;
use crate::model::output::{SecretSource as SpecSource, SecretSpec};
use crate::plan::{Build, Export, Load, NamedContext, Node, Plan, Push};

pub struct Options {
    /// Total concurrent nodes; `None`: each builder's `max-parallelism`.
    pub jobs: Option<usize>,
    pub keep_going: bool,
    /// Relative paths in the plan are relative to this directory.
    pub cwd: PathBuf,
    pub env: Arc<std::collections::BTreeMap<String, String>>,
    pub credentials: Arc<Credentials>,
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
struct Built {
    reference: String,
    /// Where the image stays after the run (see [`cleanup`]).
    anchor: String,
    endpoint: Endpoint,
    digest: Option<String>,
}

struct Ctx {
    plan: Arc<Plan>,
    opts: Options,
    built: tokio::sync::Mutex<HashMap<String, Built>>,
    events: mpsc::UnboundedSender<Event>,
    registry: Option<Registry>,
    /// This run's id: intermediate images are stored under it, so concurrent runs (of this
    /// project or another with the same target names) never see each other's results.
    run: String,
    /// Nodes whose failure event was already sent (with logs) by the node itself.
    reported: tokio::sync::Mutex<std::collections::HashSet<String>>,
}

pub async fn apply(
    plan: Plan,
    opts: Options,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Report {
    let plan = Arc::new(plan);
    let registry = Registry::new(opts.credentials.clone()).ok();
    let ctx = Arc::new(Ctx {
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
                // A panicked task is a bug; stop everything rather than publish anything.
                cancel.cancel();
                let _ = events.send(Event::Failed {
                    node: "internal".into(),
                    error: format!("internal error, please report it: {e}"),
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
    report
}

/// Removes this run's intermediate references from the engines. Loaded and pushed images
/// keep their own tags; BuildKit's cache is separate, so later runs stay cached.
async fn cleanup(ctx: &Ctx) {
    let built: Vec<Built> = ctx.built.lock().await.values().cloned().collect();
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
    let mut outcome = match &ctx.plan.graph[n] {
        Node::Build(b) => build(ctx, b).await?,
        Node::Load(l) => load(ctx, l).await?,
        Node::Push(p) => push(ctx, p).await?,
        Node::Export(e) => export(ctx, e).await?,
    };
    outcome.duration = start.elapsed();
    Ok(outcome)
}

fn caps<'a>(ctx: &'a Ctx, builder: Option<&String>) -> Result<&'a Capabilities, String> {
    let name = builder.ok_or("no builder can build this platform")?;
    ctx.plan
        .builder(name)
        .ok_or_else(|| format!("unknown builder {name}"))
}

/// The rbake-owned reference a build's result is stored under in its engine.
pub fn export_name(b: &Build, run: &str) -> String {
    format!(
        "rbake.local/{}:{}-{run}",
        clean_name(&b.target),
        b.platform.slug()
    )
}

/// The stable reference a build's last image is kept under, per project and target.
/// BuildKit inside the engine drops a build's cache with the last image that holds it, so
/// one image per (project, target, platform) stays tagged to keep later runs cached.
pub fn anchor_name(b: &Build, project: &std::path::Path) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(project.to_string_lossy().as_bytes());
    let hash = crate::base::hex(&digest[..4]);
    format!(
        "rbake.local/cache-{hash}/{}:{}",
        clean_name(&b.target),
        b.platform.slug()
    )
}

fn clean_name(target: &str) -> String {
    target
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

async fn build(ctx: &Ctx, b: &Build) -> Result<Outcome, String> {
    let caps = caps(ctx, b.builder.as_ref())?;
    let endpoint = Endpoint::parse(&caps.endpoint)?;
    let cwd = &ctx.opts.cwd;
    let context_dir = cwd.join(&b.context);
    let (dockerfile_path, mut text) = match &b.dockerfile_inline {
        Some(t) => (None, t.clone()),
        None => {
            let p = if b.dockerfile.starts_with('/') {
                PathBuf::from(&b.dockerfile)
            } else {
                context_dir.join(&b.dockerfile)
            };
            let t = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            (Some(p), t)
        }
    };
    let mut attrs = frontend::attrs(b)?;
    let mut rewrites: Vec<(String, String)> = Vec::new();
    for (name, c) in &b.contexts {
        let value = match c {
            NamedContext::Target { node, .. } => {
                let built = ctx
                    .built
                    .lock()
                    .await
                    .get(node)
                    .cloned()
                    .ok_or_else(|| format!("the result of {node} is missing"))?;
                if caps.named_contexts {
                    format!("docker-image://{}", built.reference)
                } else {
                    rewrites.push((name.clone(), built.reference.clone()));
                    continue;
                }
            }
            NamedContext::Source { value } => value.clone(),
        };
        if !caps.named_contexts {
            if let Some(img) = value.strip_prefix("docker-image://") {
                rewrites.push((name.clone(), img.to_string()));
                continue;
            }
            return Err(format!(
                "named context `{name}` = `{value}` needs BuildKit 0.10+ (builder `{}` has {})",
                caps.name,
                caps.buildkit.as_deref().unwrap_or("an older one")
            ));
        }
        attrs.insert(format!("context:{name}"), value);
    }
    if !rewrites.is_empty() {
        text = context::rewrite_named(&text, &rewrites);
    }
    let ctx_tar = {
        let dir = context_dir.clone();
        let dp = dockerfile_path.clone();
        let t = text.clone();
        let rewritten = !rewrites.is_empty() || b.dockerfile_inline.is_some();
        tokio::task::spawn_blocking(move || context::pack(&dir, dp.as_deref(), &t, rewritten))
            .await
            .map_err(|e| e.to_string())??
    };
    let mut secrets = HashMap::new();
    for s in &b.secrets {
        let spec = SecretSpec::parse(s)?;
        let src = match spec.source {
            SpecSource::File(f) => SecretSource::File(if f.starts_with('/') {
                PathBuf::from(f)
            } else {
                cwd.join(f)
            }),
            SpecSource::Env(e) => SecretSource::Env(e),
        };
        secrets.insert(spec.id, src);
    }
    let ssh = ssh_sockets(&b.ssh, cwd, &ctx.opts.env)?;
    let mut entitlements = Vec::new();
    if b.network.as_deref() == Some("host") {
        entitlements.push("network.host".to_string());
    }
    let cache_from = b
        .cache_from
        .iter()
        .map(|c| frontend::cache_entry(c))
        .collect::<Result<Vec<_>, _>>()?;
    let cache_to = b
        .cache_to
        .iter()
        .map(|c| frontend::cache_entry(c))
        .collect::<Result<Vec<_>, _>>()?;
    let export = export_name(b, &ctx.run);
    let shared = solve::Shared {
        credentials: ctx.opts.credentials.clone(),
        env: ctx.opts.env.clone(),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let req = solve::Request {
            node: b.id.clone(),
            platform: b.platform.to_string(),
            context: ctx_tar.tar.clone(),
            dockerfile: ctx_tar.dockerfile.clone(),
            attrs: attrs.clone(),
            uploads: HashMap::new(),
            secrets: secrets.clone(),
            ssh: ssh.clone(),
            cache_from: cache_from.clone(),
            cache_to: cache_to.clone(),
            entitlements: entitlements.clone(),
            export_name: export.clone(),
        };
        match solve::solve(&endpoint, req, &shared, &ctx.events).await {
            Ok(outcome) => {
                ctx.built.lock().await.insert(
                    b.id.clone(),
                    Built {
                        reference: export.clone(),
                        anchor: anchor_name(b, &ctx.opts.cwd),
                        endpoint: endpoint.clone(),
                        digest: outcome.digest.clone(),
                    },
                );
                return Ok(outcome);
            }
            Err(f) if f.transient && attempt == 1 => {
                let _ = ctx.events.send(Event::Retry {
                    node: b.id.clone(),
                    reason: f.message,
                });
            }
            Err(f) => {
                ctx.reported.lock().await.insert(b.id.clone());
                let _ = ctx.events.send(Event::Failed {
                    node: b.id.clone(),
                    error: f.message.clone(),
                    logs: f.logs,
                });
                return Err(f.message);
            }
        }
    }
}

/// The builds a node consumes, in platform order.
async fn inputs(ctx: &Ctx, node_id: &str) -> Result<Vec<Built>, String> {
    let idx = ctx
        .plan
        .graph
        .node_indices()
        .find(|i| ctx.plan.graph[*i].id() == node_id)
        .ok_or("node vanished")?;
    let mut deps: Vec<NodeIndex> = ctx
        .plan
        .graph
        .neighbors_directed(idx, petgraph::Direction::Incoming)
        .collect();
    deps.sort();
    let built = ctx.built.lock().await;
    deps.iter()
        .map(|d| {
            built
                .get(ctx.plan.graph[*d].id())
                .cloned()
                .ok_or_else(|| format!("{} has no result", ctx.plan.graph[*d].id()))
        })
        .collect()
}

fn docker(e: &Endpoint) -> Result<Docker, String> {
    e.docker()
}

async fn tag(docker: &Docker, source: &str, target: &str) -> Result<(), String> {
    let r = Reference::parse(target)?;
    let repo = if r.host == "registry-1.docker.io" {
        r.repo.trim_start_matches("library/").to_string()
    } else {
        format!("{}/{}", r.host, r.repo)
    };
    // Keep the name as the user wrote it (without a registry host, docker adds none).
    let repo = if target.starts_with(&r.host) {
        repo
    } else {
        target
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or(target.to_string(), |(n, _)| n.to_string())
    };
    let opts = bollard::query_parameters::TagImageOptions {
        repo: Some(repo),
        tag: Some(r.tag.clone()),
    };
    docker
        .tag_image(source, Some(opts))
        .await
        .map_err(|e| format!("cannot tag {target}: {}", error_chain(&e)))
}

async fn load(ctx: &Ctx, l: &Load) -> Result<Outcome, String> {
    let builds = inputs(ctx, &l.id).await?;
    let first = builds.first().ok_or("nothing to load")?;
    let d = docker(&first.endpoint)?;
    if builds.len() == 1 {
        for t in &l.tags {
            tag(&d, &first.reference, t).await?;
        }
        return Ok(Outcome {
            digest: first.digest.clone(),
            published: l.tags.clone(),
            ..Outcome::default()
        });
    }
    // A containerd store takes one multi-platform image: load an OCI layout of all of them.
    let mut images = Vec::new();
    for b in &builds {
        images.push(image::save(&docker(&b.endpoint)?, &b.reference).await?);
    }
    let refs: Vec<&Image> = images.iter().collect();
    let name = l.tags.first().cloned();
    let layout = image::oci_layout(&refs, name.as_deref())?;
    let opts = bollard::query_parameters::ImportImageOptions {
        quiet: true,
        ..Default::default()
    };
    let mut stream = d.import_image(opts, bollard::body_full(layout.into()), None);
    use futures_util::StreamExt;
    while let Some(msg) = stream.next().await {
        let msg = msg.map_err(|e| {
            format!(
                "the engine refused the multi-platform image: {}",
                error_chain(&e)
            )
        })?;
        if let Some(err) = msg.error_detail.and_then(|e| e.message) {
            return Err(format!(
                "the engine refused the multi-platform image: {err}"
            ));
        }
    }
    for t in l.tags.iter().skip(1) {
        if let Some(n) = &name {
            tag(&d, n, t).await?;
        }
    }
    Ok(Outcome {
        digest: Some(image::index(&refs).digest),
        published: l.tags.clone(),
        ..Outcome::default()
    })
}

async fn push(ctx: &Ctx, p: &Push) -> Result<Outcome, String> {
    let registry = ctx
        .registry
        .as_ref()
        .ok_or("the registry client could not start (TLS roots)")?;
    let builds = inputs(ctx, &p.id).await?;
    let annotations = p
        .annotations
        .iter()
        .map(|a| image::Annotation::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut images = Vec::new();
    // Builds are wired in platform order, so they line up with the node's platforms.
    for (b, platform) in builds.iter().zip(&p.platforms) {
        let saved = image::save(&docker(&b.endpoint)?, &b.reference).await?;
        images.push(image::annotate(&saved, &annotations, &platform.to_string()));
    }
    let refs: Vec<&Image> = images.iter().collect();
    let top = if images.len() == 1 {
        images[0].manifest.clone()
    } else {
        image::index_with(&refs, &annotations)
    };
    // Every platform's image goes up by digest first, to every repository named...
    let mut repos: Vec<Reference> = Vec::new();
    for t in &p.tags {
        let r = Reference::parse(t)?;
        if !repos.iter().any(|x| x.host == r.host && x.repo == r.repo) {
            repos.push(r);
        }
    }
    for r in &repos {
        for img in &images {
            registry.push_image(r, img).await.map_err(|e| {
                format!(
                    "pushing {} to {}/{}: {e}",
                    img.manifest.digest, r.host, r.repo
                )
            })?;
        }
        if images.len() > 1 {
            registry.put_manifest(r, &top.digest, &top).await?;
        }
    }
    // ...and only then are the tags written.
    for t in &p.tags {
        let r = Reference::parse(t)?;
        registry
            .put_manifest(&r, &r.tag, &top)
            .await
            .map_err(|e| format!("writing tag {t}: {e}"))?;
    }
    Ok(Outcome {
        digest: Some(top.digest.clone()),
        published: p.tags.clone(),
        ..Outcome::default()
    })
}

async fn export(ctx: &Ctx, e: &Export) -> Result<Outcome, String> {
    let builds = inputs(ctx, &e.id).await?;
    let dest = ctx.opts.cwd.join(&e.dest);
    match e.kind.as_str() {
        "oci" => {
            let mut images = Vec::new();
            for b in &builds {
                images.push(image::save(&docker(&b.endpoint)?, &b.reference).await?);
            }
            let refs: Vec<&Image> = images.iter().collect();
            let layout = image::oci_layout(&refs, None)?;
            write_atomic(&dest, &layout)?;
        }
        kind => {
            for (b, platform) in builds.iter().zip(&e.platforms) {
                let fs = filesystem(&docker(&b.endpoint)?, &b.reference).await?;
                let multi = builds.len() > 1;
                let sub = platform.slug().replace('-', "_");
                match kind {
                    "tar" => {
                        let path = if multi {
                            dest.with_file_name(format!(
                                "{}-{sub}.tar",
                                dest.file_stem()
                                    .map(|s| s.to_string_lossy().to_string())
                                    .unwrap_or_default()
                            ))
                        } else {
                            dest.clone()
                        };
                        write_atomic(&path, &fs)?;
                    }
                    _ => {
                        let dir = if multi { dest.join(&sub) } else { dest.clone() };
                        std::fs::create_dir_all(&dir)
                            .map_err(|x| format!("cannot create {}: {x}", dir.display()))?;
                        tar::Archive::new(&fs[..])
                            .unpack(&dir)
                            .map_err(|x| format!("cannot unpack into {}: {x}", dir.display()))?;
                    }
                }
            }
        }
    }
    Ok(Outcome {
        published: vec![e.dest.clone()],
        ..Outcome::default()
    })
}

/// The image's root filesystem as a tar, through a created (never started) container.
async fn filesystem(d: &Docker, reference: &str) -> Result<Vec<u8>, String> {
    use futures_util::StreamExt;
    let body = bollard::models::ContainerCreateBody {
        image: Some(reference.to_string()),
        cmd: Some(vec!["/rbake-export".into()]),
        ..Default::default()
    };
    let c = d.create_container(None, body).await.map_err(|e| {
        format!(
            "cannot create a container from {reference}: {}",
            error_chain(&e)
        )
    })?;
    let mut out = Vec::new();
    let mut stream = d.export_container(&c.id);
    let mut err = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => {
                err = Some(error_chain(&e));
                break;
            }
        }
    }
    let _ = d
        .remove_container(
            &c.id,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
    match err {
        Some(e) => Err(format!("cannot export the filesystem of {reference}: {e}")),
        None => Ok(out),
    }
}

/// Writes a file via a temporary sibling, so a failed export leaves no partial file.
fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("rbake-partial");
    std::fs::write(&tmp, data).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `ssh` specs (`default`, `ID`, `ID=PATH`) as agent sockets by id. Key files would need an
/// agent of rbake's own; forwarding the user's agent keeps keys out of rbake entirely.
fn ssh_sockets(
    specs: &[String],
    cwd: &std::path::Path,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<HashMap<String, PathBuf>, String> {
    let mut out = HashMap::new();
    for spec in specs {
        let (id, path) = match spec.split_once('=') {
            Some((id, p)) => (
                id.to_string(),
                Some(p.split(',').next().unwrap_or(p).to_string()),
            ),
            None => (spec.clone(), None),
        };
        let path = match path {
            Some(p) => if p.starts_with('/') { PathBuf::from(p) } else { cwd.join(p) },
            None => PathBuf::from(env.get("SSH_AUTH_SOCK").ok_or_else(|| {
                format!("ssh `{id}` uses the SSH agent, but SSH_AUTH_SOCK is not set: start an agent and `ssh-add` the key")
            })?),
        };
        use std::os::unix::fs::FileTypeExt;
        let is_socket = std::fs::metadata(&path)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false);
        if !is_socket {
            return Err(format!(
                "ssh `{id}` points at {}, which is not an agent socket: load the key into an agent (`ssh-add {}`) and use `{id}` alone",
                path.display(),
                path.display()
            ));
        }
        out.insert(id, path);
    }
    Ok(out)
}
