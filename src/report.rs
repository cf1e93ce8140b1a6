//! Printing diagnostics in the format the user chose: commands hand them
//! back, and main prints them once.

use clap::ValueEnum;
use miette::{GraphicalReportHandler, GraphicalTheme};
use palisade_intents::{Diag, Diags, Severity};
use std::io::{IsTerminal, Write};

pub mod sarif;

/// How a command writes its findings (`-o/--output`): text diagnostics on
/// stderr, or one document on stdout that holds every diagnostic, for CI
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    /// diagnostics on stderr, as `--error-format` says, and a summary line
    #[default]
    Text,
    /// one JSON document on stdout
    Json,
    /// one SARIF 2.1.0 log on stdout (GitHub code scanning, `upload-sarif`)
    Sarif,
}

/// Write a machine document to stdout, indented, with a final newline
pub fn document(value: &serde_json::Value) {
    // A Value's keys are strings: serializing it cannot fail
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    println!("{text}");
}

/// How diagnostics are printed
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    /// snippets with the offending text underlined (colours on a terminal)
    Human,
    /// one `file:line:column: error[code]: message` line, the text, the hint
    Plain,
    /// one JSON object per line
    Json,
    /// GitHub Actions workflow commands (`::error file=...,line=...::...`):
    /// each finding annotates its line in the pull request
    Github,
}

/// Print every diagnostic to stderr, then how many errors stopped the command
pub fn print(diags: &Diags, format: ErrorFormat) {
    print_each(diags, format);
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if errors > 0 && !matches!(format, ErrorFormat::Json | ErrorFormat::Github) {
        let _ = writeln!(
            out,
            "palisade: {errors} error{} found; nothing was written",
            if errors == 1 { "" } else { "s" }
        );
    }
}

/// Print every diagnostic to stderr, and nothing else
fn print_each(diags: &Diags, format: ErrorFormat) {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    for diag in diags.iter() {
        let text = match format {
            ErrorFormat::Plain => diag.render_plain(),
            ErrorFormat::Json => format!("{}\n", json(diag)),
            ErrorFormat::Github => github(diag),
            ErrorFormat::Human => human(diag),
        };
        // A closed stderr leaves nowhere to report to; carry on to the exit code.
        let _ = out.write_all(text.as_bytes());
    }
}

fn human(diag: &Diag) -> String {
    let theme = if std::io::stderr().is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut text = String::new();
    // The location line first, so the place can be found with grep or clicked.
    if let Some(loc) = diag.loc() {
        text.push_str(&format!("{loc}\n"));
    }
    if GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .render_report(&mut text, diag)
        .is_err()
    {
        text.push_str(&diag.render_plain());
    }
    text.push('\n');
    text
}

fn json(diag: &Diag) -> String {
    diag_json(diag).to_string()
}

/// One diagnostic as `--error-format json` prints it, for documents that hold diagnostics
pub fn diag_json(diag: &Diag) -> serde_json::Value {
    let loc = diag.loc();
    serde_json::json!({
        "severity": match diag.severity() { Severity::Error => "error", Severity::Warning => "warning" },
        "code": format!("palisade::{}", diag.code_str()),
        "message": diag.message(),
        "file": loc.map(|l| l.file.shown.clone()),
        "line": loc.map(|l| l.line()),
        "column": loc.map(|l| l.column()),
        "text": loc.map(|l| l.text().to_string()),
        "help": diag.help_text(),
    })
}

/// One workflow command (docs.github.com, "Workflow commands for GitHub
/// Actions"): `::error` or `::warning`, the place as properties, the message
/// and the hint as data, escaped as the runner reads them
fn github(diag: &Diag) -> String {
    let data = |text: &str| text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |text: &str| data(text).replace(':', "%3A").replace(',', "%2C");
    let level = match diag.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = Vec::new();
    if let Some(loc) = diag.loc() {
        properties.push(format!("file={}", property(&loc.file.shown)));
        properties.push(format!("line={}", loc.line()));
        properties.push(format!("col={}", loc.column()));
    }
    properties.push(format!("title={}", property(&format!("palisade::{}", diag.code_str()))));
    let mut message = diag.message().to_string();
    if let Some(help) = diag.help_text() {
        message.push_str(&format!("\nhelp: {help}"));
    }
    format!("::{level} {}::{}\n", properties.join(","), data(&message))
}
