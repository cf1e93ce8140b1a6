//! The permissions the code needs, from what it does: server-side apply
//! (patch; create when the object is new), and list and delete for pruning,
//! of the kinds the dialects emit. `deploy/clusterrole.yaml` must be exactly
//! this (a test compares them), so the role never grants more than the code
//! calls; watching Intents, writing their status, Events and Leases come
//! with the controller loop that calls them.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use std::collections::BTreeSet;

/// The API group and plural of each kind the dialects emit
pub const EMITTED: &[(&str, &str, &str)] = &[
    ("networking.k8s.io", "NetworkPolicy", "networkpolicies"),
    ("cilium.io", "CiliumNetworkPolicy", "ciliumnetworkpolicies"),
    ("projectcalico.org", "NetworkPolicy", "networkpolicies"),
    ("projectcalico.org", "StagedNetworkPolicy", "stagednetworkpolicies"),
    ("projectcalico.org", "NetworkSet", "networksets"),
    ("networking.istio.io", "ServiceEntry", "serviceentries"),
    ("networking.istio.io", "Gateway", "gateways"),
    ("networking.istio.io", "VirtualService", "virtualservices"),
    ("networking.istio.io", "DestinationRule", "destinationrules"),
    ("networking.istio.io", "Sidecar", "sidecars"),
    ("security.istio.io", "AuthorizationPolicy", "authorizationpolicies"),
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
    let groups: BTreeSet<&str> = EMITTED.iter().map(|(g, _, _)| *g).collect();
    let rules: Vec<PolicyRule> = groups
        .into_iter()
        .map(|group| {
            let resources: BTreeSet<&str> = EMITTED
                .iter()
                .filter(|(g, _, _)| *g == group)
                .map(|(_, _, r)| *r)
                .collect();
            let resources: Vec<&str> = resources.into_iter().collect();
            // apply = patch (create for new objects); prune = list + delete
            rule(group, &resources, &["create", "delete", "list", "patch"])
        })
        .collect();
    ClusterRole {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("palisade-controller".into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..ClusterRole::default()
    }
}
