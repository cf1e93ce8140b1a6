//! SARIF 2.1.0 (OASIS, "Static Analysis Results Interchange Format"), the
//! file GitHub code scanning and most CI dashboards read: one run, the rules
//! palisade knows, one result per finding at `file:line:column` (from the
//! root of the git work tree the file is in, else from the working
//! directory), and what has no place in a file as a notification of the
//! run's invocation (code scanning shows no result without a location).
//! A small typed model of the part palisade writes rather
//! than the `serde-sarif` crate: that crate types the whole schema (hundreds of
//! generated structs and a builder per struct) for the dozen fields used here,
//! and the test suite validates this output against the official schema anyway.
//! Must not depend on the commands: they hand [`Entry`]s in.

use palisade_intents::{Diag, Severity};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    path::{Component, Path, PathBuf},
};

/// The schema a SARIF file names: the final 2.1.0 (OASIS errata 01), the
/// document tests/sarif.rs validates against
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

/// The base of paths inside a git work tree: its root, which code scanning
/// knows as the checkout. The run names no `originalUriBaseIds` for it: the
/// root's `file://` address would make the log differ from one machine (or
/// checkout folder) to the next, and a consumer resolves `%SRCROOT%` itself.
const SRCROOT: &str = "%SRCROOT%";

/// The SARIF log of one run: `rules` first, then every located entry's rule
/// that is not among them, so every result has its rule; entries without a
/// file are the invocation's notifications
pub fn log(rules: Vec<Rule>, entries: &[Entry]) -> serde_json::Value {
    let (located, unplaced): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| e.place.is_some());
    let mut rules = rules;
    for entry in &located {
        if !rules.iter().any(|r| r.id == entry.code) {
            rules.push(Rule {
                id: entry.code,
                name: None,
                summary: None,
                severity: entry.severity,
            });
        }
    }
    let mut roots = Roots::default();
    let results = located.iter().map(|e| result(e, &rules, &mut roots)).collect();
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
            invocations: vec![invocation(&unplaced)],
            // Columns count characters, as the human diagnostics do
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    // INVARIANT: the model holds strings, numbers and vectors only, which
    // always serialize; Null is never reached.
    serde_json::to_value(log).unwrap_or(serde_json::Value::Null)
}

/// The run's invocation: it failed when an entry without a place is an error
/// (a bad flag, an unreadable file: nothing was checked)
fn invocation(unplaced: &[&Entry]) -> Invocation {
    Invocation {
        execution_successful: !unplaced.iter().any(|e| e.severity == Severity::Error),
        tool_execution_notifications: unplaced
            .iter()
            .map(|e| Notification {
                level: level(e.severity),
                message: Text { text: text(e) },
                descriptor: Reference { id: e.code },
            })
            .collect(),
    }
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

fn text(entry: &Entry) -> String {
    let mut text = entry.message.clone();
    if let Some(help) = &entry.help {
        text.push_str(&format!("\nhelp: {help}"));
    }
    text
}

fn result(entry: &Entry, rules: &[Rule], roots: &mut Roots) -> SarifResult {
    let physical = entry.place.as_ref().map(|(file, at)| Physical {
        artifact_location: roots.artifact(file),
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
        message: Text { text: text(entry) },
        locations,
    }
}

/// The git work tree of each folder a file is in, looked up once per folder
#[derive(Default)]
struct Roots {
    known: BTreeMap<PathBuf, Option<PathBuf>>,
}

impl Roots {
    /// Where a file is: from the root of its git work tree, normalised and
    /// based on [`SRCROOT`] (code scanning matches alerts by that path, the
    /// same whatever folder palisade ran in); outside one, the path as given
    /// (from the working directory), normalised
    fn artifact(&mut self, shown: &str) -> Artifact {
        match self.relative_to_root(Path::new(shown)) {
            Some(relative) => Artifact {
                uri: uri(&relative),
                uri_base_id: Some(SRCROOT),
            },
            None => Artifact {
                uri: uri(&normalise(Path::new(shown))),
                uri_base_id: None,
            },
        }
    }

    fn relative_to_root(&mut self, path: &Path) -> Option<String> {
        // The real path: the work tree's root is one too (libgit2 resolves links)
        let file = std::fs::canonicalize(path).ok()?;
        let folder = file.parent()?.to_path_buf();
        let root = self
            .known
            .entry(folder)
            .or_insert_with_key(|folder| {
                let repo = git2::Repository::discover(folder).ok()?;
                std::fs::canonicalize(repo.workdir()?).ok()
            })
            .as_ref()?;
        let relative = file.strip_prefix(root).ok()?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    }
}

/// A path without `.` and with each `name/..` taken out, as written
/// otherwise (leading `..` stay: the path is from the working directory)
fn normalise(path: &Path) -> String {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                // `/..` is `/`
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(part),
            },
            _ => parts.push(part),
        }
    }
    let normal: PathBuf = parts.iter().collect();
    normal.to_string_lossy().into_owned()
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
    invocations: Vec<Invocation>,
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: &'static str,
    message: Text,
    descriptor: Reference,
}

#[derive(Serialize)]
struct Reference {
    id: &'static str,
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
#[serde(rename_all = "camelCase")]
struct Artifact {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
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
    use super::{normalise, uri};
    use std::path::Path;

    #[test]
    fn paths_are_normalised_as_written() {
        assert_eq!(
            normalise(Path::new("../deploy/./policies/x.yaml")),
            "../deploy/policies/x.yaml"
        );
        assert_eq!(normalise(Path::new("a/b/../../c/./x.yaml")), "c/x.yaml");
        assert_eq!(normalise(Path::new("../../x.yaml")), "../../x.yaml");
        assert_eq!(normalise(Path::new("/tmp/../x.yaml")), "/x.yaml");
    }

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
