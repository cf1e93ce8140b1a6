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
    assert!(
        text.contains("2 workload pairs would lose traffic that works today"),
        "{text}"
    );
    assert!(
        text.contains("shop/backend -> 203.0.113.50  (2 connections, 2026-11-20T10:31:02Z .. 2026-11-20T10:45:12Z)"),
        "{text}"
    );
    assert!(text.contains("- backend -> 203.0.113.50/32 tcp/5432"), "{text}");
    assert!(text.contains("tcp/8080 POST /admin/reindex: 1 seen"), "{text}");
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
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("nothing observed would be dropped"), "{text}");
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
    assert!(text.contains("| `shop/backend` | `203.0.113.50` | 2 |"), "{text}");
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
        .args(["audit", "examples/zero-trust", "--flows", FLOWS, "--format", "hubbel"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `hubble`"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.log");
    std::fs::write(&junk, "GET / 200\nGET /x 404\n").unwrap();
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows"])
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no record of a known flow format"));
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
    // Audit of the same flows against the proposal: nothing to drop.
    let audit = palisade().arg("audit").arg(&out_dir).args(&args).output().unwrap();
    assert_eq!(
        audit.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&audit.stdout)
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
        .args(["--flows", FLOWS])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&audit.stdout);
    assert_eq!(audit.status.code(), Some(0), "{text}");
    assert!(text.contains("nothing observed would be dropped"));
}
