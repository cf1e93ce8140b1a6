//! `audit` and `discover` end to end: the zero-trust example's recorded
//! traffic, the shared Hubble samples, stdin, and what a user does with the
//! output (paste the suggested lines, audit again).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};

#[path = "gate_support/mod.rs"]
mod gate_support;
use gate_support::{shop, traffic, traffic_between};

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

const FLOWS: &str = "examples/zero-trust/flows/hubble.jsonl";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn hubble_samples() -> Option<PathBuf> {
    let dir = PathBuf::from("../shared/samples/flows/hubble");
    if dir.exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true but ../shared/samples is missing"
    );
    eprintln!("\n!!! SKIPPED: ../shared/samples/flows/hubble not found !!!\n");
    None
}

#[test]
fn audit_lists_what_enforcement_would_drop_and_exits_3() {
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows", FLOWS])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    // The summary comes first: the verdict, the counts, the worst pairs.
    let summary: Vec<&str> = text.lines().take(7).collect();
    assert_eq!(
        summary,
        [
            "palisade audit: the gate holds: enforcing would drop 3 flows allowed today, and the evidence is not enough to judge by",
            "  observed:       63 flows between 5 workload pairs, judged against the enforce manifests of cilium, istio",
            "  would drop:     3 flows of 2 pairs, allowed today",
            "  dropped today:  none",
            "  top offenders:  2 flows  shop/backend -> 203.0.113.50   tcp/5432",
            "                  1 flow   shop/frontend -> shop/backend  tcp/8080 POST /admin/reindex",
            "  evidence:       not enough to judge by (3 pieces missing, listed at the end)",
        ],
        "{text}"
    );
    assert!(
        text.contains("shop/backend -> 203.0.113.50  (2 flows, 2026-11-20T10:31:02Z .. 2026-11-20T10:45:12Z)"),
        "{text}"
    );
    assert!(
        text.contains("shop/frontend -> shop/backend  (1 flow, at 2026-11-20T10:17:30Z)"),
        "{text}"
    );
    // What drops it, one rule a line, without the namespace's every intent.
    assert!(
        text.contains("      istio drops it: AuthorizationPolicy shop/backend no ALLOW rule matches (from intents/shop.yaml#frontend-backend-tcp-8080-"),
        "{text}"
    );
    assert!(
        text.contains("      cilium drops it: CiliumNetworkPolicy shop/backend default deny (egress) (from intents/shop.yaml#frontend-backend-tcp-8080-38a0 and 3 more)"),
        "{text}"
    );
    assert!(text.contains("- backend -> 203.0.113.50/32 tcp/5432"), "{text}");
    assert!(text.contains("tcp/8080 POST /admin/reindex: 1 flow\n"), "{text}");
    assert!(
        text.contains(
            "- { from: frontend, to: backend, ports: [tcp/8080], http: [{ method: POST, path: /admin/reindex }] }"
        ),
        "{text}"
    );
    assert!(text.contains("add to intents/shop.yaml (namespace shop)"), "{text}");
    // The allowed traffic (GET /products/*, Stripe, DNS) is not listed.
    assert!(!text.contains("api.stripe.com"), "{text}");
    assert!(!text.contains("GET /products"), "{text}");
    // The evidence's own faults: the truncated last line and the lost records.
    assert!(text.contains("hubble.jsonl:95:"), "{text}");
    assert!(text.contains("reports 3 lost records"), "{text}");
}

#[test]
fn pasting_the_suggested_lines_makes_the_audit_pass() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new("examples/zero-trust"), dir.path());
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows", FLOWS, "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let shop = dir.path().join("intents/shop.yaml");
    let mut text = std::fs::read_to_string(&shop).unwrap();
    for group in groups {
        text.push_str(&format!("    - {}\n", group["intent"].as_str().unwrap()));
    }
    std::fs::write(&shop, text).unwrap();
    let out = palisade()
        .args(["audit"])
        .arg(dir.path())
        .args(["--flows", FLOWS])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Nothing would be dropped, but the recording is 56 minutes long: not
    // enough to judge by, until the project says that is its window.
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("nothing observed would be dropped"), "{text}");
    assert!(
        text.contains("the window of namespace shop, 56m, is shorter than the minimum 24h (the default; set project evidence.minWindow)"),
        "{text}"
    );
    // The recording also lost records and ends in a cut-off line: holes in
    // the evidence hold the gate as well.
    assert!(text.contains("the stream reports 3 lost records"), "{text}");
    assert!(text.contains("1 line could not be read"), "{text}");
    let project = dir.path().join("palisade.yaml");
    let mut text = std::fs::read_to_string(&project).unwrap();
    text.push_str("  evidence: { minWindow: 50m }\n");
    std::fs::write(&project, text).unwrap();
    // The same recording without its holes, and a window the project accepts
    let whole: String = std::fs::read_to_string(FLOWS)
        .unwrap()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok() && !l.contains("lost_events"))
        .map(|l| format!("{l}\n"))
        .collect();
    let flows = dir.path().join("whole.jsonl");
    std::fs::write(&flows, whole).unwrap();
    let out = palisade()
        .args(["audit"])
        .arg(dir.path())
        .arg("--flows")
        .arg(&flows)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("nothing observed would be dropped"), "{text}");
    assert!(text.contains("enough to judge by"), "{text}");
}

#[test]
fn audit_reads_stdin_and_writes_markdown() {
    let flows = std::fs::read(FLOWS).unwrap();
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows", "-", "--output", "markdown"])
        .write_stdin(flows)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("**The gate holds**: enforcing would drop 3 flows allowed today, and the evidence is not enough to judge by."),
        "{text}"
    );
    assert!(
        text.contains("| observed, judged against the enforce manifests of `cilium`, `istio` | 63 | 5 |\n| would drop, allowed today | 3 | 2 |\n| dropped today already | 0 | 0 |"),
        "{text}"
    );
    assert!(
        text.contains("| `shop/backend` | `203.0.113.50` | 2 | `tcp/5432` |"),
        "the top offenders: {text}"
    );
    assert!(text.contains("| `shop/backend` | `203.0.113.50` | 2 |"), "{text}");
    assert!(text.contains("- tcp/8080 `POST /admin/reindex`: 1 flow\n"), "{text}");
    assert!(
        text.contains(
            "- **istio**: `AuthorizationPolicy shop/backend` no ALLOW rule matches, on `tcp/8080 POST /admin/reindex`"
        ),
        "{text}"
    );
    assert!(
        text.contains("```yaml\n    - backend -> 203.0.113.50/32 tcp/5432\n```"),
        "{text}"
    );
    assert!(text.contains("### Evidence warnings"), "{text}");
}

#[test]
fn audit_refuses_unreadable_input_with_exit_1() {
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows", "no/such/file.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `no/such/file.json`"));
    let out = palisade()
        .args([
            "audit",
            "examples/zero-trust",
            "--flows",
            FLOWS,
            "--flow-format",
            "hubbel",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `hubble`"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.log");
    std::fs::write(&junk, "GET / 200\nGET /x 404\n").unwrap();
    // A file that holds no flows is no evidence, which the gate says (exit 3), not bad input.
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows"])
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no record of a known flow format"));
}

#[test]
fn discover_on_the_hubble_samples_proposes_what_a_person_would_start_from() {
    let Some(samples) = hubble_samples() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("proposed");
    let mut args: Vec<PathBuf> = Vec::new();
    for f in [
        "basic-sample-10-flows.json",
        "basic-sample-5-dns-flows.json",
        "policy-verdict-redirected.line1.json",
    ] {
        args.push("--flows".into());
        args.push(samples.join(f));
    }
    let out = palisade()
        .arg("discover")
        .args(&args)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bookinfo = std::fs::read_to_string(out_dir.join("bookinfo.yaml")).unwrap();
    assert!(bookinfo.contains("posture: default-deny"), "{bookinfo}");
    assert!(
        bookinfo.contains("baseline: [dns]"),
        "ratings looked up names: {bookinfo}"
    );
    assert!(
        bookinfo.contains("reviews: { selector: { app: reviews }, serviceAccount: bookinfo-reviews }"),
        "{bookinfo}"
    );
    let istio = std::fs::read_to_string(out_dir.join("istio-system.yaml")).unwrap();
    assert!(
        istio.contains("- prometheus -> bookinfo/reviews tcp/15090  # seen once at 2021-06-16T16:52:13Z"),
        "{istio}"
    );
    assert!(
        istio.contains("- telemetry -> galley tcp/9901"),
        "the reply was not taken for a request: {istio}"
    );
    assert!(
        !out_dir.join("kube-system.yaml").exists(),
        "system namespaces are left out unless asked for"
    );
    palisade().arg("check").arg(&out_dir).assert().success();
    // Audit of the same flows against the proposal: nothing to drop, but
    // samples of a few seconds, months apart, are not evidence to enforce on.
    let audit = palisade()
        .arg("audit")
        .arg(&out_dir)
        .args(&args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(audit.status.code(), Some(3), "{report:#}");
    assert_eq!(report["groups"], serde_json::json!([]), "{report:#}");
    assert!(
        report["evidence"]["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "gap"
                && m["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("no flow of namespace bookinfo for 146d 17h 48m from 2021-06-16T16:52:00Z")),
        "{report:#}"
    );
    // A second run does not overwrite without --force, and changes nothing.
    let before = std::fs::read_to_string(out_dir.join("bookinfo.yaml")).unwrap();
    let again = palisade()
        .arg("discover")
        .args(&args)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(before, std::fs::read_to_string(out_dir.join("bookinfo.yaml")).unwrap());
    // Asked for kube-system, it proposes it, with node-local DNS talking to kube-dns.
    let system = palisade()
        .arg("discover")
        .args(&args)
        .args(["-n", "kube-system"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&system.stdout);
    assert!(
        text.contains("node-local-dns -> kube-dns tcp/53") || text.contains("baseline: [dns]"),
        "{text}"
    );
    assert!(
        text.contains("event-exporter: { selector: { k8s-app: event-exporter }"),
        "{text}"
    );
    assert!(!text.contains("metadata: { name: bookinfo"), "{text}");
}

#[test]
fn discover_then_audit_round_trips_on_the_example_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade()
        .args(["discover", "--flows", FLOWS, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shop = std::fs::read_to_string(dir.path().join("shop.yaml")).unwrap();
    assert!(
        shop.contains("- backend -> api.stripe.com tcp/443  # seen 15 times"),
        "{shop}"
    );
    assert!(shop.contains("- backend -> 203.0.113.50/32 tcp/5432"), "{shop}");
    assert!(
        shop.contains("- frontend -> backend tcp/8080  # seen 16 times"),
        "{shop}"
    );
    assert!(shop.contains("baseline: [dns]"), "{shop}");
    let audit = palisade()
        .arg("audit")
        .arg(dir.path())
        .args(["--flows", FLOWS, "--output", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    // Nothing would be dropped; what holds the gate is the 56-minute window
    // and the recording's holes (3 lost records, a cut-off last line).
    assert_eq!(audit.status.code(), Some(3), "{report:#}");
    assert_eq!(report["groups"], serde_json::json!([]), "{report:#}");
    let missing: Vec<&str> = report["evidence"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["lost", "unreadable", "short_window"], "{report:#}");
}

// The gate cannot pass without evidence: each missing piece is named, and
// `audit` exits 3 on it, as `rollout --stage auto` holds on it.

/// `audit DIR --flows FILE` (with `extra` arguments): exit code and stdout
fn gate(dir: &Path, flows: &str, extra: &[&str]) -> (Option<i32>, String) {
    let file = dir.join("flows.json");
    std::fs::write(&file, flows).unwrap();
    let out = palisade()
        .arg("audit")
        .arg(dir)
        .arg("--flows")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn the_gate_refuses_an_empty_file() {
    let dir = shop("");
    let (code, text) = gate(dir.path(), "", &[]);
    assert_eq!(code, Some(3), "{text}");
    for service in ["frontend", "backend", "payments"] {
        assert!(
            text.contains(&format!("shop/{service} was never seen: no flow from or to it")),
            "{text}"
        );
    }
    assert!(
        text.contains("no flow of namespace shop in the evidence: the window is empty"),
        "{text}"
    );
}

#[test]
fn the_gate_refuses_a_file_of_other_records() {
    let dir = shop("");
    for junk in [
        "GET / 200\nGET /x 404\n",
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n{\"kind\":\"Service\"}\n",
    ] {
        let (code, text) = gate(dir.path(), junk, &[]);
        assert_eq!(code, Some(3), "{text}");
        assert!(text.contains("holds no record of a known flow format"), "{text}");
        assert!(text.contains("no flows read from it"), "{text}");
        assert!(text.contains("shop/payments was never seen"), "{text}");
        assert!(text.contains("the window is empty"), "{text}");
    }
}

#[test]
fn the_gate_refuses_flows_of_another_namespace() {
    let dir = shop("  evidence: { minWindow: 1h }\n");
    let (code, text) = gate(dir.path(), &traffic("other", 3 * 60, 5, true), &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("shop/frontend was never seen"), "{text}");
    assert!(
        text.contains("no flow of namespace shop in the evidence: the window is empty"),
        "{text}"
    );
}

#[test]
fn the_gate_refuses_a_window_shorter_than_the_minimum() {
    let dir = shop("  evidence: { minWindow: 24h }\n");
    let (code, text) = gate(dir.path(), &traffic("shop", 130, 5, true), &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(
            "the window of namespace shop, 2h 10m, is shorter than the minimum 24h (project evidence.minWindow)"
        ),
        "{text}"
    );
    assert!(!text.contains("was never seen"), "every service was seen: {text}");
    // Without the section, the default minimum is a day and says so.
    let dir = shop("");
    let (code, text) = gate(dir.path(), &traffic("shop", 130, 5, true), &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("the window of namespace shop, 2h 10m, is shorter than the minimum 24h (the default; set project evidence.minWindow)"),
        "{text}"
    );
}

/// A cluster dump with one CronJob in `shop`
fn cron_dump(dir: &Path, schedule: &str) -> PathBuf {
    let path = dir.join("cluster.yaml");
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: List\nitems:\n- apiVersion: batch/v1\n  kind: CronJob\n  metadata: {{ name: report, namespace: shop }}\n  spec:\n    schedule: '{schedule}'\n    jobTemplate: {{ spec: {{ template: {{ spec: {{ containers: [] }} }} }} }}\n"),
    )
    .unwrap();
    path
}

#[test]
fn the_gate_refuses_a_window_that_misses_a_cron_jobs_period() {
    let dir = shop("  evidence: { minWindow: 24h }\n");
    let two_days = traffic("shop", 2 * 1440, 10, true);
    let dump = cron_dump(dir.path(), "0 3 * * 0");
    let (code, text) = gate(dir.path(), &two_days, &["--cluster", dump.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("CronJob shop/report runs every 7d; the window 2d does not cover one period"),
        "{text}"
    );
    assert!(!text.contains("shorter than the minimum"), "{text}");
    // A schedule palisade cannot read is not a pass either.
    let dump = cron_dump(dir.path(), "0 3 * * MON#2");
    let (code, text) = gate(dir.path(), &two_days, &["--cluster", dump.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("CronJob shop/report has a schedule palisade cannot read (`0 3 * * MON#2`"),
        "{text}"
    );
    // A daily job is covered by the same two days.
    let dump = cron_dump(dir.path(), "@daily");
    let (code, text) = gate(dir.path(), &two_days, &["--cluster", dump.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("CronJob shop/report runs at least every 24h"), "{text}");
}

#[test]
fn the_gate_refuses_a_gap_longer_than_max_gap() {
    let dir = shop("  evidence: { minWindow: 1h }\n");
    // an hour, 45 minutes of nothing, then an hour more
    let flows = traffic("shop", 60, 5, true) + &traffic_between("shop", 105, 165, 5, true);
    let (code, text) = gate(dir.path(), &flows, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("no flow of namespace shop for 45m from 2026-11-20T01:00:00Z to 2026-11-20T01:45:00Z: the gap exceeds --max-gap 10m"),
        "{text}"
    );
    // With a longer --max-gap, the same evidence passes.
    let (code, text) = gate(dir.path(), &flows, &["--max-gap", "60"]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn the_gate_passes_on_a_long_enough_window_with_every_service_seen_or_waived() {
    let dir = shop("  evidence:\n    minWindow: 24h\n    waive:\n      - { service: shop/payments, reason: called only at month end }\n");
    let day = traffic("shop", 25 * 60, 10, false);
    let (code, text) = gate(dir.path(), &day, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("nothing observed would be dropped"), "{text}");
    assert!(text.contains("enough to judge by"), "{text}");
    assert!(
        text.contains("waived by the project: shop/payments (called only at month end)"),
        "{text}"
    );
    let (code, json) = gate(dir.path(), &day, &["--output", "json"]);
    assert_eq!(code, Some(0), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["passes"], true);
    assert_eq!(report["evidence"]["passes"], true);
    assert_eq!(report["evidence"]["window"]["seconds"], 25 * 3600);
    assert_eq!(report["evidence"]["waived"][0]["service"], "shop/payments");
    assert_eq!(
        report["evidence"]["seen"],
        serde_json::json!(["shop/backend", "shop/frontend"])
    );
    let (code, markdown) = gate(dir.path(), &day, &["--output", "markdown"]);
    assert_eq!(code, Some(0), "{markdown}");
    assert!(
        markdown.contains("### Evidence\n\nEnough to judge by: window 25h"),
        "{markdown}"
    );
    assert!(markdown.contains(", 2 services seen."), "{markdown}");
    assert!(
        markdown.contains("- `shop/payments`: called only at month end"),
        "{markdown}"
    );
    // Without the waiver, the unseen service holds the gate.
    let dir = shop("  evidence: { minWindow: 24h }\n");
    let (code, json) = gate(dir.path(), &day, &["--output", "json"]);
    assert_eq!(code, Some(3), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["passes"], false);
    assert_eq!(report["groups"], serde_json::json!([]), "nothing would be dropped");
    assert_eq!(
        report["evidence"]["missing"],
        serde_json::json!([{"kind": "unseen", "service": "shop/payments", "message": "shop/payments was never seen: no flow from or to it"}])
    );
}

/// Another namespace's traffic says nothing of this one's: it cannot fill a
/// gap in it, nor lend it its window
#[test]
fn another_namespace_cannot_fill_a_gap_or_lend_its_window() {
    let dir = shop("  evidence: { minWindow: 24h }\n");
    let mut flows = traffic_between("shop", 0, 10, 5, true);
    flows.push_str(&traffic_between("other", 0, 25 * 60, 4, true));
    flows.push_str(&traffic_between("shop", 25 * 60, 25 * 60 + 10, 5, true));
    let (code, text) = gate(dir.path(), &flows, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("no flow of namespace shop for 24h 50m"), "{text}");
    // A second namespace of the intents is judged by its own records too.
    std::fs::write(
        dir.path().join("other.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: other, namespace: other }\nspec:\n  services:\n    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend } }\n    payments: { selector: { app: payments } }\n  allow:\n    - frontend -> backend tcp/8080\n    - backend -> payments tcp/9000\n",
    )
    .unwrap();
    let mut flows = traffic("shop", 26 * 60, 5, true);
    flows.push_str(&traffic_between("other", 0, 30, 5, true));
    let (code, text) = gate(dir.path(), &flows, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("the window of namespace other, 30m, is shorter than the minimum 24h"),
        "{text}"
    );
}

/// Lost records and unreadable lines are holes in the evidence: the flow
/// enforcement would drop may be among them
#[test]
fn lost_records_and_unreadable_lines_hold_the_gate() {
    let dir = shop("  evidence: { minWindow: 24h }\n");
    let good = traffic("shop", 25 * 60, 5, true);
    let (code, text) = gate(dir.path(), &good, &[]);
    assert_eq!(code, Some(0), "{text}");
    let lost = format!("{good}{{\"lost_events\":{{\"source\":\"HUBBLE_RING_BUFFER\",\"num_events_lost\":1000000}}}}\n");
    let (code, text) = gate(dir.path(), &lost, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("the stream reports 1000000 lost records"), "{text}");
    let cut = format!("{good}{{\"flow\":{{\"time\":\"2026-11-20T01:00:00Z\",\"verdict\":\"FORW\n");
    let (code, text) = gate(dir.path(), &cut, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("1 line could not be read (the first at "), "{text}");
}

/// [`gate_support::hubble`] as the layer dropped it
fn dropped(minute: u32, from: &str, to: &str, port: u16) -> String {
    gate_support::hubble(minute, "shop", from, to, port).replace("\"FORWARDED\"", "\"DROPPED\"") + "\n"
}

/// An hour of allowed traffic, and frontend -> payments, which the layer
/// drops today, twice
fn with_dropped_today() -> String {
    traffic("shop", 60, 5, true)
        + &dropped(10, "frontend", "payments", 9000)
        + &dropped(20, "frontend", "payments", 9000)
}

#[test]
fn what_is_dropped_today_is_counted_but_not_suggested_unless_asked() {
    let dir = shop("  evidence: { minWindow: 1h }\n");
    let (code, text) = gate(dir.path(), &with_dropped_today(), &[]);
    // Dropped today and by the intents: enforcing breaks nothing.
    assert_eq!(code, Some(0), "{text}");
    let summary: Vec<&str> = text.lines().take(6).collect();
    assert_eq!(
        summary,
        [
            "palisade audit: the gate passes: enforcing would drop nothing allowed today (2 flows dropped today already), and the evidence is enough to judge by",
            "  observed:       28 flows between 3 workload pairs, judged against the enforce manifests of cilium",
            "  would drop:     none",
            "  dropped today:  2 flows of 1 pair (enforcing keeps dropping them; no line suggested)",
            "  evidence:       enough to judge by",
            "",
        ],
        "{text}"
    );
    assert!(
        text.contains("all of it dropped today already (1 pair; no line suggested, --suggest-dropped asks for one):"),
        "{text}"
    );
    assert!(text.contains("    tcp/9000: 2 flows, all dropped today\n"), "{text}");
    assert!(!text.contains("to admit it"), "{text}");
    assert!(!text.contains("frontend -> payments"), "{text}");
    let (_, markdown) = gate(dir.path(), &with_dropped_today(), &["--output", "markdown"]);
    assert!(
        markdown.contains("| dropped today already (no line suggested; `--suggest-dropped` asks for one) | 2 | 1 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Dropped today already: no line suggested (`--suggest-dropped` asks for one)."),
        "{markdown}"
    );
    assert!(!markdown.contains("```yaml"), "{markdown}");
    // Asked for, the line comes, and the summary says so.
    let (code, text) = gate(dir.path(), &with_dropped_today(), &["--suggest-dropped"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "  dropped today:  2 flows of 1 pair (enforcing keeps dropping them; lines suggested, as asked)\n"
        ),
        "{text}"
    );
    assert!(text.contains("      - frontend -> payments tcp/9000\n"), "{text}");
}

#[test]
fn a_pair_partly_dropped_today_is_suggested_only_what_works() {
    let dir = shop("  evidence: { minWindow: 1h }\n");
    let flows = with_dropped_today()
        + &dropped(30, "frontend", "backend", 9091)
        + &gate_support::hubble(40, "shop", "frontend", "backend", 9090)
        + "\n";
    let (code, text) = gate(dir.path(), &flows, &[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.starts_with("palisade audit: the gate holds: enforcing would drop 1 flow allowed today\n"),
        "{text}"
    );
    assert!(
        text.contains("  would drop:     1 flow of 1 pair, allowed today\n"),
        "{text}"
    );
    assert!(
        text.contains("  dropped today:  3 flows of 2 pairs (enforcing keeps dropping them; no line suggested)\n"),
        "{text}"
    );
    assert!(
        text.contains("  top offenders:  1 flow  shop/frontend -> shop/backend  tcp/9090\n"),
        "{text}"
    );
    assert!(text.contains("would drop, allowed today (1 pair):"), "{text}");
    assert!(text.contains("    tcp/9091: 1 flow, all dropped today\n"), "{text}");
    assert!(text.contains("      - frontend -> backend tcp/9090\n"), "{text}");
    let (_, text) = gate(dir.path(), &flows, &["--suggest-dropped"]);
    assert!(
        text.contains("      - frontend -> backend tcp/9090,tcp/9091\n"),
        "{text}"
    );
}

#[test]
fn the_json_names_what_drops_each_pair_and_where_its_line_goes() {
    let dir = shop("  evidence: { minWindow: 1h }\n");
    let flows = with_dropped_today() + &gate_support::hubble(40, "shop", "frontend", "backend", 9090) + "\n";
    let (code, json) = gate(dir.path(), &flows, &["--output", "json"]);
    assert_eq!(code, Some(3), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["summary"]["observed"],
        serde_json::json!({"flows": 29, "pairs": 3}),
        "{report:#}"
    );
    assert_eq!(
        report["summary"]["would_drop"],
        serde_json::json!({"flows": 1, "pairs": 1})
    );
    assert_eq!(
        report["summary"]["dropped_today"],
        serde_json::json!({"flows": 2, "pairs": 1})
    );
    assert_eq!(
        report["summary"]["top"],
        serde_json::json!([{"source": "shop/frontend", "destination": "shop/backend", "flows": 1, "ports": ["tcp/9090"]}])
    );
    let pairs = report["would_drop"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "{report:#}");
    let works = &pairs[0];
    assert_eq!(works["destination"], "shop/backend");
    assert_eq!(
        (works["flows"].as_u64(), works["works_today"].as_bool()),
        (Some(1), Some(true))
    );
    let add_to = &works["add_to"];
    assert!(add_to["file"].as_str().unwrap().ends_with("shop.yaml"), "{add_to}");
    assert_eq!(add_to["namespace"], "shop");
    assert_eq!(add_to["rule"], "frontend -> backend tcp/9090");
    let ingress = works["dropped_by"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "backend" && b["kind"] == "CiliumNetworkPolicy")
        .unwrap_or_else(|| panic!("no blocker on the backend: {works:#}"));
    assert_eq!(ingress["target"], "cilium");
    assert_eq!(ingress["namespace"], "shop");
    assert_eq!(ingress["rule"], "default deny (ingress)");
    assert_eq!(ingress["ports"], serde_json::json!(["tcp/9090"]));
    let sources: Vec<&str> = ingress["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        sources
            .iter()
            .any(|s| s.ends_with("shop.yaml#frontend-backend-tcp-8080-38a0")),
        "{sources:?}"
    );
    // Dropped today: counted, its blockers named, no line without --suggest-dropped.
    let today = &pairs[1];
    assert_eq!(today["destination"], "shop/payments");
    assert_eq!(
        (today["dropped_today"].as_u64(), today["works_today"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(today["add_to"], serde_json::Value::Null, "{today:#}");
    assert!(!today["dropped_by"].as_array().unwrap().is_empty(), "{today:#}");
    // What the map, the report and the controller read is still there.
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups[0]["intent"], "frontend -> backend tcp/9090");
    assert!(groups[0]["add_to"]
        .as_str()
        .unwrap()
        .ends_with("shop.yaml (namespace shop)"));
    assert!(groups[0]["dropped"][0]["dropped_by"]["cilium"].is_array());
    assert_eq!(groups[1].get("intent"), None, "{:#}", groups[1]);
    let (_, json) = gate(dir.path(), &flows, &["--output", "json", "--suggest-dropped"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["would_drop"][1]["add_to"]["rule"],
        "frontend -> payments tcp/9000"
    );
}

#[test]
fn many_pairs_show_the_five_worst_first_and_markdown_folds_the_details() {
    let dir = shop("  evidence: { minWindow: 1h }\n");
    let mut flows = traffic("shop", 60, 5, true);
    for worker in 1..=7u16 {
        for minute in 0..u32::from(worker) {
            flows.push_str(&gate_support::hubble(
                minute,
                "shop",
                "frontend",
                &format!("worker{worker}"),
                7000 + worker,
            ));
            flows.push('\n');
        }
    }
    let (code, text) = gate(dir.path(), &flows, &[]);
    assert_eq!(code, Some(3), "{text}");
    let top: Vec<&str> = text.lines().skip(4).take(6).collect();
    assert_eq!(
        top,
        [
            "  top offenders:  7 flows  shop/frontend -> shop/worker7  tcp/7007",
            "                  6 flows  shop/frontend -> shop/worker6  tcp/7006",
            "                  5 flows  shop/frontend -> shop/worker5  tcp/7005",
            "                  4 flows  shop/frontend -> shop/worker4  tcp/7004",
            "                  3 flows  shop/frontend -> shop/worker3  tcp/7003",
            "                  ... and 2 more pairs",
        ],
        "{text}"
    );
    assert!(
        text.contains("  would drop:     28 flows of 7 pairs, allowed today\n"),
        "{text}"
    );
    let (_, markdown) = gate(dir.path(), &flows, &["--output", "markdown"]);
    assert!(
        markdown.contains("<details><summary>What drops each pair, and the line that admits it</summary>"),
        "{markdown}"
    );
    assert_eq!(
        markdown.matches("| `shop/frontend` | `shop/worker").count(),
        5 + 7,
        "top five, then all seven: {markdown}"
    );
}

#[test]
fn rollout_says_what_audit_opens_with() {
    let audit = palisade()
        .args(["audit", "examples/zero-trust", "--flows", FLOWS])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&audit.stdout);
    let reason = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("palisade audit: the gate holds: "))
        .unwrap_or_else(|| panic!("{text}"));
    let rollout = palisade()
        .args([
            "rollout",
            "examples/zero-trust",
            "--stage",
            "auto",
            "--dry-run",
            "--flows",
            FLOWS,
        ])
        .output()
        .unwrap();
    assert_eq!(rollout.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&rollout.stderr);
    assert!(
        stderr.contains(&format!("the audit gate holds: {reason}; applying audit only\n")),
        "{stderr}"
    );
}
