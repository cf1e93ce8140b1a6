//! SARIF 2.1.0 (OASIS, "Static Analysis Results Interchange Format"), the
//! file GitHub code scanning and most CI dashboards read: one run, the rules
//! palisade knows, one result per finding at `file:line:column` from the
//! working directory. A small typed model of the part palisade writes rather
//! than the `serde-sarif` crate: that crate types the whole schema (hundreds of
//! generated structs and a builder per struct) for the dozen fields used here,
//! and the test suite validates this output against the official schema anyway.
//! Must not depend on the commands: they hand [`Entry`]s in.

use palisade_intents::{Diag, Severity};
use serde::Serialize;

/// The schema a SARIF file names (the OASIS errata 01 location)
const SCHEMA: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// One check palisade may report, as the run lists it
pub struct Rule {
    /// `PAL002`, `l7_unsupported`
    pub id: &'static str,
    /// `egress-without-dns`, when the check has a name
    pub name: Option<&'static str>,
    /// one line on what it finds, when the registry has one
    pub summary: Option<&'static str>,
    /// its severity
    pub severity: Severity,
}

/// One finding, from a diagnostic or built by a command
pub struct Entry {
    /// the rule's id
    pub code: &'static str,
    /// its severity
    pub severity: Severity,
    /// what is wrong
    pub message: String,
    /// how to fix it
    pub help: Option<String>,
    /// the file from the working directory, with line and column when known
    pub place: Option<(String, Option<(usize, usize)>)>,
    /// the object it is about (`NetworkPolicy shop/frontend-ingress`), as a
    /// logical location; the message names it too where a reader needs it
    pub object: Option<String>,
}

impl Entry {
    /// The entry of a diagnostic, at its place
    pub fn of(diag: &Diag) -> Self {
        Entry {
            code: diag.code_str(),
            severity: diag.severity(),
            message: diag.message().to_string(),
            help: diag.help_text().map(str::to_string),
            place: diag.loc().map(|l| (l.file.shown.clone(), Some((l.line(), l.column())))),
            object: None,
        }
    }
}

/// The SARIF log of one run: `rules` first, then
/// every entry whose rule is not among them, so every result has its rule
pub fn log(rules: Vec<Rule>, entries: &[Entry]) -> serde_json::Value {
    let mut rules = rules;
    for entry in entries {
        if !rules.iter().any(|r| r.id == entry.code) {
            rules.push(Rule {
                id: entry.code,
                name: None,
                summary: None,
                severity: entry.severity,
            });
        }
    }
    let results = entries.iter().map(|e| result(e, &rules)).collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "palisade",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules: rules.iter().map(descriptor).collect(),
                },
            },
            // Columns count characters, as the human diagnostics do
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    // INVARIANT: the model holds strings, numbers and vectors only, which
    // always serialize; Null is never reached.
    serde_json::to_value(log).unwrap_or(serde_json::Value::Null)
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn descriptor(rule: &Rule) -> Descriptor {
    Descriptor {
        id: rule.id,
        name: rule.name,
        short_description: rule.summary.map(|text| Text { text: text.to_string() }),
        default_configuration: Configuration {
            level: level(rule.severity),
        },
    }
}

fn result(entry: &Entry, rules: &[Rule]) -> SarifResult {
    let mut text = entry.message.clone();
    if let Some(help) = &entry.help {
        text.push_str(&format!("\nhelp: {help}"));
    }
    let physical = entry.place.as_ref().map(|(file, at)| Physical {
        artifact_location: Artifact { uri: uri(file) },
        region: at.map(|(line, column)| Region {
            start_line: line,
            start_column: column,
        }),
    });
    let logical = entry.object.as_ref().map(|object| {
        let (kind, name) = object.split_once(' ').unwrap_or(("", object));
        vec![Logical {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            fully_qualified_name: object.clone(),
            kind: kind.to_string(),
        }]
    });
    let locations = if physical.is_none() && logical.is_none() {
        Vec::new()
    } else {
        vec![Location {
            physical_location: physical,
            logical_locations: logical,
        }]
    };
    SarifResult {
        rule_id: entry.code,
        rule_index: rules.iter().position(|r| r.id == entry.code).unwrap_or(0),
        level: level(entry.severity),
        message: Text { text },
        locations,
    }
}

/// A path as a URI reference: relative paths stay relative (code scanning
/// resolves them from the checkout), absolute ones become `file://` URIs;
/// what is not unreserved or a separator is percent-encoded (RFC 3986)
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(char::from(byte)),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    // No informationUri: palisade has no published home yet, and a made-up
    // address in every code-scanning alert would send readers nowhere.
    semantic_version: &'static str,
    rules: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_description: Option<Text>,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<Physical>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logical_locations: Option<Vec<Logical>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical {
    artifact_location: Artifact,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct Artifact {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Logical {
    name: String,
    fully_qualified_name: String,
    kind: String,
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            uri("examples/zero-trust/raw/np.yaml"),
            "examples/zero-trust/raw/np.yaml"
        );
        assert_eq!(uri("/tmp/out dir/a#b.yaml"), "file:///tmp/out%20dir/a%23b.yaml");
        assert_eq!(uri("dir\\ä.yaml"), "dir/%C3%A4.yaml");
    }
}
