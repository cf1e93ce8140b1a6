//! The permissions the code needs, from what it does: server-side apply
//! (patch; create when the object is new), and list and delete for pruning,
//! of the kinds the dialects emit; watching Intents and patching their
//! finalizers and status; listing Projects; Events; and, in its own namespace
//! only, the Lease of leader election. `deploy/` must be exactly this (a test
//! compares them), so the roles never grant more than the code calls.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use std::collections::BTreeSet;

/// The API group, version, kind and plural of each kind the dialects emit
pub const EMITTED: &[(&str, &str, &str, &str)] = &[
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    ("cilium.io", "v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies"),
    ("projectcalico.org", "v3", "NetworkPolicy", "networkpolicies"),
    (
        "projectcalico.org",
        "v3",
        "StagedNetworkPolicy",
        "stagednetworkpolicies",
    ),
    ("projectcalico.org", "v3", "NetworkSet", "networksets"),
    ("networking.istio.io", "v1", "ServiceEntry", "serviceentries"),
    ("networking.istio.io", "v1", "Gateway", "gateways"),
    ("networking.istio.io", "v1", "VirtualService", "virtualservices"),
    ("networking.istio.io", "v1", "DestinationRule", "destinationrules"),
    ("networking.istio.io", "v1", "Sidecar", "sidecars"),
    (
        "security.istio.io",
        "v1",
        "AuthorizationPolicy",
        "authorizationpolicies",
    ),
];

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// The controller's ClusterRole
pub fn cluster_role() -> ClusterRole {
    let groups: BTreeSet<&str> = EMITTED.iter().map(|(g, _, _, _)| *g).collect();
    let mut rules: Vec<PolicyRule> = groups
        .into_iter()
        .map(|group| {
            let resources: BTreeSet<&str> = EMITTED
                .iter()
                .filter(|(g, _, _, _)| *g == group)
                .map(|(_, _, _, r)| *r)
                .collect();
            let resources: Vec<&str> = resources.into_iter().collect();
            // apply = patch (create for new objects); prune = list + delete
            rule(group, &resources, &["create", "delete", "list", "patch"])
        })
        .collect();
    // The reconciler: watch Intents and patch their finalizers and status;
    // list Projects; record Events.
    rules.push(rule("palisade.dev", &["intents"], &["get", "list", "patch", "watch"]));
    rules.push(rule("palisade.dev", &["intents/status"], &["patch"]));
    rules.push(rule("palisade.dev", &["projects"], &["list"]));
    rules.push(rule("events.k8s.io", &["events"], &["create", "patch"]));
    ClusterRole {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("palisade-controller".into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..ClusterRole::default()
    }
}

/// The Role for leader election, in the controller's namespace
pub fn lease_role(namespace: &str) -> k8s_openapi::api::rbac::v1::Role {
    k8s_openapi::api::rbac::v1::Role {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("palisade-controller-lease".into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        rules: Some(vec![rule(
            "coordination.k8s.io",
            &["leases"],
            &["create", "get", "update"],
        )]),
    }
}
