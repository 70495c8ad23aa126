//! Local tags for per-platform loads, from a minijinja template (the target's `local-tag`).

use minijinja::{Environment, UndefinedBehavior, context};

use crate::model::Platform;

/// `<tag>-<os>-<arch>[-<variant>]`.
pub const DEFAULT: &str = "{{ tag }}-{{ platform }}";

/// Renders the local tag for one platform. A reference without a tag is taken as `:latest`.
pub fn render(template: Option<&str>, tag: &str, p: &Platform) -> Result<String, String> {
    let (repo, version) = split_tag(tag);
    let full = format!("{repo}:{version}");
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let out = env
        .render_str(
            template.unwrap_or(DEFAULT),
            context! {
                tag => full,
                repo => repo,
                version => version,
                os => p.os.clone(),
                arch => p.arch.clone(),
                variant => p.variant.clone().unwrap_or_default(),
                platform => p.slug(),
            },
        )
        .map_err(|e| explain(template.unwrap_or(DEFAULT), &e))?;
    let out = out.trim().to_string();
    if out.is_empty() || out.contains(char::is_whitespace) {
        return Err(format!(
            "it rendered `{out}`, which is not an image reference"
        ));
    }
    Ok(out)
}

const KNOWN: &[&str] = &[
    "tag", "repo", "version", "os", "arch", "variant", "platform",
];

/// A template error in the user's terms: which name is undefined, or minijinja's reason
/// without its internal location.
fn explain(template: &str, e: &minijinja::Error) -> String {
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        let re = regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("valid regex");
        let mut unknown: Vec<&str> = Vec::new();
        for block in template.split("{{").skip(1) {
            let expr = block.split("}}").next().unwrap_or_default();
            // Only the first name of each expression is a variable; later ones are filters.
            if let Some(m) = re.find(expr.trim_start_matches('-'))
                && !KNOWN.contains(&m.as_str())
                && !unknown.contains(&m.as_str())
            {
                unknown.push(m.as_str());
            }
        }
        if !unknown.is_empty() {
            return format!(
                "{} is not defined",
                unknown
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

/// Splits `registry:5000/repo:tag` into repository and tag (the port is not a tag).
pub fn split_tag(reference: &str) -> (String, String) {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (name[..i].to_string(), name[i + 1..].to_string()),
        _ => (name.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: Option<&str>, tag: &str, p: &str) -> Result<String, String> {
        render(t, tag, &Platform::parse(p).unwrap())
    }

    #[test]
    fn default_appends_the_platform() {
        assert_eq!(
            r(None, "demo/hello:1.0", "linux/arm/v7").unwrap(),
            "demo/hello:1.0-linux-arm-v7"
        );
        assert_eq!(
            r(None, "127.0.0.1:5000/hello", "linux/arm64").unwrap(),
            "127.0.0.1:5000/hello:latest-linux-arm64"
        );
    }

    #[test]
    fn templates_see_the_parts() {
        assert_eq!(
            r(
                Some("{{ repo }}-{{ arch }}:{{ version }}"),
                "demo/hello:1.0",
                "linux/amd64"
            )
            .unwrap(),
            "demo/hello-amd64:1.0"
        );
        assert!(r(Some("{{ nope }}"), "a:b", "linux/amd64").is_err());
    }
}
