//! `--probe`: asks an engine what it really supports. Platforms come from BuildKit's own
//! worker list (which includes emulated platforms only when their qemu handler works), the
//! native platform and image store from the engine's `/info`, BuildKit's version from the
//! worker record or the `Info` call (BuildKit 0.11+), else from the engine version.

use bollard_buildkit_proto::moby::buildkit::v1::{InfoRequest, ListWorkersRequest};

use super::engine::{Endpoint, error_chain};
use crate::model::Platform;
use crate::model::capabilities::{CapSource, Capabilities, ImageStore};

/// Probes one builder, returning its capabilities as the engine reports them. `declared`
/// supplies the name, span and parallelism.
pub async fn probe(declared: &Capabilities) -> Result<Capabilities, String> {
    let endpoint = Endpoint::of(declared)?;
    let docker = endpoint.docker()?;
    let info = docker.info().await.map_err(|e| error_chain(&e))?;
    let version = docker.version().await.map_err(|e| error_chain(&e))?;
    let native = native_platform(info.os_type.as_deref(), info.architecture.as_deref());
    let containerd = info.driver_status.unwrap_or_default().iter().any(|kv| {
        kv.first().is_some_and(|k| k == "driver-type")
            && kv
                .get(1)
                .is_some_and(|v| v.contains("containerd.snapshotter"))
    });

    let mut control = endpoint.control().await?;
    let workers = control
        .list_workers(ListWorkersRequest { filter: Vec::new() })
        .await
        .map_err(|s| format!("BuildKit's worker list is unavailable: {}", s.message()))?
        .into_inner()
        .record;
    let worker = workers.first().ok_or("BuildKit reports no workers")?;
    let mut platforms: Vec<Platform> = Vec::new();
    for p in &worker.platforms {
        let text = if p.variant.is_empty() {
            format!("{}/{}", p.os, p.architecture)
        } else {
            format!("{}/{}/{}", p.os, p.architecture, p.variant)
        };
        if let Ok(p) = Platform::parse(&text)
            && !platforms.contains(&p)
        {
            platforms.push(p);
        }
    }
    let mut buildkit = worker
        .buildkit_version
        .as_ref()
        .map(|v| v.version.clone())
        .filter(|v| !v.is_empty());
    if buildkit.is_none() {
        buildkit = control
            .info(InfoRequest {})
            .await
            .ok()
            .and_then(|r| r.into_inner().buildkit_version.map(|v| v.version))
            .filter(|v| !v.is_empty());
    }
    let engine = version.version.unwrap_or_default();
    // Distribution builds may report `0.0.0+unknown`; the engine's version tells then.
    let buildkit = buildkit
        .filter(|v| !v.trim_start_matches('v').starts_with("0.0.0"))
        .or_else(|| buildkit_of_engine(&engine))
        .map(|v| v.trim_start_matches('v').to_string());
    let named_contexts = buildkit.as_deref().is_some_and(|v| at_least(v, 0, 10));
    let native: Vec<Platform> = native.into_iter().collect();
    // BuildKit only lists emulated platforms whose self-test passed when it started; a
    // handler registered (with the F flag, so it works inside containers) on this host
    // builds too, so for a local engine (a unix socket, or tcp/ssh to loopback) the
    // registration counts as well.
    if endpoint.is_local() {
        for p in registered_emulators(std::path::Path::new("/proc/sys/fs/binfmt_misc")) {
            if !platforms.contains(&p) {
                platforms.push(p);
            }
        }
    }
    for n in &native {
        if !platforms.contains(n) {
            platforms.insert(0, n.clone());
        }
    }
    Ok(Capabilities {
        name: declared.name.clone(),
        endpoint: declared.endpoint.clone(),
        tls: declared.tls.clone(),
        context: declared.context.clone(),
        driver: declared.driver.clone(),
        platforms,
        native,
        image_store: if containerd {
            ImageStore::Containerd
        } else {
            ImageStore::Classic
        },
        max_parallelism: declared.max_parallelism,
        buildkit,
        named_contexts,
        source: CapSource::Probed,
        span: declared.span,
    })
}

/// What went wrong reaching a builder, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// Nothing answers (refused, timed out, no such socket or host): the builder is down or
    /// away; its work can go to other builders.
    Down,
    /// The engine answered but the connection was refused for a reason the user must fix.
    Refused { code: &'static str, help: String },
}

pub const TLS: &str = "probe::tls";
pub const SSH_HOST_KEY: &str = "probe::ssh_host_key";
pub const SSH_LOGIN: &str = "probe::ssh_login";
pub const SSH_DOCKER: &str = "probe::ssh_docker";

/// Sorts a probe failure by its cause.
pub fn classify(endpoint: &str, cause: &str) -> Unreachable {
    let c = cause.to_ascii_lowercase();
    let refused = |code, help: &str| Unreachable::Refused {
        code,
        help: help.to_string(),
    };
    if c.contains("host key verification failed")
        || c.contains("remote host identification has changed")
    {
        return refused(
            SSH_HOST_KEY,
            "ssh does not know (or no longer trusts) the engine host's key: check it and add it to known_hosts (`ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts`, or connect once with `ssh`); rbake never accepts an unknown host key",
        );
    }
    if c.contains("permission denied") || c.contains("too many authentication failures") {
        return refused(
            SSH_LOGIN,
            "ssh could not log in: load the key into ssh-agent (`ssh-add`) or name it with `IdentityFile` in ~/.ssh/config, and check the user in the endpoint; rbake reads no keys itself",
        );
    }
    if c.contains("docker: command not found")
        || c.contains("unknown command \"system\"")
        || c.contains("dial-stdio")
    {
        return refused(
            SSH_DOCKER,
            "the ssh login works but `docker system dial-stdio` does not run there: install the Docker CLI on that host and check that it reaches the engine",
        );
    }
    if c.contains("certificate")
        || c.contains("alert")
        || c.contains("tls")
        || c.contains("handshake")
    {
        let help = if c.contains("unknownissuer")
            || c.contains("unknown issuer")
            || c.contains("notvalidforname")
            || c.contains("not valid for name")
            || c.contains("invalid peer certificate")
        {
            "the engine's certificate does not chain to `tls-ca` (or ca.pem in DOCKER_CERT_PATH) or does not name this host: give the CA that signed the engine's certificate, and reach the engine by a name or IP its certificate lists"
        } else {
            "the engine refused rbake's client certificate: `tls-cert`/`tls-key` (or cert.pem/key.pem in DOCKER_CERT_PATH) must be signed by the CA the engine trusts (its `--tlscacert`)"
        };
        return refused(TLS, help);
    }
    if endpoint.starts_with("tcp://")
        && (c.contains("connection closed")
            || c.contains("malformed http")
            || c.contains("invalid http"))
    {
        return refused(
            TLS,
            "the engine did not speak plain HTTP: if it runs with `--tlsverify`, give the builder `tls-ca`, `tls-cert` and `tls-key` (or set DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)",
        );
    }
    Unreachable::Down
}

/// Platforms whose qemu handler is registered, enabled and usable from containers.
pub fn registered_emulators(dir: &std::path::Path) -> Vec<Platform> {
    const HANDLERS: &[(&str, &[&str])] = &[
        ("qemu-aarch64", &["linux/arm64"]),
        ("qemu-arm", &["linux/arm/v7", "linux/arm/v6"]),
        ("qemu-x86_64", &["linux/amd64"]),
        ("qemu-i386", &["linux/386"]),
        ("qemu-ppc64le", &["linux/ppc64le"]),
        ("qemu-s390x", &["linux/s390x"]),
        ("qemu-riscv64", &["linux/riscv64"]),
        ("qemu-mips64el", &["linux/mips64le"]),
        ("qemu-loongarch64", &["linux/loong64"]),
    ];
    let mut out = Vec::new();
    for (file, platforms) in HANDLERS {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let enabled = text.lines().next() == Some("enabled");
        let fix_binary = text
            .lines()
            .any(|l| l.strip_prefix("flags:").is_some_and(|f| f.contains('F')));
        if enabled && fix_binary {
            out.extend(platforms.iter().filter_map(|p| Platform::parse(p).ok()));
        }
    }
    out
}

fn native_platform(os: Option<&str>, arch: Option<&str>) -> Option<Platform> {
    Platform::parse(&format!("{}/{}", os.unwrap_or("linux"), arch?)).ok()
}

/// The BuildKit embedded in engines too old to report it themselves.
fn buildkit_of_engine(engine: &str) -> Option<String> {
    let major: u32 = engine.split('.').next()?.parse().ok()?;
    Some(
        match major {
            0..=19 => "0.6",
            20 => "0.8",
            21..=23 => "0.10",
            24 => "0.11",
            25 => "0.12",
            26 => "0.13",
            27 => "0.15",
            _ => "0.20",
        }
        .to_string(),
    )
}

/// Whether a `major.minor[.patch]` version is at least `major.minor`.
pub fn at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut parts = v.trim_start_matches('v').split(['.', '-', '+']);
    let a: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let b: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (a, b) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_binfmt_registrations() {
        let dir = std::env::temp_dir().join(format!("rbake-binfmt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("qemu-aarch64"),
            "enabled\ninterpreter /x\nflags: POF\n",
        )
        .unwrap();
        std::fs::write(dir.join("qemu-arm"), "disabled\nflags: POF\n").unwrap();
        std::fs::write(dir.join("qemu-s390x"), "enabled\nflags: P\n").unwrap();
        let got: Vec<String> = registered_emulators(&dir)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, vec!["linux/arm64"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn probe_failures_are_sorted_by_cause() {
        assert_eq!(
            classify("ssh://h", "ssh: Host key verification failed."),
            Unreachable::Refused {
                code: "probe::ssh_host_key",
                help: match classify("ssh://h", "Host key verification failed") {
                    Unreachable::Refused { help, .. } => help,
                    _ => String::new(),
                }
            }
        );
        assert!(matches!(
            classify(
                "ssh://h",
                "ssh: root@127.0.0.1: Permission denied (publickey)."
            ),
            Unreachable::Refused {
                code: "probe::ssh_login",
                ..
            }
        ));
        assert!(matches!(
            classify(
                "tcp://h:2376",
                "error trying to connect: received fatal alert: BadCertificate"
            ),
            Unreachable::Refused {
                code: "probe::tls",
                ..
            }
        ));
        assert_eq!(
            classify(
                "unix:///x.sock",
                "error trying to connect: Connection refused (os error 111)"
            ),
            Unreachable::Down
        );
        assert_eq!(
            classify(
                "ssh://h:1",
                "ssh: connect to host 127.0.0.1 port 1: Connection refused"
            ),
            Unreachable::Down
        );
    }

    #[test]
    fn versions_compare() {
        assert!(at_least("v0.13.2", 0, 10));
        assert!(!at_least("0.8", 0, 10));
        assert_eq!(buildkit_of_engine("20.10.24+dfsg1").as_deref(), Some("0.8"));
    }
}
