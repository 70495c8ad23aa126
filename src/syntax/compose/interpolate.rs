//! Interpolation, ported from compose-go's `template` package, quirks included.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::CODE;
use super::yaml::{Locator, Node};
use crate::source::{Diag, Diags};

/// The variables interpolation sees: the caller's environment plus `COMPOSE_PROJECT_NAME`,
/// which compose-go adds when it is unset (buildx names the project `bake`).
pub(super) struct Env<'a> {
    vars: &'a BTreeMap<String, String>,
    project: String,
}

impl<'a> Env<'a> {
    pub(super) fn new(vars: &'a BTreeMap<String, String>, root: &Node) -> Env<'a> {
        // A `name:` in the file renames the project, after its own interpolation.
        let lookup = |k: &str| vars.get(k).cloned();
        let named = root
            .get("name")
            .and_then(Node::text)
            .and_then(|n| substitute(&n, &lookup).ok());
        let project = named
            .map(|n| normalize_project_name(&n))
            .filter(|n| !n.is_empty());
        Env {
            vars,
            project: project.unwrap_or_else(|| "bake".to_string()),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        match self.vars.get(key) {
            Some(v) => Some(v.clone()),
            None if key == "COMPOSE_PROJECT_NAME" => Some(self.project.clone()),
            None => None,
        }
    }
}

pub(super) fn normalize_project_name(s: &str) -> String {
    let kept: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Interpolates every string value (never keys), collecting one diagnostic per bad value.
pub(super) fn interpolate(
    node: Node,
    env: &Env,
    loc: &Locator,
    path: &mut Vec<String>,
    diags: &mut Diags,
) -> Node {
    match node {
        Node::Str(s) => match substitute(&s, &|k| env.get(k)) {
            Ok(out) => Node::Str(out),
            Err(e) => {
                let span = loc.key(&path.iter().map(String::as_str).collect::<Vec<_>>());
                let d = match e {
                    SubstError::Invalid => Diag::error(
                        CODE,
                        format!("invalid interpolation format in `{s}`"),
                    )
                    .label(span, "in this value")
                    .help("write variables as `${NAME}` or `$NAME`, and a literal `$` as `$$`"),
                    SubstError::Missing { var, reason } => {
                        let why = if reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {reason}")
                        };
                        Diag::error(
                            CODE,
                            format!("required variable `{var}` is missing a value{why}"),
                        )
                        .label(span, "required here")
                        .help(format!(
                            "set `{var}` in the environment or in a `.env` file"
                        ))
                    }
                };
                diags.push(d);
                Node::Str(s)
            }
        },
        Node::List(items) => {
            path.push("[]".to_string());
            let out = items
                .into_iter()
                .map(|i| interpolate(i, env, loc, path, diags))
                .collect();
            path.pop();
            Node::List(out)
        }
        Node::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    path.push(k.clone());
                    let v = interpolate(v, env, loc, path, diags);
                    path.pop();
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

#[derive(Debug, PartialEq)]
pub(super) enum SubstError {
    Invalid,
    Missing { var: String, reason: String },
}

pub(super) static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))")
        .expect("the interpolation pattern is valid")
});

pub(super) type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

pub(super) fn substitute(template: &str, lookup: &Lookup) -> Result<String, SubstError> {
    let mut first_err = None;
    let out = PATTERN.replace_all(template, |caps: &Captures| {
        let whole = caps.get(0).map_or("", |m| m.as_str());
        replace(whole, lookup).unwrap_or_else(|e| {
            first_err.get_or_insert(e);
            String::new()
        })
    });
    match first_err {
        Some(e) => Err(e),
        None => Ok(out.into_owned()),
    }
}

/// One match of [`PATTERN`]. Compat: the braced form's `(.*)` is greedy, so a match runs to the
/// last `}` on the line; compose-go cuts it at the first balanced `}` and interpolates the rest
/// separately, and picks the modifier by the first separator in the whole match.
pub(super) fn replace(whole: &str, lookup: &Lookup) -> Result<String, SubstError> {
    let sep = [":?", "?", ":-", "-", ":+", "+"]
        .into_iter()
        .filter_map(|s| whole.find(s).map(|i| (i, s)))
        .min()
        .map(|(_, s)| s);
    let (head, rest) = match closing_brace(whole) {
        Some(i) => (&whole[..=i], &whole[i + 1..]),
        None => (whole, ""),
    };
    let caps = PATTERN.captures(head).ok_or(SubstError::Invalid)?;
    let group = |name: &str| caps.name(name).map_or("", |m| m.as_str());
    if !group("escaped").is_empty() {
        return Ok("$".to_string());
    }
    let (name, braced) = match group("named") {
        "" => (group("braced"), true),
        named => (named, false),
    };
    if name.is_empty() {
        return Err(SubstError::Invalid);
    }
    if braced
        && let Some(sep) = sep
        && let Some(value) = modifier(name, sep, lookup)?
    {
        return Ok(value + &substitute(rest, lookup)?);
    }
    Ok(lookup(name).unwrap_or_default())
}

/// Applies `${NAME<sep>ARG}`; `None` when `sep` is not in the substitution.
pub(super) fn modifier(
    substitution: &str,
    sep: &str,
    lookup: &Lookup,
) -> Result<Option<String>, SubstError> {
    let Some((name, arg)) = substitution.split_once(sep) else {
        return Ok(None);
    };
    let arg = substitute(arg, lookup)?;
    let value = lookup(name);
    let set_and_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(Some(match sep {
        ":?" | "?" => match value {
            Some(v) if sep == "?" || set_and_nonempty => v,
            _ => {
                return Err(SubstError::Missing {
                    var: name.to_string(),
                    reason: arg,
                });
            }
        },
        ":-" if !set_and_nonempty => arg,
        "-" if value.is_none() => arg,
        ":+" if set_and_nonempty => arg,
        "+" if value.is_some() => arg,
        _ => value.unwrap_or_default(),
    }))
}

/// compose-go's `getFirstBraceClosingIndex`: the `}` that closes the first `{`, skipping the
/// character after each `{` as it does.
pub(super) fn closing_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut open = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}
