//! Registry credentials from the user's docker config (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`): `auths` entries and credential helpers (`credHelpers`,
//! `credsStore`). Values are handed to BuildKit or the registry and never logged.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

#[derive(Default)]
pub struct Credentials {
    auths: BTreeMap<String, (String, String)>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hosts only: the values are secret.
        f.debug_struct("Credentials")
            .field("hosts", &self.auths.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The docker config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn config_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    env.get("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".docker")))
}

impl Credentials {
    /// Reads `config.json` in `dir`; a missing or unreadable file means no credentials.
    pub fn load(dir: Option<&Path>) -> Credentials {
        let Some(dir) = dir else {
            return Credentials::default();
        };
        let Some(text) =
            super::paths::read_regular(&dir.join("config.json"), super::paths::MAX_TEXT)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        else {
            return Credentials::default();
        };
        Credentials::parse(&text)
    }

    pub fn parse(text: &str) -> Credentials {
        let mut c = Credentials::default();
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
            return c;
        };
        if let Some(auths) = json.get("auths").and_then(|a| a.as_object()) {
            for (host, entry) in auths {
                let pair = if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                    base64::engine::general_purpose::STANDARD
                        .decode(auth)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .and_then(|s| {
                            s.split_once(':')
                                .map(|(u, p)| (u.to_string(), p.to_string()))
                        })
                } else {
                    match (
                        entry.get("username").and_then(|u| u.as_str()),
                        entry.get("password").and_then(|p| p.as_str()),
                    ) {
                        (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
                        _ => None,
                    }
                };
                if let Some(pair) = pair {
                    c.auths.insert(normalize_host(host), pair);
                }
            }
        }
        if let Some(h) = json.get("credHelpers").and_then(|h| h.as_object()) {
            for (host, helper) in h {
                if let Some(helper) = helper.as_str() {
                    c.helpers.insert(normalize_host(host), helper.to_string());
                }
            }
        }
        c.store = json
            .get("credsStore")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        c
    }

    /// Username and secret for a registry host, if configured.
    pub fn lookup(&self, host: &str) -> Option<(String, String)> {
        let host = normalize_host(host);
        if let Some(helper) = self.helpers.get(&host).or(self.store.as_ref())
            && let Some(pair) = run_helper(helper, &host)
        {
            return Some(pair);
        }
        self.auths.get(&host).cloned()
    }
}

/// Docker Hub has several names; everything else is `host[:port]` without a scheme.
fn normalize_host(host: &str) -> String {
    let h = host
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h);
    match h {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "index.docker.io".to_string(),
        other => other.to_string(),
    }
}

fn run_helper(helper: &str, host: &str) -> Option<(String, String)> {
    let server = if host == "index.docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(server.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        v.get("Username")?.as_str()?.to_string(),
        v.get("Secret")?.as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths() {
        let c = Credentials::parse(
            r#"{"auths":{"127.0.0.1:5001":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"auth":"YTpi"}}}"#,
        );
        assert_eq!(
            c.lookup("127.0.0.1:5001"),
            Some(("user".into(), "pass".into()))
        );
        assert_eq!(c.lookup("docker.io"), Some(("a".into(), "b".into())));
        assert_eq!(c.lookup("elsewhere"), None);
        assert!(!format!("{c:?}").contains("pass"));
    }
}
