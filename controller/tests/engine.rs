//! One pipeline: the same intents, read as files by the CLI and as custom
//! resources by the controller, give the same objects. The controller
//! compiles every Intents of the cluster together (cross-namespace references
//! resolve), and each namespace's objects are exactly the repository's.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use palisade_controller::{
    crd::{Intents, Project},
    reconcile,
};
use palisade_engine::{TargetSet, Workspace};
use palisade_targets::Manifest;
use std::path::Path;

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

/// The resources `kubectl apply -f` makes of the example's files
fn resources(dir: &Path) -> (Vec<Intents>, Vec<Project>) {
    let mut intents = Vec::new();
    for entry in std::fs::read_dir(dir.join("intents")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        intents.push(serde_yaml_ng::from_str::<Intents>(&text).unwrap());
    }
    intents.sort_by_key(|i| i.metadata.name.clone());
    let project =
        serde_yaml_ng::from_str::<Project>(&std::fs::read_to_string(dir.join("palisade.yaml")).unwrap()).unwrap();
    (intents, vec![project])
}

/// The object without the intent lines it came from: files are named by
/// path in the repository and by resource in the cluster (`Intents data/data:8`)
fn without_source(m: &Manifest) -> serde_json::Value {
    let mut object = m.object.clone();
    // Cilium writes the intent lines into the policy's log label
    if let Some(spec) = object.get_mut("spec").and_then(|s| s.as_object_mut()) {
        spec.remove("log");
    }
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(|a| a.as_object_mut())
    {
        assert!(annotations.remove("palisade.dev/source").is_some(), "{}", m.reference());
        if annotations.is_empty() {
            object["metadata"].as_object_mut().unwrap().remove("annotations");
        }
    }
    object
}

fn objects<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = manifests.into_iter().map(without_source).collect();
    out.sort_by_key(|o| o.to_string());
    out
}

#[test]
fn the_controller_compiles_the_cluster_as_the_cli_compiles_the_repository() {
    let dir = example("multi-namespace");
    let ws = Workspace::load_dir(&dir)
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.render_plain()).collect::<String>()));
    let targets = TargetSet::resolve(ws.repository.project.as_ref(), &[]).unwrap();
    let (audit, enforce, _) = palisade_engine::render::render_both(&ws, &targets).unwrap();
    let (all, projects) = resources(&dir);
    assert!(all.len() >= 3, "the example has edges across namespaces");
    for resource in &all {
        let namespace = resource.metadata.namespace.clone().unwrap();
        let compiled = match reconcile::compile(resource, &all, &projects).unwrap() {
            Ok(c) => c,
            Err(invalid) => panic!("{namespace}: {}: {}", invalid.reason, invalid.message),
        };
        for (mode, cli, controller) in [
            ("audit", &audit, &compiled.audit),
            ("enforce", &enforce, &compiled.enforce),
        ] {
            let here = |m: &&Manifest| m.namespace() == namespace;
            let from_cli = objects(cli.iter().filter(here));
            assert!(!from_cli.is_empty(), "{namespace} {mode}");
            assert_eq!(objects(controller.iter().filter(here)), from_cli, "{namespace} {mode}");
        }
    }
}

#[test]
fn a_typo_in_the_project_targets_is_an_error_with_a_suggestion_not_an_empty_rollout() {
    let dir = example("multi-namespace");
    let (all, mut projects) = resources(&dir);
    projects[0]
        .spec
        .project
        .insert("targets".into(), serde_json::json!(["kubernets"]));
    let invalid = match reconcile::compile(&all[0], &all, &projects).unwrap() {
        Ok(_) => panic!("a target that does not exist compiled"),
        Err(invalid) => invalid,
    };
    assert_eq!(invalid.reason, "InvalidTargets");
    assert!(
        invalid.message.contains("unknown target `kubernets`"),
        "{}",
        invalid.message
    );
    assert!(
        invalid.message.contains("kubernetes"),
        "did you mean: {}",
        invalid.message
    );
}
