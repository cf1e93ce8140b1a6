//! The CustomResourceDefinitions: valid apiextensions.k8s.io/v1 objects (by
//! the Kubernetes OpenAPI schema), structural (the API server refuses others),
//! and the example intents validate against the Intents schema as resources.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use serde_json::{json, Value};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Kubernetes OpenAPI (swagger) definitions from ../shared/schemas, or a
/// loud skip (a failure under CI=true)
pub fn swagger() -> Option<Value> {
    let path = root().join("../shared/schemas/kubernetes/upstream/v1.33/swagger.json");
    if !path.exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but {} is missing",
            path.display()
        );
        eprintln!("\n!!! SKIPPED: {} not found !!!\n", path.display());
        return None;
    }
    Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

/// A validator for one definition of the swagger document
fn definition(swagger: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({ "$ref": format!("#/definitions/{name}"), "definitions": swagger["definitions"] });
    jsonschema::options().build(&schema).unwrap()
}

fn structural_problems(node: &Value, at: &str, out: &mut Vec<String>) {
    let Value::Object(map) = node else { return };
    for key in ["$ref", "anyOf", "oneOf", "allOf", "not"] {
        if map.contains_key(key) {
            out.push(format!("{at}: `{key}`"));
        }
    }
    let typed = map.contains_key("type")
        || map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !typed {
        out.push(format!("{at}: no type"));
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        out.push(format!("{at}: properties and additionalProperties together"));
    }
    for (k, v) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
        structural_problems(v, &format!("{at}.{k}"), out);
    }
    if let Some(items) = map.get("items") {
        structural_problems(items, &format!("{at}[]"), out);
    }
    if let Some(Value::Object(_)) = map.get("additionalProperties") {
        structural_problems(&map["additionalProperties"], &format!("{at}{{}}"), out);
    }
}

#[test]
fn the_crds_are_valid_and_structural() {
    let crds: Vec<Value> = palisade_controller::crd::crds()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let names: Vec<&str> = crds.iter().map(|c| c["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["intents.palisade.dev", "projects.palisade.dev"]);
    assert_eq!(crds[0]["spec"]["scope"], "Namespaced");
    assert_eq!(crds[1]["spec"]["scope"], "Cluster");
    for crd in &crds {
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["subresources"]["status"], json!({}), "status subresource");
        let mut problems = Vec::new();
        structural_problems(&version["schema"]["openAPIV3Schema"], "", &mut problems);
        assert!(
            problems.is_empty(),
            "{}: not structural: {problems:?}",
            crd["metadata"]["name"]
        );
    }
    let Some(swagger) = swagger() else { return };
    let validator = definition(
        &swagger,
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    );
    for crd in &crds {
        let errors: Vec<String> = validator
            .iter_errors(crd)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

#[test]
fn the_example_intents_validate_against_the_intents_crd() {
    let crd = serde_json::to_value(&palisade_controller::crd::crds()[0]).unwrap();
    let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    let validator = jsonschema::options().build(&schema).unwrap();
    let mut checked = 0;
    for example in ["examples/zero-trust/intents", "examples/multi-namespace/intents"] {
        for entry in std::fs::read_dir(root().join(example)).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let object: Value = serde::Deserialize::deserialize(doc).unwrap();
                let errors: Vec<String> = validator
                    .iter_errors(&object)
                    .map(|e| format!("{e} at {}", e.instance_path))
                    .collect();
                assert!(errors.is_empty(), "{}: {errors:?}", entry.path().display());
                // And it reads back as the resource type the controller watches.
                let resource: palisade_controller::crd::Intents = serde_json::from_value(object).unwrap();
                let repository = palisade_intents::load_files(vec![resource.to_file().unwrap()]).unwrap();
                assert_eq!(repository.intents.len(), 1);
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "{checked}");
    // A wrong posture is refused by the schema itself.
    let bad = json!({"apiVersion": "palisade.dev/v1alpha1", "kind": "Intents", "metadata": {"name": "x"}, "spec": {"posture": "deny-all"}});
    assert!(!validator.is_valid(&bad));
}

#[test]
#[ignore = "prints the CRDs for a person"]
fn print() {
    for crd in palisade_controller::crd::crds() {
        println!("{}", serde_yaml_ng::to_string(&crd).unwrap());
    }
}
