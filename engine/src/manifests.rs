//! Reading rendered manifests back: files or folders of YAML (multi-document,
//! `kind: List`), as `simulate` and `verify --manifests` take them. What the
//! API server would refuse is refused here, at its place; what kubectl would
//! fill in (the namespace of an object without one) is filled in and said.

use palisade_intents::{Diag, Diags, SourceFile};
use palisade_targets::Manifest;
use std::path::{Path, PathBuf};

/// The namespace kubectl applies an object without `metadata.namespace` to
/// when no context names one
pub const DEFAULT_NAMESPACE: &str = "default";

/// Every object under the paths (folders recursively; `kustomization.yaml` and
/// hidden entries skipped), in path order, and where each came from: like
/// [`read_located_in`] in the `default` namespace, warnings printed on stderr
pub fn read_located(paths: &[PathBuf]) -> Result<(Vec<Manifest>, Vec<Origin>), Diags> {
    let (manifests, origins, warnings) = read_located_in(paths, DEFAULT_NAMESPACE)?;
    for w in warnings.iter() {
        eprint!("{}", w.render_plain());
    }
    Ok((manifests, origins))
}

/// A cluster dump: Namespace and Pod objects as `kubectl get ns,pods -A -o
/// yaml` prints them; warnings (pods without an address) printed on stderr
pub fn read_cluster(path: &Path) -> Result<palisade_compiler::model::ClusterModel, Diags> {
    let (model, warnings) = read_cluster_warning(path)?;
    for w in warnings.iter() {
        eprint!("{}", w.render_plain());
    }
    Ok(model)
}

/// A cluster dump and the warnings a user should see
pub fn read_cluster_warning(path: &Path) -> Result<(palisade_compiler::model::ClusterModel, Diags), Diags> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut diags = Diags::new();
        diags.push(
            Diag::error("io", format!("cannot read `{}`: {e}", path.display()))
                .help("pass the output of `kubectl get ns,pods -A -o yaml`"),
        );
        diags
    })?;
    palisade_compiler::cluster::read(&path.display().to_string(), &text)
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

/// Every object under the paths, where each came from, and warnings: an
/// object without `metadata.namespace` is placed in `namespace`, as `kubectl
/// apply -n <namespace>` would; a NetworkPolicy the API server would refuse
/// (a field of the wrong type, an unknown field) is an error at its place
pub fn read_located_in(paths: &[PathBuf], namespace: &str) -> Result<(Vec<Manifest>, Vec<Origin>, Diags), Diags> {
    let mut files = Vec::new();
    let mut diags = Diags::new();
    let mut warnings = Diags::new();
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
            for (prefix, mut object) in items {
                if object.get("apiVersion").is_some() && object.get("kind").is_some() {
                    let origin = Origin {
                        file: file.clone(),
                        document: document.clone(),
                        prefix,
                    };
                    admit(&object, &origin, &mut diags);
                    if let Some(w) = place(&mut object, namespace, &origin) {
                        warnings.push(w);
                    }
                    manifests.push(Manifest::new(object));
                    origins.push(origin);
                }
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((manifests, origins, warnings))
    }
}

/// What the evaluators cannot evaluate in manifests read from files, as
/// errors at their place. An evaluator denies everything while such a
/// problem exists; printing that as a verdict would read a broken policy as
/// a narrow one, so callers stop with these instead (exit 1).
pub fn problems(manifests: &[Manifest], origins: &[Origin]) -> Diags {
    let mut diags = Diags::new();
    for problem in palisade_targets::problems(manifests) {
        let diag = Diag::error("cannot_evaluate", describe(manifests, &problem)).help(problem.help);
        diags.push(match origins.get(problem.manifest) {
            Some(origin) => diag.at(&origin.locate(&problem.pointer)),
            None => diag,
        });
    }
    diags
}

/// The same for manifests palisade rendered itself (no file to point at):
/// the object and the field are named
pub fn rendered_problems(manifests: &[Manifest]) -> Diags {
    let mut diags = Diags::new();
    for problem in palisade_targets::problems(manifests) {
        diags.push(
            Diag::error(
                "cannot_evaluate",
                format!("{} at `{}`", describe(manifests, &problem), problem.pointer),
            )
            .help(problem.help),
        );
    }
    diags
}

fn describe(manifests: &[Manifest], problem: &palisade_targets::Problem) -> String {
    let object = manifests.get(problem.manifest).map_or_else(String::new, |m| {
        if m.namespace().is_empty() {
            format!("{} `{}`: ", m.kind(), m.name())
        } else {
            format!("{} `{}/{}`: ", m.kind(), m.namespace(), m.name())
        }
    });
    format!(
        "{object}{} (palisade cannot evaluate it, so it decides nothing)",
        problem.message
    )
}

/// Errors for what the API server would refuse, at their place
fn admit(object: &serde_json::Value, origin: &Origin, diags: &mut Diags) {
    let manifest = Manifest::new(object.clone());
    for problem in palisade_targets::admission(&manifest) {
        diags.push(
            Diag::error(
                "invalid_manifest",
                format!(
                    "{} `{}`: {} (the API server refuses it)",
                    manifest.kind(),
                    manifest.name(),
                    problem.message
                ),
            )
            .at(&origin.locate(&problem.pointer))
            .help(problem.help),
        );
    }
}

/// Kinds that live outside namespaces: they never take one
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "GlobalNetworkPolicy",
    "GlobalNetworkSet",
    "StagedGlobalNetworkPolicy",
    "HostEndpoint",
    "Tier",
    "CiliumClusterwideNetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Node",
];

/// Put a namespaced object without a namespace where kubectl would put it,
/// and say so
fn place(object: &mut serde_json::Value, namespace: &str, origin: &Origin) -> Option<Diag> {
    let kind = object["kind"].as_str().unwrap_or("").to_string();
    if CLUSTER_SCOPED.contains(&kind.as_str()) || kind == "List" {
        return None;
    }
    let written = object
        .pointer("/metadata/namespace")
        .and_then(serde_json::Value::as_str);
    if written.is_some_and(|n| !n.is_empty()) {
        return None;
    }
    let metadata = object
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| serde_json::json!({}));
    let fields = metadata.as_object_mut()?;
    let name = fields
        .get("name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_string();
    fields.insert("namespace".into(), namespace.into());
    Some(
        Diag::warning(
            "namespace_assumed",
            format!("{kind} `{name}` has no `metadata.namespace`: read as in namespace `{namespace}`, where `kubectl apply` would create it"),
        )
        .at(&origin.locate("/metadata"))
        .help("write `metadata.namespace`, or pass `--namespace` to say where it is applied"),
    )
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
