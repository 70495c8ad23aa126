//! The end-to-end tests, in one binary: `apply` (builds, pushes, loads, exports, up-to-date
//! checks), `failures` (what goes wrong and what rbake leaves behind) and `probe`
//! (`plan --probe`). They run the real `rbake` binary against the real stack
//! `scripts/stack.sh` brings up: Docker 20.10 (BuildKit 0.8, classic store), Docker 26
//! (BuildKit 0.13, containerd store), a registry on `127.0.0.1:5000`, qemu for arm64 and
//! arm/v7, and the `rbake-test/busybox:{amd64,arm64,armv7}` base images. This file holds
//! the helpers they share; `support` (shared with the offline tests) the temp dirs and the
//! binary's runner.
//!
//! A test typically reads:
//!
//! ```ignore
//! /// What the test shows.
//! fn my_test(engine: &crate::Engine) {
//!     let ws = crate::Workspace::new("multiarch", engine); // lock, stack check, temp copy
//!     ws.set_env("REPO", &ws.registry_repo("x"));
//!     let applied = ws.apply(&["e2e-push"], &["--progress", "plain"]);
//!     applied.run.assert_success();
//!     // ... look at the registry (`ws.registry`) or the engine (`engine.inspect(...)`) ...
//! }
//! crate::on_both_engines!(my_test);
//! ```
//!
//! which defines `my_test::docker20` and `my_test::docker26`.
//!
//! - The stack is required, never optional: when a part is unreachable the test fails with a
//!   message saying to run `bash scripts/stack.sh install up base-images`.
//! - [`Workspace::new`] takes a global lock (a mutex within the test binary plus an `flock`
//!   on a file in the temp dir across processes), so e2e tests never run at the same time
//!   even without `--test-threads=1`; the lock is held until the workspace is dropped.
//! - Fixtures live in `tests/fixtures/e2e/<name>/` and are copied into a fresh temp dir;
//!   the workspace writes `build.hcl` there with one builder for the engine under test.
//!   Spec files take their per-run values from variables set through [`Workspace::set_env`]
//!   (rbake runs with a cleared environment: only `HOME`, `PATH` and what the test sets).
//! - Every [`Workspace::apply`] sets a fresh `E2E_NONCE`: fixtures pass it as a build arg
//!   and write it into the image, which both defeats BuildKit's cache (every RUN really runs,
//!   so secrets are really read) and proves an image comes from this very run.
//! - On drop the workspace removes its temp dir and the images and registry tags its plans
//!   named, failed test or not (the engines are shared); set `RBAKE_E2E_KEEP=1` to keep them
//!   for inspection (their names are printed).

#![allow(dead_code)] // Each e2e test file uses a different part of these helpers.

#[path = "../support/mod.rs"]
mod support;

pub mod engine;
pub mod http;
pub mod image;
pub mod registry;

mod apply;
mod attest;
mod failures;
mod fleet;
mod probe;
mod ssh;

use std::cell::RefCell;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use engine::{ALL_PLATFORMS, Engine};
pub use image::{ImageContent, slug, uname_of};
pub use registry::Registry;

/// What to run when the stack is missing.
pub const STACK_HINT: &str = "run `bash scripts/stack.sh install up base-images` (as root) to start Docker 20.10, Docker 26, the registry, qemu and the base images";

/// `on_both_engines!(name);` after `fn name(engine: &e2e::Engine)` defines the tests
/// `name::docker20` and `name::docker26`, which run that function on each engine. (A module
/// and a function may share a name; the test bodies stay ordinary, rustfmt-formatted code.)
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn docker20() {
                    super::$name(&$crate::Engine::docker20())
                }

                #[test]
                fn docker26() {
                    super::$name(&$crate::Engine::docker26())
                }
            }
        )+
    };
}
pub(crate) use on_both_engines;

/// Holds the e2e lock: no other e2e test (in this binary or another process) runs meanwhile.
pub struct Exclusive {
    _thread: MutexGuard<'static, ()>,
    _process: File,
}

/// Takes the e2e lock, waiting for whoever holds it. A test that panicked while holding it
/// does not poison it for the others.
pub fn exclusive() -> Exclusive {
    static LOCK: Mutex<()> = Mutex::new(());
    let thread = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = std::env::temp_dir().join("rbake-e2e.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open the e2e lock file {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    Exclusive {
        _thread: thread,
        _process: file,
    }
}

/// Checks (once per test binary) that every part of the stack answers; panics with
/// [`STACK_HINT`] when one does not.
pub fn require_stack() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECKED.get_or_init(|| {
        let mut problems = Vec::new();
        for e in Engine::all() {
            match e.ping() {
                Err(err) => problems.push(format!("{} is not reachable: {err}", e.label)),
                Ok(()) => {
                    for arch in ["amd64", "arm64", "armv7"] {
                        let base = format!("rbake-test/busybox:{arch}");
                        if e.inspect(&base).is_none() {
                            problems.push(format!("{} has no base image {base}", e.label));
                        }
                    }
                }
            }
        }
        let reg = Registry::from_env();
        if let Err(err) = reg.ping() {
            problems.push(format!("the registry is not reachable: {err}"));
        }
        for handler in ["qemu-aarch64", "qemu-arm"] {
            let path = format!("/proc/sys/fs/binfmt_misc/{handler}");
            let ok = std::fs::read_to_string(&path).is_ok_and(|t| t.starts_with("enabled"));
            if !ok {
                problems.push(format!("the binfmt handler {path} is not enabled"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    });
    if let Err(problems) = result {
        panic!("the e2e stack is not up ({problems}): {STACK_HINT}");
    }
}

/// A short random hex id, unique per call.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// The e2e fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/e2e")
}

/// The platform this machine builds natively, as the engines report it.
pub fn native_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        other => panic!("the e2e stack does not run on {other}"),
    }
}

/// The `build.hcl` with one builder for `engine`, named like the engine.
pub fn builder_hcl(engine: &Engine) -> String {
    let list = |ps: &[&str]| {
        ps.iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "# Written by the e2e helper: the engine under test, {label}.\nbuilder \"{name}\" {{\n  endpoint  = \"{host}\"\n  platforms = [{platforms}]\n  native    = [\"{native}\"]\n}}\n",
        label = engine.label,
        name = engine.name,
        host = engine.host,
        platforms = list(engine.platforms),
        native = native_platform(),
    )
}

/// A temp copy of a fixture, wired to one engine, holding the e2e lock.
pub struct Workspace {
    pub dir: PathBuf,
    pub engine: Engine,
    pub registry: Registry,
    /// Unique per workspace: use it in registry repositories and local tags.
    pub id: String,
    env: RefCell<Vec<(String, String)>>,
    /// Images to remove from the engine afterwards.
    images: RefCell<Vec<String>>,
    /// Registry tags to delete afterwards.
    tags: RefCell<Vec<String>>,
    started: Instant,
    _lock: Exclusive,
}

impl Workspace {
    /// Takes the e2e lock, checks the stack, copies `tests/fixtures/e2e/<fixture>/` into a
    /// fresh temp dir and writes its `build.hcl` for `engine`.
    pub fn new(fixture: &str, engine: &Engine) -> Workspace {
        let lock = exclusive();
        require_stack();
        let id = random_id();
        let dir = std::env::temp_dir().join(format!("rbake-e2e-{}-{fixture}-{id}", engine.name));
        support::copy_tree(&fixtures().join(fixture), &dir);
        std::fs::write(dir.join("build.hcl"), builder_hcl(engine)).expect("write build.hcl");
        let home = dir.join(".home");
        std::fs::create_dir_all(&home).expect("create HOME");
        let env = vec![
            ("HOME".to_string(), home.display().to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ];
        Workspace {
            dir,
            engine: engine.clone(),
            registry: Registry::from_env(),
            id,
            env: RefCell::new(env),
            images: RefCell::new(Vec::new()),
            tags: RefCell::new(Vec::new()),
            started: Instant::now(),
            _lock: lock,
        }
    }

    /// Sets a variable in the environment rbake runs with (replacing an earlier value).
    pub fn set_env(&self, key: &str, value: &str) {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        env.push((key.to_string(), value.to_string()));
    }

    /// Writes a file in the workspace.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(path, text).expect("write a workspace file");
    }

    /// Reads a file of the workspace; panics when it is missing.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name))
            .unwrap_or_else(|e| panic!("cannot read {name} in {}: {e}", self.dir.display()))
    }

    /// A registry repository (with host, without tag) unique to this workspace, e.g.
    /// `127.0.0.1:5000/e2e/docker26-push-1a2b3c4d5e`.
    pub fn registry_repo(&self, what: &str) -> String {
        format!(
            "{}/e2e/{}-{what}-{}",
            self.registry.host, self.engine.name, self.id
        )
    }

    /// A local repository name unique to this workspace, e.g. `rbake-e2e/docker20-load-1a2b…`.
    pub fn local_repo(&self, what: &str) -> String {
        format!("rbake-e2e/{}-{what}-{}", self.engine.name, self.id)
    }

    /// Runs `rbake ARGS` in the workspace with its environment; fails the test after 5 min.
    pub fn rbake(&self, args: &[&str]) -> Run {
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rbake"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.borrow().iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rbake");
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let out_reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        });
        let err_reader = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        });
        let deadline = start + Duration::from_secs(300);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait for rbake") {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let run = Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: status.and_then(|s| s.code()),
            stdout: String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
            duration: start.elapsed(),
            timed_out: status.is_none(),
        };
        eprintln!(
            "[e2e {}] rbake {} -> {:?} in {:.1}s",
            self.engine.name,
            run.args.join(" "),
            run.code,
            run.duration.as_secs_f64()
        );
        run
    }

    /// `rbake plan --probe --format json TARGETS`: what `apply` will do (it plans the same
    /// way). The images and tags it names are removed when the workspace is dropped.
    pub fn plan(&self, targets: &[&str]) -> Plan {
        let mut args = vec!["plan", "--probe", "--format", "json"];
        args.extend_from_slice(targets);
        let run = self.rbake(&args);
        run.assert_success();
        let plan = Plan {
            json: serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("the plan is not JSON ({e}):\n{}", run.stdout)),
        };
        for b in plan.nodes("build") {
            self.images.borrow_mut().push(export_ref(
                b["target"].as_str().expect("target"),
                b["platform"].as_str().expect("platform"),
            ));
        }
        for l in plan.nodes("load") {
            self.images.borrow_mut().extend(strings(&l["tags"]));
        }
        for p in plan.nodes("push") {
            self.tags.borrow_mut().extend(strings(&p["tags"]));
        }
        plan
    }

    /// Plans TARGETS (see [`Workspace::plan`]), then runs `rbake apply TARGETS FLAGS` with a
    /// fresh `E2E_NONCE` in the environment.
    pub fn apply(&self, targets: &[&str], flags: &[&str]) -> Applied {
        let nonce = format!("nonce-{}", random_id());
        self.set_env("E2E_NONCE", &nonce);
        let plan = self.plan(targets);
        let mut args = vec!["apply"];
        args.extend_from_slice(targets);
        args.extend_from_slice(flags);
        let run = self.rbake(&args);
        Applied { run, plan, nonce }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if std::env::var_os("RBAKE_E2E_KEEP").is_some() {
            eprintln!(
                "[e2e {}] kept (RBAKE_E2E_KEEP): workspace {}, images {:?}, registry tags {:?}",
                self.engine.name,
                self.dir.display(),
                self.images.borrow(),
                self.tags.borrow()
            );
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "[e2e {}] removing the workspace, images and tags of this failed test; rerun with RBAKE_E2E_KEEP=1 to keep them",
                self.engine.name
            );
        }
        for image in self.images.borrow().iter() {
            self.engine.remove(image);
        }
        for tag in self.tags.borrow().iter() {
            let (host, repo, tag) = registry::split_reference(tag);
            if host == self.registry.host {
                self.registry.delete_tag(&repo, &tag);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        eprintln!(
            "[e2e {}] test took {:.1}s",
            self.engine.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// The reference rbake exports a build into its engine under (`rbake.local/<target>:<slug>`).
pub fn export_ref(target: &str, platform: &str) -> String {
    let clean: String = target
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("rbake.local/{clean}:{}", slug(platform))
}

/// The strings of a JSON array (empty when it is not one).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// A plan document (`rbake plan --format json`).
#[derive(Clone, Debug)]
pub struct Plan {
    pub json: Value,
}

impl Plan {
    /// Nodes of one kind (`build`, `load`, `push`, `export`), in plan order.
    pub fn nodes(&self, kind: &str) -> Vec<&Value> {
        self.json["nodes"]
            .as_array()
            .expect("plan nodes")
            .iter()
            .filter(|n| n["kind"] == kind)
            .collect()
    }

    /// Nodes of one kind for one target.
    pub fn nodes_of(&self, kind: &str, target: &str) -> Vec<&Value> {
        self.nodes(kind)
            .into_iter()
            .filter(|n| n["target"] == target)
            .collect()
    }

    /// The probed image store of a builder (`classic` or `containerd`).
    pub fn image_store(&self, builder: &str) -> String {
        self.json["builders"]
            .as_array()
            .expect("plan builders")
            .iter()
            .find(|b| b["name"] == builder)
            .and_then(|b| b["image_store"].as_str())
            .unwrap_or_else(|| panic!("the plan has no builder {builder}"))
            .to_string()
    }
}

/// A planned and applied run.
#[derive(Debug)]
pub struct Applied {
    pub run: Run,
    pub plan: Plan,
    /// The `E2E_NONCE` this apply ran with.
    pub nonce: String,
}

/// One run of the binary.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    /// `None` when a signal (or the 5 minute watchdog) ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
    pub timed_out: bool,
}

impl Run {
    /// Everything it printed, for messages.
    pub fn output(&self) -> String {
        format!(
            "$ rbake {}\n--- exit {:?}{} after {:.1}s\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args.join(" "),
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.duration.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }

    pub fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "rbake failed:\n{}", self.output());
    }

    pub fn assert_failure(&self) {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "rbake should have failed:\n{}",
            self.output()
        );
    }

    /// The index of the first stderr line equal to `line` (after trimming).
    pub fn stderr_line(&self, line: &str) -> Option<usize> {
        self.stderr.lines().position(|l| l.trim() == line)
    }

    /// The index of the first stderr line starting with `prefix`.
    pub fn stderr_line_starting(&self, prefix: &str) -> Option<usize> {
        self.stderr.lines().position(|l| l.starts_with(prefix))
    }
}
