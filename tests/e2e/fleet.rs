//! The builder fleet (issue 9): Docker 20.10 on its unix socket, the TLS engine on
//! `tcp://127.0.0.1:2376` (`--tlsverify`) and the ssh engine as `ssh://root@127.0.0.1:2222`
//! (`scripts/stack.sh up` starts both; `stack.sh env` names them). rbake reaches the ssh
//! engine with the stack's own ssh config, through the `ssh` wrapper in `RBAKE_FLEET_SSH_BIN`
//! put first on PATH; the engines are inspected over their unix sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::registry::{self, ACCEPT_INDEX};
use crate::{ALL_PLATFORMS, Engine, Workspace};

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

struct Fleet {
    tls_host: String,
    certs: String,
    other_certs: String,
    ssh_host: String,
    ssh_bin: String,
    tls: Engine,
    ssh: Engine,
}

impl Fleet {
    fn from_env() -> Fleet {
        let fleet = Fleet {
            tls_host: env_or("RBAKE_FLEET_TLS_HOST", "tcp://127.0.0.1:2376"),
            certs: env_or("RBAKE_FLEET_CERTS", "/opt/rbake-stack/fleet/tls/client"),
            other_certs: env_or(
                "RBAKE_FLEET_OTHER_CERTS",
                "/opt/rbake-stack/fleet/tls/other-client",
            ),
            ssh_host: env_or("RBAKE_FLEET_SSH_HOST", "ssh://root@127.0.0.1:2222"),
            ssh_bin: env_or("RBAKE_FLEET_SSH_BIN", "/opt/rbake-stack/fleet/bin"),
            tls: Engine {
                name: "tls",
                label: "the fleet's TLS engine (Docker 26, containerd store)",
                host: env_or("RBAKE_FLEET_TLS_SOCK", "unix:///run/rbake-t/docker.sock"),
                platforms: ALL_PLATFORMS,
            },
            ssh: Engine {
                name: "ssh",
                label: "the fleet's ssh engine (Docker 26, classic store)",
                host: env_or("RBAKE_FLEET_SSH_SOCK", "unix:///run/rbake-s/docker.sock"),
                platforms: ALL_PLATFORMS,
            },
        };
        for e in [&fleet.tls, &fleet.ssh] {
            if let Err(err) = e.ping() {
                panic!(
                    "{} is not reachable ({err}): {}",
                    e.label,
                    crate::STACK_HINT
                );
            }
        }
        fleet
    }

    /// rbake's PATH: the stack's ssh wrapper first.
    fn path(&self) -> String {
        format!("{}:/usr/bin:/bin", self.ssh_bin)
    }

    fn tls_builder(&self, name: &str, certs: &str, extra: &str) -> String {
        format!(
            "builder \"{name}\" {{\n  endpoint = \"{}\"\n  tls-ca   = \"{certs}/ca.pem\"\n  tls-cert = \"{certs}/cert.pem\"\n  tls-key  = \"{certs}/key.pem\"\n{extra}}}\n",
            self.tls_host
        )
    }
}

fn builder(name: &str, endpoint: &str, extra: &str) -> String {
    format!("builder \"{name}\" {{\n  endpoint = \"{endpoint}\"\n{extra}}}\n")
}

/// Every pushed index holds the three platforms, each image of its architecture.
fn assert_indexes(ws: &Workspace, repo_ref: &str, targets: &[&str]) {
    for t in targets {
        let (_, repo, _) = registry::split_reference(&format!("{repo_ref}/{t}:v1"));
        let index = ws.registry.manifest(&repo, "v1", ACCEPT_INDEX);
        let entries = crate::image::descriptors(&index.json);
        let platforms: BTreeSet<String> = entries
            .iter()
            .map(|d| crate::image::descriptor_platform(d).unwrap())
            .collect();
        let want: BTreeSet<String> = ALL_PLATFORMS.iter().map(|p| p.to_string()).collect();
        assert_eq!(platforms, want, "{t}: {}", index.json);
        for d in &entries {
            let platform = crate::image::descriptor_platform(d).unwrap();
            let img = ws.registry.image(&repo, d);
            assert_eq!(
                img.text("arch").trim(),
                crate::uname_of(&platform),
                "{t} {platform}"
            );
        }
    }
}

/// 8 targets x 3 platforms over three engines reached three ways: every engine builds, every
/// index is complete and correct, and each load lands in the engine the plan names (per
/// platform on a classic store, one multi-platform image on the TLS engine's containerd
/// store), holding the right architecture.
#[test]
#[ignore = "issue 9: not yet passing, see the fleet branch report"]
fn fleet_release() {
    let fleet = Fleet::from_env();
    let d20 = Engine::docker20();
    let ws = Workspace::new("fleet", &d20);
    ws.set_env("PATH", &fleet.path());
    let repo_ref = ws.registry_repo("fleet");
    ws.set_env("REPO", &repo_ref);
    let slots = "  max-parallelism = 2\n";
    ws.write(
        "build.hcl",
        &format!(
            "{}{}{}",
            builder("d20", &d20.host, slots),
            fleet.tls_builder("tls", &fleet.certs, slots),
            builder("ssh", &fleet.ssh_host, slots)
        ),
    );
    let applied = ws.apply(&[], &["--progress", "plain", "--metadata-file", "m.json"]);
    // The loads' tags live in the fleet's engines too: remove them there afterwards.
    let engines: BTreeMap<&str, &Engine> =
        [("d20", &d20), ("tls", &fleet.tls), ("ssh", &fleet.ssh)].into();
    let loads = applied.plan.nodes("load");
    let cleanup = || {
        for l in &loads {
            for t in crate::strings(&l["tags"]) {
                for e in engines.values() {
                    e.remove(&t);
                }
            }
        }
    };
    if applied.run.code != Some(0) {
        cleanup();
    }
    applied.run.assert_success();
    let meta: Value = serde_json::from_slice(&ws.read("m.json")).unwrap();
    let results = meta["results"].as_object().expect("results");

    // Every engine ran at least one build.
    let mut ran: BTreeMap<String, usize> = BTreeMap::new();
    for b in applied.plan.nodes("build") {
        let id = b["id"].as_str().unwrap();
        let on = results[id]["builder"].as_str().unwrap_or("?").to_string();
        *ran.entry(on).or_default() += 1;
    }
    eprintln!("[e2e fleet] builds per builder: {ran:?}");
    for name in engines.keys() {
        assert!(
            ran.get(*name).is_some_and(|n| *n > 0),
            "{name} ran no build: {ran:?}\n{}",
            applied.run.output()
        );
    }
    let targets = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"];
    assert_indexes(&ws, &repo_ref, &targets);

    // Each load landed where the plan says, with the right architecture.
    assert!(!loads.is_empty());
    for l in &loads {
        let id = l["id"].as_str().unwrap();
        let planned = l["builder"].as_str().expect("a load names its builder");
        assert_eq!(
            results[id]["builder"].as_str(),
            Some(planned),
            "{id} landed elsewhere than planned"
        );
        let engine = engines[planned];
        let platforms = crate::strings(&l["platforms"]);
        for t in crate::strings(&l["tags"]) {
            let img = engine
                .inspect(&t)
                .unwrap_or_else(|| panic!("{t} is not in {planned}'s engine ({id})"));
            if platforms.len() == 1 {
                let (_, arch) = platforms[0].split_once('/').unwrap();
                let arch = arch.split('/').next().unwrap();
                assert_eq!(img["Architecture"].as_str(), Some(arch), "{t} in {planned}");
            }
        }
    }
    cleanup();
}

/// The implicit builder over `DOCKER_HOST=tcp://...` with `DOCKER_TLS_VERIFY` and
/// `DOCKER_CERT_PATH`, then over `DOCKER_HOST=ssh://...`, with no builder block: both build
/// and push complete indexes.
#[test]
#[ignore = "issue 9: not yet passing, see the fleet branch report"]
fn fleet_implicit_builder() {
    let fleet = Fleet::from_env();
    let ws = Workspace::new("fleet", &fleet.tls);
    std::fs::remove_file(ws.dir.join("build.hcl")).unwrap();
    ws.set_env("PATH", &fleet.path());
    ws.set_env("LOAD", "false");

    ws.set_env("DOCKER_HOST", &fleet.tls_host);
    ws.set_env("DOCKER_TLS_VERIFY", "1");
    ws.set_env("DOCKER_CERT_PATH", &fleet.certs);
    let repo_ref = ws.registry_repo("implicit-tls");
    ws.set_env("REPO", &repo_ref);
    let applied = ws.apply(&["small"], &["--progress", "plain"]);
    applied.run.assert_success();
    assert!(
        applied.run.stdout.contains(" local ") || applied.run.stderr.contains(" local "),
        "the implicit builder is `local`:\n{}",
        applied.run.output()
    );
    assert_indexes(&ws, &repo_ref, &["t1", "t2"]);

    // Without DOCKER_TLS_VERIFY the CLI speaks clear text to a TLS port: refused, with what
    // to set.
    ws.set_env("DOCKER_TLS_VERIFY", "");
    let plain = ws.rbake(&["plan", "--probe", "small"]);
    plain.assert_failure();
    assert!(
        plain.stderr.contains("probe::tls") && plain.stderr.contains("DOCKER_TLS_VERIFY"),
        "{}",
        plain.output()
    );

    ws.set_env("DOCKER_HOST", &fleet.ssh_host);
    let repo_ref = ws.registry_repo("implicit-ssh");
    ws.set_env("REPO", &repo_ref);
    let applied = ws.apply(&["small"], &["--progress", "plain"]);
    applied.run.assert_success();
    assert_indexes(&ws, &repo_ref, &["t1", "t2"]);
}

/// A client certificate from another CA, an ssh host that does not answer, and an ssh host
/// whose key is not known: each a diagnostic naming the builder, its endpoint and what to
/// fix, before anything is built. An unreachable builder beside a working one only warns:
/// its work goes to the other.
#[test]
#[ignore = "issue 9: not yet passing, see the fleet branch report"]
fn fleet_refusals() {
    let fleet = Fleet::from_env();
    let ws = Workspace::new("fleet", &fleet.tls);
    ws.set_env("PATH", &fleet.path());
    ws.set_env("LOAD", "false");
    ws.set_env("REPO", &ws.registry_repo("refused"));

    ws.write(
        "build.hcl",
        &fleet.tls_builder("stranger", &fleet.other_certs, ""),
    );
    let run = ws.rbake(&["plan", "--probe", "small"]);
    run.assert_failure();
    for want in ["probe::tls", "`stranger`", &fleet.tls_host, "tls-cert"] {
        assert!(run.stderr.contains(want), "no {want}:\n{}", run.output());
    }

    ws.write("build.hcl", &builder("far", "ssh://root@127.0.0.1:1", ""));
    let run = ws.rbake(&["plan", "--probe", "small"]);
    run.assert_failure();
    for want in [
        "probe::failed",
        "`far`",
        "ssh://root@127.0.0.1:1",
        "Connection refused",
    ] {
        assert!(run.stderr.contains(want), "no {want}:\n{}", run.output());
    }

    // The right port but no known host key (an empty known_hosts): refused by ssh.
    let bin = ws.dir.join("ssh-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {}/ssh -o UserKnownHostsFile=/dev/null \"$@\"\n",
            fleet.ssh_bin
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["755", wrapper.to_str().unwrap()])
        .status()
        .unwrap();
    ws.set_env("PATH", &format!("{}:{}", bin.display(), fleet.path()));
    ws.write("build.hcl", &builder("stranger-host", &fleet.ssh_host, ""));
    let run = ws.rbake(&["plan", "--probe", "small"]);
    run.assert_failure();
    for want in ["probe::ssh_host_key", "`stranger-host`", "known_hosts"] {
        assert!(run.stderr.contains(want), "no {want}:\n{}", run.output());
    }
    ws.set_env("PATH", &fleet.path());

    // Beside a working builder, the unreachable one is a warning and the plan goes on.
    ws.write(
        "build.hcl",
        &format!(
            "{}{}",
            builder("far", "ssh://root@127.0.0.1:1", ""),
            fleet.tls_builder("tls", &fleet.certs, "")
        ),
    );
    let run = ws.rbake(&["plan", "--probe", "--format", "json", "small"]);
    run.assert_success();
    assert!(
        run.stderr.contains("probe::unreachable"),
        "{}",
        run.output()
    );
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    for n in plan["nodes"].as_array().unwrap() {
        if n["kind"] == "build" {
            assert_eq!(n["builder"], "tls", "{n}");
        }
    }
}

/// A TCP front for an engine's unix socket that the test can pull: a builder that dies
/// mid-run without touching a shared engine.
struct Front {
    port: u16,
    connections: Arc<AtomicUsize>,
    dead: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Front {
    fn start(socket: &str) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let socket = socket.trim_start_matches("unix://").to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let dead = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (c, d, o) = (connections.clone(), dead.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    // Dead: no listener any more (dropping it refuses new connections).
                    break;
                }
                let Ok(engine) = UnixStream::connect(&socket) else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                o.lock().unwrap().push(client.try_clone().unwrap());
                let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
                let (mut e_in, mut e_out) = (engine.try_clone().unwrap(), engine);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut e_out);
                    let _ = e_out.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut e_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Both);
                });
            }
        });
        Front {
            port,
            connections,
            dead,
            open,
        }
    }

    /// Cuts every connection and stops accepting.
    fn kill(&self) {
        self.dead.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port)).map(|mut s| s.write_all(b""));
    }

    /// Kills the front once `n` connections were made (a build is under way), from a thread.
    fn kill_after(self: &Arc<Self>, n: usize) {
        let me = self.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(240);
            while me.connections.load(Ordering::SeqCst) < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            me.kill();
        });
    }
}

/// One engine dies during the run: its build is retried on the other builder and the
/// release completes; when the dead engine was the only one for a platform, the run fails
/// and nothing is published.
#[test]
#[ignore = "issue 9: not yet passing, see the fleet branch report"]
fn fleet_builder_lost_mid_run() {
    let d20 = Engine::docker20();
    let fleet = Fleet::from_env();
    let ws = Workspace::new("fleet", &d20);
    ws.set_env("LOAD", "false");

    // Both builders build every platform: the run finishes on Docker 20.10.
    let front = Arc::new(Front::start(&fleet.ssh.host));
    let repo_ref = ws.registry_repo("lost");
    ws.set_env("REPO", &repo_ref);
    let endpoint = format!("tcp://127.0.0.1:{}", front.port);
    ws.write(
        "build.hcl",
        &format!(
            "{}{}",
            builder("d20", &d20.host, "  max-parallelism = 2\n"),
            builder("doomed", &endpoint, "  max-parallelism = 2\n")
        ),
    );
    ws.set_env("E2E_NONCE", &format!("nonce-{}", crate::random_id()));
    ws.plan(&["small"]);
    // The probe and plan made their connections; the run's first build opens more.
    let before = front.connections.load(Ordering::SeqCst);
    front.kill_after(before + 3);
    let run = ws.rbake(&["apply", "small", "--progress", "plain"]);
    run.assert_success();
    assert_indexes(&ws, &repo_ref, &["t1", "t2"]);

    // t2 may use only the doomed builder: when it dies, t2 cannot be built anywhere, the
    // run fails and neither t2 nor t1 (built fine on Docker 20.10) is published.
    let front = Arc::new(Front::start(&fleet.ssh.host));
    let repo_ref = ws.registry_repo("lost-only");
    ws.set_env("REPO", &repo_ref);
    let endpoint = format!("tcp://127.0.0.1:{}", front.port);
    ws.write(
        "build.hcl",
        &format!(
            "{}{}",
            builder("d20", &d20.host, ""),
            builder("doomed", &endpoint, "")
        ),
    );
    ws.set_env("E2E_NONCE", &format!("nonce-{}", crate::random_id()));
    let only = ["small", "--set", "t2.builder=doomed"];
    ws.plan(&only);
    let before = front.connections.load(Ordering::SeqCst);
    front.kill_after(before + 3);
    let run = ws.rbake(&[
        "apply",
        "small",
        "--set",
        "t2.builder=doomed",
        "--progress",
        "plain",
    ]);
    run.assert_failure();
    for t in ["t1", "t2"] {
        let (_, repo, _) = registry::split_reference(&format!("{repo_ref}/{t}:v1"));
        assert!(
            !ws.registry.has_manifest(&repo, "v1"),
            "{t} was published although arm64 could not be built:\n{}",
            run.output()
        );
    }
}
