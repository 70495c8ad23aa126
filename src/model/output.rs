//! Output, cache, secret and ssh specs in bake's CSV form (`type=registry,ref=...`), parsed into
//! what the planner needs to know.

use std::collections::BTreeMap;

use crate::base::csv_fields;

/// Where a build's result goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// Pushed to a registry (`type=registry`, or `type=image` with `push=true`).
    Registry,
    /// Loaded into the builder's engine (`type=docker`, or `type=image` without push).
    Docker,
    Local,
    Tar,
    Oci,
    /// Kept in the build cache only.
    CacheOnly,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub kind: OutputKind,
    pub attrs: BTreeMap<String, String>,
}

impl Output {
    /// Parses one output spec. A bare path means `type=local,dest=PATH`, as in buildx.
    pub fn parse(spec: &str) -> Result<Output, String> {
        let fields = csv_fields(spec, ',')?;
        let mut attrs = BTreeMap::new();
        if fields.len() == 1 && !fields[0].contains('=') {
            let dest = fields[0].clone();
            if dest == "-" {
                return Err(
                    "an output to stdout (`-`) cannot be planned; give `type=tar,dest=FILE`".into(),
                );
            }
            attrs.insert("dest".into(), dest);
            return Ok(Output {
                kind: OutputKind::Local,
                attrs,
            });
        }
        for f in fields {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| format!("`{f}` is not key=value"))?;
            attrs.insert(k.trim().to_ascii_lowercase(), v.to_string());
        }
        let ty = attrs
            .get("type")
            .cloned()
            .ok_or("an output needs `type=...`")?;
        let push = attrs
            .get("push")
            .map(|p| matches!(p.as_str(), "true" | "1" | "True" | "TRUE" | "t"));
        let kind = match ty.as_str() {
            "registry" => OutputKind::Registry,
            "image" if push == Some(true) => OutputKind::Registry,
            "image" | "docker" | "moby" => OutputKind::Docker,
            "local" => OutputKind::Local,
            "tar" => OutputKind::Tar,
            "oci" => OutputKind::Oci,
            "cacheonly" => OutputKind::CacheOnly,
            other => {
                return Err(format!(
                    "unknown output type `{other}`; use registry, docker, image, local, tar, oci or cacheonly"
                ));
            }
        };
        Ok(Output { kind, attrs })
    }

    pub fn dest(&self) -> Option<&str> {
        self.attrs.get("dest").map(String::as_str)
    }

    /// Image names given on the output itself (`name=a,b`), added to the target's tags.
    pub fn names(&self) -> Vec<String> {
        self.attrs
            .get("name")
            .map(|n| {
                n.split(',')
                    .map(str::to_string)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The `type` of a cache spec (`cache-to`/`cache-from`); a bare reference is `registry`.
pub fn cache_type(spec: &str) -> String {
    let fields = csv_fields(spec, ',').unwrap_or_default();
    if fields.len() == 1 && !fields[0].contains('=') {
        return "registry".into();
    }
    fields
        .iter()
        .find_map(|f| f.strip_prefix("type="))
        .unwrap_or("registry")
        .to_string()
}

/// A secret spec: `id=NAME,src=FILE`, `id=NAME,env=VAR`, or `type=file|env,...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretSpec {
    pub id: String,
    pub source: SecretSource,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    File(String),
    Env(String),
}

impl SecretSpec {
    pub fn parse(spec: &str) -> Result<SecretSpec, String> {
        let mut id = None;
        let mut ty = None;
        let mut src = None;
        let mut env = None;
        for f in csv_fields(spec, ',')? {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| format!("`{f}` is not key=value"))?;
            match k.trim() {
                "id" => id = Some(v.to_string()),
                "type" => ty = Some(v.to_string()),
                "src" | "source" => src = Some(v.to_string()),
                "env" => env = Some(v.to_string()),
                other => return Err(format!("unknown secret field `{other}`")),
            }
        }
        let id = id
            .or_else(|| src.clone())
            .or_else(|| env.clone())
            .ok_or("a secret needs `id=`")?;
        let source = match (ty.as_deref(), src, env) {
            (Some("env"), src, env) => SecretSource::Env(env.or(src).unwrap_or_else(|| id.clone())),
            (_, Some(src), _) => SecretSource::File(src),
            (_, None, Some(env)) => SecretSource::Env(env),
            // Without a source, buildkit reads an environment variable named like the id
            // (and falls back to nothing): bake treats it as an env secret.
            (_, None, None) => SecretSource::Env(id.clone()),
        };
        Ok(SecretSpec { id, source })
    }
}

/// An `ssh` entry as buildx reads it: `ID` alone (the agent at `$SSH_AUTH_SOCK`), or
/// `ID=PATH[,PATH...]`, each path an agent socket or a private key file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSpec {
    pub id: String,
    pub paths: Vec<String>,
}

impl SshSpec {
    /// Compat: buildx splits at the first `=` and the paths at every `,`, with no quoting.
    pub fn parse(spec: &str) -> SshSpec {
        match spec.split_once('=') {
            Some((id, paths)) => SshSpec {
                id: id.to_string(),
                paths: paths.split(',').map(str::to_string).collect(),
            },
            None => SshSpec {
                id: spec.to_string(),
                paths: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse() {
        assert_eq!(
            Output::parse("type=registry").unwrap().kind,
            OutputKind::Registry
        );
        assert_eq!(
            Output::parse("type=image,push=true").unwrap().kind,
            OutputKind::Registry
        );
        assert_eq!(
            Output::parse("type=image").unwrap().kind,
            OutputKind::Docker
        );
        assert_eq!(Output::parse("out/dir").unwrap().dest(), Some("out/dir"));
        assert!(Output::parse("type=bogus").is_err());
    }

    #[test]
    fn ssh_specs_parse_as_buildx() {
        assert_eq!(SshSpec::parse("default").paths, Vec::<String>::new());
        let s = SshSpec::parse("git=/k/a,keys/b");
        assert_eq!(
            (s.id.as_str(), s.paths),
            ("git", vec!["/k/a".to_string(), "keys/b".into()])
        );
    }

    #[test]
    fn secrets_parse() {
        assert_eq!(
            SecretSpec::parse("id=a,src=f").unwrap().source,
            SecretSource::File("f".into())
        );
        assert_eq!(
            SecretSpec::parse("id=api,env=API_KEY").unwrap().source,
            SecretSource::Env("API_KEY".into())
        );
        assert_eq!(
            SecretSpec::parse("type=env,id=TOKEN").unwrap().source,
            SecretSource::Env("TOKEN".into())
        );
    }
}
