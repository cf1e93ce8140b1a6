//! Reading rendered manifests back: files or folders of YAML (multi-document,
//! `kind: List`), as `simulate` and `verify --manifests` take them.

use palisade_intents::{Diag, Diags, SourceFile};
use palisade_targets::Manifest;
use std::path::{Path, PathBuf};

/// Every object under the paths (folders recursively; `kustomization.yaml` and
/// hidden entries skipped), in path order
pub fn read(paths: &[PathBuf]) -> Result<Vec<Manifest>, Diags> {
    let mut files = Vec::new();
    let mut diags = Diags::new();
    for path in paths {
        if let Err(e) = collect(path, &mut files) {
            diags.push(
                Diag::error("io", format!("cannot read `{}`: {e}", path.display()))
                    .help("pass files or folders of YAML manifests"),
            );
        }
    }
    files.sort();
    let mut manifests = Vec::new();
    for path in files {
        let text = match std::fs::read(&path).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                diags.push(Diag::error(
                    "not_utf8",
                    format!("`{}` is not UTF-8 text", path.display()),
                ));
                continue;
            }
            Err(e) => {
                diags.push(Diag::error("io", format!("cannot read `{}`: {e}", path.display())));
                continue;
            }
        };
        let file = SourceFile::new(path.display().to_string(), text);
        for object in palisade_compiler::cluster::documents(&file, &mut diags) {
            if object.get("apiVersion").is_some() && object.get("kind").is_some() {
                manifests.push(Manifest::new(object));
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(manifests)
    }
}

/// A cluster dump: Namespace and Pod objects as `kubectl get ns,pods -A -o yaml` prints them
pub fn read_cluster(path: &Path) -> Result<palisade_compiler::model::ClusterModel, Diags> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut diags = Diags::new();
        diags.push(
            Diag::error("io", format!("cannot read `{}`: {e}", path.display()))
                .help("pass the output of `kubectl get ns,pods -A -o yaml`"),
        );
        diags
    })?;
    palisade_compiler::cluster::from_yaml(&path.display().to_string(), &text)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if std::fs::metadata(path)?.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "kustomization.yaml" {
            continue;
        }
        let child = entry.path();
        if entry.file_type()?.is_dir() {
            collect(&child, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
            out.push(child);
        }
    }
    Ok(())
}
