//! Reading rendered manifests back: files or folders of YAML (multi-document,
//! `kind: List`), as `simulate` and `verify --manifests` take them.

use palisade_intents::{Diag, Diags, SourceFile};
use palisade_targets::Manifest;
use std::path::{Path, PathBuf};

/// Every object under the paths (folders recursively; `kustomization.yaml` and
/// hidden entries skipped), in path order
pub fn read(paths: &[PathBuf]) -> Result<Vec<Manifest>, Diags> {
    read_located(paths).map(|(manifests, _)| manifests)
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

/// Where a manifest was read: its file, its document (for positions) and,
/// for items of a `kind: List`, the pointer to the item
pub struct Origin {
    /// the file
    pub file: std::sync::Arc<SourceFile>,
    /// the document, parsed for positions
    pub document: std::rc::Rc<palisade_intents::positions::PositionedDocument>,
    /// `/items/3` for a List item, else empty
    pub prefix: String,
}

impl Origin {
    /// `file:line:column` of a JSON pointer inside the manifest
    pub fn locate(&self, pointer: &str) -> palisade_intents::Loc {
        self.document.locate(&self.file, &format!("{}{pointer}", self.prefix))
    }
}

/// Like `read`, keeping where each manifest came from
pub fn read_located(paths: &[PathBuf]) -> Result<(Vec<Manifest>, Vec<Origin>), Diags> {
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
    let mut origins = Vec::new();
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
        for document in palisade_intents::positions::documents(&file) {
            let document = std::rc::Rc::new(document);
            let value: serde_json::Value = match serde_yaml_ng::from_str(&document.text) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(palisade_compiler::cluster::yaml_error(&file, &e));
                    continue;
                }
            };
            let items: Vec<(String, serde_json::Value)> = if value["kind"].as_str() == Some("List") {
                value["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, item)| (format!("/items/{i}"), item.clone()))
                    .collect()
            } else {
                vec![(String::new(), value)]
            };
            for (prefix, object) in items {
                if object.get("apiVersion").is_some() && object.get("kind").is_some() {
                    manifests.push(Manifest::new(object));
                    origins.push(Origin {
                        file: file.clone(),
                        document: document.clone(),
                        prefix,
                    });
                }
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((manifests, origins))
    }
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
