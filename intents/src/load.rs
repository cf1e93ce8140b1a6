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
    types::{IntentsDocument, ProjectDocument, API_VERSION},
    validate,
};
use marked_yaml::{LoadError, LoaderOptions, Node, Span};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

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

/// Read every `*.yaml`/`*.yml` under `dir` (hidden folders skipped), sorted by path
pub fn read_dir(dir: &Path) -> Result<Vec<RawFile>, Diag> {
    let mut paths = Vec::new();
    collect(dir, &mut paths).map_err(|e| {
        Diag::error("io", format!("cannot read `{}`: {e}", dir.display()))
            .help("pass the folder that holds the intents and palisade.yaml")
    })?;
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let bytes =
            std::fs::read(&path).map_err(|e| Diag::error("io", format!("cannot read `{}`: {e}", path.display())))?;
        let relative = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        files.push(RawFile { path: relative, bytes });
    }
    Ok(files)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let metadata = std::fs::metadata(dir)?;
    if metadata.is_file() {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&path, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Load a repository from a folder
pub fn load_dir(dir: &Path) -> Result<Repository, Diags> {
    let files = read_dir(dir).map_err(|d| {
        let mut diags = Diags::new();
        diags.push(d);
        diags
    })?;
    load_files(files)
}

/// Load a repository from files already read (from disk or from git)
pub fn load_files(files: Vec<RawFile>) -> Result<Repository, Diags> {
    let mut diags = Diags::new();
    let mut intents = Vec::new();
    let mut projects = Vec::new();
    for raw in files {
        let Some(file) = decode(raw, &mut diags) else {
            continue;
        };
        for document in split_documents(&file.text) {
            match parse_document(&file, &document) {
                Ok(Some(Parsed::Intents(doc))) => intents.push((file.clone(), *doc)),
                Ok(Some(Parsed::Project(doc))) => projects.push((file.clone(), *doc)),
                Ok(None) => {}
                Err(d) => diags.push(d),
            }
        }
    }
    let repository = validate::repository(intents, projects, &mut diags);
    if diags.has_errors() {
        Err(diags.sorted())
    } else {
        Ok(repository)
    }
}

fn decode(raw: RawFile, diags: &mut Diags) -> Option<Arc<SourceFile>> {
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
    match String::from_utf8(raw.bytes) {
        Ok(text) => Some(SourceFile::new(raw.path, text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(e.as_bytes().get(..valid).unwrap_or(&[])).to_string();
            let file = SourceFile::new(raw.path, prefix);
            let loc = Loc::new(file.clone(), valid, 0);
            diags.push(
                Diag::error("not_utf8", format!("`{}` is not UTF-8 text", file.path))
                    .at(&loc)
                    .help("intents files are UTF-8 YAML; is this a binary file?"),
            );
            None
        }
    }
}

/// One YAML document of a file: its text with earlier lines blanked, so that
/// the parser's line numbers are the file's
pub(crate) struct Document {
    pub(crate) text: String,
}

pub(crate) fn split_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut has_content = false;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let is_separator =
            line.starts_with("---") && line.get(3..).is_none_or(|r| r.trim().is_empty() || r.starts_with(' '));
        let is_end = line.trim_end() == "...";
        if is_separator || is_end {
            if has_content {
                documents.push(Document {
                    text: std::mem::take(&mut current),
                });
            }
            // Keep line numbers: every earlier line becomes an empty one.
            current = "\n".repeat(index + 1);
            has_content = false;
            continue;
        }
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            has_content = true;
        }
        current.push_str(line);
    }
    if has_content {
        documents.push(Document { text: current });
    }
    documents
}

enum Parsed {
    Intents(Box<IntentsDocument>),
    Project(Box<ProjectDocument>),
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
    let Some(api_version) = mapping.get_scalar("apiVersion") else {
        return Ok(None); // not a Kubernetes-style object: not ours
    };
    if !api_version.as_str().starts_with("palisade.dev/") {
        return Ok(None);
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
            .help("write `kind: Intents` or `kind: Project`"));
    };
    match kind.as_str() {
        "Intents" => from_node::<IntentsDocument>(file, &node).map(|d| Some(Parsed::Intents(Box::new(d)))),
        "Project" => from_node::<ProjectDocument>(file, &node).map(|d| Some(Parsed::Project(Box::new(d)))),
        other => Err(Diag::error("bad_kind", format!("unknown kind `{other}`"))
            .at(&loc_of(file, kind.span()))
            .help(
                did_you_mean(other, ["Intents", "Project"])
                    .unwrap_or_else(|| "write `kind: Intents` or `kind: Project`".into()),
            )),
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
                let help = text
                    .contains("missing field")
                    .then(|| "add the field; `palisade schema` prints every field".to_string());
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

    #[test]
    fn documents_keep_their_line_numbers() {
        let docs = split_documents("a: 1\n---\nb: 2\n---\n# only a comment\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs.get(1).map(|d| d.text.as_str()), Some("\n\nb: 2\n"));
    }
}
