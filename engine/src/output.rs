//! The output layout and its one writer. `compile --out` writes
//! OUT/<target>/<namespace>/<kind>-<name>.yaml and a kustomization.yaml per
//! target; `--check` compares that layout with the folder; import, migrate,
//! discover, graph and report write their files through the same staged
//! writer: everything is written beside the destination first and moved in
//! only once all of it is written, so a failed run never leaves partial output.

use palisade_intents::Diag;
use palisade_targets::Manifest;
use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    path::{Path, PathBuf},
};

/// One target's folder: relative path → text
pub type Folder = BTreeMap<String, String>;

/// The first line of every kustomization palisade writes: how a later run
/// tells its own files from a user's
const RENDERED_HEADER: &str = "# Rendered by palisade; edit the intents, not this folder.\n";

/// The kustomization palisade writes in each target's folder and at the top
const KUSTOMIZATION: &str = "kustomization.yaml";

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
            let kustomization = kustomization(folder.keys());
            folder.insert(KUSTOMIZATION.into(), kustomization);
            (target.to_string(), folder)
        })
        .collect()
}

/// The top-level kustomization: every target's folder of this run, so that
/// `kubectl apply -k OUT` applies what was compiled
fn top_level(rendered: &[(&str, Vec<Manifest>)]) -> String {
    kustomization(rendered.iter().map(|(target, _)| target))
}

fn kustomization<T: std::fmt::Display>(resources: impl Iterator<Item = T>) -> String {
    let resources: String = resources.map(|r| format!("\n  - {r}")).collect();
    format!(
        "{RENDERED_HEADER}apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:{}\n",
        if resources.is_empty() { " []" } else { &resources }
    )
}

/// The files palisade wrote in `folder` by its last run there: those its
/// kustomization lists, and the kustomization itself; none where the folder
/// has no kustomization of palisade's
fn written_by_palisade(folder: &Path) -> io::Result<BTreeSet<String>> {
    let text = match std::fs::read_to_string(folder.join(KUSTOMIZATION)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    if !text.starts_with(RENDERED_HEADER) {
        return Ok(BTreeSet::new());
    }
    let listed: serde_json::Value = serde_yaml_ng::from_str(&text).map_err(|e| io::Error::other(e.to_string()))?;
    // Only paths inside the folder count: a kustomization that lists
    // `../x` or `/x` (edited, or planted) must not make a run delete there.
    let inside = |r: &str| {
        !r.is_empty()
            && Path::new(r)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
    };
    let mut written: BTreeSet<String> = listed["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().filter(|r| inside(r)).map(str::to_string))
        .collect();
    written.insert(KUSTOMIZATION.into());
    Ok(written)
}

/// Write each target's folder under `out` and the top-level kustomization:
/// every file is staged first, then moved in; the files palisade wrote there
/// before and no longer renders are removed, and any other file is left as
/// it is. A file palisade would write over that it did not write stops the
/// run before anything changes. How many manifests.
pub fn write_rendered(out: &Path, rendered: &[(&str, Vec<Manifest>)]) -> Result<usize, Diag> {
    let io = |e: io::Error| Diag::error("io", format!("cannot write `{}`: {e}", out.display()));
    let mut folders = layout(rendered);
    // the top level is one more folder, of one file
    folders.insert(
        String::new(),
        Folder::from([(KUSTOMIZATION.to_string(), top_level(rendered))]),
    );
    let mut stale = Vec::new();
    for (target, files) in &folders {
        let folder = out.join(target);
        let ours = written_by_palisade(&folder).map_err(io)?;
        if let Some(theirs) = files.keys().find(|f| !ours.contains(*f) && folder.join(f).exists()) {
            return Err(Diag::error(
                "not_ours",
                format!("`{}` was not written by palisade", folder.join(theirs).display()),
            )
            .help("palisade writes only over its own files: move this one out of the output folder, or choose another --out"));
        }
        if target.is_empty() {
            continue;
        }
        stale.extend(ours.iter().filter(|f| !files.contains_key(*f)).map(|f| folder.join(f)));
    }
    std::fs::create_dir_all(out).map_err(io)?;
    let staging = tempfile::Builder::new()
        .prefix(".palisade-")
        .tempdir_in(out)
        .map_err(io)?;
    for (target, files) in &folders {
        write_tree(&staging.path().join(target), files).map_err(io)?;
    }
    for path in &stale {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io(e)),
            _ => remove_empty_parents(path, out),
        }
    }
    for (target, files) in &folders {
        for name in files.keys() {
            let destination = out.join(target).join(name);
            if let Some(parent) = destination.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::rename(staging.path().join(target).join(name), destination).map_err(io)?;
        }
    }
    Ok(rendered.iter().map(|(_, m)| m.len()).sum())
}

/// Remove the folders above `path` that its removal left empty, up to `root`
fn remove_empty_parents(path: &Path, root: &Path) {
    let mut at = path.parent();
    while let Some(folder) = at.filter(|f| f.starts_with(root) && *f != root) {
        // a folder that still holds a file (a user's) stays
        if std::fs::remove_dir(folder).is_err() {
            break;
        }
        at = folder.parent();
    }
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

/// How the folder `out` differs from what `rendered` lays out: palisade's
/// files missing, changed, or written by an earlier run and no longer
/// rendered (a user's own files are not palisade's business); a file that
/// cannot be read is an error, not a difference
pub fn differences(out: &Path, rendered: &[(&str, Vec<Manifest>)]) -> io::Result<Vec<Difference>> {
    let mut found = Vec::new();
    let top = std::fs::read(out.join(KUSTOMIZATION)).ok();
    if top.as_deref() != Some(top_level(rendered).as_bytes()) {
        found.push(match top {
            None => Difference::Missing(KUSTOMIZATION.into()),
            Some(_) => Difference::Differs(KUSTOMIZATION.into()),
        });
    }
    for (target, expected) in layout(rendered) {
        let folder = out.join(&target);
        let actual = read_back(&folder)?;
        for (path, text) in &expected {
            let shown = format!("{target}/{path}");
            match actual.get(path) {
                None => found.push(Difference::Missing(shown)),
                Some(bytes) if bytes != text.as_bytes() => found.push(Difference::Differs(shown)),
                Some(_) => {}
            }
        }
        let ours = written_by_palisade(&folder)?;
        found.extend(
            actual
                .keys()
                .filter(|p| !expected.contains_key(*p) && ours.contains(*p))
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
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["kubernetes", "kustomization.yaml"]);
        let top = std::fs::read_to_string(dir.path().join("kustomization.yaml")).unwrap();
        assert!(top.ends_with("resources:\n  - kubernetes\n"), "{top}");
    }

    #[test]
    fn a_users_file_in_the_output_survives_and_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        write_rendered(dir.path(), &[("kubernetes", vec![policy("a"), policy("b")])]).unwrap();
        let mine = dir.path().join("kubernetes/shop/mine.yaml");
        std::fs::write(&mine, "kind: ConfigMap\n").unwrap();
        let now = vec![("kubernetes", vec![policy("a")])];
        write_rendered(dir.path(), &now).unwrap();
        assert!(mine.exists(), "a file palisade did not write is left where it is");
        let files: Vec<String> = read_back(&dir.path().join("kubernetes")).unwrap().into_keys().collect();
        assert_eq!(files.len(), 3, "the policy no longer rendered is gone: {files:?}");
        assert_eq!(
            differences(dir.path(), &now).unwrap(),
            [],
            "a user's file is not a difference"
        );
        // a user's file where palisade would write stops the run, and nothing changes
        let before = read_back(dir.path()).unwrap();
        let theirs = dir
            .path()
            .join("kubernetes")
            .join(files.iter().find(|f| f.starts_with("shop/networkpolicy")).unwrap());
        std::fs::remove_file(dir.path().join("kubernetes/kustomization.yaml")).unwrap();
        let refused = write_rendered(dir.path(), &now).unwrap_err();
        assert_eq!(refused.code_str(), "not_ours");
        assert!(refused.to_string().contains(&theirs.display().to_string()), "{refused}");
        let mut after = read_back(dir.path()).unwrap();
        after.insert(
            "kubernetes/kustomization.yaml".into(),
            before["kubernetes/kustomization.yaml"].clone(),
        );
        assert_eq!(before, after);
    }

    #[test]
    fn a_kustomization_naming_files_outside_its_folder_deletes_none_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let rendered = vec![("kubernetes", vec![policy("a")])];
        write_rendered(&out, &rendered).unwrap();
        let outside = dir.path().join("precious.yaml");
        std::fs::write(&outside, "mine").unwrap();
        let kustomization = out.join("kubernetes/kustomization.yaml");
        let ours = std::fs::read_to_string(&kustomization).unwrap();
        let planted = format!("{ours}  - ../../precious.yaml\n  - {}\n", outside.display());
        std::fs::write(&kustomization, planted).unwrap();
        write_rendered(&out, &rendered).unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine");
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
