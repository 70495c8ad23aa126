//! A tiny blocking HTTP/1.1 client, enough to talk to the engines' REST APIs over their unix
//! sockets and to the registry over loopback TCP. Every request says `Connection: close`, so
//! a response ends where the stream does; chunked bodies (the engines stream `docker save`
//! that way) are decoded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// `host:port`, e.g. `127.0.0.1:5000`.
    Tcp(String),
    /// A unix socket, e.g. `/var/run/docker.sock`.
    Unix(PathBuf),
}

impl Addr {
    /// Parses `unix:///path`, `tcp://host:port` or a bare `host:port`.
    pub fn parse(s: &str) -> Addr {
        if let Some(p) = s.strip_prefix("unix://") {
            Addr::Unix(PathBuf::from(p))
        } else {
            Addr::Tcp(
                s.trim_start_matches("tcp://")
                    .trim_end_matches('/')
                    .to_string(),
            )
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(a) => write!(f, "http://{a}"),
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names as sent; look them up with [`Response::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request and reads the whole response. `headers` come after `Host` and
/// `Connection: close`; a body gets a `Content-Length`.
pub fn request(
    addr: &Addr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let host = match addr {
        Addr::Tcp(a) => a.as_str(),
        Addr::Unix(_) => "docker",
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut raw = Vec::new();
    let timeout = Some(Duration::from_secs(120));
    match addr {
        Addr::Tcp(a) => {
            let mut s = TcpStream::connect(a)?;
            s.set_read_timeout(timeout)?;
            s.set_write_timeout(timeout)?;
            s.write_all(head.as_bytes())?;
            s.write_all(body.unwrap_or_default())?;
            s.read_to_end(&mut raw)?;
        }
        Addr::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(timeout)?;
            s.set_write_timeout(timeout)?;
            s.write_all(head.as_bytes())?;
            s.write_all(body.unwrap_or_default())?;
            s.read_to_end(&mut raw)?;
        }
    }
    parse(&raw, method == "HEAD")
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn parse(raw: &[u8], head_only: bool) -> std::io::Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("the response has no complete head"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 {
        return Ok(resp);
    }
    resp.body = if resp
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(n) = resp.header("Content-Length").and_then(|n| n.parse().ok()) {
        if rest.len() < n {
            return Err(invalid(format!(
                "the body is cut short: {} of {n} bytes",
                rest.len()
            )));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(resp)
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("a chunk size line is cut short"))?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(invalid("a chunk is cut short"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_bodies_parse() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse(raw, false).unwrap().body, b"abcde");
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-A: b\r\n\r\nnoEXTRA";
        let r = parse(raw, false).unwrap();
        assert_eq!(
            (r.status, &r.body[..], r.header("x-a")),
            (404, &b"no"[..], Some("b"))
        );
    }
}
