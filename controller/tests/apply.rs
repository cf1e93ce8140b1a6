//! The applier against kube's in-process mock service (tower-test): every
//! request it sends (method, path, field manager, dry-run, body), and what it
//! does with conflicts, 404s and server errors. The request sequence of a
//! promotion (enforce applied, then audit pruned) is a snapshot.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{lines, mock, status};
use palisade_controller::apply::{Applier, Stage};
use palisade_targets::Manifest;
use serde_json::{json, Value};
use std::time::Duration;

fn manifests() -> Vec<Manifest> {
    vec![
        Manifest::new(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "backend", "namespace": "shop"}, "spec": {"podSelector": {}}}),
        ),
        Manifest::new(
            json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "palisade-default-deny", "namespace": "shop"}, "spec": {"endpointSelector": {}}}),
        ),
    ]
}

fn echo(line: &str, _: usize) -> (u16, Value) {
    let kind = if line.contains("networkpolicies/backend") {
        "NetworkPolicy"
    } else {
        "CiliumNetworkPolicy"
    };
    (
        200,
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "shop"}}),
    )
}

#[tokio::test]
async fn apply_is_server_side_with_palisades_field_manager_and_ownership_labels() {
    let (client, seen) = mock(|line, _, n| echo(line, n));
    let applied = Applier::new(client, false)
        .apply("shop.shop", Stage::Enforce, &manifests())
        .await
        .unwrap();
    assert_eq!(applied, 2);
    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "PATCH /apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/backend?&force=true&fieldManager=palisade",
            "PATCH /apis/cilium.io/v2/namespaces/shop/ciliumnetworkpolicies/palisade-default-deny?&force=true&fieldManager=palisade",
        ]
    );
    let labels = &seen[0].1["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "palisade");
    assert_eq!(labels["palisade.dev/intents"], "shop.shop");
    assert_eq!(labels["palisade.dev/stage"], "enforce");
    assert_eq!(
        seen[0].1["spec"],
        json!({"podSelector": {}}),
        "the manifest itself is sent unchanged"
    );
}

#[tokio::test]
async fn dry_run_asks_the_server_to_persist_nothing() {
    let (client, seen) = mock(|line, _, n| echo(line, n));
    Applier::new(client, true)
        .apply("shop.shop", Stage::Audit, &manifests()[..1])
        .await
        .unwrap();
    let line = lines(&seen)[0].clone();
    assert!(line.contains("dryRun=All"), "{line}");
    let (client, seen) = mock(|_, _, _| {
        (
            200,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [{"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "old"}}]}),
        )
    });
    Applier::new(client, true)
        .prune(
            "shop.shop",
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
    // 503, then 409, then success.
    let (client, seen) = mock(|line, _, n| match n {
        0 => (503, status(503, "ServiceUnavailable")),
        1 => (409, status(409, "Conflict")),
        _ => echo(line, n),
    });
    let applier = Applier::new(client, false).with_backoff(Duration::ZERO);
    applier
        .apply("shop.shop", Stage::Enforce, &manifests()[..1])
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
    // A refusal is not retried, and says which object.
    let (client, seen) = mock(|_, _, _| (403, status(403, "Forbidden")));
    let err = Applier::new(client, false)
        .with_backoff(Duration::ZERO)
        .apply("shop.shop", Stage::Enforce, &manifests()[..1])
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(err.to_string().starts_with("apply NetworkPolicy shop/backend"), "{err}");
    // Always failing: three attempts, then the error.
    let (client, seen) = mock(|_, _, _| (500, status(500, "InternalError")));
    assert!(Applier::new(client, false)
        .with_backoff(Duration::ZERO)
        .apply("shop.shop", Stage::Enforce, &manifests()[..1])
        .await
        .is_err());
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn pruning_lists_only_palisades_objects_keeps_the_wanted_and_takes_404_as_gone() {
    let (client, seen) = mock(|line, _, _| {
        if line.starts_with("GET") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [
                {"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "backend"}},
                {"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "stale"}},
                {"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "vanished"}}]}),
            )
        } else if line.contains("vanished") {
            (404, status(404, "NotFound"))
        } else {
            (200, status(200, "Success"))
        }
    });
    let deleted = Applier::new(client, false)
        .prune(
            "shop.shop",
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
async fn a_promotion_applies_enforce_before_pruning_audit() {
    let (client, seen) = mock(|line, _, n| {
        if line.starts_with("GET") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [
                {"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "palisade-audit-only"}}]}),
            )
        } else if line.starts_with("DELETE") {
            (200, status(200, "Success"))
        } else {
            echo(line, n)
        }
    });
    let applier = Applier::new(client, false);
    let enforce = manifests();
    applier.apply("shop.shop", Stage::Enforce, &enforce).await.unwrap();
    let kinds = [
        ("networking.k8s.io/v1".to_string(), "NetworkPolicy".to_string()),
        ("cilium.io/v2".to_string(), "CiliumNetworkPolicy".to_string()),
    ];
    applier
        .prune("shop.shop", Stage::Audit, "shop", &kinds, &enforce)
        .await
        .unwrap();
    let lines: Vec<String> = lines(&seen);
    insta::assert_snapshot!(lines.join("\n"));
}

#[tokio::test]
async fn removal_deletes_the_default_deny_before_the_allow_rules() {
    let (client, seen) = mock(|line, _, _| {
        if line.starts_with("GET") {
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [
                {"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "backend"}},
                {"apiVersion": "v1", "kind": "PartialObjectMetadata", "metadata": {"name": "palisade-default-deny"}}]}),
            )
        } else {
            (200, status(200, "Success"))
        }
    });
    Applier::new(client, false)
        .prune(
            "shop.shop",
            Stage::Enforce,
            "shop",
            &[("cilium.io/v2".into(), "CiliumNetworkPolicy".into())],
            &[],
        )
        .await
        .unwrap();
    let deletes: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, _)| l.starts_with("DELETE"))
        .map(|(l, _)| l.clone())
        .collect();
    assert!(
        deletes[0].contains("/palisade-default-deny?"),
        "isolation goes first, so nothing is cut off: {deletes:?}"
    );
    assert!(deletes[1].contains("/backend?"));
}
