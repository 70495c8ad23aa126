//! `rbake apply`: plans (always against the builders' probed capabilities) and runs the
//! plan over BuildKit, or runs a saved plan after checking it still matches.

use std::sync::Arc;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::plan::{self as planning};
use super::settings::Settings;
use super::{SpecArgs, emit, spec};
use crate::exec::apply::{self as run, Result_};
use crate::exec::credentials::{Credentials, config_dir};
use crate::report;
use crate::report::progress::{Mode, Progress};
use crate::source::Diag;

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Run a plan saved with `rbake plan --probe --out FILE` (refused if the spec or the
    /// builders changed since)
    #[arg(long, value_name = "FILE")]
    pub plan: Option<String>,
    /// At most N nodes at once in total (default: each builder's `max-parallelism`)
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Keep building other nodes after a failure (nothing that depends on it is published)
    #[arg(long)]
    pub keep_going: bool,
    /// Progress output
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Mode,
    /// Write image digests, published tags and local tags as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<String>,
    /// Grant an entitlement: network.host, security.insecure, fs.read=PATH (repeatable)
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// Run every node, even those whose outputs already hold a build of the same inputs
    #[arg(long)]
    pub rebuild: bool,
}

pub fn run(settings: &Settings, args: &ApplyArgs) -> Result<(), spec::Failed> {
    let mut spec_args = args.spec.clone();
    // `rbake apply plan.json` is the same as `--plan plan.json`.
    let mut saved = args.plan.clone();
    if saved.is_none()
        && let Some(i) = spec_args
            .targets
            .iter()
            .position(|t| t.ends_with(".json") && settings.cwd.join(t).is_file())
    {
        saved = Some(spec_args.targets.remove(i));
    }
    // A saved plan remembers what it was asked for; the command line may repeat it.
    if let Some(path) = &saved
        && spec_args.files.is_empty()
        && spec_args.set.is_empty()
        && spec_args.targets.is_empty()
        && let Some(request) = saved_request(settings, path)
    {
        spec_args.files = request.files;
        spec_args.set = request.set;
        spec_args.targets = request.targets;
    }
    let checked = planning::build(settings, &spec_args, &args.allow, true)?;
    let plan = checked.plan;
    if let Some(path) = &saved
        && let Err(d) = compare_saved(settings, path, &plan)
    {
        emit(&[d], &checked.loaded.sources);
        return Err(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|_| 1u8)?;
    let credentials = Arc::new(Credentials::load(config_dir(&settings.env).as_deref()));
    let opts = run::Options {
        jobs: args.jobs,
        keep_going: args.keep_going,
        cwd: settings.cwd.clone(),
        env: Arc::new(settings.env.clone()),
        credentials,
        rebuild: args.rebuild,
    };
    let mut progress = Progress::new(args.progress, &plan);
    let cancel = CancellationToken::new();
    let plan_for_run = plan.clone();
    let (report, interrupted) = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let c = cancel.clone();
        let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                c.cancel();
            }
        });
        let job = tokio::spawn(run::apply(plan_for_run, opts, tx, cancel.clone()));
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        loop {
            tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => progress.event(&e),
                    None => break,
                },
                _ = tick.tick() => progress.tick(),
            }
        }
        progress.finish();
        (
            job.await.unwrap_or_default(),
            interrupted.load(std::sync::atomic::Ordering::SeqCst),
        )
    });
    if args.progress == Mode::Json {
        // Machines read stderr as JSON lines; the summary is one more of them.
        let nodes: serde_json::Map<String, serde_json::Value> = report
            .iter()
            .map(|(id, r)| {
                let v = match r {
                    Result_::Done(o) => serde_json::json!({ "status": "done", "digest": o.digest, "seconds": o.duration.as_secs_f64() }),
                    Result_::Failed(e) => serde_json::json!({ "status": "failed", "error": e }),
                    Result_::Skipped(why) => serde_json::json!({ "status": "skipped", "reason": why }),
                };
                (id.clone(), v)
            })
            .collect();
        eprintln!(
            "{}",
            serde_json::json!({ "event": "summary", "nodes": nodes })
        );
    } else {
        eprint!("\n{}", report::progress::summary(&plan, &report));
    }
    if let Some(path) = &args.metadata_file {
        let text = report::metadata(&plan, &report).to_json();
        if let Err(e) = std::fs::write(settings.cwd.join(path), text) {
            emit(
                &[
                    Diag::error("cli::write_metadata", format!("cannot write `{path}`: {e}"))
                        .help("check that the directory exists and is writable"),
                ],
                &checked.loaded.sources,
            );
            return Err(1);
        }
    }
    let failed: Vec<(&String, &String)> = report
        .iter()
        .filter_map(|(k, v)| {
            if let Result_::Failed(e) = v {
                Some((k, e))
            } else {
                None
            }
        })
        .collect();
    for (node, error) in &failed {
        eprintln!("error: {node}: {error}");
    }
    if interrupted {
        eprintln!("interrupted: nothing further was published");
        return Err(130);
    }
    if !failed.is_empty() || report.values().any(|r| matches!(r, Result_::Skipped(_))) {
        return Err(1);
    }
    Ok(())
}

/// Re-planning must give the saved plan's fingerprint: same spec, same builders.
fn compare_saved(settings: &Settings, path: &str, plan: &crate::plan::Plan) -> Result<(), Diag> {
    let text = std::fs::read_to_string(settings.cwd.join(path)).map_err(|e| {
        Diag::error("apply::saved_plan", format!("cannot read `{path}`: {e}"))
            .help("give the file written by `rbake plan --probe --out FILE`")
    })?;
    let saved: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Diag::error("apply::saved_plan", format!("`{path}` is not a plan: {e}"))
            .help("give the file written by `rbake plan --probe --out FILE`")
    })?;
    if saved.get("schema").and_then(|s| s.as_str()) != Some(report::plan::SCHEMA) {
        return Err(Diag::error(
            "apply::saved_plan",
            format!("`{path}` is not an {} plan", report::plan::SCHEMA),
        )
        .help("write it with `rbake plan --probe --out FILE`"));
    }
    let now = report::plan::to_json(plan);
    if saved.get("fingerprint") != now.get("fingerprint") {
        let probed = saved["builders"]
            .as_array()
            .is_some_and(|b| b.iter().all(|b| b["source"] == "probed"));
        return Err(Diag::error("apply::stale_plan", format!("`{path}` no longer matches the spec and builders"))
            .help(if probed {
                "the spec, the environment or the builders changed since it was planned: run `rbake plan --probe --out FILE` again and review it".to_string()
            } else {
                "it was planned without `--probe`; apply runs against the builders' real capabilities, so save plans with `rbake plan --probe --out FILE`".to_string()
            }));
    }
    Ok(())
}

/// The request stored in a saved plan, if the file is one.
fn saved_request(settings: &Settings, path: &str) -> Option<crate::plan::Request> {
    let text = std::fs::read_to_string(settings.cwd.join(path)).ok()?;
    let doc: report::plan::Document = serde_json::from_str(&text).ok()?;
    Some(doc.request)
}
