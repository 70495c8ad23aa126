//! rbake's side of a BuildKit session: the services BuildKit calls back during a solve.
//!
//! The session runs over `POST /session` on the engine, upgraded to HTTP/2, where rbake is
//! the gRPC *server*. It serves local sources by file sync (`filesync.rs`: the context, the
//! Dockerfile's directory, named local contexts), secrets (read from their file or variable
//! only when BuildKit asks, never kept or logged), registry credentials, SSH agent
//! forwarding and health checks, and, for a `local` or `tar` export, the file send that
//! receives BuildKit's exporter output (`filesend.rs`).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage as SshBytes, CheckAgentRequest, CheckAgentResponse,
};
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status, Streaming};

use super::agent::{self, Keyring};
use super::credentials::Credentials;
use super::engine::{Endpoint, Stream};
use super::filesend::{self, Receiver};
use super::filesync::{Dirs, FileSyncService};

/// Where a secret's value comes from. The value itself is read on demand.
#[derive(Clone)]
pub enum SecretSource {
    File(std::path::PathBuf),
    Env(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(n) => write!(f, "env {n}"),
        }
    }
}

/// Where an `ssh` id's agent is: the user's agent socket (forwarded byte for byte, never
/// read), or keys rbake read from files and answers for itself (`agent.rs`).
#[derive(Clone, Debug)]
pub enum SshAgent {
    Socket(std::path::PathBuf),
    Keys(Arc<Keyring>),
}

/// What one session serves.
pub struct Services {
    /// Local sources by the name the frontend asks for.
    pub dirs: Dirs,
    /// BuildKit keeps each local source's last transfer under this key (with the source's
    /// name), so a later session with the same key sends only what changed.
    pub shared_key: String,
    pub secrets: HashMap<String, SecretSource>,
    pub credentials: Arc<Credentials>,
    /// SSH agents by id (`default` is `$SSH_AUTH_SOCK` unless the spec names paths).
    pub ssh: HashMap<String, SshAgent>,
    /// The process environment, for `env` secrets (read once by the CLI).
    pub env: Arc<std::collections::BTreeMap<String, String>>,
    /// Where a `local` or `tar` export's files go; `None` for an image export.
    pub receiver: Option<Receiver>,
}

/// An open session; dropping the handle closes it.
pub struct Session {
    pub id: String,
    task: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
];

/// Opens a session on the engine and serves `services` on it until dropped.
pub async fn open(endpoint: &Endpoint, name: &str, services: Services) -> Result<Session, String> {
    let id = new_id();
    let mut headers = vec![
        ("X-Docker-Expose-Session-Uuid", id.clone()),
        ("X-Docker-Expose-Session-Name", name.to_string()),
        (
            "X-Docker-Expose-Session-Sharedkey",
            services.shared_key.clone(),
        ),
    ];
    for m in METHODS {
        headers.push(("X-Docker-Expose-Session-Grpc-Method", m.to_string()));
    }
    // BuildKit's exporters check that the client serves the method before sending to it.
    if services.receiver.is_some() {
        headers.push((
            "X-Docker-Expose-Session-Grpc-Method",
            "/moby.filesync.v1.FileSend/DiffCopy".to_string(),
        ));
    }
    let stream = endpoint
        .upgrade("/session", &headers)
        .await
        .map_err(|e| format!("cannot open a BuildKit session: {e}"))?;
    let filesync = FileSyncServer::new(FileSyncService {
        dirs: services.dirs,
    })
    .max_encoding_message_size(16 << 20);
    let secrets = SecretsServer::new(SecretService {
        secrets: services.secrets,
        env: services.env,
    });
    let auth = AuthServer::new(AuthService {
        credentials: services.credentials,
    });
    let health = HealthServer::new(HealthService);
    let ssh = SshServer::new(SshService {
        agents: services.ssh,
    });
    let filesend = services.receiver.as_ref().map(filesend::service);
    let task = tokio::spawn(async move {
        let incoming = tokio_stream::once(Ok::<Stream, std::io::Error>(stream));
        let router = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(filesync)
            .add_service(secrets)
            .add_service(auth)
            .add_service(ssh);
        // Both FileSend protocols answer the same method, so at most one is registered.
        let router = match filesend {
            Some(filesend::Service::Packets(s)) => router.add_service(s),
            Some(filesend::Service::Bytes(s)) => router.add_service(s),
            None => router,
        };
        let _ = router.serve_with_incoming(incoming).await;
    });
    Ok(Session { id, task })
}

/// A random id in BuildKit's style (base36, 25 characters).
pub fn new_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{t}-{n}-{}", std::process::id());
    let digest = <sha2::Sha256 as sha2::Digest>::digest(seed.as_bytes());
    let mut out = String::new();
    for b in digest.iter() {
        out.push(std::char::from_digit(u32::from(*b) % 36, 36).unwrap_or('0'));
        if out.len() == 25 {
            break;
        }
    }
    out
}

struct SecretService {
    secrets: HashMap<String, SecretSource>,
    env: Arc<std::collections::BTreeMap<String, String>>,
}

#[tonic::async_trait]
impl Secrets for SecretService {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        let data = match self.secrets.get(id) {
            Some(SecretSource::File(p)) => tokio::fs::read(p)
                .await
                .map_err(|e| Status::not_found(format!("secret {id}: {e}")))?,
            Some(SecretSource::Env(name)) => self
                .env
                .get(name)
                .map(|v| v.as_bytes().to_vec())
                .ok_or_else(|| Status::not_found(format!("secret {id}: ${name} is not set")))?,
            None => return Err(Status::not_found(format!("secret {id} not provided"))),
        };
        Ok(Response::new(GetSecretResponse { data }))
    }
}

struct AuthService {
    credentials: Arc<Credentials>,
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let (username, secret) = self
            .credentials
            .lookup(&request.get_ref().host)
            .unwrap_or_default();
        Ok(Response::new(CredentialsResponse { username, secret }))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        // Unimplemented makes BuildKit fall back to `Credentials` and fetch tokens itself.
        Err(Status::unimplemented(
            "rbake provides credentials, not tokens",
        ))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("no token authority"))
    }
}

struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Ok(Response::new(HealthListResponse::default()))
    }

    type WatchStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

struct SshService {
    agents: HashMap<String, SshAgent>,
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        let id = &request.get_ref().id;
        let id = if id.is_empty() { "default" } else { id };
        match self.agents.get(id) {
            Some(SshAgent::Socket(p)) if p.exists() => Ok(Response::new(CheckAgentResponse {})),
            Some(SshAgent::Keys(_)) => Ok(Response::new(CheckAgentResponse {})),
            _ => Err(Status::not_found(format!("no ssh agent for id {id}"))),
        }
    }

    type ForwardAgentStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<SshBytes, Status>> + Send>>;

    /// One agent connection: piped to the user's agent, or answered from rbake's keys.
    async fn forward_agent(
        &self,
        request: Request<Streaming<SshBytes>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get("id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or("default")
            .to_string();
        match self.agents.get(&id) {
            Some(SshAgent::Socket(path)) => forward_socket(&id, path, request.into_inner()).await,
            Some(SshAgent::Keys(keys)) => Ok(answer_in_process(keys.clone(), request.into_inner())),
            None => Err(Status::not_found(format!("no ssh agent for id {id}"))),
        }
    }
}

/// Pipes the agent protocol between BuildKit and the agent's socket, byte for byte.
async fn forward_socket(
    id: &str,
    path: &std::path::Path,
    mut incoming: Streaming<SshBytes>,
) -> Result<Response<<SshService as Ssh>::ForwardAgentStream>, Status> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| Status::unavailable(format!("ssh agent {id}: {e}")))?;
    let (mut rd, mut wr) = sock.into_split();
    tokio::spawn(async move {
        while let Ok(Some(msg)) = incoming.message().await {
            if wr.write_all(&msg.data).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let stream = async_stream::stream! {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => yield Ok(SshBytes { data: buf[..n].to_vec() }),
            }
        }
    };
    Ok(Response::new(Box::pin(stream)))
}

/// Answers each agent request as it completes; a message too long for any agent ends the
/// connection, as an agent would.
fn answer_in_process(
    keys: Arc<Keyring>,
    mut incoming: Streaming<SshBytes>,
) -> Response<<SshService as Ssh>::ForwardAgentStream> {
    let stream = async_stream::stream! {
        let mut framer = agent::Framer::default();
        'conn: while let Ok(Some(msg)) = incoming.message().await {
            framer.push(&msg.data);
            loop {
                match framer.take() {
                    Ok(Some(request)) => {
                        let reply = keys.answer(&request);
                        yield Ok(SshBytes { data: agent::frame(&reply) });
                    }
                    Ok(None) => break,
                    Err(_) => break 'conn,
                }
            }
        }
    };
    Response::new(Box::pin(stream))
}
