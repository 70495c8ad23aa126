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
//! The stages are `rbake::cli::pipeline`'s functions, the ones `print` and `plan` run, timed
//! one by one, with the environment reduced to PATH and HOME as the scripts run the binary.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rbake::check::{self, Facts, PathFact};
use rbake::cli::SpecArgs;
use rbake::cli::pipeline::{self, File, Loaded};
use rbake::cli::settings::Settings;
use rbake::model::Definition;
use rbake::report;

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

/// Reads and parses (`pipeline::parse`), evaluates (`pipeline::evaluate`), then resolves the
/// `default` group (`pipeline::resolve`), recording each stage.
fn load(file: &str, settings: &Settings, name: &str, run: &mut Run) -> (Loaded, Definition) {
    let t = Instant::now();
    let bytes = std::fs::read(settings.cwd.join(name)).expect("readable input");
    let input = File {
        name: name.to_string(),
        bytes: Ok(bytes),
    };
    let parsed = pipeline::parse(vec![input], &settings.env, &mut pipeline::no_refs)
        .unwrap_or_else(|(_, d)| panic!("{file}: {} syntax problems", d.0.len()));
    run.push(("parse", t.elapsed()));

    let t = Instant::now();
    let mut loaded = pipeline::evaluate(parsed, settings)
        .unwrap_or_else(|(_, d)| panic!("{file}: {} evaluation problems", d.0.len()));
    run.push(("evaluate", t.elapsed()));

    let t = Instant::now();
    let def = pipeline::resolve(settings, &SpecArgs::default(), &mut loaded)
        .unwrap_or_else(|d| panic!("{file}: {} resolution problems", d.0.len()));
    run.push(("resolve", t.elapsed()));
    (loaded, def)
}

/// `rbake print -f FILE`'s work.
fn print_once(file: &str) -> Run {
    let mut run = Run::new();
    let all = Instant::now();
    let (settings, name) = settings_for(file);
    let (loaded, def) = load(file, &settings, &name, &mut run);

    let t = Instant::now();
    black_box(report::print::render(&def));
    run.push(("render", t.elapsed()));

    let t = Instant::now();
    drop((loaded, def));
    run.push(("drop", t.elapsed()));
    run.push(("total", all.elapsed()));
    run
}

/// `rbake plan -f FILE --format json`'s work (declared capabilities, no probe).
fn plan_once(file: &str) -> Run {
    let mut run = Run::new();
    let all = Instant::now();
    let (settings, name) = settings_for(file);
    let (mut loaded, def) = load(file, &settings, &name, &mut run);

    let t = Instant::now();
    let builders = pipeline::declared_builders(&settings, &loaded);
    let mut diags = rbake::source::Diags::default();
    let plan = pipeline::lower(&def, &SpecArgs::default(), builders, &mut diags);
    run.push(("lower", t.elapsed()));

    let t = Instant::now();
    let mut facts = Facts {
        env: settings.env.keys().cloned().collect(),
        ..Facts::default()
    };
    for need in check::needs(&def) {
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
    pipeline::verify(&plan, &mut loaded, &def, &facts, &mut diags);
    assert!(!diags.has_errors(), "{file}: plan errors");
    run.push(("check", t.elapsed()));

    let t = Instant::now();
    let json = report::plan::to_json(&plan);
    black_box(serde_json::to_string_pretty(&json).unwrap_or_default());
    run.push(("render", t.elapsed()));

    let t = Instant::now();
    drop((json, plan, facts, loaded, def));
    run.push(("drop", t.elapsed()));
    run.push(("total", all.elapsed()));
    run
}
