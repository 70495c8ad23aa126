//! bake's `attest` entries (`type=provenance,mode=max`, `type=sbom,generator=IMAGE`,
//! `type=sbom,disabled=true`), read as buildx reads them before sending each enabled one to
//! BuildKit as the frontend attribute `attest:TYPE` with the entry as its value.

use crate::base::csv_fields;

/// BuildKit 0.13's default SBOM generator, used when an `sbom` entry names none.
pub const DEFAULT_SBOM_GENERATOR: &str = "docker/buildkit-syft-scanner:stable-1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attest {
    /// `provenance`, `sbom`, ... (empty when the entry has no `type`).
    pub kind: String,
    pub disabled: bool,
    /// The entry as written: what buildx sends as the attribute's value.
    pub spec: String,
}

impl Attest {
    /// Fields are `KEY=VALUE` (`resolve::attest_invalid` has refused anything else).
    pub fn parse(spec: &str) -> Attest {
        let mut a = Attest {
            kind: String::new(),
            disabled: false,
            spec: spec.to_string(),
        };
        for f in csv_fields(spec, ',').unwrap_or_default() {
            match f.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("type") => a.kind = v.to_string(),
                Some((k, v)) if k.eq_ignore_ascii_case("disabled") => {
                    a.disabled = matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
                }
                _ => {}
            }
        }
        a
    }

    /// The frontend attribute buildx sends for it.
    pub fn attribute(&self) -> String {
        format!("attest:{}", self.kind)
    }

    /// An option's value (`generator`, `mode`, ...).
    pub fn option(&self, key: &str) -> Option<String> {
        csv_fields(&self.spec, ',')
            .unwrap_or_default()
            .into_iter()
            .find_map(|f| {
                f.split_once('=')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v.to_string())
            })
    }

    /// The SBOM generator image this entry needs, if it is an SBOM.
    pub fn generator(&self) -> Option<String> {
        (self.kind == "sbom").then(|| {
            self.option("generator")
                .unwrap_or_else(|| DEFAULT_SBOM_GENERATOR.into())
        })
    }
}

/// The entries that ask for an attestation (with a type, not disabled), in order.
pub fn enabled<'a>(specs: impl IntoIterator<Item = &'a str>) -> Vec<Attest> {
    specs
        .into_iter()
        .map(Attest::parse)
        .filter(|a| !a.disabled && !a.kind.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_as_buildx_reads_them() {
        let on = enabled([
            "type=provenance,mode=max",
            "type=sbom,disabled=true",
            "type=sbom,generator=127.0.0.1:5000/scanner:1",
            "mode=max",
        ]);
        assert_eq!(on.len(), 2);
        assert_eq!(on[0].attribute(), "attest:provenance");
        assert_eq!(on[0].spec, "type=provenance,mode=max");
        assert_eq!(on[0].generator(), None);
        assert_eq!(
            on[1].generator().as_deref(),
            Some("127.0.0.1:5000/scanner:1")
        );
        assert_eq!(
            Attest::parse("type=sbom").generator().as_deref(),
            Some(DEFAULT_SBOM_GENERATOR)
        );
        assert!(Attest::parse("type=provenance,disabled=true").disabled);
    }
}
