//! `rbake publish --plan FILE RESULT...`: the last step of a sharded release. Checks that
//! the shard results come from this plan and together cover every platform of every push,
//! that each platform's manifest is in each registry by digest, and only then writes the
//! indexes and, last, the tags. Any problem is reported before anything is written, so a
//! missing or failed shard leaves every tag as it was. Running it again writes the same
//! bytes.

use std::collections::BTreeMap;

use clap::Args;

use super::settings::Settings;
use super::verify::json_strings;
use super::{emit, spec};
use crate::exec::image::{self, Blob};
use crate::exec::paths;
use crate::exec::registry::{Reference, Registry};
use crate::model::Platform;
use crate::model::annotation::Annotation;
use crate::report::shard::{ShardManifest, ShardResult, release_fingerprint};
use crate::source::{Diag, FileId, Origin, SourceMap, Span};

/// Why the registry client cannot start (no TLS roots).
const REGISTRY: &str = "publish::registry";

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The saved plan the shards ran (`rbake plan --probe --out FILE`)
    #[arg(long, value_name = "FILE")]
    pub plan: String,
    /// The result files the shards wrote (`rbake apply --plan FILE --shard S --result FILE`)
    #[arg(value_name = "RESULT", required = true)]
    pub results: Vec<String>,
}

/// One push of the plan, ready to write: its tags and each platform's manifest.
struct Ready {
    id: String,
    tags: Vec<String>,
    annotations: Vec<Annotation>,
    manifests: Vec<(ShardManifest, Platform)>,
}

pub fn run(settings: &Settings, args: &PublishArgs) -> Result<(), spec::Failed> {
    let mut sources = SourceMap::new();
    let (doc, text, plan_file) = super::verify::open_plan(settings, &args.plan, &mut sources)?;
    let at = |file: FileId, text: &str, needle: &str| {
        let quoted = format!("\"{needle}\"");
        let range = text.find(&quoted).map_or(0..0, |i| i..i + quoted.len());
        Span::new(file, range)
    };
    let fingerprint = release_fingerprint(&doc.nodes);
    let mut diags = Vec::new();

    // 1. The results: readable, of this plan.
    let mut results: Vec<(String, ShardResult)> = Vec::new();
    for path in &args.results {
        let read = paths::read_regular(&settings.cwd.join(path), paths::MAX_TEXT)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()));
        let body = match read {
            Ok(t) => t,
            Err(e) => {
                diags.push(
                    Diag::error("publish::result", format!("cannot read `{path}`: {e}"))
                        .help("give the files `rbake apply --shard S --result FILE` wrote"),
                );
                continue;
            }
        };
        let file = sources.add(path, body.as_str(), Origin::File);
        match serde_json::from_str::<ShardResult>(&body) {
            Ok(r) if r.schema != crate::report::shard::SCHEMA => diags.push(
                Diag::error("publish::result", format!("`{path}` is not an {} file", crate::report::shard::SCHEMA))
                    .label(at(file, &body, &r.schema), "this schema")
                    .help("give the files `rbake apply --shard S --result FILE` wrote"),
            ),
            Ok(r) if r.fingerprint != fingerprint => diags.push(
                Diag::error(
                    "publish::other_plan",
                    format!("`{path}` is the result of another plan than `{}`", args.plan),
                )
                .label(at(file, &body, &r.fingerprint), "this plan's release fingerprint")
                .label(at(plan_file, &text, "fingerprint"), "the plan being published")
                .help("publish each plan with the results of its own shards; re-run the shards of this plan if the spec changed"),
            ),
            Ok(r) => results.push((path.clone(), r)),
            Err(e) => diags.push(
                Diag::error("publish::result", format!("`{path}` is not a shard result: {e}"))
                    .help("give the files `rbake apply --shard S --result FILE` wrote"),
            ),
        }
    }

    // 2. Every platform of every push covered, once.
    let mut ready = Vec::new();
    for n in doc.nodes.iter().filter(|n| n["kind"] == "push") {
        let id = n["id"].as_str().unwrap_or_default().to_string();
        let mut manifests = Vec::new();
        for platform in json_strings(&n["platforms"]) {
            let found: Vec<(&String, &ShardManifest)> = results
                .iter()
                .filter_map(|(path, r)| {
                    r.pushes
                        .get(&id)?
                        .manifests
                        .iter()
                        .find(|m| m.platform == platform)
                        .map(|m| (path, m))
                })
                .collect();
            match found.as_slice() {
                [] => diags.push(
                    Diag::error(
                        "publish::missing_platform",
                        format!("no shard result has {platform} of `{id}`"),
                    )
                    .label(at(plan_file, &text, &id), format!("pushes {platform}"))
                    .help(format!("run the shard that builds it (e.g. `rbake apply --plan {} --shard platform={platform} --result FILE`) and pass its result; nothing was published", args.plan)),
                ),
                [(_, m), rest @ ..] => {
                    if let Some((other, o)) = rest.iter().find(|(_, o)| o.digest != m.digest) {
                        diags.push(
                            Diag::error(
                                "publish::conflict",
                                format!("two results push {platform} of `{id}` as different manifests ({} and {} in `{other}`)", m.digest, o.digest),
                            )
                            .label(at(plan_file, &text, &id), "pushed twice")
                            .help("pass one result per shard: the same platform built by two runners gave two images"),
                        );
                    }
                    match Platform::parse(&platform) {
                        Ok(p) => manifests.push(((*m).clone(), p)),
                        Err(e) => diags.push(Diag::error("publish::result", e).help("the plan names an invalid platform; plan again")),
                    }
                }
            }
        }
        ready.push(Ready {
            id,
            tags: json_strings(&n["tags"]),
            annotations: json_strings(&n["annotations"])
                .iter()
                .filter_map(|a| Annotation::parse(a).ok())
                .collect(),
            manifests,
        });
    }
    if !diags.is_empty() {
        emit(&diags, &sources);
        return Err(1);
    }

    let registry = match super::verify::registry_client(settings, REGISTRY) {
        Ok(r) => r,
        Err(d) => {
            emit(&[d], &sources);
            return Err(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| 1u8)?;
    let outcome = runtime.block_on(publish(&registry, &ready, &|id| at(plan_file, &text, id)));
    match outcome {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            Ok(())
        }
        Err(diags) => {
            emit(&diags, &sources);
            Err(1)
        }
    }
}

/// Checks every manifest in every repository, then writes the indexes, then the tags.
async fn publish(
    registry: &Registry,
    ready: &[Ready],
    locate: &dyn Fn(&str) -> Span,
) -> Result<Vec<String>, Vec<Diag>> {
    // (repository of a tag, push) -> the manifests as stored, read back by digest.
    let mut tops: BTreeMap<(usize, String), (Reference, Blob)> = BTreeMap::new();
    let mut diags = Vec::new();
    for (i, p) in ready.iter().enumerate() {
        let mut repos: Vec<Reference> = Vec::new();
        for t in &p.tags {
            match Reference::parse(t) {
                Ok(r) if !repos.iter().any(|x| x.host == r.host && x.repo == r.repo) => {
                    repos.push(r)
                }
                Ok(_) => {}
                Err(e) => diags.push(
                    Diag::error("publish::tag", e)
                        .label(locate(&p.id), "here")
                        .help("plan again"),
                ),
            }
        }
        for r in repos {
            let mut entries = Vec::new();
            for (m, platform) in &p.manifests {
                match registry.get_manifest(&r, &m.digest).await {
                    Ok(Some(bytes)) if image::digest(&bytes) == m.digest => {
                        entries.push((Blob::new(&m.media_type, bytes.to_vec()), platform.clone()));
                    }
                    Ok(_) => diags.push(
                        Diag::error(
                            "publish::missing_manifest",
                            format!("{}/{} has no manifest {} ({platform} of `{}`)", r.host, r.repo, m.digest, p.id),
                        )
                        .label(locate(&p.id), format!("pushes {platform}"))
                        .help("the shard's push did not reach this registry, or the manifest was deleted since: re-run that shard; nothing was published"),
                    ),
                    Err(e) => diags.push(
                        Diag::error("publish::unreadable", format!("cannot read {}/{}: {e}", r.host, r.repo))
                            .label(locate(&p.id), "pushes here")
                            .help("check that the registry is up and that your docker credentials can push to it; nothing was published"),
                    ),
                }
            }
            let top = match entries.as_slice() {
                [(only, _)] => only.clone(),
                _ => image::index_of(&entries, &p.annotations),
            };
            tops.insert((i, format!("{}/{}", r.host, r.repo)), (r, top));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // Indexes by digest first, everywhere...
    for (r, top) in tops.values() {
        if top.media_type == image::INDEX
            && let Err(e) = registry.put_manifest(r, &top.digest, top).await
        {
            return Err(vec![
                Diag::error(
                    "publish::write",
                    format!("cannot write the index to {}/{}: {e}", r.host, r.repo),
                )
                .help("no tag was written; fix the registry and run `rbake publish` again"),
            ]);
        }
    }
    // ...and only then the tags.
    let mut lines = Vec::new();
    for (i, p) in ready.iter().enumerate() {
        for t in &p.tags {
            let Ok(r) = Reference::parse(t) else { continue };
            let Some((_, top)) = tops.get(&(i, format!("{}/{}", r.host, r.repo))) else {
                continue;
            };
            if let Err(e) = registry.put_manifest(&r, &r.tag, top).await {
                return Err(vec![Diag::error("publish::write", format!("cannot write tag {t}: {e}"))
                    .label(locate(&p.id), "pushes here")
                    .help("tags written before this one stay; run `rbake publish` again once the registry accepts writes (it writes the same bytes)")]);
            }
            lines.push(format!("published  {t}  {}", top.digest));
        }
    }
    Ok(lines)
}
