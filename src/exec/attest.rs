//! Attestations at run time. Provenance needs nothing but BuildKit; an SBOM needs its
//! generator image (BuildKit runs it as a scanner over the build's result). rbake never lets
//! a build pull that image behind the user's back: it must already be in the image store
//! of the engine the build runs on, and a build that would need it otherwise fails before
//! its solve starts, saying which image and which engine.

use super::engine::{Endpoint, error_chain};
use crate::model::attest::Attest;

/// Fails unless every SBOM generator `attest` names is in the engine's image store.
pub(crate) async fn require_generators(
    endpoint: &Endpoint,
    builder: &str,
    attest: &[String],
) -> Result<(), String> {
    let generators: Vec<String> = attest
        .iter()
        .filter_map(|a| Attest::parse(a).generator())
        .collect();
    if generators.is_empty() {
        return Ok(());
    }
    let docker = endpoint.docker()?;
    for g in generators {
        match docker.inspect_image(&g).await {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(missing(&g, builder)),
            Err(e) => {
                return Err(format!(
                    "cannot look up the SBOM generator image `{g}` in builder `{builder}`: {}",
                    error_chain(&e)
                ));
            }
        }
    }
    Ok(())
}

/// The message for a generator the engine does not hold.
pub fn missing(generator: &str, builder: &str) -> String {
    format!(
        "the SBOM generator image `{generator}` is not in the image store of builder `{builder}`, and rbake does not let a build pull it; load it into that engine first (`docker pull {generator}` or `docker load`), name an image the engine holds with `type=sbom,generator=IMAGE`, or turn the SBOM off (`--sbom=false`)"
    )
}
