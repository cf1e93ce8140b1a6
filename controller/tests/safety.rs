//! The rollout never weakens what is enforced and never passes on stale or
//! poisoned evidence: reproductions of an adversarial review, each asserting
//! what must hold.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{
    reconciling::{intents_value, last_status, project, ready, run, run_with, set, NOW},
    stage_of, Fake,
};
use palisade_controller::feed::Feed;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Mutex;

async fn enforced_generation_one(intents: Vec<Value>, projects: Vec<Value>, name: &str) -> Fake {
    let fake = Fake::new(intents, projects);
    run(&fake, name, NOW).await.unwrap();
    set(&fake, name, |i| {
        i["status"] = ready();
        i["metadata"]["annotations"] = json!({"palisade.dev/approve": "1"});
    });
    run(&fake, name, NOW).await.unwrap();
    assert_eq!(last_status(&fake, name)["phase"], "Enforcing");
    fake
}

fn shop() -> Value {
    intents_value("shop", "shop", json!({}), Value::Null)
}

/// F1: while generation 1 enforces the namespace default deny, the audit of
/// generation 2 applies a NEW Cilium policy (a new name, so nothing keeps it
/// off) whose allow rules are live in Cilium (`enableDefaultDeny: false` only
/// stops the policy from turning default deny on; its allows still add to the
/// endpoint's allowed set). world -> admin tcp/22 is open before anyone approves.
#[tokio::test]
async fn f1_cilium_audit_of_a_new_group_opens_traffic_generation_one_denies() {
    let fake = enforced_generation_one(vec![shop()], vec![project("default", json!(["cilium"]))], "shop").await;
    fake.state.lock().unwrap().log.clear();
    set(&fake, "shop", |i| {
        i["metadata"]["generation"] = json!(2);
        i["metadata"]["annotations"] = json!({});
        i["spec"]["services"]["admin"] = json!({"selector": {"app": "admin"}});
        i["spec"]["allow"] = json!(["frontend -> backend tcp/8080", "world -> admin tcp/22"]);
    });
    run(&fake, "shop", NOW + 100).await.unwrap();
    let state = fake.state.lock().unwrap().clone();
    let deny = state
        .objects
        .iter()
        .find(|(p, _)| p.ends_with("/palisade-default-deny"))
        .unwrap();
    assert_eq!(stage_of(deny.1), "enforce", "generation 1's default deny is enforced");
    let live_allows: Vec<String> = state
        .log
        .iter()
        .filter(|(l, b)| l.starts_with("PATCH /apis/cilium.io") && stage_of(b) == "audit")
        .filter(|(_, b)| {
            b["spec"]["ingress"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r != &json!({})))
        })
        .map(|(l, b)| format!("{l} ingress={}", b["spec"]["ingress"]))
        .collect();
    assert_eq!(
        live_allows,
        Vec::<String>::new(),
        "audit-stage allow rules written into a namespace whose default deny is enforced"
    );
}

/// F2: a rollback annotation set while generation 2 is Ready (generation 1
/// enforced) removes generation 1's enforcement; the same annotation while
/// generation 2 is Auditing keeps it. Rolling back the change under review
/// unprotects what was audited and approved before.
#[tokio::test]
async fn f2_rollback_of_a_ready_next_generation_removes_the_older_enforcement() {
    let fake = enforced_generation_one(vec![shop()], vec![project("default", json!(["cilium"]))], "shop").await;
    set(&fake, "shop", |i| {
        i["metadata"]["generation"] = json!(2);
        i["metadata"]["annotations"] = json!({});
        i["spec"]["allow"] = json!(["frontend -> backend tcp/8080,tcp/9090"]);
    });
    run(&fake, "shop", NOW + 100).await.unwrap();
    assert_eq!(last_status(&fake, "shop")["enforcedGeneration"], 1);
    set(&fake, "shop", |i| {
        let mut s = i["status"].clone();
        s["phase"] = json!("Ready");
        i["status"] = s;
        i["metadata"]["annotations"] = json!({"palisade.dev/rollback": "true"});
    });
    run(&fake, "shop", NOW + 200).await.unwrap();
    let state = fake.state.lock().unwrap().clone();
    let status = last_status(&fake, "shop");
    assert_eq!(
        (status["enforcedGeneration"].as_i64(), state.violations.clone()),
        (Some(1), Vec::<String>::new()),
        "rolling back generation 2 must leave generation 1 enforced; status {status}"
    );
}

fn hubble(time: &str, ns: &str, from: &str, to: &str, port: u16) -> String {
    format!(
        r#"{{"flow":{{"time":"{time}","verdict":"FORWARDED","IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"TCP":{{"destination_port":{port}}}}},"source":{{"namespace":"{ns}","pod_name":"{from}-1","labels":["k8s:app={from}"]}},"destination":{{"namespace":"{ns}","pod_name":"{to}-1","labels":["k8s:app={to}"]}},"is_reply":false}}}}"#
    )
}

fn iso(seconds: i64) -> String {
    k8s_openapi::chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true)
}

fn feed_of(lines: &[String]) -> (tempfile::TempDir, Arc<Mutex<Feed>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut feed = Feed::new(path);
    feed.poll().unwrap();
    (dir, Arc::new(Mutex::new(feed)))
}

/// F3: `palisade.dev/approve: "1"` written while generation 1 was still
/// Auditing (an approval ahead of time) later enforces it after it became
/// Blocked: the would-drop verdict came after the approval, yet the next
/// reconcile reads the standing annotation as an explicit approval despite drops.
#[tokio::test]
async fn f3_an_approval_written_before_the_block_enforces_a_blocked_generation() {
    let auditing = json!({"phase": "Auditing", "since": iso(NOW - 7200), "observedGeneration": 1, "conditions": [],
                          "windowStart": iso(NOW - 7200), "allServicesSeen": false});
    let fake = Fake::new(
        vec![intents_value(
            "shop",
            "shop",
            json!({"palisade.dev/approve": "1"}),
            auditing,
        )],
        vec![project("default", json!(["cilium"]))],
    );
    // frontend -> backend tcp/9090 is observed and not allowed: enforcing drops it
    let lines: Vec<String> = (0..60)
        .map(|m| hubble(&iso(NOW - 3600 + m * 60), "shop", "frontend", "backend", 9090))
        .collect();
    let (_dir, feed) = feed_of(&lines);
    run_with(&fake, "shop", NOW, Some(feed.clone())).await.unwrap();
    assert_eq!(last_status(&fake, "shop")["phase"], "Blocked");
    run_with(&fake, "shop", NOW + 60, Some(feed)).await.unwrap();
    let status = last_status(&fake, "shop");
    assert_ne!(
        status["phase"], "Enforcing",
        "an approval that predates the would-drop verdict enforced a Blocked generation: {status}"
    );
}

/// One namespace, frontend -> backend, compiled and rendered for Cilium
fn shop_on_cilium() -> (palisade_compiler::ir::Ir, Vec<palisade_targets::Manifest>) {
    let project =
        b"apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec: { targets: [cilium] }\n";
    let intents = b"apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services:\n    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend } }\n  allow: [frontend -> backend tcp/8080]\n";
    let repository = palisade_intents::load_files(vec![
        palisade_intents::RawFile {
            path: "palisade.yaml".into(),
            bytes: project.to_vec(),
        },
        palisade_intents::RawFile {
            path: "shop.yaml".into(),
            bytes: intents.to_vec(),
        },
    ])
    .unwrap();
    let (ir, _) = palisade_compiler::compile(&repository).unwrap();
    let cilium = palisade_targets::dialect("cilium").unwrap();
    let (manifests, _) = palisade_targets::render(cilium, &ir, &palisade_targets::EmitOptions::ENFORCE).unwrap();
    (ir, manifests)
}

/// F4: one gap in the feed's history (an 11-minute relay outage a day ago)
/// counts in every later report: the window restarts on every reconcile and
/// the namespace can never become Ready until the controller restarts.
#[test]
fn f4_a_gap_long_before_the_window_blocks_promotion_forever() {
    let (ir, manifests) = shop_on_cilium();
    let cilium = palisade_targets::dialect("cilium").unwrap();
    let enforce: Vec<(&dyn palisade_targets::Dialect, &[palisade_targets::Manifest])> =
        vec![(cilium, manifests.as_slice())];
    let start = NOW - 3 * 86400;
    // a flow every minute for 3 days, except 11 minutes 2 days ago
    let lines: Vec<String> = (0..3 * 1440)
        .filter(|m| !(1440..1451).contains(m))
        .map(|m| hubble(&iso(start + m * 60), "shop", "frontend", "backend", 8080))
        .collect();
    let (_dir, feed) = feed_of(&lines);
    let feed = feed.try_lock().unwrap();
    // The window the controller restarted after that gap began a day ago.
    let requirements = palisade_evidence::Requirements::default()
        .with_max_gap(600, "maxGapSeconds")
        .since((NOW - 86400) * 1000);
    let report = feed.report("shop", &ir, &enforce, NOW * 1000, feed.lost, &requirements);
    assert!(
        !report.missing_evidence.iter().any(|m| m.contains("gap")),
        "{:?}",
        report.missing_evidence
    );
    assert!(
        report.longest_gap_seconds <= 600,
        "a gap 2 days ago is reported now: {} s; missing: {:?}",
        report.longest_gap_seconds,
        report.missing_evidence
    );
}

/// F5: one flow stamped in the year 2100 (a node with a bad clock), in
/// ANOTHER namespace, makes every namespace's report show a gap of decades.
#[test]
fn f5_one_future_flow_of_another_namespace_poisons_every_report() {
    let (ir, manifests) = shop_on_cilium();
    let cilium = palisade_targets::dialect("cilium").unwrap();
    let enforce: Vec<(&dyn palisade_targets::Dialect, &[palisade_targets::Manifest])> =
        vec![(cilium, manifests.as_slice())];
    let mut lines: Vec<String> = (0..120)
        .map(|m| hubble(&iso(NOW - 7200 + m * 60), "shop", "frontend", "backend", 8080))
        .collect();
    lines.push(hubble("2100-01-01T00:00:00Z", "other", "x", "y", 80));
    let (_dir, feed) = feed_of(&lines);
    let feed = feed.try_lock().unwrap();
    let report = feed.report(
        "shop",
        &ir,
        &enforce,
        NOW * 1000,
        feed.lost,
        &palisade_evidence::Requirements::default().with_max_gap(600, "maxGapSeconds"),
    );
    assert!(
        report.longest_gap_seconds <= 600,
        "shop's report: gap {} s (last record {:?})",
        report.longest_gap_seconds,
        feed.last_record_ms
    );
}
