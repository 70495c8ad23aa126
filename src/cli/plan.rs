//! `rbake plan`: the dry run. Resolves the spec, lowers it into the build graph, checks it
//! against the builders and the local files, and shows exactly what `apply` would do.

use clap::{Args, ValueEnum};

use super::settings::Settings;
use super::{SpecArgs, emit, pipeline, spec};
use crate::check::{self, Facts, PathFact};
use crate::exec::paths;
use crate::model::access::{Access, Grants};
use crate::model::{Capabilities, Definition, Platform};
use crate::plan::Plan;
use crate::report;
use crate::source::{Diag, Diags};

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "tree")]
    pub format: Format,
    /// Also write the plan as JSON to FILE, for `rbake apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// Grant an entitlement: network.host, security.insecure, fs.read=PATH, fs.write=PATH,
    /// fs=PATH (both), `*` for anywhere (repeatable)
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// Ask each builder's engine what it really supports instead of trusting the spec
    #[arg(long)]
    pub probe: bool,
    /// Show only what one shard would run (`platform=OS/ARCH[/VARIANT]` or `K/N`), as
    /// `rbake apply --plan FILE --shard` splits the plan; not with `--out`
    #[arg(long, value_name = "SELECTOR", conflicts_with = "out")]
    pub shard: Option<String>,
    /// Accepted for bake's command line and ignored: planning shows no build progress
    #[arg(long, value_name = "TYPE")]
    pub progress: Option<String>,
    /// Accepted for bake's command line and ignored: planning builds nothing to describe
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Tree,
    Json,
    Dot,
}

pub use super::pipeline::Checked;

pub fn run(settings: &Settings, args: &PlanArgs) -> Result<(), spec::Failed> {
    let shard = match args
        .shard
        .as_deref()
        .map(crate::plan::shard::Shard::parse)
        .transpose()
    {
        Ok(s) => s,
        Err(why) => {
            super::emit(
                &[Diag::error("plan::shard", why).help(
                    "e.g. `--shard platform=linux/arm64`, or `--shard 2/3` for the second of three equal parts",
                )],
                &crate::source::SourceMap::new(),
            );
            return Err(2);
        }
    };
    let mut checked = build(settings, &args.spec, &args.allow, args.probe)?;
    if let Some(s) = &shard {
        checked.plan = checked.plan.shard(s);
    }
    let plan = &checked.plan;
    // The JSON document (fingerprint included) is built once for `--out` and `--format json`.
    let json = (args.out.is_some() || args.format == Format::Json)
        .then(|| serde_json::to_string_pretty(&report::plan::to_json(plan)).unwrap_or_default());
    if let (Some(path), Some(text)) = (&args.out, &json)
        && let Err(e) = std::fs::write(settings.cwd.join(path), format!("{text}\n"))
    {
        let d = Diag::error(
            "cli::write_plan",
            format!("cannot write the plan to `{path}`: {e}"),
        )
        .help("check that the directory exists and is writable");
        emit(&[d], &checked.loaded.sources);
        return Err(1);
    }
    match args.format {
        Format::Tree if args.probe => {
            let fresh = freshness(settings, plan);
            super::stdout(&(report::plan::tree(plan) + &fresh))?
        }
        Format::Tree => super::stdout(&report::plan::tree(plan))?,
        Format::Json => super::stdout(&(json.unwrap_or_default() + "\n"))?,
        Format::Dot => super::stdout(&report::plan::dot(plan))?,
    }
    // The process ends right after this; skip freeing the plan piece by piece.
    std::mem::forget(checked);
    Ok(())
}

/// Resolves, lowers and checks. Diagnostics are emitted here; `Err` carries the exit code.
pub fn build(
    settings: &Settings,
    spec_args: &SpecArgs,
    allow: &[String],
    probe: bool,
) -> Result<Checked, spec::Failed> {
    let builders = |loaded: &pipeline::Loaded, def: &Definition, diags: &mut Diags| {
        let mut declared = pipeline::declared_builders(settings, loaded);
        super::endpoints::connect(settings, loaded, &mut declared, diags);
        if probe {
            probe_all(declared, loaded, def, diags)
        } else {
            declared
        }
    };
    let checked = pipeline::plan(
        spec::read(settings, spec_args),
        settings,
        &spec::compose_env(settings),
        &mut spec::references(settings, allow),
        spec_args,
        builders,
        |def| gather(settings, def, allow),
    );
    match checked {
        Ok(c) => {
            emit(&c.loaded.warnings, &c.loaded.sources);
            Ok(c)
        }
        Err(f) => {
            emit(&f.diags, &f.sources);
            Err(1)
        }
    }
}

/// Reads what the checks need: the paths the definition names (resolved on disk, and looked
/// at only when inside what was granted), and which variables are set.
fn gather(settings: &Settings, def: &crate::model::Definition, allow: &[String]) -> Facts {
    let cwd = paths::real_cwd(&settings.cwd);
    let mut facts = Facts {
        allow: allow.to_vec(),
        grants: Grants::new(allow, |root| paths::real(&settings.cwd, root)),
        cwd,
        ..Facts::default()
    };
    facts.env = settings.env.keys().cloned().collect();
    facts.env_not_utf8 = settings.env_not_utf8.clone();
    for need in check::needs(def) {
        let real = paths::real(&settings.cwd, &need.path);
        let allowed = facts.grants.permits(&facts.cwd, &real, need.access);
        facts.real.insert(need.path.clone(), real.clone());
        if need.access == Access::Write || !allowed {
            continue;
        }
        let fact = match std::fs::metadata(&real) {
            Ok(m) if m.is_dir() => PathFact::Dir,
            Ok(m) if !m.is_file() => PathFact::Special(paths::kind(&m)),
            Ok(_) if need.read => PathFact::File(
                paths::read_regular(&real, paths::MAX_TEXT)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok()),
            ),
            Ok(_) => PathFact::File(None),
            Err(_) => PathFact::Missing,
        };
        facts.paths.insert(need.path, fact);
    }
    for path in check::ssh_paths(def) {
        if let (Some(PathFact::File(_)), Some(real)) =
            (facts.paths.get(&path), facts.real.get(&path))
            && !facts.refused(&path, Access::Read)
        {
            let fact = ssh_key_fact(real);
            facts.ssh_keys.insert(path, fact);
        }
    }
    facts
}

/// Reads an `ssh` key file to tell whether rbake's agent can use it; the key is dropped here.
fn ssh_key_fact(real: &std::path::Path) -> check::SshKeyFact {
    use crate::exec::agent::{self, KeyError};
    let text = match paths::read_regular(real, agent::MAX_KEY_FILE) {
        Ok(t) => t,
        Err(e) => {
            return check::SshKeyFact::Unusable {
                why: format!("cannot be read: {e}"),
                help: "name a readable private key file of at most 100 KiB".into(),
            };
        }
    };
    match agent::parse_key(&text) {
        Ok(_) => check::SshKeyFact::Usable,
        Err(KeyError::Encrypted) => check::SshKeyFact::Encrypted,
        Err(e) => check::SshKeyFact::Unusable {
            why: e.to_string(),
            help: e.help().to_string(),
        },
    }
}

/// Replaces each builder's declared capabilities with what its engine reports, and reports
/// declared platforms the engine cannot build.
fn probe_all(
    declared: Vec<Capabilities>,
    loaded: &pipeline::Loaded,
    def: &Definition,
    diags: &mut Diags,
) -> Vec<Capabilities> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            diags.push(
                Diag::error(
                    "cli::runtime",
                    format!("cannot start the async runtime: {e}"),
                )
                .help("this is a bug in rbake; please report it"),
            );
            return declared;
        }
    };
    let probed: Vec<Result<Capabilities, String>> = runtime.block_on(async {
        let futures = declared.iter().map(|d| async move {
            match tokio::time::timeout(
                std::time::Duration::from_secs(30),
                crate::exec::probe::probe(d),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err("no answer within 30 s".to_string()),
            }
        });
        futures_util::future::join_all(futures).await
    });
    let mut out = Vec::new();
    let mut reachable = declared.len();
    for (d, r) in declared.into_iter().zip(probed) {
        match r {
            Err(cause) => {
                use crate::exec::probe::{Unreachable, classify};
                let span = loaded
                    .config
                    .builders
                    .get(&d.name)
                    .map(|b| b.span_of("endpoint"));
                // A builder a target names in its `builder` attribute is not dropped: those
                // targets could go nowhere else, and "no builder named" would mislead.
                let named = def
                    .targets
                    .values()
                    .any(|t| t.list("builder").iter().any(|b| b.value == d.name));
                let others = reachable > 1 && !named;
                let mut diag = match classify(&d.endpoint, &cause) {
                    Unreachable::Refused { code, help } => Diag::error(
                        code,
                        format!("builder `{}` at {} refused the connection: {cause}", d.name, d.endpoint),
                    )
                    .help(help),
                    Unreachable::Down if others => {
                        // Its nodes go to the other builders; a platform only it builds
                        // then fails the plan with `check::platform_unsupported`.
                        reachable -= 1;
                        let mut w = Diag::warning(
                            "probe::unreachable",
                            format!("builder `{}` at {} is unreachable, so its work goes to the other builders: {cause}", d.name, d.endpoint),
                        )
                        .help("start that engine (or fix its `endpoint`) to have it build again; a platform no other builder can build fails the plan");
                        if let Some(span) = span {
                            w = w.label(span, "not answering");
                        }
                        diags.push(w);
                        continue;
                    }
                    Unreachable::Down => Diag::error(
                        "probe::failed",
                        format!("cannot probe builder `{}` at {}: {cause}", d.name, d.endpoint),
                    )
                    .help("start the engine (see scripts/stack.sh up) or fix the builder's `endpoint`; `rbake plan` without `--probe` needs no engine"),
                };
                if let Some(span) = span {
                    diag = diag.label(span, "this builder");
                }
                diags.push(diag);
                out.push(d);
            }
            Ok(p) => {
                if let Some(b) = loaded.config.builders.get(&d.name) {
                    for item in b.list("platforms").iter().chain(b.list("native")) {
                        let Ok(want) = Platform::parse(&item.value) else {
                            continue;
                        };
                        if !p.can_build(&want) {
                            diags.push(
                                Diag::error("probe::platform_missing", format!("builder `{}` declares {want}, but its engine cannot build it", d.name))
                                    .label(item.span, "not available on the engine")
                                    .help(format!(
                                        "the engine builds {}; register qemu for this platform (`scripts/stack.sh up` does) or remove it from the builder",
                                        p.platforms.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                                    )),
                            );
                        }
                    }
                    for item in b.list("native") {
                        if let Ok(want) = Platform::parse(&item.value)
                            && p.can_build(&want)
                            && !p.is_native(&want)
                        {
                            diags.push(
                                Diag::warning("probe::not_native", format!("builder `{}` declares {want} as native, but its engine emulates it", d.name))
                                    .label(item.span, "emulated on this engine")
                                    .help("move it from `native` to `platforms` only"),
                            );
                        }
                    }
                }
                out.push(p);
            }
        }
    }
    out
}

/// With `--probe`: which nodes `apply` would skip as up to date, and why the others run.
fn freshness(settings: &Settings, plan: &Plan) -> String {
    use crate::exec::{credentials::Credentials, inputs::Keys, registry::Registry, uptodate};
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        return String::new();
    };
    let credentials = std::sync::Arc::new(Credentials::load(
        crate::exec::credentials::config_dir(&settings.env).as_deref(),
    ));
    // Without a registry client every push counts as needed; say why rather than drop it.
    let (registry, unchecked) = match Registry::new(credentials) {
        Ok(r) => (Some(r), String::new()),
        Err(e) => (None, format!("registries not checked: {e}\n")),
    };
    let keys = Keys::new(Keys::cache_dir(&settings.env));
    let a = runtime.block_on(uptodate::assess(
        plan,
        &settings.cwd,
        &keys,
        registry.as_ref(),
        false,
    ));
    report::plan::freshness(plan, &a) + &unchecked
}
