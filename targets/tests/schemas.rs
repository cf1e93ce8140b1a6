//! Every manifest palisade emits validates strictly (unknown fields rejected)
//! against the upstream schemas in ../shared/schemas, for every example, every
//! dialect and both modes.
//!
//! The schemas are upstream data and are not copied into this repository. When
//! the folder is missing the test says so loudly and passes, except under
//! CI=true, where it fails.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{compile_dir, examples};
use palisade_targets::Mode;
use serde_json::Value;

/// `additionalProperties: false` on every object schema that lists properties,
/// as `kubectl --validate=strict` behaves (see ../shared/schemas/NOTES.md)
fn make_strict(node: &mut Value) {
    match node {
        Value::Array(items) => items.iter_mut().for_each(make_strict),
        Value::Object(map) => {
            let is_object = match map.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            let has_properties = map
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            let preserves = map
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if is_object && has_properties && !map.contains_key("additionalProperties") && !preserves {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                if key == "properties" {
                    if let Value::Object(props) = value {
                        props.values_mut().for_each(make_strict);
                    }
                } else if ![
                    "enum",
                    "default",
                    "example",
                    "required",
                    "x-kubernetes-validations",
                    "x-source",
                ]
                .contains(&key.as_str())
                {
                    make_strict(value);
                }
            }
        }
        _ => {}
    }
}

struct Validators {
    by_kind: std::collections::BTreeMap<String, Vec<(String, jsonschema::Validator)>>,
}

impl Validators {
    fn load(dir: &std::path::Path) -> Self {
        let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap_or_default())
            .unwrap_or_default();
        let mut by_kind = std::collections::BTreeMap::new();
        for (kind, entries) in index.as_object().into_iter().flatten() {
            let mut validators = Vec::new();
            for entry in entries.as_array().into_iter().flatten() {
                let Some(file) = entry.get("schema").and_then(Value::as_str) else {
                    continue;
                };
                let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
                // Go's `\PC` (Cilium's log value) is understood by the regex crate; nothing to shim.
                let mut schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                make_strict(&mut schema);
                let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{file}: {e}"));
                validators.push((file.to_string(), validator));
            }
            by_kind.insert(kind.clone(), validators);
        }
        Self { by_kind }
    }

    /// Every schema error of one object, or an error when no schema knows its kind
    fn errors(&self, object: &Value) -> Vec<String> {
        let key = format!(
            "{} {}",
            object["apiVersion"].as_str().unwrap_or(""),
            object["kind"].as_str().unwrap_or("")
        );
        let Some(validators) = self.by_kind.get(&key) else {
            return vec![format!(
                "no upstream schema for `{key}`: palisade must not emit kinds it cannot check"
            )];
        };
        validators
            .iter()
            .flat_map(|(file, v)| {
                v.iter_errors(object)
                    .map(move |e| format!("{file}: {} at {}", e, e.instance_path))
            })
            .collect()
    }
}

#[test]
fn every_emitted_manifest_validates_strictly_against_the_upstream_schemas() {
    let Some(dir) = common::schemas_dir() else { return };
    let validators = Validators::load(&dir);
    let mut checked = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for example in examples() {
        let ir = compile_dir(&example);
        let set = common::project_targets(&example);
        for mode in [Mode::Enforce, Mode::Audit] {
            let rendered = common::render_set(&ir, &set, mode).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
            for (dialect, manifests) in rendered {
                for m in &manifests {
                    let errors = validators.errors(&m.object);
                    assert!(
                        errors.is_empty(),
                        "{} {} {}:\n{}\n{}",
                        example.display(),
                        dialect.id(),
                        m.reference(),
                        errors.join("\n"),
                        m.to_yaml()
                    );
                    kinds.insert(format!("{} {}", m.api_version(), m.kind()));
                    checked += 1;
                }
            }
        }
    }
    for kind in [
        "networking.k8s.io/v1 NetworkPolicy",
        "cilium.io/v2 CiliumNetworkPolicy",
        "projectcalico.org/v3 NetworkPolicy",
        "projectcalico.org/v3 StagedNetworkPolicy",
        "projectcalico.org/v3 NetworkSet",
        "networking.istio.io/v1 ServiceEntry",
        "networking.istio.io/v1 Gateway",
        "networking.istio.io/v1 VirtualService",
        "networking.istio.io/v1 DestinationRule",
        "networking.istio.io/v1 Sidecar",
        "security.istio.io/v1 AuthorizationPolicy",
    ] {
        assert!(
            kinds.contains(kind),
            "the examples never emit {kind}: the test would not check it"
        );
    }
    assert!(checked > 20, "only {checked} manifests checked");
}

#[test]
fn the_strict_check_rejects_what_kubectl_strict_would() {
    let Some(dir) = common::schemas_dir() else { return };
    let validators = Validators::load(&dir);
    for sample in ["invalid-strict/kubernetes.yaml", "invalid/kubernetes.yaml"] {
        let text = std::fs::read_to_string(dir.join("samples").join(sample)).unwrap_or_default();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let object: Value = serde::Deserialize::deserialize(document).unwrap_or_default();
            if object.is_null() {
                continue;
            }
            assert!(
                !validators.errors(&object).is_empty(),
                "{sample} passed validation: {object}"
            );
        }
    }
}

/// The hand-written policies the import tests read, and the manifests
/// palisade renders from their import for every target that accepts it
#[test]
fn imported_policies_and_their_migrations_validate_strictly() {
    let Some(dir) = common::schemas_dir() else { return };
    let validators = Validators::load(&dir);
    let root = common::root();
    let mut sources: Vec<std::path::PathBuf> = ["tests/fixtures/import", "examples/zero-trust/raw"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).unwrap().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    sources.sort();
    let mut rendered_count = 0;
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap();
        let manifests: Vec<palisade_targets::Manifest> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| palisade_targets::Manifest::new(<Value as serde::Deserialize>::deserialize(d).unwrap()))
            .collect();
        for m in &manifests {
            let errors = validators.errors(&m.object);
            // The walkthrough wrote `matchName: "*.google.com"`, which Cilium's
            // CRD refuses (its pattern has no `*`); lint reports it as PAL010.
            let walkthrough_wildcard = errors.len() == 1
                && errors[0].contains("\"*.google.com\" does not match")
                && path.ends_with("cilium-fqdn.yaml");
            assert!(
                errors.is_empty() || walkthrough_wildcard,
                "fixture {} {}: {}",
                path.display(),
                m.reference(),
                errors.join("\n")
            );
        }
        let context = palisade_targets::import::Context::new(&manifests, None);
        let mut imported = palisade_targets::import::Imported::default();
        for d in palisade_targets::DIALECTS {
            if let Some(i) = d.import(&manifests, &context) {
                imported.extend(i);
            }
        }
        let (files, _) = imported.to_intents();
        let mut files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        files.push((
            "palisade.yaml",
            "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: m }\nspec: {}\n".into(),
        ));
        let ir = common::compile_text(&files).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for dialect in palisade_targets::DIALECTS.iter().filter(|d| !d.capabilities().overlay) {
            let Ok(rendered) = common::render_set(&ir, &[*dialect], Mode::Enforce) else {
                continue;
            };
            for m in rendered.iter().flat_map(|(_, m)| m) {
                let errors = validators.errors(&m.object);
                assert!(
                    errors.is_empty(),
                    "{} migrated to {}: {}:\n{}",
                    path.display(),
                    dialect.id(),
                    m.reference(),
                    errors.join("\n")
                );
                rendered_count += 1;
            }
        }
    }
    assert!(rendered_count > 10, "only {rendered_count} migrated manifests checked");
}
