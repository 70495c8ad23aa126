//! `rbake apply`: plans (always against the builders' probed capabilities) and runs the
//! plan over BuildKit, or runs a saved plan after checking it still matches.

use std::sync::Arc;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::plan::{self as planning};
use super::settings::Settings;
use super::{PANIC_EXIT, SpecArgs, emit, note, spec};
use crate::exec::apply::{self as run, Result_};
use crate::exec::credentials::{Credentials, config_dir};
use crate::exec::paths;
use crate::plan::shard::Shard;
use crate::report;
use crate::report::progress::{Mode, Progress};
use crate::source::{Diag, Origin, SourceMap, Span};

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
    /// Grant an entitlement: network.host, security.insecure, fs.read=PATH, fs.write=PATH,
    /// fs=PATH (both), `*` for anywhere (repeatable)
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// Run every node, even those whose outputs already hold a build of the same inputs
    #[arg(long)]
    pub rebuild: bool,
    /// Run only part of a saved plan (needs `--plan`): `platform=OS/ARCH[/VARIANT]` or
    /// `K/N`. Pushes go up by digest only; `rbake publish` writes indexes and tags
    #[arg(long, value_name = "SELECTOR")]
    pub shard: Option<String>,
    /// With `--shard`: write what the shard pushed (plan fingerprint, per-platform manifest
    /// digests and sizes) as JSON to FILE, for `rbake publish`
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub result: Option<String>,
    /// After a successful run, read every pushed tag back from its registry and check it
    /// against the plan (as `rbake verify` does)
    #[arg(long)]
    pub verify: bool,
    /// On a terminal, end with the table of every node instead of counts, failures and the
    /// slowest nodes (`--progress plain` always prints the table)
    #[arg(long, short = 'v')]
    pub verbose: bool,
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
    // A saved plan is verified against its own content before anything else: an edited
    // plan is refused, never silently replaced by a fresh plan of the spec.
    let mut saved_sources = SourceMap::new();
    let saved_doc = match &saved {
        Some(path) => match read_saved(settings, path, &mut saved_sources) {
            Ok((doc, _)) => Some(doc),
            Err(d) => {
                emit(&[d], &saved_sources);
                return Err(1);
            }
        },
        None => None,
    };
    // A saved plan remembers what it was asked for; the command line may repeat it.
    if let Some(doc) = &saved_doc
        && spec_args.files.is_empty()
        && spec_args.set.is_empty()
        && super::pipeline::shorthands(&spec_args).is_empty()
        && spec_args.targets.is_empty()
    {
        spec_args.files = doc.request.files.clone();
        spec_args.set = doc.request.set.clone();
        spec_args.targets = doc.request.targets.clone();
    }
    let shard = match args.shard.as_deref().map(Shard::parse).transpose() {
        Ok(s) => s,
        Err(why) => {
            emit(
                &[Diag::error("apply::shard", why)
                    .help("e.g. `--shard platform=linux/arm64` on a native arm64 runner, or `--shard 2/3` for the second of three equal parts")],
                &saved_sources,
            );
            return Err(2);
        }
    };
    if shard.is_some() && saved_doc.is_none() {
        emit(
            &[Diag::error("apply::shard", "`--shard` runs part of a saved plan, and none was given")
                .help("plan once with `rbake plan --probe --out plan.json`, then run `rbake apply --plan plan.json --shard ...` on each runner and `rbake publish --plan plan.json RESULT...` at the end")],
            &saved_sources,
        );
        return Err(2);
    }
    let checked = planning::build(settings, &spec_args, &args.allow, true)?;
    let mut plan = checked.plan;
    if let (Some(path), Some(doc)) = (&saved, &saved_doc) {
        // A shard runs on its own runner, with its own engine: its builds and pushes must
        // be the saved plan's; which builder runs them is this machine's business.
        let same = match &shard {
            Some(_) => compare_release(path, doc, &plan),
            None => compare_saved(path, doc, &plan),
        };
        if let Err(d) = same {
            emit(&[d], &checked.loaded.sources);
            return Err(1);
        }
    }
    if let Some(s) = &shard {
        plan = plan.shard(s);
        note(&format!(
            "shard {s}: {} build(s), {} push(es) by digest, {} load(s), {} export(s)",
            plan.counts().builds,
            plan.counts().pushes,
            plan.counts().loads,
            plan.counts().exports
        ));
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
        // A shard's result must name every manifest it is responsible for, so its pushes
        // always run (BuildKit's cache still answers unchanged builds).
        rebuild: args.rebuild || shard.is_some(),
    };
    let mut progress = Progress::new(args.progress, &plan);
    let cancel = CancellationToken::new();
    let plan_for_run = plan.clone();
    let (report, interrupted) = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let c = cancel.clone();
        let interrupted = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let flag = interrupted.clone();
        tokio::spawn(async move {
            if let Some(code) = stop_signal().await {
                flag.store(code, std::sync::atomic::Ordering::SeqCst);
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
            job.await,
            interrupted.load(std::sync::atomic::Ordering::SeqCst),
        )
    });
    let report = match finished(report) {
        Ok(r) => r,
        Err(d) => {
            emit(&[d], &checked.loaded.sources);
            return Err(PANIC_EXIT);
        }
    };
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
        note(&serde_json::json!({ "event": "summary", "nodes": nodes }).to_string());
    } else {
        // A terminal shows a summary that fits it; logs (plain) keep every node's row, which
        // scripts and tests read.
        let text = if progress.mode() == Mode::Tty && !args.verbose {
            report::progress::brief(plan.graph.node_count(), &report, progress.elapsed())
        } else {
            report::progress::summary(&plan, &report)
        };
        note(&format!("\n{}", text.trim_end_matches('\n')));
    }
    // A node task that panicked inside the scheduler leaves a report that may look complete;
    // nothing of such a run is trustworthy enough to record as a result.
    if super::panicked() {
        return Err(PANIC_EXIT);
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
        note(&format!("error: {node}: {error}"));
    }
    if interrupted != 0 {
        let how = if interrupted == SIGTERM_EXIT {
            "terminated"
        } else {
            "interrupted"
        };
        note(&format!("{how}: nothing further was published"));
        return Err(interrupted);
    }
    if !failed.is_empty() || report.values().any(|r| matches!(r, Result_::Skipped(_))) {
        return Err(1);
    }
    if let (Some(s), Some(path), Some(doc)) = (&shard, &args.result, &saved_doc) {
        let result = shard_result(s, doc, &report);
        let text = serde_json::to_string_pretty(&result).unwrap_or_default();
        if let Err(e) = std::fs::write(settings.cwd.join(path), format!("{text}\n")) {
            emit(
                &[
                    Diag::error("cli::write_result", format!("cannot write `{path}`: {e}"))
                        .help("check that the directory exists and is writable"),
                ],
                &checked.loaded.sources,
            );
            return Err(1);
        }
    }
    if args.verify {
        return verify_pushed(settings, &plan, &report, &checked.loaded.sources);
    }
    Ok(())
}

/// What a finished shard hands to `rbake publish`.
fn shard_result(
    shard: &Shard,
    saved: &report::plan::Document,
    report: &run::Report,
) -> report::shard::ShardResult {
    let mut result = report::shard::ShardResult {
        schema: report::shard::SCHEMA.to_string(),
        fingerprint: report::shard::release_fingerprint(&saved.nodes),
        shard: shard.to_string(),
        ..Default::default()
    };
    for (id, r) in report {
        let Result_::Done(o) = r else {
            continue;
        };
        if id.starts_with("build:") {
            result.builds.insert(id.clone(), "done".to_string());
        }
        if !o.manifests.is_empty() {
            let target = saved
                .nodes
                .iter()
                .find(|n| n["id"] == id.as_str())
                .and_then(|n| n["target"].as_str())
                .unwrap_or_default()
                .to_string();
            result.pushes.insert(
                id.clone(),
                report::shard::ShardPush {
                    target,
                    manifests: o
                        .manifests
                        .iter()
                        .map(|m| report::shard::ShardManifest {
                            platform: m.platform.clone(),
                            digest: m.digest.clone(),
                            size: m.size,
                            media_type: m.media_type.clone(),
                        })
                        .collect(),
                },
            );
        }
    }
    result
}

/// A shard's own plan must have the saved plan's builds and pushes (builders aside).
fn compare_release(
    path: &str,
    saved: &report::plan::Document,
    plan: &crate::plan::Plan,
) -> Result<(), Diag> {
    let now = report::plan::to_json(plan);
    let nodes = now["nodes"].as_array().cloned().unwrap_or_default();
    if report::shard::release_fingerprint(&nodes)
        != report::shard::release_fingerprint(&saved.nodes)
    {
        return Err(Diag::error(
            "apply::stale_plan",
            format!("`{path}` no longer matches the spec: this runner plans other builds or pushes"),
        )
        .help("every shard must see the same spec, `--set`s and environment as the planning job: check out the same commit and pass the same variables, or plan again"));
    }
    Ok(())
}

/// `--verify`: every tag this run pushed (or found up to date) read back and checked,
/// each difference pointed at the spec line that names the tag.
fn verify_pushed(
    settings: &Settings,
    plan: &crate::plan::Plan,
    report: &run::Report,
    sources: &SourceMap,
) -> Result<(), spec::Failed> {
    let recorded: std::collections::BTreeMap<String, String> = report::metadata(plan, report)
        .rbake
        .published
        .into_iter()
        .map(|p| (p.tag, p.digest))
        .collect();
    let doc = report::plan::to_json(plan);
    let nodes = doc["nodes"].as_array().cloned().unwrap_or_default();
    let expected = super::verify::expectations(&nodes, &recorded);
    let spans: std::collections::HashMap<(&str, &str), Span> = plan
        .graph
        .node_weights()
        .filter_map(|n| match n {
            crate::plan::Node::Push(p) => Some(p),
            _ => None,
        })
        .flat_map(|p| {
            p.tags
                .iter()
                .zip(&p.tag_spans)
                .map(move |(t, s)| ((p.id.as_str(), t.as_str()), *s))
        })
        .collect();
    let fallback = plan.graph.node_weights().find_map(|n| match n {
        crate::plan::Node::Build(b) => Some(b.platform_span),
        _ => None,
    });
    let locate = |id: &str, tag: &str| {
        spans
            .get(&(id, tag))
            .copied()
            .or(fallback)
            .unwrap_or_default()
    };
    super::verify::check(settings, expected, &locate, sources)
}

/// The scheduler's own result. A scheduler that panicked or was aborted has no report: that
/// is a failure (no summary, no metadata, exit 101), never an empty success.
fn finished(joined: Result<run::Report, tokio::task::JoinError>) -> Result<run::Report, Diag> {
    joined.map_err(|e| {
        Diag::error("apply::internal", format!("the scheduler stopped: {e}")).help(format!(
            "{}. Images built so far stay in the engine under rbake.local/",
            super::REPORT_BUG
        ))
    })
}

/// Exit codes after a signal: 128 + its number, as shells report them.
const SIGINT_EXIT: u8 = 130;
const SIGTERM_EXIT: u8 = 143;

/// Waits for Ctrl-C (SIGINT) or SIGTERM (what `timeout`, `kill` and CI runners send to
/// stop a job); both cancel the run the same way. The exit code that reports it.
async fn stop_signal() -> Option<u8> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.ok().map(|()| SIGINT_EXIT),
                _ = term.recv() => Some(SIGTERM_EXIT),
            };
        }
    }
    tokio::signal::ctrl_c().await.ok().map(|()| SIGINT_EXIT)
}

/// Reads a saved plan and checks its fingerprint against its own builders, nodes and
/// summary: the fingerprint covers exactly those, so any edit to them (a `dest`, a tag)
/// shows as a mismatch.
pub(super) fn read_saved(
    settings: &Settings,
    path: &str,
    sources: &mut SourceMap,
) -> Result<(report::plan::Document, String), Diag> {
    let not_a_plan = |why: String| {
        Diag::error(
            "apply::saved_plan",
            format!("`{path}` is not a plan: {why}"),
        )
        .help("give the file written by `rbake plan --probe --out FILE`")
    };
    let bytes = paths::read_regular(&settings.cwd.join(path), paths::MAX_TEXT).map_err(|e| {
        Diag::error("apply::saved_plan", format!("cannot read `{path}`: {e}"))
            .help("give the file written by `rbake plan --probe --out FILE`")
    })?;
    let text = String::from_utf8(bytes).map_err(|e| not_a_plan(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| not_a_plan(e.to_string()))?;
    if value.get("schema").and_then(|s| s.as_str()) != Some(report::plan::SCHEMA) {
        return Err(Diag::error(
            "apply::saved_plan",
            format!("`{path}` is not an {} plan", report::plan::SCHEMA),
        )
        .help("write it with `rbake plan --probe --out FILE`"));
    }
    let doc: report::plan::Document =
        serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
    if report::plan::fingerprint(&doc.builders, &doc.nodes, &doc.summary) != doc.fingerprint {
        let file = sources.add(path, text.as_str(), Origin::File);
        let at = text
            .find("\"fingerprint\"")
            .map_or(0..0, |i| i..i + "\"fingerprint\"".len());
        return Err(Diag::error(
            "apply::plan_modified",
            format!("`{path}` was changed after `rbake plan` wrote it"),
        )
        .label(Span::new(file, at), "does not match the plan's content")
        .help("rbake applies a saved plan only as it was written: change the spec instead, then run `rbake plan --probe --out FILE` again and review it"));
    }
    Ok((doc, text))
}

/// Re-planning must give the saved plan's fingerprint: same spec, same builders.
fn compare_saved(
    path: &str,
    saved: &report::plan::Document,
    plan: &crate::plan::Plan,
) -> Result<(), Diag> {
    let now = report::plan::to_json(plan);
    if now.get("fingerprint").and_then(|f| f.as_str()) != Some(saved.fingerprint.as_str()) {
        let probed = saved.builders.iter().all(|b| b["source"] == "probed");
        return Err(Diag::error("apply::stale_plan", format!("`{path}` no longer matches the spec and builders"))
            .help(if probed {
                "the spec, the environment or the builders changed since it was planned: run `rbake plan --probe --out FILE` again and review it".to_string()
            } else {
                "it was planned without `--probe`; apply runs against the builders' real capabilities, so save plans with `rbake plan --probe --out FILE`".to_string()
            }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A scheduler task that panicked is an `apply::internal` failure, not an empty report.
    #[test]
    fn a_failed_scheduler_join_is_a_failure() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let joined = runtime.block_on(async {
            tokio::spawn(async {
                if true {
                    panic!("deliberate, to test the join failure");
                }
                crate::exec::apply::Report::new()
            })
            .await
        });
        let d = super::finished(joined).expect_err("a panicked scheduler must not report");
        assert_eq!(d.code, "apply::internal");
        assert!(d.message.contains("the scheduler stopped"), "{}", d.message);
    }

    /// A scheduler that ends normally hands its report on unchanged.
    #[test]
    fn a_finished_scheduler_reports() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let joined = runtime
            .block_on(async { tokio::spawn(async { crate::exec::apply::Report::new() }).await });
        assert!(super::finished(joined).unwrap().is_empty());
    }
}
