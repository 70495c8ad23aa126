//! A build node: its Dockerfile, named contexts, secrets and SSH resolved to values, then one
//! solve on the builder the scheduler placed it on (the scheduler retries a transient engine
//! error once). The result stays in the engine under an rbake-owned reference for the nodes
//! that consume it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::agent::Keyring;
use super::apply::{Built, Ctx, caps};
use super::engine::Endpoint;
use super::events::Outcome;
use super::filesync::Dirs;
use super::fswalk::{Disk, Memory, Tree};
use super::paths;
use super::schedule::{ErrorKind, RunError};
use super::session::{SecretSource, SshAgent};
use super::{context, frontend, solve};
use crate::model::access::{Access, Grants};
use crate::model::output::{SecretSource as SpecSource, SecretSpec, SshSpec};
use crate::plan::{Build, NamedContext};

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

pub(crate) async fn build(ctx: &Ctx, b: &Build) -> Result<Outcome, RunError> {
    let caps = caps(ctx, b.builder.as_ref())?;
    let endpoint = Endpoint::of(caps)?;
    let cwd = &ctx.opts.cwd;
    let grants = &ctx.plan.grants;
    let (context_dir, dockerfile_path, mut text) = local_inputs(cwd, grants, b)?;
    let mut attrs = frontend::attrs(b)?;
    let mut rewrites: Vec<(String, String)> = Vec::new();
    let mut dirs = Dirs::default();
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
            return Err(RunError::permanent(format!(
                "named context `{name}` = `{value}` needs BuildKit 0.10+ (builder `{}` has {})",
                caps.name,
                caps.buildkit.as_deref().unwrap_or("an older one")
            )));
        }
        let value = match crate::check::local_context(&value) {
            Some(path) => {
                let dir = paths::recheck(cwd, grants, &path, Access::Read)
                    .map_err(|e| format!("named context `{name}`: {e}"))?
                    .real()
                    .to_path_buf();
                let tree = Disk::new(&dir)
                    .map_err(|e| format!("named context `{name}`: {}: {e}", dir.display()))?;
                dirs.insert(name, Arc::new(tree));
                format!("local:{name}")
            }
            None => value,
        };
        attrs.insert(format!("context:{name}"), value);
    }
    if !rewrites.is_empty() {
        text = context::rewrite_named(&text, &rewrites);
    }
    let context_tree = Disk::new(&context_dir)
        .map_err(|e| format!("cannot read the context {}: {e}", context_dir.display()))?;
    let shared_key = shared_key(&context_tree.root);
    dirs.insert("context", Arc::new(context_tree));
    let rewritten = !rewrites.is_empty() || b.dockerfile_inline.is_some();
    let (dockerfile_tree, filename) =
        dockerfile_source(dockerfile_path.as_deref(), &text, rewritten)?;
    dirs.insert("dockerfile", dockerfile_tree);
    let mut secrets = HashMap::new();
    for s in &b.secrets {
        let spec = SecretSpec::parse(s)?;
        let src = match spec.source {
            SpecSource::File(f) => SecretSource::File(
                paths::recheck(cwd, grants, &f, Access::Read)
                    .map_err(|e| format!("secret `{}`: {e}", spec.id))?
                    .real()
                    .to_path_buf(),
            ),
            SpecSource::Env(e) => SecretSource::Env(e),
        };
        secrets.insert(spec.id, src);
    }
    let ssh = ssh_agents(&b.ssh, cwd, grants, &ctx.opts.env)?;
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
    let req = solve::Request {
        node: b.id.clone(),
        platform: b.platform.to_string(),
        dirs,
        shared_key,
        dockerfile: filename,
        attrs,
        secrets,
        ssh,
        cache_from,
        cache_to,
        entitlements,
        exporter: solve::Exporter::Image(export.clone()),
    };
    // A transient failure is retried by the scheduler, on another builder if this one was lost.
    let mut outcome = match solve::solve(&endpoint, req, &shared, &ctx.events).await {
        Ok(o) => o,
        Err(f) => {
            // Only a failed build asks whether the engine lacked an SBOM generator (so
            // BuildKit had to pull it): a successful one pays no extra request.
            let unheld = if f.unreachable {
                Vec::new()
            } else {
                super::attest::missing_generators(&endpoint, &b.attest).await
            };
            return Err(RunError {
                message: if unheld.is_empty() {
                    f.message
                } else {
                    super::attest::explain_failure(&f.message, &unheld, &caps.name)
                },
                kind: if f.unreachable {
                    ErrorKind::BuilderLost
                } else if f.transient {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Permanent
                },
                logs: f.logs,
            });
        }
    };
    if let Some(k) = ctx.assessment.keys.get(&b.id)
        && let Ok(d) = endpoint.docker()
        && let Ok(img) = d.inspect_image(&export).await
        && let Some(id) = img.id
    {
        ctx.keys.record(&id, k);
    }
    let anchor = anchor_name(b, &ctx.opts.cwd);
    ctx.keys.record_builder(&anchor, &caps.name);
    ctx.built.lock().await.insert(
        b.id.clone(),
        Built {
            reference: export,
            anchor,
            endpoint,
            builder: caps.name.clone(),
            digest: outcome.digest.clone(),
        },
    );
    outcome.builder = Some(caps.name.clone());
    Ok(outcome)
}

/// `ssh` specs as agents by id, as buildx's: `ID` alone is the agent at `$SSH_AUTH_SOCK`;
/// `ID=PATH,...` names one agent socket or any number of private key files, which rbake's
/// own agent (`agent.rs`) serves. Each path is resolved and checked against the working
/// directory and the granted entitlements right before it is read.
fn ssh_agents(
    specs: &[String],
    cwd: &Path,
    grants: &Grants,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<HashMap<String, SshAgent>, String> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = HashMap::new();
    for spec in specs {
        let SshSpec { id, paths: written } = SshSpec::parse(spec);
        if written.is_empty() {
            let sock = env.get("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).ok_or_else(|| {
                format!("ssh `{id}` uses the SSH agent, but SSH_AUTH_SOCK is not set: start an agent and `ssh-add` the key, or name the key file (`{id}=PATH`)")
            })?;
            out.insert(id, SshAgent::Socket(PathBuf::from(sock)));
            continue;
        }
        let mut socket = None;
        let mut keys = Vec::new();
        for w in &written {
            let real = paths::recheck(cwd, grants, w, Access::Read)
                .map_err(|e| format!("ssh `{id}`: {e}"))?
                .real()
                .to_path_buf();
            let meta = std::fs::metadata(&real)
                .map_err(|e| format!("ssh `{id}`: cannot read `{w}`: {e}"))?;
            if meta.file_type().is_socket() {
                socket = Some(real);
            } else {
                keys.push(real);
            }
        }
        // Compat: buildx's agent config takes one socket, or key files, never both.
        let agent = match socket {
            Some(_) if written.len() > 1 => {
                return Err(format!(
                    "ssh `{id}` names an agent socket among other paths: give either one socket or key files"
                ));
            }
            Some(sock) => SshAgent::Socket(sock),
            None => SshAgent::Keys(Arc::new(Keyring::load(&keys).map_err(|(f, e)| {
                format!("ssh `{id}`: the key file {} {e}; {}", f.display(), e.help())
            })?)),
        };
        out.insert(id, agent);
    }
    Ok(out)
}

/// The session's shared key for a context directory: stable across runs, so BuildKit
/// syncs into its copy of the last transfer and only changed files travel.
pub(crate) fn shared_key(context: &Path) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(context.to_string_lossy().as_bytes());
    format!("rbake-{}", crate::base::hex(&digest[..16]))
}

/// The `dockerfile` source and the frontend's `filename`: the Dockerfile's own directory
/// when it is used as written; otherwise (inline, or rewritten for `target:` contexts on
/// BuildKit < 0.10) a small directory in memory holding the text as `Dockerfile`, with the
/// original's `<Dockerfile>.dockerignore` beside it if there is one.
pub(crate) fn dockerfile_source(
    path: Option<&Path>,
    text: &str,
    rewritten: bool,
) -> Result<(Arc<dyn Tree>, String), String> {
    if let (Some(p), false) = (path, rewritten) {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no usable file name", p.display()))?;
        let dir = p.parent().unwrap_or(Path::new("."));
        let tree = Disk::new(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        return Ok((Arc::new(tree), name.to_string()));
    }
    let mut files = vec![("Dockerfile".to_string(), text.as_bytes().to_vec())];
    if let Some(p) = path
        && let Ok(ignore) = std::fs::read(format!("{}.dockerignore", p.display()))
    {
        files.push(("Dockerfile.dockerignore".to_string(), ignore));
    }
    Ok((Arc::new(Memory { files }), "Dockerfile".to_string()))
}

/// A build whose result the engine still holds under its anchor (same input key): the
/// consumers take that image; no solve.
pub(crate) async fn reuse(ctx: &Ctx, b: &Build, image: &str) -> Result<Outcome, String> {
    let caps = caps(ctx, b.builder.as_ref())?;
    let endpoint = Endpoint::of(caps)?;
    let id = endpoint
        .docker()?
        .inspect_image(image)
        .await
        .map_err(|e| format!("the kept image {image} vanished: {e}"))?
        .id;
    ctx.keys.record_builder(image, &caps.name);
    ctx.built.lock().await.insert(
        b.id.clone(),
        Built {
            reference: image.to_string(),
            anchor: image.to_string(),
            endpoint,
            builder: caps.name.clone(),
            digest: id.clone(),
        },
    );
    Ok(Outcome {
        digest: id,
        up_to_date: Some(format!("the engine keeps this build as {image}")),
        builder: Some(caps.name.clone()),
        ..Outcome::default()
    })
}

/// The build's context directory, Dockerfile path and text, each resolved and checked
/// against the working directory and the granted entitlements at the moment of use (a
/// symlink swapped in after planning is refused), the Dockerfile read only if it is a
/// regular file of sane size.
pub(crate) fn local_inputs(
    cwd: &Path,
    grants: &Grants,
    b: &Build,
) -> Result<(PathBuf, Option<PathBuf>, String), String> {
    let context_dir = paths::recheck(cwd, grants, &b.context, Access::Read)
        .map_err(|e| format!("the context: {e}"))?
        .real()
        .to_path_buf();
    match &b.dockerfile_inline {
        Some(t) => Ok((context_dir, None, t.clone())),
        None => {
            let written = if b.dockerfile.starts_with('/') {
                b.dockerfile.clone()
            } else {
                format!("{}/{}", b.context, b.dockerfile)
            };
            let p = paths::recheck(cwd, grants, &written, Access::Read)
                .map_err(|e| format!("the Dockerfile: {e}"))?
                .real()
                .to_path_buf();
            let data = paths::read_regular(&p, paths::MAX_TEXT)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let t = String::from_utf8(data)
                .map_err(|_| format!("{} is not UTF-8 text", p.display()))?;
            Ok((context_dir, Some(p), t))
        }
    }
}
