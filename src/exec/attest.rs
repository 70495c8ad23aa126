//! Attestations at run time. Provenance needs nothing but BuildKit; an SBOM needs its
//! generator image, which BuildKit pulls (as it does for buildx) when the engine does not
//! hold it, and runs as a scanner over the build's result. When a build with an SBOM fails
//! and the engine does not hold the generator, the failure says so: which image, which
//! builder, and how to provide it or turn the SBOM off.

use super::engine::Endpoint;
use crate::model::attest::Attest;

/// The SBOM generator images `attest` names that the engine does not hold (an engine that
/// cannot be asked counts as not holding them).
pub(crate) async fn missing_generators(endpoint: &Endpoint, attest: &[String]) -> Vec<String> {
    let generators: Vec<String> = attest
        .iter()
        .filter_map(|a| Attest::parse(a).generator())
        .collect();
    if generators.is_empty() {
        return generators;
    }
    let Ok(docker) = endpoint.docker() else {
        return generators;
    };
    let mut missing = Vec::new();
    for g in generators {
        if docker.inspect_image(&g).await.is_err() {
            missing.push(g);
        }
    }
    missing
}

/// What a failed build with an SBOM adds to its message when the engine had to pull the
/// generator.
pub fn explain_failure(message: &str, generators: &[String], builder: &str) -> String {
    let list = generators
        .iter()
        .map(|g| format!("`{g}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{message}\nthe SBOM generator image {list} is not in the image store of builder `{builder}`, so BuildKit had to pull it; if that pull is what failed, load it into that engine (`docker pull` or `docker load`), name an image the engine holds with `type=sbom,generator=IMAGE`, or turn the SBOM off (`--sbom=false`)"
    )
}
