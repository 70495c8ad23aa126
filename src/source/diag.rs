//! The one diagnostic type every layer reports with, and its rendering through miette.

use std::fmt;

use miette::{LabeledSpan, MietteDiagnostic, Report};

use super::snippet::Snippet;
use super::{SourceMap, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// A problem in the user's input: a code, a short lowercase message, labelled spans (the first
/// is the primary location) and a help line that says what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Further locations in other files (e.g. each step of a cycle), shown after this one.
    pub related: Vec<Diag>,
}

impl Diag {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message)
        }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, other: Diag) -> Diag {
        self.related.push(other);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn primary(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// Builds the miette report, resolving spans against `sources`. Labels in other files than
    /// the primary one become related reports, since miette shows one source per report.
    pub fn to_report(&self, sources: &SourceMap) -> Report {
        self.report(sources, false)
    }

    /// `context`: this is a related location of another diagnostic, shown as advice (a
    /// note), not as a second error.
    fn report(&self, sources: &SourceMap, context: bool) -> Report {
        let severity = match self.severity {
            _ if context => miette::Severity::Advice,
            Severity::Warning => miette::Severity::Warning,
            Severity::Error => miette::Severity::Error,
        };
        let mut d = MietteDiagnostic::new(self.message.clone()).with_severity(severity);
        if !context {
            d = d.with_code(format!("rbake::{}", self.code));
        }
        if let Some(h) = &self.help {
            d = d.with_help(h.clone());
        }
        let mut related = Vec::new();
        let file = self.primary().map(|s| s.file);
        let mut snippet = file.map(|file| {
            let f = sources.get(file);
            let ranges: Vec<_> = self
                .labels
                .iter()
                .filter(|l| l.span.file == file)
                .map(|l| l.span.range())
                .collect();
            Snippet::new(f.name.clone(), &f.text, &ranges)
        });
        for l in &self.labels {
            if let (Some(snippet), true) = (&mut snippet, Some(l.span.file) == file) {
                let (line, col) = sources.line_col(l.span.file, l.span.start as usize);
                let text = if l.text.is_empty() {
                    format!("{line}:{col}")
                } else {
                    format!("{} ({line}:{col})", l.text)
                };
                let at = snippet.map_range(l.span.range());
                snippet.pin(at.start, line, col);
                d = d.and_label(LabeledSpan::new(Some(text), at.start, at.len()));
            } else {
                related.push(Diag::error(self.code, l.text.clone()).label(l.span, ""));
            }
        }
        related.extend(self.related.iter().cloned());
        let inner = WithRelated {
            inner: d,
            related: related.iter().map(|r| r.report(sources, true)).collect(),
        };
        match snippet {
            Some(snippet) => Report::new(inner).with_source_code(snippet),
            None => Report::new(inner),
        }
    }

    /// Renders without colour at a fixed width: what tests snapshot and what goes to a
    /// non-terminal stderr.
    pub fn render_plain(&self, sources: &SourceMap, width: usize) -> String {
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(width);
        let mut out = String::new();
        let report = self.to_report(sources);
        let _ = handler.render_report(&mut out, report.as_ref());
        out
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A `MietteDiagnostic` plus related reports (it has no field for those).
#[derive(Debug)]
struct WithRelated {
    inner: MietteDiagnostic,
    related: Vec<Report>,
}

impl fmt::Display for WithRelated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for WithRelated {}

impl miette::Diagnostic for WithRelated {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r.as_ref())))
    }
}

/// Collected diagnostics: layers push every problem and return them all at once.
#[derive(Clone, Debug, Default)]
pub struct Diags(pub Vec<Diag>);

impl Diags {
    /// Adds a diagnostic unless the same one was already reported (a shared cause, such as
    /// a cycle, otherwise surfaces once per name that reaches it).
    pub fn push(&mut self, d: Diag) {
        if !self.0.contains(&d) {
            self.0.push(d);
        }
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diag>) {
        for d in other {
            self.push(d);
        }
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diag::is_error)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Diags {
    type Item = Diag;
    type IntoIter = std::vec::IntoIter<Diag>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
