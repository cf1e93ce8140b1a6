//! `discover` over a week (issue 18): each proposed line says how often and
//! on how many of the window's days it was seen, services the cluster dump
//! knows but no flow shows are listed, and a namespace seen for half an hour
//! is flagged and not put on default deny; the same from flow files and from
//! a flow store's window.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

#[path = "gate_support/mod.rs"]
mod gate_support;
use gate_support::hubble;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

const DAY: u32 = 1440;

/// 2026-11-20 to 2026-11-26: shop's web calls api every hour of the week,
/// calls reports only on day 6 (2026-11-25, twice); namespace labs is seen
/// for 30 minutes on day 3
fn week() -> String {
    let mut lines = Vec::new();
    for minute in (0..7 * DAY).step_by(60) {
        lines.push(hubble(minute, "shop", "web", "api", 8080));
    }
    // The last minute of the week, so that the window is the whole week
    lines.push(hubble(7 * DAY - 1, "shop", "web", "api", 8080));
    lines.push(hubble(5 * DAY + 600, "shop", "web", "reports", 9000));
    lines.push(hubble(5 * DAY + 690, "shop", "web", "reports", 9000));
    for minute in (2 * DAY + 600..=2 * DAY + 630).step_by(10) {
        lines.push(hubble(minute, "labs", "trial", "model", 8000));
    }
    lines.join("\n") + "\n"
}

/// The dump knows shop's batch, which never ran in the week, and billing,
/// of which nothing was seen
const CLUSTER: &str = "apiVersion: v1
kind: List
items:
- { apiVersion: v1, kind: Namespace, metadata: { name: shop } }
- { apiVersion: v1, kind: Namespace, metadata: { name: labs } }
- { apiVersion: v1, kind: Pod, metadata: { name: web-1, namespace: shop, labels: { app: web } }, spec: { containers: [ { name: main } ] }, status: { podIP: 10.244.0.1 } }
- { apiVersion: v1, kind: Pod, metadata: { name: api-1, namespace: shop, labels: { app: api } }, spec: { containers: [ { name: main } ] }, status: { podIP: 10.244.0.2 } }
- { apiVersion: v1, kind: Pod, metadata: { name: batch-1, namespace: shop, labels: { app: batch } }, spec: { containers: [ { name: main } ] }, status: { podIP: 10.244.0.3 } }
- { apiVersion: v1, kind: Namespace, metadata: { name: billing } }
- { apiVersion: v1, kind: Pod, metadata: { name: invoicer-1, namespace: billing, labels: { app: invoicer } }, spec: { containers: [ { name: main } ] }, status: { podIP: 10.244.0.4 } }
";

struct Run {
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, source: &[&str], extra: &[&str]) -> Run {
    let out = palisade()
        .arg("discover")
        .args(source)
        .arg("--cluster")
        .arg(dir.join("cluster.yaml"))
        .args(extra)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stderr}\n{stdout}");
    Run { stdout, stderr }
}

fn setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("week.jsonl");
    std::fs::write(&flows, week()).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    (dir, flows.display().to_string())
}

/// What a user checks in the written files and the summary
fn assert_honest(dir: &Path, source: &[&str]) -> String {
    let out = dir.join(format!("proposed-{}", source.len()));
    let outs = out.display().to_string();
    let written = run(dir, source, &["--out", &outs]);
    let shop = std::fs::read_to_string(out.join("shop.yaml")).unwrap();
    assert!(shop.contains("posture: default-deny"), "{shop}");
    assert!(
        shop.contains(
            "- web -> reports tcp/9000  # seen 2 times on 1 of 7 days, first 2026-11-25T10:00:00Z, last 2026-11-25T11:30:00Z"
        ),
        "the rare conversation is proposed, and said to be rare: {shop}"
    );
    assert!(
        shop.contains("- web -> api tcp/8080  # seen 169 times on 7 of 7 days, first 2026-11-20T00:00:00Z, last 2026-11-26T23:59:00Z"),
        "{shop}"
    );
    assert!(shop.contains("#   batch: { selector: { app: batch } }"), "{shop}");
    assert!(!shop.contains("    batch:"), "batch is not proposed as seen: {shop}");
    let labs = std::fs::read_to_string(out.join("labs.yaml")).unwrap();
    assert!(labs.contains("  posture: none\n"), "{labs}");
    assert!(!labs.contains("default-deny\n"), "{labs}");
    assert!(
        labs.contains("# Not on default deny: namespace labs was seen for only 30m (2026-11-22T10:00:00Z .. 2026-11-22T10:30:00Z) in the 7d watched"),
        "{labs}"
    );
    let project = std::fs::read_to_string(out.join("palisade.yaml")).unwrap();
    assert!(
        project.contains("# Never seen in that window, in namespaces nothing is proposed for:\n#   billing/invoicer\n"),
        "{project}"
    );
    assert!(!project.contains("shop/batch"), "shop.yaml lists its own: {project}");
    assert!(
        !out.join("billing.yaml").exists(),
        "nothing is proposed for what was never seen"
    );
    assert!(
        written
            .stderr
            .contains("note: 2 services known to the cluster dump are in no flow between 2026-11-20T00:00:00Z and 2026-11-27T00:00:00Z, so the proposal cannot vouch for them (default deny leaves them only what it allows): billing/invoicer, shop/batch"),
        "{}",
        written.stderr
    );
    assert!(
        written
            .stderr
            .contains("note: namespace labs was seen for only 30m (2026-11-22T10:00:00Z .. 2026-11-22T10:30:00Z) in the 7d watched"),
        "{}",
        written.stderr
    );
    assert!(written.stderr.contains("--since 7d"), "{}", written.stderr);
    palisade().arg("check").arg(&out).assert().success();
    // The same input, the same bytes
    let first = run(dir, source, &[]).stdout;
    assert_eq!(first, run(dir, source, &[]).stdout);
    first
}

fn assert_json(dir: &Path, source: &[&str]) {
    let report: Value = serde_json::from_str(&run(dir, source, &["-o", "json"]).stdout).unwrap();
    assert_eq!(report["window"]["days"], 7, "{report:#}");
    let rare = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rule"] == "web -> reports tcp/9000")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(rare["namespace"], "shop");
    assert_eq!(rare["seen"]["connections"], 2);
    assert_eq!(rare["seen"]["days"], 1);
    assert_eq!(rare["seen"]["first"], "2026-11-25T10:00:00Z");
    assert_eq!(
        report["unseen"],
        serde_json::json!([
            { "namespace": "billing", "service": "invoicer", "selector": { "app": "invoicer" }, "known_from": "cluster dump" },
            { "namespace": "shop", "service": "batch", "selector": { "app": "batch" }, "known_from": "cluster dump" },
        ])
    );
    let brief: Vec<&str> = report["brief"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(brief, ["labs"], "{report:#}");
    assert_eq!(report["brief"][0]["seconds"], 1800);
}

#[test]
fn a_week_of_flow_files_proposes_the_rare_line_flags_the_brief_namespace_and_lists_the_unseen() {
    let (dir, flows) = setup();
    assert_honest(dir.path(), &["--flows", &flows]);
    assert_json(dir.path(), &["--flows", &flows]);
}

#[test]
fn a_week_in_the_store_says_the_same_as_the_files() {
    let (dir, flows) = setup();
    let store = format!("sqlite:{}", dir.path().join("flows.db").display());
    palisade()
        .args(["evidence", "ingest", "--flows", &flows, "--store", &store])
        .assert()
        .success();
    let source = ["--store", store.as_str(), "--since", "7d"];
    let from_store = assert_honest(dir.path(), &source);
    assert_json(dir.path(), &source);
    let from_files = run(dir.path(), &["--flows", &flows], &[]).stdout;
    assert_eq!(
        from_store, from_files,
        "a store's window proposes what the files propose"
    );
}

/// Intents already written: their service never seen in the week is listed
/// under its own name, and their project's minimum window decides what is
/// too brief (30 minutes of labs is enough against a 10-minute minimum)
#[test]
fn the_intents_already_written_name_the_unseen_and_set_the_minimum() {
    let (dir, flows) = setup();
    let intents = dir.path().join("intents");
    std::fs::create_dir(&intents).unwrap();
    std::fs::write(
        intents.join("palisade.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: shop }\nspec:\n  targets: [cilium]\n  evidence: { minWindow: 10m }\n",
    )
    .unwrap();
    std::fs::write(
        intents.join("shop.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services:\n    web: { selector: { app: web } }\n    nightly: { selector: { app: batch } }\n    ledger: { selector: { app: ledger } }\n  allow: []\n",
    )
    .unwrap();
    let intents = intents.display().to_string();
    let report: Value =
        serde_json::from_str(&run(dir.path(), &["--flows", &flows], &["--intents", &intents, "-o", "json"]).stdout)
            .unwrap();
    let unseen: Vec<String> = report["unseen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{}/{}",
                u["namespace"].as_str().unwrap(),
                u["service"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        unseen,
        ["billing/invoicer", "shop/ledger", "shop/nightly"],
        "the dump's batch is the intents' nightly: {report:#}"
    );
    assert_eq!(report["brief"], serde_json::json!([]), "{report:#}");
    assert!(
        report["files"]["labs.yaml"]
            .as_str()
            .unwrap()
            .contains("posture: default-deny"),
        "{report:#}"
    );
    // Without the dump, a service only the intents know is listed too
    let out = palisade()
        .args(["discover", "--flows", &flows, "--intents", &intents])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("note: 2 services known to the intents are in no flow between 2026-11-20T00:00:00Z and 2026-11-27T00:00:00Z, so the proposal cannot vouch for them (default deny leaves them only what it allows): shop/ledger, shop/nightly"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// No conversation seen is no proposal: an empty store (or a window with
/// nothing in it) must not put every namespace on default deny
#[test]
fn an_empty_store_proposes_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("empty.db").display());
    drop(palisade_store::Store::open(&store).unwrap());
    let out = palisade()
        .args(["discover", "--store", &store, "--since", "7d", "--out"])
        .arg(dir.path().join("proposed"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("proposed").exists(), "nothing written");
}
