//! `--set TARGET.KEY=VALUE`: parsed into overrides (each `--set` is its own source, so a bad
//! one gets a caret under its own characters) and applied after `inherits`, as bake does.

use std::collections::BTreeMap;

use regex::Regex;

use crate::base::did_you_mean;
use crate::model::{Attr, AttrValue, Item, Target};
use crate::source::{Diag, Origin, SourceMap, Span};
use crate::spec::attrs::{self, AttrDef, Set, Shape, TARGET_ATTRS};

/// The attribute an override writes.
#[derive(Clone, Debug)]
pub enum Key {
    Attr {
        def: &'static AttrDef,
        entry: Option<String>,
    },
    /// `push=true|false` rewrites the image outputs.
    Push,
    /// `load=true` adds a `type=docker` output.
    Load,
}

#[derive(Clone, Debug)]
pub struct Override {
    pub pattern: String,
    pub pattern_span: Span,
    pub key: Key,
    /// `TARGET.KEY` without the pattern, e.g. `args.VERSION`, identifying repeated sets.
    pub key_text: String,
    pub key_span: Span,
    pub value: Option<Item>,
    /// `KEY+=VALUE`: append to the attribute instead of replacing it.
    pub append: bool,
}

/// Parses one `--set` argument.
pub fn parse(
    text: &str,
    sources: &mut SourceMap,
    env: &BTreeMap<String, String>,
) -> Result<Option<Override>, Diag> {
    parse_from("--set", text, sources, env)
}

/// Parses an override that a command-line flag stands for (`--push` is `--set=*.push=true`),
/// as a source named after the flag, so a diagnostic says which flag wrote it.
pub fn parse_from(
    origin: &str,
    text: &str,
    sources: &mut SourceMap,
    env: &BTreeMap<String, String>,
) -> Result<Option<Override>, Diag> {
    let file = sources.add(origin, format!("--set {text}"), Origin::Set);
    let base = "--set ".len();
    let whole = Span::new(file, base..base + text.len());
    let (lhs, value) = match text.split_once('=') {
        Some((l, v)) => (l, Some(v)),
        None => (text, None),
    };
    let (lhs, append) = match lhs.strip_suffix('+') {
        Some(l) => (l, true),
        None => (lhs, false),
    };
    let parts: Vec<&str> = lhs.splitn(3, '.').collect();
    if parts.len() < 2 || parts[0].is_empty() {
        return Err(
            Diag::error("set::syntax", format!("invalid override `{text}`"))
                .label(whole, "expected TARGET.KEY=VALUE")
                .help("write e.g. `--set app.tags=acme/app:dev` or `--set *.platform=linux/arm64`"),
        );
    }
    let pattern_span = Span::new(file, base..base + parts[0].len());
    let key_start = base + parts[0].len() + 1;
    let key_span = Span::new(file, key_start..base + lhs.len());
    let key_text = lhs[parts[0].len() + 1..].to_string();
    let value_span = Span::new(
        file,
        base + text.len() - value.map_or(0, str::len)..base + text.len(),
    );
    let key = match parts[1] {
        "push" => Key::Push,
        "load" => Key::Load,
        k => {
            let Some(def) = attrs::target_attr_by_set_key(k) else {
                let keys: Vec<&str> = TARGET_ATTRS
                    .iter()
                    .filter(|d| d.set != Set::Never)
                    .map(|d| d.set_key)
                    .chain(["push", "load"])
                    .collect();
                return Err(
                    Diag::error("set::unknown_key", format!("`{k}` cannot be set"))
                        .label(
                            Span::new(file, key_start..key_start + k.len()),
                            "unknown key",
                        )
                        .help(match did_you_mean(k, keys.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("settable keys: {}", keys.join(", ")),
                        }),
                );
            };
            if def.set == Set::Never {
                return Err(Diag::error(
                    "set::unknown_key",
                    format!("`{k}` cannot be set from the command line"),
                )
                .label(key_span, "not overridable")
                .help("change it in the bake file instead"));
            }
            let entry = parts.get(2).map(|s| s.to_string());
            if def.set == Set::Entry && entry.is_none() {
                return Err(Diag::error(
                    "set::missing_name",
                    format!("`{k}` needs a name: `{k}.NAME=VALUE`"),
                )
                .label(key_span, "missing `.NAME`")
                .help(format!("write e.g. `--set {}.{k}.NAME=value`", parts[0])));
            }
            if append && def.shape != Shape::List {
                return Err(Diag::error(
                    "set::append",
                    format!("`+=` only works on list attributes, not `{k}`"),
                )
                .label(key_span, "not a list")
                .help(format!("use `--set {}.{key_text}=VALUE`", parts[0])));
            }
            Key::Attr { def, entry }
        }
    };
    let value = match value {
        Some(v) => Some(Item {
            value: v.to_string(),
            span: value_span,
        }),
        None => {
            // `--set t.args.NAME` takes the value from the environment, or is skipped.
            let is_arg = matches!(&key, Key::Attr { def, entry: Some(_) } if def.key == "args");
            if !is_arg {
                return Err(
                    Diag::error("set::syntax", format!("override `{text}` has no value"))
                        .label(whole, "expected TARGET.KEY=VALUE")
                        .help(format!("write `--set {text}=VALUE`")),
                );
            }
            match env.get(parts[2]) {
                Some(v) => Some(Item {
                    value: v.clone(),
                    span: whole,
                }),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(Override {
        pattern: parts[0].to_string(),
        pattern_span,
        key,
        key_text,
        key_span,
        value,
        append,
    }))
}

/// The targets a pattern names: an exact name, else every name the glob matches.
pub fn expand<'a>(pattern: &str, names: impl Iterator<Item = &'a String> + Clone) -> Vec<String> {
    if names.clone().any(|n| n == pattern) {
        return vec![pattern.to_string()];
    }
    let Some(re) = glob_regex(pattern) else {
        return Vec::new();
    };
    names.filter(|n| re.is_match(n)).cloned().collect()
}

/// Go's `path.Match` syntax (`*`, `?`, `[...]`) as a regex.
fn glob_regex(pattern: &str) -> Option<Regex> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') || chars.peek() == Some(&'!') {
                    chars.next();
                    re.push('^');
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' || c == '[' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                re.push(']');
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).ok()
}

/// Applies the overrides for one target.
///
/// Compat: bake 0.13 gathers a target's overrides in a map keyed by `KEY` (`output`,
/// `args.A`, `push`): a repeated list key collects every value, any other key keeps its last
/// value, and each key is applied once. Go iterates that small map in insertion order nearly
/// always (a random rotation of it otherwise), so rbake applies each key at its first
/// occurrence. The order shows where `push` meets `output`: `--set *.output=... --push`
/// (what `--push` appends) pushes the new output, `--set *.push=true --set *.output=...`
/// replaces the pushed one.
pub fn apply(t: &mut Target, overrides: &[&Override]) -> Result<(), Diag> {
    let mut keys: Vec<(&str, Vec<&Override>)> = Vec::new();
    for o in overrides.iter().filter(|o| o.value.is_some()) {
        match keys.iter_mut().find(|(k, _)| *k == o.key_text) {
            Some((_, same)) => same.push(o),
            None => keys.push((&o.key_text, vec![o])),
        }
    }
    for (_, same) in keys {
        let (first, last) = (same[0], same[same.len() - 1]);
        let Some(value) = &last.value else { continue };
        match &last.key {
            Key::Push => push(t, value, last)?,
            Key::Load => load(t, value, last)?,
            Key::Attr { def, entry } => match def.set {
                Set::Value => t.set_def(
                    def,
                    Some(Attr {
                        value: AttrValue::Str(value.value.clone()),
                        span: value.span,
                    }),
                ),
                Set::Bool => {
                    // A bad value is an error wherever it stands, not only the last one.
                    for o in &same {
                        bool_value(o.value.as_ref().unwrap_or(value), def.key)?;
                    }
                    let b = bool_value(value, def.key)?;
                    t.set_def(
                        def,
                        Some(Attr {
                            value: AttrValue::Bool(b),
                            span: value.span,
                        }),
                    );
                }
                Set::Entry => {
                    let name = entry.clone().unwrap_or_default();
                    let mut m = match t.get_def(def).map(|a| &a.value) {
                        Some(AttrValue::Map(m)) => m.clone(),
                        _ => BTreeMap::new(),
                    };
                    m.insert(name, Some(value.clone()));
                    t.set_def(
                        def,
                        Some(Attr {
                            value: AttrValue::Map(m),
                            span: value.span,
                        }),
                    );
                }
                Set::List | Set::AppendList => {
                    let span = first.value.as_ref().map_or(value.span, |v| v.span);
                    let mut list = if first.append || def.set == Set::AppendList {
                        t.list(def.key).to_vec()
                    } else {
                        Vec::new()
                    };
                    list.extend(same.iter().filter_map(|o| o.value.clone()));
                    t.set_def(
                        def,
                        Some(Attr {
                            value: AttrValue::List(list),
                            span,
                        }),
                    );
                }
                Set::Ignored | Set::Never => {}
            },
        }
    }
    Ok(())
}

/// `push=BOOL` (what `--push` stands for) rewrites the outputs.
///
/// Compat: bake 0.13.1 appends `,push=BOOL` to every `image`/`registry` output without
/// looking for one already there, and applies overrides to each parent as well as to the
/// target, so a target inheriting `type=image,name=x` prints `type=image,name=x,push=true,
/// push=true` under `--push`. rbake prints the same (recorded in
/// `tests/fixtures/bake-flags/push.json`); BuildKit reads the repeated key as one.
fn push(t: &mut Target, value: &Item, o: &Override) -> Result<(), Diag> {
    bool_value(value, "push")?;
    let def = attrs::target_attr("output").expect("output is a target attribute");
    let mut outputs = t.list("output").to_vec();
    if outputs.is_empty() {
        outputs.push(Item {
            value: "type=image,push=true".into(),
            span: value.span,
        });
    } else {
        for out in &mut outputs {
            let ty = output_type(&out.value);
            if ty == "image" || ty == "registry" {
                out.value = format!("{},push={}", out.value, value.value);
            }
        }
    }
    let _ = o;
    t.set_def(
        def,
        Some(Attr {
            value: AttrValue::List(outputs),
            span: value.span,
        }),
    );
    Ok(())
}

fn load(t: &mut Target, value: &Item, _o: &Override) -> Result<(), Diag> {
    let on = bool_value(value, "load")?;
    let def = attrs::target_attr("output").expect("output is a target attribute");
    let mut outputs = t.list("output").to_vec();
    if on && !outputs.iter().any(|o| output_type(&o.value) == "docker") {
        outputs.push(Item {
            value: "type=docker".into(),
            span: value.span,
        });
        t.set_def(
            def,
            Some(Attr {
                value: AttrValue::List(outputs),
                span: value.span,
            }),
        );
    }
    Ok(())
}

/// The `type=` field of a CSV output spec.
pub fn output_type(spec: &str) -> String {
    crate::base::csv_fields(spec, ',')
        .unwrap_or_default()
        .into_iter()
        .find_map(|f| f.strip_prefix("type=").map(str::to_string))
        .unwrap_or_default()
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Applies `--set builder:NAME.KEY=VALUE` to a declared builder. List keys (`platforms`,
/// `native`) take a comma-separated list.
pub fn apply_builder(
    text: &str,
    sources: &mut SourceMap,
    builders: &mut indexmap::IndexMap<String, crate::model::Builder>,
) -> Result<(), Diag> {
    let file = sources.add("--set", format!("--set {text}"), Origin::Set);
    let base = "--set ".len();
    let whole = Span::new(file, base..base + text.len());
    let rest = text.trim_start_matches("builder:");
    let prefix = "builder:".len();
    let Some((lhs, value)) = rest.split_once('=') else {
        return Err(
            Diag::error("set::syntax", format!("override `{text}` has no value"))
                .label(whole, "expected builder:NAME.KEY=VALUE")
                .help("write e.g. `--set builder:local.platforms=linux/amd64,linux/arm64`"),
        );
    };
    let Some((name, key)) = lhs.split_once('.') else {
        return Err(
            Diag::error("set::syntax", format!("invalid builder override `{text}`"))
                .label(whole, "expected builder:NAME.KEY=VALUE")
                .help("write e.g. `--set builder:local.max-parallelism=2`"),
        );
    };
    let name_span = Span::new(file, base + prefix..base + prefix + name.len());
    let key_start = base + prefix + name.len() + 1;
    let key_span = Span::new(file, key_start..key_start + key.len());
    let value_start = base + text.len() - value.len();
    let value_span = Span::new(file, value_start..base + text.len());
    let Some(b) = builders.get_mut(name) else {
        let names: Vec<&str> = builders.keys().map(String::as_str).collect();
        return Err(Diag::error(
            "set::unknown_builder",
            format!("there is no builder named `{name}`"),
        )
        .label(name_span, "unknown builder")
        .help(if names.is_empty() {
            "declare one with `builder \"NAME\" { ... }` in build.hcl".to_string()
        } else {
            format!("declared builders: {}", names.join(", "))
        }));
    };
    let Some(def) = attrs::builder_attr(key) else {
        let keys: Vec<&str> = attrs::BUILDER_ATTRS.iter().map(|d| d.key).collect();
        return Err(Diag::error(
            "set::unknown_key",
            format!("`{key}` is not a builder attribute"),
        )
        .label(key_span, "unknown key")
        .help(match did_you_mean(key, keys.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("builder attributes: {}", keys.join(", ")),
        }));
    };
    let attr_value = match def.shape {
        Shape::List | Shape::Names => AttrValue::List(
            value
                .split(',')
                .filter(|v| !v.is_empty())
                .map(|v| Item {
                    value: v.trim().to_string(),
                    span: value_span,
                })
                .collect(),
        ),
        _ => AttrValue::Str(value.to_string()),
    };
    b.attrs.insert(
        def.key,
        Attr {
            value: attr_value,
            span: value_span,
        },
    );
    Ok(())
}

/// A `--set` value that must be a bool, with the diagnostic when it is not.
fn bool_value(value: &Item, key: &str) -> Result<bool, Diag> {
    parse_bool(&value.value).ok_or_else(|| {
        Diag::error(
            "set::bool",
            format!("invalid value `{}` for boolean key `{key}`", value.value),
        )
        .label(value.span, "not a bool")
        .help("use `true` or `false`")
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Key, Override};
    use crate::eval::sample;
    use crate::source::SourceMap;

    /// Parses one `--set` with `env` as the environment.
    fn check(text: &str, env: &[(&str, &str)]) -> Result<Option<Override>, (String, String)> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut sources = SourceMap::new();
        super::parse(text, &mut sources, &env).map_err(|d| {
            let span = d.labels[0].span;
            let shown =
                sources.get(span.file).text[span.start as usize..span.end as usize].to_string();
            (d.code.to_string(), shown)
        })
    }

    fn attr(o: &Override) -> (&str, Option<&str>) {
        match &o.key {
            Key::Attr { def, entry } => (def.key, entry.as_deref()),
            Key::Push => ("push", None),
            Key::Load => ("load", None),
        }
    }

    #[test]
    fn set_forms() {
        let o = check("app.tags=acme/app:dev", &[]).unwrap().unwrap();
        assert_eq!(
            (o.pattern.as_str(), attr(&o), o.append),
            ("app", ("tags", None), false)
        );
        assert_eq!(o.value.unwrap().value, "acme/app:dev");
        let o = check("*.tags+=x", &[]).unwrap().unwrap();
        assert!(o.append);
        // bake's singular `--set` key for a list attribute.
        let o = check("*.platform=linux/arm64", &[]).unwrap().unwrap();
        assert_eq!(attr(&o), ("platforms", None));
        // Only the first `=` splits: the value keeps the rest.
        let o = check("a.output=type=local,dest=out", &[]).unwrap().unwrap();
        assert_eq!(o.value.unwrap().value, "type=local,dest=out");
        let o = check("a.args.V=1.2", &[]).unwrap().unwrap();
        assert_eq!(attr(&o), ("args", Some("V")));
        assert_eq!(o.key_text, "args.V");
        assert!(matches!(
            check("a.push=true", &[]).unwrap().unwrap().key,
            Key::Push
        ));
    }

    /// `--set t.args.NAME` without a value takes `$NAME`, and is skipped when it is unset.
    #[test]
    fn an_arg_without_a_value_comes_from_the_environment() {
        let o = check("a.args.TOKEN", &[("TOKEN", "t0")]).unwrap().unwrap();
        assert_eq!(o.value.unwrap().value, "t0");
        assert!(check("a.args.TOKEN", &[]).unwrap().is_none());
        assert_eq!(
            check("a.tags", &[]).unwrap_err(),
            ("set::syntax".into(), "a.tags".into())
        );
    }

    #[test]
    fn bad_forms_point_at_their_fault() {
        for (text, code, at) in [
            ("app", "set::syntax", "app"),
            (".tags=x", "set::syntax", ".tags=x"),
            ("a.platfrom=x", "set::unknown_key", "platfrom"),
            ("a.args=x", "set::missing_name", "args"),
            ("a.no-cache+=true", "set::append", "no-cache"),
        ] {
            assert_eq!(
                check(text, &[]).unwrap_err(),
                (code.to_string(), at.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn an_exact_name_wins_over_a_glob() {
        let names: Vec<String> = ["a*", "ab", "b", "a/c"].map(String::from).to_vec();
        assert_eq!(super::expand("a*", names.iter()), ["a*"]);
        assert_eq!(super::expand("?b", names.iter()), ["ab"]);
        // Go's path.Match: `*` stops at `/`.
        assert_eq!(super::expand("[ab]*", names.iter()), ["a*", "ab", "b"]);
        assert!(super::expand("z*", names.iter()).is_empty());
    }

    /// What a run of overrides leaves on a target, through `resolve` as `--set` runs them.
    fn applied(sets: &[&str], attr: &str) -> Vec<String> {
        let mut s = sample::collect(
            r#"
            target "app" {
              tags = ["app:1"]
              args = { A = "0" }
            }
            target "tool" { tags = ["tool:1"] }
            group "default" { targets = ["app", "tool"] }
            "#,
            &[],
        );
        let def = s
            .resolve(&[], sets)
            .unwrap_or_else(|| panic!("{sets:?}: {:?}", s.codes()));
        let t = &def.targets["app"];
        match attr {
            "args" => t
                .map("args")
                .iter()
                .map(|(k, v)| format!("{k}={}", v.value))
                .collect(),
            key => t.list(key).iter().map(|i| i.value.clone()).collect(),
        }
    }

    #[test]
    fn repeated_keys_follow_bake() {
        // A repeated list key collects every value; `+=` appends to what the spec set.
        assert_eq!(applied(&["app.tags=x", "app.tags=y"], "tags"), ["x", "y"]);
        assert_eq!(applied(&["app.tags+=x"], "tags"), ["app:1", "x"]);
        // Any other key keeps its last value.
        assert_eq!(applied(&["app.args.A=1", "app.args.A=2"], "args"), ["A=2"]);
        assert_eq!(applied(&["*.args.B=b"], "args"), ["A=0", "B=b"]);
    }

    #[test]
    fn a_pattern_matching_nothing_is_an_error() {
        let mut s = sample::collect(r#"target "default" {}"#, &[]);
        assert!(s.resolve(&[], &["nope*.tags=x"]).is_none());
        assert_eq!(s.codes(), ["set::no_match"]);
        assert_eq!(s.span_of("set::no_match"), "nope*");
    }
}
