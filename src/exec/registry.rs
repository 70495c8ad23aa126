//! A small registry client (distribution API v2): blobs and manifests pushed by digest,
//! tags written last. Loopback registries are spoken to over plain HTTP, as the engine
//! does; others over HTTPS. Basic and bearer-token auth use the user's docker credentials.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Digest as _;
use tokio::sync::Mutex;

use super::credentials::Credentials;
use super::error::Error;
use super::image::{Blob, Image};

/// `host[:port]/repo[:tag]`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub host: String,
    pub repo: String,
    pub tag: String,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, Error> {
        let (name, tag) = match s.rfind(':') {
            Some(i) if !s[i..].contains('/') => (&s[..i], s[i + 1..].to_string()),
            _ => (s, "latest".to_string()),
        };
        let name = name.split('@').next().unwrap_or(name);
        let (host, repo) = match name.split_once('/') {
            Some((h, r)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), r.to_string())
            }
            _ => (
                "registry-1.docker.io".to_string(),
                if name.contains('/') {
                    name.to_string()
                } else {
                    format!("library/{name}")
                },
            ),
        };
        if repo.is_empty() || tag.is_empty() {
            return Err(Error::Reference(s.to_string()));
        }
        Ok(Reference { host, repo, tag })
    }

    fn base(&self) -> String {
        let h = self.host.split(':').next().unwrap_or(&self.host);
        let scheme = if h == "localhost" || h.starts_with("127.") || h == "[::1]" {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.host)
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Registry {
    client: Client<Https, Full<Bytes>>,
    credentials: Arc<Credentials>,
    tokens: Mutex<HashMap<String, String>>,
    timeouts: Timeouts,
}

/// How long a registry may stay silent. A registry that accepts a connection and never
/// answers would otherwise hold a push forever.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    connect: Duration,
    /// For an answer to a request without a body; a body adds time at `min_rate`.
    answer: Duration,
    /// The slowest upload rate (bytes per second) still waited for.
    min_rate: u64,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(30),
            answer: Duration::from_secs(120),
            min_rate: 64 << 10,
        }
    }
}

impl Timeouts {
    fn for_body(&self, len: usize) -> Duration {
        self.answer + Duration::from_secs(len as u64 / self.min_rate.max(1))
    }
}

/// The `host[:port]` of a URL, to name the registry in a message.
fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| url.to_string())
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    /// `Ok` when the registry answered `want`; otherwise an error naming what it refused,
    /// with its HTTP status and message.
    fn expect(self, want: StatusCode, host: &str, what: &str) -> Result<Reply, Error> {
        if self.status == want {
            return Ok(self);
        }
        Err(Error::Refused {
            host: host.to_string(),
            what: what.to_string(),
            status: self.status.as_u16(),
            message: String::from_utf8_lossy(&self.body).trim().to_string(),
        })
    }
}

impl Registry {
    pub fn new(credentials: Arc<Credentials>) -> Result<Registry, Error> {
        Registry::with_timeouts(credentials, Timeouts::default())
    }

    fn with_timeouts(credentials: Arc<Credentials>, timeouts: Timeouts) -> Result<Registry, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Registry {
            client,
            credentials,
            tokens: Mutex::new(HashMap::new()),
            timeouts,
        })
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, String)],
        body: &Bytes,
        auth: Option<&str>,
    ) -> Result<Reply, Error> {
        let mut req = Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(body.clone()))
            .map_err(|e| Error::Protocol(format!("cannot request {url}: {e}")))?;
        let wait = self.timeouts.for_body(body.len());
        let silent = || Error::Silent {
            host: host_of(url),
            method: method.to_string(),
            url: url.to_string(),
            secs: wait.as_secs(),
        };
        let unreachable = |e: &dyn std::error::Error| Error::Unreachable {
            host: host_of(url),
            cause: super::engine::error_chain(e),
        };
        let resp = tokio::time::timeout(wait, self.client.request(req))
            .await
            .map_err(|_| silent())?
            .map_err(|e| unreachable(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(self.timeouts.answer, resp.into_body().collect())
            .await
            .map_err(|_| silent())?
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends a request, answering an auth challenge once.
    async fn send(
        &self,
        r: &Reference,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Reply, Error> {
        let key = format!("{}/{}", r.host, r.repo);
        let cached = self.tokens.lock().await.get(&key).cloned();
        let reply = self
            .send_once(&method, url, headers, &body, cached.as_deref())
            .await?;
        if reply.status != StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        let challenge = reply
            .headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let creds = self.credentials.lookup(&r.host);
        let auth = if challenge.to_ascii_lowercase().starts_with("bearer") {
            format!("Bearer {}", self.token(&challenge, creds).await?)
        } else {
            let (u, p) = creds.ok_or_else(|| Error::NoCredentials {
                host: r.host.clone(),
            })?;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        self.tokens.lock().await.insert(key, auth.clone());
        let reply = self
            .send_once(&method, url, headers, &body, Some(&auth))
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(Error::Credentials {
                host: r.host.clone(),
                repo: r.repo.clone(),
                status: reply.status.as_u16(),
            });
        }
        Ok(reply)
    }

    async fn token(
        &self,
        challenge: &str,
        creds: Option<(String, String)>,
    ) -> Result<String, Error> {
        let params = parse_challenge(challenge);
        let realm = params
            .get("realm")
            .ok_or_else(|| Error::Protocol("the registry's auth challenge has no realm".into()))?;
        let mut url = format!("{realm}?");
        for k in ["service", "scope"] {
            if let Some(v) = params.get(k) {
                url.push_str(&format!("{k}={}&", urlencode(v)));
            }
        }
        let auth = creds.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let reply = self
            .send_once(&Method::GET, &url, &[], &Bytes::new(), auth.as_deref())
            .await?;
        if !reply.status.is_success() {
            return Err(Error::Refused {
                host: host_of(realm),
                what: "a token".into(),
                status: reply.status.as_u16(),
                message: String::from_utf8_lossy(&reply.body).trim().to_string(),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|e| {
            Error::Protocol(format!(
                "the token service answered something else than JSON: {e}"
            ))
        })?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Protocol("the token service returned no token".into()))
    }

    async fn has_blob(&self, r: &Reference, digest: &str) -> Result<bool, Error> {
        let url = format!("{}/v2/{}/blobs/{digest}", r.base(), r.repo);
        Ok(self
            .send(r, Method::HEAD, &url, &[], Bytes::new())
            .await?
            .status
            .is_success())
    }

    pub async fn push_blob(&self, r: &Reference, blob: &Blob) -> Result<(), Error> {
        if self.has_blob(r, &blob.digest).await? {
            return Ok(());
        }
        let start = format!("{}/v2/{}/blobs/uploads/", r.base(), r.repo);
        let reply = self
            .send(r, Method::POST, &start, &[], Bytes::new())
            .await?;
        let reply = reply.expect(StatusCode::ACCEPTED, &r.host, "to start an upload")?;
        let location = reply
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol(format!("{} gave no upload location", r.host)))?;
        let location = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", r.base())
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", urlencode(&blob.digest));
        let headers = [("Content-Type", "application/octet-stream".to_string())];
        let reply = self
            .send(
                r,
                Method::PUT,
                &url,
                &headers,
                Bytes::from(blob.data.clone()),
            )
            .await?;
        reply.expect(
            StatusCode::CREATED,
            &r.host,
            &format!("blob {}", blob.digest),
        )?;
        Ok(())
    }

    /// Puts a manifest or index under `reference` (a digest or a tag).
    pub async fn put_manifest(
        &self,
        r: &Reference,
        reference: &str,
        blob: &Blob,
    ) -> Result<(), Error> {
        let url = format!("{}/v2/{}/manifests/{reference}", r.base(), r.repo);
        let headers = [("Content-Type", blob.media_type.clone())];
        let reply = self
            .send(
                r,
                Method::PUT,
                &url,
                &headers,
                Bytes::from(blob.data.clone()),
            )
            .await?;
        reply.expect(
            StatusCode::CREATED,
            &r.host,
            &format!("manifest {reference}"),
        )?;
        Ok(())
    }

    /// The manifest or index under `reference` (a tag or digest), or `None` if the registry
    /// has none.
    pub async fn get_manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<Option<Bytes>, Error> {
        let url = format!("{}/v2/{}/manifests/{reference}", r.base(), r.repo);
        let accept = [(
            "Accept",
            [
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.docker.distribution.manifest.v2+json",
            ]
            .join(", "),
        )];
        let reply = self
            .send(r, Method::GET, &url, &accept, Bytes::new())
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let reply = reply.expect(StatusCode::OK, &r.host, &format!("manifest {reference}"))?;
        Ok(Some(reply.body))
    }

    /// The digest of the manifest or index `reference` (a tag) names now, or `None` if the
    /// registry has none. Computed from the bytes, not taken from a header.
    pub async fn digest_of(&self, r: &Reference, reference: &str) -> Result<Option<String>, Error> {
        Ok(self
            .get_manifest(r, reference)
            .await?
            .map(|body| format!("sha256:{}", crate::base::hex(&sha2::Sha256::digest(&body)))))
    }

    /// A blob by digest (used for image configs, which are small), or `None` if the
    /// registry has none. The bytes are checked against the digest.
    pub async fn get_blob(&self, r: &Reference, digest: &str) -> Result<Option<Bytes>, String> {
        let url = format!("{}/v2/{}/blobs/{digest}", r.base(), r.repo);
        let mut reply = self.send(r, Method::GET, &url, &[], Bytes::new()).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        // Registries backed by object storage answer with a redirect to it, which takes no
        // registry credentials.
        if reply.status.is_redirection()
            && let Some(to) = reply
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        {
            let to = if to.starts_with("http") {
                to
            } else {
                format!("{}{to}", r.base())
            };
            reply = self
                .send_once(&Method::GET, &to, &[], &Bytes::new(), None)
                .await?;
        }
        let reply = reply.expect(StatusCode::OK, &r.host, &format!("blob {digest}"))?;
        let got = super::image::digest(&reply.body);
        if got != digest {
            return Err(format!(
                "{} served {got} when asked for blob {digest}",
                r.host
            ));
        }
        Ok(Some(reply.body))
    }

    /// Pushes one platform's image by digest: layers and config, then its manifest. No tag.
    pub async fn push_image(&self, r: &Reference, image: &Image) -> Result<(), Error> {
        for b in image.layers.iter().chain(std::iter::once(&image.config)) {
            self.push_blob(r, b).await?;
        }
        self.put_manifest(r, &image.manifest.digest, &image.manifest)
            .await
    }
}

fn parse_challenge(c: &str) -> HashMap<String, String> {
    let rest = c.split_once(' ').map_or("", |(_, r)| r);
    let mut out = HashMap::new();
    let mut cur = rest;
    while let Some(eq) = cur.find('=') {
        let key = cur[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = &cur[eq + 1..];
        let (value, next) = if let Some(stripped) = after.strip_prefix('"') {
            let end = stripped.find('"').unwrap_or(stripped.len());
            (&stripped[..end], stripped.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.insert(key, value.to_string());
        cur = next;
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/demo/hello:1.0.0").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "demo/hello", "1.0.0")
        );
        assert_eq!(r.base(), "http://127.0.0.1:5000");
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.tag.as_str()),
            ("registry-1.docker.io", "library/busybox", "latest")
        );
        assert_eq!(
            Reference::parse("ghcr.io/a/b").unwrap().base(),
            "https://ghcr.io"
        );
    }

    /// A registry that accepts the connection and never answers: the push fails with a
    /// message naming it instead of waiting forever.
    #[tokio::test]
    async fn a_silent_registry_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                open.push(conn);
            }
        });
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            answer: Duration::from_millis(300),
            min_rate: 1 << 30,
        };
        let reg = Registry::with_timeouts(Arc::new(Credentials::default()), timeouts).unwrap();
        let r = Reference::parse(&format!("127.0.0.1:{}/demo/app:1", addr.port())).unwrap();
        let err = reg.has_blob(&r, "sha256:00").await.unwrap_err();
        assert!(matches!(err, Error::Silent { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{} did not answer", addr.port())),
            "{err}"
        );
        hold.abort();
    }

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c["realm"], "https://auth.example/token");
        assert_eq!(c["scope"], "repository:a/b:pull,push");
    }
}
