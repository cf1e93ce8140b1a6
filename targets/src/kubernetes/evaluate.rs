//! The NetworkPolicy semantics, read from the manifests alone.
//!
//! A pod is isolated in a direction when any policy of its namespace selects it
//! with that policy type (after the API server's defaulting: absent or empty
//! policyTypes is Ingress, plus Egress when there is at least one egress
//! rule). An isolated pod admits a connection when any rule of any selecting
//! policy admits it (union). Pod-to-pod needs both ends. Within a peer,
//! namespaceSelector and podSelector AND; list items OR. An absent or empty
//! `from`/`to` matches everything, an empty `ports` every port. Named ports
//! resolve on the destination pod. An ipBlock matches outside addresses, and
//! pods by their `status.podIP` where the CNI does so (the e2e suite expects
//! it; Cilium does not: see `CniProfile`); a pod without an address matches
//! no ipBlock.
//!
//! ClusterNetworkPolicies compose with NetworkPolicy per direction as their
//! `Tier` godoc says (apis/v1alpha2/clusternetworkpolicy_types.go @v0.2.0):
//! the Admin tier first (Accept and Deny final, Pass or no match goes on),
//! then NetworkPolicy when it isolates the pod in that direction (it then
//! decides), then the Baseline tier, then the default: allow. While any
//! ClusterNetworkPolicy cannot be evaluated exactly (`cluster::read`'s
//! problems), every connection is denied and the verdict names the problem.

use super::{
    cluster::{self, Action, ClusterPolicies, Tier},
    namespace_of, policy_types,
    selector::selects,
    spec_of,
};
use crate::{
    memo::Selection,
    verdict::{both_sides, Direction},
    Evaluator, Manifest, RuleRef, Verdict,
};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_compiler::model::{ClusterModel, CniProfile, Connection, Endpoint, Pod};
use std::collections::BTreeMap;

/// A rule's peers and ports
type Rule<'p> = (Option<&'p [NetworkPolicyPeer]>, Option<&'p [NetworkPolicyPort]>);

pub(super) struct Policy<'m> {
    manifest: &'m Manifest,
    pub(super) spec: NetworkPolicySpec,
}

/// The NetworkPolicies of a manifest set, parsed once and indexed by
/// namespace (a policy only ever selects pods of its own namespace)
pub(super) struct Policies<'m> {
    by_namespace: BTreeMap<&'m str, Vec<Policy<'m>>>,
    selection: Selection,
    /// the ClusterNetworkPolicies, tier by tier
    pub(super) cluster: ClusterPolicies<'m>,
    manifests: &'m [Manifest],
}

impl<'m> Policies<'m> {
    /// Parse the NetworkPolicies. Objects that do not parse are left out:
    /// the API server would have refused them, and the manifest readers of
    /// the CLI refuse them first with their place (`kubernetes::validate`).
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        let mut by_namespace: BTreeMap<&str, Vec<Policy>> = BTreeMap::new();
        for m in manifests
            .iter()
            .filter(|m| m.api_version() == "networking.k8s.io/v1" && m.kind() == "NetworkPolicy")
        {
            if let Some(spec) = spec_of(&m.object) {
                by_namespace
                    .entry(namespace_of(m))
                    .or_default()
                    .push(Policy { manifest: m, spec });
            }
        }
        Self {
            by_namespace,
            selection: Selection::default(),
            cluster: cluster::read(manifests),
            manifests,
        }
    }

    /// Every policy with its namespace, namespace by namespace
    pub(super) fn in_order(&self) -> impl Iterator<Item = (&'m str, &Policy<'m>)> {
        self.by_namespace
            .iter()
            .flat_map(|(namespace, policies)| policies.iter().map(move |p| (*namespace, p)))
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
                .filter(|(_, p)| p.spec.pod_selector.as_ref().is_none_or(|sel| selects(sel, &pod.labels)))
                .map(|(i, _)| i)
                .collect()
        });
        indices.iter().filter_map(|&i| all.get(i)).collect()
    }
}

impl Evaluator for Policies<'_> {
    fn decide(&self, model: &ClusterModel, conn: &Connection, explain: bool) -> Verdict {
        if self.cluster.is_empty() {
            return both_sides(conn, |pod, direction| {
                side(&self.selecting(model, pod), model, conn, direction, explain)
            });
        }
        if let Some(problem) = self.cluster.problems.first() {
            let policy = self
                .manifests
                .get(problem.manifest)
                .map(Manifest::reference)
                .unwrap_or_default();
            return Verdict {
                allowed: false,
                decided_by: vec![RuleRef {
                    policy,
                    rule: format!("not evaluated: {} ({})", problem.message, problem.pointer),
                    source: None,
                }],
            };
        }
        both_sides(conn, |pod, direction| self.tiers(model, pod, conn, direction, explain))
    }

    /// The symbolic form knows NetworkPolicy only: with any
    /// ClusterNetworkPolicy, callers enumerate connections
    fn sides(&self, universe: &palisade_relation::Universe) -> Option<palisade_relation::Sides> {
        if !self.cluster.is_empty() {
            return None;
        }
        super::symbolic::sides(self, universe)
    }
}

impl Policies<'_> {
    /// One side decided tier by tier: Admin, NetworkPolicy (when it isolates
    /// the pod in this direction), Baseline, then allow. A Pass that led on
    /// is named beside what decided after it.
    fn tiers(
        &self,
        model: &ClusterModel,
        pod: &Pod,
        conn: &Connection,
        direction: Direction,
        explain: bool,
    ) -> (bool, Vec<RuleRef>) {
        let mut why = Vec::new();
        let named = |decision: &cluster::Decision, why: &mut Vec<RuleRef>| {
            if explain {
                why.push(decision.reference());
            }
        };
        if let Some(admin) = self.cluster.decide(Tier::Admin, model, pod, conn, direction) {
            named(&admin, &mut why);
            match admin.action {
                Action::Accept => return (true, why),
                Action::Deny => return (false, why),
                Action::Pass => {}
            }
        }
        let policies = self.selecting(model, pod);
        if isolates(&policies, direction) {
            let (allowed, refs) = side(&policies, model, conn, direction, explain);
            why.extend(refs);
            return (allowed, why);
        }
        // After Baseline comes the default, allow: a Baseline Pass allows.
        match self.cluster.decide(Tier::Baseline, model, pod, conn, direction) {
            Some(baseline) => {
                named(&baseline, &mut why);
                (baseline.action != Action::Deny, why)
            }
            None => (true, why),
        }
    }
}

/// Whether any of the policies isolates the pod in this direction
fn isolates(policies: &[&Policy], direction: Direction) -> bool {
    policies.iter().any(|p| {
        let (ingress, egress) = policy_types(&p.spec);
        match direction {
            Direction::Ingress => ingress,
            Direction::Egress => egress,
        }
    })
}

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
    let mut admitting: Vec<(&Policy, usize, Option<&[NetworkPolicyPeer]>)> = Vec::new();
    let key = match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    // Where the CNI is unknown, ipBlocks match pods as the e2e suite expects;
    // the explanation says when that decided.
    let by_address = model.cni.ip_blocks_match_pods().unwrap_or(true);
    for &p in policies {
        let spec = &p.spec;
        let (ingress, egress) = policy_types(spec);
        if !(if direction == Direction::Ingress {
            ingress
        } else {
            egress
        }) {
            continue;
        }
        isolating.push(p);
        let namespace = namespace_of(p.manifest);
        let other = match direction {
            Direction::Ingress => &conn.from,
            Direction::Egress => &conn.to,
        };
        // Rules are walked, not collected: verification asks this millions of times.
        let rules: Box<dyn Iterator<Item = Rule>> = match direction {
            Direction::Ingress => Box::new(
                spec.ingress
                    .iter()
                    .flatten()
                    .map(|r| (r.from.as_deref(), r.ports.as_deref())),
            ),
            Direction::Egress => Box::new(
                spec.egress
                    .iter()
                    .flatten()
                    .map(|r| (r.to.as_deref(), r.ports.as_deref())),
            ),
        };
        for (i, (peers, ports)) in rules.enumerate() {
            if peers_match(peers, namespace, model, other, by_address) && ports_match(ports, conn) {
                admitting.push((p, i, peers));
            }
        }
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
        let other = match direction {
            Direction::Ingress => &conn.from,
            Direction::Egress => &conn.to,
        };
        (
            true,
            admitting
                .into_iter()
                .map(|(p, i, peers)| {
                    let namespace = namespace_of(p.manifest);
                    let note = match other {
                        Endpoint::Pod(pod) if !peers_match(peers, namespace, model, other, false) => {
                            by_address_note(model.cni, pod)
                        }
                        _ => String::new(),
                    };
                    reference(p, format!("{key}[{i}]{note}"))
                })
                .collect(),
        )
    }
}

/// What an explanation adds when only an ipBlock covering the pod's
/// address admitted the connection
fn by_address_note(cni: CniProfile, pod: &Pod) -> String {
    let ip = pod.address().map(|a| a.to_string()).unwrap_or_default();
    match cni {
        CniProfile::Unknown => format!(
            " (an ipBlock covers the pod's address {ip}: admitted where the CNI matches pod addresses, as the e2e suite expects, not on Cilium; depends on the CNI)"
        ),
        named => format!(" (an ipBlock covers the pod's address {ip}; {} matches pod addresses)", named.name()),
    }
}

/// Whether the peers of a rule name the other end; `by_address`: whether
/// ipBlocks match pods by their address
fn peers_match(
    peers: Option<&[NetworkPolicyPeer]>,
    policy_namespace: &str,
    model: &ClusterModel,
    other: &Endpoint,
    by_address: bool,
) -> bool {
    match peers {
        None | Some([]) => true,
        Some(peers) => peers
            .iter()
            .any(|peer| peer_matches(peer, policy_namespace, model, other, by_address)),
    }
}

fn peer_matches(
    peer: &NetworkPolicyPeer,
    policy_namespace: &str,
    model: &ClusterModel,
    other: &Endpoint,
    by_address: bool,
) -> bool {
    if let Some(block) = &peer.ip_block {
        let ip = match other {
            Endpoint::External(ext) => ext.ip,
            Endpoint::Pod(pod) if by_address => match pod.address() {
                Some(ip) => ip,
                None => return false,
            },
            Endpoint::Pod(_) => return false,
        };
        let Ok(net) = block.cidr.parse::<IpNet>() else {
            return false;
        };
        let excepted = block
            .except
            .iter()
            .flatten()
            .filter_map(|e| e.parse::<IpNet>().ok())
            .any(|e| e.contains(&ip));
        return net.contains(&ip) && !excepted;
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
