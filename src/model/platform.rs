//! OCI platforms (`linux/arm/v7`), normalised as containerd does, so `linux/arm` and
//! `linux/arm/v7`, or `linux/arm64/v8` and `linux/arm64`, compare equal.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parses and normalises `os/arch[/variant]` (or a bare `arch`, taken as linux).
    pub fn parse(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => {
                return Err(format!(
                    "`{s}` is not a platform; expected os/arch[/variant]"
                ));
            }
        };
        if os.is_empty() || arch.is_empty() || variant.is_some_and(str::is_empty) {
            return Err(format!(
                "`{s}` is not a platform; expected os/arch[/variant]"
            ));
        }
        let ok = |x: &str| {
            x.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        if !ok(os) || !ok(arch) || !variant.is_none_or(ok) {
            return Err(format!(
                "`{s}` is not a platform; expected os/arch[/variant]"
            ));
        }
        let os = os.to_ascii_lowercase();
        let (arch, variant) = normalize_arch(
            &arch.to_ascii_lowercase(),
            variant.map(str::to_ascii_lowercase),
        );
        Ok(Platform { os, arch, variant })
    }

    /// The platform with `-` instead of `/`, for tags and file names: `linux-arm-v7`.
    pub fn slug(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}-{}-{v}", self.os, self.arch),
            None => format!("{}-{}", self.os, self.arch),
        }
    }
}

fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match arch {
        "i386" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            Some(match variant.as_deref() {
                None | Some("7") => "v7".into(),
                Some("5") | Some("6") | Some("8") => format!("v{}", variant.unwrap_or_default()),
                Some(v) => v.to_string(),
            }),
        ),
        other => (other.to_string(), variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.variant {
            Some(v) => write!(f, "{}/{}/{v}", self.os, self.arch),
            None => write!(f, "{}/{}", self.os, self.arch),
        }
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl schemars::JsonSchema for Platform {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Platform".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An OCI platform, os/arch[/variant], normalised (e.g. linux/arm/v7)",
            "pattern": "^[a-z0-9_.-]+/[a-z0-9_.-]+(/[a-z0-9_.-]+)?$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        Platform::parse(s)
            .map(|p| p.to_string())
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn normalises_like_containerd() {
        assert_eq!(p("linux/arm"), "linux/arm/v7");
        assert_eq!(p("linux/arm64/v8"), "linux/arm64");
        assert_eq!(p("arm64"), "linux/arm64");
        assert_eq!(p("linux/x86_64"), "linux/amd64");
        assert_eq!(p("Linux/AMD64"), "linux/amd64");
        assert!(p("linux/").contains("not a platform"));
        assert!(p("a/b/c/d").contains("not a platform"));
    }

    #[test]
    fn slugs_for_tags() {
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().slug(),
            "linux-arm-v7"
        );
    }
}
