//! The references targets publish (pushed tags, loaded tags), and the clashes between them:
//! two targets writing one reference is an error, reported once per pair of targets with
//! every reference and platform they share, not once per tag and platform.

use std::collections::BTreeMap;

use crate::model::Platform;
use crate::model::reference::Reference;
use crate::source::{Diag, Diags, Span};

#[derive(Default)]
pub(super) struct Claims {
    /// Normalised reference → the first target writing it and where.
    published: BTreeMap<String, (String, Span)>,
    /// (first target, later target) → what they share.
    clashes: BTreeMap<(String, String), Clash>,
}

#[derive(Default)]
struct Clash {
    /// The reference as the later target wrote it, where, and where the first wrote it.
    tags: Vec<(String, Span, Span)>,
    platforms: Vec<Platform>,
}

impl Claims {
    /// Records the references `target` writes for `platforms`. References compare
    /// normalised: `app:1` is `docker.io/library/app:1`. `written` holds the tags as the spec
    /// wrote them, which a clash names (a split load writes a local tag per platform, made
    /// from the written one at the same span).
    pub(super) fn claim(
        &mut self,
        tags: &[(String, Span)],
        written: &[(String, Span)],
        target: &str,
        platforms: &[Platform],
    ) {
        for (tag, span) in tags {
            let key = Reference::parse(tag).map_or_else(|_| tag.clone(), |r| r.normalized());
            match self.published.get(&key) {
                Some((other, other_span)) if other != target => {
                    let clash = self
                        .clashes
                        .entry((other.clone(), target.to_string()))
                        .or_default();
                    if !clash.tags.iter().any(|(_, s, _)| s == span) {
                        let shown = written.iter().find(|w| w.1 == *span).map_or(tag, |w| &w.0);
                        clash.tags.push((shown.clone(), *span, *other_span));
                    }
                    for p in platforms {
                        if !clash.platforms.contains(p) {
                            clash.platforms.push(p.clone());
                        }
                    }
                }
                Some(_) => {}
                None => {
                    self.published.insert(key, (target.to_string(), *span));
                }
            }
        }
    }

    /// One `plan::duplicate_tag` per pair of targets that write a common reference.
    pub(super) fn report(self, diags: &mut Diags) {
        for ((other, target), clash) in self.clashes {
            let tags: Vec<String> = clash
                .tags
                .iter()
                .map(|(t, _, _)| format!("`{t}`"))
                .collect();
            let platforms: Vec<String> = clash.platforms.iter().map(ToString::to_string).collect();
            let mut d = Diag::error(
                "plan::duplicate_tag",
                format!(
                    "targets `{other}` and `{target}` both write {} for {}",
                    tags.join(", "),
                    platforms.join(", ")
                ),
            )
            .help(
                "give each target its own tags; the later write would silently replace the earlier",
            );
            let mut first = Diag::error(
                "plan::duplicate_tag",
                format!(
                    "`{other}` writes {} too",
                    if tags.len() == 1 { "it" } else { "them" }
                ),
            );
            let mut seen = Vec::new();
            for (_, span, other_span) in &clash.tags {
                d = d.label(*span, format!("`{target}` writes it here"));
                if !seen.contains(other_span) {
                    seen.push(*other_span);
                    first = first.label(*other_span, "first written here");
                }
            }
            diags.push(d.related(first));
        }
    }
}
