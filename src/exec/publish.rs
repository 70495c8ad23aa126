//! Publishing nodes: loads into an engine's image store and pushes to registries. A push
//! uploads every platform by digest, then the index, and writes the tags last.

use super::apply::{Ctx, docker, inputs};
use super::engine::error_chain;
use super::events::Outcome;
use super::image::{self, Image};
use super::registry::Reference;
use crate::plan::{Load, Push};
use bollard::Docker;

pub(crate) async fn tag(docker: &Docker, source: &str, target: &str) -> Result<(), String> {
    let r = Reference::parse(target)?;
    let repo = if r.host == "registry-1.docker.io" {
        r.repo.trim_start_matches("library/").to_string()
    } else {
        format!("{}/{}", r.host, r.repo)
    };
    // Keep the name as the user wrote it (without a registry host, docker adds none).
    let repo = if target.starts_with(&r.host) {
        repo
    } else {
        target
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .map_or(target.to_string(), |(n, _)| n.to_string())
    };
    let opts = bollard::query_parameters::TagImageOptions {
        repo: Some(repo),
        tag: Some(r.tag.clone()),
    };
    docker
        .tag_image(source, Some(opts))
        .await
        .map_err(|e| format!("cannot tag {target}: {}", error_chain(&e)))
}

pub(crate) async fn load(ctx: &Ctx, l: &Load) -> Result<Outcome, String> {
    let builds = inputs(ctx, &l.id).await?;
    let first = builds.first().ok_or("nothing to load")?;
    if builds.len() == 1 {
        // One build: it is already in the engine that built it, wherever it was placed.
        let d = docker(&first.endpoint)?;
        for t in &l.tags {
            tag(&d, &first.reference, t).await?;
        }
        return Ok(Outcome {
            digest: first.digest.clone(),
            published: l.tags.clone(),
            builder: Some(first.builder.clone()),
            ..Outcome::default()
        });
    }
    // Several: they may have been built on several engines; the image goes to the load's.
    let (d, builder) = match l.builder.as_deref().and_then(|b| ctx.plan.builder(b)) {
        Some(c) => (docker(&super::engine::Endpoint::of(c)?)?, c.name.clone()),
        None => (docker(&first.endpoint)?, first.builder.clone()),
    };
    // A containerd store takes one multi-platform image: load an OCI layout of all of them.
    let mut images = Vec::new();
    for b in &builds {
        images.push(image::save(&docker(&b.endpoint)?, &b.reference).await?);
    }
    let refs: Vec<&Image> = images.iter().collect();
    let name = l.tags.first().cloned();
    let layout = image::oci_layout(&refs, name.as_deref())?;
    let opts = bollard::query_parameters::ImportImageOptions {
        quiet: true,
        ..Default::default()
    };
    let mut stream = d.import_image(opts, bollard::body_full(layout.into()), None);
    use futures_util::StreamExt;
    while let Some(msg) = stream.next().await {
        let msg = msg.map_err(|e| {
            format!(
                "the engine refused the multi-platform image: {}",
                error_chain(&e)
            )
        })?;
        if let Some(err) = msg.error_detail.and_then(|e| e.message) {
            return Err(format!(
                "the engine refused the multi-platform image: {err}"
            ));
        }
    }
    for t in l.tags.iter().skip(1) {
        if let Some(n) = &name {
            tag(&d, n, t).await?;
        }
    }
    Ok(Outcome {
        digest: Some(image::index(&refs).digest),
        published: l.tags.clone(),
        builder: Some(builder),
        ..Outcome::default()
    })
}

pub(crate) async fn push(ctx: &Ctx, p: &Push) -> Result<Outcome, String> {
    let registry = ctx
        .registry
        .as_ref()
        .map_err(|e| format!("the registry client could not start: {e}"))?;
    let builds = inputs(ctx, &p.id).await?;
    let mut saved = Vec::new();
    // Builds are wired in platform order, so they line up with the node's platforms.
    for b in &builds {
        saved.push(image::save(&docker(&b.endpoint)?, &b.reference).await?);
    }
    // BuildKit writes an index even for one platform when it carries an attestation.
    let indexed = saved.len() > 1 || saved.iter().any(|i| i.attestation.is_some());
    let mut annotations = p
        .annotations
        .iter()
        .map(|a| image::Annotation::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    // The input key goes on the top manifest, so a later run (on any machine) sees that the
    // registry already holds this build.
    // A shard pushes part of the platforms: the key is the whole push's, so it is left off.
    if !p.by_digest
        && let Some(k) = ctx.assessment.keys.get(&p.id)
    {
        annotations.push(image::Annotation {
            on_index: indexed,
            platform: None,
            key: super::inputs::ANNOTATION.to_string(),
            value: k.digest.clone(),
        });
    }
    let mut images = Vec::new();
    for (img, platform) in saved.iter().zip(&p.platforms) {
        images.push(image::annotate(img, &annotations, &platform.to_string()));
    }
    // Each platform's attestation manifest, re-pointed at the manifest pushed for it.
    let attestations: Vec<(Image, usize)> = images
        .iter()
        .zip(&p.platforms)
        .enumerate()
        .filter_map(|(i, (img, platform))| {
            image::attestation_for(img, &p.tags, &platform.to_string()).map(|a| (a, i))
        })
        .collect();
    let refs: Vec<&Image> = images.iter().collect();
    let pairs: Vec<(&Image, &Image)> = attestations.iter().map(|(a, i)| (a, &images[*i])).collect();
    let top = if !indexed {
        images[0].manifest.clone()
    } else {
        image::index_with(&refs, &pairs, &annotations)
    };
    // Every platform's image goes up by digest first, to every repository named...
    let mut repos: Vec<Reference> = Vec::new();
    for t in &p.tags {
        let r = Reference::parse(t)?;
        if !repos.iter().any(|x| x.host == r.host && x.repo == r.repo) {
            repos.push(r);
        }
    }
    for r in &repos {
        for img in images.iter().chain(attestations.iter().map(|(a, _)| a)) {
            registry.push_image(r, img).await.map_err(|e| {
                format!(
                    "pushing {} to {}/{}: {e}",
                    img.manifest.digest, r.host, r.repo
                )
            })?;
        }
        if indexed && !p.by_digest {
            registry.put_manifest(r, &top.digest, &top).await?;
        }
    }
    // A shard stops here: `rbake publish` writes the index and the tags once every shard
    // has pushed its platforms.
    if p.by_digest {
        return Ok(Outcome {
            manifests: images
                .iter()
                .zip(&p.platforms)
                .map(|(img, platform)| super::events::Pushed {
                    platform: platform.to_string(),
                    digest: img.manifest.digest.clone(),
                    size: img.manifest.data.len() as u64,
                    media_type: img.manifest.media_type.clone(),
                })
                .collect(),
            ..Outcome::default()
        });
    }
    // ...and only then are the tags written.
    for t in &p.tags {
        let r = Reference::parse(t)?;
        registry
            .put_manifest(&r, &r.tag, &top)
            .await
            .map_err(|e| format!("writing tag {t}: {e}"))?;
    }
    Ok(Outcome {
        digest: Some(top.digest.clone()),
        recorded: Box::new(super::events::Recorded {
            descriptor: Some((top.media_type.clone(), top.data.len() as u64)),
            // BuildKit reports a config digest for a single manifest only (not an index).
            config_digest: (!indexed).then(|| images[0].config.digest.clone()),
            build_ref: None,
        }),
        published: p.tags.clone(),
        ..Outcome::default()
    })
}

/// Remembers that the loaded tags hold this load's input key, in the engine it landed in.
pub(crate) async fn record_load(ctx: &Ctx, l: &Load, landed: Option<&str>) {
    let Some(k) = ctx.assessment.keys.get(&l.id) else {
        return;
    };
    let Some(endpoint) = landed
        .or(l.builder.as_deref())
        .and_then(|b| ctx.plan.builder(b))
        .and_then(|c| super::engine::Endpoint::of(c).ok())
    else {
        return;
    };
    let Ok(d) = endpoint.docker() else { return };
    for t in &l.tags {
        if let Ok(img) = d.inspect_image(t).await
            && let Some(id) = img.id
        {
            ctx.keys.record(&id, k);
        }
    }
}
