//! One BuildKit solve: the Dockerfile frontend on local sources served by file sync, for one platform,
//! exported into the engine's image store under an rbake-owned reference, or by BuildKit's
//! `local`/`tar` exporter to the session's file send. Progress comes from a second
//! connection streaming `Control.Status` for the same build ref.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bollard_buildkit_proto::moby::buildkit::v1::{
    CacheOptions, CacheOptionsEntry, SolveRequest, StatusRequest,
};
use tokio::sync::mpsc;

use super::credentials::Credentials;
use super::engine::{Endpoint, error_chain};
use super::events::{Event, Outcome};
use super::session::{self, SecretSource, Services};

/// Everything one solve needs, already resolved to values.
pub struct Request {
    pub node: String,
    pub platform: String,
    /// Local sources: `context`, `dockerfile` and named local contexts.
    pub dirs: super::filesync::Dirs,
    /// The session's shared key (see `session::Services::shared_key`).
    pub shared_key: String,
    /// The Dockerfile's name inside the `dockerfile` source (the frontend's `filename`).
    pub dockerfile: String,
    /// Frontend attributes beyond context, filename and platform (args, labels, target...).
    pub attrs: HashMap<String, String>,
    pub secrets: HashMap<String, SecretSource>,
    pub ssh: HashMap<String, super::session::SshAgent>,
    pub cache_from: Vec<CacheOptionsEntry>,
    pub cache_to: Vec<CacheOptionsEntry>,
    pub entitlements: Vec<String>,
    pub exporter: Exporter,
}

/// Where a solve's result goes.
pub enum Exporter {
    /// Into the engine's image store under this reference (the `moby` exporter).
    Image(String),
    /// BuildKit's `local` or `tar` exporter, sending to the session's receiver.
    Files(super::filesend::Receiver),
}

pub struct Shared {
    pub credentials: Arc<Credentials>,
    pub env: Arc<std::collections::BTreeMap<String, String>>,
}

/// How a solve failed: `transient` errors (the engine dropped a connection) are retried;
/// `unreachable` means no connection to the engine could be opened at all (it is down).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub logs: Vec<String>,
    pub transient: bool,
    pub unreachable: bool,
}

pub async fn solve(
    endpoint: &Endpoint,
    req: Request,
    shared: &Shared,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Outcome, Failure> {
    let start = Instant::now();
    let unreachable = |message: String| Failure {
        message,
        logs: Vec::new(),
        transient: true,
        unreachable: true,
    };
    let services = Services {
        dirs: req.dirs,
        shared_key: req.shared_key,
        secrets: req.secrets,
        credentials: shared.credentials.clone(),
        ssh: req.ssh,
        env: shared.env.clone(),
        receiver: match &req.exporter {
            Exporter::Files(r) => Some(r.clone()),
            Exporter::Image(_) => None,
        },
    };
    let session = session::open(endpoint, &format!("rbake {}", req.node), services)
        .await
        .map_err(unreachable)?;
    let mut control = endpoint
        .control()
        .await
        .map_err(|e| unreachable(format!("cannot reach BuildKit: {e}")))?;
    let mut status_client = endpoint
        .control()
        .await
        .map_err(|e| unreachable(format!("cannot reach BuildKit: {e}")))?;

    let build_ref = session::new_id();
    let mut frontend_attrs = req.attrs;
    frontend_attrs.insert("filename".into(), req.dockerfile);
    frontend_attrs.insert("platform".into(), req.platform);
    let mut exporter_attrs = HashMap::new();
    let exporter = match req.exporter {
        Exporter::Image(name) => {
            exporter_attrs.insert("name".to_string(), name);
            "moby"
        }
        Exporter::Files(r) => r.exporter(),
    };
    let request = SolveRequest {
        r#ref: build_ref.clone(),
        session: session.id.clone(),
        frontend: "dockerfile.v0".into(),
        frontend_attrs,
        exporter_deprecated: exporter.into(),
        exporter_attrs_deprecated: exporter_attrs,
        cache: Some(CacheOptions {
            exports: req.cache_to,
            imports: req.cache_from,
            ..CacheOptions::default()
        }),
        entitlements: req.entitlements,
        ..SolveRequest::default()
    };

    // Progress: vertex names, cached markers and logs, streamed while the solve runs.
    let node = req.node.clone();
    let tx = events.clone();
    let status_ref = build_ref.clone();
    let progress = tokio::spawn(async move {
        let mut steps: HashMap<String, (String, bool, bool)> = HashMap::new();
        let mut logs: Vec<String> = Vec::new();
        let Ok(resp) = status_client
            .status(StatusRequest { r#ref: status_ref })
            .await
        else {
            return (steps, logs);
        };
        let mut stream = resp.into_inner();
        while let Ok(Some(msg)) = stream.message().await {
            for v in msg.vertexes {
                let done = v.completed.is_some();
                let prev = steps.insert(v.digest.clone(), (v.name.clone(), v.cached, done));
                if prev.as_ref().is_none_or(|p| p.2 != done || p.1 != v.cached) {
                    let _ = tx.send(Event::Step {
                        node: node.clone(),
                        name: v.name,
                        cached: v.cached,
                        done,
                    });
                }
            }
            for l in msg.logs {
                for line in String::from_utf8_lossy(&l.msg).lines() {
                    logs.push(line.to_string());
                    if logs.len() > 200 {
                        logs.remove(0);
                    }
                    let _ = tx.send(Event::Log {
                        node: node.clone(),
                        line: line.to_string(),
                    });
                }
            }
        }
        (steps, logs)
    });

    // If this future is dropped (the run was cancelled), the guard stops the progress task,
    // so no event for this node follows its terminal one.
    let mut progress = AbortOnDrop(Some(progress));
    let result = control.solve(request).await;
    let handle = progress.0.take().expect("taken once");
    let abort = handle.abort_handle();
    let (steps, logs) = match tokio::time::timeout(std::time::Duration::from_secs(10), handle).await
    {
        Ok(r) => r.unwrap_or_default(),
        Err(_) => {
            abort.abort();
            Default::default()
        }
    };
    drop(session);
    match result {
        Ok(resp) => {
            let r = resp.into_inner().exporter_response;
            let digest = r
                .get("containerimage.digest")
                .or_else(|| r.get("containerimage.config.digest"))
                .cloned();
            let steps_total = steps
                .values()
                .filter(|s| !s.0.starts_with("[internal]"))
                .count();
            let cached = steps
                .values()
                .filter(|s| !s.0.starts_with("[internal]") && s.1)
                .count();
            // A classic store's exporter reports only the image id, which is the config's
            // digest (buildx fills the config digest in the same way).
            let config_digest = r
                .get("containerimage.config.digest")
                .or_else(|| r.get("containerimage.digest"))
                .cloned();
            Ok(Outcome {
                duration: start.elapsed(),
                digest,
                recorded: Box::new(super::events::Recorded {
                    config_digest,
                    build_ref: Some(build_ref),
                    descriptor: None,
                }),
                steps: steps_total,
                cached_steps: cached,
                ..Outcome::default()
            })
        }
        Err(status) => {
            let transient = matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown
            ) && (status.message().contains("transport")
                || status.message().contains("connection")
                || status.message().is_empty());
            let mut message = status.message().to_string();
            if message.is_empty() {
                message = error_chain(&status);
            }
            Err(Failure {
                message,
                logs,
                transient,
                unreachable: false,
            })
        }
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}
