//! The Istio trap: an egress gateway that pods can go around. Routing through
//! the gateway is only a control when the pods' direct egress is closed by a
//! layer below the mesh (NetworkPolicy, Cilium or Calico).

use crate::{
    lint::{Finding, GATEWAY_BYPASS},
    Manifest,
};
use palisade_compiler::model::ClusterModel;
use std::collections::BTreeSet;

pub(super) fn lint(manifests: &[Manifest], _cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let gateways: Vec<(usize, &Manifest)> = manifests
        .iter()
        .enumerate()
        .filter(|(_, m)| m.api_version().starts_with("networking.istio.io/") && m.kind() == "Gateway")
        .filter(|(_, m)| {
            m.object["spec"]["selector"].as_object().is_some_and(|s| {
                s.values()
                    .any(|v| v.as_str().is_some_and(|v| v.contains("egressgateway")))
            })
        })
        .collect();
    if gateways.is_empty() {
        return Vec::new();
    }
    // The namespaces whose traffic is routed to the gateway: those of the
    // ServiceEntries and VirtualServices outside the gateway's own namespace.
    let gateway_namespaces: BTreeSet<&str> = gateways.iter().map(|(_, m)| m.namespace()).collect();
    let routed: BTreeSet<&str> = manifests
        .iter()
        .filter(|m| m.api_version().starts_with("networking.istio.io/"))
        .filter(|m| matches!(m.kind(), "ServiceEntry" | "VirtualService"))
        .map(Manifest::namespace)
        .filter(|ns| !ns.is_empty() && !gateway_namespaces.contains(ns))
        .collect();
    let isolates_egress = |ns: &str| {
        manifests.iter().any(|m| {
            m.namespace() == ns
                && match (m.api_version(), m.kind()) {
                    ("networking.k8s.io/v1", "NetworkPolicy") => {
                        m.object["spec"]["policyTypes"]
                            .as_array()
                            .is_some_and(|t| t.iter().any(|t| t == "Egress"))
                            || m.object["spec"].get("egress").is_some()
                    }
                    ("cilium.io/v2", "CiliumNetworkPolicy") => m.object["spec"].get("egress").is_some(),
                    ("projectcalico.org/v3", "NetworkPolicy") => m.object["spec"]["types"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t == "Egress")),
                    _ => false,
                }
        })
    };
    let open: Vec<&str> = routed.iter().copied().filter(|ns| !isolates_egress(ns)).collect();
    if open.is_empty() && !routed.is_empty() {
        return Vec::new();
    }
    let namespaces = if routed.is_empty() {
        "the namespaces that use it".to_string()
    } else {
        open.join(", ")
    };
    gateways
        .into_iter()
        .map(|(index, _)| {
            Finding::new(
                &GATEWAY_BYPASS,
                index,
                "/spec/selector",
                format!("pods of {namespaces} can reach the destinations directly: no policy closes their egress, so the gateway is a route, not a control"),
                "add a default-deny egress NetworkPolicy there that allows only DNS and the egress gateway (palisade: `{ fqdn: ..., via: egress-gateway }` emits it)",
            )
        })
        .collect()
}
