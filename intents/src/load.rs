//! Reading an intents repository: files → YAML documents → typed documents.
//!
//! Documents whose `apiVersion` is not `palisade.dev/…` are skipped (a repository
//! may hold other manifests); a palisade document of an unknown kind or version
//! is an error. Every error carries `file:line:column` and loading goes on after
//! one, so a user sees all of them at once.

use crate::{
    diag::{did_you_mean, Diag, Diags},
    loc::{Loc, SourceFile},
    model::Repository,
    types::{GuardrailsDocument, IntentsDocument, ProjectDocument, API_VERSION},
    validate,
};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};
use std::{path::Path, sync::Arc};

/// Files larger than this are refused: intents are small, and the YAML parser
/// holds the whole tree in memory
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Nesting deeper than this is refused before parsing, as no intent needs it
const MAX_NESTING: usize = 64;

/// A file's path (relative, as shown to users) and raw bytes
pub struct RawFile {
    /// path relative to the repository root
    pub path: String,
    /// the bytes as read
    pub bytes: Vec<u8>,
}

/// Read the files of the folder `dir` that hold intents, sorted by path; which
/// files those are, and which are refused, is `walk`'s module documentation
pub fn read_dir(dir: &Path) -> Result<Vec<RawFile>, Diags> {
    let (files, diags) = crate::walk::read_tree(dir);
    if diags.has_errors() {
        Err(diags.sorted())
    } else {
        Ok(files)
    }
}

/// Load a repository from a folder; a file refused there does not stop the
/// others from being checked, so every error is reported at once
pub fn load_dir(dir: &Path) -> Result<Repository, Diags> {
    let (files, diags) = crate::walk::read_tree(dir);
    load_into(files, diags, Some(dir))
}

/// Load a repository from files already read (from disk or from git)
pub fn load_files(files: Vec<RawFile>) -> Result<Repository, Diags> {
    load_into(files, Diags::new(), None)
}

/// `shown_under`: the folder named on the command line, which diagnostics
/// put before each file's path
fn load_into(files: Vec<RawFile>, mut diags: Diags, shown_under: Option<&Path>) -> Result<Repository, Diags> {
    let mut intents = Vec::new();
    let mut projects = Vec::new();
    let mut guardrails = Vec::new();
    for raw in files {
        let shown = shown_path(&raw.path, shown_under);
        let Some(file) = decode(raw, shown, &mut diags) else {
            continue;
        };
        for document in split_documents(&file.text) {
            if let Err(d) = check_directives(&file, &document) {
                diags.push(d);
                continue;
            }
            match parse_document(&file, &document) {
                Ok(Some(Parsed::Intents(doc))) => intents.push((file.clone(), *doc)),
                Ok(Some(Parsed::Project(doc))) => projects.push((file.clone(), *doc)),
                Ok(Some(Parsed::Guardrails(doc))) => guardrails.push((file.clone(), *doc)),
                Ok(None) => {}
                Err(d) => diags.push(d),
            }
        }
    }
    let mut repository = validate::repository(intents, guardrails, projects, &mut diags);
    if diags.has_errors() {
        Err(diags.sorted())
    } else {
        repository.warnings = diags;
        Ok(repository)
    }
}

/// `path` as reached from the working directory
fn shown_path(path: &str, under: Option<&Path>) -> String {
    match under {
        Some(dir) if dir != Path::new(".") && !dir.as_os_str().is_empty() => {
            let joined = dir.join(path).display().to_string();
            joined.strip_prefix("./").map_or(joined.clone(), str::to_string)
        }
        _ => path.to_string(),
    }
}

fn decode(raw: RawFile, shown: String, diags: &mut Diags) -> Option<Arc<SourceFile>> {
    if raw.bytes.len() > MAX_FILE_BYTES {
        diags.push(
            Diag::error(
                "file_too_large",
                format!(
                    "`{}` is {} bytes, more than the {MAX_FILE_BYTES} allowed",
                    raw.path,
                    raw.bytes.len()
                ),
            )
            .help("split the intents into several files"),
        );
        return None;
    }
    if let Some(text) = transcode(&raw.bytes) {
        return Some(SourceFile::shown_as(raw.path, shown, strip_document_marks(text)));
    }
    let unicode = utf16_or_32(&raw.bytes).is_some();
    match String::from_utf8(raw.bytes) {
        Ok(text) => Some(SourceFile::shown_as(raw.path, shown, text)),
        Err(e) => {
            let valid = if unicode { 0 } else { e.utf8_error().valid_up_to() };
            let prefix = String::from_utf8_lossy(e.as_bytes().get(..valid).unwrap_or(&[])).to_string();
            let file = SourceFile::shown_as(raw.path, shown, prefix);
            let loc = Loc::new(file.clone(), valid, 0);
            let what = if unicode { "valid UTF-16 or UTF-32" } else { "UTF-8" };
            diags.push(
                Diag::error("not_utf8", format!("`{}` is not {what} text", file.path))
                    .at(&loc)
                    .help("intents files are UTF-8 YAML; is this a binary file?"),
            );
            None
        }
    }
}

/// The text of a file in one of the encodings YAML 1.2 requires a reader to
/// take (5.2: UTF-8, UTF-16 and UTF-32, told apart by the byte order mark), the
/// mark itself removed: a file saved with a BOM is the same intents as one
/// without. `None` when the bytes are none of them.
pub(crate) fn transcode(bytes: &[u8]) -> Option<String> {
    if let Some(text) = utf16_or_32(bytes) {
        return text;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

/// `Some(decoded)` when the bytes start with a UTF-16 or UTF-32 byte order mark
fn utf16_or_32(bytes: &[u8]) -> Option<Option<String>> {
    let units = |body: &[u8], size: usize, big: bool| -> Vec<u32> {
        body.chunks_exact(size)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .map(|(i, b)| u32::from(*b) << (8 * if big { size - 1 - i } else { i }))
                    .sum()
            })
            .collect()
    };
    let utf32 = |body: &[u8], big: bool| -> Option<String> {
        body.len().is_multiple_of(4).then_some(())?;
        units(body, 4, big).into_iter().map(char::from_u32).collect()
    };
    let utf16 = |body: &[u8], big: bool| -> Option<String> {
        body.len().is_multiple_of(2).then_some(())?;
        let units: Vec<u16> = units(body, 2, big).into_iter().map(|u| u as u16).collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xFF, 0xFE, 0, 0, body @ ..] => Some(utf32(body, false)),
        [0, 0, 0xFE, 0xFF, body @ ..] => Some(utf32(body, true)),
        [0xFF, 0xFE, body @ ..] => Some(utf16(body, false)),
        [0xFE, 0xFF, body @ ..] => Some(utf16(body, true)),
        _ => None,
    }
}

/// YAML 1.2 allows a byte order mark at the start of every document of a
/// stream, not only of the file: a mark at the start of a line would otherwise
/// become part of the first key (`\u{feff}apiVersion`) and hide the document
fn strip_document_marks(text: String) -> String {
    if text.contains("\n\u{feff}") {
        text.replace("\n\u{feff}", "\n")
    } else {
        text
    }
}

/// One YAML document of a file: its text with earlier lines blanked, so that
/// the parser's line numbers are the file's
pub(crate) struct Document {
    pub(crate) text: String,
    /// the directives before it (`%YAML 1.2`): 1-based line and text
    pub(crate) directives: Vec<(usize, String)>,
    /// whether it starts with `---` (directives need one)
    pub(crate) explicit_start: bool,
}

pub(crate) fn split_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut has_content = false;
    let mut directives = Vec::new();
    let mut explicit_start = false;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let rest = line.get(3..).unwrap_or("");
        let is_separator = line.starts_with("---") && (rest.trim().is_empty() || rest.starts_with([' ', '\t']));
        let is_end = line.trim_end() == "...";
        if is_separator || is_end {
            if has_content {
                documents.push(Document {
                    text: std::mem::take(&mut current),
                    directives: std::mem::take(&mut directives),
                    explicit_start,
                });
            }
            // Keep line numbers: every earlier line becomes an empty one.
            current = "\n".repeat(index);
            has_content = false;
            explicit_start = is_separator;
            // `--- { a: 1 }` starts a document on the marker's own line: keep
            // that content, at its column.
            let inline = rest.trim();
            if is_separator && !inline.is_empty() && !inline.starts_with('#') {
                current.push_str("   ");
                current.push_str(rest);
                has_content = true;
            } else {
                current.push('\n');
            }
            continue;
        }
        let trimmed = line.trim();
        if !has_content && line.starts_with('%') {
            // A directive belongs to the document the next `---` starts.
            directives.push((index + 1, trimmed.to_string()));
            current.push('\n');
            continue;
        }
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            has_content = true;
        }
        current.push_str(line);
    }
    if has_content {
        documents.push(Document {
            text: current,
            directives,
            explicit_start,
        });
    }
    documents
}

/// `%YAML 1.2` is what this reader implements; any other version reads
/// scalars such as `yes`, `on` or `0777` differently (1.1), or is not known.
/// `%TAG` only serves tags, which intents do not allow.
fn check_directives(file: &Arc<SourceFile>, document: &Document) -> Result<(), Diag> {
    for (line, directive) in &document.directives {
        let loc = Loc::at_scalar(file.clone(), *line, 1);
        let mut words = directive.split_whitespace();
        match (words.next(), words.next()) {
            (Some("%YAML"), Some("1.2")) => {}
            (Some("%YAML"), version) => {
                return Err(
                    Diag::error("yaml", format!("YAML version `{}` is not read", version.unwrap_or("")))
                        .at(&loc)
                        .help("intents are YAML 1.2: write `%YAML 1.2`, or remove the directive"),
                )
            }
            (Some("%TAG"), _) => {
                return Err(Diag::error("yaml", "YAML tags are not allowed in intents")
                    .at(&loc)
                    .help("remove the `%TAG` directive"))
            }
            _ => {
                return Err(Diag::error("yaml", format!("unknown YAML directive `{directive}`"))
                    .at(&loc)
                    .help("the only directive intents may carry is `%YAML 1.2`"))
            }
        }
    }
    match document.directives.first() {
        Some((line, _)) if !document.explicit_start => {
            Err(Diag::error("yaml", "a YAML directive must be followed by `---`")
                .at(&Loc::at_scalar(file.clone(), *line, 1))
                .help("start the document with a line `---` after the directive"))
        }
        _ => Ok(()),
    }
}

enum Parsed {
    Intents(Box<IntentsDocument>),
    Project(Box<ProjectDocument>),
    Guardrails(Box<GuardrailsDocument>),
}

fn parse_document(file: &Arc<SourceFile>, document: &Document) -> Result<Option<Parsed>, Diag> {
    if let Some(depth_loc) = too_deep(file, &document.text) {
        return Err(
            Diag::error("yaml", format!("YAML nested more than {MAX_NESTING} levels deep"))
                .at(&depth_loc)
                .help("intents never nest this deep; is this the right file?"),
        );
    }
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    // INVARIANT: marked-yaml may panic on input its state machine did not expect;
    // a panic in a parser must still be a clean error for the user.
    let text = document.text.clone();
    let parsed = std::panic::catch_unwind(move || marked_yaml::parse_yaml_with_options(0, text, options));
    let node = match parsed {
        Ok(Ok(node)) => node,
        Ok(Err(e)) => return Err(load_error(file, e)),
        Err(_) => {
            return Err(
                Diag::error("yaml", format!("`{}` could not be parsed as YAML", file.path))
                    .help("check the file with a YAML linter"),
            )
        }
    };
    let Some(mapping) = node.as_mapping() else {
        return Err(
            Diag::error("yaml", "a document must be a mapping with `apiVersion` and `kind`")
                .at(&loc_of(file, node.span())),
        );
    };
    if let Some(diag) = unread_palisade(file, mapping) {
        return Err(diag);
    }
    let Some(api_version) = mapping.get_scalar("apiVersion") else {
        return Ok(None); // not a Kubernetes-style object, and nothing of ours
    };
    if !api_version.as_str().starts_with("palisade.dev/") {
        return Ok(None); // another API's manifest, kept beside the intents
    }
    let api_loc = loc_of(file, api_version.span());
    if api_version.as_str() != API_VERSION {
        return Err(
            Diag::error("bad_api_version", format!("unknown version `{}`", api_version.as_str()))
                .at(&api_loc)
                .help(format!("this palisade reads `{API_VERSION}`")),
        );
    }
    let Some(kind) = mapping.get_scalar("kind") else {
        return Err(Diag::error("bad_kind", "a palisade document needs a `kind`")
            .at(&api_loc)
            .help("write `kind: Intents`, `kind: Guardrails` or `kind: Project`"));
    };
    match kind.as_str() {
        "Intents" => from_node::<IntentsDocument>(file, &node).map(|d| Some(Parsed::Intents(Box::new(d)))),
        "Project" => from_node::<ProjectDocument>(file, &node).map(|d| Some(Parsed::Project(Box::new(d)))),
        "Guardrails" => from_node::<GuardrailsDocument>(file, &node).map(|d| Some(Parsed::Guardrails(Box::new(d)))),
        other => Err(Diag::error("bad_kind", format!("unknown kind `{other}`"))
            .at(&loc_of(file, kind.span()))
            .help(
                did_you_mean(other, ["Intents", "Guardrails", "Project"])
                    .unwrap_or_else(|| "write `kind: Intents`, `kind: Guardrails` or `kind: Project`".into()),
            )),
    }
}

/// A document the loader would otherwise pass over as another API's although
/// it is meant as palisade's: a namespace would silently go without policies.
/// Those are: an `apiVersion` of palisade's group spelled otherwise; `kind:
/// Intents`, `Guardrails` or `Project` without an API group, or in a group
/// named palisade; a document with neither `apiVersion` nor `kind` whose
/// `spec` is an Intents, Guardrails or Project body; and palisade documents
/// wrapped in a `List`.
fn unread_palisade(file: &Arc<SourceFile>, mapping: &marked_yaml::types::MarkedMappingNode) -> Option<Diag> {
    let api_version = mapping.get_scalar("apiVersion");
    let kind = mapping.get_scalar("kind");
    let help = format!("write `apiVersion: {API_VERSION}`");
    if let Some(version) = api_version {
        let text = version.as_str();
        let group = text.rsplit_once('/').map(|(g, _)| g);
        let ours = group.is_some_and(|g| g.to_ascii_lowercase().contains("palisade"));
        if !text.starts_with("palisade.dev/") && ours {
            return Some(
                Diag::error("bad_api_version", format!("unknown API group `{text}`"))
                    .at(&loc_of(file, version.span()))
                    .help(help),
            );
        }
    }
    if let Some(kind) = kind {
        let word = kind.as_str();
        let palisade_kind = ["intents", "guardrails", "project"].contains(&word.to_ascii_lowercase().as_str());
        let foreign_group = api_version
            .and_then(|v| v.as_str().rsplit_once('/'))
            .is_some_and(|(group, _)| group.contains('.'));
        if palisade_kind && !foreign_group {
            let (message, loc) = match api_version {
                Some(v) => (
                    format!("`kind: {word}` with `apiVersion: {}` is not read", v.as_str()),
                    loc_of(file, v.span()),
                ),
                None => (
                    format!("`kind: {word}` without an `apiVersion` is not read"),
                    loc_of(file, kind.span()),
                ),
            };
            return Some(Diag::error("bad_api_version", message).at(&loc).help(help));
        }
        if word == "List" {
            let items = mapping.get_sequence("items").map(|s| s.iter()).into_iter().flatten();
            for item in items {
                let Some(item) = item.as_mapping() else { continue };
                let inner = unread_palisade(file, item).is_some()
                    || item
                        .get_scalar("apiVersion")
                        .is_some_and(|v| v.as_str().starts_with("palisade.dev/"));
                if inner {
                    return Some(
                        Diag::error("not_read", "palisade documents inside a `List` are not read")
                            .at(&first_key(file, item))
                            .help("write each document on its own, separated by `---` lines, without the fields the cluster sets (`status`, `metadata.uid`, …)"),
                    );
                }
            }
        }
    }
    if api_version.is_none() && kind.is_none() {
        let spec = mapping.get_mapping("spec")?;
        let intents = ["services", "allow"].iter().any(|k| spec.get_node(k).is_some());
        let project = ["targets", "cluster"].iter().any(|k| spec.get_node(k).is_some());
        let guardrails = spec.get_node("rules").is_some();
        if intents || project || guardrails {
            let kind = if intents {
                "Intents"
            } else if project {
                "Project"
            } else {
                "Guardrails"
            };
            return Some(
                Diag::error("bad_kind", "a document without `apiVersion` and `kind` is not read")
                    .at(&first_key(file, mapping))
                    .help(format!("start it with `apiVersion: {API_VERSION}` and `kind: {kind}`")),
            );
        }
    }
    None
}

/// Where a mapping starts: its first key (a block mapping's own span starts
/// at its first value)
fn first_key(file: &Arc<SourceFile>, mapping: &marked_yaml::types::MarkedMappingNode) -> Loc {
    match mapping.keys().next() {
        Some(key) => loc_of(file, key.span()),
        None => loc_of(file, mapping.span()),
    }
}

fn from_node<T: serde::de::DeserializeOwned>(file: &Arc<SourceFile>, node: &Node) -> Result<T, Diag> {
    marked_yaml::from_node::<T>(node).map_err(|e| {
        let loc = e
            .start_mark()
            .map(|m| Loc::at_scalar(file.clone(), m.line(), m.column()));
        let diag = match &*e {
            marked_yaml::Error::UnknownFieldError(field, expected, _) => {
                let diag = Diag::error("unknown_field", format!("unknown field `{field}`")).help_opt(
                    did_you_mean(field, expected.iter().copied())
                        .or_else(|| Some(format!("expected one of: {}", expected.join(", ")))),
                );
                // The deserializer's own mark can point at the parent mapping; the key itself is what to show.
                if let Some(key) = find_key(node, field, expected) {
                    return diag.at(&loc_of(file, key.span()));
                }
                diag
            }
            marked_yaml::Error::NotBoolean(_) => Diag::error("yaml", "expected `true` or `false`"),
            other => {
                let text = lowercase_first(&other.to_string());
                let help = variant_hint(&text).or_else(|| {
                    text.contains("missing field")
                        .then(|| "add the field; `palisade schema` prints every field".to_string())
                });
                Diag::error("yaml", text).help_opt(help)
            }
        };
        diag.at_opt(loc.as_ref())
    })
}

/// The first mapping key named `field` in a mapping that lacks every key of
/// `expected` that is spelled `field` (i.e. where the unknown key really is)
fn find_key<'n>(node: &'n Node, field: &str, expected: &[&str]) -> Option<&'n marked_yaml::types::MarkedScalarNode> {
    match node {
        Node::Mapping(mapping) => {
            if !expected.contains(&field) {
                if let Some((key, _)) = mapping.iter().find(|(k, _)| k.as_str() == field) {
                    return Some(key);
                }
            }
            mapping.values().find_map(|v| find_key(v, field, expected))
        }
        Node::Sequence(seq) => seq.iter().find_map(|v| find_key(v, field, expected)),
        Node::Scalar(_) => None,
    }
}

/// "did you mean" for serde's `unknown variant `telemtry`, expected one of
/// `dns`, `kube-api`, ...`: a misspelt enum value is the commonest typo
fn variant_hint(text: &str) -> Option<String> {
    let rest = text.strip_prefix("unknown variant `")?;
    let (word, expected) = rest.split_once("`, expected ")?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    did_you_mean(word, candidates.iter().copied())
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The `Loc` of a marked-yaml span in `file`
pub(crate) fn loc_of(file: &Arc<SourceFile>, span: &Span) -> Loc {
    match span.start() {
        Some(m) => Loc::at_scalar(file.clone(), m.line(), m.column()),
        None => Loc::new(file.clone(), 0, 0),
    }
}

fn load_error(file: &Arc<SourceFile>, error: LoadError) -> Diag {
    let at = |m: &marked_yaml::Marker| Loc::at_scalar(file.clone(), m.line(), m.column());
    match &error {
        LoadError::DuplicateKey(inner) => {
            let first = inner.prev_key.span().start().map(|m| m.line()).unwrap_or(0);
            let loc = loc_of(file, inner.key.span());
            let key = inner.key.as_str().to_string();
            Diag::error("duplicate_key", format!("`{key}` is written twice in this mapping"))
                .at(&loc)
                .help(format!(
                    "the first `{key}` is on line {first}; keep one (two services need two names)"
                ))
        }
        LoadError::UnexpectedAnchor(m) => Diag::error("yaml", "YAML anchors and aliases are not allowed in intents")
            .at(&at(m))
            .help("write the values out; anchors hide what a rule allows"),
        LoadError::UnexpectedTag(m) => Diag::error("yaml", "YAML tags are not allowed in intents")
            .at(&at(m))
            .help("remove the `!tag`"),
        LoadError::MappingKeyMustBeScalar(m) => Diag::error("yaml", "a mapping key must be a plain value").at(&at(m)),
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => {
            Diag::error("yaml", "a document must be a mapping with `apiVersion` and `kind`").at(&at(m))
        }
        LoadError::ScanError(m, e) => {
            let loc = Loc::new(file.clone(), file.offset_of(m.line(), m.column()), 1);
            let message = lowercase_first(&e.to_string());
            let message = message.split(" at byte").next().unwrap_or(&message).to_string();
            Diag::error("yaml", format!("invalid YAML: {message}"))
                .at(&loc)
                .help("check indentation, quotes and brackets near here")
        }
    }
}

/// Finds indentation or bracket nesting deeper than `MAX_NESTING` before the
/// parser sees it: the recursive tree builder must not exhaust the stack.
fn too_deep(file: &Arc<SourceFile>, text: &str) -> Option<Loc> {
    let mut brackets: usize = 0;
    for (offset, c) in text.char_indices() {
        match c {
            '[' | '{' => {
                brackets += 1;
                if brackets > MAX_NESTING {
                    return Some(Loc::new(file.clone(), offset, 1));
                }
            }
            ']' | '}' => brackets = brackets.saturating_sub(1),
            _ => {}
        }
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches([' ', '-']).len();
        if indent > MAX_NESTING * 4 {
            return Some(Loc::new(file.clone(), offset, indent));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTENTS: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services:\n    a: { selector: { app: a } }\n";

    fn load(path: &str, bytes: &[u8]) -> Result<Repository, Diags> {
        load_files(vec![RawFile {
            path: path.into(),
            bytes: bytes.to_vec(),
        }])
    }

    fn errors(path: &str, bytes: &[u8]) -> Vec<String> {
        match load(path, bytes) {
            Ok(r) => panic!("expected errors, loaded {} intents", r.intents.len()),
            Err(d) => d.iter().map(Diag::render_plain).collect(),
        }
    }

    #[test]
    fn a_misspelt_enum_value_gets_the_near_one() {
        let text = format!("{INTENTS}  baseline: [dns, telemtry]\n");
        let errors = errors("shop.yaml", text.as_bytes());
        assert!(
            errors.iter().any(|e| e.starts_with("shop.yaml:7:")
                && e.contains("unknown variant `telemtry`")
                && e.contains("help: did you mean `telemetry`?")),
            "{errors:?}"
        );
    }

    fn loaded(path: &str, bytes: &[u8]) -> usize {
        load(path, bytes).unwrap_or_else(|d| panic!("{d:?}")).intents.len()
    }

    #[test]
    fn documents_keep_their_line_numbers() {
        let docs = split_documents("a: 1\n---\nb: 2\n---\n# only a comment\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs.get(1).map(|d| d.text.as_str()), Some("\n\nb: 2\n"));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let with_bom = format!("\u{feff}{INTENTS}");
        assert_eq!(loaded("a.yaml", with_bom.as_bytes()), 1);
        // YAML 1.2 allows the mark at the start of every document of a stream.
        let second = format!("{INTENTS}---\n\u{feff}{}", INTENTS.replace("shop", "pay"));
        assert_eq!(loaded("a.yaml", second.as_bytes()), 2);
        // Positions stay those an editor shows: the mark is not a column.
        let bad = format!("\u{feff}{}", INTENTS.replace("app: a", "app: -a"));
        let errors = errors("a.yaml", bad.as_bytes());
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("a.yaml:6:27: error[palisade::bad_label]")),
            "{errors:?}"
        );
    }

    #[test]
    fn utf16_and_utf32_with_a_byte_order_mark_are_read() {
        let mut le = vec![0xFF, 0xFE];
        le.extend(INTENTS.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(loaded("a.yaml", &le), 1);
        let mut be = vec![0xFE, 0xFF];
        be.extend(INTENTS.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(loaded("a.yaml", &be), 1);
        let mut utf32 = vec![0xFF, 0xFE, 0, 0];
        utf32.extend(INTENTS.chars().flat_map(|c| u32::from(c).to_le_bytes()));
        assert_eq!(loaded("a.yaml", &utf32), 1);
        let errors = errors("a.yaml", &[0xFF, 0xFE, 0x41]);
        assert!(
            errors.iter().any(|e| e.contains("not valid UTF-16 or UTF-32")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_yaml_1_2_directive_is_valid_yaml() {
        assert_eq!(loaded("a.yaml", format!("%YAML 1.2\n---\n{INTENTS}").as_bytes()), 1);
        let two = format!(
            "%YAML 1.2\n---\n{INTENTS}...\n%YAML 1.2\n---\n{}",
            INTENTS.replace("shop", "pay")
        );
        assert_eq!(loaded("a.yaml", two.as_bytes()), 2);
        let e = errors("a.yaml", format!("%YAML 1.1\n---\n{INTENTS}").as_bytes());
        assert!(
            e.iter()
                .any(|e| e.starts_with("a.yaml:1:1: error[palisade::yaml]: YAML version `1.1`")),
            "{e:?}"
        );
        let e = errors("a.yaml", format!("%YAML 1.2\n{INTENTS}").as_bytes());
        assert!(e.iter().any(|e| e.contains("must be followed by `---`")), "{e:?}");
        let e = errors(
            "a.yaml",
            format!("%TAG ! tag:example.com,2000:\n---\n{INTENTS}").as_bytes(),
        );
        assert!(e.iter().any(|e| e.contains("tags are not allowed")), "{e:?}");
    }

    #[test]
    fn content_on_the_document_marker_line_is_read() {
        let flow = "--- { apiVersion: palisade.dev/v1alpha1, kind: Intents, metadata: { name: shop, namespace: shop }, spec: { services: { a: { selector: { app: a } } } } }\n";
        assert_eq!(loaded("a.yaml", flow.as_bytes()), 1);
        let e = errors("a.yaml", flow.replace("app: a", "app: -a").as_bytes());
        assert!(e.iter().any(|e| e.starts_with("a.yaml:1:")), "{e:?}");
    }

    #[test]
    fn documents_meant_as_palisade_do_not_vanish() {
        let refused = [
            (
                INTENTS.replace("apiVersion: palisade.dev/v1alpha1\n", ""),
                "a.yaml:1:7",
                "without an `apiVersion`",
            ),
            (
                INTENTS.replace("palisade.dev/", "Palisade.dev/"),
                "a.yaml:1:13",
                "unknown API group",
            ),
            (
                INTENTS.replace("palisade.dev/v1alpha1", "v1"),
                "a.yaml:1:13",
                "`kind: Intents` with `apiVersion: v1`",
            ),
            (
                INTENTS.replace("palisade.dev/", "palisade.io/"),
                "a.yaml:1:13",
                "unknown API group",
            ),
            (
                INTENTS.replace("kind: Intents", "kind: intents"),
                "a.yaml:2:7",
                "unknown kind",
            ),
            (
                INTENTS.replace("apiVersion: palisade.dev/v1alpha1\nkind: Intents\n", ""),
                "a.yaml:1:1",
                "without `apiVersion` and `kind`",
            ),
            (
                format!(
                    "apiVersion: v1\nkind: List\nitems:\n- {}\n",
                    INTENTS.replace('\n', "\n  ")
                ),
                "a.yaml:4:3",
                "inside a `List`",
            ),
        ];
        for (text, at, message) in refused {
            let e = errors("a.yaml", text.as_bytes());
            assert!(
                e.iter().any(|e| e.starts_with(at) && e.contains(message)),
                "{text}\n{e:?}"
            );
        }
        // Other APIs' manifests, and another group's `Project`, are not palisade's.
        let others = "apiVersion: project.openshift.io/v1\nkind: Project\nmetadata: { name: shop }\n---\napiVersion: v1\nkind: List\nitems:\n- { apiVersion: v1, kind: Pod, metadata: { name: p } }\n---\nreplicas: 3\n";
        assert_eq!(loaded("a.yaml", format!("{INTENTS}---\n{others}").as_bytes()), 1);
    }
}
