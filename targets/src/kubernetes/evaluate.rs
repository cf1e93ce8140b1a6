//! The NetworkPolicy semantics, read from the manifests alone.
//!
//! A pod is isolated in a direction when any policy of its namespace selects it
//! with that policy type (policyTypes defaults to Ingress, plus Egress when an
//! egress section exists). An isolated pod admits a connection when any rule of
//! any selecting policy admits it (union). Pod-to-pod needs both ends. Within a
//! peer, namespaceSelector and podSelector AND; list items OR. An absent or
//! empty `from`/`to` matches everything, an empty `ports` every port. Named
//! ports resolve on the destination pod. ipBlocks match addresses outside the
//! cluster (Kubernetes leaves pod addresses in ipBlocks to the CNI).

use super::selector::selects;
use crate::{Evaluator, Manifest, RuleRef, Verdict};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};

struct Policy<'m> {
    manifest: &'m Manifest,
    policy: NetworkPolicy,
}

/// The NetworkPolicies of a manifest set, parsed once
pub(super) struct Policies<'m>(Vec<Policy<'m>>);

impl<'m> Policies<'m> {
    /// Parse the NetworkPolicies; objects that do not parse are skipped (the
    /// API server would have refused them)
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        Self(
            manifests
                .iter()
                .filter(|m| m.api_version() == "networking.k8s.io/v1" && m.kind() == "NetworkPolicy")
                .filter_map(|m| {
                    serde_json::from_value::<NetworkPolicy>(m.object.clone())
                        .ok()
                        .map(|policy| Policy { manifest: m, policy })
                })
                .collect(),
        )
    }
}

impl Evaluator for Policies<'_> {
    fn evaluate(&self, model: &ClusterModel, conn: &Connection) -> Verdict {
        evaluate(&self.0, model, conn)
    }
}

fn evaluate(policies: &[Policy], model: &ClusterModel, conn: &Connection) -> Verdict {
    let mut decided_by = Vec::new();
    let mut allowed = true;
    if let Endpoint::Pod(src) = conn.from {
        let (ok, refs) = side(policies, model, src, conn, Direction::Egress);
        allowed &= ok;
        decided_by.extend(refs);
    }
    if let Endpoint::Pod(dst) = conn.to {
        let (ok, refs) = side(policies, model, dst, conn, Direction::Ingress);
        allowed &= ok;
        decided_by.extend(refs);
    }
    Verdict { allowed, decided_by }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

/// Whether the pod's own side lets the connection through, and why
fn side(
    policies: &[Policy],
    model: &ClusterModel,
    pod: &Pod,
    conn: &Connection,
    direction: Direction,
) -> (bool, Vec<RuleRef>) {
    let mut isolating = Vec::new();
    let mut admitting = Vec::new();
    for p in policies {
        let Some(spec) = &p.policy.spec else { continue };
        if p.manifest.namespace() != pod.namespace
            || !selects(&spec.pod_selector.clone().unwrap_or_default(), &pod.labels)
        {
            continue;
        }
        let has_type = |t: &str| match &spec.policy_types {
            Some(types) => types.iter().any(|x| x == t),
            None => t == "Ingress" || (t == "Egress" && spec.egress.is_some()),
        };
        let reference = |rule: String| RuleRef {
            policy: p.manifest.reference(),
            rule,
            source: p.manifest.source(),
        };
        match direction {
            Direction::Ingress if has_type("Ingress") => {
                isolating.push(reference("isolates ingress".into()));
                for (i, rule) in spec.ingress.iter().flatten().enumerate() {
                    if peers_match(rule.from.as_deref(), p.manifest.namespace(), model, &conn.from)
                        && ports_match(rule.ports.as_deref(), conn)
                    {
                        admitting.push(reference(format!("ingress[{i}]")));
                    }
                }
            }
            Direction::Egress if has_type("Egress") => {
                isolating.push(reference("isolates egress".into()));
                for (i, rule) in spec.egress.iter().flatten().enumerate() {
                    if peers_match(rule.to.as_deref(), p.manifest.namespace(), model, &conn.to)
                        && ports_match(rule.ports.as_deref(), conn)
                    {
                        admitting.push(reference(format!("egress[{i}]")));
                    }
                }
            }
            _ => {}
        }
    }
    if isolating.is_empty() {
        (true, Vec::new())
    } else if admitting.is_empty() {
        (false, isolating)
    } else {
        (true, admitting)
    }
}

fn peers_match(
    peers: Option<&[NetworkPolicyPeer]>,
    policy_namespace: &str,
    model: &ClusterModel,
    other: &Endpoint,
) -> bool {
    match peers {
        None | Some([]) => true,
        Some(peers) => peers
            .iter()
            .any(|peer| peer_matches(peer, policy_namespace, model, other)),
    }
}

fn peer_matches(peer: &NetworkPolicyPeer, policy_namespace: &str, model: &ClusterModel, other: &Endpoint) -> bool {
    if let Some(block) = &peer.ip_block {
        let Endpoint::External(ext) = other else {
            return false;
        };
        let Ok(net) = block.cidr.parse::<IpNet>() else {
            return false;
        };
        let excepted = block
            .except
            .iter()
            .flatten()
            .filter_map(|e| e.parse::<IpNet>().ok())
            .any(|e| e.contains(&ext.ip));
        return net.contains(&ext.ip) && !excepted;
    }
    let Endpoint::Pod(pod) = other else {
        return false;
    };
    let namespace_ok = match &peer.namespace_selector {
        Some(selector) => model
            .namespace(&pod.namespace)
            .is_some_and(|ns| selects(selector, &ns.labels)),
        None => pod.namespace == policy_namespace,
    };
    let pod_ok = peer
        .pod_selector
        .as_ref()
        .is_none_or(|s: &LabelSelector| selects(s, &pod.labels));
    // A peer with neither selector nor ipBlock is invalid; it matches nothing.
    let has_selector = peer.namespace_selector.is_some() || peer.pod_selector.is_some();
    has_selector && namespace_ok && pod_ok
}

fn ports_match(ports: Option<&[NetworkPolicyPort]>, conn: &Connection) -> bool {
    match ports {
        None | Some([]) => true,
        Some(ports) => ports.iter().any(|p| port_matches(p, conn)),
    }
}

fn port_matches(port: &NetworkPolicyPort, conn: &Connection) -> bool {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    if protocol != conn.protocol.as_k8s() {
        return false;
    }
    match &port.port {
        None => true,
        Some(IntOrString::Int(first)) => {
            let last = port.end_port.unwrap_or(*first);
            (*first..=last).contains(&i32::from(conn.port))
        }
        Some(IntOrString::String(name)) => match conn.to {
            Endpoint::Pod(dst) => dst.ports.iter().any(|c| {
                c.name.as_deref() == Some(name.as_str()) && c.protocol == conn.protocol && c.port == conn.port
            }),
            Endpoint::External(_) => false,
        },
    }
}
