//! Connections to an engine: its REST API (through bollard) and its BuildKit control API,
//! reached by upgrading `POST /grpc` to HTTP/2 on the engine's socket, as buildx's docker
//! driver does. bollard keeps its own upgrade private, so rbake does the handshake itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::Docker;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tonic::transport::{Channel, Endpoint as TonicEndpoint};

/// Where an engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(String),
    Tcp(String),
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            Ok(Endpoint::Unix(p.to_string()))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Ok(Endpoint::Tcp(a.trim_end_matches('/').to_string()))
        } else {
            Err(format!(
                "`{s}` is not a supported endpoint (unix:// or tcp://)"
            ))
        }
    }

    /// A bollard client for the engine's REST API.
    pub fn docker(&self) -> Result<Docker, String> {
        let r = match self {
            Endpoint::Unix(p) => Docker::connect_with_unix(p, 600, bollard::API_DEFAULT_VERSION),
            Endpoint::Tcp(a) => {
                Docker::connect_with_http(&format!("http://{a}"), 600, bollard::API_DEFAULT_VERSION)
            }
        };
        r.map_err(|e| e.to_string())
    }

    async fn stream(&self) -> io::Result<Stream> {
        Ok(match self {
            Endpoint::Unix(p) => Stream::Unix(UnixStream::connect(p).await?),
            Endpoint::Tcp(a) => Stream::Tcp(TcpStream::connect(a).await?),
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

/// A unix or TCP stream.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for Stream {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}
