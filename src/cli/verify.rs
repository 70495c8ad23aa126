//! `rbake verify --plan FILE` (and `rbake apply --verify`): reads every tag a plan pushes
//! back from its registry and reports each difference from the plan as a diagnostic.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Args;
use serde_json::Value as J;

use super::settings::Settings;
use super::{emit, spec};
use crate::exec::credentials::{Credentials, config_dir};
use crate::exec::paths;
use crate::exec::registry::Registry;
use crate::exec::verify::{self, Checked, Expected, Finding};
use crate::model::annotation::Annotation;
use crate::report;
use crate::source::{Diag, FileId, Origin, SourceMap, Span};

/// The codes of what `verify` finds (documented in docs/diagnostics.md).
const MISSING: &str = "verify::missing";
const UNREADABLE: &str = "verify::unreadable";
const MOVED: &str = "verify::moved";
const NOT_AN_INDEX: &str = "verify::not_an_index";
const PLATFORM_MISSING: &str = "verify::platform_missing";
const PLATFORM_UNPLANNED: &str = "verify::platform_unplanned";
const WRONG_PLATFORM: &str = "verify::wrong_platform";
const LABEL: &str = "verify::label";
const ANNOTATION: &str = "verify::annotation";

/// Why the registry client cannot start (no TLS roots).
const REGISTRY: &str = "verify::registry";

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The plan whose pushes to check, as `rbake plan --out FILE` wrote it
    #[arg(long, value_name = "FILE")]
    pub plan: String,
    /// The metadata file `rbake apply --metadata-file` wrote: each tag must also still
    /// resolve to the digest recorded there
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<String>,
}

pub fn run(settings: &Settings, args: &VerifyArgs) -> Result<(), spec::Failed> {
    let mut sources = SourceMap::new();
    let (doc, text, file) = open_plan(settings, &args.plan, &mut sources)?;
    let recorded = match &args.metadata_file {
        Some(path) => match recorded_digests(settings, path) {
            Ok(r) => r,
            Err(d) => {
                emit(&[d], &sources);
                return Err(1);
            }
        },
        None => BTreeMap::new(),
    };
    let expected = expectations(&doc.nodes, &recorded);
    // Each tag is pointed at where the plan file lists it under its push node.
    let locate = |push: &str, tag: &str| {
        let node = text.find(&format!("\"{push}\"")).unwrap_or(0);
        let quoted = format!("\"{tag}\"");
        let at = text[node..]
            .find(&quoted)
            .map_or(node..node + push.len() + 2, |i| {
                node + i..node + i + quoted.len()
            });
        Span::new(file, at)
    };
    check(settings, expected, &locate, &sources)
}

/// A saved plan read, checked and registered as a source, for commands that work from the
/// plan file alone (`verify`, `publish`). Problems are reported here.
pub(super) fn open_plan(
    settings: &Settings,
    path: &str,
    sources: &mut SourceMap,
) -> Result<(report::plan::Document, String, FileId), spec::Failed> {
    match super::apply::read_saved(settings, path, sources) {
        Ok((doc, text)) => {
            let file = sources.add(path, text.as_str(), Origin::File);
            Ok((doc, text, file))
        }
        Err(d) => {
            emit(&[d], sources);
            Err(1)
        }
    }
}

/// The registry client with the user's docker credentials; `code` names the command whose
/// diagnostic says why it cannot start.
pub(super) fn registry_client(settings: &Settings, code: &'static str) -> Result<Registry, Diag> {
    let credentials = Arc::new(Credentials::load(config_dir(&settings.env).as_deref()));
    Registry::new(credentials).map_err(|e| {
        Diag::error(code, format!("cannot start the registry client: {e}"))
            .help("rbake needs the system's TLS root certificates to reach registries over HTTPS")
    })
}

/// The strings of a JSON array in a plan node (`tags`, `platforms`, ...).
pub(super) fn json_strings(v: &J) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Checks `expected` against the registries and reports: a line per tag that matches on
/// stdout, a diagnostic per difference.
pub(super) fn check(
    settings: &Settings,
    expected: Vec<(String, Expected)>,
    locate: &dyn Fn(&str, &str) -> Span,
    sources: &SourceMap,
) -> Result<(), spec::Failed> {
    if expected.is_empty() {
        super::note("verify: the plan pushes nothing, so there is nothing to read back");
        return Ok(());
    }
    let registry = match registry_client(settings, REGISTRY) {
        Ok(r) => r,
        Err(d) => {
            emit(&[d], sources);
            return Err(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| 1u8)?;
    let (ids, wanted): (Vec<String>, Vec<Expected>) = expected.into_iter().unzip();
    let results = runtime.block_on(verify::verify(&registry, &wanted));
    let mut diags = Vec::new();
    for (id, c) in ids.iter().zip(&results) {
        if c.findings.is_empty() {
            println!(
                "verified  {}  {}  {}",
                c.expected.tag,
                c.served.as_deref().unwrap_or("-"),
                c.expected.platforms.join(", ")
            );
        }
        let span = locate(id, &c.expected.tag);
        diags.extend(c.findings.iter().map(|f| diagnose(c, f, span)));
    }
    if diags.is_empty() {
        return Ok(());
    }
    emit(&diags, sources);
    Err(1)
}

/// What each push node of a plan document should have left in its registries.
pub(super) fn expectations(
    nodes: &[J],
    recorded: &BTreeMap<String, String>,
) -> Vec<(String, Expected)> {
    let builds: BTreeMap<&str, &J> = nodes
        .iter()
        .filter(|n| n["kind"] == "build")
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut out = Vec::new();
    for n in nodes.iter().filter(|n| n["kind"] == "push") {
        let id = n["id"].as_str().unwrap_or_default().to_string();
        let mut labels = BTreeMap::new();
        for dep in json_strings(&n["depends_on"]) {
            let Some(b) = builds.get(dep.as_str()) else {
                continue;
            };
            let platform = b["platform"].as_str().unwrap_or_default().to_string();
            let map: BTreeMap<String, String> = b["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
            labels.insert(platform, map);
        }
        // Planned annotations were checked when planning; one that no longer parses
        // cannot have been written, so it is not expected either.
        let annotations: Vec<Annotation> = json_strings(&n["annotations"])
            .iter()
            .filter_map(|a| Annotation::parse(a).ok())
            .collect();
        for tag in json_strings(&n["tags"]) {
            out.push((
                id.clone(),
                Expected {
                    target: n["target"].as_str().unwrap_or_default().to_string(),
                    digest: recorded.get(&tag).cloned(),
                    tag,
                    platforms: json_strings(&n["platforms"]),
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                },
            ));
        }
    }
    out
}

/// The digest each pushed tag had when `apply` wrote the metadata file.
fn recorded_digests(settings: &Settings, path: &str) -> Result<BTreeMap<String, String>, Diag> {
    let help = "give the file `rbake apply --metadata-file FILE` wrote for this plan";
    let bytes = paths::read_regular(&settings.cwd.join(path), paths::MAX_TEXT).map_err(|e| {
        Diag::error("verify::metadata", format!("cannot read `{path}`: {e}")).help(help)
    })?;
    let doc: report::metadata::Document = serde_json::from_slice(&bytes).map_err(|e| {
        Diag::error(
            "verify::metadata",
            format!("`{path}` is not an rbake metadata file: {e}"),
        )
        .help(help)
    })?;
    Ok(doc
        .rbake
        .published
        .into_iter()
        .map(|p| (p.tag, p.digest))
        .collect())
}

fn diagnose(c: &Checked, f: &Finding, span: Span) -> Diag {
    let tag = &c.expected.tag;
    let target = &c.expected.target;
    let shown = |v: &Option<String>| match v {
        Some(v) => format!("`{v}`"),
        None => "nothing".to_string(),
    };
    let (code, message, label, help) = match f {
        Finding::Missing => (
            MISSING,
            format!("`{tag}` is not in its registry"),
            "planned here".to_string(),
            format!("run `rbake apply` for this plan; if it ran, something deleted the tag since (target `{target}`)"),
        ),
        Finding::Unreadable(why) => (
            UNREADABLE,
            format!("cannot read `{tag}` back: {why}"),
            "planned here".to_string(),
            "check that the registry is up and that your docker credentials can pull from it".to_string(),
        ),
        Finding::Digest { recorded, served } => (
            MOVED,
            format!("`{tag}` now points at {served}, not at {recorded} as the metadata file recorded"),
            "moved since it was pushed".to_string(),
            "someone pushed over the tag after rbake did: push this plan again, or find out what replaced it".to_string(),
        ),
        Finding::NotAnIndex { served } => (
            NOT_AN_INDEX,
            format!(
                "`{tag}` holds a single manifest ({served}); the plan pushes {} platforms",
                c.expected.platforms.len()
            ),
            "planned as a multi-platform index".to_string(),
            "the tag was overwritten by a single-platform push: push this plan again".to_string(),
        ),
        Finding::PlatformMissing(p) => (
            PLATFORM_MISSING,
            format!("the index under `{tag}` has no manifest for {p}"),
            format!("planned with {p}"),
            format!("the index was replaced or pushed incompletely: push this plan again so `{tag}` holds every planned platform"),
        ),
        Finding::PlatformUnplanned(p) => (
            PLATFORM_UNPLANNED,
            format!("the index under `{tag}` holds {p}, which the plan does not build"),
            format!("planned without {p}"),
            "the tag holds another build than this plan's: push this plan again, or add the platform to the target".to_string(),
        ),
        Finding::ConfigPlatform { platform, found } => (
            WRONG_PLATFORM,
            format!("the manifest for {platform} under `{tag}` has an image config for {found}"),
            format!("planned with {platform}"),
            "the index lists a manifest under the wrong platform: push this plan again; if it persists, check the base image's platform".to_string(),
        ),
        Finding::Label { platform, key, want, found } => (
            LABEL,
            format!("the {platform} image under `{tag}` has label `{key}` = {}, not `{want}`", shown(found)),
            "planned here".to_string(),
            "the tag holds another build than this plan's: push this plan again".to_string(),
        ),
        Finding::Annotation { on, key, want, found } => (
            ANNOTATION,
            format!(
                "the {} of `{tag}` has annotation `{key}` = {}, not `{want}`",
                if on == "index" { "index".to_string() } else { format!("{on} manifest") },
                shown(found)
            ),
            "planned here".to_string(),
            "the tag holds another build than this plan's: push this plan again".to_string(),
        ),
    };
    Diag::error(code, message).label(span, label).help(help)
}
