//! `palisade rollout --dry-run`: the calls a pipeline would make, through the
//! controller's state machine: audit alone; enforce applied before the audit
//! objects are pruned; `auto` held back by observed traffic (exit 3).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;

#[path = "gate_support/mod.rs"]
mod gate_support;
use gate_support::traffic;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

fn lines(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let out = palisade().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn enforce_applies_every_object_then_prunes_the_audit_ones() {
    let (code, calls) = lines(&["rollout", "examples/zero-trust", "--stage", "enforce", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(calls.len() > 5, "{calls:?}");
    let (applies, prunes): (Vec<&String>, Vec<&String>) = calls.iter().partition(|l| l.starts_with("apply"));
    assert!(
        applies
            .iter()
            // The egress gateway's objects live beside the gateway, owned by palisade's own pseudo-intents there
            .all(|l| (l.contains("[shop.shop, enforce]")
                || l.contains(" istio-system/") && l.contains("[istio-system.palisade, enforce]"))
                && l.contains("field manager palisade")),
        "{applies:?}"
    );
    // Per owner (the namespace's objects and the gateway's): its audit objects,
    // then what an earlier generation enforced and this one no longer renders
    assert_eq!(prunes.len(), 4, "{prunes:?}");
    for owner in ["shop.shop", "istio-system.palisade"] {
        let audit = prunes
            .iter()
            .position(|p| p.contains(&format!("labelled {owner}/audit")));
        let enforce = prunes
            .iter()
            .position(|p| p.contains(&format!("labelled {owner}/enforce")));
        assert!(
            matches!((audit, enforce), (Some(a), Some(e)) if a < e),
            "{owner}: {prunes:?}"
        );
    }
    assert!(
        prunes.iter().all(|p| !p.contains("NetworkPolicy, NetworkPolicy")),
        "kinds of two API groups are told apart: {prunes:?}"
    );
    assert!(
        prunes
            .iter()
            .any(|p| p.starts_with("prune  CiliumNetworkPolicy") && p.contains("labelled shop.shop/audit in shop")),
        "{prunes:?}"
    );
    // Per owner, its audit objects go only after its enforce objects are applied
    for owner in ["shop.shop", "istio-system.palisade"] {
        let prune = calls
            .iter()
            .position(|l| l.starts_with("prune") && l.contains(&format!("labelled {owner}/audit")))
            .unwrap();
        let last_apply = calls
            .iter()
            .rposition(|l| l.starts_with("apply") && l.contains(&format!("[{owner}, enforce]")))
            .unwrap();
        assert!(
            last_apply < prune,
            "{owner}: the audit objects go only after enforcement is applied: {calls:?}"
        );
    }
}

#[test]
fn audit_applies_the_audit_objects_and_removes_nothing() {
    let (code, calls) = lines(&["rollout", "examples/multi-namespace", "--stage", "audit", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(
        calls.iter().all(|l| l.starts_with("apply") && l.contains(", audit]")),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|l| l.contains("StagedNetworkPolicy")),
        "Calico audits with staged policies"
    );
}

#[test]
fn auto_holds_at_audit_when_observed_traffic_would_be_dropped() {
    let out = palisade()
        .args([
            "rollout",
            "examples/zero-trust",
            "--stage",
            "auto",
            "--dry-run",
            "--flows",
            "examples/zero-trust/flows/hubble.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().all(|l| l.contains(", audit]")), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("add `backend -> 203.0.113.50/32 tcp/5432`"), "{stderr}");
    palisade()
        .args(["rollout", "examples/zero-trust", "--stage", "auto", "--dry-run"])
        .assert()
        .code(1);
}

/// [`gate_support::shop`] with Hubble records every 10 minutes over
/// `minutes` from frontend to backend (and backend to payments when
/// `payments`) in DIR/flows.json
fn shop(evidence: &str, minutes: u32, payments: bool) -> tempfile::TempDir {
    let dir = gate_support::shop(evidence);
    std::fs::write(dir.path().join("flows.json"), traffic("shop", minutes, 10, payments)).unwrap();
    dir
}

/// `rollout DIR --stage auto --dry-run --flows DIR/flows.json` plus `extra`
fn auto(dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let out = palisade()
        .args(["rollout", "--stage", "auto", "--dry-run", "--flows"])
        .arg(dir.join("flows.json"))
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn no_enforce(calls: &[String]) -> bool {
    !calls.is_empty() && calls.iter().all(|l| l.contains(", audit]") && !l.starts_with("prune"))
}

#[test]
fn auto_does_not_enforce_on_evidence_that_is_not_enough() {
    // an empty file: nothing seen, an empty window
    let dir = shop("", 0, true);
    std::fs::write(dir.path().join("flows.json"), "").unwrap();
    let (code, calls, stderr) = auto(dir.path(), &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(
        stderr.contains("shop/frontend was never seen: no flow from or to it"),
        "{stderr}"
    );
    assert!(stderr.contains("the window is empty"), "{stderr}");
    // a file of other records
    std::fs::write(dir.path().join("flows.json"), "{\"kind\":\"Pod\"}\n").unwrap();
    let (code, calls, stderr) = auto(dir.path(), &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(stderr.contains("holds no record of a known flow format"), "{stderr}");
    // flows of another namespace only
    let other = shop("", 30 * 60, true);
    let text = std::fs::read_to_string(other.path().join("flows.json"))
        .unwrap()
        .replace("\"namespace\":\"shop\"", "\"namespace\":\"other\"");
    std::fs::write(dir.path().join("flows.json"), text).unwrap();
    let (code, calls, stderr) = auto(dir.path(), &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(stderr.contains("no flow of namespace shop in the evidence"), "{stderr}");
    // a window shorter than the minimum, nothing else wrong
    let dir = shop("  evidence: { minWindow: 24h }\n", 130, true);
    let (code, calls, stderr) = auto(dir.path(), &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(
        stderr.contains(
            "the window of namespace shop, 2h 10m, is shorter than the minimum 24h (project evidence.minWindow)"
        ),
        "{stderr}"
    );
    // a CronJob the window does not cover
    let dir = shop("  evidence: { minWindow: 24h }\n", 2 * 1440, true);
    let dump = dir.path().join("cluster.yaml");
    std::fs::write(
        &dump,
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: { name: report, namespace: shop }\nspec: { schedule: '0 3 * * 0' }\n",
    )
    .unwrap();
    let (code, calls, stderr) = auto(dir.path(), &["--cluster", dump.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(
        stderr.contains("CronJob shop/report runs every 7d; the window 2d does not cover one period"),
        "{stderr}"
    );
    // a gap over --max-gap (records every 10 minutes; a limit of 5)
    let (code, calls, stderr) = auto(dir.path(), &["--max-gap", "5"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(stderr.contains("exceeds --max-gap 5m"), "{stderr}");
}

#[test]
fn auto_enforces_when_the_evidence_is_enough_and_says_what_it_waived() {
    let dir = shop(
        "  evidence:\n    minWindow: 24h\n    waive: [{ service: shop/payments, reason: called only at month end }]\n",
        25 * 60,
        false,
    );
    let (code, calls, stderr) = auto(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(calls.iter().any(|l| l.contains(", enforce]")), "{calls:?}");
    assert!(stderr.contains("the audit gate passes"), "{stderr}");
    assert!(
        stderr.contains("waived by the project: shop/payments (called only at month end)"),
        "{stderr}"
    );
    // The same flows, no waiver: payments was never seen.
    let dir = shop("  evidence: { minWindow: 24h }\n", 25 * 60, false);
    let (code, calls, stderr) = auto(dir.path(), &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(no_enforce(&calls), "{calls:?}");
    assert!(stderr.contains("shop/payments was never seen"), "{stderr}");
}
