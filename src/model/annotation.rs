//! bake's `annotations` entries, parsed: where each goes and what it says.

/// Where an annotation goes, parsed from bake's `[TYPE[\[PLATFORM\]]:]KEY=VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// `index` or `manifest` (the default); descriptor annotations are not supported.
    pub on_index: bool,
    /// `manifest[linux/arm64]:...` applies to that platform's manifest only.
    pub platform: Option<String>,
    pub key: String,
    pub value: String,
}

impl Annotation {
    pub fn parse(spec: &str) -> Result<Annotation, String> {
        let (kv_start, on_index, platform) = match spec.split_once(':') {
            Some((ty, _)) if ty == "index" => (ty.len() + 1, true, None),
            Some((ty, _)) if ty == "manifest" => (ty.len() + 1, false, None),
            Some((ty, _)) if ty.starts_with("manifest[") && ty.ends_with(']') => (
                ty.len() + 1,
                false,
                Some(ty["manifest[".len()..ty.len() - 1].to_string()),
            ),
            Some((ty, _)) if ty.ends_with("-descriptor") => {
                return Err(format!(
                    "`{ty}` annotations are not supported; use `index:` or `manifest:`"
                ));
            }
            _ => (0, false, None),
        };
        let (key, value) = spec[kv_start..]
            .split_once('=')
            .ok_or_else(|| format!("annotation `{spec}` is not KEY=VALUE"))?;
        Ok(Annotation {
            on_index,
            platform,
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}
