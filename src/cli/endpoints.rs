//! How each builder reaches its engine, as the Docker CLI would: the implicit builder from
//! `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`), else `DOCKER_CONTEXT`,
//! else the CLI's current context, else the local socket; a `builder` block's `context` from
//! the CLI's context store (`~/.docker/contexts`, or under `DOCKER_CONFIG`); relative
//! `tls-*` paths against the working directory. Reads only the context store's metadata and
//! checks that TLS files exist; the files themselves are read when a connection opens.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::pipeline::Loaded;
use super::settings::Settings;
use crate::model::Capabilities;
use crate::model::capabilities::{CapSource, Tls};
use crate::source::{Diag, Diags};

pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// An endpoint and its TLS material, and the context it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub endpoint: String,
    pub tls: Option<Tls>,
    pub context: Option<String>,
}

/// Gives every builder its connection; problems become diagnostics on the builder.
pub fn connect(
    settings: &Settings,
    loaded: &Loaded,
    builders: &mut [Capabilities],
    diags: &mut Diags,
) {
    let implicit = implicit(settings);
    for caps in builders.iter_mut() {
        let block = loaded.config.builders.get(&caps.name);
        let at = |key: &str| block.map(|b| b.span_of(key));
        let declared_endpoint = block.is_some_and(|b| b.str("endpoint").is_some());
        let resolved = if let Some(name) = caps.context.clone() {
            context(settings, &name).map_err(|e| (e, at("context")))
        } else if caps.source == CapSource::Implicit || !declared_endpoint {
            implicit.clone().map_err(|e| (e, None))
        } else {
            Ok(Connection {
                endpoint: caps.endpoint.clone(),
                tls: caps.tls.clone().map(|t| absolute(t, &settings.cwd)),
                context: None,
            })
        };
        match resolved.and_then(|c| check_files(c).map_err(|e| (e, at("tls-ca")))) {
            Ok(c) => {
                caps.endpoint = c.endpoint;
                caps.tls = c.tls;
                caps.context = c.context;
            }
            Err((cause, span)) => {
                let mut d = Diag::error(
                    "endpoint::unusable",
                    format!("builder `{}` has no usable endpoint: {cause}", caps.name),
                )
                .help("fix the builder's `context`/`tls-*` attributes, or DOCKER_HOST, DOCKER_CERT_PATH and DOCKER_CONTEXT for the implicit builder (see docs/builders-and-platforms.md)");
                if let Some(span) = span {
                    d = d.label(span, "this builder");
                }
                diags.push(d);
            }
        }
    }
}

/// `DOCKER_HOST`, with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`, if set.
fn from_host(settings: &Settings) -> Option<Connection> {
    let env = |k: &str| settings.env.get(k).filter(|v| !v.is_empty());
    let host = env("DOCKER_HOST")?;
    let tls = (env("DOCKER_TLS_VERIFY").is_some() && host.starts_with("tcp://")).then(|| {
        let dir = env("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| config_dir(settings));
        cert_dir(&dir)
    });
    Some(Connection {
        endpoint: host.clone(),
        tls,
        context: None,
    })
}

/// The implicit builder's connection, by the Docker CLI's precedence.
pub fn implicit(settings: &Settings) -> Result<Connection, String> {
    let env = |k: &str| settings.env.get(k).filter(|v| !v.is_empty());
    if let Some(c) = from_host(settings) {
        return Ok(c);
    }
    let current = env("DOCKER_CONTEXT").cloned().or_else(|| {
        let text = std::fs::read_to_string(config_dir(settings).join("config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("currentContext")?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    match current {
        Some(name) if name != "default" => context(settings, &name),
        _ => Ok(default_connection()),
    }
}

/// A Docker CLI context by name: `meta/<sha256 of name>/meta.json` for the endpoint and
/// `tls/<sha256 of name>/docker/{ca,cert,key}.pem` for its TLS material.
pub fn context(settings: &Settings, name: &str) -> Result<Connection, String> {
    if name == "default" {
        let mut c = from_host(settings).unwrap_or_else(default_connection);
        c.context = Some(name.to_string());
        return Ok(c);
    }
    let store = config_dir(settings).join("contexts");
    let id = crate::base::hex(&sha2::Sha256::digest(name.as_bytes()));
    let meta_path = store.join("meta").join(&id).join("meta.json");
    let text = std::fs::read_to_string(&meta_path).map_err(|_| {
        format!(
            "there is no Docker context `{name}` (no {}; `docker context ls` lists them)",
            meta_path.display()
        )
    })?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a context's metadata: {e}", meta_path.display()))?;
    let docker = meta
        .pointer("/Endpoints/docker")
        .ok_or_else(|| format!("Docker context `{name}` has no docker endpoint"))?;
    let host = docker
        .get("Host")
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
        .unwrap_or(DEFAULT_SOCKET)
        .to_string();
    let skip_verify = docker
        .get("SkipTLSVerify")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let tls_dir = store.join("tls").join(&id).join("docker");
    let tls = if host.starts_with("tcp://") && tls_dir.join("ca.pem").exists() {
        if skip_verify {
            return Err(format!(
                "Docker context `{name}` skips verifying the engine's certificate, which rbake does not do"
            ));
        }
        Some(cert_dir(&tls_dir))
    } else {
        None
    };
    Ok(Connection {
        endpoint: host,
        tls,
        context: Some(name.to_string()),
    })
}

fn default_connection() -> Connection {
    Connection {
        endpoint: DEFAULT_SOCKET.to_string(),
        tls: None,
        context: None,
    }
}

/// `ca.pem`, `cert.pem`, `key.pem` in a directory; as the Docker CLI, a client certificate
/// or key that is not there is left out.
fn cert_dir(dir: &Path) -> Tls {
    let file = |n: &str| {
        let p = dir.join(n);
        Some(p.to_string_lossy().into_owned())
    };
    let present = |n: &str| dir.join(n).exists().then(|| file(n)).flatten();
    Tls {
        ca: file("ca.pem"),
        cert: present("cert.pem"),
        key: present("key.pem"),
    }
}

fn config_dir(settings: &Settings) -> PathBuf {
    match settings.env.get("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(settings.env.get("HOME").map_or("/root", String::as_str)).join(".docker")
        }
    }
}

fn absolute(t: Tls, cwd: &Path) -> Tls {
    let abs = |p: Option<String>| p.map(|p| cwd.join(p).to_string_lossy().into_owned());
    Tls {
        ca: abs(t.ca),
        cert: abs(t.cert),
        key: abs(t.key),
    }
}

/// Every named TLS file exists.
fn check_files(c: Connection) -> Result<Connection, String> {
    if let Some(t) = &c.tls {
        for (what, p) in [
            ("CA certificate", &t.ca),
            ("client certificate", &t.cert),
            ("client key", &t.key),
        ] {
            if let Some(p) = p
                && !Path::new(p).is_file()
            {
                return Err(format!("the {what} {p} does not exist"));
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(env: &[(&str, &str)]) -> Settings {
        Settings {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            env_not_utf8: Default::default(),
            cwd: PathBuf::from("/"),
            now_unix: 0,
        }
    }

    #[test]
    fn implicit_follows_the_docker_cli() {
        let dir = std::env::temp_dir().join(format!("rbake-ctx-{}", std::process::id()));
        let d = dir.to_string_lossy().to_string();
        let s = settings(&[
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", &d),
        ]);
        let c = implicit(&s).unwrap();
        assert_eq!(c.endpoint, "tcp://127.0.0.1:2376");
        assert_eq!(c.tls.unwrap().ca, Some(format!("{d}/ca.pem")));
        // Without DOCKER_TLS_VERIFY: clear text, as the CLI.
        let c = implicit(&settings(&[("DOCKER_HOST", "tcp://127.0.0.1:2375")])).unwrap();
        assert_eq!(c.tls, None);
        assert_eq!(
            implicit(&settings(&[("HOME", &d)])).unwrap().endpoint,
            DEFAULT_SOCKET
        );

        // A context in the store, named through DOCKER_CONTEXT.
        let id = crate::base::hex(&sha2::Sha256::digest(b"fleet"));
        let meta = dir.join(".docker/contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"fleet","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://me@arm64-box","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let c = implicit(&settings(&[("HOME", &d), ("DOCKER_CONTEXT", "fleet")])).unwrap();
        assert_eq!(c.endpoint, "ssh://me@arm64-box");
        assert_eq!(c.context.as_deref(), Some("fleet"));
        let e = context(&settings(&[("HOME", &d)]), "nope").unwrap_err();
        assert!(e.contains("no Docker context `nope`"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
