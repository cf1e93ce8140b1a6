//! Reconciling one Intents of the fake API server, as the controller
//! would: the resources, the context and the calls the reconcile tests share

use super::Fake;
use kube::{runtime::events::Recorder, Client};
use palisade_controller::{
    crd::Intents,
    feed::Feed,
    metrics::Metrics,
    reconcile::{reconcile, reporter, Context},
    stored::Reader,
};
use serde_json::{json, Value};
use std::{collections::BTreeMap, sync::Arc};
use tokio::sync::Mutex;

pub const NOW: i64 = 1_800_000_000;

pub fn intents_value(name: &str, namespace: &str, annotations: Value, status: Value) -> Value {
    json!({
        "apiVersion": "palisade.dev/v1alpha1", "kind": "Intents",
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "uid": format!("uid-{namespace}-{name}"),
                     "resourceVersion": "7", "creationTimestamp": "2027-01-01T00:00:00Z",
                     "finalizers": ["palisade.dev/cleanup"], "annotations": annotations},
        "spec": {"posture": "default-deny", "baseline": ["dns"],
                 "services": {"frontend": {"selector": {"app": "frontend"}}, "backend": {"selector": {"app": "backend"}}},
                 "allow": ["frontend -> backend tcp/8080"]},
        "status": status
    })
}

pub fn project(name: &str, targets: Value) -> Value {
    json!({"apiVersion": "palisade.dev/v1alpha1", "kind": "Project", "metadata": {"name": name},
           "spec": {"targets": targets, "rollout": {"observeSeconds": 3600}}})
}

pub fn ready() -> Value {
    json!({"phase": "Ready", "since": "2027-01-15T08:00:00Z", "observedGeneration": 1, "conditions": [],
           "windowStart": "2027-01-15T07:00:00Z", "allServicesSeen": true})
}

/// A context at `now`, with the followed flow log if any
pub fn context_with(client: Client, now: i64, feed: Option<Arc<Mutex<Feed>>>) -> Arc<Context> {
    context(client, now, feed, None)
}

/// A context at `now` whose reports read the window from a flow store
pub fn context_stored(client: Client, now: i64, store: Arc<Reader>) -> Arc<Context> {
    context(client, now, None, Some(store))
}

fn context(client: Client, now: i64, feed: Option<Arc<Mutex<Feed>>>, store: Option<Arc<Reader>>) -> Arc<Context> {
    Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client, reporter("test-0")),
        metrics: Arc::new(Metrics::default()),
        feed,
        store,
        now: Arc::new(move || now),
        dry_run: false,
        lost_seen: tokio::sync::Mutex::new(BTreeMap::new()),
    })
}

/// Reconcile the Intents `name` as the fake holds it now
pub async fn run_with(fake: &Fake, name: &str, now: i64, feed: Option<Arc<Mutex<Feed>>>) -> Result<(), String> {
    let intents: Intents = serde_json::from_value(fake.intents(name)).unwrap();
    reconcile(Arc::new(intents), context_with(fake.client(), now, feed))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reconcile the Intents `name` with the window read from `store`
pub async fn run_stored(fake: &Fake, name: &str, now: i64, store: Arc<Reader>) -> Result<(), String> {
    let intents: Intents = serde_json::from_value(fake.intents(name)).unwrap();
    reconcile(Arc::new(intents), context_stored(fake.client(), now, store))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub async fn run(fake: &Fake, name: &str, now: i64) -> Result<(), String> {
    run_with(fake, name, now, None).await
}

pub fn set(fake: &Fake, name: &str, edit: impl FnOnce(&mut Value)) {
    let mut state = fake.state.lock().unwrap();
    let intents = state
        .intents
        .iter_mut()
        .find(|i| i["metadata"]["name"] == name)
        .unwrap();
    edit(intents);
}

pub fn last_status(fake: &Fake, name: &str) -> Value {
    fake.intents(name)["status"].clone()
}
