//! The NetworkPolicy semantics of `evaluate.rs` as sets: every pod class's
//! egress and ingress side at once, for the relation crate.
//!
//! NetworkPolicy is separable: whether a side admits a connection depends on
//! the pod whose side it is, the other end's class and the port only. A side
//! is isolated by the policies that select the pod with that policy type, and
//! admits the union of their rules ([`Side::union`]). NetworkPolicy sees no
//! HTTP, so a rule covers every request of its ports (an L4-only universe and
//! one with requests get the same sides). Two things make a rule depend on
//! more than its text:
//! a named port resolves on the destination pod (so an egress rule splits by
//! the destination classes that give the name each number, and an ingress
//! rule resolves on the pod itself), and an ipBlock matches pods by address
//! where the CNI does (an unknown CNI counts as one that does, as the
//! evaluator answers).
//!
//! Pods selected by the same policies have the same egress side (and the same
//! ingress side, when they also resolve the named ports the same way), so a
//! side is resolved once per such group, not once per pod.
//!
//! Where the universe cannot carry the evaluator's answer, `sides` answers
//! `None` rather than a wrong set: outside addresses merged into one class
//! that an ipBlock tells apart (the model's blocks did not include it), and
//! port 0, which the services domain leaves out but a model may probe.

use super::{
    evaluate::{Policies, Policy},
    policy_types,
    selector::selects,
};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_compiler::model::Pod;
use palisade_intents::syntax::Protocol;
use palisade_relation::{universe::Class, ClassSet, Rule, Services, Side, SideSet, Sides, Universe};
use std::{
    collections::{hash_map::Entry, HashMap},
    net::IpAddr,
};

/// Both sides of every pod class, deciding as [`Policies`] decides each
/// connection; `None` where the classes cannot say what the evaluator says
pub(super) fn sides(policies: &Policies, universe: &Universe) -> Option<Sides> {
    if universe.model.ports.iter().any(|&(_, port)| port == 0) {
        return None;
    }
    let all: Vec<(&str, &Policy)> = policies.in_order().collect();
    let mut peers = Peers::new(universe);
    let selecting = Selecting::of(&all, &mut peers);
    let egress = egress_sides(&all, &selecting.egress, &mut peers)?;
    let ingress = ingress_sides(&all, &selecting.ingress, &mut peers)?;
    Some(Sides { egress, ingress })
}

/// For each pod class and direction, the policies (indices into the
/// ordered list) that select it and isolate that direction
struct Selecting {
    egress: Vec<Vec<usize>>,
    ingress: Vec<Vec<usize>>,
}

impl Selecting {
    fn of(policies: &[(&str, &Policy)], peers: &mut Peers) -> Self {
        let count = usize::try_from(peers.universe.pod_count()).unwrap_or(0);
        let mut egress = vec![Vec::new(); count];
        let mut ingress = vec![Vec::new(); count];
        for (index, (namespace, policy)) in policies.iter().enumerate() {
            let (isolates_ingress, isolates_egress) = policy_types(&policy.spec);
            if !isolates_ingress && !isolates_egress {
                continue;
            }
            let within = peers.universe.pods_in(namespace);
            let selected = match &policy.spec.pod_selector {
                Some(selector) => peers.labelled(selector, within),
                None => within,
            };
            for class in &selected {
                let Ok(at) = usize::try_from(class) else { continue };
                if let (true, Some(list)) = (isolates_ingress, ingress.get_mut(at)) {
                    list.push(index);
                }
                if let (true, Some(list)) = (isolates_egress, egress.get_mut(at)) {
                    list.push(index);
                }
            }
        }
        Self { egress, ingress }
    }
}

/// The egress side of each pod class: a rule's named ports resolve on the
/// destination, so each becomes one rule per number towards the pods that
/// give the name that number
fn egress_sides(policies: &[(&str, &Policy)], selecting: &[Vec<usize>], peers: &mut Peers) -> Option<Vec<SideSet>> {
    let mut rules_of: HashMap<usize, Vec<Rule>> = HashMap::new();
    let mut resolved: HashMap<&[usize], SideSet> = HashMap::new();
    let mut out = Vec::with_capacity(selecting.len());
    for list in selecting {
        if let Some(side) = resolved.get(list.as_slice()) {
            out.push(side.clone());
            continue;
        }
        let mut rules = Vec::new();
        for &index in list {
            if let Entry::Vacant(slot) = rules_of.entry(index) {
                let (namespace, policy) = policies.get(index)?;
                slot.insert(policy_egress_rules(policy, namespace, peers)?);
            }
            rules.extend(rules_of.get(&index).into_iter().flatten().cloned());
        }
        let side = Side::union(!list.is_empty(), rules).resolve(peers.universe);
        resolved.insert(list.as_slice(), side.clone());
        out.push(side);
    }
    Some(out)
}

fn policy_egress_rules(policy: &Policy, namespace: &str, peers: &mut Peers) -> Option<Vec<Rule>> {
    let mut out = Vec::new();
    for rule in policy.spec.egress.iter().flatten() {
        let to = peers.of_rule(rule.to.as_deref(), namespace)?;
        if to.is_empty() {
            continue;
        }
        let ports = RulePorts::of(rule.ports.as_deref());
        if !ports.numbered.is_empty() {
            out.push(Rule::allow(ports.numbered.clone(), to.clone()));
        }
        for (protocol, name) in &ports.named {
            for (number, pods) in peers.universe.named_ports(name, *protocol) {
                let reached = &to & pods;
                if !reached.is_empty() {
                    out.push(Rule::allow(Services::ports(*protocol, number, number), reached));
                }
            }
        }
    }
    Some(out)
}

/// An ingress rule before its named ports are resolved on the pod
struct IngressRule {
    from: ClassSet,
    ports: RulePorts,
}

/// The ingress side of each pod class: a rule's named ports resolve on the
/// pod itself, so pods selected alike share a side only when they resolve
/// those names alike
fn ingress_sides(policies: &[(&str, &Policy)], selecting: &[Vec<usize>], peers: &mut Peers) -> Option<Vec<SideSet>> {
    let mut rules_of: HashMap<usize, Vec<IngressRule>> = HashMap::new();
    let mut resolved: HashMap<(&[usize], Vec<Vec<u16>>), SideSet> = HashMap::new();
    let mut out = Vec::with_capacity(selecting.len());
    for (class, list) in (0u32..).zip(selecting) {
        for &index in list {
            if let Entry::Vacant(slot) = rules_of.entry(index) {
                let (namespace, policy) = policies.get(index)?;
                slot.insert(policy_ingress_rules(policy, namespace, peers)?);
            }
        }
        let rules = || list.iter().filter_map(|i| rules_of.get(i)).flatten();
        let pod = peers.universe.pod(class)?;
        let names: Vec<Vec<u16>> = rules()
            .flat_map(|r| &r.ports.named)
            .map(|(protocol, name)| numbers_on(pod, name, *protocol))
            .collect();
        let key = (list.as_slice(), names);
        if let Some(side) = resolved.get(&key) {
            out.push(side.clone());
            continue;
        }
        let allows = rules().filter_map(|r| admitted_into(r, pod)).collect();
        let side = Side::union(!list.is_empty(), allows).resolve(peers.universe);
        resolved.insert(key, side.clone());
        out.push(side);
    }
    Some(out)
}

fn policy_ingress_rules(policy: &Policy, namespace: &str, peers: &mut Peers) -> Option<Vec<IngressRule>> {
    let mut out = Vec::new();
    for rule in policy.spec.ingress.iter().flatten() {
        let from = peers.of_rule(rule.from.as_deref(), namespace)?;
        if !from.is_empty() {
            out.push(IngressRule {
                from,
                ports: RulePorts::of(rule.ports.as_deref()),
            });
        }
    }
    Some(out)
}

/// What an ingress rule admits into `pod`, its named ports resolved there
fn admitted_into(rule: &IngressRule, pod: &Pod) -> Option<Rule> {
    let services = rule
        .ports
        .named
        .iter()
        .fold(rule.ports.numbered.clone(), |acc, (protocol, name)| {
            numbers_on(pod, name, *protocol)
                .into_iter()
                .fold(acc, |acc, n| acc.union(&Services::ports(*protocol, n, n)))
        });
    (!services.is_empty()).then(|| Rule::allow(services, rule.from.clone()))
}

/// The numbers `pod` gives the container port `name` of `protocol`
fn numbers_on(pod: &Pod, name: &str, protocol: Protocol) -> Vec<u16> {
    pod.ports
        .iter()
        .filter(|c| c.name.as_deref() == Some(name) && c.protocol == protocol)
        .map(|c| c.port)
        .collect()
}

/// The ports of a rule: those it names by number (or by protocol alone),
/// and those it names by container port name, left for the destination
#[derive(Debug, Clone, PartialEq)]
struct RulePorts {
    numbered: Services,
    named: Vec<(Protocol, String)>,
}

impl RulePorts {
    /// An absent or empty `ports` is every port
    fn of(ports: Option<&[NetworkPolicyPort]>) -> Self {
        let mut out = Self {
            numbered: Services::none(),
            named: Vec::new(),
        };
        match ports {
            None | Some([]) => out.numbered = Services::all(),
            Some(ports) => {
                for port in ports {
                    out.add(port);
                }
            }
        }
        out
    }

    fn add(&mut self, port: &NetworkPolicyPort) {
        // A protocol the API server would refuse (`tcp`) matches no connection.
        let Some(protocol) = protocol_named(port.protocol.as_deref().unwrap_or("TCP")) else {
            return;
        };
        match &port.port {
            None => self.numbered = self.numbered.union(&Services::protocol(protocol)),
            Some(IntOrString::Int(first)) => {
                let range = numbered_range(*first, port.end_port.unwrap_or(*first));
                if let Some((first, last)) = range {
                    self.numbered = self.numbered.union(&Services::ports(protocol, first, last));
                }
            }
            Some(IntOrString::String(name)) => self.named.push((protocol, name.clone())),
        }
    }
}

fn protocol_named(name: &str) -> Option<Protocol> {
    [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
        .into_iter()
        .find(|p| p.as_k8s() == name)
}

/// `first..=last` as ports a connection can have (an `endPort` below `port`
/// is an empty range, as the evaluator's `contains` reads it)
fn numbered_range(first: i32, last: i32) -> Option<(u16, u16)> {
    let first = u16::try_from(first.max(1)).ok()?;
    let last = u16::try_from(last.min(i32::from(u16::MAX))).ok()?;
    (first <= last).then_some((first, last))
}

/// The classes of peers, memoized by their text: many rules name the same
/// selectors and blocks. `None` in a memo: the classes cannot answer for it.
struct Peers<'u, 'm> {
    universe: &'u Universe<'m>,
    by_address: bool,
    pod_addresses: Vec<(bool, u128, Class)>,
    peers: HashMap<String, Option<ClassSet>>,
    pod_selectors: HashMap<String, ClassSet>,
    namespace_selectors: HashMap<String, ClassSet>,
}

impl<'u, 'm> Peers<'u, 'm> {
    fn new(universe: &'u Universe<'m>) -> Self {
        // Where the CNI is unknown, ipBlocks match pods as the evaluator assumes.
        let by_address = universe.model.cni.ip_blocks_match_pods().unwrap_or(true);
        let mut pod_addresses = Vec::new();
        for (class, pod) in (0..universe.pod_count()).zip(&universe.model.pods) {
            if let Some(ip) = pod.address() {
                let (v6, at) = point(ip);
                pod_addresses.push((v6, at, class));
            }
        }
        pod_addresses.sort_unstable();
        Self {
            universe,
            by_address,
            pod_addresses,
            peers: HashMap::new(),
            pod_selectors: HashMap::new(),
            namespace_selectors: HashMap::new(),
        }
    }

    /// The classes a rule's `from`/`to` names: absent or empty is everything
    fn of_rule(&mut self, peers: Option<&[NetworkPolicyPeer]>, namespace: &str) -> Option<ClassSet> {
        match peers {
            None | Some([]) => Some(self.universe.all().as_ref().clone()),
            Some(peers) => {
                let mut out = ClassSet::new();
                for peer in peers {
                    out |= self.of_peer(peer, namespace)?;
                }
                Some(out)
            }
        }
    }

    fn of_peer(&mut self, peer: &NetworkPolicyPeer, namespace: &str) -> Option<ClassSet> {
        // Only a peer without a namespaceSelector (and no ipBlock) depends on the policy's namespace.
        let key = match (&peer.ip_block, &peer.namespace_selector) {
            (None, None) => format!("{namespace}\0{peer:?}"),
            _ => format!("\0{peer:?}"),
        };
        if let Some(known) = self.peers.get(&key) {
            return known.clone();
        }
        let set = match &peer.ip_block {
            Some(block) => self.block(block),
            None => Some(self.selected(peer, namespace)),
        };
        self.peers.insert(key, set.clone());
        set
    }

    /// A peer of selectors: namespaceSelector and podSelector AND; without a
    /// namespaceSelector the policy's namespace; neither is an invalid peer
    /// that matches nothing
    fn selected(&mut self, peer: &NetworkPolicyPeer, namespace: &str) -> ClassSet {
        let namespaces = match &peer.namespace_selector {
            Some(selector) => self.in_namespaces(selector),
            None if peer.pod_selector.is_some() => self.universe.pods_in(namespace),
            None => return ClassSet::new(),
        };
        match &peer.pod_selector {
            Some(selector) => self.labelled(selector, namespaces),
            None => namespaces,
        }
    }

    fn in_namespaces(&mut self, selector: &LabelSelector) -> ClassSet {
        let key = format!("{selector:?}");
        if let Some(known) = self.namespace_selectors.get(&key) {
            return known.clone();
        }
        let set = self.universe.pods_in_namespaces(|ns| selects(selector, &ns.labels));
        self.namespace_selectors.insert(key, set.clone());
        set
    }

    /// The pods of `within` that `selector` selects, by the label indexes
    fn labelled(&mut self, selector: &LabelSelector, within: ClassSet) -> ClassSet {
        let key = format!("{selector:?}");
        if let Some(known) = self.pod_selectors.get(&key) {
            return known & &within;
        }
        let set = self.by_labels(selector);
        let out = &set & &within;
        self.pod_selectors.insert(key, set);
        out
    }

    /// What `selects` selects among all pods: an unknown operator selects nothing
    fn by_labels(&self, selector: &LabelSelector) -> ClassSet {
        let universe = self.universe;
        let mut set = universe.pods();
        for (key, value) in selector.match_labels.iter().flatten() {
            set &= universe.pods_with(key, value);
        }
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.as_str();
            let with_any = || {
                expression
                    .values
                    .iter()
                    .flatten()
                    .fold(ClassSet::new(), |acc, value| acc | universe.pods_with(key, value))
            };
            match expression.operator.as_str() {
                "In" => set &= with_any(),
                "NotIn" => set -= with_any(),
                "Exists" => set &= universe.pods_with_key(key),
                "DoesNotExist" => set -= universe.pods_with_key(key),
                _ => set.clear(),
            }
        }
        set
    }

    /// An ipBlock: pods by address (where the CNI matches them so, and only
    /// pods that have one), outside classes by their addresses; `None` when
    /// an outside class holds addresses the block tells apart
    fn block(&self, block: &IPBlock) -> Option<ClassSet> {
        let Ok(net) = block.cidr.parse::<IpNet>() else {
            return Some(ClassSet::new());
        };
        let excepts: Vec<IpNet> = block
            .except
            .iter()
            .flatten()
            .filter_map(|e| e.parse::<IpNet>().ok())
            .collect();
        let covers = |ip: &IpAddr| net.contains(ip) && !excepts.iter().any(|e| e.contains(ip));
        let mut out = self.universe.outsides_covered(covers)?;
        if self.by_address {
            out |= self.pods_within(&net);
            for except in &excepts {
                out -= self.pods_within(except);
            }
        }
        Some(out)
    }

    /// The pods whose address lies in `net`
    fn pods_within(&self, net: &IpNet) -> ClassSet {
        let (v6, first) = point(net.network());
        let (_, last) = point(net.broadcast());
        let start = self.pod_addresses.partition_point(|&(f, at, _)| (f, at) < (v6, first));
        self.pod_addresses
            .get(start..)
            .into_iter()
            .flatten()
            .take_while(|&&(f, at, _)| (f, at) <= (v6, last))
            .map(|&(_, _, class)| class)
            .collect()
    }
}

/// The position of an address on its family's line
fn point(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod scale;
#[cfg(test)]
mod tests;
