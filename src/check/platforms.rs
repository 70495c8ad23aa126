//! Platform checks: a platform no builder can build, platforms built under emulation (one
//! warning per builder and platform, naming its targets) and targets that forbid emulation.

use std::collections::BTreeMap;

use crate::model::{Definition, Platform};
use crate::plan::{Node, Plan};
use crate::source::{Diag, Diags, Span};

pub(super) fn check_platforms(plan: &Plan, def: &Definition, diags: &mut Diags) {
    let mut emulated: BTreeMap<&str, Vec<(String, String, Span)>> = BTreeMap::new();
    for n in plan.graph.node_weights() {
        let Node::Build(b) = n else { continue };
        let t = &def.targets[&b.target];
        match &b.builder {
            None => {
                let list: Vec<String> = plan
                    .builders
                    .iter()
                    .map(|c| {
                        format!(
                            "{} [{}]",
                            c.name,
                            c.platforms
                                .iter()
                                .map(Platform::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect();
                diags.push(
                    Diag::error(
                        "check::platform_unsupported",
                        format!(
                            "no builder can build `{}` for target `{}`",
                            b.platform, b.target
                        ),
                    )
                    .label(b.platform_span, "requested here")
                    .help(format!(
                        "add `{}` to a builder's `platforms` (builders: {}), or drop it here",
                        b.platform,
                        list.join("; ")
                    )),
                );
            }
            Some(builder) if b.emulated => {
                emulated.entry(b.target.as_str()).or_default().push((
                    b.platform.to_string(),
                    builder.clone(),
                    b.platform_span,
                ));
            }
            Some(_) => {}
        }
        let _ = t;
    }
    // A target that forbids emulation gets its own error; the others share one warning per
    // builder and platform, so 32 targets emulating `linux/arm64` on one builder read as
    // one note, not 32.
    let mut allowed: BTreeMap<(&str, &str), Vec<(&str, Span)>> = BTreeMap::new();
    for (target, list) in &emulated {
        let t = &def.targets[*target];
        if t.str("emulation") != Some("forbid") {
            for (p, b, span) in list {
                allowed
                    .entry((b.as_str(), p.as_str()))
                    .or_default()
                    .push((target, *span));
            }
            continue;
        }
        let mut by_builder: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (p, b, _) in list {
            by_builder.entry(b.as_str()).or_default().push(p.as_str());
        }
        let platforms: Vec<String> = by_builder
            .iter()
            .map(|(b, ps)| format!("{} on `{b}`", ps.join(", ")))
            .collect();
        let mut d = Diag::error("check::emulation_forbidden", format!("target `{target}` forbids emulation but {} would run emulated", platforms.join(", ")))
            .help("add a builder that builds these platforms natively (`native = [...]`), or allow emulation");
        for (_, _, span) in list {
            d = d.label(*span, "emulated");
        }
        diags.push(d);
    }
    for ((builder, platform), targets) in allowed {
        diags.push(emulated_note(builder, platform, &targets));
    }
    if let Some(e) = def.targets.values().find_map(|t| {
        t.get("emulation")
            .filter(|_| !matches!(t.str("emulation"), Some("allow") | Some("forbid")))
            .map(|a| (a.span, t.str("emulation").unwrap_or("").to_string()))
    }) {
        diags.push(
            Diag::error(
                "check::emulation_value",
                format!("`emulation` must be `allow` or `forbid`, not `{}`", e.1),
            )
            .label(e.0, "unknown value")
            .help("write `emulation = \"forbid\"` to refuse emulated builds"),
        );
    }
}

/// Targets named in a grouped diagnostic before the rest are counted, and how many of their
/// locations are labelled.
const NAMED: usize = 8;
const LABELLED: usize = 3;

/// One warning for every target that builds `platform` on `builder` under emulation.
fn emulated_note(builder: &str, platform: &str, targets: &[(&str, Span)]) -> Diag {
    let names: Vec<String> = targets.iter().map(|(t, _)| format!("`{t}`")).collect();
    let whom = match names.len() {
        1 => format!("target {}", names[0]),
        n if n <= NAMED => format!("{n} targets: {}", names.join(", ")),
        n => format!(
            "{n} targets: {} and {} more",
            names[..NAMED].join(", "),
            n - NAMED
        ),
    };
    let mut d = Diag::warning(
        "check::emulated",
        format!("`{builder}` builds `{platform}` under emulation for {whom}"),
    )
    .help("emulated builds are slower; add a native builder for this platform, or set `emulation = \"forbid\"` in a target to make this an error");
    // Targets that inherit their platforms share one span; each place is labelled once.
    let mut spans: Vec<Span> = Vec::new();
    for (_, span) in targets {
        if !spans.contains(span) && spans.len() < LABELLED {
            spans.push(*span);
            d = d.label(*span, "emulated");
        }
    }
    d
}
