//! Compose files, read the way buildx 0.13.1 reads them through compose-go v2: every service
//! with a `build:` section becomes a `target` block, and a `group "default"` lists those targets
//! in file order. Compose does its own `${VAR}` interpolation, so every value lowers to a literal
//! the evaluator never interpolates again. The caller passes the environment (the process
//! environment merged with the working directory's `.env`) and a [`Files`] that reads what the
//! files refer to (`include`, `extends.file`, `env_file`); this module does no I/O itself.
//!
//! Files given together are each loaded, interpolated and checked against the schema alone,
//! then merged in order; the consistency check (a service needs an image or a build) and the
//! lowering see the merged project, as in compose-go. Only the parts of the compose schema bake
//! reads are checked closely (the top level, service keys and the `build` section); other
//! sections are accepted as written.
//!
//! The module's files follow the stages: `yaml.rs` (YAML into [`yaml::Node`]s, and the
//! `Locator`/`Spans` that find keys' spans again), `interpolate.rs` (compose-go's `${VAR}`
//! interpolation), `load.rs` (one file with its `extends` and `include`, and `env_file`),
//! `merge.rs` (canonical forms, rebased paths, the override merge), `schema.rs` (the checks
//! on each file alone), `lower.rs` (the consistency check and buildx's `ParseCompose`, into
//! target blocks), `x_bake.rs` (the `x-bake`
//! extension), `dotenv.rs` and `go.rs` (Go's number formatting where the output depends on it).

mod dotenv;
mod go;
mod interpolate;
mod load;
mod lower;
mod merge;
mod schema;
mod x_bake;
mod yaml;

use std::collections::BTreeMap;

use super::ast::Body;
use crate::source::{Diag, Diags, FileId, Span};
pub use dotenv::dotenv;
use interpolate::Env;
use load::Loader;
use lower::Lower;

const CODE: &str = "syntax::compose";

/// Reads the files compose files refer to. The caller decides what may be read (the same
/// checks as for any other file it reads) and registers each file as a source.
pub trait Files {
    /// Reads `path` (relative to the working directory, or absolute), named by the key at `at`.
    /// `Ok(None)` when `optional` and there is no such file.
    fn read(
        &mut self,
        path: &str,
        at: Span,
        optional: bool,
    ) -> Result<Option<(FileId, String)>, Diag>;
}

/// A reader for compose files parsed on their own, without access to the disk: every file
/// they refer to is reported as unreadable.
pub struct Offline;

impl Files for Offline {
    fn read(
        &mut self,
        path: &str,
        at: Span,
        _optional: bool,
    ) -> Result<Option<(FileId, String)>, Diag> {
        Err(Diag::error(CODE, format!("cannot read `{path}` here"))
            .label(at, "named here")
            .help("this compose file is read without access to other files; run it with `rbake print -f FILE`"))
    }
}

/// One compose file given on the command line: its source, name and text.
pub struct Input<'a> {
    pub file: FileId,
    pub name: &'a str,
    pub text: &'a str,
}

/// Parses the compose files given together into one body of target blocks.
pub fn parse(
    inputs: &[Input],
    env: &BTreeMap<String, String>,
    files: &mut dyn Files,
) -> Result<Body, Diags> {
    let mut loader = Loader::new(files);
    let mut merged = None;
    for input in inputs {
        loader.including = vec![input.name.to_string()];
        let Some((root, tagged)) = loader.file(input.file, input.text.into(), "", env) else {
            continue;
        };
        merged = Some(match merged {
            None => root,
            Some(before) => merge::merge_file(before, root, &tagged),
        });
    }
    let (Some(mut root), Some(spans)) = (merged, loader.spans.take()) else {
        return Err(loader.diags);
    };
    if loader.diags.has_errors() {
        return Err(loader.diags);
    }
    loader.env_files(&mut root, &spans);
    if loader.diags.has_errors() {
        return Err(loader.diags);
    }
    let mut lower = Lower {
        loc: spans,
        env: Env::new(env, &root),
        diags: loader.diags,
    };
    let body = lower.top(&root);
    if lower.diags.has_errors() {
        Err(lower.diags)
    } else {
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::go::{bytes_size, go_float, ram_in_bytes};
    use super::interpolate::{SubstError, substitute};
    use super::*;
    use crate::syntax::ast::{Expr, ExprKind, ObjectKey};

    /// One file, parsed alone.
    fn parse_one(yaml: &str, env: &BTreeMap<String, String>) -> Result<Body, Diags> {
        let input = Input {
            file: FileId(0),
            name: "compose.yaml",
            text: yaml,
        };
        parse(&[input], env, &mut Offline)
    }

    /// Renders the lowered body one block a line: `target name: key=value ...`.
    fn check(yaml: &str, env: &[(&str, &str)]) -> String {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = match parse_one(yaml, &env) {
            Ok(b) => b,
            Err(d) => panic!(
                "unexpected diagnostics: {:?}",
                d.0.iter().map(|d| &d.message).collect::<Vec<_>>()
            ),
        };
        fn show(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Bool(b) => b.to_string(),
                ExprKind::Array(items) => {
                    format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(","))
                }
                ExprKind::Object(items) => {
                    let kv = items.iter().map(|(k, v)| {
                        let k = match k {
                            ObjectKey::Ident(k, _) => k.clone(),
                            ObjectKey::Expr(x) => x.as_literal_str().unwrap_or_default(),
                        };
                        format!("{k}={}", show(v))
                    });
                    format!("{{{}}}", kv.collect::<Vec<_>>().join(","))
                }
                _ => e
                    .as_literal_str()
                    .map_or_else(|| "?".into(), |s| format!("{s:?}")),
            }
        }
        body.blocks
            .iter()
            .map(|b| {
                let attrs: Vec<String> = b
                    .body
                    .attrs
                    .iter()
                    .map(|a| format!(" {}={}", a.name, show(&a.expr)))
                    .collect();
                format!("{} {}:{}", b.kind, b.labels[0].0, attrs.concat())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first diagnostic's message and the text its primary label points at.
    fn check_diag(yaml: &str) -> (String, String) {
        let d = parse_one(yaml, &BTreeMap::new()).expect_err("a diagnostic");
        let first = &d.0[0];
        let span = first.primary().expect("a label");
        (first.message.clone(), yaml[span.range()].to_string())
    }

    #[test]
    fn string_build_is_the_context() {
        assert_eq!(
            check("services:\n  app:\n    build: ./app/\n", &[]),
            "target app: context=\"app\"\ngroup default: targets=[\"app\"]"
        );
    }

    #[test]
    fn mapping_build() {
        let yaml = "services:\n  web:\n    build:\n      dockerfile: Dockerfile.prod\n      target: run\n      labels:\n        com.acme.role: ui\n      cache_from: [a]\n    image: acme/web\n  db:\n    image: postgres\n";
        assert_eq!(
            check(yaml, &[]),
            "target web: context=\".\" dockerfile=\"Dockerfile.prod\" target=\"run\" labels={com.acme.role=\"ui\"} tags=[\"acme/web\"] cache-from=[\"a\"]\ngroup default: targets=[\"web\"]"
        );
    }

    #[test]
    fn list_args_take_bare_names_from_the_environment() {
        let yaml = "services:\n  a:\n    build:\n      args: [X=1, FROM_SVC, FROM_ENV, MISSING]\n    environment:\n      FROM_SVC: s\n";
        assert_eq!(
            check(yaml, &[("FROM_ENV", "e"), ("FROM_SVC", "ignored")]),
            "target a: context=\".\" args={X=\"1\",FROM_SVC=\"s\",FROM_ENV=\"e\"}\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn x_bake_appends_without_duplicates() {
        let yaml = "services:\n  a:\n    build:\n      tags: [t1]\n      x-bake:\n        tags: [t1, t2]\n        platforms: linux/amd64 linux/arm64\n        pull: true\n";
        assert_eq!(
            check(yaml, &[]),
            "target a: context=\".\" tags=[\"t1\",\"t2\"] platforms=[\"linux/amd64\",\"linux/arm64\"] pull=true\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn interpolation_defaults_and_escapes() {
        let yaml = "services:\n  a:\n    build:\n      context: ${CTX:-dflt}\n      target: ${T-x}$${LIT}\n      args:\n        V: ${SET:+yes}/$SET\n";
        assert_eq!(
            check(yaml, &[("T", ""), ("SET", "s")]),
            "target a: context=\"dflt\" target=\"${LIT}\" args={V=\"yes/s\"}\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn image_is_the_tag_when_there_are_none() {
        let yaml = "services:\n  a:\n    image: acme/a:1\n    build: .\n";
        assert_eq!(
            check(yaml, &[]),
            "target a: context=\".\" tags=[\"acme/a:1\"]\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn dotted_service_names_become_underscores() {
        assert_eq!(
            check("services:\n  api.v2:\n    build: .\n", &[]),
            "target api_v2: context=\".\"\ngroup default: targets=[\"api_v2\"]"
        );
    }

    #[test]
    fn secrets_shm_size_and_ulimits() {
        let yaml = "services:\n  a:\n    build:\n      secrets: [tok]\n      shm_size: 128m\n      ulimits:\n        nofile: { soft: 1, hard: 2 }\n        nproc: 5\nsecrets:\n  tok:\n    file: ./t.txt\n";
        assert_eq!(
            check(yaml, &[]),
            "target a: context=\".\" shm-size=\"128MiB\" secret=[\"id=tok,src=t.txt\"] ulimits=[\"nofile=1:2\",\"nproc=0:0\"]\ngroup default: targets=[\"a\"]"
        );
    }

    #[test]
    fn yaml_error_points_at_its_position() {
        let (msg, at) = check_diag("services:\n  a: [b\n");
        assert_eq!(
            msg,
            "invalid YAML: while parsing a flow sequence, expected ',' or ']'"
        );
        assert_eq!(at, "b");
        let (msg, at) = check_diag("services:\n  a:\n    build: .\n   bad: x\n");
        assert!(msg.starts_with("invalid YAML"), "{msg}");
        assert_eq!(at, "b");
    }

    #[test]
    fn invalid_files_are_diagnostics() {
        assert_eq!(
            check_diag("name: x\n").0,
            "not a compose file: it has no `services` section"
        );
        assert_eq!(check_diag("").0, "empty compose file");
        assert_eq!(check_diag("- a\n").0, "a compose file must be a mapping");
        assert_eq!(
            check_diag("services:\n  a:\n    biuld: .\n"),
            ("unknown key `biuld` in service `a`".into(), "biuld".into())
        );
        assert_eq!(
            check_diag("services:\n  a:\n    build:\n      tags: x\n").1,
            "tags"
        );
        assert_eq!(
            check_diag("services:\n  a:\n    build: .\n    image: ${X:?need it}\n").0,
            "required variable `X` is missing a value: need it"
        );
        assert_eq!(
            check_diag("services:\n  a:\n    build: ${1}\n").0,
            "invalid interpolation format in `${1}`"
        );
    }

    #[test]
    fn substitute_matches_compose() {
        let env = |k: &str| match k {
            "A" => Some("a".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        let s = |t: &str| substitute(t, &env);
        assert_eq!(s("${A:-x}/${B:-y}").as_deref(), Ok("a/y"));
        assert_eq!(s("${E:-d} ${E-d} ${B+p} ${A:+p}").as_deref(), Ok("d   p"));
        assert_eq!(s("${B:-${A}}").as_deref(), Ok("a"));
        assert_eq!(s("$1 $$A $A_ ${A}").as_deref(), Ok("$1 $A  a"));
        assert_eq!(
            s("${E:?}"),
            Err(SubstError::Missing {
                var: "E".into(),
                reason: String::new()
            })
        );
        assert_eq!(s("${E?}").as_deref(), Ok(""));
    }

    #[test]
    fn go_formatting() {
        assert_eq!(bytes_size(134217728), "128MiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(1000), "1000B");
        assert_eq!(bytes_size(1073741824 + 1), "1GiB");
        assert_eq!(ram_in_bytes("1.5g"), Ok(1610612736));
        assert_eq!(ram_in_bytes("64 MB"), Ok(67108864));
        assert_eq!(ram_in_bytes("5ib"), Ok(5));
        assert!(ram_in_bytes("12x").is_err());
        assert!(ram_in_bytes("1e3").is_err());
        assert!(ram_in_bytes("1.2.3m").is_err());
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456.5), "123456.5");
        assert_eq!(crate::base::clean_path("./a/../b/"), "b");
        assert_eq!(crate::base::clean_path(""), ".");
    }

    #[test]
    fn no_panic_on_odd_input() {
        for yaml in [
            "~",
            "services: 1",
            "services:\n  a: ~",
            "services:\n  a:\n    build: [1]",
            "services:\n  a:\n    build:\n      x-bake: 3",
            "{1: 2}",
            "a: !reset b",
            "services:\n  ä:\n    build: .",
            "---\na: 1\n---\nb: 2\n",
            "services:\n  a:\n    build:\n      ulimits: {nofile: x}\n      shm_size: ''",
        ] {
            let _ = parse_one(yaml, &BTreeMap::new());
        }
    }
}
