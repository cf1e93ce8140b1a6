//! The Calico semantics of `evaluate.rs` as sets: every pod class's egress
//! and ingress side at once, for the relation crate.
//!
//! A side of a pod is the tiers that have a policy applying to it (with
//! rules for that direction), each the concatenation of those policies'
//! rules in order, ending in Deny or, for a `Pass` tier, going on; after
//! the last tier everything passes ([`Side`] is exactly that shape). A rule
//! is decided by three things the sets keep apart: whether its entity on
//! the pod's own end picks the pod (then it is in the pod's side, or not
//! at all), the classes its entity on the other end picks (a selector is
//! resolved once, by a label index, into a [`ClassSet`]), and its services.
//! Two things tie a rule to both ends, and the sides carry them per pod: a
//! named port resolves on the destination pod (an egress rule splits by
//! the peer classes that give the name each number; an ingress rule
//! resolves on the pod itself), and `ipVersion` asks the family of the
//! source address, or of the destination when the source has none.
//!
//! Pods that end up with the same rules (and the same named ports and
//! address family where rules ask) share one resolved side.
//!
//! Where the universe cannot carry the evaluator's answer, `sides` answers
//! `None` rather than a wrong set: an outside class whose addresses a
//! rule's nets, network sets or domains tell apart, and port 0, which the
//! services domain leaves out but a model may probe.

use super::{
    evaluate::Policies,
    objects::{self, Policy, PortMatch},
};
use index::Index;
use palisade_compiler::model::Pod;
use palisade_intents::syntax::Protocol;
use palisade_relation::{universe::Class, Action, ClassSet, Direction, Services, Side, SideSet, Sides, Tier, Universe};
use std::collections::HashMap;

const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// Both sides of every pod class, deciding as [`Policies`] decides each
/// connection; `None` where the classes cannot say what the evaluator says
pub(super) fn sides(policies: &Policies, universe: &Universe) -> Option<Sides> {
    if universe.model.ports.iter().any(|&(_, port)| port == 0) {
        return None;
    }
    let count = usize::try_from(universe.pod_count()).ok()?;
    if !policies.objects.problems.is_empty() {
        // The evaluator denies everything while a problem stands; no
        // connection of a model joins two outside ends, so empty sides say so.
        return Some(Sides {
            egress: vec![SideSet::default(); count],
            ingress: vec![SideSet::default(); count],
        });
    }
    let mut index = Index::new(policies, universe);
    let facts = Facts::of(policies, &mut index)?;
    let applying = facts.applying(count);
    Some(Sides {
        egress: facts.sides(&index, &applying, Direction::Egress)?,
        ingress: facts.sides(&index, &applying, Direction::Ingress)?,
    })
}

/// A rule's ports before named ports are resolved: `None` in `ports` is
/// every port; names resolve on the destination pod
#[derive(Debug, Clone, Default)]
struct Ports {
    protocols: Services,
    ports: Option<(Services, Vec<String>)>,
    not_ports: (Services, Vec<String>),
}

impl Ports {
    fn of(rule: &objects::Rule) -> Self {
        let split = |list: &[PortMatch]| {
            let mut numbered = Services::none();
            let mut named = Vec::new();
            for port in list {
                match port {
                    PortMatch::Range(first, last) => {
                        for protocol in PROTOCOLS {
                            numbered = numbered.union(&Services::ports(protocol, *first, *last));
                        }
                    }
                    PortMatch::Named(name) => named.push(name.clone()),
                }
            }
            (numbered, named)
        };
        let destination = &rule.destination;
        Self {
            protocols: protocols(rule.protocol, rule.not_protocol),
            ports: destination.ports.as_deref().map(split),
            not_ports: split(&destination.not_ports),
        }
    }

    /// The names `ports` and `notPorts` give (they resolve on the destination)
    fn names(&self) -> impl Iterator<Item = &String> {
        self.ports.iter().flat_map(|(_, n)| n).chain(&self.not_ports.1)
    }

    /// The services of the rule towards a destination that gives its
    /// named ports these numbers
    fn resolved(&self, numbers: impl Fn(&str) -> Services) -> Services {
        let numbered = |(services, names): &(Services, Vec<String>)| {
            names.iter().fold(services.clone(), |acc, n| acc.union(&numbers(n)))
        };
        let positive = self.ports.as_ref().map_or_else(Services::all, numbered);
        self.protocols
            .intersection(&positive)
            .difference(&numbered(&self.not_ports))
    }
}

/// The services `protocol` and `notProtocol` leave (numbers other than
/// TCP's, UDP's and SCTP's match no connection of the domain)
fn protocols(protocol: Option<u64>, not: Option<u64>) -> Services {
    let of = |number: u64| match number {
        6 => Services::protocol(Protocol::Tcp),
        17 => Services::protocol(Protocol::Udp),
        132 => Services::protocol(Protocol::Sctp),
        _ => Services::none(),
    };
    let base = protocol.map_or_else(Services::all, of);
    not.map_or(base.clone(), |n| base.difference(&of(n)))
}

/// One Calico rule, resolved to classes
struct RuleFacts {
    action: Action,
    /// the pods whose side the rule is part of (its entity on their end)
    own: ClassSet,
    /// the classes at the other end its entity picks
    peers: ClassSet,
    /// `ipVersion`: whether it asks for IPv4
    v4: Option<bool>,
    ports: Ports,
    /// egress: the rule's (services, destinations), named ports resolved
    pieces: Vec<(Services, ClassSet)>,
}

/// One policy: whom it applies to, and its rules (indices into `rules`)
struct PolicyFacts {
    tier: usize,
    applies: ClassSet,
    ingress: Option<Vec<usize>>,
    egress: Option<Vec<usize>>,
}

struct Facts {
    policies: Vec<PolicyFacts>,
    rules: Vec<RuleFacts>,
    /// Deny at the end of each tier (not `Pass`)
    deny_at_end: Vec<bool>,
}

/// What a pod's side is made of: which policies make a tier apply and which
/// rules count, with the pod's own facts the rules ask about
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    Policy(usize),
    Rule(usize),
    /// the pod's address family (`Some(true)`: IPv4), where a rule asks
    Family(Option<bool>),
    /// the numbers the pod gives a named port an ingress rule names
    Named(Vec<(Protocol, u16)>),
}

impl Facts {
    fn of(policies: &Policies, index: &mut Index) -> Option<Self> {
        let mut out = Self {
            policies: Vec::new(),
            rules: Vec::new(),
            deny_at_end: policies.objects.tiers.iter().map(|t| !t.pass_at_end).collect(),
        };
        for &(tier, at) in &policies.flat {
            let policy = policies.policy((tier, at))?;
            let applies = index.applying(policy);
            let ingress = match &policy.ingress {
                Some(rules) => Some(out.add_rules(rules, policy, Direction::Ingress, index)?),
                None => None,
            };
            let egress = match &policy.egress {
                Some(rules) => Some(out.add_rules(rules, policy, Direction::Egress, index)?),
                None => None,
            };
            out.policies.push(PolicyFacts {
                tier,
                applies,
                ingress,
                egress,
            });
        }
        Some(out)
    }

    fn add_rules(
        &mut self,
        rules: &[objects::Rule],
        policy: &Policy,
        direction: Direction,
        index: &mut Index,
    ) -> Option<Vec<usize>> {
        let mut ids = Vec::new();
        for rule in rules {
            let action = match rule.action {
                objects::Action::Allow => Action::Allow,
                objects::Action::Deny => Action::Deny,
                objects::Action::Pass => Action::Pass,
                // Log decides nothing: the next rule is asked
                objects::Action::Log => continue,
            };
            // Domains count only on an egress Allow destination (Calico Enterprise).
            let domains = direction == Direction::Egress && action == Action::Allow;
            // The pod's own end is a pod: only the other end asks the outside
            // classes (and may split one).
            let (own, peers) = match direction {
                Direction::Egress => (&rule.source, &rule.destination),
                Direction::Ingress => (&rule.destination, &rule.source),
            };
            let own = index.own_end(own, policy);
            let peers = index.entity(peers, policy, domains)?;
            let ports = Ports::of(rule);
            let pieces = match direction {
                Direction::Egress => index.egress_pieces(&ports, &peers),
                Direction::Ingress => Vec::new(),
            };
            ids.push(self.rules.len());
            self.rules.push(RuleFacts {
                action,
                own,
                peers,
                v4: rule.ip_version.map(|v| v == 4),
                ports,
                pieces,
            });
        }
        Some(ids)
    }

    /// For each pod class, the policies (indices) that apply to it, in order
    fn applying(&self, count: usize) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); count];
        for (at, policy) in self.policies.iter().enumerate() {
            for class in &policy.applies {
                if let Some(list) = usize::try_from(class).ok().and_then(|i| out.get_mut(i)) {
                    list.push(at);
                }
            }
        }
        out
    }

    fn rules_of(policy: &PolicyFacts, direction: Direction) -> Option<&[usize]> {
        match direction {
            Direction::Egress => policy.egress.as_deref(),
            Direction::Ingress => policy.ingress.as_deref(),
        }
    }

    /// Every pod class's side of one direction
    fn sides(&self, index: &Index, applying: &[Vec<usize>], direction: Direction) -> Option<Vec<SideSet>> {
        let mut resolved: HashMap<Vec<Part>, SideSet> = HashMap::new();
        let mut out = Vec::with_capacity(applying.len());
        for (class, list) in (0u32..).zip(applying) {
            let pod = index.universe.pod(class)?;
            let parts = self.parts(class, pod, list, direction);
            if let Some(side) = resolved.get(&parts) {
                out.push(side.clone());
                continue;
            }
            let side = self.side(index, pod, &parts, direction).resolve(index.universe);
            resolved.insert(parts, side.clone());
            out.push(side);
        }
        Some(out)
    }

    /// What the side of `pod` is made of
    fn parts(&self, class: Class, pod: &Pod, list: &[usize], direction: Direction) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut family = false;
        for &at in list {
            let Some(rules) = self.policies.get(at).and_then(|p| Self::rules_of(p, direction)) else {
                continue;
            };
            parts.push(Part::Policy(at));
            for &id in rules {
                let Some(rule) = self.rules.get(id).filter(|r| r.own.contains(class)) else {
                    continue;
                };
                parts.push(Part::Rule(id));
                family |= rule.v4.is_some();
                if direction == Direction::Ingress {
                    // one part per name: a `ports` name and a `notPorts` name
                    // giving the same number resolve apart
                    parts.extend(rule.ports.names().map(|n| Part::Named(numbers_on(pod, n))));
                }
            }
        }
        if family {
            parts.push(Part::Family(pod.address().map(|ip| ip.is_ipv4())));
        }
        parts
    }

    /// The side those parts make, for `pod`
    fn side(&self, index: &Index, pod: &Pod, parts: &[Part], direction: Direction) -> Side {
        let family = pod.address().map(|ip| ip.is_ipv4());
        let mut tiers: Vec<(usize, Tier)> = Vec::new();
        for part in parts {
            match part {
                Part::Policy(at) => {
                    let Some(tier) = self.policies.get(*at).map(|p| p.tier) else {
                        continue;
                    };
                    if tiers.last().is_none_or(|(t, _)| *t != tier) {
                        let deny_unmatched = self.deny_at_end.get(tier).copied().unwrap_or(true);
                        tiers.push((
                            tier,
                            Tier {
                                rules: Vec::new(),
                                deny_unmatched,
                            },
                        ));
                    }
                }
                Part::Rule(id) => {
                    let (Some(rule), Some((_, tier))) = (self.rules.get(*id), tiers.last_mut()) else {
                        continue;
                    };
                    tier.rules.extend(index.rule_on(rule, pod, family, direction));
                }
                Part::Family(_) | Part::Named(_) => {}
            }
        }
        Side {
            tiers: tiers.into_iter().map(|(_, t)| t).collect(),
            allow_unmatched: true,
        }
    }
}

/// The numbers `pod` gives its container port `name`, per protocol
fn numbers_on(pod: &Pod, name: &str) -> Vec<(Protocol, u16)> {
    pod.ports
        .iter()
        .filter(|c| c.name.as_deref() == Some(name))
        .map(|c| (c.protocol, c.port))
        .collect()
}

fn services_of(numbers: &[(Protocol, u16)]) -> Services {
    numbers
        .iter()
        .fold(Services::none(), |acc, &(p, n)| acc.union(&Services::ports(p, n, n)))
}

mod index;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod scale;
#[cfg(test)]
mod tests;
