//! The output layout and its one writer. `compile --out` writes
//! OUT/<target>/<namespace>/<kind>-<name>.yaml and a kustomization.yaml per
//! target; `--check` compares that layout with the folder; import, migrate,
//! discover, graph and report write their files through the same staged
//! writer: everything is written beside the destination first and moved in
//! only once all of it is written, so a failed run never leaves partial output.

use palisade_intents::Diag;
use palisade_targets::Manifest;
use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

/// One target's folder: relative path → text
pub type Folder = BTreeMap<String, String>;

/// The files `compile --out` writes for each target, by target
pub fn layout(rendered: &[(&str, Vec<Manifest>)]) -> BTreeMap<String, Folder> {
    rendered
        .iter()
        .map(|(target, manifests)| {
            let mut folder = Folder::new();
            for m in manifests {
                let namespace = if m.namespace().is_empty() {
                    "_cluster"
                } else {
                    m.namespace()
                };
                folder.insert(format!("{namespace}/{}", m.file_name()), m.to_yaml());
            }
            let resources: String = folder.keys().map(|r| format!("\n  - {r}")).collect();
            let kustomization = format!(
                "# Rendered by palisade; edit the intents, not this folder.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:{}\n",
                if resources.is_empty() { " []" } else { &resources }
            );
            folder.insert("kustomization.yaml".into(), kustomization);
            (target.to_string(), folder)
        })
        .collect()
}

/// Write each target's folder under `out`, replacing the folder it had:
/// all targets are staged first, then each is swapped in. How many manifests.
pub fn write_rendered(out: &Path, rendered: &[(&str, Vec<Manifest>)]) -> io::Result<usize> {
    std::fs::create_dir_all(out)?;
    let staging = tempfile::Builder::new().prefix(".palisade-").tempdir_in(out)?;
    for (target, folder) in layout(rendered) {
        write_tree(&staging.path().join(&target), &folder)?;
    }
    for (target, _) in rendered {
        let destination = out.join(target);
        if destination.exists() {
            // moved aside into the staging folder, which is removed at the end
            std::fs::rename(&destination, staging.path().join(format!(".old-{target}")))?;
        }
        std::fs::rename(staging.path().join(target), &destination)?;
    }
    Ok(rendered.iter().map(|(_, m)| m.len()).sum())
}

/// What `--check` reports
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// rendered, not in the folder
    Missing(String),
    /// in both, with other bytes
    Differs(String),
    /// in the folder, not rendered
    NotRendered(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing(p) => write!(f, "missing: {p}"),
            Difference::Differs(p) => write!(f, "differs: {p}"),
            Difference::NotRendered(p) => write!(f, "not rendered by the intents: {p}"),
        }
    }
}

/// How the folder `out` differs from what `rendered` lays out; a file that
/// cannot be read is an error, not a difference
pub fn differences(out: &Path, rendered: &[(&str, Vec<Manifest>)]) -> io::Result<Vec<Difference>> {
    let mut found = Vec::new();
    for (target, expected) in layout(rendered) {
        let actual = read_back(&out.join(&target))?;
        for (path, text) in &expected {
            let shown = format!("{target}/{path}");
            match actual.get(path) {
                None => found.push(Difference::Missing(shown)),
                Some(bytes) if bytes != text.as_bytes() => found.push(Difference::Differs(shown)),
                Some(_) => {}
            }
        }
        found.extend(
            actual
                .keys()
                .filter(|p| !expected.contains_key(*p))
                .map(|p| Difference::NotRendered(format!("{target}/{p}"))),
        );
    }
    Ok(found)
}

/// Every file under `dir` (none when it does not exist), relative path → bytes
pub fn read_back(dir: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(relative, std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

/// Write `files` (relative path → text) into `out`, every file or none:
/// without `force`, refuse when one exists
pub fn write_files(out: &Path, files: &Folder, force: bool) -> Result<(), Diag> {
    let io = |e: io::Error| Diag::error("io", format!("cannot write to `{}`: {e}", out.display()));
    if !force {
        if let Some(existing) = files.keys().find(|f| out.join(f).exists()) {
            return Err(Diag::error(
                "would_overwrite",
                format!("`{}` already exists", out.join(existing).display()),
            )
            .help("choose an empty folder, or pass --force to replace these files"));
        }
    }
    std::fs::create_dir_all(out).map_err(io)?;
    let staging = tempfile::Builder::new()
        .prefix(".palisade-")
        .tempdir_in(out)
        .map_err(io)?;
    write_tree(staging.path(), files).map_err(io)?;
    for name in files.keys() {
        let target = out.join(name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::rename(staging.path().join(name), target).map_err(io)?;
    }
    Ok(())
}

/// Write one file: staged beside it, then moved over it
pub fn write_file(path: &Path, text: &str) -> Result<(), Diag> {
    let staged = PathBuf::from(format!("{}.palisade-tmp", path.display()));
    std::fs::write(&staged, text)
        .and_then(|()| std::fs::rename(&staged, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&staged);
            Diag::error("io", format!("cannot write `{}`: {e}", path.display()))
                .help("check that the folder exists and is writable")
        })
}

fn write_tree(root: &Path, files: &Folder) -> io::Result<()> {
    for (name, text) in files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    fn policy(name: &str) -> Manifest {
        Manifest::new(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"podSelector": {}}
        }))
    }

    #[test]
    fn a_written_folder_checks_clean_and_a_change_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let rendered = vec![("kubernetes", vec![policy("a"), policy("b")])];
        assert_eq!(write_rendered(dir.path(), &rendered).unwrap(), 2);
        assert_eq!(differences(dir.path(), &rendered).unwrap(), []);
        let now = vec![("kubernetes", vec![policy("a"), policy("c")])];
        let found: Vec<String> = differences(dir.path(), &now)
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert!(
            found.iter().any(|d| d.starts_with("missing: kubernetes/shop/")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|d| d.starts_with("not rendered by the intents: kubernetes/shop/")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|d| d == "differs: kubernetes/kustomization.yaml"),
            "{found:?}"
        );
        // Written again: the old folder is replaced, nothing staged is left behind.
        write_rendered(dir.path(), &now).unwrap();
        assert_eq!(differences(dir.path(), &now).unwrap(), []);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("kubernetes")]);
    }

    #[test]
    fn files_are_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let files = Folder::from([("shop.yaml".to_string(), "a".to_string())]);
        write_files(dir.path(), &files, false).unwrap();
        let refused = write_files(dir.path(), &files, false).unwrap_err();
        assert_eq!(refused.code_str(), "would_overwrite");
        write_files(dir.path(), &files, true).unwrap();
    }
}
