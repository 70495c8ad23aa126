//! Translates a plan's build node into Dockerfile-frontend attributes, the way buildx does.

use std::collections::HashMap;

use bollard_buildkit_proto::moby::buildkit::v1::CacheOptionsEntry;

use super::error::Error;
use crate::base::csv_fields;
use crate::plan::Build;

/// Frontend attributes for everything but the context, filename and platform.
pub fn attrs(b: &Build) -> Result<HashMap<String, String>, Error> {
    let mut a = HashMap::new();
    for (k, v) in &b.args {
        a.insert(format!("build-arg:{k}"), v.clone());
    }
    for (k, v) in &b.labels {
        a.insert(format!("label:{k}"), v.clone());
    }
    if let Some(s) = &b.stage {
        a.insert("target".into(), s.clone());
    }
    if b.no_cache {
        a.insert("no-cache".into(), String::new());
    } else if !b.no_cache_filter.is_empty() {
        a.insert("no-cache".into(), b.no_cache_filter.join(","));
    }
    if b.pull {
        a.insert("image-resolve-mode".into(), "pull".into());
    }
    match b.network.as_deref() {
        None | Some("default") | Some("") => {}
        Some(n) => {
            a.insert("force-network-mode".into(), n.to_string());
        }
    }
    if !b.extra_hosts.is_empty() {
        let hosts: Vec<String> = b
            .extra_hosts
            .iter()
            .map(|(h, ip)| format!("{h}={ip}"))
            .collect();
        a.insert("add-hosts".into(), hosts.join(","));
    }
    if let Some(s) = &b.shm_size {
        a.insert("shm-size".into(), mem_bytes(s)?.to_string());
    }
    if !b.ulimits.is_empty() {
        a.insert("ulimit".into(), b.ulimits.join(","));
    }
    for spec in &b.attest {
        let at = crate::model::attest::Attest::parse(spec);
        a.insert(at.attribute(), at.spec);
    }
    Ok(a)
}

/// Docker's `MemBytes`: `128m`, `1g`, `512k`, or plain bytes.
pub fn mem_bytes(s: &str) -> Result<u64, Error> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| Error::Size(s.to_string()))?;
    Ok((n * mult as f64) as u64)
}

/// A `cache-from`/`cache-to` spec as BuildKit's cache entry.
pub fn cache_entry(spec: &str) -> Result<CacheOptionsEntry, Error> {
    let cache = |why: String| Error::Cache {
        spec: spec.to_string(),
        why,
    };
    let fields = csv_fields(spec, ',').map_err(cache)?;
    let mut attrs = HashMap::new();
    let mut ty = String::from("registry");
    if fields.len() == 1 && !fields[0].contains('=') {
        attrs.insert("ref".into(), fields[0].clone());
    } else {
        for f in fields {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| cache(format!("`{f}` is not key=value")))?;
            if k == "type" {
                ty = v.to_string();
            } else {
                attrs.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(CacheOptionsEntry { r#type: ty, attrs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(mem_bytes("128m").unwrap(), 128 << 20);
        assert_eq!(mem_bytes("1024").unwrap(), 1024);
        assert_eq!(
            mem_bytes("lots").unwrap_err().to_string(),
            "`lots` is not a size like 128m"
        );
    }

    #[test]
    fn cache_specs() {
        let e = cache_entry("type=local,src=/c").unwrap();
        assert_eq!(
            (e.r#type.as_str(), e.attrs["src"].as_str()),
            ("local", "/c")
        );
        assert_eq!(
            cache_entry("user/app:cache").unwrap().attrs["ref"],
            "user/app:cache"
        );
        assert_eq!(
            cache_entry("type=registry,ref").unwrap_err().to_string(),
            "cache `type=registry,ref`: `ref` is not key=value"
        );
    }
}
