//! The applier against kube's in-process mock service (tower-test): every
//! request it sends (method, path, field manager, force, dry-run, body), how
//! it proves ownership before writing or deleting (field manager and the
//! owner's UID, never labels alone), and what it does with conflicts, 404s
//! and server errors. The request sequence of a promotion (enforce applied,
//! then audit pruned) is a snapshot.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{lines, mock, status};
use palisade_controller::{
    apply::{Applier, ApplyError, Owner, Stage},
    engine,
};
use palisade_targets::Manifest;
use serde_json::{json, Value};
use std::time::Duration;

fn owner() -> Owner {
    Owner::new("shop", "shop", "uid-1")
}

fn manifests() -> Vec<Manifest> {
    vec![
        Manifest::new(
            json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "palisade-default-deny", "namespace": "shop"}, "spec": {"endpointSelector": {}, "enableDefaultDeny": {"ingress": true, "egress": true}}}),
        ),
        Manifest::new(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "backend", "namespace": "shop"}, "spec": {"podSelector": {}, "ingress": [{}]}}),
        ),
    ]
}

/// Metadata of an object palisade applied for `uid` at `stage`
fn ours(name: &str, uid: &str, stage: &str, restricts: bool) -> Value {
    let mut labels = json!({"app.kubernetes.io/managed-by": "palisade", "palisade.dev/intents": "shop.shop", "palisade.dev/stage": stage});
    if restricts {
        labels["palisade.dev/restricts-only"] = json!("true");
    }
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
           "metadata": {"name": name, "namespace": "shop", "labels": labels,
                        "annotations": {"palisade.dev/owner-uid": uid},
                        "managedFields": [{"manager": "palisade", "operation": "Apply"}]}})
}

fn echo(body: &Value) -> (u16, Value) {
    (200, body.clone())
}

#[tokio::test]
async fn apply_reads_first_then_applies_allows_before_denies_with_the_owners_uid() {
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") {
            (404, status(404, "NotFound"))
        } else {
            echo(body)
        }
    });
    let applied = Applier::new(client, false)
        .apply(&owner(), Stage::Enforce, &manifests(), false)
        .await
        .unwrap();
    assert_eq!(applied.applied, 2);
    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies/palisade-default-deny",
            "GET /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/backend",
            // the allow first, then the default deny; new objects are not forced
            "PATCH /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/backend?&fieldManager=palisade",
            "PATCH /apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies/palisade-default-deny?&fieldManager=palisade",
        ]
    );
    let allow = &seen[2].1["metadata"];
    assert_eq!(allow["labels"]["app.kubernetes.io/managed-by"], "palisade");
    assert_eq!(allow["labels"]["palisade.dev/intents"], "shop.shop");
    assert_eq!(allow["labels"]["palisade.dev/stage"], "enforce");
    assert_eq!(allow["annotations"]["palisade.dev/owner-uid"], "uid-1");
    assert!(allow["labels"].get("palisade.dev/restricts-only").is_none());
    assert_eq!(seen[3].1["metadata"]["labels"]["palisade.dev/restricts-only"], "true");
    assert_eq!(
        seen[2].1["spec"],
        json!({"podSelector": {}, "ingress": [{}]}),
        "the manifest itself is sent unchanged"
    );
}

#[tokio::test]
async fn an_object_palisade_applied_for_this_owner_is_applied_again_with_force() {
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") {
            (200, ours("backend", "uid-1", "enforce", false))
        } else {
            echo(body)
        }
    });
    Applier::new(client, false)
        .apply(&owner(), Stage::Enforce, &manifests()[1..], false)
        .await
        .unwrap();
    assert_eq!(
        lines(&seen)[1],
        "PATCH /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/backend?&force=true&fieldManager=palisade"
    );
}

#[tokio::test]
async fn an_object_not_proved_ours_is_a_conflict_and_nothing_is_written() {
    // Labels anyone can set, another owner's UID, or palisade's UID written by hand.
    let hand_made = [
        {
            let mut o = ours("backend", "uid-1", "enforce", false);
            o["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Update"}]);
            o
        },
        ours("backend", "uid-2", "enforce", false),
        {
            let mut o = ours("backend", "uid-1", "enforce", false);
            o["metadata"]["annotations"] = json!({});
            o
        },
    ];
    for existing in hand_made {
        let (client, seen) = mock(move |line, body, _| {
            if line.contains("/backend") && line.starts_with("GET") {
                (200, existing.clone())
            } else if line.starts_with("GET") {
                (404, status(404, "NotFound"))
            } else {
                echo(body)
            }
        });
        let err = Applier::new(client, false)
            .apply(&owner(), Stage::Enforce, &manifests(), false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ApplyError::Conflict { objects } if objects == &["NetworkPolicy shop/backend".to_string()]),
            "{err}"
        );
        assert!(err.to_string().contains("palisade did not create"), "{err}");
        assert!(
            !lines(&seen).iter().any(|l| l.starts_with("PATCH")),
            "{:?}",
            lines(&seen)
        );
    }
}

#[tokio::test]
async fn an_audit_form_is_never_written_over_an_enforced_object_unless_rolling_back() {
    let respond = |line: &str, body: &Value| {
        if line.starts_with("GET") && line.contains("/backend") {
            (200, ours("backend", "uid-1", "enforce", false))
        } else if line.starts_with("GET") {
            (404, status(404, "NotFound"))
        } else {
            echo(body)
        }
    };
    let (client, seen) = mock(move |line, body, _| respond(line, body));
    let applied = Applier::new(client, false)
        .apply(&owner(), Stage::Audit, &manifests(), false)
        .await
        .unwrap();
    assert_eq!(applied.kept_enforced, ["NetworkPolicy shop/backend"]);
    let patches: Vec<String> = lines(&seen).into_iter().filter(|l| l.starts_with("PATCH")).collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].contains("palisade-default-deny"));
    let (client, seen) = mock(move |line, body, _| respond(line, body));
    Applier::new(client, false)
        .apply(&owner(), Stage::Audit, &manifests(), true)
        .await
        .unwrap();
    assert_eq!(lines(&seen).iter().filter(|l| l.starts_with("PATCH")).count(), 2);
}

#[tokio::test]
async fn dry_run_asks_the_server_to_persist_nothing() {
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") {
            (404, status(404, "NotFound"))
        } else {
            echo(body)
        }
    });
    Applier::new(client, true)
        .apply(&owner(), Stage::Audit, &manifests()[1..], false)
        .await
        .unwrap();
    let line = lines(&seen)[1].clone();
    assert!(line.contains("dryRun=All"), "{line}");
    let (client, seen) = mock(|line, _, _| {
        if line.starts_with("GET") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [ours("old", "uid-1", "audit", false)]}),
            )
        } else {
            (200, status(200, "Success"))
        }
    });
    Applier::new(client, true)
        .prune(
            &owner(),
            Stage::Audit,
            "shop",
            &[("networking.k8s.io/v1".into(), "NetworkPolicy".into())],
            &[],
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    // kube sends a delete's dry run in its DeleteOptions body.
    assert!(seen[1].0.starts_with("DELETE"), "{seen:?}");
    assert_eq!(seen[1].1["dryRun"], json!(["All"]), "{seen:?}");
}

#[tokio::test]
async fn server_errors_and_conflicts_are_retried_then_reported() {
    // The read: 503, then 409, then not found; the write succeeds.
    let (client, seen) = mock(|line, body, n| match n {
        0 => (503, status(503, "ServiceUnavailable")),
        1 => (409, status(409, "Conflict")),
        _ if line.starts_with("GET") => (404, status(404, "NotFound")),
        _ => echo(body),
    });
    let applier = Applier::new(client, false).with_backoff(Duration::ZERO);
    applier
        .apply(&owner(), Stage::Enforce, &manifests()[1..], false)
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 4);
    // A refusal is not retried, and says which object.
    let (client, seen) = mock(|line, _, _| {
        if line.starts_with("GET") {
            (404, status(404, "NotFound"))
        } else {
            (403, status(403, "Forbidden"))
        }
    });
    let err = Applier::new(client, false)
        .with_backoff(Duration::ZERO)
        .apply(&owner(), Stage::Enforce, &manifests()[1..], false)
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(err.to_string().starts_with("apply NetworkPolicy shop/backend"), "{err}");
    // Always failing: three attempts, then the error.
    let (client, seen) = mock(|_, _, _| (500, status(500, "InternalError")));
    assert!(Applier::new(client, false)
        .with_backoff(Duration::ZERO)
        .apply(&owner(), Stage::Enforce, &manifests()[1..], false)
        .await
        .is_err());
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn pruning_deletes_only_what_is_proved_ours_keeps_the_wanted_and_takes_404_as_gone() {
    let (client, seen) = mock(|line, _, _| {
        if line.starts_with("GET") {
            let mut labelled_by_hand = ours("hand-made", "uid-1", "audit", false);
            labelled_by_hand["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [
                ours("backend", "uid-1", "audit", false),
                ours("stale", "uid-1", "audit", false),
                ours("vanished", "uid-1", "audit", false),
                ours("other-owner", "uid-2", "audit", false),
                labelled_by_hand]}),
            )
        } else if line.contains("vanished") {
            (404, status(404, "NotFound"))
        } else {
            (200, status(200, "Success"))
        }
    });
    let deleted = Applier::new(client, false)
        .prune(
            &owner(),
            Stage::Audit,
            "shop",
            &[("networking.k8s.io/v1".into(), "NetworkPolicy".into())],
            &manifests(),
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let lines: Vec<String> = lines(&seen);
    assert_eq!(
        lines,
        [
            "GET /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpalisade%2Cpalisade.dev%2Fintents%3Dshop.shop%2Cpalisade.dev%2Fstage%3Daudit",
            "DELETE /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/stale?",
            "DELETE /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/vanished?",
        ]
    );
}

#[tokio::test]
async fn a_kind_the_cluster_does_not_serve_holds_nothing_to_prune() {
    let (client, _) = mock(|_, _, _| (404, status(404, "NotFound")));
    let deleted = Applier::new(client, false)
        .prune(&owner(), Stage::Enforce, "shop", &engine::prune_kinds("shop"), &[])
        .await
        .unwrap();
    assert_eq!(deleted, 0);
}

#[tokio::test]
async fn a_promotion_applies_enforce_before_pruning_audit() {
    let (client, seen) = mock(|line, body, _| {
        if line.starts_with("GET") && line.contains("labelSelector") && line.contains("stage%3Daudit") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [ours("palisade-audit-only", "uid-1", "audit", false)]}),
            )
        } else if line.starts_with("GET") && line.contains("labelSelector") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}),
            )
        } else if line.starts_with("GET") {
            (404, status(404, "NotFound"))
        } else if line.starts_with("DELETE") {
            (200, status(200, "Success"))
        } else {
            echo(body)
        }
    });
    let set = engine::Owned {
        owner: owner(),
        namespace: "shop".into(),
        audit: Vec::new(),
        enforce: manifests(),
    };
    let actions = [
        palisade_controller::rollout::Action::ApplyEnforce(1),
        palisade_controller::rollout::Action::RemoveAudit,
    ];
    let calls = engine::calls(&set, &actions);
    let kinds = vec![
        ("networking.k8s.io/v1".to_string(), "NetworkPolicy".to_string()),
        ("cilium.io/v2".to_string(), "CiliumNetworkPolicy".to_string()),
    ];
    // The two kinds only, to keep the snapshot short.
    let calls: Vec<engine::Call> = calls
        .into_iter()
        .map(|c| match c {
            engine::Call::Prune {
                owner,
                stage,
                namespace,
                keep,
                ..
            } => engine::Call::Prune {
                owner,
                stage,
                namespace,
                kinds: kinds.clone(),
                keep,
            },
            other => other,
        })
        .collect();
    let outcome = engine::run(&Applier::new(client, false), &calls).await.unwrap();
    assert_eq!((outcome.applied, outcome.deleted), (2, 2));
    let lines: Vec<String> = lines(&seen);
    insta::assert_snapshot!(lines.join("\n"));
}

#[tokio::test]
async fn removal_deletes_what_only_restricts_before_the_allow_rules() {
    let (client, seen) = mock(|line, _, _| {
        if line.starts_with("GET") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [
                ours("backend", "uid-1", "enforce", false),
                // judged at apply time, by its rules: its name does not matter
                ours("zz-isolation", "uid-1", "enforce", true)]}),
            )
        } else {
            (200, status(200, "Success"))
        }
    });
    Applier::new(client, false)
        .prune(
            &owner(),
            Stage::Enforce,
            "shop",
            &[("cilium.io/v2".into(), "CiliumNetworkPolicy".into())],
            &[],
        )
        .await
        .unwrap();
    let deletes: Vec<String> = lines(&seen).into_iter().filter(|l| l.starts_with("DELETE")).collect();
    assert!(
        deletes[0].contains("/zz-isolation?"),
        "isolation goes first, so nothing is cut off: {deletes:?}"
    );
    assert!(deletes[1].contains("/backend?"));
}

#[test]
fn the_calls_of_a_new_audit_keep_enforced_objects_and_a_rollback_replaces_them() {
    use palisade_controller::rollout::Action;
    let set = engine::Owned {
        owner: owner(),
        namespace: "shop".into(),
        audit: manifests(),
        enforce: manifests(),
    };
    let audit = engine::calls(&set, &[Action::ApplyAudit(2)]);
    assert!(matches!(
        &audit[..],
        [engine::Call::Apply {
            replace_enforced: false,
            ..
        }]
    ));
    let rollback = engine::calls(&set, &[Action::ApplyAudit(2), Action::RemoveEnforce]);
    assert!(matches!(
        &rollback[..],
        [
            engine::Call::Apply {
                replace_enforced: true,
                ..
            },
            engine::Call::Prune {
                stage: Stage::Enforce,
                ..
            }
        ]
    ));
    // A promotion prunes the audit objects and then the older generation's enforced leftovers.
    let promotion = engine::calls(&set, &[Action::ApplyEnforce(2), Action::RemoveAudit]);
    let stages: Vec<String> = promotion
        .iter()
        .map(|c| match c {
            engine::Call::Apply { stage, .. } => format!("apply {}", stage.as_str()),
            engine::Call::Prune { stage, .. } => format!("prune {}", stage.as_str()),
        })
        .collect();
    assert_eq!(stages, ["apply enforce", "prune audit", "prune enforce"]);
    // What the CLI passes: a plain owner string.
    let owned = engine::owned(manifests(), Vec::new(), |ns| format!("{ns}.pipeline"));
    assert_eq!(owned[0].owner.label, "shop.pipeline");
}
