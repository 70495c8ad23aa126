//! In-process timings of rbake's pipeline, stage by stage, on the generated inputs of
//! `benches/gen.py` (see docs/benchmarks.md). End-to-end process timings and the comparison
//! with `docker buildx bake` are in `scripts/bench-resolve.sh` and `scripts/bench-plan.sh`.
//!
//!   cargo bench --bench pipeline                    resolve 100/1000/5000 (both shapes),
//!                                                   plan 1000
//!   cargo bench --bench pipeline -- resolve FILE    one bake file, `print`'s stages
//!   cargo bench --bench pipeline -- plan FILE       one spec, `plan --format json`'s stages
//!
//! `RBAKE_BENCH_RUNS` sets the runs per input (default 9); each stage's median is printed.
//! The stages mirror `cli::spec::load`/`resolve`, `cli::print::run` and `cli::plan::build`
//! (those are private to the binary's command layer), with the environment reduced to
//! PATH and HOME as the scripts run the binary.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rbake::check::{self, Facts, PathFact};
use rbake::cli::settings::{Settings, local_platform};
use rbake::eval::{self, resolve};
use rbake::model::{Capabilities, Definition, Platform};
use rbake::source::{Diags, Origin, SourceMap, Span, Spanned};
use rbake::spec::Document;
use rbake::{plan, report, syntax};

/// One run: each stage's name and duration, in order.
type Run = Vec<(&'static str, Duration)>;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runs: usize = std::env::var("RBAKE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(9);
    match args.as_slice() {
        [kind, file] if kind == "resolve" => report_runs(file, runs, || print_once(file)),
        [kind, file] if kind == "plan" => report_runs(file, runs, || plan_once(file)),
        [] => generated(runs),
        _ => {
            eprintln!("usage: pipeline [resolve FILE | plan FILE]");
            std::process::exit(2);
        }
    }
}

/// Generates the standard inputs into a temporary folder and times each.
fn generated(runs: usize) {
    let dir = std::env::temp_dir().join(format!("rbake-bench-{}", std::process::id()));
    let gen_py = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/gen.py");
    let gen_input = |kind: &str, n: usize, sub: &str| -> PathBuf {
        let out = dir.join(sub);
        let ok = Command::new("python3")
            .arg(&gen_py)
            .args([kind, &n.to_string()])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 benches/gen.py {kind} {n} failed");
        out
    };
    for kind in ["resolve", "realistic"] {
        for n in [100, 1000, 5000] {
            let file = gen_input(kind, n, &format!("{kind}-{n}")).join("docker-bake.hcl");
            let file = file.to_string_lossy().into_owned();
            report_runs(&file, runs, || print_once(&file));
        }
    }
    let file = gen_input("plan", 1000, "plan-1000").join("build.hcl");
    let file = file.to_string_lossy().into_owned();
    report_runs(&file, runs, || plan_once(&file));
    let _ = std::fs::remove_dir_all(&dir);
}

fn report_runs(file: &str, runs: usize, mut once: impl FnMut() -> Run) {
    once(); // warm the page cache and the allocator
    let all: Vec<Run> = (0..runs).map(|_| once()).collect();
    println!("{file} ({runs} runs, median ms per stage)");
    for (i, (stage, _)) in all[0].iter().enumerate() {
        let mut ms: Vec<f64> = all.iter().map(|r| r[i].1.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "  {stage:<9} {:>9.2}   (min {:.2}, max {:.2})",
            ms[ms.len() / 2],
            ms[0],
            ms[ms.len() - 1]
        );
    }
}

/// The settings the scripts give the binary: PATH and HOME only, the file's folder as cwd.
fn settings_for(file: &str) -> (Settings, String) {
    let path = Path::new(file);
    let cwd = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k == "PATH" || k == "HOME")
        .collect();
    let name = path
        .file_name()
        .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned());
    let settings = Settings {
        env,
        env_not_utf8: Default::default(),
        cwd,
        now_unix: 0,
    };
    (settings, name)
}

struct Loaded {
    sources: SourceMap,
    config: eval::Config,
    def: Definition,
}

/// Reads, parses, evaluates and resolves the `default` group, recording each stage.
fn load(file: &str, settings: &Settings, name: &str, run: &mut Run) -> Loaded {
    let t = Instant::now();
    let text = std::fs::read_to_string(settings.cwd.join(name)).expect("readable input");
    let mut sources = SourceMap::new();
    let id = sources.add(name.to_string(), text, Origin::File);
    let (_, body) = syntax::parse(&sources, id, &settings.env)
        .unwrap_or_else(|d| panic!("{file}: {} syntax problems", d.0.len()));
    run.push(("parse", t.elapsed()));

    let t = Instant::now();
    let mut diags = Diags::default();
    let mut doc = Document::default();
    doc.add(body, &mut diags);
    let inputs = settings.inputs();
    let mut config = eval::collect(&doc, &inputs, &mut sources, &mut diags);
    drop(doc);
    assert!(!diags.has_errors(), "{file}: evaluation errors");
    run.push(("evaluate", t.elapsed()));

    let t = Instant::now();
    let cmd = sources.add("command line", "default", Origin::Set);
    let request = resolve::Request {
        names: vec![Spanned::new("default".to_string(), Span::new(cmd, 0..7))],
        overrides: Vec::new(),
    };
    let def = resolve::resolve(&mut config, &request, &inputs, &mut diags).expect("resolves");
    assert!(!diags.has_errors(), "{file}: resolution errors");
    run.push(("resolve", t.elapsed()));
    Loaded {
        sources,
        config,
        def,
    }
}

/// `rbake print -f FILE`'s work.
fn print_once(file: &str) -> Run {
    let mut run = Run::new();
    let all = Instant::now();
    let (settings, name) = settings_for(file);
    let loaded = load(file, &settings, &name, &mut run);

    let t = Instant::now();
    black_box(report::print::render(&loaded.def));
    run.push(("render", t.elapsed()));

    let t = Instant::now();
    drop(loaded);
    run.push(("drop", t.elapsed()));
    run.push(("total", all.elapsed()));
    run
}

/// `rbake plan -f FILE --format json`'s work (declared capabilities, no probe).
fn plan_once(file: &str) -> Run {
    let mut run = Run::new();
    let all = Instant::now();
    let (settings, name) = settings_for(file);
    let mut loaded = load(file, &settings, &name, &mut run);

    let t = Instant::now();
    let local = Platform::parse(&local_platform()).expect("local platform");
    let endpoint = "unix:///var/run/docker.sock".to_string();
    let builders: Vec<Capabilities> = if loaded.config.builders.is_empty() {
        vec![Capabilities::implicit(endpoint, local)]
    } else {
        loaded
            .config
            .builders
            .values()
            .map(|b| Capabilities::declared(b, &endpoint, &local))
            .collect()
    };
    let mut diags = Diags::default();
    let plan = plan::lower(&loaded.def, builders, &mut diags);
    run.push(("lower", t.elapsed()));

    let t = Instant::now();
    let mut facts = Facts {
        env: settings.env.keys().cloned().collect(),
        ..Facts::default()
    };
    for need in check::needs(&loaded.def) {
        let path = settings.cwd.join(Path::new(&need.path));
        let fact = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => PathFact::Dir,
            Ok(_) if need.read => PathFact::File(std::fs::read_to_string(&path).ok()),
            Ok(_) => PathFact::File(None),
            Err(_) => PathFact::Missing,
        };
        facts.paths.insert(need.path, fact);
    }
    run.push(("files", t.elapsed()));

    let t = Instant::now();
    let declared: Vec<_> = loaded.config.builders.values().cloned().collect();
    check::verify(
        &plan,
        &loaded.def,
        &declared,
        &facts,
        &mut loaded.sources,
        &mut diags,
    );
    assert!(!diags.has_errors(), "{file}: plan errors");
    run.push(("check", t.elapsed()));

    let t = Instant::now();
    let json = report::plan::to_json(&plan);
    black_box(serde_json::to_string_pretty(&json).unwrap_or_default());
    run.push(("render", t.elapsed()));

    let t = Instant::now();
    drop((json, plan, facts, loaded));
    run.push(("drop", t.elapsed()));
    run.push(("total", all.elapsed()));
    run
}
