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
use crate::{
    memo::Selection,
    verdict::{both_sides, Direction},
    Evaluator, Manifest, RuleRef, Verdict,
};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};
use std::collections::BTreeMap;

struct Policy<'m> {
    manifest: &'m Manifest,
    policy: NetworkPolicy,
}

/// The NetworkPolicies of a manifest set, parsed once and indexed by
/// namespace (a policy only ever selects pods of its own namespace)
pub(super) struct Policies<'m> {
    by_namespace: BTreeMap<&'m str, Vec<Policy<'m>>>,
    selection: Selection,
}

impl<'m> Policies<'m> {
    /// Parse the NetworkPolicies; objects that do not parse are skipped (the
    /// API server would have refused them)
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        let mut by_namespace: BTreeMap<&str, Vec<Policy>> = BTreeMap::new();
        for m in manifests
            .iter()
            .filter(|m| m.api_version() == "networking.k8s.io/v1" && m.kind() == "NetworkPolicy")
        {
            if let Ok(policy) = serde_json::from_value::<NetworkPolicy>(m.object.clone()) {
                by_namespace
                    .entry(m.namespace())
                    .or_default()
                    .push(Policy { manifest: m, policy });
            }
        }
        Self {
            by_namespace,
            selection: Selection::default(),
        }
    }

    /// The policies that select the pod (any direction)
    fn selecting(&self, model: &ClusterModel, pod: &Pod) -> Vec<&Policy<'m>> {
        let all = self
            .by_namespace
            .get(pod.namespace.as_str())
            .map_or(&[][..], Vec::as_slice);
        let indices = self.selection.of(model, pod, || {
            all.iter()
                .enumerate()
                .filter(|(_, p)| {
                    p.policy
                        .spec
                        .as_ref()
                        .is_some_and(|s| s.pod_selector.as_ref().is_none_or(|sel| selects(sel, &pod.labels)))
                })
                .map(|(i, _)| i)
                .collect()
        });
        indices.iter().filter_map(|&i| all.get(i)).collect()
    }
}

impl Evaluator for Policies<'_> {
    fn decide(&self, model: &ClusterModel, conn: &Connection, explain: bool) -> Verdict {
        both_sides(conn, |pod, direction| {
            side(&self.selecting(model, pod), model, conn, direction, explain)
        })
    }
}

impl Policies<'_> {}

/// Whether the pod's own side lets the connection through, and why. Rule
/// references are built only for the answer, not while searching.
fn side(
    policies: &[&Policy],
    model: &ClusterModel,
    conn: &Connection,
    direction: Direction,
    explain: bool,
) -> (bool, Vec<RuleRef>) {
    let mut isolating: Vec<&Policy> = Vec::new();
    let mut admitting: Vec<(&Policy, usize)> = Vec::new();
    let (type_name, key) = match direction {
        Direction::Ingress => ("Ingress", "ingress"),
        Direction::Egress => ("Egress", "egress"),
    };
    for &p in policies {
        let Some(spec) = &p.policy.spec else { continue };
        let has_type = match &spec.policy_types {
            Some(types) => types.iter().any(|x| x == type_name),
            None => direction == Direction::Ingress || spec.egress.is_some(),
        };
        if !has_type {
            continue;
        }
        isolating.push(p);
        let namespace = p.manifest.namespace();
        let matched: Vec<usize> = match direction {
            Direction::Ingress => spec
                .ingress
                .iter()
                .flatten()
                .enumerate()
                .filter(|(_, r)| {
                    peers_match(r.from.as_deref(), namespace, model, &conn.from)
                        && ports_match(r.ports.as_deref(), conn)
                })
                .map(|(i, _)| i)
                .collect(),
            Direction::Egress => spec
                .egress
                .iter()
                .flatten()
                .enumerate()
                .filter(|(_, r)| {
                    peers_match(r.to.as_deref(), namespace, model, &conn.to) && ports_match(r.ports.as_deref(), conn)
                })
                .map(|(i, _)| i)
                .collect(),
        };
        admitting.extend(matched.into_iter().map(|i| (p, i)));
    }
    let reference = |p: &Policy, rule: String| RuleRef {
        policy: p.manifest.reference(),
        rule,
        source: p.manifest.source(),
    };
    if !explain {
        return (isolating.is_empty() || !admitting.is_empty(), Vec::new());
    }
    if isolating.is_empty() {
        (true, Vec::new())
    } else if admitting.is_empty() {
        (
            false,
            isolating
                .into_iter()
                .map(|p| reference(p, format!("isolates {key}")))
                .collect(),
        )
    } else {
        (
            true,
            admitting
                .into_iter()
                .map(|(p, i)| reference(p, format!("{key}[{i}]")))
                .collect(),
        )
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
