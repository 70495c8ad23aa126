//! Failure-mode end-to-end tests for `rbake apply`, against the real stack `scripts/stack.sh`
//! runs: Docker 20.10 (classic image store), Docker 26 (containerd image store), a registry on
//! 127.0.0.1:5000 and qemu for arm64. Each test runs on both engines where the engine matters
//! and checks real effects: exit codes, what the registry serves, what the engine holds and
//! which processes it still runs.
//!
//! The stack must be up (`bash scripts/stack.sh install up base-images`); these tests fail,
//! never skip, when it is not. They take the e2e lock (`crate::exclusive`), so they never
//! run beside another e2e test: `cargo test --release --test e2e failures::`.
//!
//! Fixtures live in `tests/fixtures/e2e_failures/`; every run works in a temporary copy, with
//! a controlled environment, a fresh repository name and a fresh build-cache nonce.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::STACK_HINT;
use crate::http::{self, Addr};

// ---------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Engine {
    name: &'static str,
    socket: &'static str,
}

impl Engine {
    fn endpoint(&self) -> String {
        format!("unix://{}", self.socket)
    }
}

/// The stack's engines and registry, from `scripts/stack.sh env`'s variables when set.
struct Stack {
    engines: [Engine; 2],
    registry: &'static str,
    _lock: crate::Exclusive,
}

fn from_env(var: &str, default: &str) -> &'static str {
    Box::leak(
        std::env::var(var)
            .unwrap_or_else(|_| default.to_string())
            .into_boxed_str(),
    )
}

fn socket_of(var: &str, default: &str) -> &'static str {
    let host = from_env(var, default);
    host.strip_prefix("unix://")
        .unwrap_or_else(|| panic!("{var}={host}: these tests reach the engines over unix sockets"))
}

/// Takes the e2e lock (`crate::exclusive`) and checks (once per process) that the stack is
/// up (`crate::require_stack`), failing the calling test if not.
fn stack() -> Stack {
    let lock = crate::exclusive();
    crate::require_stack();
    Stack {
        engines: [
            Engine {
                name: "docker20",
                socket: socket_of("RBAKE_DOCKER20_HOST", "unix:///var/run/docker.sock"),
            },
            Engine {
                name: "docker26",
                socket: socket_of("RBAKE_DOCKER26_HOST", "unix:///run/rbake-m/docker.sock"),
            },
        ],
        registry: from_env("RBAKE_REGISTRY", "127.0.0.1:5000"),
        _lock: lock,
    }
}

// ---------------------------------------------------------------------------------------
// The engines' and the registry's HTTP APIs, through the e2e helpers' client
// ---------------------------------------------------------------------------------------

fn docker_api(e: Engine, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let r = http::request(&Addr::Unix(e.socket.into()), method, path, &[], None)?;
    Ok((r.status, r.text()))
}

fn registry_api(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let r = http::request(&Addr::Tcp(addr.to_string()), method, path, headers, None)?;
    Ok((r.status, r.text()))
}

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The HTTP status of `GET /v2/<repo>/manifests/<tag>` on the registry at `addr`.
fn manifest_status(addr: &str, repo: &str, tag: &str) -> u16 {
    let path = format!("/v2/{repo}/manifests/{tag}");
    registry_api(addr, "GET", &path, &[("Accept", MANIFEST_TYPES)])
        .unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"))
        .0
}

/// The HTTP status of `GET /v2/<repo>/tags/list`: 404 when nothing was ever pushed to it.
fn tags_status(addr: &str, repo: &str) -> (u16, String) {
    let path = format!("/v2/{repo}/tags/list");
    registry_api(addr, "GET", &path, &[]).unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"))
}

/// Deletes what `repo:tag` points at, if anything: tests leave no tags behind on the shared
/// registry.
fn untag(addr: &str, repo: &str, tag: &str) {
    crate::Registry {
        host: addr.to_string(),
    }
    .delete_tag(repo, tag);
}

/// The engine's image id for `reference`, or `None` when it holds no such image.
fn image_id(e: Engine, reference: &str) -> Option<String> {
    let (code, body) = docker_api(e, "GET", &format!("/images/{reference}/json"))
        .unwrap_or_else(|x| panic!("inspect {reference} on {}: {x}", e.name));
    if code == 404 {
        return None;
    }
    assert_eq!(code, 200, "inspect {reference} on {}: {body}", e.name);
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|x| panic!("inspect {reference} on {}: {x}: {body}", e.name));
    v["Id"].as_str().map(str::to_string)
}

fn remove_image(e: Engine, reference: &str) {
    let (code, body) = docker_api(e, "DELETE", &format!("/images/{reference}?force=1"))
        .unwrap_or_else(|x| panic!("remove {reference} on {}: {x}", e.name));
    assert!(
        code == 200 || code == 404,
        "remove {reference} on {}: HTTP {code}: {body}",
        e.name
    );
}

// ---------------------------------------------------------------------------------------
// Projects and runs
// ---------------------------------------------------------------------------------------

/// A string no other run (of this or any earlier process) used: pid, clock and a counter.
fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh repository name on a registry, e.g. `e2e-failures/failarm-docker20-123-456-0`.
fn fresh_repo(label: &str, e: Engine) -> String {
    format!("e2e-failures/{label}-{}-{}", e.name, unique())
}

/// A temporary copy of a fixture directory, removed when dropped.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(fixture: &str) -> Project {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/e2e_failures")
            .join(fixture);
        let dir = std::env::temp_dir().join(format!(
            "rbake-e2e-failures-{}-{}",
            fixture.replace('/', "-"),
            unique()
        ));
        crate::support::copy_tree(&from, &dir);
        Project { dir }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    fn command(&self, args: &[&str], vars: &[(&str, String)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rbake"));
        c.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            // No docker credentials of the tester's: `$HOME/.docker` does not exist here.
            .env("HOME", &self.dir)
            .env("NO_COLOR", "1");
        for (k, v) in vars {
            c.env(k, v);
        }
        c
    }

    /// Runs rbake to the end (at most `limit`).
    fn rbake(&self, args: &[&str], vars: &[(&str, String)], limit: Duration) -> Run {
        self.spawn(args, vars).finish(limit)
    }

    /// Starts rbake; its stderr can be watched line by line while it runs.
    fn spawn(&self, args: &[&str], vars: &[(&str, String)]) -> Spawned {
        let command = args.join(" ");
        let mut child = self
            .command(args, vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rbake");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let mut readers = Vec::new();
        let out = child.stdout.take().expect("stdout");
        let acc = stdout.clone();
        readers.push(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(out).read_to_string(&mut text);
            acc.lock().unwrap().push_str(&text);
        }));
        let err = child.stderr.take().expect("stderr");
        let acc = stderr.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                {
                    let mut a = acc.lock().unwrap();
                    a.push_str(&line);
                    a.push('\n');
                }
                let _ = tx.send(line);
            }
        }));
        Spawned {
            child,
            lines,
            stdout,
            stderr,
            readers,
            started: Instant::now(),
            command,
            done: false,
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running rbake.
struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    command: String,
    done: bool,
}

impl Spawned {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stderr up to now.
    fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a `--progress json` event matching `pred` on stderr, and returns it.
    fn wait_for_event(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && v.get("event").is_some()
                        && pred(&v)
                    {
                        return v;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    let status = self.child.wait();
                    panic!(
                        "rbake {} gave no {what} ({e:?} after {:.1}s; exit {status:?})\n--- stderr ---\n{}",
                        self.command,
                        self.started.elapsed().as_secs_f64(),
                        self.stderr.lock().unwrap()
                    );
                }
            }
        }
    }

    /// Waits (at most `limit`) for rbake to exit, killing it and failing the test if it does not.
    fn finish(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for rbake") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.done = true;
                panic!(
                    "rbake {} did not exit within {limit:?}; killed\n--- stderr ---\n{}",
                    self.command,
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        let elapsed = self.started.elapsed();
        self.done = true;
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        Run {
            code: status.code(),
            stdout,
            stderr,
            elapsed,
            command: self.command.clone(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The outcome of one rbake run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    command: String,
}

impl Run {
    /// Everything about the run, for assertion messages.
    fn show(&self) -> String {
        format!(
            "rbake {}\nexit {:?} after {:.1}s\n--- stderr ---\n{}--- stdout ---\n{}",
            self.command,
            self.code,
            self.elapsed.as_secs_f64(),
            self.stderr,
            self.stdout
        )
    }

    /// The `--progress json` events on stderr, in order.
    fn events(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("event").is_some())
            .collect()
    }

    /// The index of the first event `kind` for `node`.
    fn event_index(&self, kind: &str, node: &str) -> Option<usize> {
        self.events()
            .iter()
            .position(|e| e["event"] == kind && e["node"] == node)
    }

    fn event(&self, kind: &str, node: &str) -> Option<Value> {
        self.events()
            .into_iter()
            .find(|e| e["event"] == kind && e["node"] == node)
    }

    /// Stderr with miette's gutters dropped and whitespace collapsed, so that text wrapped at
    /// the report width can be matched as one line.
    fn flat(&self) -> String {
        self.stderr
            .replace(['│', '╭', '╰', '─', '┬', '·'], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Stderr without gutters or any whitespace, for text (long paths) that miette may break
    /// anywhere when it wraps.
    fn squashed(&self) -> String {
        self.flat().replace(' ', "")
    }

    /// The summary table's row for `node`.
    /// The node's line in the summary: the table row, or with `--progress json` the node's
    /// entry of the final `summary` event, as `NODE STATUS DIGEST|ERROR|REASON`.
    fn row(&self, node: &str) -> Option<String> {
        if let Some(summary) = self
            .events()
            .into_iter()
            .rev()
            .find(|e| e["event"] == "summary")
        {
            let n = summary["nodes"].get(node)?;
            // Shaped like the table's row: `done DIGEST`, `FAILED`, `skipped (REASON)`.
            return Some(match n["status"].as_str()? {
                "failed" => format!("{node} FAILED {}", n["error"].as_str().unwrap_or("")),
                "skipped" => format!("{node} skipped ({})", n["reason"].as_str().unwrap_or("")),
                other => format!("{node} {other} {}", n["digest"].as_str().unwrap_or("")),
            });
        }
        self.stderr
            .lines()
            .rev()
            .find(|l| l.starts_with(&format!("{node} ")))
            .map(str::to_string)
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The pids of processes whose environment holds exactly `entry` (`KEY=VALUE`).
fn processes_with_env(entry: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ"))
            && env.split(|b| *b == 0).any(|v| v == entry.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// Waits up to `limit` until `check` holds; returns whether it did.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `file:line:col` of the first occurrence of `needle` in a project file.
fn position(project: &Project, file: &str, needle: &str) -> String {
    let text = project.read(file);
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return format!("{file}:{}:{}", i + 1, col + 1);
        }
    }
    panic!("{needle:?} is not in {file}");
}

// ---------------------------------------------------------------------------------------
// A registry of the test's own
// ---------------------------------------------------------------------------------------

/// A `docker-registry` on a free loopback port with storage in a temp dir, which the test
/// can stop and start again on the same storage.
struct OwnRegistry {
    addr: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRegistry {
    fn start() -> OwnRegistry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("rbake-e2e-registry-{}", unique()));
        std::fs::create_dir_all(dir.join("storage")).expect("registry dir");
        let addr = format!("127.0.0.1:{port}");
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: {addr}\n",
                dir.join("storage").display()
            ),
        )
        .expect("registry config");
        let mut r = OwnRegistry {
            addr,
            dir,
            child: None,
        };
        r.up();
        r
    }

    fn up(&mut self) {
        assert!(self.child.is_none(), "the registry already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start docker-registry ({e}): {STACK_HINT}"));
        self.child = Some(child);
        let addr = self.addr.clone();
        let answers = eventually(secs(15), || {
            registry_api(&addr, "GET", "/v2/", &[]).is_ok_and(|(c, _)| c == 200)
        });
        assert!(
            answers,
            "the test's registry on {} did not answer within 15 s:\n{}",
            self.addr,
            std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
        );
    }

    /// Kills the registry (SIGKILL) and reaps it; its port then refuses connections.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------
// 1. One platform's build fails
// ---------------------------------------------------------------------------------------

/// Checks a run of `one-platform-fails` where amd64 built and arm64 failed; returns amd64's
/// digest.
fn check_amd64_built_arm64_failed(
    run: &Run,
    project: &Project,
    e: Engine,
    reg: &str,
    repo: &str,
) -> String {
    let amd64 = "build:failarm:linux/amd64";
    let arm64 = "build:failarm:linux/arm64";
    let push = "push:failarm";
    let show = format!("[{}] {}", e.name, run.show());
    assert_eq!(
        run.code,
        Some(1),
        "a failed build must fail the run\n{show}"
    );

    // Nothing reached the registry: no tag, not even the repository.
    assert_eq!(
        manifest_status(reg, repo, "v1"),
        404,
        "the tag {reg}/{repo}:v1 must not exist after a failed build\n{show}"
    );
    let (code, body) = tags_status(reg, repo);
    assert_eq!(code, 404, "nothing may be pushed to {repo}: {body}\n{show}");

    // The failure: its error, the step's output, and the push skipped because of it.
    let failed = run
        .event("failed", arm64)
        .unwrap_or_else(|| panic!("no `failed` event for {arm64}\n{show}"));
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or("")
            .contains("exit code: 3"),
        "the error names the step's exit code: {failed}\n{show}"
    );
    assert!(
        failed["logs"].as_array().is_some_and(|l| l.iter().any(|x| x
            .as_str()
            .unwrap_or("")
            .contains("refusing to build on aarch64"))),
        "the failed event carries the step's output: {failed}\n{show}"
    );
    let skipped = run
        .event("skipped", push)
        .unwrap_or_else(|| panic!("the push must be skipped\n{show}"));
    assert!(
        skipped["reason"].as_str().unwrap_or("").contains(arm64),
        "the push is skipped because of {arm64}: {skipped}\n{show}"
    );
    assert!(
        run.event_index("started", push).is_none() && run.event_index("done", push).is_none(),
        "the push must not run\n{show}"
    );
    assert!(
        run.stderr.contains(&format!("error: {arm64}: ")),
        "stderr ends with the failed node's error\n{show}"
    );

    // The platform that built: its digest in the events, the table and the metadata file.
    let done = run
        .event("done", amd64)
        .unwrap_or_else(|| panic!("{amd64} must succeed\n{show}"));
    let digest = done["digest"].as_str().unwrap_or_default().to_string();
    assert!(
        is_digest(&digest),
        "{amd64} reports a digest: {done}\n{show}"
    );
    let row = run
        .row(amd64)
        .unwrap_or_else(|| panic!("no summary row for {amd64}\n{show}"));
    let short = &digest[..7 + 12];
    assert!(
        row.contains(" done ") && row.contains(short),
        "the summary shows {amd64} done with {short}: {row:?}\n{show}"
    );
    let row = run.row(arm64).unwrap_or_default();
    assert!(
        row.contains("FAILED"),
        "the summary shows {arm64} FAILED: {row:?}\n{show}"
    );
    let row = run.row(push).unwrap_or_default();
    assert!(
        row.contains("skipped"),
        "the summary shows {push} skipped: {row:?}\n{show}"
    );

    let meta: Value = serde_json::from_str(&project.read("meta.json"))
        .unwrap_or_else(|x| panic!("meta.json: {x}\n{show}"));
    let meta = &meta["rbake.metadata"];
    assert_eq!(meta["schema"], "rbake.metadata.v2", "{meta}");
    assert_eq!(
        meta["nodes"][amd64]["digest"],
        digest.as_str(),
        "metadata: {meta}\n{show}"
    );
    assert_eq!(
        meta["nodes"][amd64]["platform"], "linux/amd64",
        "metadata: {meta}"
    );
    assert_eq!(
        meta["nodes"][amd64]["target"], "failarm",
        "metadata: {meta}"
    );
    assert!(
        meta["nodes"].get(arm64).is_none(),
        "no digest for the failed build: {meta}"
    );
    assert_eq!(
        meta["published"],
        serde_json::json!([]),
        "nothing published: {meta}"
    );

    // Intermediate images are per run and removed when it ends: nothing of the failed
    // release stays behind under rbake's names.
    let leftovers = docker_api(e, "GET", "/images/json")
        .map(|(_, body)| body)
        .unwrap_or_default();
    // Per-run names end in `-<run id>` after the platform.
    assert!(
        !leftovers.contains("rbake.local/failarm:linux-amd64-"),
        "a per-run rbake.local/failarm image remains on {}\n{show}",
        e.name
    );
    digest
}

/// The `one-platform-fails` fixture's variables: amd64 succeeds after `ok_after` seconds,
/// arm64 fails after `fail_after` seconds, pushing to `reg/repo`.
fn failarm_vars(
    e: Engine,
    reg: &str,
    repo: &str,
    ok_after: u32,
    fail_after: u32,
) -> [(&'static str, String); 5] {
    [
        ("ENDPOINT", e.endpoint()),
        ("REPO", format!("{reg}/{repo}")),
        ("NONCE", unique()),
        ("OK_AFTER", ok_after.to_string()),
        ("FAIL_AFTER", fail_after.to_string()),
    ]
}

#[test]
fn a_platform_that_fails_publishes_no_tag_and_reports_the_platform_that_built() {
    let st = stack();
    let reg = st.registry;
    for e in st.engines {
        let t = Instant::now();
        let project = Project::new("one-platform-fails");
        let args = [
            "apply",
            "failarm",
            "--progress",
            "json",
            "--metadata-file",
            "meta.json",
        ];

        // Fail fast; amd64 is done before arm64 fails.
        let repo = fresh_repo("failarm", e);
        let vars = failarm_vars(e, reg, &repo, 0, 6);
        let run = project.rbake(&args, &vars, secs(180));
        check_amd64_built_arm64_failed(&run, &project, e, reg, &repo);
        let (done, failed) = (
            run.event_index("done", "build:failarm:linux/amd64"),
            run.event_index("failed", "build:failarm:linux/arm64"),
        );
        assert!(
            done < failed,
            "[{}] amd64 finished before arm64 failed\n{}",
            e.name,
            run.show()
        );

        // --keep-going: arm64 fails at once, amd64 still runs to the end.
        let repo = fresh_repo("failarm-keep", e);
        let vars = failarm_vars(e, reg, &repo, 4, 0);
        let mut keep = args.to_vec();
        keep.push("--keep-going");
        let run = project.rbake(&keep, &vars, secs(180));
        check_amd64_built_arm64_failed(&run, &project, e, reg, &repo);
        let (done, failed) = (
            run.event_index("done", "build:failarm:linux/amd64"),
            run.event_index("failed", "build:failarm:linux/arm64"),
        );
        assert!(
            failed < done,
            "[{}] with --keep-going amd64 kept building after arm64 failed\n{}",
            e.name,
            run.show()
        );

        // Fail fast again, but arm64 fails first: amd64 is cancelled, not waited for.
        let repo = fresh_repo("failarm-cancel", e);
        let vars = failarm_vars(e, reg, &repo, 30, 0);
        let run = project.rbake(&args, &vars, secs(180));
        let show = run.show();
        assert_eq!(run.code, Some(1), "[{}]\n{show}", e.name);
        assert!(
            run.elapsed < secs(25),
            "[{}] fail-fast must not wait for amd64's 30 s step\n{show}",
            e.name
        );
        assert_eq!(
            manifest_status(reg, &repo, "v1"),
            404,
            "[{}]\n{show}",
            e.name
        );
        assert!(
            run.event("failed", "build:failarm:linux/arm64").is_some(),
            "{show}"
        );
        let cancelled = run.event("skipped", "build:failarm:linux/amd64");
        assert!(
            cancelled
                .as_ref()
                .is_some_and(|c| c["reason"] == "cancelled"),
            "[{}] amd64 is cancelled: {cancelled:?}\n{show}",
            e.name
        );
        assert!(
            run.row("build:failarm:linux/amd64")
                .is_some_and(|r| r.contains("skipped (cancelled)")),
            "[{}] the summary shows amd64 cancelled\n{show}",
            e.name
        );
        let meta: Value = serde_json::from_str(&project.read("meta.json")).expect("meta.json");
        assert_eq!(
            meta["rbake.metadata"]["nodes"],
            serde_json::json!({}),
            "no build finished: {meta}\n{show}"
        );
        eprintln!(
            "[{}] one platform fails: {:.1}s",
            e.name,
            t.elapsed().as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. The registry stops while the builds run
// ---------------------------------------------------------------------------------------

#[test]
fn a_registry_stopped_mid_run_gets_no_tag_and_the_error_names_it() {
    let st = stack();
    for e in st.engines {
        let t = Instant::now();
        let project = Project::new("registry-stops");
        let mut registry = OwnRegistry::start();
        let repo = fresh_repo("regstop", e);
        let vars = [
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{}/{repo}", registry.addr)),
            ("NONCE", unique()),
        ];
        let args = ["apply", "regstop", "--progress", "json"];
        let mut rbake = project.spawn(&args, &vars);
        rbake.wait_for_event("build start", secs(60), |v| {
            v["event"] == "started" && v["node"].as_str().unwrap_or("").starts_with("build:")
        });
        registry.stop();
        let run = rbake.finish(secs(180));
        registry.up();
        let show = run.show();

        assert_eq!(
            run.code,
            Some(1),
            "[{}] a failed push fails the run\n{show}",
            e.name
        );
        assert_eq!(
            manifest_status(&registry.addr, &repo, "v1"),
            404,
            "[{}] no tag after the registry came back\n{show}",
            e.name
        );
        for p in ["linux/amd64", "linux/arm64"] {
            let node = format!("build:regstop:{p}");
            assert!(
                run.event("done", &node).is_some(),
                "[{}] {node} is not affected by the registry\n{show}",
                e.name
            );
        }
        assert!(run.event("done", "push:regstop").is_none(), "{show}");
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error: push:regstop: "))
            .unwrap_or_else(|| panic!("[{}] no error line for the push\n{show}", e.name));
        assert!(
            error.contains(&registry.addr),
            "[{}] the error names the registry {}: {error}\n{show}",
            e.name,
            registry.addr
        );
        assert!(
            run.row("push:regstop")
                .is_some_and(|r| r.contains("FAILED")),
            "[{}] the summary shows the push FAILED\n{show}",
            e.name
        );

        // With the registry back, the same run publishes (the builds come from the cache).
        let again = project.rbake(&args, &vars, secs(180));
        assert_eq!(again.code, Some(0), "[{}] rerun\n{}", e.name, again.show());
        assert_eq!(
            manifest_status(&registry.addr, &repo, "v1"),
            200,
            "[{}] rerun",
            e.name
        );

        eprintln!(
            "[{}] registry stops: {:.1}s",
            e.name,
            t.elapsed().as_secs_f64()
        );
    }
}

/// A loopback address nothing listens on (a port just freed), so connections are refused.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = l.local_addr().expect("local addr").to_string();
    drop(l);
    addr
}

#[test]
fn a_second_registry_that_refuses_leaves_no_tag_on_the_first() {
    let st = stack();
    let reg = st.registry;
    for e in st.engines {
        let project = Project::new("two-registries");
        let repo = fresh_repo("tworegs", e);
        let dead = dead_addr();
        let vars = [
            ("ENDPOINT", e.endpoint()),
            ("LIVE", reg.to_string()),
            ("DEAD", dead.clone()),
            ("REPO", repo.clone()),
        ];
        let run = project.rbake(
            &["apply", "tworegs", "--progress", "json"],
            &vars,
            secs(180),
        );
        let show = run.show();
        assert_eq!(run.code, Some(1), "[{}]\n{show}", e.name);
        for p in ["linux/amd64", "linux/arm64"] {
            let node = format!("build:tworegs:{p}");
            assert!(
                run.event("done", &node).is_some(),
                "[{}] {node}\n{show}",
                e.name
            );
        }
        // The live registry got the images by digest, but its tag is written only once every
        // registry holds them, and the dead one never did.
        assert_eq!(
            manifest_status(reg, &repo, "v1"),
            404,
            "[{}] {reg}/{repo}:v1 must not be tagged when {dead} refused the push\n{show}",
            e.name
        );
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error: push:tworegs: "))
            .unwrap_or_else(|| panic!("[{}] no error line for the push\n{show}", e.name));
        assert!(
            error.contains(&dead),
            "[{}] the error names {dead}: {error}\n{show}",
            e.name
        );
        assert!(
            run.event("done", "push:tworegs").is_none(),
            "[{}]\n{show}",
            e.name
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. An engine that cannot be reached
// ---------------------------------------------------------------------------------------

/// Checks a run refused by the probe of builder `gone` at `endpoint`.
fn check_probe_refused(run: &Run, project: &Project, endpoint: &str, where_: &str) {
    let show = run.show();
    let flat = run.flat();
    assert_eq!(
        run.code,
        Some(1),
        "an unreachable engine fails the run\n{show}"
    );
    assert!(
        flat.contains("probe::failed"),
        "the probe's diagnostic\n{show}"
    );
    assert!(
        run.squashed()
            .contains(&format!("cannotprobebuilder`gone`at{endpoint}:")),
        "the diagnostic names the builder and its endpoint\n{show}"
    );
    assert!(
        !flat.contains("builder `live`"),
        "only the unreachable builder is blamed\n{show}"
    );
    let at = position(project, "build.hcl", where_);
    assert!(flat.contains(&at), "the diagnostic points at {at}\n{show}");
    assert!(flat.contains("help:"), "the diagnostic has help\n{show}");
    assert!(run.events().is_empty(), "nothing may start\n{show}");
    assert!(run.stdout.is_empty(), "{show}");
}

#[test]
fn an_unreachable_engine_stops_the_run_before_anything_is_built() {
    let st = stack();
    let reg = st.registry;
    for e in st.engines {
        let project = Project::new("engine-unreachable");
        // The image rbake would leave for `onlive` on the live engine: make sure it is absent.
        remove_image(e, "rbake.local/onlive:linux-amd64");
        let repo = fresh_repo("unreachable", e);
        let vars = [
            ("LIVE_ENDPOINT", e.endpoint()),
            ("REPO", format!("{reg}/{repo}")),
        ];
        let run = project.rbake(&["apply", "--progress", "json"], &vars, secs(60));
        check_probe_refused(
            &run,
            &project,
            "unix:///tmp/nonexistent.sock",
            "\"unix:///tmp/nonexistent.sock\"",
        );
        let show = run.show();
        assert_eq!(
            image_id(e, "rbake.local/onlive:linux-amd64"),
            None,
            "[{}] the target on the live builder must not be built\n{show}",
            e.name
        );
        for tag in ["live", "gone"] {
            assert_eq!(
                manifest_status(reg, &repo, tag),
                404,
                "[{}] {tag}\n{show}",
                e.name
            );
        }
    }
}

#[test]
fn a_socket_nobody_listens_on_is_reported_like_a_missing_one() {
    let st = stack();
    let reg = st.registry;
    let project = Project::new("engine-unreachable");
    // A socket file whose listener is gone: connecting is refused rather than not found.
    let dead = project.dir.join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).expect("bind a socket"));
    let endpoint = format!("unix://{}", dead.display());
    let hcl = project
        .read("build.hcl")
        .replace("unix:///tmp/nonexistent.sock", &endpoint);
    project.write("build.hcl", &hcl);
    let repo = fresh_repo("deadsock", st.engines[0]);
    let vars = [
        ("LIVE_ENDPOINT", st.engines[0].endpoint()),
        ("REPO", format!("{reg}/{repo}")),
    ];
    let run = project.rbake(&["apply", "--progress", "json"], &vars, secs(60));
    check_probe_refused(&run, &project, &endpoint, &format!("\"{endpoint}\""));
}

// ---------------------------------------------------------------------------------------
// 4. Ctrl-C
// ---------------------------------------------------------------------------------------

#[test]
fn ctrl_c_stops_the_builds_and_publishes_nothing() {
    interrupt_run("INT", 130, "interrupted");
}

/// SIGTERM is what `timeout`, `kill` and CI runners send: it stops a run exactly as Ctrl-C
/// does, with 143 (128 + 15) as the exit code.
#[test]
fn sigterm_stops_the_builds_and_publishes_nothing() {
    interrupt_run("TERM", 143, "terminated");
}

/// Sends `signal` to a running `rbake apply` in the middle of a build step and checks the
/// run exits `code` saying `word`, publishes nothing and leaves no step running.
/// SIGTERM while the push itself runs (blobs going up): exit 143, no tag, and none of the
/// run's own images (`rbake.local/<target>:<platform>-<run id>`) left in the engine.
#[test]
fn sigterm_during_a_push_writes_no_tag_and_leaves_no_run_image() {
    let st = stack();
    let reg = st.registry;
    for e in st.engines {
        let project = Project::new("interrupted");
        let repo = fresh_repo("sigterm-push", e);
        let vars = [
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{reg}/{repo}")),
            ("NONCE", unique()),
        ];
        let mut rbake = project.spawn(&["apply", "bigpush", "--progress", "json"], &vars);
        rbake.wait_for_event("the push started", secs(240), |v| {
            v["event"] == "started" && v["node"] == "push:bigpush"
        });
        let status = Command::new("kill")
            .args(["-TERM".to_string(), rbake.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", rbake.pid());
        let run = rbake.finish(secs(60));
        let show = run.show();
        assert_eq!(
            run.code,
            Some(143),
            "[{}] SIGTERM exits 143\n{show}",
            e.name
        );
        assert!(
            run.event("done", "push:bigpush").is_none(),
            "[{}] the push finished before the signal: make the image larger\n{show}",
            e.name
        );
        assert_eq!(
            manifest_status(reg, &repo, "big"),
            404,
            "[{}] no tag\n{show}",
            e.name
        );
        let (_, body) = docker_api(e, "GET", "/images/json").expect("list images");
        let images: Value = serde_json::from_str(&body).unwrap_or_default();
        let left: Vec<String> = images
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_string))
            .filter(|t| t.starts_with("rbake.local/bigpush:"))
            .collect();
        assert!(
            left.is_empty(),
            "[{}] per-run images left: {left:?}\n{show}",
            e.name
        );
    }
}

fn interrupt_run(signal: &str, code: i32, word: &str) {
    let st = stack();
    let reg = st.registry;
    for e in st.engines {
        let project = Project::new("interrupted");
        let repo = fresh_repo("sigint", e);
        let nonce = unique();
        let vars = [
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{reg}/{repo}")),
            ("NONCE", nonce.clone()),
        ];
        let mut rbake = project.spawn(&["apply", "sigint", "--progress", "json"], &vars);
        rbake.wait_for_event("running `sleep 20` step", secs(60), |v| {
            v["event"] == "step"
                && v["done"] == false
                && v["name"].as_str().unwrap_or("").contains("sleep 20")
        });
        // The step's processes carry the build argument in their environment.
        let marker = format!("RBAKE_E2E_NONCE={nonce}");
        assert!(
            eventually(secs(15), || !processes_with_env(&marker).is_empty()),
            "[{}] the build step never ran a process with {marker}",
            e.name
        );
        let status = Command::new("kill")
            .args([format!("-{signal}"), rbake.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", rbake.pid());
        let signalled = Instant::now();
        let run = rbake.finish(secs(30));
        let took = signalled.elapsed();
        let show = run.show();

        assert_eq!(
            run.code,
            Some(code),
            "[{}] a run stopped by SIG{signal} exits {code}\n{show}",
            e.name
        );
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(word))
            .unwrap_or_else(|| panic!("[{}] stderr says it was {word}\n{show}", e.name));
        assert!(
            line.contains("nothing") && line.contains("published"),
            "[{}] stderr says nothing was published: {line:?}\n{show}",
            e.name
        );
        assert_eq!(
            manifest_status(reg, &repo, "v1"),
            404,
            "[{}]\n{show}",
            e.name
        );
        let (code, body) = tags_status(reg, &repo);
        assert_eq!(
            code, 404,
            "[{}] nothing pushed to {repo}: {body}\n{show}",
            e.name
        );
        for kind in ["started", "done"] {
            assert!(
                run.event(kind, "push:sigint").is_none(),
                "[{}] push {kind}\n{show}",
                e.name
            );
        }
        for p in ["linux/amd64", "linux/arm64"] {
            let node = format!("build:sigint:{p}");
            assert!(
                run.event("skipped", &node)
                    .is_some_and(|s| s["reason"] == "cancelled"),
                "[{}] {node} is reported cancelled\n{show}",
                e.name
            );
        }
        // The engine stops the step too: its processes go away long before `sleep 20` ends.
        let left = processes_with_env(&marker);
        assert!(
            eventually(secs(8), || processes_with_env(&marker).is_empty()),
            "[{}] the engine still runs the interrupted step (pids {left:?}) after rbake exited\n{show}",
            e.name
        );
        eprintln!(
            "[{}] SIG{signal}: exited {:.2}s after the signal",
            e.name,
            took.as_secs_f64()
        );
    }
}

/// Ctrl-C during a shard of a saved plan: the shard exits 130, no tag and no index exist,
/// and no result file is written, so `rbake publish` cannot be fed a half-done shard.
#[test]
fn ctrl_c_during_a_shard_leaves_no_tag_and_no_result() {
    let st = stack();
    let reg = st.registry;
    let e = st.engines[0];
    let project = Project::new("interrupted");
    let repo = fresh_repo("shard-int", e);
    let nonce = unique();
    let vars = [
        ("ENDPOINT", e.endpoint()),
        ("REPO", format!("{reg}/{repo}")),
        ("NONCE", nonce.clone()),
    ];
    let saved = project.rbake(
        &["plan", "--probe", "--out", "plan.json", "sigint"],
        &vars,
        secs(60),
    );
    assert_eq!(saved.code, Some(0), "{}", saved.show());
    let mut rbake = project.spawn(
        &[
            "apply",
            "--plan",
            "plan.json",
            "--shard",
            "platform=linux/amd64",
            "--result",
            "result.json",
            "--progress",
            "json",
        ],
        &vars,
    );
    rbake.wait_for_event("running `sleep 20` step", secs(60), |v| {
        v["event"] == "step"
            && v["done"] == false
            && v["name"].as_str().unwrap_or("").contains("sleep 20")
    });
    let status = Command::new("kill")
        .args(["-INT".to_string(), rbake.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let run = rbake.finish(secs(30));
    let show = run.show();
    assert_eq!(run.code, Some(130), "{show}");
    assert_eq!(manifest_status(reg, &repo, "v1"), 404, "{show}");
    assert!(
        !project.dir.join("result.json").exists(),
        "a result after Ctrl-C\n{show}"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Saved plans
// ---------------------------------------------------------------------------------------

/// Checks a run refused with `apply::stale_plan` whose help contains `help`.
fn check_stale(run: &Run, file: &str, help: &str, what: &str) {
    let show = run.show();
    let flat = run.flat();
    assert_eq!(run.code, Some(1), "{what}: a stale plan is refused\n{show}");
    assert!(flat.contains("apply::stale_plan"), "{what}\n{show}");
    assert!(
        flat.contains(&format!("`{file}` no longer matches the spec and builders")),
        "{what}\n{show}"
    );
    assert!(
        flat.contains("help:") && flat.contains(help),
        "{what}: help {help:?}\n{show}"
    );
    assert!(run.events().is_empty(), "{what}: nothing may start\n{show}");
}

#[test]
fn a_stale_saved_plan_is_refused_and_an_unchanged_one_runs() {
    let st = stack();
    let reg = st.registry;
    for e in st.engines {
        let t = Instant::now();
        let project = Project::new("stale-plan");
        let repo = fresh_repo("staleplan", e);
        let vars = vec![
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{reg}/{repo}")),
        ];
        let name = e.name;

        let plan = project.rbake(&["plan", "--probe", "--out", "plan.json"], &vars, secs(60));
        assert_eq!(plan.code, Some(0), "[{name}]\n{}", plan.show());
        let declared = project.rbake(&["plan", "--out", "declared.json"], &vars, secs(60));
        assert_eq!(declared.code, Some(0), "[{name}]\n{}", declared.show());

        // Unchanged: both forms run the saved plan.
        for args in [
            &["apply", "--plan", "plan.json", "--progress", "json"][..],
            &["apply", "plan.json", "--progress", "json"][..],
        ] {
            let run = project.rbake(args, &vars, secs(180));
            assert_eq!(
                run.code,
                Some(0),
                "[{name}] an unchanged plan runs\n{}",
                run.show()
            );
            assert!(
                run.event("done", "push:staleplan").is_some(),
                "[{name}]\n{}",
                run.show()
            );
            assert_eq!(
                manifest_status(reg, &repo, "v1"),
                200,
                "[{name}]\n{}",
                run.show()
            );
        }

        // A plan saved without --probe is refused, with help saying to use it.
        let run = project.rbake(&["apply", "--plan", "declared.json"], &vars, secs(60));
        check_stale(
            &run,
            "declared.json",
            "planned without `--probe`",
            &format!("[{name}] unprobed"),
        );
        assert!(
            run.flat().contains("rbake plan --probe --out FILE"),
            "[{name}]\n{}",
            run.show()
        );

        // The environment changes a variable the spec uses.
        let mut changed = vars.clone();
        changed.push(("FLAVOUR", "other".to_string()));
        let run = project.rbake(&["apply", "--plan", "plan.json"], &changed, secs(60));
        check_stale(
            &run,
            "plan.json",
            "run `rbake plan --probe --out FILE` again",
            &format!("[{name}] environment changed"),
        );

        // The spec changes a tag.
        let hcl = project.read("build.hcl");
        assert!(hcl.contains("}:v1\"]"), "the fixture tags `:v1`");
        project.write("build.hcl", &hcl.replace("}:v1\"]", "}:v2\"]"));
        for args in [
            &["apply", "--plan", "plan.json", "--progress", "json"][..],
            &["apply", "plan.json", "--progress", "json"][..],
        ] {
            let run = project.rbake(args, &vars, secs(60));
            check_stale(
                &run,
                "plan.json",
                "run `rbake plan --probe --out FILE` again",
                &format!("[{name}] tag changed: rbake {}", args.join(" ")),
            );
            assert_eq!(
                manifest_status(reg, &repo, "v2"),
                404,
                "[{name}]\n{}",
                run.show()
            );
        }
        untag(reg, &repo, "v1");
        eprintln!("[{name}] saved plans: {:.1}s", t.elapsed().as_secs_f64());
    }
}

#[test]
fn a_file_that_is_not_a_saved_plan_is_refused() {
    let st = stack();
    let reg = st.registry;
    let e = st.engines[0];
    let project = Project::new("stale-plan");
    let repo = fresh_repo("notaplan", e);
    let vars = [
        ("ENDPOINT", e.endpoint()),
        ("REPO", format!("{reg}/{repo}")),
    ];
    project.write("empty.json", "{}\n");
    project.write("broken.json", "{ not json\n");
    for (file, says) in [
        ("missing.json", "cannot read `missing.json`"),
        ("empty.json", "`empty.json` is not an rbake.plan.v1 plan"),
        ("broken.json", "`broken.json` is not a plan"),
    ] {
        let run = project.rbake(
            &["apply", "--plan", file, "--progress", "json"],
            &vars,
            secs(60),
        );
        let show = run.show();
        assert_eq!(run.code, Some(1), "{file}\n{show}");
        let flat = run.flat();
        assert!(
            flat.contains("apply::saved_plan") && flat.contains(says),
            "{file}: {says}\n{show}"
        );
        assert!(
            flat.contains("rbake plan --probe --out FILE"),
            "{file}: help\n{show}"
        );
        assert!(run.events().is_empty(), "{file}: nothing may start\n{show}");
    }
    assert_eq!(manifest_status(reg, &repo, "v1"), 404);
}

#[test]
fn a_saved_plan_for_a_named_target_applies_without_naming_it_again() {
    let st = stack();
    let reg = st.registry;
    let e = st.engines[0];
    let project = Project::new("saved-plan-named-target");
    let repo = fresh_repo("namedplan", e);
    let vars = [
        ("ENDPOINT", e.endpoint()),
        ("REPO", format!("{reg}/{repo}")),
    ];
    let plan = project.rbake(
        &["plan", "--probe", "--out", "plan.json", "namedplan"],
        &vars,
        secs(60),
    );
    assert_eq!(plan.code, Some(0), "{}", plan.show());
    for args in [
        &["apply", "plan.json", "--progress", "json"][..],
        &["apply", "--plan", "plan.json", "--progress", "json"][..],
    ] {
        let run = project.rbake(args, &vars, secs(180));
        assert_eq!(
            run.code,
            Some(0),
            "BUG: `rbake apply {}` re-plans the default group instead of the plan's target \
             `namedplan` (the plan file does not record its targets)\n{}",
            args.join(" "),
            run.show()
        );
        assert_eq!(manifest_status(reg, &repo, "v1"), 200, "{}", run.show());
        assert_eq!(manifest_status(reg, &repo, "other"), 404, "{}", run.show());
        untag(reg, &repo, "v1");
    }
}

// ---------------------------------------------------------------------------------------
// 6. The `--progress json` stream when things fail
// ---------------------------------------------------------------------------------------

/// What is wrong with a run's event stream: every node that started ends with exactly one
/// `done`, `failed` or `skipped`, and nothing about a node follows that.
fn stream_problems(run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ended: std::collections::BTreeMap<String, String> = Default::default();
    let mut started = Vec::new();
    for e in run.events() {
        let node = e["node"].as_str().unwrap_or_default().to_string();
        let kind = e["event"].as_str().unwrap_or_default();
        if let Some(end) = ended.get(&node) {
            problems.push(format!("{node}: {e} after its `{end}` event"));
        }
        match kind {
            "started" => started.push(node),
            "done" | "failed" | "skipped" => {
                ended.entry(node).or_insert_with(|| kind.to_string());
            }
            _ => {}
        }
    }
    for node in started {
        if !ended.contains_key(&node) {
            problems.push(format!(
                "{node}: `started` but never `done`, `failed` or `skipped`"
            ));
        }
    }
    problems
}

#[test]
fn the_json_stream_ends_every_node_exactly_once_when_runs_fail() {
    let st = stack();
    let reg = st.registry;
    let mut problems = Vec::new();
    for e in st.engines {
        // A build cancelled by another's failure (fail fast).
        let project = Project::new("one-platform-fails");
        let repo = fresh_repo("stream-cancel", e);
        let vars = failarm_vars(e, reg, &repo, 30, 0);
        let run = project.rbake(
            &["apply", "failarm", "--progress", "json"],
            &vars,
            secs(180),
        );
        assert_eq!(run.code, Some(1), "[{}]\n{}", e.name, run.show());
        for p in stream_problems(&run) {
            problems.push(format!("[{}] fail fast: {p}", e.name));
        }

        // A push that fails (its registry refuses connections).
        let project = Project::new("registry-stops");
        let repo = fresh_repo("stream-push", e);
        let vars = [
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{}/{repo}", dead_addr())),
            ("NONCE", unique()),
        ];
        let run = project.rbake(
            &["apply", "regstop", "--progress", "json"],
            &vars,
            secs(180),
        );
        assert_eq!(run.code, Some(1), "[{}]\n{}", e.name, run.show());
        for p in stream_problems(&run) {
            problems.push(format!("[{}] failed push: {p}", e.name));
        }
    }
    assert!(
        problems.is_empty(),
        "BUG: the `--progress json` event stream:\n{}",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 7. Two runs at once on one engine
// ---------------------------------------------------------------------------------------

/// The image config of `platform`'s manifest in the index `repo:tag` on `reg`, as text.
fn pushed_config(reg: &str, repo: &str, tag: &str, arch: &str) -> String {
    let get = |path: String, accept: &str| {
        let (code, body) = registry_api(reg, "GET", &path, &[("Accept", accept)])
            .unwrap_or_else(|e| panic!("GET {reg}{path}: {e}"));
        assert_eq!(code, 200, "GET {reg}{path}: {body}");
        body
    };
    let index: Value =
        serde_json::from_str(&get(format!("/v2/{repo}/manifests/{tag}"), MANIFEST_TYPES))
            .expect("an index");
    let digest = index["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|d| d["platform"]["architecture"] == arch))
        .and_then(|d| d["digest"].as_str())
        .unwrap_or_else(|| panic!("{reg}/{repo}:{tag} has no {arch} manifest: {index}"))
        .to_string();
    let manifest: Value = serde_json::from_str(&get(
        format!("/v2/{repo}/manifests/{digest}"),
        MANIFEST_TYPES,
    ))
    .expect("a manifest");
    let config = manifest["config"]["digest"]
        .as_str()
        .expect("a config digest");
    get(format!("/v2/{repo}/blobs/{config}"), "*/*")
}

#[test]
fn two_runs_with_the_same_target_name_on_one_engine_publish_their_own_images() {
    let st = stack();
    let reg = st.registry;
    let mut bugs = Vec::new();
    for e in st.engines {
        let a = Project::new("same-target-name/a");
        let b = Project::new("same-target-name/b");
        let (repo_a, repo_b) = (fresh_repo("shared-a", e), fresh_repo("shared-b", e));
        let nonce = unique();
        let vars_a = [
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{reg}/{repo_a}")),
            ("NONCE", nonce.clone()),
        ];
        let vars_b = [
            ("ENDPOINT", e.endpoint()),
            ("REPO", format!("{reg}/{repo_b}")),
            ("NONCE", nonce.clone()),
        ];
        // A builds amd64 and goes on with its slow arm64 build; meanwhile B runs start to end.
        let mut run_a = a.spawn(&["apply", "shared", "--progress", "json"], &vars_a);
        run_a.wait_for_event("A's amd64 build", secs(60), |v| {
            v["event"] == "done" && v["node"] == "build:shared:linux/amd64"
        });
        let run_b = b.rbake(
            &["apply", "shared", "--progress", "json"],
            &vars_b,
            secs(120),
        );
        assert_eq!(run_b.code, Some(0), "[{}] B\n{}", e.name, run_b.show());
        // The race needs A to push after B: its arm64 build still runs at this point.
        let a_pushed = run_a
            .stderr_so_far()
            .contains(r#"{"event":"started","node":"push:shared"}"#);
        assert!(
            !a_pushed,
            "[{}] timing: A started its push before B finished; make A's arm64 build slower",
            e.name
        );
        let run_a = run_a.finish(secs(120));
        assert_eq!(run_a.code, Some(0), "[{}] A\n{}", e.name, run_a.show());
        let config = pushed_config(reg, &repo_a, "v1", "amd64");
        untag(reg, &repo_a, "v1");
        untag(reg, &repo_b, "v1");
        if !config.contains("project-A") || !config.contains(&nonce) || config.contains("project-B")
        {
            bugs.push(format!(
                "[{}] BUG: A's tag {reg}/{repo_a}:v1 holds project B's amd64 image: both runs \
                 store their build as rbake.local/shared:linux-amd64 in the engine, and A's push \
                 read it after B overwrote it. Config pushed for A:\n{config}\n--- A ---\n{}",
                e.name,
                run_a.show()
            ));
        }
    }
    assert!(bugs.is_empty(), "{}", bugs.join("\n\n"));
}
