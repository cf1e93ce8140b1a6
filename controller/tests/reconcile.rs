//! The reconciler and leader election against kube's mock service: the
//! requests of a first reconcile (the project read, the audit objects
//! applied, an Event, the status written), an approval that promotes, and the
//! lease taken, renewed, or left to its live holder.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{lines, mock, status};
use k8s_openapi::chrono::{TimeZone, Utc};
use kube::{runtime::events::Recorder, Client};
use palisade_controller::{
    crd::Intents,
    leader::Elector,
    metrics::Metrics,
    reconcile::{reconcile, reporter, Context},
};
use serde_json::{json, Value};
use std::{collections::BTreeMap, sync::Arc};

fn intents(annotations: Value, status: Value) -> Intents {
    serde_json::from_value(json!({
        "apiVersion": "palisade.dev/v1alpha1", "kind": "Intents",
        "metadata": {"name": "shop", "namespace": "shop", "generation": 1, "uid": "u1", "resourceVersion": "7",
                     "finalizers": ["palisade.dev/cleanup"], "annotations": annotations},
        "spec": {"posture": "default-deny", "baseline": ["dns"],
                 "services": {"frontend": {"selector": {"app": "frontend"}}, "backend": {"selector": {"app": "backend"}}},
                 "allow": ["frontend -> backend tcp/8080"]},
        "status": status
    }))
    .unwrap()
}

fn api_server(line: &str, body: &Value) -> (u16, Value) {
    if line.starts_with("GET /apis/palisade.dev/v1alpha1/projects") {
        return (
            200,
            json!({"apiVersion": "palisade.dev/v1alpha1", "kind": "ProjectList", "metadata": {}, "items": [
            {"apiVersion": "palisade.dev/v1alpha1", "kind": "Project", "metadata": {"name": "default"},
             "spec": {"targets": ["cilium"], "rollout": {"observeSeconds": 3600}}}]}),
        );
    }
    if line.starts_with("GET") {
        return (
            200,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}),
        );
    }
    if line.contains("/events") {
        return (201, body.clone());
    }
    if line.starts_with("PATCH /apis/palisade.dev") {
        return (
            200,
            serde_json::to_value(intents(json!({}), body["status"].clone())).unwrap(),
        );
    }
    let mut echo = body.clone();
    if echo.is_null() {
        echo = json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "metadata": {}});
    }
    (200, echo)
}

fn context(client: Client, now: i64) -> Arc<Context> {
    Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client, reporter("test-0")),
        metrics: Arc::new(Metrics::default()),
        feed: None,
        now: Arc::new(move || now),
        dry_run: false,
        lost_seen: tokio::sync::Mutex::new(BTreeMap::new()),
    })
}

#[tokio::test]
async fn a_first_reconcile_applies_the_audit_objects_and_writes_the_status() {
    let (client, seen) = mock(|line, body, _| api_server(line, body));
    let ctx = context(client, 1_800_000_000);
    reconcile(Arc::new(intents(json!({}), Value::Null)), ctx.clone())
        .await
        .unwrap();
    let requests = lines(&seen);
    let applies: Vec<&String> = requests
        .iter()
        .filter(|l| l.starts_with("PATCH /apis/cilium.io"))
        .collect();
    assert!(!applies.is_empty(), "{requests:?}");
    assert!(
        applies.iter().all(|l| l.contains("fieldManager=palisade")),
        "{applies:?}"
    );
    assert_eq!(requests[0], "GET /apis/palisade.dev/v1alpha1/projects?");
    assert!(
        requests.iter().any(|l| l.contains("/events")),
        "an Event is recorded: {requests:?}"
    );
    let (last, body) = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        "PATCH /apis/palisade.dev/v1alpha1/namespaces/shop/intents/shop/status?"
    );
    assert_eq!(body["status"]["phase"], "Auditing");
    assert_eq!(body["status"]["observedGeneration"], 1);
    // The applied objects are the audit ones, owned by this resource.
    let first_apply = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(l, _)| l.starts_with("PATCH /apis/cilium.io"))
        .cloned()
        .unwrap();
    assert_eq!(first_apply.1["metadata"]["labels"]["palisade.dev/stage"], "audit");
    assert_eq!(first_apply.1["metadata"]["labels"]["palisade.dev/intents"], "shop.shop");
    assert!(ctx
        .metrics
        .render()
        .contains("palisade_rollout_phase{namespace=\"shop\",phase=\"Auditing\"} 1"));
}

#[tokio::test]
async fn an_approved_ready_namespace_is_enforced_then_its_audit_objects_pruned() {
    let (client, seen) = mock(|line, body, _| api_server(line, body));
    let status = json!({"phase": "Ready", "since": "2027-01-15T08:00:00Z", "observedGeneration": 1, "conditions": [],
                        "windowStart": "2027-01-15T07:00:00Z", "allServicesSeen": true});
    reconcile(
        Arc::new(intents(json!({"palisade.dev/approve": "1"}), status)),
        context(client, 1_800_000_000),
    )
    .await
    .unwrap();
    let requests = lines(&seen);
    let first_enforce = requests
        .iter()
        .position(|l| l.starts_with("PATCH /apis/cilium.io"))
        .unwrap();
    let first_prune = requests
        .iter()
        .position(|l| l.starts_with("GET /apis/cilium.io"))
        .unwrap();
    assert!(
        first_enforce < first_prune,
        "enforce before pruning audit: {requests:?}"
    );
    assert!(
        requests[first_prune].contains("palisade.dev%2Fstage%3Daudit"),
        "{requests:?}"
    );
    let (_, body) = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(body["status"]["phase"], "Enforcing");
    assert_eq!(body["status"]["enforcedGeneration"], 1);
}

#[tokio::test]
async fn invalid_intents_are_reported_in_the_status_and_nothing_is_applied() {
    let (client, seen) = mock(|line, body, _| api_server(line, body));
    let mut bad = intents(json!({}), Value::Null);
    bad.spec.intents["allow"] = json!(["frontend -> nowhere tcp/8080"]);
    reconcile(Arc::new(bad), context(client, 1_800_000_000)).await.unwrap();
    let requests = lines(&seen);
    assert!(
        !requests.iter().any(|l| l.starts_with("PATCH /apis/cilium.io")),
        "{requests:?}"
    );
    let (_, body) = seen.lock().unwrap().last().cloned().unwrap();
    let condition = &body["status"]["conditions"][0];
    assert_eq!(
        (condition["type"].as_str(), condition["status"].as_str()),
        (Some("Valid"), Some("False"))
    );
    assert!(
        condition["message"].as_str().unwrap().contains("nowhere"),
        "{condition}"
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

#[tokio::test]
async fn a_new_generation_while_enforcing_audits_only_what_changed() {
    // Promote generation 1 and keep the status it writes.
    let (client, seen) = mock(|line, body, _| api_server(line, body));
    let ready = json!({"phase": "Ready", "since": "2027-01-15T08:00:00Z", "observedGeneration": 1, "conditions": [],
                       "windowStart": "2027-01-15T07:00:00Z", "allServicesSeen": true});
    reconcile(
        Arc::new(intents(json!({"palisade.dev/approve": "1"}), ready)),
        context(client, 1_800_000_000),
    )
    .await
    .unwrap();
    let enforced = seen.lock().unwrap().last().cloned().unwrap().1["status"].clone();
    assert_eq!(enforced["phase"], "Enforcing");
    let digests = enforced["enforcedDigests"].as_object().unwrap().clone();
    assert!(digests.len() >= 3, "{enforced}");
    // Generation 2 adds one port to backend's ingress: only backend's policy changes.
    let (client, seen) = mock(|line, body, _| api_server(line, body));
    let mut changed = intents(json!({}), enforced.clone());
    changed.metadata.generation = Some(2);
    changed.spec.intents["allow"] = json!(["frontend -> backend tcp/8080,tcp/9090"]);
    reconcile(Arc::new(changed), context(client, 1_800_000_100))
        .await
        .unwrap();
    let requests = lines(&seen);
    let audited: Vec<&String> = requests
        .iter()
        .filter(|l| l.starts_with("PATCH /apis/cilium.io"))
        .collect();
    assert!(!audited.is_empty(), "{requests:?}");
    assert!(
        audited
            .iter()
            .all(|l| l.contains("/backend?") || l.contains("/frontend?")),
        "only the policies the new rule touches are audited: {audited:?}"
    );
    assert!(
        !requests.iter().any(|l| l.starts_with("DELETE")),
        "nothing enforced is removed: {requests:?}"
    );
    let status = seen.lock().unwrap().last().cloned().unwrap().1["status"].clone();
    assert_eq!(
        (status["phase"].as_str(), status["enforcedGeneration"].as_i64()),
        (Some("Auditing"), Some(1))
    );
    assert_eq!(
        status["enforcedDigests"].as_object().unwrap(),
        &digests,
        "generation 1 is what is enforced"
    );
}
