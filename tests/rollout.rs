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
    // One prune per owner: the namespace's objects and the gateway's
    assert_eq!(prunes.len(), 2, "{prunes:?}");
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
