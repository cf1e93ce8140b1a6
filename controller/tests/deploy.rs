//! deploy/: the CRDs are `palisade crds`, the ClusterRole is exactly what the
//! code calls (reading only, every kind a dialect emits), writes are granted
//! per managed namespace only (never kube-system unless listed), and every
//! manifest validates against the Kubernetes OpenAPI schema.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use serde_json::{json, Value};
use std::{collections::BTreeSet, path::PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn the_crds_in_deploy_are_what_palisade_crds_prints() {
    let written = documents("deploy/crds.yaml");
    let generated: Vec<Value> = palisade_controller::crd::crds()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(written, generated, "run `palisade crds > deploy/crds.yaml`");
}

#[test]
fn the_cluster_role_is_exactly_what_the_code_calls() {
    let written = documents("deploy/clusterrole.yaml");
    let generated = serde_json::to_value(palisade_controller::rbac::cluster_role()).unwrap();
    let mut generated_object = generated.clone();
    generated_object["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    generated_object["kind"] = json!("ClusterRole");
    assert_eq!(
        written,
        [generated_object],
        "deploy/clusterrole.yaml drifted from controller/src/rbac.rs"
    );
    // Every kind any dialect emits, in either mode, is covered; nothing else is.
    let mut emitted: BTreeSet<String> = BTreeSet::new();
    for example in ["examples/zero-trust", "examples/multi-namespace"] {
        let repository = palisade_intents::load_dir(&root().join(example)).unwrap();
        let (ir, _) = palisade_compiler::compile(&repository).unwrap();
        for dialect in palisade_targets::DIALECTS {
            for mode in [palisade_targets::Mode::Enforce, palisade_targets::Mode::Audit] {
                let set = [*dialect];
                let options = palisade_targets::EmitOptions::for_set(*dialect, &set, &ir, mode);
                let Ok((manifests, _)) = palisade_targets::render(*dialect, &ir, &options) else {
                    continue;
                };
                for m in manifests {
                    let group = m.api_version().split_once('/').map_or("", |(g, _)| g).to_string();
                    emitted.insert(format!("{group} {}", m.kind()));
                }
            }
        }
    }
    let granted: BTreeSet<String> = palisade_targets::kinds::emitted()
        .iter()
        .map(|k| format!("{} {}", k.group, k.kind))
        .collect();
    let missing: Vec<&String> = emitted.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "rendered but not stated by their dialect: {missing:?}"
    );
    // The ClusterRole reads; it writes nothing that lives in a namespace.
    let role = palisade_controller::rbac::cluster_role();
    let namespaced: BTreeSet<&str> = palisade_targets::kinds::emitted()
        .iter()
        .filter(|k| k.namespaced)
        .map(|k| k.plural)
        .collect();
    for rule in role.rules.unwrap() {
        let writes = rule
            .verbs
            .iter()
            .any(|v| ["create", "patch", "update", "delete"].contains(&v.as_str()));
        let resources = rule.resources.unwrap_or_default();
        assert!(
            !writes
                || resources
                    .iter()
                    .all(|r| !namespaced.contains(r.as_str()) && !r.starts_with("intents")),
            "the ClusterRole writes {resources:?}"
        );
        assert!(!rule.verbs.contains(&"*".to_string()));
    }
}

#[test]
fn writes_are_granted_in_the_listed_namespaces_only() {
    let roles =
        palisade_controller::rbac::namespace_roles(&["shop".into(), "payments".into(), "shop".into(), " ".into()]);
    let namespaces: Vec<&str> = roles
        .iter()
        .map(|(r, _)| r.metadata.namespace.as_deref().unwrap())
        .collect();
    assert_eq!(
        namespaces,
        ["payments", "shop"],
        "sorted, each once, never kube-system unless listed"
    );
    let (role, binding) = &roles[1];
    assert_eq!(binding.metadata.namespace.as_deref(), Some("shop"));
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.name.as_str(),
            subject.namespace.as_deref()
        ),
        ("ServiceAccount", "palisade-controller", Some("palisade-system"))
    );
    let rules = role.rules.clone().unwrap();
    let grants = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r.api_groups.as_ref().unwrap().iter().any(|g| g == group)
                && r.resources.as_ref().unwrap().iter().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    };
    for kind in palisade_targets::kinds::emitted().iter().filter(|k| k.namespaced) {
        for verb in ["create", "patch", "delete"] {
            assert!(grants(kind.group, kind.plural, verb), "{kind:?} {verb}");
        }
    }
    assert!(grants("palisade.dev", "intents/status", "patch"));
    assert!(grants("events.k8s.io", "events", "create"));
    assert!(!grants("palisade.dev", "intents", "delete"));
    let roles = palisade_controller::rbac::namespace_roles(&["kube-system".into()]);
    assert_eq!(roles.len(), 1, "named, it is granted");
    // The Role in deploy/ is the Lease's only: the namespaces palisade manages are the site's.
    let written = documents("deploy/role.yaml");
    let mut lease = serde_json::to_value(palisade_controller::rbac::lease_role("palisade-system")).unwrap();
    lease["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    lease["kind"] = json!("Role");
    assert_eq!(written, [lease]);
}

#[test]
fn the_deploy_manifests_validate_against_the_kubernetes_schema() {
    let path = root().join("../shared/schemas/kubernetes/upstream/v1.33/swagger.json");
    if !path.exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but {} is missing",
            path.display()
        );
        eprintln!("\n!!! SKIPPED: {} not found !!!\n", path.display());
        return;
    }
    let swagger: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let definition = |kind: &str| -> &str {
        match kind {
            "CustomResourceDefinition" => {
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
            }
            "ClusterRole" => "io.k8s.api.rbac.v1.ClusterRole",
            "ClusterRoleBinding" => "io.k8s.api.rbac.v1.ClusterRoleBinding",
            "Role" => "io.k8s.api.rbac.v1.Role",
            "RoleBinding" => "io.k8s.api.rbac.v1.RoleBinding",
            "Deployment" => "io.k8s.api.apps.v1.Deployment",
            "ServiceAccount" => "io.k8s.api.core.v1.ServiceAccount",
            "Namespace" => "io.k8s.api.core.v1.Namespace",
            other => panic!("deploy/ has a {other}: add its definition here"),
        }
    };
    let kustomization = documents("deploy/kustomization.yaml");
    let mut checked = 0;
    for resource in kustomization[0]["resources"].as_array().unwrap() {
        for object in documents(&format!("deploy/{}", resource.as_str().unwrap())) {
            let name = definition(object["kind"].as_str().unwrap());
            let schema = json!({ "$ref": format!("#/definitions/{name}"), "definitions": swagger["definitions"] });
            let validator = jsonschema::options().build(&schema).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&object)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{resource}: {errors:?}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked}");
}

#[test]
#[ignore = "writes deploy/clusterrole.yaml and deploy/role.yaml from the code"]
fn write_roles() {
    let mut role = serde_json::to_value(palisade_controller::rbac::cluster_role()).unwrap();
    role["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    role["kind"] = json!("ClusterRole");
    let header = "# Exactly what the code calls (controller/src/rbac.rs; a test compares them).\n";
    std::fs::write(
        root().join("deploy/clusterrole.yaml"),
        format!("{header}{}", serde_yaml_ng::to_string(&role).unwrap()),
    )
    .unwrap();
    let mut lease = serde_json::to_value(palisade_controller::rbac::lease_role("palisade-system")).unwrap();
    lease["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    lease["kind"] = json!("Role");
    let role_header = "# Exactly what the code calls (controller/src/rbac.rs; a test compares them).\n\
        # The Lease of leader election only. palisade writes policies only in the namespaces\n\
        # it manages: one Role and RoleBinding each, generated by\n\
        # palisade_controller::rbac::namespace_roles (none for kube-system unless it is listed).\n";
    std::fs::write(
        root().join("deploy/role.yaml"),
        format!("{role_header}{}", serde_yaml_ng::to_string(&lease).unwrap()),
    )
    .unwrap();
}
