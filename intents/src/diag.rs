//! Diagnostics: one error or warning at a place in the user's files, with a hint.
//!
//! Messages are lowercase without a final period; user text goes in backticks;
//! the fix goes in `help`. Every diagnostic has a stable code (`palisade::…`).

use crate::loc::Loc;
use miette::{LabeledSpan, NamedSource, SourceCode};
use std::fmt;

/// How bad a diagnostic is
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// stops the command: no output is written
    Error,
    /// printed, the command goes on
    Warning,
}

/// One diagnostic (boxed: it travels in `Err` variants)
#[derive(Clone)]
pub struct Diag(Box<Inner>);

#[derive(Clone)]
struct Inner {
    severity: Severity,
    code: &'static str,
    message: String,
    help: Option<String>,
    loc: Option<Loc>,
    source: Option<NamedSource<String>>,
}

impl Diag {
    /// An error with a stable code (without the `palisade::` prefix)
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            severity: Severity::Error,
            code,
            message: message.into(),
            help: None,
            loc: None,
            source: None,
        }))
    }

    /// A warning with a stable code
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        let mut diag = Self::error(code, message);
        diag.0.severity = Severity::Warning;
        diag
    }

    /// Attach the place in the user's files
    pub fn at(mut self, loc: &Loc) -> Self {
        self.0.source = Some(NamedSource::new(loc.file.shown.clone(), loc.file.text.to_string()));
        self.0.loc = Some(loc.clone());
        self
    }

    /// Attach the place where one is known
    pub fn at_opt(self, loc: Option<&Loc>) -> Self {
        match loc {
            Some(loc) => self.at(loc),
            None => self,
        }
    }

    /// Attach a hint that says how to fix it
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    /// Attach a hint where one exists
    pub fn help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.0.help = help;
        }
        self
    }

    /// Error or warning
    pub fn severity(&self) -> Severity {
        self.0.severity
    }

    /// The stable code, without prefix
    pub fn code_str(&self) -> &'static str {
        self.0.code
    }

    /// The message, without location
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The hint, if any
    pub fn help_text(&self) -> Option<&str> {
        self.0.help.as_deref()
    }

    /// Where it is
    pub fn loc(&self) -> Option<&Loc> {
        self.0.loc.as_ref()
    }

    /// True for errors
    pub fn is_error(&self) -> bool {
        self.0.severity == Severity::Error
    }

    /// One-line form `file:line:column: error[code]: message`, then the offending
    /// text and the hint on their own lines; used by `--error-format plain`.
    pub fn render_plain(&self) -> String {
        let level = match self.0.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        if let Some(loc) = &self.0.loc {
            out.push_str(&format!("{loc}: "));
        }
        out.push_str(&format!("{level}[palisade::{}]: {}\n", self.0.code, self.0.message));
        if let Some(loc) = &self.0.loc {
            let line_text = loc.file.text.lines().nth(loc.line().saturating_sub(1)).unwrap_or("");
            out.push_str(&format!("  | {line_text}\n"));
            let pad = " ".repeat(loc.column().saturating_sub(1));
            let marks = "^".repeat(loc.text().chars().count().max(1));
            out.push_str(&format!("  | {pad}{marks}\n"));
        }
        if let Some(help) = &self.0.help {
            out.push_str(&format!("  = help: {help}\n"));
        }
        out
    }
}

impl fmt::Debug for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_plain())
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Diag {}

impl miette::Diagnostic for Diag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("palisade::{}", self.0.code)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.0.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let loc = self.0.loc.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_primary_with_span(
            Some("here".to_string()),
            (loc.offset, loc.len),
        ))))
    }
}

/// Diagnostics gathered while loading or compiling: errors stop the command,
/// warnings do not. Work goes on after an error so that all are reported at once.
#[derive(Debug, Default, Clone)]
pub struct Diags(Vec<Diag>);

impl Diags {
    /// No diagnostics
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one
    pub fn push(&mut self, diag: Diag) {
        self.0.push(diag);
    }

    /// Add many
    pub fn extend(&mut self, other: Diags) {
        self.0.extend(other.0);
    }

    /// True if any is an error
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diag::is_error)
    }

    /// All, in the order they were found
    pub fn iter(&self) -> impl Iterator<Item = &Diag> {
        self.0.iter()
    }

    /// Number of diagnostics
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorted by file, position and message, so output does not depend on the
    /// order in which passes ran
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            let key = |d: &Diag| {
                (
                    d.0.loc.as_ref().map(|l| (l.file.path.clone(), l.offset)),
                    d.0.severity,
                    d.0.message.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        self.0.dedup_by(|a, b| a.render_plain() == b.render_plain());
        self
    }
}

impl IntoIterator for Diags {
    type Item = Diag;
    type IntoIter = std::vec::IntoIter<Diag>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The closest of `candidates` to `word`, for "did you mean" hints
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= (c.len().max(word.len()) / 3).max(1))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}
