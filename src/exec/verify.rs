//! Published tags read back from their registries and compared with what was planned:
//! `rbake verify` and `rbake apply --verify`.
//!
//! For each planned tag the registry must serve an index holding exactly the planned
//! platforms (or, for a one-platform push, that platform's manifest); each platform's
//! manifest must point at a config whose os/architecture/variant is that platform and whose
//! labels include the planned ones; the planned annotations must be on the index and the
//! manifests; and, when a metadata file is given, the tag must resolve to the digest it
//! recorded. Attestation manifests (BuildKit's `unknown/unknown` entries) are not platforms.
//! Nothing is written; every difference is a [`Finding`].

use std::collections::BTreeMap;

use serde_json::Value as J;

use super::image::digest;
use super::registry::{Reference, Registry};
use crate::model::Platform;
use crate::model::annotation::Annotation;

/// What one planned tag should hold.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    pub target: String,
    pub tag: String,
    /// Normalised `os/arch[/variant]`, in plan order.
    pub platforms: Vec<String>,
    /// Planned labels, per platform.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    pub annotations: Vec<Annotation>,
    /// The digest a metadata file recorded for the tag, if one was given.
    pub digest: Option<String>,
}

/// One way a published tag differs from the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The registry has nothing under the tag.
    Missing,
    /// The registry could not be asked, or answered with something that is not an image.
    Unreadable(String),
    /// The tag resolves to another digest than the metadata file recorded.
    Digest { recorded: String, served: String },
    /// Several platforms were planned; the tag holds a single manifest.
    NotAnIndex { served: String },
    /// A planned platform has no manifest in the index.
    PlatformMissing(String),
    /// The index holds a platform the plan does not.
    PlatformUnplanned(String),
    /// The config of the manifest for `platform` says it is `found`.
    ConfigPlatform { platform: String, found: String },
    /// A planned label is absent or has another value.
    Label {
        platform: String,
        key: String,
        want: String,
        found: Option<String>,
    },
    /// A planned annotation is absent or has another value; `on` is `index` or a platform.
    Annotation {
        on: String,
        key: String,
        want: String,
        found: Option<String>,
    },
}

/// The result for one tag: what it resolved to and every difference found.
#[derive(Clone, Debug)]
pub struct Checked {
    pub expected: Expected,
    /// The digest the tag resolves to, when it resolves.
    pub served: Option<String>,
    pub findings: Vec<Finding>,
}

/// Reads every expected tag back. Tags are checked one after another: verification reads
/// manifests and configs only, never layers.
pub async fn verify(registry: &Registry, expected: &[Expected]) -> Vec<Checked> {
    let mut out = Vec::with_capacity(expected.len());
    for e in expected {
        let (served, findings) = match check(registry, e).await {
            Ok(done) => done,
            Err(why) => (None, vec![Finding::Unreadable(why)]),
        };
        out.push(Checked {
            expected: e.clone(),
            served,
            findings,
        });
    }
    out
}

async fn check(
    registry: &Registry,
    e: &Expected,
) -> Result<(Option<String>, Vec<Finding>), String> {
    let r = Reference::parse(&e.tag)?;
    let Some(body) = registry.get_manifest(&r, &r.tag).await? else {
        return Ok((None, vec![Finding::Missing]));
    };
    let served = digest(&body);
    let mut findings = Vec::new();
    if let Some(recorded) = &e.digest
        && *recorded != served
    {
        findings.push(Finding::Digest {
            recorded: recorded.clone(),
            served: served.clone(),
        });
    }
    let top: J =
        serde_json::from_slice(&body).map_err(|err| format!("{} is not JSON: {err}", e.tag))?;
    match top.get("manifests").and_then(J::as_array) {
        Some(entries) => {
            check_annotations(
                &top,
                "index",
                e.annotations.iter().filter(|a| a.on_index),
                &mut findings,
            );
            let mut seen = Vec::new();
            for entry in entries {
                if is_attestation(entry) {
                    continue;
                }
                let Some(platform) = entry_platform(entry) else {
                    findings.push(Finding::PlatformUnplanned("(no platform)".into()));
                    continue;
                };
                if !e.platforms.contains(&platform) {
                    findings.push(Finding::PlatformUnplanned(platform));
                    continue;
                }
                let d = entry["digest"].as_str().unwrap_or_default();
                let Some(manifest) = registry.get_manifest(&r, d).await? else {
                    return Err(format!(
                        "the index of {} names {d}, which the registry does not have",
                        e.tag
                    ));
                };
                let manifest: J = serde_json::from_slice(&manifest)
                    .map_err(|err| format!("manifest {d} is not JSON: {err}"))?;
                check_manifest(registry, &r, e, &platform, &manifest, &mut findings).await?;
                seen.push(platform);
            }
            for p in &e.platforms {
                if !seen.contains(p) {
                    findings.push(Finding::PlatformMissing(p.clone()));
                }
            }
        }
        None if e.platforms.len() > 1 => findings.push(Finding::NotAnIndex {
            served: served.clone(),
        }),
        None => {
            let platform = e.platforms.first().cloned().unwrap_or_default();
            check_manifest(registry, &r, e, &platform, &top, &mut findings).await?;
        }
    }
    Ok((Some(served), findings))
}

/// One platform's manifest: its config's platform and labels, its annotations.
async fn check_manifest(
    registry: &Registry,
    r: &Reference,
    e: &Expected,
    platform: &str,
    manifest: &J,
    findings: &mut Vec<Finding>,
) -> Result<(), String> {
    check_annotations(
        manifest,
        platform,
        e.annotations.iter().filter(|a| {
            !a.on_index
                && a.platform
                    .as_deref()
                    .is_none_or(|p| same_platform(p, platform))
        }),
        findings,
    );
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| format!("the manifest for {platform} of {} has no config", e.tag))?;
    let config = registry.get_blob(r, config_digest).await?.ok_or_else(|| {
        format!(
            "the registry does not have config {config_digest} of {}",
            e.tag
        )
    })?;
    let config: J = serde_json::from_slice(&config)
        .map_err(|err| format!("config {config_digest} is not JSON: {err}"))?;
    let found = config_platform(&config);
    if found.as_deref() != Some(platform) {
        findings.push(Finding::ConfigPlatform {
            platform: platform.to_string(),
            found: found.unwrap_or_else(|| "no platform".into()),
        });
    }
    let labels = &config["config"]["Labels"];
    for (key, want) in e.labels.get(platform).into_iter().flatten() {
        let found = labels.get(key).and_then(J::as_str);
        if found != Some(want.as_str()) {
            findings.push(Finding::Label {
                platform: platform.to_string(),
                key: key.clone(),
                want: want.clone(),
                found: found.map(str::to_string),
            });
        }
    }
    Ok(())
}

fn check_annotations<'a>(
    doc: &J,
    on: &str,
    planned: impl Iterator<Item = &'a Annotation>,
    findings: &mut Vec<Finding>,
) {
    for a in planned {
        let found = doc["annotations"].get(&a.key).and_then(J::as_str);
        if found != Some(a.value.as_str()) {
            findings.push(Finding::Annotation {
                on: on.to_string(),
                key: a.key.clone(),
                want: a.value.clone(),
                found: found.map(str::to_string),
            });
        }
    }
}

/// BuildKit lists attestation manifests in the index as `unknown/unknown`, marked with
/// `vnd.docker.reference.type`.
fn is_attestation(entry: &J) -> bool {
    entry["annotations"]["vnd.docker.reference.type"].is_string()
        || (entry["platform"]["os"] == "unknown" && entry["platform"]["architecture"] == "unknown")
}

fn entry_platform(entry: &J) -> Option<String> {
    let p = &entry["platform"];
    normalised(
        p["os"].as_str()?,
        p["architecture"].as_str()?,
        p["variant"].as_str(),
    )
}

fn config_platform(config: &J) -> Option<String> {
    normalised(
        config["os"].as_str()?,
        config["architecture"].as_str()?,
        config["variant"].as_str(),
    )
}

/// `os/arch[/variant]` as the plan writes it (`arm64/v8` is `arm64`, `arm` is `arm/v7`).
fn normalised(os: &str, arch: &str, variant: Option<&str>) -> Option<String> {
    let text = match variant.filter(|v| !v.is_empty()) {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    };
    Platform::parse(&text).ok().map(|p| p.to_string())
}

fn same_platform(a: &str, b: &str) -> bool {
    match (Platform::parse(a), Platform::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn platforms_are_compared_normalised() {
        assert_eq!(
            normalised("linux", "arm64", Some("v8")).as_deref(),
            Some("linux/arm64")
        );
        assert_eq!(
            normalised("linux", "amd64", Some("")).as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(
            normalised("linux", "arm", Some("v7")).as_deref(),
            Some("linux/arm/v7")
        );
        assert!(same_platform("linux/arm64/v8", "linux/arm64"));
        assert!(!same_platform("linux/arm/v6", "linux/arm/v7"));
    }

    #[test]
    fn attestation_entries_are_not_platforms() {
        let att = json!({"platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"}});
        let img = json!({"platform": {"os": "linux", "architecture": "amd64"}});
        assert!(is_attestation(&att));
        assert!(!is_attestation(&img));
        assert_eq!(entry_platform(&img).as_deref(), Some("linux/amd64"));
    }

    #[test]
    fn annotations_must_match_exactly() {
        let doc = json!({"annotations": {"a": "1", "b": "2"}});
        let planned = [
            Annotation {
                on_index: true,
                platform: None,
                key: "a".into(),
                value: "1".into(),
            },
            Annotation {
                on_index: true,
                platform: None,
                key: "b".into(),
                value: "3".into(),
            },
            Annotation {
                on_index: true,
                platform: None,
                key: "c".into(),
                value: "4".into(),
            },
        ];
        let mut f = Vec::new();
        check_annotations(&doc, "index", planned.iter(), &mut f);
        assert_eq!(
            f,
            vec![
                Finding::Annotation {
                    on: "index".into(),
                    key: "b".into(),
                    want: "3".into(),
                    found: Some("2".into())
                },
                Finding::Annotation {
                    on: "index".into(),
                    key: "c".into(),
                    want: "4".into(),
                    found: None
                },
            ]
        );
    }
}
