//! The CiliumNetworkPolicy semantics of `evaluate.rs` as sets: every pod
//! class's egress and ingress side at once, for the relation crate.
//!
//! Why the evaluator separates into sides: a side's answer depends on the
//! policies that select the pod (their rules for that direction), the other
//! end's class, and the port and request. Any matching deny rule wins and an
//! isolated side admits only what an allow rule matches, which is
//! [`Side::deny_overrides`]. Every condition of a rule speaks of one thing:
//! endpoint selectors, entities, CIDRs and names of the peer's class, `toPorts`
//! of the service key; the two exceptions are resolved per side:
//! - a named port resolves on the destination: on an egress side the rule
//!   splits by the peers that give the name each number, on an ingress side
//!   it resolves on the pod itself (so pods share a side only with the same
//!   container ports);
//! - `toFQDNs` admits a name only where the pod's DNS goes through the proxy
//!   with a pattern for it, which depends on every egress rule selecting the
//!   pod, so the names are intersected per side.
//!
//! HTTP rules: at the connection itself (request 0) the evaluator ignores
//! them, and at a request class they must admit the request; an entry with
//! HTTP rules therefore covers request 0 and the admitted classes of its
//! ports, as the intents' sets do ([`Services::requests`]). Without request
//! classes an HTTP rule is a port-level rule.
//!
//! Where the universe cannot carry the evaluator's answer, `sides` answers
//! `None` rather than a wrong set: an outside class holding addresses that a
//! CIDR of a selecting policy tells apart (the model's blocks did not include
//! it), and port 0, which the services domain leaves out but a model may
//! probe (`port: "0"` admits it).
//!
//! CiliumClusterwideNetworkPolicy is not read: the evaluator reads
//! CiliumNetworkPolicy only, and the sets answer as it does.

use super::evaluate::{fqdn_matches, http_matches, Policies};
use crate::{manifest::Field, verdict::Direction, Manifest};
use ipnet::IpNet;
use palisade_compiler::model::Pod;
use palisade_intents::syntax::Protocol;
use palisade_relation::{Action, Class, ClassSet, Rule, Services, Side, SideSet, Sides, Universe};
use selectors::Selectors;
use serde_json::Value;
use std::{
    collections::{hash_map::Entry, HashMap},
    rc::Rc,
};

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// Both sides of every pod class, deciding as [`Policies`] decides each
/// connection; `None` where the classes cannot say what the evaluator says
pub(super) fn sides(policies: &Policies, universe: &Universe) -> Option<Sides> {
    if universe.model.ports.iter().any(|&(_, port)| port == 0) {
        return None;
    }
    let policies: Vec<(&str, &Manifest)> = policies.in_order().collect();
    let mut reader = Reader::new(universe);
    let selecting = reader.selecting(&policies);
    let mut read: HashMap<usize, Rc<PolicyRules>> = HashMap::new();
    for &index in selecting.iter().flatten() {
        if let Entry::Vacant(slot) = read.entry(index) {
            let (namespace, manifest) = policies.get(index)?;
            slot.insert(Rc::new(reader.policy(namespace, manifest)?));
        }
    }
    let of = |list: &[usize]| -> Vec<Rc<PolicyRules>> { list.iter().filter_map(|i| read.get(i).cloned()).collect() };
    Some(Sides {
        egress: egress_sides(&selecting, &of, universe),
        ingress: ingress_sides(&selecting, &of, universe)?,
    })
}

/// What a `toPorts` entry admits on the service key
#[derive(Debug, Clone)]
enum Piece {
    /// these services, whoever the destination is
    Numbered(Services),
    /// egress, a named port: these services only towards these pods
    Towards(Services, ClassSet),
    /// ingress, a named port: resolved on the pod whose side it is
    OnPod {
        name: String,
        protocols: Vec<Protocol>,
        requests: Option<Vec<u32>>,
    },
}

/// A rule of a policy, read into classes and services
#[derive(Debug, Clone)]
struct ReadRule {
    /// the peers its endpoints, entities and CIDRs name
    peers: ClassSet,
    /// the outside classes its `toFQDNs` name, before the DNS proxy is asked
    names: ClassSet,
    /// what its `toPorts` admit (any of them)
    pieces: Vec<Piece>,
}

/// One direction of one policy
#[derive(Debug, Clone, Default)]
struct Half {
    /// whether it puts the pods it selects in default deny for this direction
    isolates: bool,
    denies: Vec<ReadRule>,
    allows: Vec<ReadRule>,
}

/// One policy, read once for every pod it selects
#[derive(Debug, Clone, Default)]
struct PolicyRules {
    egress: Half,
    ingress: Half,
    /// the named outside classes its DNS rules let the proxy learn
    proxied: ClassSet,
}

/// The egress side of each pod class; pods selected by the same policies
/// share it (named ports resolve on the peers, not on the pod)
fn egress_sides(
    selecting: &[Vec<usize>],
    of: &dyn Fn(&[usize]) -> Vec<Rc<PolicyRules>>,
    universe: &Universe,
) -> Vec<SideSet> {
    let mut resolved: HashMap<&[usize], SideSet> = HashMap::new();
    selecting
        .iter()
        .map(|list| {
            resolved
                .entry(list.as_slice())
                .or_insert_with(|| egress_side(&of(list), universe))
                .clone()
        })
        .collect()
}

fn egress_side(policies: &[Rc<PolicyRules>], universe: &Universe) -> SideSet {
    let proxied = policies.iter().fold(ClassSet::new(), |acc, p| acc | &p.proxied);
    let isolated = policies.iter().any(|p| p.egress.isolates);
    let rules = |pick: fn(&Half) -> &Vec<ReadRule>, action: Action| -> Vec<Rule> {
        policies
            .iter()
            .flat_map(|p| pick(&p.egress))
            .flat_map(|r| egress_rules(r, action, &proxied))
            .collect()
    };
    let denies = rules(|h| &h.denies, Action::Deny);
    let allows = rules(|h| &h.allows, Action::Allow);
    Side::deny_overrides(isolated, denies, allows).resolve(universe)
}

/// A read egress rule as set rules: its names only where the proxy learns them
fn egress_rules(rule: &ReadRule, action: Action, proxied: &ClassSet) -> Vec<Rule> {
    let peers = &rule.peers | &(&rule.names & proxied);
    let mut out = Vec::new();
    for piece in &rule.pieces {
        let (services, towards) = match piece {
            Piece::Numbered(services) => (services, peers.clone()),
            Piece::Towards(services, pods) => (services, &peers & pods),
            Piece::OnPod { .. } => continue,
        };
        out.extend(set_rule(action, services.clone(), towards));
    }
    out
}

/// The ingress side of each pod class; pods share it when the same
/// policies select them and, if a rule names a port, their ports are alike
fn ingress_sides(
    selecting: &[Vec<usize>],
    of: &dyn Fn(&[usize]) -> Vec<Rc<PolicyRules>>,
    universe: &Universe,
) -> Option<Vec<SideSet>> {
    type Ports<'p> = Vec<(Option<&'p str>, Protocol, u16)>;
    let mut resolved: HashMap<(&[usize], Ports), SideSet> = HashMap::new();
    let mut out = Vec::with_capacity(selecting.len());
    for (class, list) in (0u32..).zip(selecting) {
        let pod = universe.pod(class)?;
        let policies = of(list);
        let names_ports = policies
            .iter()
            .flat_map(|p| p.ingress.denies.iter().chain(&p.ingress.allows))
            .flat_map(|r| &r.pieces)
            .any(|piece| matches!(piece, Piece::OnPod { .. }));
        let ports: Ports = if names_ports {
            pod.ports
                .iter()
                .map(|c| (c.name.as_deref(), c.protocol, c.port))
                .collect()
        } else {
            Vec::new()
        };
        let side = resolved
            .entry((list.as_slice(), ports))
            .or_insert_with(|| ingress_side(&policies, pod, universe));
        out.push(side.clone());
    }
    Some(out)
}

fn ingress_side(policies: &[Rc<PolicyRules>], pod: &Pod, universe: &Universe) -> SideSet {
    let isolated = policies.iter().any(|p| p.ingress.isolates);
    let rules = |pick: fn(&Half) -> &Vec<ReadRule>, action: Action| -> Vec<Rule> {
        policies
            .iter()
            .flat_map(|p| pick(&p.ingress))
            .filter_map(|r| set_rule(action, services_into(r, pod), r.peers.clone()))
            .collect()
    };
    let denies = rules(|h| &h.denies, Action::Deny);
    let allows = rules(|h| &h.allows, Action::Allow);
    Side::deny_overrides(isolated, denies, allows).resolve(universe)
}

/// What a read ingress rule admits into `pod`, its named ports resolved there
fn services_into(rule: &ReadRule, pod: &Pod) -> Services {
    rule.pieces.iter().fold(Services::none(), |acc, piece| match piece {
        Piece::Numbered(services) => acc.union(services),
        Piece::Towards(..) => acc,
        Piece::OnPod {
            name,
            protocols,
            requests,
        } => pod
            .ports
            .iter()
            .filter(|c| c.name.as_deref() == Some(name.as_str()) && protocols.contains(&c.protocol))
            .fold(acc, |acc, c| {
                acc.union(&range(c.protocol, c.port, c.port, requests.as_deref()))
            }),
    })
}

/// A set rule, unless it is empty in either dimension
fn set_rule(action: Action, services: Services, peers: ClassSet) -> Option<Rule> {
    (!services.is_empty() && !peers.is_empty()).then_some(Rule {
        action,
        services,
        peers,
    })
}

/// Ports `first..=last` of `protocol`: every request on them, or with
/// `requests` the connection itself and those request classes only
fn range(protocol: Protocol, first: u16, last: u16, requests: Option<&[u32]>) -> Services {
    match requests {
        Some(admitted) => Services::requests(protocol, first, last, admitted),
        None => Services::ports(protocol, first, last),
    }
}

/// The protocols a `toPorts` port names: `ANY` (or none) is every one; a
/// name the evaluator does not know matches no connection
fn protocols_of(name: &str) -> Vec<Protocol> {
    if name == "ANY" {
        return PROTOCOLS.to_vec();
    }
    PROTOCOLS.into_iter().filter(|p| p.as_k8s() == name).collect()
}

/// `port..=endPort` as ports a connection can have; `endPort` is read as
/// the evaluator reads it (its low 32 bits)
fn numbered(first: u32, end_port: Option<u64>) -> Option<(u16, u16)> {
    let last = end_port.map_or(first, |e| u32::try_from(e & u64::from(u32::MAX)).unwrap_or(u32::MAX));
    let first = u16::try_from(first).ok()?;
    let last = u16::try_from(last.min(u32::from(u16::MAX))).ok()?;
    (first <= last).then_some((first, last))
}

/// The peer fields of a rule of this direction
fn peer_fields(direction: Direction) -> [&'static str; 5] {
    match direction {
        Direction::Ingress => ["fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet", "fromFQDNs"],
        Direction::Egress => ["toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toFQDNs"],
    }
}

/// Reads policies into classes, memoised by text: many rules name the same
/// selectors, blocks and names. `None` in a memo: the classes cannot answer.
struct Reader<'u, 'm> {
    universe: &'u Universe<'m>,
    /// the outside classes that carry a name, with it
    named_outside: Vec<(Class, &'m str)>,
    selectors: Selectors<'u, 'm>,
    blocks: HashMap<String, Option<ClassSet>>,
    fqdns: HashMap<String, ClassSet>,
}

impl<'u, 'm> Reader<'u, 'm> {
    fn new(universe: &'u Universe<'m>) -> Self {
        let named_outside = universe
            .outsides()
            .iter()
            .filter_map(|c| universe.outside(c).and_then(|(_, e)| Some((c, e.fqdn.as_deref()?))))
            .collect();
        Self {
            universe,
            named_outside,
            selectors: Selectors::new(universe),
            blocks: HashMap::new(),
            fqdns: HashMap::new(),
        }
    }

    /// For each pod class, the policies (indices) whose endpointSelector
    /// selects it in its own namespace
    fn selecting(&mut self, policies: &[(&str, &Manifest)]) -> Vec<Vec<usize>> {
        let count = usize::try_from(self.universe.pod_count()).unwrap_or(0);
        let mut out = vec![Vec::new(); count];
        for (index, (namespace, m)) in policies.iter().enumerate() {
            let Some(selector) = m.object.at(&["spec", "endpointSelector"]) else {
                continue;
            };
            let selected = self.selectors.endpoints(selector, namespace) & self.universe.pods_in(namespace);
            for class in &selected {
                if let Some(list) = usize::try_from(class).ok().and_then(|i| out.get_mut(i)) {
                    list.push(index);
                }
            }
        }
        out
    }

    fn policy(&mut self, namespace: &str, m: &Manifest) -> Option<PolicyRules> {
        let spec = &m.object["spec"];
        Some(PolicyRules {
            egress: self.half(spec, namespace, Direction::Egress)?,
            ingress: self.half(spec, namespace, Direction::Ingress)?,
            proxied: self.proxied(spec),
        })
    }

    /// A direction of a policy: default deny when it has rules for it and
    /// `enableDefaultDeny` does not turn that off
    fn half(&mut self, spec: &Value, namespace: &str, direction: Direction) -> Option<Half> {
        let (key, deny_key) = match direction {
            Direction::Ingress => ("ingress", "ingressDeny"),
            Direction::Egress => ("egress", "egressDeny"),
        };
        Some(Half {
            isolates: super::evaluate::isolates(spec, key, deny_key),
            denies: self.rules(spec.get(deny_key), namespace, direction)?,
            allows: self.rules(spec.get(key), namespace, direction)?,
        })
    }

    fn rules(&mut self, list: Option<&Value>, namespace: &str, direction: Direction) -> Option<Vec<ReadRule>> {
        let mut out = Vec::new();
        for rule in list.and_then(Value::as_array).into_iter().flatten() {
            out.extend(self.rule(rule, namespace, direction)?);
        }
        Some(out)
    }

    /// One rule; `Some(None)` for one that matches nothing (`{}`)
    fn rule(&mut self, rule: &Value, namespace: &str, direction: Direction) -> Option<Option<ReadRule>> {
        let fields = peer_fields(direction);
        let names_a_peer = fields.iter().any(|k| rule.get(*k).is_some());
        let to_ports = rule.get("toPorts");
        if !names_a_peer && to_ports.is_none() {
            return Some(None);
        }
        let (peers, names) = if names_a_peer {
            self.peers(rule, namespace, direction)?
        } else {
            (self.universe.all().as_ref().clone(), ClassSet::new())
        };
        let pieces = self.pieces(to_ports, direction);
        Some(Some(ReadRule { peers, names, pieces }))
    }

    /// The classes a rule's peer fields name, and apart the names of `toFQDNs`
    fn peers(&mut self, rule: &Value, namespace: &str, direction: Direction) -> Option<(ClassSet, ClassSet)> {
        let [endpoints, entities, cidr, cidr_set, fqdns] = peer_fields(direction);
        let list = |key: &str| rule.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let mut peers = ClassSet::new();
        for selector in list(endpoints) {
            peers |= self.selectors.endpoints(selector, namespace);
        }
        for entity in list(entities).iter().filter_map(Value::as_str) {
            peers |= self.entity(entity);
        }
        for block in list(cidr).iter().filter_map(Value::as_str) {
            peers |= self.block(block, &[])?;
        }
        for entry in list(cidr_set) {
            let except: Vec<&str> = entry["except"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if let Some(block) = entry["cidr"].as_str() {
                peers |= self.block(block, &except)?;
            }
        }
        let mut names = ClassSet::new();
        if direction == Direction::Egress {
            for selector in list(fqdns) {
                names |= self.fqdn(selector);
            }
        }
        Some((peers, names))
    }

    /// The named outside classes a policy's egress DNS rules let the proxy learn
    fn proxied(&mut self, spec: &Value) -> ClassSet {
        let mut out = ClassSet::new();
        for rule in spec["egress"].as_array().into_iter().flatten() {
            for entry in rule["toPorts"].as_array().into_iter().flatten() {
                let patterns = entry.at(&["rules", "dns"]).and_then(Value::as_array);
                for pattern in patterns.into_iter().flatten() {
                    out |= self.fqdn(pattern);
                }
            }
        }
        out
    }

    /// An absent `toPorts` (or one that is no list) admits every port
    fn pieces(&mut self, to_ports: Option<&Value>, direction: Direction) -> Vec<Piece> {
        let Some(entries) = to_ports.and_then(Value::as_array) else {
            return vec![Piece::Numbered(Services::all())];
        };
        entries.iter().flat_map(|e| self.entry_pieces(e, direction)).collect()
    }

    /// One entry: its ports (none: every port of every protocol), each
    /// narrowed to the requests its HTTP rules admit
    fn entry_pieces(&mut self, entry: &Value, direction: Direction) -> Vec<Piece> {
        let requests = self.admitted(entry);
        let requests = requests.as_deref();
        let Some(ports) = entry["ports"].as_array().filter(|p| !p.is_empty()) else {
            let every = PROTOCOLS.iter().map(|&q| range(q, 1, u16::MAX, requests));
            return vec![Piece::Numbered(every.fold(Services::none(), |a, s| a.union(&s)))];
        };
        let mut numbered_services = Services::none();
        let mut out = Vec::new();
        for port in ports {
            let protocols = protocols_of(port["protocol"].as_str().unwrap_or("ANY"));
            let text = port["port"].as_str().unwrap_or("0");
            let span = match text.parse::<u32>() {
                Ok(0) => Some((1, u16::MAX)),
                Ok(first) => numbered(first, port["endPort"].as_u64()),
                Err(_) => {
                    out.extend(self.named(text, protocols, requests, direction));
                    continue;
                }
            };
            for (q, (first, last)) in protocols.iter().flat_map(|&q| span.map(|s| (q, s))) {
                numbered_services = numbered_services.union(&range(q, first, last, requests));
            }
        }
        if !numbered_services.is_empty() {
            out.push(Piece::Numbered(numbered_services));
        }
        out
    }

    /// A named port: on egress, per number towards the pods that give the
    /// name that number; on ingress, left for the pod
    fn named(
        &mut self,
        name: &str,
        protocols: Vec<Protocol>,
        requests: Option<&[u32]>,
        direction: Direction,
    ) -> Vec<Piece> {
        if direction == Direction::Ingress {
            return vec![Piece::OnPod {
                name: name.to_string(),
                protocols,
                requests: requests.map(<[u32]>::to_vec),
            }];
        }
        let mut out = Vec::new();
        for q in protocols {
            for (number, pods) in self.universe.named_ports(name, q) {
                out.push(Piece::Towards(range(q, number, number, requests), pods.clone()));
            }
        }
        out
    }

    /// The request classes an entry's HTTP rules admit; `None` when it has
    /// none or the universe asks of no request (a port-level rule then)
    fn admitted(&self, entry: &Value) -> Option<Vec<u32>> {
        if self.universe.request_count() == 0 {
            return None;
        }
        let rules = entry.at(&["rules", "http"]).and_then(Value::as_array)?;
        Some(
            self.universe
                .requests_where(|r| rules.iter().any(|h| http_matches(h, r))),
        )
    }

    fn entity(&self, entity: &str) -> ClassSet {
        let universe = self.universe;
        match entity {
            "all" => universe.all().as_ref().clone(),
            "world" => universe.outsides(),
            "kube-apiserver" => universe.outsides_where(|e| e.kube_apiserver),
            "cluster" => universe.pods(),
            _ => ClassSet::new(),
        }
    }

    /// The named outside classes an FQDN selector matches
    fn fqdn(&mut self, selector: &Value) -> ClassSet {
        let named = &self.named_outside;
        self.fqdns
            .entry(selector.to_string())
            .or_insert_with(|| {
                named
                    .iter()
                    .filter(|(_, name)| fqdn_matches(selector, name))
                    .map(|&(c, _)| c)
                    .collect()
            })
            .clone()
    }

    /// A CIDR less its excepts: outside classes only (a pod never matches);
    /// `None` when an outside class holds addresses it tells apart
    fn block(&mut self, cidr: &str, except: &[&str]) -> Option<ClassSet> {
        let memo_key = format!("{cidr}\0{except:?}");
        if let Some(known) = self.blocks.get(&memo_key) {
            return known.clone();
        }
        let set = match cidr.parse::<IpNet>() {
            Err(_) => Some(ClassSet::new()),
            Ok(net) => {
                let excepts: Vec<IpNet> = except.iter().filter_map(|e| e.parse().ok()).collect();
                self.universe
                    .outsides_covered(|ip| net.contains(ip) && !excepts.iter().any(|e| e.contains(ip)))
            }
        };
        self.blocks.insert(memo_key, set.clone());
        set
    }
}

mod selectors;

#[cfg(test)]
mod properties;
#[cfg(test)]
#[path = "symbolic_tests.rs"]
mod tests;
