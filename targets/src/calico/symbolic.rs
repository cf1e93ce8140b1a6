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
    evaluate::{account_labels, confinement, namespace_labels, picks, pod_labels, set_labels, Candidate, Policies},
    objects::{self, Entity, Policy, PortMatch},
    selector::{Scope, Selector},
};
use ipnet::IpNet;
use palisade_compiler::model::{Endpoint, Pod};
use palisade_intents::syntax::Protocol;
use palisade_relation::{
    services::key, universe::Class, Action, ClassSet, Direction, Rule, Services, Side, SideSet, Sides, Tier, Universe,
};
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

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

    /// Whether a name is involved at all (the resolution depends on the destination)
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
            let source = index.entity(&rule.source, policy, false)?;
            let destination = index.entity(&rule.destination, policy, domains)?;
            let (own, peers) = match direction {
                Direction::Egress => (source, destination),
                Direction::Ingress => (destination, source),
            };
            let ports = Ports::of(rule);
            let pieces = match direction {
                Direction::Egress => index.egress_pieces(&ports, &peers),
                Direction::Ingress => Vec::new(),
            };
            ids.push(self.rules.len());
            self.rules.push(RuleFacts {
                action,
                own: own & index.universe.pods(),
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

/// The pods that give a container port name each number, by name
type NamedPorts<'m> = HashMap<&'m str, BTreeMap<(Protocol, u16), ClassSet>>;

/// Indexes of the universe's pods as Calico sees them (their labels with
/// the ones Calico adds), and memoised selectors
struct Index<'p, 'u, 'm> {
    policies: &'p Policies<'p>,
    universe: &'u Universe<'m>,
    labels: HashMap<String, BTreeMap<String, ClassSet>>,
    namespaces: BTreeMap<&'m str, ClassSet>,
    accounts: BTreeMap<Option<&'m str>, ClassSet>,
    /// pods with an address, sorted by it
    addresses: Vec<(bool, u128, Class)>,
    /// the classes with an IPv6 (`true`) and an IPv4 address
    families: BTreeMap<bool, ClassSet>,
    unaddressed: ClassSet,
    named: NamedPorts<'m>,
    selectors: HashMap<(String, bool, bool), ClassSet>,
    namespace_selectors: HashMap<(String, bool, bool), ClassSet>,
    held: HashMap<Vec<IpNet>, ClassSet>,
}

impl<'p, 'u, 'm> Index<'p, 'u, 'm> {
    fn new(policies: &'p Policies<'p>, universe: &'u Universe<'m>) -> Self {
        let mut index = Self {
            policies,
            universe,
            labels: HashMap::new(),
            namespaces: BTreeMap::new(),
            accounts: BTreeMap::new(),
            addresses: Vec::new(),
            families: BTreeMap::new(),
            unaddressed: ClassSet::new(),
            named: HashMap::new(),
            selectors: HashMap::new(),
            namespace_selectors: HashMap::new(),
            held: HashMap::new(),
        };
        for (class, pod) in (0..universe.pod_count()).zip(&universe.model.pods) {
            index.add_pod(class, pod);
        }
        index.addresses.sort_unstable();
        for class in universe.outsides() {
            if let Some((outside, _)) = universe.outside(class) {
                index.families.entry(outside.span.v6).or_default().insert(class);
            }
        }
        index
    }

    fn add_pod(&mut self, class: Class, pod: &'m Pod) {
        for (k, v) in pod_labels(pod) {
            self.labels.entry(k).or_default().entry(v).or_default().insert(class);
        }
        self.namespaces.entry(pod.namespace.as_str()).or_default().insert(class);
        self.accounts
            .entry(pod.service_account.as_deref())
            .or_default()
            .insert(class);
        match pod.address() {
            Some(ip) => {
                let (v6, at) = point(ip);
                self.addresses.push((v6, at, class));
                self.families.entry(v6).or_default().insert(class);
            }
            None => {
                self.unaddressed.insert(class);
            }
        }
        for port in &pod.ports {
            if let Some(name) = port.name.as_deref() {
                let by = self.named.entry(name).or_default();
                by.entry((port.protocol, port.port)).or_default().insert(class);
            }
        }
    }

    /// The pods a policy applies to (direction aside), as `applies` decides
    fn applying(&mut self, policy: &Policy) -> ClassSet {
        let pods = self.universe.pods();
        let scope = match (policy.namespace, &policy.namespace_selector) {
            (Some(ns), _) => self.namespaces.get(ns).cloned().unwrap_or_default(),
            (None, Some(s)) => self.in_namespaces(s, Scope::PLAIN),
            (None, None) => pods.clone(),
        };
        // Calico rewrites all() here to has(projectcalico.org/serviceaccount).
        let accounts = match &policy.account_selector {
            Some(s) => self.with_accounts(|sa| {
                let scope = Scope {
                    all: sa.is_some(),
                    global: true,
                };
                s.matches_in(&account_labels(sa), scope)
            }),
            None => pods,
        };
        scope & accounts & self.select(&policy.selector, Scope::PLAIN)
    }

    /// The classes an entity picks, ports aside (`domains`: it is an egress
    /// Allow destination); `None` when an outside class is split by it
    fn entity(&mut self, entity: &Entity, policy: &Policy, domains: bool) -> Option<ClassSet> {
        let mut out = self.entity_pods(entity, policy);
        out |= self.entity_outsides(entity, policy, domains)?;
        Some(out)
    }

    /// The outside classes an entity picks, asked of every address of the
    /// model: a class is in only when all its addresses are
    fn entity_outsides(&self, entity: &Entity, policy: &Policy, domains: bool) -> Option<ClassSet> {
        let (model, universe) = (self.universe.model, self.universe);
        let mut some = ClassSet::new();
        let mut not_all = ClassSet::new();
        for (at, external) in model.externals.iter().enumerate() {
            let class = universe.class_of_external(at)?;
            let endpoint = Endpoint::External(external);
            if self
                .policies
                .entity_matches(entity, policy, model, &endpoint, None, domains)
            {
                some.insert(class);
            } else {
                not_all.insert(class);
            }
        }
        some.is_disjoint(&not_all).then_some(some)
    }

    /// The pods an entity picks, ports aside (a pod has no domain name)
    fn entity_pods(&mut self, entity: &Entity, policy: &Policy) -> ClassSet {
        if entity.domains.is_some() {
            return ClassSet::new();
        }
        let mut out = match &entity.nets {
            Some(nets) => self.pods_held(nets),
            None => self.universe.pods(),
        };
        out -= self.pods_held(&entity.not_nets);
        let (positive, confined) = confinement(entity, policy);
        if positive || confined {
            let (model, policies) = (self.universe.model, self.policies);
            let mut picked = self.picked_pods(entity, policy, confined);
            for set in &policies.objects.sets {
                if picks(entity, policy, model, confined, &Candidate::Set(set)) {
                    picked |= self.pods_held(&set.nets);
                }
            }
            out &= picked;
        }
        if let Some(not) = &entity.not_selector {
            let mut picked = self.select(not, Scope::PLAIN);
            let policies = self.policies;
            for set in &policies.objects.sets {
                if not.matches(&set_labels(set)) {
                    picked |= self.pods_held(&set.nets);
                }
            }
            out -= picked;
        }
        out
    }

    /// The pods themselves an entity's namespace scope, selector and
    /// service accounts pick (not by a network set's addresses)
    fn picked_pods(&mut self, entity: &Entity, policy: &Policy, confined: bool) -> ClassSet {
        let pods = self.universe.pods();
        let scope = match (&entity.namespace_selector, policy.namespace) {
            (Some(s), _) => self.in_namespaces(s, Scope::namespace_of(true)),
            (None, Some(own)) if confined => self.namespaces.get(own).cloned().unwrap_or_default(),
            (None, _) => pods.clone(),
        };
        let labels = match &entity.selector {
            Some(s) => self.select(s, Scope::PLAIN),
            None => pods.clone(),
        };
        let accounts = match &entity.accounts {
            Some(a) => self.with_accounts(|sa| {
                (a.names.is_empty() || sa.is_some_and(|n| a.names.iter().any(|x| x == n)))
                    && a.selector.as_ref().is_none_or(|s| s.matches(&account_labels(sa)))
            }),
            None => pods,
        };
        scope & labels & accounts
    }

    /// The pods of the namespaces a namespace selector picks; memoised (a
    /// policy per service names a few namespaces many times)
    fn in_namespaces(&mut self, selector: &Selector, scope: Scope) -> ClassSet {
        let key = (format!("{selector:?}"), scope.all, scope.global);
        if let Some(known) = self.namespace_selectors.get(&key) {
            return known.clone();
        }
        let model = self.universe.model;
        let set = self
            .namespaces
            .iter()
            .filter(|(ns, _)| selector.matches_in(&namespace_labels(model, ns), scope))
            .fold(ClassSet::new(), |acc, (_, pods)| acc | pods);
        self.namespace_selectors.insert(key, set.clone());
        set
    }

    /// The pods of the service accounts `keep` keeps (`None`: no account)
    fn with_accounts(&self, keep: impl Fn(Option<&str>) -> bool) -> ClassSet {
        self.accounts
            .iter()
            .filter(|(sa, _)| keep(**sa))
            .fold(ClassSet::new(), |acc, (_, pods)| acc | pods)
    }

    /// The pods whose address some of `nets` holds; memoised (every
    /// policy may name the same wide block)
    fn pods_held(&mut self, nets: &[IpNet]) -> ClassSet {
        if nets.is_empty() {
            return ClassSet::new();
        }
        if let Some(known) = self.held.get(nets) {
            return known.clone();
        }
        let set = self.pods_within(nets);
        self.held.insert(nets.to_vec(), set.clone());
        set
    }

    fn pods_within(&self, nets: &[IpNet]) -> ClassSet {
        let mut out = ClassSet::new();
        for net in nets {
            let (v6, first) = point(net.network());
            let (_, last) = point(net.broadcast());
            let start = self.addresses.partition_point(|&(f, at, _)| (f, at) < (v6, first));
            let within = self.addresses.get(start..).into_iter().flatten();
            out.extend(
                within
                    .take_while(|&&(f, at, _)| (f, at) <= (v6, last))
                    .map(|&(_, _, class)| class),
            );
        }
        out
    }

    /// The pods a selector selects, `all()` and `global()` as `scope` says; memoised
    fn select(&mut self, selector: &Selector, scope: Scope) -> ClassSet {
        let key = (format!("{selector:?}"), scope.all, scope.global);
        if let Some(known) = self.selectors.get(&key) {
            return known.clone();
        }
        let set = self.compile(selector, scope);
        self.selectors.insert(key, set.clone());
        set
    }

    /// A selector by the label index, term by term as `matches_in` reads it
    fn compile(&self, selector: &Selector, scope: Scope) -> ClassSet {
        let pods = self.universe.pods();
        let with = |k: &str, keep: &dyn Fn(&str) -> bool| {
            self.labels
                .get(k)
                .into_iter()
                .flatten()
                .filter(|(v, _)| keep(v))
                .fold(ClassSet::new(), |acc, (_, set)| acc | set)
        };
        // `==` and `in` look their values up: a selector per service must
        // not walk every value of `app`
        let exactly = |k: &str, values: &mut dyn Iterator<Item = &String>| {
            let by = self.labels.get(k);
            values
                .filter_map(|v| by.and_then(|by| by.get(v)))
                .fold(ClassSet::new(), |acc, set| acc | set)
        };
        match selector {
            Selector::All if scope.all => pods,
            Selector::Global if scope.global => pods,
            Selector::All | Selector::Global => ClassSet::new(),
            Selector::Eq(k, v) => exactly(k, &mut std::iter::once(v)),
            Selector::Ne(k, v) => pods - exactly(k, &mut std::iter::once(v)),
            Selector::In(k, vs) => exactly(k, &mut vs.iter()),
            Selector::NotIn(k, vs) => pods - exactly(k, &mut vs.iter()),
            Selector::Contains(k, v) => with(k, &|x| x.contains(v.as_str())),
            Selector::StartsWith(k, v) => with(k, &|x| x.starts_with(v.as_str())),
            Selector::EndsWith(k, v) => with(k, &|x| x.ends_with(v.as_str())),
            Selector::Has(k) => with(k, &|_| true),
            Selector::Not(e) => pods - self.compile(e, scope),
            Selector::And(a, b) => self.compile(a, scope) & self.compile(b, scope),
            Selector::Or(a, b) => self.compile(a, scope) | self.compile(b, scope),
        }
    }

    /// An egress rule's services towards its destinations: where no
    /// destination names a port of the rule, one piece; at each number some
    /// destination gives a named port of the rule, the destinations for
    /// which that number is in (a `notPorts` name takes it out, a `ports`
    /// name puts it in where the numbers do not)
    fn egress_pieces(&self, ports: &Ports, peers: &ClassSet) -> Vec<(Services, ClassSet)> {
        let mut special: BTreeMap<(Protocol, u16), (ClassSet, ClassSet)> = BTreeMap::new();
        let positive: Vec<&String> = ports.ports.iter().flat_map(|(_, n)| n).collect();
        for (name, negative) in positive
            .iter()
            .map(|n| (*n, false))
            .chain(ports.not_ports.1.iter().map(|n| (n, true)))
        {
            for (&point, classes) in self.named.get(name.as_str()).into_iter().flatten() {
                let (give, take) = special.entry(point).or_default();
                *(if negative { take } else { give }) |= classes;
            }
        }
        let points: Vec<(Protocol, u16)> = special.keys().copied().collect();
        let elsewhere = ports.resolved(|_| Services::none()).difference(&services_of(&points));
        let mut pieces = vec![(elsewhere, peers.clone())];
        let numbered = ports.protocols.difference(&ports.not_ports.0);
        for ((protocol, number), (give, take)) in special {
            let point = Services::ports(protocol, number, number).intersection(&numbered);
            let at = key(protocol, number, 0);
            let by_number = ports.ports.as_ref().is_none_or(|(services, _)| services.contains(at));
            let reached = if by_number { peers.clone() } else { peers & &give };
            pieces.push((point, reached - take));
        }
        pieces.retain(|(services, classes)| !services.is_empty() && !classes.is_empty());
        pieces
    }

    /// A rule's relation rules in the side of `pod`: its named ports
    /// resolved on the pod (ingress) or its pieces (egress), its peers cut
    /// by `ipVersion` (`family`: the pod's own, IPv4 `true`)
    fn rule_on(&self, rule: &RuleFacts, pod: &Pod, family: Option<bool>, direction: Direction) -> Vec<Rule> {
        let Some(peers) = self.by_version(rule, family, direction) else {
            return Vec::new();
        };
        let rules: Vec<(Services, ClassSet)> = match direction {
            Direction::Ingress => {
                let services = rule.ports.resolved(|name| services_of(&numbers_on(pod, name)));
                vec![(services, peers)]
            }
            Direction::Egress => rule
                .pieces
                .iter()
                .map(|(services, classes)| (services.clone(), classes & &peers))
                .collect(),
        };
        rules
            .into_iter()
            .filter(|(services, classes)| !services.is_empty() && !classes.is_empty())
            .map(|(services, peers)| Rule {
                action: rule.action,
                services,
                peers,
            })
            .collect()
    }

    /// The peers a rule matches from or to a pod of this address family:
    /// `ipVersion` asks the source's family, or the destination's where the
    /// source has no address. `None`: the rule never matches on this side.
    fn by_version(&self, rule: &RuleFacts, family: Option<bool>, direction: Direction) -> Option<ClassSet> {
        let Some(v4) = rule.v4 else {
            return Some(rule.peers.clone());
        };
        let of_family = self.families.get(&!v4).cloned().unwrap_or_default();
        match (direction, family) {
            // The pod is the source and has an address: it decides alone.
            (Direction::Egress, Some(own)) => (own == v4).then(|| rule.peers.clone()),
            (Direction::Egress, None) => Some(&rule.peers & &of_family),
            (Direction::Ingress, own) => {
                let mut peers = of_family;
                if own == Some(v4) {
                    peers |= &self.unaddressed;
                }
                Some(&rule.peers & &peers)
            }
        }
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
#[path = "symbolic_scale.rs"]
mod scale;
#[cfg(test)]
#[path = "symbolic_tests.rs"]
mod tests;
