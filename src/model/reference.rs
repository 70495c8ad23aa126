//! Image references (`tags`) by the docker reference grammar (distribution's
//! `reference.ParseNormalizedNamed`), so a tag the engine or registry would refuse is
//! reported at plan time, and `app:1`, `docker.io/library/app:1` and `app:1` written twice
//! count as one reference when looking for duplicates.

use std::sync::LazyLock;

use regex::Regex;

/// The longest repository name the grammar allows.
const NAME_MAX: usize = 255;
/// The longest tag the grammar allows.
const TAG_MAX: usize = 128;

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
    let domain = format!(r"{host}(?::[0-9]+)?");
    let path_component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let name = format!(r"(?:{domain}/)?{path_component}(?:/{path_component})*");
    // Go's `\w` is ASCII. The tag's length is checked after matching: `{0,127}` over a
    // character class made compiling this regex take 50 ms, a third of a large `plan`.
    let tag = r"[0-9A-Za-z_][0-9A-Za-z_.-]*";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(r"^({name})(?::({tag}))?(?:@({digest}))?$")).expect("valid regex")
});

/// A parsed reference, normalised as docker does (`docker.io/library/` filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, String> {
        if s.is_empty() {
            return Err("an empty string is not an image reference".into());
        }
        let Some(c) = REFERENCE.captures(s) else {
            return Err(why_invalid(s));
        };
        if c.get(2).is_some_and(|t| t.as_str().len() > TAG_MAX) {
            return Err(why_invalid(s));
        }
        let name = &c[1];
        if name.len() > NAME_MAX {
            return Err(format!(
                "the repository name is {} characters long; at most {NAME_MAX} are allowed",
                name.len()
            ));
        }
        let (domain, path) = split_domain(name);
        Ok(Reference {
            domain,
            path,
            tag: c.get(2).map(|m| m.as_str().to_string()),
            digest: c.get(3).map(|m| m.as_str().to_string()),
        })
    }

    /// The full form: `docker.io/library/app:latest`.
    pub fn normalized(&self) -> String {
        let mut s = format!("{}/{}", self.domain, self.path);
        match (&self.tag, &self.digest) {
            (Some(t), _) => s.push_str(&format!(":{t}")),
            (None, None) => s.push_str(":latest"),
            (None, Some(_)) => {}
        }
        if let Some(d) = &self.digest {
            s.push_str(&format!("@{d}"));
        }
        s
    }
}

/// The domain and path of a name, as docker splits them: the first component is a registry
/// only if it looks like a host (a dot, a port, `localhost`) and is lowercase.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if (first.contains('.') || first.contains(':') || first == "localhost")
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (domain, path)
}

/// A message saying which part of an invalid reference is wrong.
fn why_invalid(s: &str) -> String {
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return format!("`{}` contains {c:?}; references have no spaces", s.trim());
    }
    // The tag is what follows the last `:` that has no `/` after it.
    let without_digest = s.split('@').next().unwrap_or(s);
    if let Some(i) = without_digest.rfind(':')
        && !without_digest[i..].contains('/')
    {
        let tag = &without_digest[i + 1..];
        if tag.is_empty() {
            return format!("`{s}` has an empty tag after `:`");
        }
        if tag.len() > TAG_MAX {
            return format!(
                "the tag is {} characters long; at most {TAG_MAX} are allowed",
                tag.len()
            );
        }
    }
    let lower = s.to_lowercase();
    if lower != s && REFERENCE.is_match(&lower) {
        return format!("`{s}`: the repository name must be lowercase");
    }
    format!(
        "`{s}` is not a valid image reference: expected [REGISTRY/]REPOSITORY[:TAG], lowercase repository components separated by `/`, a tag of letters, digits, `_`, `.` and `-`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.normalized())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(n("x"), "docker.io/library/x:latest");
        assert_eq!(n("docker.io/library/x"), "docker.io/library/x:latest");
        assert_eq!(n("probe/app:1"), "docker.io/probe/app:1");
        assert_eq!(n("docker.io/probe/app:1"), "docker.io/probe/app:1");
        assert_eq!(n("index.docker.io/probe/app:1"), "docker.io/probe/app:1");
        assert_eq!(n("localhost:5000/a/b:v1.0"), "localhost:5000/a/b:v1.0");
        assert_eq!(n("ghcr.io/o/r"), "ghcr.io/o/r:latest");
        assert_eq!(n("[::1]:5000/a"), "[::1]:5000/a:latest");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        assert!(
            n("Probe/App:1").contains("must be lowercase"),
            "{}",
            n("Probe/App:1")
        );
        assert!(n("app: 1").contains("no spaces"));
        assert!(n("app:").contains("empty tag"));
        assert!(n("").starts_with("error"));
        assert!(n(&format!("app:{}", "a".repeat(200))).contains("at most 128"));
        assert!(n(&format!("a/{}", "b".repeat(300))).contains("at most 255"));
        assert!(n("a//b").starts_with("error"));
        assert!(
            n("app:é").starts_with("error"),
            "tags are ASCII, as Go's \\w"
        );
        let longest = format!("app:{}", "a".repeat(128));
        assert_eq!(n(&longest), format!("docker.io/library/{longest}"));
    }
}
