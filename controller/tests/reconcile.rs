//! The reconciler and leader election against an in-memory API server
//! (tests/common: kube's tower-test mock holding objects): the requests of a
//! first reconcile, an approval that promotes, what stops a rollout (intents
//! that do not compile, a typo in the targets, two Projects, a second
//! Intents in a namespace, a hand-made object with a palisade name), a new
//! generation while enforcing, a restart at every step of a promotion, the
//! intents of several namespaces compiled together, a Project change, and
//! the lease taken, renewed, or left to its live holder.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{
    lines, mock,
    reconciling::{context_with, intents_value, last_status, project, ready, run, set, NOW},
    stage_of, status, Fake,
};
use k8s_openapi::chrono::{TimeZone, Utc};
use palisade_controller::{crd::Intents, leader::Elector, reconcile::reconcile};
use serde_json::{json, Value};
use std::sync::Arc;

fn shop(annotations: Value, status: Value) -> Value {
    intents_value("shop", "shop", annotations, status)
}

fn condition(status: &Value, kind: &str) -> Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or(Value::Null)
}

fn policy_writes(fake: &Fake) -> Vec<String> {
    fake.lines()
        .into_iter()
        .filter(|l| {
            (l.starts_with("PATCH") || l.starts_with("DELETE") || l.starts_with("POST"))
                && !l.contains("palisade.dev/")
                && !l.contains("/events")
        })
        .collect()
}

fn events(fake: &Fake) -> Vec<Value> {
    fake.state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(l, _)| l.contains("/events"))
        .map(|(_, b)| b.clone())
        .collect()
}

#[tokio::test]
async fn a_first_reconcile_applies_the_audit_objects_and_writes_the_status() {
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![project("default", json!(["cilium"]))],
    );
    let client = fake.client();
    let ctx = context_with(client, NOW, None);
    let intents: Intents = serde_json::from_value(fake.intents("shop")).unwrap();
    reconcile(Arc::new(intents), ctx.clone()).await.unwrap();
    let requests = fake.lines();
    assert_eq!(requests[0], "GET /apis/palisade.dev/v1alpha1/projects?");
    assert_eq!(requests[1], "GET /apis/palisade.dev/v1alpha1/intents?");
    let applies: Vec<&String> = requests
        .iter()
        .filter(|l| l.starts_with("PATCH /apis/cilium.io"))
        .collect();
    assert!(!applies.is_empty(), "{requests:?}");
    assert!(
        applies.iter().all(|l| l.contains("fieldManager=palisade")),
        "{applies:?}"
    );
    assert!(
        applies.iter().all(|l| !l.contains("force=true")),
        "new objects are never forced: {applies:?}"
    );
    // Each object is read before it is written.
    for apply in &applies {
        let path = apply.trim_start_matches("PATCH ").split('?').next().unwrap();
        let get = requests
            .iter()
            .position(|l| l.split('?').next() == Some(&format!("GET {path}")))
            .unwrap_or_else(|| panic!("{path} is not read: {requests:?}"));
        let patch = requests.iter().position(|l| l == *apply).unwrap();
        assert!(get < patch, "{requests:?}");
    }
    assert!(
        requests.iter().any(|l| l.contains("/events")),
        "an Event is recorded: {requests:?}"
    );
    let (last, body) = fake.state.lock().unwrap().log.last().cloned().unwrap();
    assert_eq!(
        last, "PATCH /apis/palisade.dev/v1alpha1/namespaces/shop/intents/shop/status?&force=true&fieldManager=palisade",
        "the status is written by server-side apply"
    );
    assert_eq!(body["kind"], "Intents");
    assert_eq!(body["status"]["phase"], "Auditing");
    assert_eq!(body["status"]["observedGeneration"], 1);
    // The applied objects are the audit ones, owned by this resource (its UID).
    for (path, object) in &fake.state.lock().unwrap().objects {
        assert_eq!(stage_of(object), "audit", "{path}");
        assert_eq!(object["metadata"]["labels"]["palisade.dev/intents"], "shop.shop");
        assert_eq!(
            object["metadata"]["annotations"]["palisade.dev/owner-uid"],
            "uid-shop-shop"
        );
    }
    let metrics = ctx.metrics.render();
    assert!(metrics.contains("palisade_rollout_phase{namespace=\"shop\",phase=\"Auditing\"} 1"));
    assert!(
        metrics.contains("palisade_reconcile_duration_seconds_count 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_approved_ready_namespace_is_enforced_then_its_audit_objects_pruned() {
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![project("default", json!(["cilium"]))],
    );
    run(&fake, "shop", NOW).await.unwrap();
    let audited = fake.objects();
    set(&fake, "shop", |i| {
        i["status"] = ready();
        i["metadata"]["annotations"] = json!({"palisade.dev/approve": "1"});
    });
    run(&fake, "shop", NOW).await.unwrap();
    let requests = fake.lines();
    let first_enforce = requests
        .iter()
        .position(|l| l.starts_with("PATCH /apis/cilium.io") && l.contains("force=true"))
        .unwrap();
    let first_prune = requests
        .iter()
        .position(|l| l.contains("palisade.dev%2Fstage%3Daudit"))
        .unwrap();
    assert!(
        first_enforce < first_prune,
        "enforce before pruning audit: {requests:?}"
    );
    assert!(fake.state.lock().unwrap().violations.is_empty());
    let objects = fake.objects();
    assert!(
        !objects.is_empty() && objects.iter().all(|(_, s)| s == "enforce"),
        "{objects:?} (audit: {audited:?})"
    );
    let status = last_status(&fake, "shop");
    assert_eq!(status["phase"], "Enforcing");
    assert_eq!(status["enforcedGeneration"], 1);
}

#[tokio::test]
async fn invalid_intents_are_reported_in_the_status_and_nothing_is_applied() {
    let mut bad = shop(json!({}), Value::Null);
    bad["spec"]["allow"] = json!(["frontend -> nowhere tcp/8080"]);
    let fake = Fake::new(vec![bad], vec![project("default", json!(["cilium"]))]);
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(policy_writes(&fake), Vec::<String>::new());
    let valid = condition(&last_status(&fake, "shop"), "Valid");
    assert_eq!(
        (valid["status"].as_str(), valid["reason"].as_str()),
        (Some("False"), Some("InvalidIntents"))
    );
    assert!(valid["message"].as_str().unwrap().contains("nowhere"), "{valid}");
}

#[tokio::test]
async fn a_typo_in_the_targets_is_an_error_with_a_suggestion_and_nothing_is_applied() {
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![project("default", json!(["kubernets"]))],
    );
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(policy_writes(&fake), Vec::<String>::new(), "nothing applied");
    let status = last_status(&fake, "shop");
    let valid = condition(&status, "Valid");
    assert_eq!(
        (valid["status"].as_str(), valid["reason"].as_str()),
        (Some("False"), Some("InvalidTargets"))
    );
    let message = valid["message"].as_str().unwrap();
    assert!(
        message.contains("unknown target `kubernets`") && message.contains("kubernetes"),
        "{message}"
    );
    assert_ne!(status["phase"], "Auditing", "{status}");
    let events = events(&fake);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "Warning" && e["reason"] == "InvalidTargets"),
        "{events:?}"
    );
    // `all` and an overlay alone are resolved the CLI's way too.
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![project("default", json!(["istio"]))],
    );
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(policy_writes(&fake), Vec::<String>::new());
    let valid = condition(&last_status(&fake, "shop"), "Valid");
    assert!(valid["message"].as_str().unwrap().contains("overlay"), "{valid}");
}

#[tokio::test]
async fn two_projects_are_an_error_naming_both() {
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![
            project("b-second", json!(["cilium"])),
            project("a-first", json!(["kubernetes"])),
        ],
    );
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(policy_writes(&fake), Vec::<String>::new(), "no Project is picked");
    let valid = condition(&last_status(&fake, "shop"), "Valid");
    assert_eq!(
        (valid["status"].as_str(), valid["reason"].as_str()),
        (Some("False"), Some("TwoProjects"))
    );
    let message = valid["message"].as_str().unwrap();
    assert!(
        message.contains("`a-first`") && message.contains("`b-second`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_hand_made_object_with_a_palisade_name_is_a_conflict_never_applied_nor_pruned() {
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![project("default", json!(["cilium"]))],
    );
    // Discover the names palisade writes, on a copy.
    let probe = fake.fork();
    run(&probe, "shop", NOW).await.unwrap();
    let (path, _) = probe.objects().into_iter().next().unwrap();
    // Someone made an object of that name by hand, even with palisade's labels.
    let hand_made = json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": path.rsplit('/').next().unwrap(), "namespace": "shop",
                     "labels": {"app.kubernetes.io/managed-by": "palisade", "palisade.dev/intents": "shop.shop", "palisade.dev/stage": "audit"},
                     "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}]},
        "spec": {"endpointSelector": {}, "ingress": [{}]}});
    fake.state
        .lock()
        .unwrap()
        .objects
        .insert(path.clone(), hand_made.clone());
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(
        policy_writes(&fake),
        Vec::<String>::new(),
        "nothing of the step is applied"
    );
    let status = last_status(&fake, "shop");
    let conflict = condition(&status, "Conflict");
    assert_eq!(conflict["status"], "True", "{status}");
    assert!(
        conflict["message"]
            .as_str()
            .unwrap()
            .contains(path.rsplit('/').next().unwrap()),
        "{conflict}"
    );
    assert!(
        events(&fake)
            .iter()
            .any(|e| e["type"] == "Warning" && e["reason"] == "Conflict"),
        "a Warning Event"
    );
    assert_eq!(fake.state.lock().unwrap().objects[&path], hand_made, "untouched");
    // A promotion with it still there prunes nothing of it either.
    set(&fake, "shop", |i| {
        i["status"] = ready();
        i["metadata"]["annotations"] = json!({"palisade.dev/approve": "1"});
    });
    run(&fake, "shop", NOW).await.unwrap();
    assert!(
        !fake.lines().iter().any(|l| l.starts_with("DELETE")),
        "{:?}",
        fake.lines()
    );
    assert_eq!(fake.state.lock().unwrap().objects[&path], hand_made);
    // Deleting the Intents resource leaves it too.
    set(&fake, "shop", |i| {
        i["metadata"]["deletionTimestamp"] = json!("2027-01-16T00:00:00Z")
    });
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(fake.state.lock().unwrap().objects[&path], hand_made);
}

#[tokio::test]
async fn the_second_intents_of_a_namespace_is_refused_and_the_older_one_rolls_out() {
    let older = intents_value("zeta", "shop", json!({}), Value::Null);
    let mut newer = intents_value("alpha", "shop", json!({}), Value::Null);
    newer["metadata"]["creationTimestamp"] = json!("2027-02-01T00:00:00Z");
    let fake = Fake::new(vec![older, newer], vec![project("default", json!(["cilium"]))]);
    run(&fake, "alpha", NOW).await.unwrap();
    assert_eq!(policy_writes(&fake), Vec::<String>::new());
    let valid = condition(&last_status(&fake, "alpha"), "Valid");
    assert_eq!(
        (valid["status"].as_str(), valid["reason"].as_str()),
        (Some("False"), Some("DuplicateIntents"))
    );
    assert!(valid["message"].as_str().unwrap().contains("`zeta`"), "{valid}");
    run(&fake, "zeta", NOW).await.unwrap();
    assert!(!policy_writes(&fake).is_empty());
    assert!(fake.objects().iter().all(|(p, _)| p.contains("/namespaces/shop/")));
    let owners: Vec<Value> = fake
        .state
        .lock()
        .unwrap()
        .objects
        .values()
        .map(|o| o["metadata"]["annotations"]["palisade.dev/owner-uid"].clone())
        .collect();
    assert!(owners.iter().all(|o| o == "uid-shop-zeta"), "{owners:?}");
}

#[tokio::test]
async fn long_owner_names_stay_within_the_label_limit_and_apart() {
    let a = "a".repeat(60);
    let fake = Fake::new(
        vec![intents_value(&a, "shop", json!({}), Value::Null)],
        vec![project("default", json!(["cilium"]))],
    );
    run(&fake, &a, NOW).await.unwrap();
    let label = fake.state.lock().unwrap().objects.values().next().unwrap()["metadata"]["labels"]
        ["palisade.dev/intents"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(label.len() <= 63, "{label}");
    let other = palisade_controller::apply::owner_label("shop", &format!("{a}b"));
    assert_ne!(label, other);
}

/// Generation 1 enforced on a fresh fake: the cluster after the promotion
async fn enforced_generation_one(targets: Value) -> Fake {
    let fake = Fake::new(vec![shop(json!({}), Value::Null)], vec![project("default", targets)]);
    run(&fake, "shop", NOW).await.unwrap();
    set(&fake, "shop", |i| {
        i["status"] = ready();
        i["metadata"]["annotations"] = json!({"palisade.dev/approve": "1"});
    });
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(last_status(&fake, "shop")["phase"], "Enforcing");
    fake
}

/// Generation 2: backend's policy gains a port, and the posture changes (the
/// namespace default deny changes under the same name)
fn generation_two(i: &mut Value) {
    i["metadata"]["generation"] = json!(2);
    i["metadata"]["annotations"] = json!({});
    i["spec"]["allow"] = json!(["frontend -> backend tcp/8080,tcp/9090"]);
    i["spec"]["posture"] = json!("default-deny-ingress");
}

#[tokio::test]
async fn a_new_generation_while_enforcing_never_weakens_an_enforced_object() {
    for targets in [json!(["cilium"]), json!(["kubernetes"]), json!(["calico"])] {
        let fake = enforced_generation_one(targets.clone()).await;
        let enforced = fake.objects();
        let before = fake.state.lock().unwrap().objects.clone();
        let digests = last_status(&fake, "shop")["enforcedDigests"].clone();
        fake.state.lock().unwrap().log.clear();
        set(&fake, "shop", generation_two);
        run(&fake, "shop", NOW + 100).await.unwrap();
        run(&fake, "shop", NOW + 200).await.unwrap();
        let state = fake.state.lock().unwrap().clone();
        assert_eq!(state.violations, Vec::<String>::new(), "{targets}");
        for (path, object) in &before {
            assert_eq!(
                &state.objects[path], object,
                "{targets}: the enforced {path} is untouched"
            );
        }
        assert!(
            !state.log.iter().any(|(l, _)| l.starts_with("DELETE")),
            "{targets}: nothing enforced is removed"
        );
        for (line, body) in &state.log {
            if line.starts_with("PATCH") && !line.contains("palisade.dev/") {
                let path = line.trim_start_matches("PATCH ").split('?').next().unwrap();
                assert!(
                    !enforced.iter().any(|(p, _)| p == path) || stage_of(body) != "audit",
                    "{targets}: an audit body to the enforced {path}"
                );
            }
        }
        let status = last_status(&fake, "shop");
        assert_eq!(
            (status["phase"].as_str(), status["enforcedGeneration"].as_i64()),
            (Some("Auditing"), Some(1)),
            "{targets}"
        );
        assert_eq!(
            status["enforcedDigests"], digests,
            "{targets}: generation 1 is what is enforced"
        );
        // And its promotion enforces generation 2 with no window without protection.
        set(&fake, "shop", |i| {
            let mut s = i["status"].clone();
            s["phase"] = json!("Ready");
            i["status"] = s;
            i["metadata"]["annotations"] = json!({"palisade.dev/approve": "2"});
        });
        run(&fake, "shop", NOW + 300).await.unwrap();
        let state = fake.state.lock().unwrap().clone();
        assert_eq!(state.violations, Vec::<String>::new(), "{targets}");
        assert!(state.objects.values().all(|o| stage_of(o) == "enforce"), "{targets}");
        assert_eq!(last_status(&fake, "shop")["enforcedGeneration"], 2);
    }
}

#[tokio::test]
async fn a_restart_at_every_step_of_a_promotion_never_weakens() {
    for targets in [json!(["cilium"]), json!(["kubernetes"])] {
        let base = enforced_generation_one(targets.clone()).await;
        set(&base, "shop", generation_two);
        run(&base, "shop", NOW + 100).await.unwrap();
        set(&base, "shop", |i| {
            let mut s = i["status"].clone();
            s["phase"] = json!("Ready");
            i["status"] = s;
            i["metadata"]["annotations"] = json!({"palisade.dev/approve": "2"});
        });
        // The whole promotion once, to learn its writes and the enforced set it ends with.
        let whole = base.fork();
        whole.state.lock().unwrap().log.clear();
        run(&whole, "shop", NOW + 200).await.unwrap();
        let writes = policy_writes(&whole).len();
        let end = whole.objects();
        assert!(writes >= 2, "{:?}", whole.lines());
        let replacement: Vec<String> = end.iter().map(|(p, _)| p.clone()).collect();
        for step in 0..=writes {
            let fake = base.fork();
            {
                let mut state = fake.state.lock().unwrap();
                state.budget = Some(step);
                state.replacement = replacement.clone();
            }
            // The controller dies after `step` writes, then starts again.
            let first = run(&fake, "shop", NOW + 200).await;
            assert!(first.is_err() || step == writes, "{targets} step {step}: {first:?}");
            fake.state.lock().unwrap().budget = None;
            run(&fake, "shop", NOW + 260).await.unwrap();
            run(&fake, "shop", NOW + 320).await.unwrap();
            let state = fake.state.lock().unwrap().clone();
            assert_eq!(
                state.violations,
                Vec::<String>::new(),
                "{targets} restart after {step} writes"
            );
            assert_eq!(
                fake.objects(),
                end,
                "{targets} restart after {step} writes ends as the whole promotion"
            );
            let status = last_status(&fake, "shop");
            assert_eq!(
                (status["phase"].as_str(), status["enforcedGeneration"].as_i64()),
                (Some("Enforcing"), Some(2))
            );
        }
    }
}

fn example_resources(dir: &str) -> (Vec<Value>, Value) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir);
    let mut intents = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(root.join("intents")).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let mut object: Value = serde::Deserialize::deserialize(doc).unwrap();
            let namespace = object["metadata"]["namespace"].as_str().unwrap().to_string();
            let name = object["metadata"]["name"].as_str().unwrap().to_string();
            object["metadata"]["uid"] = json!(format!("uid-{namespace}-{name}"));
            object["metadata"]["generation"] = json!(1);
            object["metadata"]["finalizers"] = json!(["palisade.dev/cleanup"]);
            object["metadata"]["creationTimestamp"] = json!("2027-01-01T00:00:00Z");
            intents.push(object);
        }
    }
    let text = std::fs::read_to_string(root.join("palisade.yaml")).unwrap();
    let mut project: Value = serde_yaml_ng::from_str(&text).unwrap();
    project["spec"]["rollout"] = json!({"observeSeconds": 3600});
    (intents, project)
}

#[tokio::test]
async fn the_intents_of_every_namespace_compile_together_and_each_applies_its_own() {
    let (intents, project) = example_resources("examples/multi-namespace");
    let names: Vec<(String, String)> = intents
        .iter()
        .map(|i| {
            (
                i["metadata"]["name"].as_str().unwrap().to_string(),
                i["metadata"]["namespace"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(names.len() >= 3);
    let fake = Fake::new(intents, vec![project]);
    for (name, namespace) in &names {
        let before = fake.objects().len();
        run(&fake, name, NOW).await.unwrap();
        let status = last_status(&fake, name);
        assert_eq!(condition(&status, "Valid")["status"], "True", "{name}: {status}");
        let objects = fake.objects();
        assert!(objects.len() > before, "{name} applied its objects");
        let state = fake.state.lock().unwrap();
        for (path, object) in &state.objects {
            let owner = object["metadata"]["annotations"]["palisade.dev/owner-uid"]
                .as_str()
                .unwrap();
            let ns = path.split('/').nth(5).unwrap();
            assert_eq!(
                owner,
                format!("uid-{ns}-{}", names.iter().find(|(_, n)| n == ns).unwrap().0),
                "{path}"
            );
        }
        let _ = namespace;
    }
    // The CLI compiles the same folder to the same objects (read from
    // files, not resources: only the source lines differ, which digests leave out).
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/multi-namespace");
    let ws = palisade_engine::Workspace::load_dir(&root).unwrap();
    let targets = palisade_engine::TargetSet::resolve(ws.repository.project.as_ref(), &[]).unwrap();
    let (audit, _, _) = palisade_engine::render::render_both(&ws, &targets).unwrap();
    let state = fake.state.lock().unwrap();
    let mut compared = 0;
    for m in audit.iter().filter(|m| !m.namespace().is_empty()) {
        let mut applied = state
            .objects
            .values()
            .find(|o| {
                o["apiVersion"] == m.api_version()
                    && o["kind"] == m.kind()
                    && o["metadata"]["namespace"] == m.namespace()
                    && o["metadata"]["name"] == m.name()
            })
            .cloned()
            .unwrap_or_else(|| panic!("{} was not applied", m.reference()));
        // What the applier adds: ownership, and what the fake server records.
        let metadata = applied["metadata"].as_object_mut().unwrap();
        metadata.remove("managedFields");
        metadata["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("palisade.dev/owner-uid");
        let labels = metadata["labels"].as_object_mut().unwrap();
        for key in ["palisade.dev/stage", "palisade.dev/restricts-only"] {
            labels.remove(key);
        }
        labels.insert(
            "palisade.dev/intents".into(),
            m.object["metadata"]["labels"]["palisade.dev/intents"].clone(),
        );
        assert_eq!(
            palisade_targets::Manifest::new(applied).digest(),
            m.digest(),
            "{}",
            m.reference()
        );
        compared += 1;
    }
    assert!(compared >= 8, "{compared}");
}

#[tokio::test]
async fn another_namespaces_change_never_reaches_what_is_enforced_without_an_approval() {
    let mut shop_value = shop(json!({}), Value::Null);
    shop_value["spec"]["allow"] = json!(["frontend -> backend tcp/8080", "frontend -> other/api tcp/80"]);
    let mut other = intents_value("other", "other", json!({}), Value::Null);
    other["spec"] = json!({"posture": "default-deny", "services": {"api": {"selector": {"app": "api"}}}, "allow": []});
    let fake = Fake::new(vec![shop_value, other], vec![project("default", json!(["cilium"]))]);
    run(&fake, "shop", NOW).await.unwrap();
    set(&fake, "shop", |i| {
        i["status"] = ready();
        i["metadata"]["annotations"] = json!({"palisade.dev/approve": "1"});
    });
    run(&fake, "shop", NOW).await.unwrap();
    let before: Vec<(String, Value)> = fake
        .state
        .lock()
        .unwrap()
        .objects
        .iter()
        .filter(|(p, _)| p.contains("/namespaces/shop/"))
        .map(|(p, o)| (p.clone(), o.clone()))
        .collect();
    assert!(!before.is_empty());
    // The other namespace's service now selects other pods: shop's egress compiles differently.
    set(&fake, "other", |i| {
        i["spec"]["services"]["api"]["selector"] = json!({"app": "api-v2"});
        i["metadata"]["generation"] = json!(2);
    });
    run(&fake, "shop", NOW + 60).await.unwrap();
    let state = fake.state.lock().unwrap().clone();
    for (path, object) in &before {
        assert_eq!(&state.objects[path], object, "the enforced {path} is untouched");
    }
    assert_eq!(state.violations, Vec::<String>::new());
    let status = last_status(&fake, "shop");
    assert_eq!(status["phase"], "Enforcing");
    assert_eq!(condition(&status, "Drift")["status"], "True", "{status}");
}

#[tokio::test]
async fn a_project_change_is_read_on_the_next_reconcile() {
    let fake = Fake::new(
        vec![shop(json!({}), Value::Null)],
        vec![project("default", json!(["kubernetes"]))],
    );
    run(&fake, "shop", NOW).await.unwrap();
    assert!(fake
        .objects()
        .iter()
        .all(|(p, _)| p.starts_with("/apis/networking.k8s.io/")));
    fake.state.lock().unwrap().projects = vec![project("default", json!(["kubernets"]))];
    run(&fake, "shop", NOW + 60).await.unwrap();
    assert_eq!(
        condition(&last_status(&fake, "shop"), "Valid")["reason"],
        "InvalidTargets"
    );
    fake.state.lock().unwrap().projects = vec![project("default", json!(["cilium"]))];
    run(&fake, "shop", NOW + 120).await.unwrap();
    assert_eq!(condition(&last_status(&fake, "shop"), "Valid")["status"], "True");
    assert!(fake.objects().iter().any(|(p, _)| p.starts_with("/apis/cilium.io/")));
}

#[tokio::test]
async fn approval_is_for_one_generation_and_true_approves_nothing() {
    let fake = Fake::new(
        vec![shop(json!({"palisade.dev/approve": "true"}), ready())],
        vec![project("default", json!(["cilium"]))],
    );
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(last_status(&fake, "shop")["phase"], "Ready", "`true` approves nothing");
    let events = events(&fake);
    let ignored = events.iter().find(|e| e["reason"] == "ApprovalIgnored").unwrap();
    assert!(ignored["note"].as_str().unwrap().contains("\"1\""), "{ignored}");
    // An approval of generation 1 does not approve generation 2.
    let mut next = ready();
    next["observedGeneration"] = json!(2);
    let fake = Fake::new(
        vec![shop(json!({"palisade.dev/approve": "1"}), next)],
        vec![project("default", json!(["cilium"]))],
    );
    set(&fake, "shop", |i| i["metadata"]["generation"] = json!(2));
    run(&fake, "shop", NOW).await.unwrap();
    assert_eq!(last_status(&fake, "shop")["phase"], "Ready");
    assert!(!fake.objects().iter().any(|(_, s)| s == "enforce"));
}

#[tokio::test]
async fn an_intents_without_a_namespace_is_an_error_not_the_empty_namespace() {
    let (client, seen) = mock(|_, _, _| (200, json!({})));
    let mut value = shop(json!({}), Value::Null);
    value["metadata"].as_object_mut().unwrap().remove("namespace");
    let intents: Intents = serde_json::from_value(value).unwrap();
    let ctx = context_with(client, NOW, None);
    let err = reconcile(Arc::new(intents.clone()), ctx.clone()).await.unwrap_err();
    assert!(err.to_string().contains("no metadata.namespace"), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "no request");
    palisade_controller::reconcile::error_policy(Arc::new(intents), &err, ctx.clone());
    assert!(
        ctx.metrics
            .render()
            .contains("palisade_reconcile_failures_total{reason=\"IncompleteResource\"} 1"),
        "{}",
        ctx.metrics.render()
    );
}

fn lease(holder: &str, renewed: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "palisade-controller", "namespace": "palisade-system", "resourceVersion": "42"},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed, "acquireTime": renewed, "leaseTransitions": 3}})
}

#[tokio::test]
async fn the_lease_is_created_renewed_taken_when_expired_and_left_to_a_live_holder() {
    let now = Utc.with_ymd_and_hms(2027, 1, 15, 8, 0, 0).unwrap();
    // None yet: create it.
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") {
            (404, status(404, "NotFound"))
        } else {
            (201, body.clone())
        }
    });
    assert!(
        Elector::new(client, "palisade-system", "palisade-controller", "pod-a", 15)
            .lead(now)
            .await
            .unwrap()
    );
    let requests = lines(&seen);
    assert_eq!(
        requests[1],
        "POST /apis/coordination.k8s.io/v1/namespaces/palisade-system/leases?"
    );
    // Another holder renewed 5 s ago: follow.
    let (client, seen) = mock(|_, _, _| (200, lease("pod-b", "2027-01-15T07:59:55.000000Z")));
    assert!(
        !Elector::new(client, "palisade-system", "palisade-controller", "pod-a", 15)
            .lead(now)
            .await
            .unwrap()
    );
    assert_eq!(lines(&seen).len(), 1, "no write");
    // It expired: take it over, conditionally on the version read.
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") {
            (200, lease("pod-b", "2027-01-15T07:59:00.000000Z"))
        } else {
            (200, body.clone())
        }
    });
    assert!(
        Elector::new(client, "palisade-system", "palisade-controller", "pod-a", 15)
            .lead(now)
            .await
            .unwrap()
    );
    let (line, body) = seen.lock().unwrap()[1].clone();
    assert_eq!(
        line,
        "PUT /apis/coordination.k8s.io/v1/namespaces/palisade-system/leases/palisade-controller?"
    );
    assert_eq!(body["metadata"]["resourceVersion"], "42");
    assert_eq!(body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(body["spec"]["leaseTransitions"], 4);
    // Someone else won the race: a 409 means follow.
    let (client, _) = mock(|line, _, _| {
        if line.starts_with("GET") {
            (200, lease("pod-b", "2027-01-15T07:59:00.000000Z"))
        } else {
            (409, status(409, "Conflict"))
        }
    });
    assert!(
        !Elector::new(client, "palisade-system", "palisade-controller", "pod-a", 15)
            .lead(now)
            .await
            .unwrap()
    );
    // Our own lease: renew, keeping the acquire time.
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") {
            (200, lease("pod-a", "2027-01-15T07:59:58.000000Z"))
        } else {
            (200, body.clone())
        }
    });
    assert!(
        Elector::new(client, "palisade-system", "palisade-controller", "pod-a", 15)
            .lead(now)
            .await
            .unwrap()
    );
    let body = seen.lock().unwrap()[1].1.clone();
    assert_eq!(body["spec"]["acquireTime"], "2027-01-15T07:59:58.000000Z");
    assert_eq!(body["spec"]["leaseTransitions"], 3);
}
