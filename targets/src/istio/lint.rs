//! The Istio trap: an egress gateway that pods can go around. Routing through
//! the gateway is only a control when the pods' direct egress is closed by a
//! layer below the mesh (NetworkPolicy, Cilium or Calico): Istio's own docs say
//! so ("Egress Gateways", Additional security considerations: "Istio cannot
//! securely enforce that all egress traffic actually flows through the egress
//! gateways"; a pod that skips its sidecar goes straight out). So whether a
//! pod can bypass is decided here by the evaluators of the L3/L4 layers read,
//! on a direct connection to each host the gateway serves, not by whether some
//! policy of the namespace mentions egress.

use crate::{
    import::Context,
    lint::{Finding, GATEWAY_BYPASS},
    Dialect, Manifest,
};
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, External};
use palisade_intents::{syntax::Protocol, types::Labels};
use serde_json::Value;
use std::{collections::BTreeSet, net::IpAddr};

/// Stand for the public addresses a host name resolves to, which a linter
/// cannot know: one of each documentation range (RFC 5737, never routed),
/// far apart. A pod that reaches all three reaches the public internet, or
/// the host by name (Cilium's toFQDNs); one rule for a single range (a
/// partner's /24) is not taken for a way around the gateway.
const SOME_PUBLIC_ADDRESSES: [[u8; 4]; 3] = [[192, 0, 2, 1], [198, 51, 100, 1], [203, 0, 113, 1]];

pub(super) fn lint(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let gateways: Vec<(usize, &Manifest)> = manifests
        .iter()
        .enumerate()
        .filter(|(_, m)| is_egress_gateway(m))
        .collect();
    if gateways.is_empty() {
        return Vec::new();
    }
    let gateway_namespaces: BTreeSet<&str> = gateways.iter().map(|(_, m)| m.namespace()).collect();
    let hosts: BTreeSet<&str> = gateways.iter().flat_map(|(_, m)| served_hosts(m)).collect();
    // The namespaces whose traffic to those hosts is routed to the gateway:
    // those of the ServiceEntries and VirtualServices for them outside the
    // gateway's own namespace.
    let routed: BTreeSet<(&str, &str, u16)> = manifests
        .iter()
        .filter(|m| m.api_version().starts_with("networking.istio.io/"))
        .filter(|m| matches!(m.kind(), "ServiceEntry" | "VirtualService"))
        .filter(|m| !m.namespace().is_empty() && !gateway_namespaces.contains(m.namespace()))
        .flat_map(|m| {
            let port = first_port(m);
            string_list(&m.object["spec"]["hosts"])
                .filter(|h| hosts.contains(h) || hosts.contains("*"))
                .map(move |h| (m.namespace(), h, port))
                .collect::<Vec<_>>()
        })
        .collect();
    let below = Below::new(manifests, cluster);
    let open: BTreeSet<&str> = routed
        .iter()
        .filter(|(namespace, host, port)| below.bypassable(cluster, namespace, host, *port))
        .map(|(namespace, _, _)| *namespace)
        .collect();
    if open.is_empty() && !routed.is_empty() {
        return Vec::new();
    }
    let namespaces = if routed.is_empty() {
        "the namespaces that use it".to_string()
    } else {
        open.into_iter().collect::<Vec<_>>().join(", ")
    };
    gateways
        .into_iter()
        .map(|(index, _)| {
            Finding::new(
                &GATEWAY_BYPASS,
                index,
                "/spec/selector",
                format!("pods of {namespaces} can reach the destinations directly: no policy linted closes their egress, so the gateway is a route, not a control"),
                "add a default-deny egress NetworkPolicy there that allows only DNS and the egress gateway (palisade: `{ fqdn: ..., via: egress-gateway }` emits it)",
            )
        })
        .collect()
}

fn is_egress_gateway(m: &Manifest) -> bool {
    m.api_version().starts_with("networking.istio.io/")
        && m.kind() == "Gateway"
        && m.object["spec"]["selector"].as_object().is_some_and(|s| {
            s.values()
                .any(|v| v.as_str().is_some_and(|v| v.contains("egressgateway")))
        })
}

/// The hosts of a Gateway's servers, without the `namespace/` prefix a
/// server host may carry
fn served_hosts(gateway: &Manifest) -> Vec<&str> {
    gateway.object["spec"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|server| string_list(&server["hosts"]))
        .map(|h| h.rsplit_once('/').map_or(h, |(_, host)| host))
        .collect()
}

fn string_list(value: &Value) -> impl Iterator<Item = &str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// A ServiceEntry's first port; a VirtualService names none: TLS on 443,
/// what egress gateways carry
fn first_port(m: &Manifest) -> u16 {
    m.object["spec"]["ports"]
        .as_array()
        .and_then(|ports| ports.first())
        .and_then(|p| p["number"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(443)
}

/// The L3/L4 layers linted, read once: their evaluators, and the pods each
/// namespace puts in egress isolation
struct Below<'m> {
    evaluators: Vec<Box<dyn crate::Evaluator + 'm>>,
    isolated: Vec<(String, Labels)>,
}

impl<'m> Below<'m> {
    fn new(manifests: &'m [Manifest], cluster: Option<&ClusterModel>) -> Self {
        let layers: Vec<&dyn Dialect> = crate::DIALECTS
            .iter()
            .copied()
            .filter(|d| !d.capabilities().overlay && manifests.iter().any(|m| d.reads(m)))
            .collect();
        let context = Context::new(manifests, cluster);
        let isolated = layers
            .iter()
            .filter_map(|d| d.import(manifests, &context))
            .flat_map(|imported| imported.isolations)
            .filter(|i| i.egress)
            .map(|i| (i.namespace, i.selector))
            .collect();
        Below {
            evaluators: layers.iter().map(|d| d.evaluator(manifests)).collect(),
            isolated,
        }
    }

    /// Whether some pod of `namespace` reaches `host` without the mesh:
    /// every layer lets the direct connection through (no layer: nothing
    /// stops it). The pods tried: one that only namespace-wide policies
    /// select, one per egress isolation of the namespace, and the dump's pods there.
    fn bypassable(&self, cluster: Option<&ClusterModel>, namespace: &str, host: &str, port: u16) -> bool {
        if self.evaluators.is_empty() {
            return true;
        }
        let mut probes: Vec<Labels> = vec![Labels::new()];
        probes.extend(
            self.isolated
                .iter()
                .filter(|(ns, _)| ns == namespace)
                .map(|(_, selector)| selector.clone()),
        );
        let mut model = ClusterModel::default();
        if let Some(c) = cluster {
            model.namespaces = c.namespaces.clone();
            probes.extend(
                c.pods
                    .iter()
                    .filter(|p| p.namespace == namespace)
                    .map(|p| p.labels.clone()),
            );
        }
        for labels in probes {
            model.add_pod(namespace, "probe", labels, None, Vec::new());
        }
        let outsides: Vec<External> = SOME_PUBLIC_ADDRESSES
            .iter()
            .map(|ip| External {
                ip: IpAddr::from(*ip),
                fqdn: (host != "*").then(|| host.to_string()),
                kube_apiserver: false,
            })
            .collect();
        model.pods.iter().any(|pod| {
            outsides.iter().all(|outside| {
                let conn = Connection {
                    from: Endpoint::Pod(pod),
                    to: Endpoint::External(outside),
                    protocol: Protocol::Tcp,
                    port,
                    request: None,
                };
                self.evaluators.iter().all(|e| e.allows(&model, &conn))
            })
        })
    }
}
