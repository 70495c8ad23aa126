//! Which nodes of a plan are up to date, before anything runs.
//!
//! Every node gets an input key ([`super::inputs`]). A load is up to date when each of its
//! tags names an image recorded with its key; a push when each tag in the registry resolves
//! to a top manifest annotated with its key; an export is always written. A build is needed
//! only when some node that consumes it runs; a needed build whose key matches the image
//! kept under its anchor reference is reused without a solve. A skip is therefore exactly
//! what a full BuildKit cache hit would have produced.

use std::collections::HashMap;
use std::path::Path;

use petgraph::Direction;

use super::build::anchor_name;
use super::engine::Endpoint;
use super::inputs::{self, ANNOTATION, BuildInputs, Key, Keys};
use super::registry::{Reference, Registry};
use crate::model::capabilities::Capabilities;
use crate::plan::{Build, NamedContext, Node, Plan};

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Nothing to do: the outputs already hold this result.
    UpToDate(String),
    /// A build whose result the engine still holds under `image`: no solve.
    Reuse { image: String },
    /// Must run, and why.
    Run(String),
}

#[derive(Default)]
pub struct Assessment {
    pub keys: HashMap<String, Key>,
    pub verdicts: HashMap<String, Verdict>,
}

impl Assessment {
    pub fn verdict(&self, node: &str) -> Option<&Verdict> {
        self.verdicts.get(node)
    }
}

/// Ids of images by reference, per engine, asked once; the plan's builders give each
/// endpoint its TLS material.
struct Images<'a>(
    tokio::sync::Mutex<HashMap<(String, String), Option<String>>>,
    &'a [Capabilities],
);

/// Base images the engine does not hold, pinned by their registry: the digest each
/// reference's manifest (or index) has now, asked once per run.
#[derive(Default)]
struct Pulled(tokio::sync::Mutex<HashMap<String, Option<String>>>);

impl Pulled {
    /// What `reference` names in its registry: `registry sha256:...`, or `None` when the
    /// registry cannot say (unreachable, no such tag, no credentials). A reference pinned
    /// by digest names that digest without asking.
    async fn digest(&self, registry: Option<&Registry>, reference: &str) -> Option<String> {
        if let Some((_, digest)) = reference.split_once('@') {
            return Some(format!("pinned {digest}"));
        }
        let registry = registry?;
        if let Some(v) = self.0.lock().await.get(reference) {
            return v.clone();
        }
        let digest = match Reference::parse(reference) {
            Ok(r) => registry.digest_of(&r, &r.tag).await.ok().flatten(),
            Err(_) => None,
        };
        let v = digest.map(|d| format!("registry {d}"));
        self.0.lock().await.insert(reference.to_string(), v.clone());
        v
    }
}

impl Images<'_> {
    async fn id(&self, endpoint: &str, reference: &str) -> Option<String> {
        let k = (endpoint.to_string(), reference.to_string());
        if let Some(v) = self.0.lock().await.get(&k) {
            return v.clone();
        }
        let connect = match self.1.iter().find(|c| c.endpoint == endpoint) {
            Some(c) => Endpoint::of(c),
            None => Endpoint::parse(endpoint),
        };
        let id = match connect.and_then(|e| e.docker()) {
            Ok(d) => d.inspect_image(reference).await.ok().and_then(|i| i.id),
            Err(_) => None,
        };
        self.0.lock().await.insert(k, id.clone());
        id
    }
}

pub async fn assess(
    plan: &Plan,
    cwd: &Path,
    keys: &Keys,
    registry: Option<&Registry>,
    rebuild: bool,
) -> Assessment {
    let mut a = Assessment::default();
    let images = Images(Default::default(), &plan.builders);
    let pulled = Pulled::default();
    let order = plan.order();
    let mut why_keyless: HashMap<String, String> = HashMap::new();

    // Keys, dependencies first.
    for n in &order {
        let node = &plan.graph[*n];
        let id = node.id().to_string();
        let key = match node {
            Node::Build(b) => {
                let sources = BaseSources {
                    images: &images,
                    pulled: &pulled,
                    registry,
                };
                build_key(plan, b, cwd, keys, &sources, &a.keys).await
            }
            _ => {
                let builds = plan.input_builds(*n);
                let mut ks = Vec::new();
                let mut missing = None;
                for b in &builds {
                    match a.keys.get(&b.id) {
                        Some(k) => ks.push(k),
                        None => {
                            missing = Some(
                                why_keyless
                                    .get(&b.id)
                                    .cloned()
                                    .unwrap_or_else(|| format!("{} always runs", b.id)),
                            )
                        }
                    }
                }
                match (missing, node) {
                    (Some(m), _) => Err(m),
                    (None, Node::Push(p)) => {
                        let mut extra: Vec<String> = p.annotations.clone();
                        extra.extend(p.platforms.iter().map(|p| p.to_string()));
                        Ok(inputs::output_key("push", &ks, &extra))
                    }
                    (None, Node::Load(_)) if ks.len() == 1 => Ok(ks[0].clone()),
                    (None, Node::Load(l)) => {
                        let extra: Vec<String> =
                            l.platforms.iter().map(|p| p.to_string()).collect();
                        Ok(inputs::output_key("load", &ks, &extra))
                    }
                    (None, _) => Err("exports are always written".to_string()),
                }
            }
        };
        match key {
            Ok(k) => {
                a.keys.insert(id, k);
            }
            Err(why) => {
                why_keyless.insert(id, why);
            }
        }
    }

    // Outputs.
    for n in &order {
        let node = &plan.graph[*n];
        let id = node.id().to_string();
        let verdict = match node {
            Node::Build(_) => continue,
            _ if rebuild => Verdict::Run("--rebuild".into()),
            Node::Export(_) => Verdict::Run("exports are always written".into()),
            _ => match a.keys.get(&id) {
                None => Verdict::Run(why_keyless.get(&id).cloned().unwrap_or_default()),
                Some(k) => match node {
                    Node::Load(l) => {
                        let endpoint = plan.endpoint(l.builder.as_deref()).unwrap_or_default();
                        load_verdict(&l.tags, endpoint, k, keys, &images).await
                    }
                    Node::Push(p) => push_verdict(&p.tags, k, registry).await,
                    _ => continue,
                },
            },
        };
        a.verdicts.insert(id, verdict);
    }

    // Builds, dependents first: needed only if something that consumes them runs.
    for n in order.iter().rev() {
        let Node::Build(b) = &plan.graph[*n] else {
            continue;
        };
        let needed_by: Option<String> = plan
            .graph
            .neighbors_directed(*n, Direction::Outgoing)
            .map(|d| plan.graph[d].id().to_string())
            .find(|d| matches!(a.verdicts.get(d), Some(Verdict::Run(_))));
        let verdict = match (needed_by, a.keys.get(&b.id)) {
            (None, _) if !rebuild => {
                Verdict::UpToDate("every output it feeds is up to date".into())
            }
            _ if rebuild => Verdict::Run("--rebuild".into()),
            (Some(_), None) => Verdict::Run(why_keyless.get(&b.id).cloned().unwrap_or_default()),
            (Some(_), Some(k)) => {
                let endpoint = plan.endpoint(b.builder.as_deref()).unwrap_or_default();
                let anchor = anchor_name(b, cwd);
                match images.id(endpoint, &anchor).await {
                    None => Verdict::Run("no earlier build of it is kept in the engine".into()),
                    Some(image) => match keys.recorded(&image) {
                        Some(r) if r.key == k.digest => Verdict::Reuse { image: anchor },
                        Some(r) => Verdict::Run(changed(k, &r.parts)),
                        None => Verdict::Run("its last build was not recorded".into()),
                    },
                }
            }
            (None, _) => Verdict::Run("--rebuild".into()),
        };
        a.verdicts.insert(b.id.clone(), verdict);
    }
    a
}

fn changed(k: &Key, old: &std::collections::BTreeMap<String, String>) -> String {
    let parts = k.changed_since(old);
    if parts.is_empty() {
        "its inputs changed".into()
    } else {
        format!("changed: {}", parts.join(", "))
    }
}

/// Where a base image's identity comes from: the engine's store first (what BuildKit uses
/// when the image is there), else the registry it would be pulled from.
struct BaseSources<'a> {
    images: &'a Images<'a>,
    pulled: &'a Pulled,
    registry: Option<&'a Registry>,
}

async fn build_key(
    plan: &Plan,
    b: &Build,
    cwd: &Path,
    keys: &Keys,
    sources: &BaseSources<'_>,
    known: &HashMap<String, Key>,
) -> Result<Key, String> {
    let caps = b
        .builder
        .as_deref()
        .and_then(|n| plan.builder(n))
        .ok_or("no builder")?;
    let (context_dir, dockerfile_path, text) = super::build::local_inputs(cwd, &plan.grants, b)?;
    let native = caps
        .native
        .first()
        .or(caps.platforms.first())
        .cloned()
        .unwrap_or_else(|| b.platform.clone());
    let mut base = Vec::new();
    for r in inputs::base_images(&text, b, &native) {
        let id = match sources.images.id(&caps.endpoint, &r).await {
            Some(id) => Some(id),
            None => sources.pulled.digest(sources.registry, &r).await,
        };
        base.push((r, id));
    }
    let dependencies = b
        .contexts
        .iter()
        .filter_map(|(name, c)| match c {
            NamedContext::Target { node, .. } => Some((name.clone(), known.get(node).cloned())),
            NamedContext::Source { .. } => None,
        })
        .collect();
    let inputs = BuildInputs {
        build: b,
        context_dir: &context_dir,
        dockerfile_text: &text,
        dockerignore: inputs::dockerignore(&context_dir, dockerfile_path.as_deref()),
        local_contexts: inputs::local_contexts(b, cwd),
        base_images: base,
        dependencies,
    };
    let keys_ref = keys;
    tokio::task::block_in_place(|| inputs::build_key(keys_ref, &inputs))
}

async fn load_verdict(
    tags: &[String],
    endpoint: &str,
    k: &Key,
    keys: &Keys,
    images: &Images<'_>,
) -> Verdict {
    for t in tags {
        let Some(id) = images.id(endpoint, t).await else {
            return Verdict::Run(format!("{t} is not in the engine"));
        };
        match keys.recorded(&id) {
            Some(r) if r.key == k.digest => {}
            Some(r) => return Verdict::Run(format!("{t}: {}", changed(k, &r.parts))),
            None => return Verdict::Run(format!("{t} was not built by rbake from these inputs")),
        }
    }
    Verdict::UpToDate(format!("{} hold(s) this build", tags.join(", ")))
}

async fn push_verdict(tags: &[String], k: &Key, registry: Option<&Registry>) -> Verdict {
    let Some(registry) = registry else {
        return Verdict::Run("no registry client".into());
    };
    for t in tags {
        let r = match Reference::parse(t) {
            Ok(r) => r,
            Err(e) => return Verdict::Run(e.to_string()),
        };
        let body = match registry.get_manifest(&r, &r.tag).await {
            Ok(Some(b)) => b,
            Ok(None) => return Verdict::Run(format!("{t} is not in the registry")),
            Err(e) => return Verdict::Run(format!("cannot read {t}: {e}")),
        };
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if doc["annotations"][ANNOTATION].as_str() != Some(k.digest.as_str()) {
            return Verdict::Run(format!("{t} holds an image built from other inputs"));
        }
    }
    Verdict::UpToDate(format!("{} already hold(s) this build", tags.join(", ")))
}
