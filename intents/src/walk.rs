//! Finding the files of an intents folder: every file a user could mean as
//! intents is either read or refused with its name, never passed over.
//!
//! The rules, in order, for each entry under the folder:
//! - names starting with `.` (`.git`, `.github`, editor state) are not read,
//!   files or folders: that is how a folder or file is kept out on purpose;
//! - links are followed, to folders and to files alike; a link that points back
//!   into a folder it sits in (a loop) or at nothing is an error naming it; a
//!   file reached twice through links is read once;
//! - `*.yaml` and `*.yml` files are read (every document in them: documents of
//!   other APIs, such as Kubernetes manifests kept beside the intents, are then
//!   passed over by the loader, which refuses anything that looks like a
//!   palisade document it cannot read);
//! - a `*.json` file is read when it holds a palisade document (JSON is YAML,
//!   and kubectl and Argo CD apply `.json` manifests); other JSON, such as flow
//!   logs, is not intents;
//! - any other file is not read, but one that holds a palisade document (e.g.
//!   `shop.YAML`, `shop.yaml.bak`, `shop.txt`) is refused naming it, since
//!   kubectl and Argo CD would not apply it either and a namespace would
//!   silently go without its policies; editor backups (`name~`, `#name#`) are
//!   copies of files that are read, and are passed over;
//! - sockets, pipes and devices are not read; one named like a YAML file is refused.

use crate::{
    diag::{Diag, Diags},
    load::{RawFile, MAX_FILE_BYTES},
    loc::{Loc, SourceFile},
};
use std::{
    collections::HashSet,
    fs,
    io::Read,
    path::{Path, PathBuf},
};

/// How much of a file that is not named as YAML is looked at to tell whether
/// it holds a palisade document (the header is at its start)
const HEAD_BYTES: u64 = 64 * 1024;

/// The error for a link at `path` that points back at the folder `looped`
/// (relative; empty for the top of the intents folder), which holds it; the
/// same on disk and in a git tree
pub fn link_loop(path: &str, looped: &str) -> Diag {
    let target = if looped.is_empty() {
        "the top of the intents folder".to_string()
    } else {
        format!("`{looped}`")
    };
    Diag::error(
        "link_loop",
        format!("`{path}` is a link back to {target}, which holds it: a loop"),
    )
    .help("remove the link, or point it at a folder that does not contain it")
}

/// What the loader does with one file found under the intents folder
pub enum Triage {
    /// read it as intents YAML
    Read,
    /// not intents: passed over, as the module's rules document
    Skip,
    /// a palisade document the loader will not read: an error naming the file
    Refuse(Diag),
}

/// What to do with the file at `path` (relative, as shown to users), given
/// its first bytes (`head`, up to 64 KiB are enough); the same rules hold for
/// a folder on disk and a tree at a git revision
pub fn triage(path: &str, head: &[u8]) -> Triage {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return Triage::Read;
    }
    if name.ends_with('~') || (name.len() > 1 && name.starts_with('#') && name.ends_with('#')) {
        return Triage::Skip;
    }
    let Some((text, offset, len)) = palisade_header(head) else {
        return Triage::Skip;
    };
    if name.ends_with(".json") {
        return Triage::Read;
    }
    let file = SourceFile::new(path, text);
    let loc = Loc::new(file, offset, len);
    Triage::Refuse(
        Diag::error(
            "not_read",
            format!("`{path}` holds a palisade document, but only `.yaml`, `.yml` and `.json` files are read"),
        )
        .at(&loc)
        .help("rename it to end in `.yaml`, or move it out of the intents folder (or into a folder whose name starts with `.`)"),
    )
}

/// The text of `head`, and where its first document starts with an object
/// header (`apiVersion`, `kind`, `metadata`, `spec`), when the head names a
/// palisade API group: the signs of a palisade document
fn palisade_header(head: &[u8]) -> Option<(String, usize, usize)> {
    let text = crate::load::transcode(head).unwrap_or_else(|| String::from_utf8_lossy(head).into_owned());
    if !text.to_ascii_lowercase().contains("palisade.dev/") {
        return None;
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let skip = trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with('%')
            || trimmed == "---"
            || trimmed == "{"
            || trimmed == "[";
        if !skip {
            let content = line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '{' | '[' | '-'));
            let start = offset + (line.len() - content.len());
            let key = content.trim_start_matches(['"', '\'']);
            let quote = content.len() - key.len();
            for header in ["apiVersion", "kind", "metadata", "spec"] {
                let after = key
                    .strip_prefix(header)
                    .map(|a| a.trim_start_matches(['"', '\'']).trim_start());
                if after.is_some_and(|a| a.starts_with(':')) {
                    return Some((text.clone(), start + quote, header.len()));
                }
            }
            return None;
        }
        offset += line.len();
    }
    None
}

/// Every file of the folder `dir` that is read, sorted by path, and the
/// errors for those refused; `dir` may also be a single file, which is read
pub(crate) fn read_tree(dir: &Path) -> (Vec<RawFile>, Diags) {
    let mut walk = Walk {
        found: Vec::new(),
        seen: HashSet::new(),
        diags: Diags::new(),
    };
    match fs::metadata(dir) {
        Ok(metadata) if metadata.is_file() => {
            let name = dir
                .file_name()
                .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().to_string());
            walk.found.push((name, dir.to_path_buf(), metadata.len()));
        }
        Ok(_) => {
            let mut ancestors = Vec::new();
            walk.folder(dir, "", &mut ancestors);
        }
        Err(e) => walk.diags.push(
            Diag::error("io", format!("cannot read `{}`: {e}", dir.display()))
                .help("pass the folder that holds the intents and palisade.yaml"),
        ),
    }
    walk.found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files = Vec::new();
    for (relative, path, size) in walk.found {
        // A file too large to be intents is refused without reading it all.
        let limit = (MAX_FILE_BYTES as u64).saturating_add(1);
        let mut bytes = Vec::new();
        let read = fs::File::open(&path).and_then(|f| f.take(limit).read_to_end(&mut bytes));
        match read {
            Ok(_) if bytes.len() > MAX_FILE_BYTES => walk.diags.push(
                Diag::error(
                    "file_too_large",
                    format!(
                        "`{relative}` is {} bytes, more than the {MAX_FILE_BYTES} allowed",
                        size.max(bytes.len() as u64)
                    ),
                )
                .help("split the intents into several files"),
            ),
            Ok(_) => files.push(RawFile { path: relative, bytes }),
            Err(e) => walk
                .diags
                .push(Diag::error("io", format!("cannot read `{relative}`: {e}")).help("check the file's permissions")),
        }
    }
    (files, walk.diags)
}

struct Walk {
    /// (path shown to users, path on disk, size) of each file to read
    found: Vec<(String, PathBuf, u64)>,
    /// canonical paths of the files found, so a file linked twice is read once
    seen: HashSet<PathBuf>,
    diags: Diags,
}

impl Walk {
    /// `ancestors` holds the canonical paths of the folders being walked, to
    /// tell a link that loops from one that merely leads elsewhere
    fn folder(&mut self, dir: &Path, relative: &str, ancestors: &mut Vec<(PathBuf, String)>) {
        let shown = if relative.is_empty() {
            dir.display().to_string()
        } else {
            relative.to_string()
        };
        let canonical = match fs::canonicalize(dir) {
            Ok(c) => c,
            Err(e) => {
                self.diags
                    .push(Diag::error("io", format!("cannot read `{shown}`: {e}")));
                return;
            }
        };
        if let Some((_, looped)) = ancestors.iter().find(|(a, _)| *a == canonical) {
            self.diags.push(link_loop(relative, looped));
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.diags.push(
                    Diag::error("io", format!("cannot read `{shown}`: {e}"))
                        .help("check the folder's permissions, or move it out of the intents folder"),
                );
                return;
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => names.push(entry.file_name()),
                Err(e) => self
                    .diags
                    .push(Diag::error("io", format!("cannot read `{shown}`: {e}"))),
            }
        }
        names.sort();
        ancestors.push((canonical, relative.to_string()));
        for name in names {
            let name = name.to_string_lossy().to_string();
            if name.starts_with('.') {
                self.hidden(&dir.join(&name), &name, relative);
                continue;
            }
            let child = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            self.entry(&dir.join(&name), &child, ancestors);
        }
        ancestors.pop();
    }

    /// A hidden file is kept out on purpose, but one that holds intents is
    /// said out loud: a namespace would otherwise go without its policies
    /// without a word
    fn hidden(&mut self, path: &Path, name: &str, relative: &str) {
        let yaml = [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext));
        if !yaml || !path.is_file() {
            return;
        }
        let mut head = Vec::new();
        let read = fs::File::open(path).and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head));
        if read.is_ok() && palisade_header(&head).is_some() {
            let shown = if relative.is_empty() {
                name.to_string()
            } else {
                format!("{relative}/{name}")
            };
            self.diags.push(
                Diag::warning(
                    "hidden_intents",
                    format!("`{shown}` holds a palisade document and is not read: its name starts with `.`"),
                )
                .help("rename it without the leading `.` to apply it, or delete it"),
            );
        }
    }

    fn entry(&mut self, path: &Path, relative: &str, ancestors: &mut Vec<(PathBuf, String)>) {
        let link = fs::symlink_metadata(path)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        let metadata = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                let message = if link {
                    let target = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
                    format!("`{relative}` is a link to `{target}`, which cannot be read: {e}")
                } else {
                    format!("cannot read `{relative}`: {e}")
                };
                let code = if link { "bad_link" } else { "io" };
                self.diags
                    .push(Diag::error(code, message).help("fix or remove it, or move it out of the intents folder"));
                return;
            }
        };
        if metadata.is_dir() {
            self.folder(path, relative, ancestors);
            return;
        }
        let yaml_name = relative.ends_with(".yaml") || relative.ends_with(".yml");
        if !metadata.is_file() {
            if yaml_name {
                self.diags.push(
                    Diag::error("not_read", format!("`{relative}` is not a regular file"))
                        .help("intents are read from regular files; move it out of the intents folder"),
                );
            }
            return;
        }
        if let Ok(canonical) = fs::canonicalize(path) {
            if !self.seen.insert(canonical) {
                return;
            }
        }
        if yaml_name {
            self.found
                .push((relative.to_string(), path.to_path_buf(), metadata.len()));
            return;
        }
        let mut head = Vec::new();
        if let Err(e) = fs::File::open(path).and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut head)) {
            self.diags
                .push(Diag::error("io", format!("cannot read `{relative}`: {e}")));
            return;
        }
        match triage(relative, &head) {
            Triage::Read => self
                .found
                .push((relative.to_string(), path.to_path_buf(), metadata.len())),
            Triage::Skip => {}
            Triage::Refuse(diag) => self.diags.push(diag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const INTENTS: &str =
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec: {}\n";

    /// A fresh folder under the system's temp dir, removed on drop
    struct Folder(PathBuf);

    impl Folder {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("palisade-walk-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{e}"));
            Self(path)
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.0.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        }

        fn link(&self, target: &str, link: &str) {
            symlink(target, self.0.join(link)).unwrap_or_else(|e| panic!("{e}"));
        }

        /// Paths read and errors rendered
        fn read(&self) -> (Vec<String>, Vec<String>) {
            let (files, diags) = read_tree(&self.0);
            (
                files.into_iter().map(|f| f.path).collect(),
                diags.iter().map(Diag::render_plain).collect(),
            )
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn linked_folders_and_files_are_read_once_and_loops_are_named() {
        let dir = Folder::new("links");
        dir.write("shared-real/shop.yaml", INTENTS);
        dir.link("shared-real", "shared");
        dir.link("shared-real/shop.yaml", "also-shop.yaml");
        let (read, errors) = dir.read();
        assert_eq!(
            read,
            vec!["also-shop.yaml"],
            "one file, reached three ways, is read once"
        );
        assert!(errors.is_empty(), "{errors:?}");

        let dir = Folder::new("linked-only");
        let outside = Folder::new("outside");
        outside.write("pay.yaml", INTENTS);
        dir.link(&outside.0.display().to_string(), "team");
        assert_eq!(dir.read(), (vec!["team/pay.yaml".to_string()], Vec::new()));

        let dir = Folder::new("loop");
        dir.write("a/shop.yaml", INTENTS);
        dir.link("..", "a/up");
        let (read, errors) = dir.read();
        assert_eq!(read, vec!["a/shop.yaml"]);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`a/up` is a link back to the top of the intents folder")),
            "{errors:?}"
        );
        dir.link(".", "a/here");
        let (_, errors) = dir.read();
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`a/here` is a link back to `a`, which holds it: a loop")),
            "{errors:?}"
        );

        let dir = Folder::new("dangling");
        dir.link("nowhere", "gone.yaml");
        let (_, errors) = dir.read();
        assert!(
            errors.iter().any(|e| e.contains("`gone.yaml` is a link to `nowhere`")),
            "{errors:?}"
        );
    }

    #[test]
    fn files_not_named_yaml_are_read_or_refused_when_they_hold_intents() {
        let dir = Folder::new("names");
        dir.write("a.yaml", INTENTS);
        dir.write("b.yml", INTENTS);
        dir.write(
            "c.json",
            "{\"apiVersion\": \"palisade.dev/v1alpha1\", \"kind\": \"Intents\"}\n",
        );
        dir.write("Shop.YAML", INTENTS);
        dir.write("old/shop.yaml.bak", &format!("# kept for later\n{INTENTS}"));
        dir.write("flows.json", "{\"flow\": {\"verdict\": \"DROPPED\"}}\n{\"flow\": {}}\n");
        dir.write(
            "README.md",
            "# Intents\n\nSee `apiVersion: palisade.dev/v1alpha1` documents here.\n",
        );
        dir.write("shop.yaml~", INTENTS);
        dir.write(".hidden.yaml", INTENTS);
        dir.write(".disabled/shop.yaml", INTENTS);
        let (read, diags) = dir.read();
        assert_eq!(read, vec!["a.yaml", "b.yml", "c.json"]);
        // The hidden file is not read, and said so; the hidden folder is kept out in silence
        let (warnings, errors): (Vec<String>, Vec<String>) = diags.into_iter().partition(|d| d.contains("warning["));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("`.hidden.yaml` holds a palisade document and is not read"),
            "{warnings:?}"
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("Shop.YAML:1:1: error[palisade::not_read]")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("old/shop.yaml.bak:2:1: error[palisade::not_read]")),
            "{errors:?}"
        );
        assert!(
            errors.iter().all(|e| e.contains("rename it to end in `.yaml`")),
            "{errors:?}"
        );
    }
}
