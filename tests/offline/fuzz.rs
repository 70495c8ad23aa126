//! Bad input never panics and never hangs. Random bytes, random text, token soup, generated
//! HCL, mutated and truncated valid files go through the pipeline `rbake plan` runs
//! (`rbake::cli::pipeline`: syntax → spec → eval → resolve, the printed definition, then
//! lower and check against fixed capabilities and made-up local files, every diagnostic
//! rendered), each case in its own thread with a time limit.
//!
//! Cases per property: 256 by default (what CI runs), 48 for the properties that start a
//! process. `PROPTEST_CASES=N` sets the in-process properties' count, and a twentieth of it
//! (at least 48) for the process ones; a long run is
//! `PROPTEST_CASES=100000 cargo test --release --test offline fuzz::`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use rbake::check::{self, Facts, PathFact};
use rbake::cli::SpecArgs;
use rbake::cli::pipeline::{self, File};
use rbake::cli::settings::Settings;
use rbake::model::access::{Access, Grants};
use rbake::source::{Diag, SourceMap};

const LIMIT: Duration = Duration::from_secs(5);

/// A valid bake file (most from the conformance corpus) that mutations and truncations start
/// from, with the targets to request from it.
struct Seed {
    name: &'static str,
    text: &'static str,
    targets: &'static [&'static str],
}

const SEEDS: &[Seed] = &[
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/kitchen-sink.hcl"),
        targets: &[],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/heredoc.hcl"),
        targets: &["probe", "probe-indented"],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/template-directives.hcl"),
        targets: &["runner"],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/conditionals-for.hcl"),
        targets: &["agent"],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/user-functions.hcl"),
        targets: &["search"],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/inherits.hcl"),
        targets: &["child"],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/matrix-objects.hcl"),
        targets: &["node"],
    },
    Seed {
        name: "docker-bake.hcl",
        text: include_str!("../fixtures/fuzz/contexts-target-ref.hcl"),
        targets: &["app"],
    },
    Seed {
        name: "docker-bake.json",
        text: include_str!("../fixtures/fuzz/functions-null.json"),
        targets: &["archiver"],
    },
    Seed {
        name: "compose.yaml",
        text: include_str!("../fixtures/fuzz/compose.yaml"),
        targets: &["frontend", "backend", "collector"],
    },
];

impl Seed {
    fn case(&self, text: impl Into<String>) -> Case {
        Case {
            targets: self.targets.iter().map(|t| t.to_string()).collect(),
            ..Case::file(self.name, text)
        }
    }
}

/// One run of the pipeline: the files, the names and `--set`s after `print`, the environment.
#[derive(Clone, Debug, Default)]
struct Case {
    files: Vec<(String, String)>,
    targets: Vec<String>,
    sets: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Case {
    fn file(name: &str, text: impl Into<String>) -> Case {
        Case {
            files: vec![(name.to_string(), text.into())],
            ..Case::default()
        }
    }
}

/// What a run of the pipeline left: its sources and diagnostics, the printed definition when
/// the spec resolved.
struct Outcome {
    sources: SourceMap,
    diags: Vec<Diag>,
    printed: Option<String>,
}

/// The working directory of the made-up local files.
const CWD: &str = "/fuzz";

/// The local files as the checks see them, without touching the disk: every path the
/// definition names exists under `CWD` (files hold a Dockerfile defining every stage a
/// target names, so `check` gets as far as stages), nothing is granted beyond the working
/// directory.
fn facts(def: &rbake::model::Definition, settings: &Settings) -> Facts {
    let mut dockerfile = String::from("FROM alpine AS base\n");
    for t in def.targets.values() {
        if let Some(stage) = t.str("target") {
            dockerfile += &format!("FROM base AS {stage}\n");
        }
    }
    let cwd = PathBuf::from(CWD);
    let mut facts = Facts {
        grants: Grants::new(&[], |root| cwd.join(root)),
        cwd: cwd.clone(),
        env: settings.env.keys().cloned().collect(),
        ..Facts::default()
    };
    for need in check::needs(def) {
        facts.real.insert(need.path.clone(), cwd.join(&need.path));
        if need.access == Access::Write {
            continue;
        }
        // Dockerfiles (read for their stages, or only required to exist) and other files
        // (a name with an extension) hold the Dockerfile; everything else is a folder.
        let name = std::path::Path::new(&need.path)
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let fact = if need.read || name.contains("dockerfile") || name.contains('.') {
            PathFact::File(Some(dockerfile.clone()))
        } else {
            PathFact::Dir
        };
        facts.paths.insert(need.path, fact);
    }
    facts
}

/// `rbake plan`'s pipeline with the case's files, names, `--set`s and environment: load and
/// resolve, print the definition, then lower and check it against the builders the spec
/// declares (or the implicit local one) and the made-up files.
fn evaluate(case: &Case) -> Outcome {
    let settings = Settings {
        env: case.env.clone(),
        env_not_utf8: Default::default(),
        cwd: PathBuf::from(CWD),
        now_unix: 0,
    };
    let files = case
        .files
        .iter()
        .map(|(name, text)| File::text(name, text))
        .collect();
    let args = SpecArgs {
        set: case.sets.clone(),
        targets: case.targets.clone(),
        ..SpecArgs::default()
    };
    let mut loaded = match pipeline::load(files, &settings, &settings.env, &mut pipeline::no_refs) {
        Ok(l) => l,
        Err((sources, diags)) => {
            return Outcome {
                sources,
                diags: diags.0,
                printed: None,
            };
        }
    };
    let def = match pipeline::resolve(&settings, &args, &mut loaded) {
        Ok(d) => d,
        Err(diags) => {
            loaded.warnings.extend(diags.0);
            return Outcome {
                sources: loaded.sources,
                diags: loaded.warnings,
                printed: None,
            };
        }
    };
    let printed = rbake::report::print::render(&def);
    let builders = pipeline::declared_builders(&settings, &loaded);
    let mut diags = rbake::source::Diags::default();
    let plan = pipeline::check(
        &mut loaded,
        &def,
        &args,
        builders,
        &facts(&def, &settings),
        &mut diags,
    );
    if !diags.has_errors() {
        // What `plan` shows, in each format.
        let json = rbake::report::plan::to_json(&plan);
        serde_json::to_string(&json).expect("the plan document serialises");
        let _ = rbake::report::plan::tree(&plan);
        let _ = rbake::report::plan::dot(&plan);
    }
    loaded.warnings.extend(diags.0);
    Outcome {
        sources: loaded.sources,
        diags: loaded.warnings,
        printed: Some(printed),
    }
}

/// Runs the pipeline and checks what must hold for any input: valid output is JSON, and
/// every diagnostic points inside its source (a span past the end or inside a character
/// would misplace the caret) and renders.
fn pipeline(case: &Case) {
    let out = evaluate(case);
    if let Some(json) = &out.printed {
        serde_json::from_str::<serde_json::Value>(json)
            .unwrap_or_else(|e| panic!("print rendered invalid JSON ({e}):\n{json}"));
    }
    for d in &out.diags {
        check_spans(d, &out.sources);
        let _ = d.render_plain(&out.sources, 100);
    }
}

fn check_spans(d: &Diag, sources: &SourceMap) {
    for l in &d.labels {
        let text = &sources.get(l.span.file).text;
        let (start, end) = (l.span.start as usize, l.span.end as usize);
        let on_chars = text.is_char_boundary(start) && text.is_char_boundary(end);
        assert!(
            start <= end && end <= text.len() && on_chars,
            "diagnostic `{}` ({}) has span {start}..{end} outside its source of {} bytes",
            d.message,
            d.code,
            text.len()
        );
    }
    for r in &d.related {
        check_spans(r, sources);
    }
}

/// Runs `pipeline` in a thread with the CLI's stack size and waits at most `LIMIT`. A hang is
/// left running (a thread cannot be killed) and reported; a panic is reported with its message.
fn run(case: Case) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let shown = format!("{case:?}");
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            pipeline(&case);
            let _ = tx.send(());
        })
        .expect("spawn a pipeline thread");
    match rx.recv_timeout(LIMIT) {
        Ok(()) => Ok(()),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("took longer than {LIMIT:?} on {shown}"))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let payload = handle.join().expect_err("the thread ended without sending");
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {msg}\non {shown}"))
        }
    }
}

// ---- generators ----

const FILE_NAMES: &[&str] = &[
    "docker-bake.hcl",
    "docker-bake.json",
    "compose.yaml",
    "bake",
];
const NAMES: &[&str] = &["a", "b", "c", "V", "W", "default", "app", "base"];
const FUNCS: &[&str] = &[
    "upper", "lower", "join", "split", "length", "replace", "format", "concat", "coalesce", "try",
    "can", "f", "g", "nope",
];
const OPS: &[&str] = &["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||"];
const TYPES: &[&str] = &[
    "string",
    "number",
    "bool",
    "any",
    "list(string)",
    "map(number)",
    "object({ a = string })",
    "tuple([string, bool])",
    "nonsense",
];
const TARGET_KEYS: &[&str] = &[
    "tags",
    "platforms",
    "args",
    "contexts",
    "inherits",
    "name",
    "matrix",
    "no-cache",
    "context",
    "dockerfile",
    "dockerfile-inline",
    "output",
    "description",
    "labels",
    "cache-from",
    "target",
    "pull",
    "platfroms",
];
const LEAVES: &[&str] = &[
    "\"x\"",
    "\"\"",
    "1",
    "0",
    "-2.5",
    "true",
    "false",
    "null",
    "V",
    "W",
    "a",
    "x",
    "t.name",
    "b.tags",
    "target.a.tags",
    "\"linux/amd64\"",
    "\"linux/arm64\"",
    "\"target:a\"",
    "\"target:b\"",
    "\"${V}-${W}\"",
    "\"%{ if V == \"1\" }y%{ else }n%{ endif }\"",
    "\"%{ for i in [1, 2] }${i}%{ endfor }\"",
    "[]",
    "{}",
    "{ x = [\"p\", \"q\"] }",
    "{ x = [1, 2], t = [{ name = \"n\" }] }",
    "\"n-${x}\"",
];
/// Fragments of HCL, for token soup that is shaped like a bake file without being valid.
const TOKENS: &[&str] = &[
    "target",
    "variable",
    "group",
    "function",
    "\"a\"",
    "\"b\"",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "${",
    "%{",
    "\"",
    "=",
    ",",
    ":",
    "?",
    ".",
    "*",
    "[*]",
    "...",
    "=>",
    "for",
    "in",
    "if",
    "matrix",
    "name",
    "inherits",
    "default",
    "params",
    "result",
    "validation",
    "condition",
    "tags",
    "platforms",
    "contexts",
    "\"target:a\"",
    "upper(",
    "f(",
    "V",
    "x",
    "1",
    "true",
    "null",
    "<<EOT\n",
    "EOT\n",
    "\n",
    "#",
    "//",
    "/*",
    "*/",
    "\\",
    "$${",
    "%%{",
];
const TARGET_ARGS: &[&str] = &[
    "default", "a", "b", "app", "c", "nope", "*", "a.b", "bad/name", "",
];
const SETS: &[&str] = &[
    "a.tags=x",
    "*.platform=linux/arm64",
    "b.args.K=v",
    "a.no-cache=maybe",
    "a.push=true",
    "a.load=true",
    "c.tags+=y",
    "a.foo=1",
    "a.tags",
    "*",
    "=",
    ".=",
    "a.args=x",
    "a.contexts.x=target:a",
    "[a].tags=z",
];
const ENV_NAMES: &[&str] = &[
    "V",
    "W",
    "PUSH",
    "REPLICAS",
    "REGISTRY",
    "TAG",
    "BASE",
    "SOURCE_DATE_EPOCH",
];
const ENV_VALUES: &[&str] = &[
    "", "1", "true", "maybe", "x,y", "${V}", "[\"a\"]", "-3", "1e999", "ünï",
];

fn name() -> impl Strategy<Value = &'static str> {
    select(NAMES)
}

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(LEAVES).prop_map(String::from),
        "[a-z0-9/ ]{0,6}".prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            btree_map(name(), inner.clone(), 0..3).prop_map(|kv| {
                let fields: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", fields.join(", "))
            }),
            (select(FUNCS), vec(inner.clone(), 0..4))
                .prop_map(|(f, a)| format!("{f}({})", a.join(", "))),
            (inner.clone(), select(OPS), inner.clone())
                .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
            (inner.clone(), inner.clone()).prop_map(|(e, i)| format!("{e}[{i}]")),
            (inner.clone(), inner.clone()).prop_map(|(l, b)| format!("[for x in {l} : {b}]")),
            inner.clone().prop_map(|e| format!("\"pre-${{{e}}}-post\"")),
            inner.prop_map(|e| format!("!({e})")),
        ]
    })
}

/// An attribute's value: mostly an expression, sometimes a heredoc (which must end its line,
/// so it cannot be a leaf of `expr`).
fn attr_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => expr(),
        1 => Just("<<EOT\nFROM ${V}\nRUN echo %{ if V == \"1\" }one%{ endif }\nEOT".to_string()),
        1 => Just("<<-EOT\n    FROM ${upper(V)}\n    EOT".to_string()),
    ]
}

fn block() -> impl Strategy<Value = String> {
    prop_oneof![
        (name(), option::of(select(TYPES)), option::of(expr()), option::of(expr())).prop_map(|(n, ty, default, cond)| {
            let mut s = format!("variable \"{n}\" {{\n");
            if let Some(ty) = ty {
                s += &format!("  type = {ty}\n");
            }
            if let Some(d) = default {
                s += &format!("  default = {d}\n");
            }
            if let Some(c) = cond {
                s += &format!("  validation {{\n    condition = {c}\n    error_message = \"bad {n}\"\n  }}\n");
            }
            s + "}"
        }),
        (select(&["f", "g"][..]), vec(select(&["x", "y", "s"][..]), 0..3), any::<bool>(), option::weighted(0.9, expr())).prop_map(
            |(n, params, variadic, result)| {
                let mut s = format!("function \"{n}\" {{\n  params = [{}]\n", params.join(", "));
                if variadic {
                    s += "  variadic_params = rest\n";
                }
                if let Some(r) = result {
                    s += &format!("  result = {r}\n");
                }
                s + "}"
            }
        ),
        (
            prop_oneof![4 => name(), 1 => Just("bad/name"), 1 => Just("")],
            btree_map(select(TARGET_KEYS), attr_value(), 0..6),
        )
            .prop_map(|(n, attrs)| {
                let body: Vec<String> = attrs.iter().map(|(k, v)| format!("  {k} = {v}")).collect();
                format!("target \"{n}\" {{\n{}\n}}", body.join("\n"))
            }),
        (name(), expr()).prop_map(|(n, e)| format!("group \"{n}\" {{\n  targets = {e}\n}}")),
        (name(), expr()).prop_map(|(n, e)| format!("{n} = {e}")),
    ]
}

fn request() -> impl Strategy<Value = (Vec<String>, Vec<String>, BTreeMap<String, String>)> {
    (
        vec(select(TARGET_ARGS).prop_map(String::from), 0..3),
        vec(
            prop_oneof![3 => select(SETS).prop_map(String::from), 1 => "[ -~]{0,16}"],
            0..3,
        ),
        btree_map(
            select(ENV_NAMES).prop_map(String::from),
            select(ENV_VALUES).prop_map(String::from),
            0..3,
        ),
    )
}

fn with_request(
    mut case: Case,
    (targets, sets, env): (Vec<String>, Vec<String>, BTreeMap<String, String>),
) -> Case {
    case.targets = targets;
    case.sets = sets;
    case.env = env;
    case
}

/// The largest char boundary at or below `i` (clamped to the text).
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A valid file with one edit (a range deleted, a token inserted, or a range repeated),
/// requesting the seed's own targets or, one time in four, a random request.
fn mutated_seed() -> impl Strategy<Value = Case> {
    let edit = (
        0..SEEDS.len(),
        0..3u8,
        any::<usize>(),
        0usize..40,
        select(TOKENS),
    );
    (edit, option::weighted(0.25, request())).prop_map(|((seed, op, at, len, token), req)| {
        let seed = &SEEDS[seed];
        let text = seed.text;
        let start = floor_boundary(text, at % (text.len() + 1));
        let end = floor_boundary(text, start + len);
        let edited = match op {
            0 => format!("{}{}", &text[..start], &text[end..]),
            1 => format!("{}{token}{}", &text[..start], &text[start..]),
            _ => format!("{}{}{}", &text[..end], &text[start..end], &text[end..]),
        };
        let case = seed.case(edited);
        match req {
            Some(req) => with_request(case, req),
            None => case,
        }
    })
}

fn check(case: Case) -> Result<(), TestCaseError> {
    run(case).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(ProptestConfig {
        max_shrink_iters: 2_000,
        // Integration tests have no lib.rs beside them for the default persistence to find.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/offline/fuzz.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(name in select(FILE_NAMES), bytes in vec(any::<u8>(), 0..1024)) {
        // The CLI rejects invalid UTF-8 before parsing; lossy decoding keeps the rest of the
        // bytes, replacement characters included, as parser input.
        check(Case::file(name, String::from_utf8_lossy(&bytes)))?;
    }

    #[test]
    fn random_printable_text_never_panics(name in select(FILE_NAMES), text in "[ -~\t\n]{0,512}") {
        check(Case::file(name, text))?;
    }

    #[test]
    fn random_unicode_text_never_panics(name in select(FILE_NAMES), text in "\\PC{0,256}") {
        check(Case::file(name, text))?;
    }

    #[test]
    fn hcl_token_soup_never_panics(
        tokens in vec((select(TOKENS), select(&[" ", "\n", ""][..])), 0..80),
        req in request(),
    ) {
        let text: String = tokens.iter().map(|(t, sep)| format!("{t}{sep}")).collect();
        check(with_request(Case::file("docker-bake.hcl", text), req))?;
    }

    #[test]
    fn generated_hcl_never_panics(blocks in vec(block(), 0..8), req in request()) {
        check(with_request(Case::file("docker-bake.hcl", blocks.join("\n")), req))?;
    }

    #[test]
    fn generated_hcl_across_two_files_never_panics(first in vec(block(), 0..5), second in vec(block(), 0..5), req in request()) {
        let case = Case {
            files: vec![("docker-bake.hcl".into(), first.join("\n")), ("docker-bake.override.hcl".into(), second.join("\n"))],
            ..Case::default()
        };
        check(with_request(case, req))?;
    }

    #[test]
    fn mutated_valid_files_never_panic(case in mutated_seed()) {
        check(case)?;
    }
}

/// One very long line: a generated `docker-bake.json` or HCL file with everything on line 1
/// and a mistake near its end, so the caret sits past column 65,535 (where miette's padding
/// used to panic), with multibyte text before it.
fn long_line() -> impl Strategy<Value = Case> {
    (
        select(&["docker-bake.json", "docker-bake.hcl"][..]),
        66_000usize..90_000,
        select(&["a", "é", "日本"][..]),
        select(TOKENS),
    )
        .prop_map(|(name, n, fill, token)| {
            let filler = fill.repeat(n / fill.chars().count().max(1));
            let text = if name.ends_with(".json") {
                format!(r#"{{"variable": {{"V": {{"default": "{filler}"}}}}, "target": {{"a": {{"tags": [V {token}]}}}}}}"#)
            } else {
                format!(r#"variable "V" {{ default = "{filler}" }} target "a" {{ tags = [V {token}] }}"#)
            };
            Case {
                targets: vec!["a".into()],
                ..Case::file(name, text)
            }
        })
}

/// Runs the built binary on raw bytes with a hostile environment: what no in-process
/// pipeline can reach (reading the file, decoding it, the environment, rendering to stderr).
/// It must end with exit 0 or 1, never 101 (a panic) or a signal.
fn run_binary(bytes: &[u8], env: &[(String, Vec<u8>)], args: &[&str]) -> Result<(), String> {
    use std::os::unix::ffi::OsStringExt;
    let dir = std::env::temp_dir().join(format!(
        "rbake-fuzz-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("docker-bake.hcl"), bytes).map_err(|e| e.to_string())?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rbake"))
        .args(args)
        .current_dir(&dir)
        .env_clear()
        .envs(
            env.iter()
                .map(|(k, v)| (k.clone(), std::ffi::OsString::from_vec(v.clone()))),
        )
        .output()
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0 | 1) if !stderr.contains("internal error") => Ok(()),
        code => Err(format!(
            "exit {code:?} on {} bytes with env {env:?}:\n{}",
            bytes.len(),
            stderr.chars().take(2000).collect::<String>()
        )),
    }
}

/// The case count of the properties that start a process: 48, or a twentieth of
/// `PROPTEST_CASES` when that is more.
fn process_cases() -> u32 {
    let asked: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (asked / 20).max(48)
}

static NEXT_DIR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Spec bytes: a valid file with bytes that are not UTF-8, a BOM or a very long line mixed in.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let valid = "variable \"V\" {\n  default = \"x\"\n}\ntarget \"default\" {\n  tags = [\"app:${V}\"]\n}\n";
    (
        0..valid.len(),
        prop_oneof![
            vec(any::<u8>(), 0..8),
            Just(b"\xef\xbb\xbf".to_vec()),
            Just(b"caf\xe9".to_vec()),
            (1usize..80_000).prop_map(|n| "\u{e9}".repeat(n).into_bytes()),
        ],
        any::<bool>(),
    )
        .prop_map(move |(at, insert, at_start)| {
            let at = if at_start {
                0
            } else {
                floor_boundary(valid, at)
            };
            let mut b = valid.as_bytes()[..at].to_vec();
            b.extend(insert);
            b.extend(&valid.as_bytes()[at..]);
            b
        })
}

/// Environment variables with values that are not UTF-8, one of them named like the spec's
/// variable. No NUL: no process environment can hold one.
fn hostile_env() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    vec(
        (
            select(&["V", "FOO", "SOURCE_DATE_EPOCH", "HOME"][..]).prop_map(String::from),
            prop_oneof![vec(1u8..=255, 0..6), Just(b"caf\xe9".to_vec())],
        ),
        0..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each case starts a process: fewer cases than the in-process properties.
        cases: process_cases(),
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/offline/fuzz.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_bytes_and_environment_never_crash_the_binary(
        bytes in hostile_bytes(),
        env in hostile_env(),
        command in select(&["print", "plan", "ls"][..]),
    ) {
        run_binary(&bytes, &env, &[command]).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn very_long_lines_render(case in long_line()) {
        check(case)?;
    }
}

#[test]
fn every_prefix_of_a_valid_file_is_handled() {
    for seed in SEEDS {
        for end in seed
            .text
            .char_indices()
            .map(|(i, _)| i)
            .chain([seed.text.len()])
        {
            if let Err(e) = run(seed.case(&seed.text[..end])) {
                panic!("the first {end} bytes of a valid {}: {e}", seed.name);
            }
        }
    }
}

/// The seeds must resolve and lower without errors, or mutations start from an error and
/// reach no further than the stage that reports it. (Checks may still fail on them: the
/// made-up environment sets no secret variables, the implicit builder has a classic store.)
#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        let out = evaluate(&seed.case(seed.text));
        let rendered: Vec<String> = out
            .diags
            .iter()
            .filter(|d| d.is_error() && !d.code.starts_with("check::"))
            .map(|d| d.render_plain(&out.sources, 100))
            .collect();
        assert!(
            out.printed.is_some() && rendered.is_empty(),
            "a fuzz seed `{}` does not resolve and lower cleanly:\n{}",
            seed.name,
            rendered.join("\n")
        );
    }
}

/// Deep nesting and long chains: each must end in a value or a diagnostic, not a stack
/// overflow (which would abort the whole test binary) or a hang. Chains of variables that
/// reference each other in reverse order, and very long inherits chains, overflow today;
/// `cli.rs` pins that bug, since only a separate process survives it.
#[test]
fn deep_nesting_and_long_chains_are_handled() {
    let n = 5_000;
    let nested = |open: &str, leaf: &str, close: &str| {
        format!("x = {}{leaf}{}", open.repeat(n), close.repeat(n))
    };
    let forward_chain: String = (1..n)
        .map(|i| format!("variable \"V{i}\" {{\n  default = V{}\n}}\n", i - 1))
        .collect();
    let short_cycle: String = (1..200)
        .map(|i| format!("variable \"C{i}\" {{\n  default = C{}\n}}\n", i - 1))
        .collect();
    // Long enough to matter, short enough to stay under the depth at which inherits
    // overflows today (about 4,000 in a debug build; pinned in `cli.rs`).
    let inherits_chain: String = (0..1_000)
        .map(|i| format!("target \"t{i}\" {{\n  inherits = [\"t{}\"]\n}}\n", i + 1))
        .collect();
    let cases = [
        nested("[", "1", "]"),
        nested("(", "1", ")"),
        nested("{ a = ", "1", " }"),
        nested("!", "true", ""),
        nested("- ", "1", ""),
        nested("", "1", " + 1"),
        nested("\"${", "\"a\"", "}\""),
        nested("true ? ", "1", " : 0"),
        nested("f(", "1", ")") + "\nfunction \"f\" {\n  params = [x]\n  result = x\n}\n",
        format!(
            "variable \"V0\" {{\n  default = \"v\"\n}}\n{forward_chain}x = V{}\n",
            n - 1
        ),
        format!("{short_cycle}variable \"C0\" {{\n  default = C199\n}}\nx = C0\n"),
        inherits_chain,
    ];
    for (i, text) in cases.into_iter().enumerate() {
        let case = Case {
            targets: vec!["t0".into()],
            ..Case::file("docker-bake.hcl", text)
        };
        if let Err(e) = run(case) {
            panic!("deep case {i}: {}", e.chars().take(400).collect::<String>());
        }
    }
}
