//! Connections to an engine: its REST API (through bollard) and its BuildKit control API,
//! reached by upgrading `POST /grpc` to HTTP/2 on the engine's socket, as buildx's docker
//! driver does. bollard keeps its own upgrade private, so rbake does the handshake itself.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, Docker};
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tonic::transport::{Channel, Endpoint as TonicEndpoint};

use crate::model::capabilities::{Capabilities, Tls};

/// Where an engine listens, and how to reach it: the endpoints the Docker CLI knows.
#[derive(Clone, Debug)]
pub enum Endpoint {
    Unix(String),
    /// `tcp://HOST:PORT`, in clear text or (with TLS material) over TLS with a client
    /// certificate, as `docker --tlsverify` does.
    Tcp {
        addr: String,
        tls: Option<Arc<TlsClient>>,
    },
    /// `ssh://[USER@]HOST[:PORT]`: the engine's API through `ssh ... -- docker system
    /// dial-stdio`, one ssh process per connection, as the Docker CLI does. ssh reads the
    /// user's own config, keys and agent; rbake reads none.
    Ssh(SshTarget),
}

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

/// A TLS client configuration and the name the server's certificate must carry.
#[derive(Debug)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server: ServerName<'static>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// The ssh command line the Docker CLI runs for this endpoint.
    pub fn command(&self) -> Vec<String> {
        let mut args = vec![
            "-o".to_string(),
            "ConnectTimeout=30".to_string(),
            "-T".to_string(),
        ];
        if let Some(u) = &self.user {
            args.extend(["-l".to_string(), u.clone()]);
        }
        if let Some(p) = self.port {
            args.extend(["-p".to_string(), p.to_string()]);
        }
        args.extend(["--", &self.host, "docker", "system", "dial-stdio"].map(ToString::to_string));
        args
    }
}

impl Endpoint {
    /// An endpoint without TLS material (`unix://`, plain `tcp://`, `ssh://`).
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            Ok(Endpoint::Unix(p.to_string()))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Ok(Endpoint::Tcp {
                addr: a.trim_end_matches('/').to_string(),
                tls: None,
            })
        } else if let Some(rest) = s.strip_prefix("ssh://") {
            parse_ssh(rest)
                .map(Endpoint::Ssh)
                .ok_or_else(|| format!("`{s}` is not an ssh endpoint (ssh://[USER@]HOST[:PORT])"))
        } else {
            Err(format!(
                "`{s}` is not a supported endpoint (unix://, tcp:// or ssh://)"
            ))
        }
    }

    /// A builder's endpoint with its TLS material, read from the files it names.
    pub fn of(caps: &Capabilities) -> Result<Endpoint, String> {
        Endpoint::with_tls(&caps.endpoint, caps.tls.as_ref())
    }

    pub fn with_tls(endpoint: &str, tls: Option<&Tls>) -> Result<Endpoint, String> {
        let parsed = Endpoint::parse(endpoint)?;
        match (parsed, tls) {
            (Endpoint::Tcp { addr, .. }, Some(t)) => {
                let client = tls_client(&addr, t)?;
                Ok(Endpoint::Tcp {
                    addr,
                    tls: Some(Arc::new(client)),
                })
            }
            (_, Some(_)) => Err(format!(
                "TLS certificates apply to tcp:// endpoints only, not `{endpoint}`"
            )),
            (e, None) => Ok(e),
        }
    }

    /// Whether the engine runs on this machine: a unix socket, or TCP or ssh to a loopback
    /// address (so this machine's qemu registrations are the engine's too).
    pub fn is_local(&self) -> bool {
        let loopback = |h: &str| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        };
        match self {
            Endpoint::Unix(_) => true,
            Endpoint::Tcp { addr, .. } => {
                loopback(addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h))
            }
            Endpoint::Ssh(t) => loopback(&t.host),
        }
    }

    /// A bollard client for the engine's REST API.
    pub fn docker(&self) -> Result<Docker, String> {
        let r = match self {
            Endpoint::Unix(p) => Docker::connect_with_unix(p, 600, bollard::API_DEFAULT_VERSION),
            Endpoint::Tcp { addr, tls: None } => Docker::connect_with_http(
                &format!("http://{addr}"),
                600,
                bollard::API_DEFAULT_VERSION,
            ),
            // TLS and ssh: bollard speaks HTTP over rbake's own stream, the same one the
            // BuildKit session and control API are upgraded on.
            _ => {
                let me = self.clone();
                let connector = tower::service_fn(move |_: http::Uri| {
                    let me = me.clone();
                    let connect: ConnectFuture =
                        Box::pin(async move { me.stream().await.map(TokioIo::new) });
                    connect
                });
                let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(std::time::Duration::from_secs(30))
                    .build(connector);
                Docker::connect_with_custom_transport(
                    move |req: BollardRequest| {
                        let client = client.clone();
                        async move {
                            client
                                .request(req)
                                .await
                                .map_err(bollard::errors::Error::from)
                        }
                    },
                    Some("http://docker"),
                    600,
                    bollard::API_DEFAULT_VERSION,
                )
            }
        };
        r.map_err(|e| e.to_string())
    }

    async fn stream(&self) -> io::Result<Stream> {
        Ok(match self {
            Endpoint::Unix(p) => Stream::Unix(UnixStream::connect(p).await?),
            Endpoint::Tcp { addr, tls: None } => Stream::Tcp(TcpStream::connect(addr).await?),
            Endpoint::Tcp { addr, tls: Some(t) } => {
                let tcp = TcpStream::connect(addr).await?;
                let s = tokio_rustls::TlsConnector::from(t.config.clone())
                    .connect(t.server.clone(), tcp)
                    .await?;
                Stream::Tls(Box::new(s))
            }
            Endpoint::Ssh(target) => Stream::Ssh(Box::new(SshStream::spawn(target)?)),
        })
    }
    /// Opens `path` upgraded to h2c with the given extra headers: the raw stream afterwards.
    pub async fn upgrade(&self, path: &str, headers: &[(&str, String)]) -> io::Result<Stream> {
        let mut s = self.stream().await?;
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n"
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await?;
        // Read the response head byte by byte: anything after it belongs to HTTP/2.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the engine closed the connection during the upgrade",
                ));
            }
            head.push(b[0]);
            if head.len() > 64 * 1024 {
                return Err(io::Error::other(
                    "the engine's upgrade response is too long",
                ));
            }
        }
        let status = String::from_utf8_lossy(&head);
        let first = status.lines().next().unwrap_or_default().to_string();
        if !first.contains(" 101") {
            return Err(io::Error::other(format!(
                "the engine refused to upgrade {path}: {first}"
            )));
        }
        Ok(s)
    }

    /// A client for BuildKit's control API (workers, solves, status).
    pub async fn control(&self) -> Result<ControlClient<Channel>, String> {
        let me = self.clone();
        let channel = TonicEndpoint::from_static("http://buildkit.invalid")
            .connect_with_connector(tower::service_fn(move |_| {
                let me = me.clone();
                async move { me.upgrade("/grpc", &[]).await.map(TokioIo::new) }
            }))
            .await
            .map_err(|e| error_chain(&e))?;
        Ok(ControlClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
    }
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// `[USER@]HOST[:PORT]` of an `ssh://` endpoint; no path, as the Docker CLI requires.
fn parse_ssh(rest: &str) -> Option<SshTarget> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['/', '?', '#']) {
        return None;
    }
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return None,
        None => (None, rest),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, tail) = v6.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        (h.to_string(), port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (hostport.to_string(), None),
        }
    };
    // A host starting with `-` would be read by ssh as an option.
    if host.is_empty()
        || host.starts_with('-')
        || user.as_deref().is_some_and(|u| u.starts_with('-'))
    {
        return None;
    }
    Some(SshTarget { user, host, port })
}

/// The client side of `docker --tlsverify`: the engine's certificate must chain to `ca`
/// and name the host; rbake presents `cert` with `key`.
fn tls_client(addr: &str, t: &Tls) -> Result<TlsClient, String> {
    let read_certs = |what: &str, path: &str| -> Result<Vec<CertificateDer<'static>>, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(Path::new(path))
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read the {what} `{path}`: {e}"))?;
        if certs.is_empty() {
            return Err(format!("the {what} `{path}` holds no PEM certificate"));
        }
        Ok(certs)
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = t
        .ca
        .as_deref()
        .ok_or("TLS needs the CA certificate that signed the engine's certificate (`tls-ca`, or ca.pem in DOCKER_CERT_PATH)")?;
    for c in read_certs("CA certificate", ca)? {
        roots
            .add(c)
            .map_err(|e| format!("the CA certificate `{ca}` is not usable: {e}"))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs("client certificate", cert)?;
            let key = PrivateKeyDer::from_pem_file(Path::new(key))
                .map_err(|e| format!("cannot read the client key `{key}`: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!("the client certificate `{cert}` and its key do not fit: {e}")
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("a client certificate needs its key, and a key its certificate".into()),
    };
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server = ServerName::try_from(host.to_string())
        .map_err(|_| format!("`{host}` is not a host name TLS can verify"))?;
    Ok(TlsClient {
        config: Arc::new(config),
        server,
    })
}

/// A connection to an engine.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Ssh(Box<SshStream>),
}

/// `ssh ... -- docker system dial-stdio`: its stdout and stdin are the connection. When ssh
/// ends before any byte arrived (unknown host key, failed login, unreachable host), reading
/// fails with what ssh said on stderr.
pub struct SshStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: Option<tokio::sync::oneshot::Receiver<String>>,
    got_data: bool,
}

impl SshStream {
    fn spawn(target: &SshTarget) -> io::Result<SshStream> {
        let mut child = tokio::process::Command::new("ssh")
            .args(target.command())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
        let (Some(stdin), Some(stdout), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("ssh started without its pipes"));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut text = Vec::new();
            let mut buf = [0u8; 1024];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if text.len() < 8192 {
                    text.extend_from_slice(&buf[..n]);
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&text).trim().to_string());
        });
        Ok(SshStream {
            _child: child,
            stdin,
            stdout,
            stderr: Some(rx),
            got_data: false,
        })
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut me.stdout).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && !me.got_data => {
                let Some(rx) = me.stderr.as_mut() else {
                    return Poll::Ready(Ok(()));
                };
                match Pin::new(rx).poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(said) => {
                        me.stderr = None;
                        let said = said.unwrap_or_default();
                        let said = if said.is_empty() {
                            "ssh ended without a connection".to_string()
                        } else {
                            format!("ssh: {}", said.lines().collect::<Vec<_>>().join("; "))
                        };
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionRefused, said)))
                    }
                }
            }
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    me.got_data = true;
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

macro_rules! each_stream {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Unix($s) => $e,
            Stream::Tcp($s) => $e,
            Stream::Tls($s) => {
                let $s = $s.as_mut();
                $e
            }
            Stream::Ssh($s) => {
                let $s = $s.as_mut();
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl tonic::transport::server::Connected for Stream {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(s: &str) -> Option<SshTarget> {
        match Endpoint::parse(s) {
            Ok(Endpoint::Ssh(t)) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn ssh_endpoints_parse_as_the_docker_cli_reads_them() {
        assert_eq!(
            ssh("ssh://me@build.example:2222"),
            Some(SshTarget {
                user: Some("me".into()),
                host: "build.example".into(),
                port: Some(2222)
            })
        );
        assert_eq!(
            ssh("ssh://arm64-box"),
            Some(SshTarget {
                user: None,
                host: "arm64-box".into(),
                port: None
            })
        );
        assert_eq!(ssh("ssh://[::1]:22").map(|t| t.host), Some("::1".into()));
        for bad in [
            "ssh://",
            "ssh://host/path",
            "ssh://-oProxyCommand=x",
            "ssh://@host",
            "ssh://h:port",
        ] {
            assert_eq!(ssh(bad), None, "{bad}");
        }
        let cmd = ssh("ssh://me@h:2222").unwrap().command();
        assert_eq!(
            cmd.join(" "),
            "-o ConnectTimeout=30 -T -l me -p 2222 -- h docker system dial-stdio"
        );
    }

    #[test]
    fn tls_material_must_be_readable() {
        let t = Tls {
            ca: Some("/nonexistent/ca.pem".into()),
            cert: None,
            key: None,
        };
        let e = Endpoint::with_tls("tcp://127.0.0.1:2376", Some(&t)).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let e = Endpoint::with_tls("unix:///x.sock", Some(&t)).unwrap_err();
        assert!(e.contains("tcp://"), "{e}");
    }
}
