//! The classes Calico's matches pick, resolved once per selector, block
//! and namespace selector by indexes of the universe's pods (their labels
//! with the ones Calico adds, their namespaces, accounts, addresses and
//! named ports), and a rule's relation rules on one pod's side.

use super::{numbers_on, services_of, Ports, RuleFacts};
use crate::calico::{
    evaluate::{account_labels, confinement, namespace_labels, picks, pod_labels, set_labels, Candidate, Policies},
    objects::{Entity, NetworkSet, Policy},
    selector::{Scope, Selector},
};
use ipnet::IpNet;
use palisade_compiler::model::{Endpoint, Pod};
use palisade_intents::syntax::Protocol;
use palisade_relation::{services::key, universe::Class, ClassSet, Direction, Rule, Services, Universe};
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

/// A memo by entity, then by the few other things its answer depends on
type PerEntity<K, T> = HashMap<Entity, Vec<(K, T)>>;

/// Indexes of the universe's pods as Calico sees them (their labels with
/// the ones Calico adds), and memoised selectors
pub(super) struct Index<'p, 'u, 'm> {
    policies: &'p Policies<'p>,
    pub(super) universe: &'u Universe<'m>,
    labels: HashMap<String, BTreeMap<String, ClassSet>>,
    namespaces: BTreeMap<&'m str, ClassSet>,
    accounts: BTreeMap<Option<&'m str>, ClassSet>,
    /// pods with an address, sorted by it
    addresses: Vec<(bool, u128, Class)>,
    /// the classes with an IPv6 (`true`) and an IPv4 address
    families: BTreeMap<bool, ClassSet>,
    unaddressed: ClassSet,
    selectors: HashMap<(String, bool, bool), ClassSet>,
    namespace_selectors: HashMap<(String, bool, bool), ClassSet>,
    held: HashMap<Vec<IpNet>, ClassSet>,
    /// by an entity, then its policy's namespace and `domains`: all it depends on besides the sets
    entities: PerEntity<(Option<String>, bool), Option<ClassSet>>,
    /// the pods of a rule's own end, by the entity, then its policy's namespace
    own_ends: PerEntity<Option<String>, ClassSet>,
    /// the network sets by each of their labels
    sets_by_label: HashMap<&'p str, HashMap<&'p str, Vec<&'p NetworkSet>>>,
}

impl<'p, 'u, 'm> Index<'p, 'u, 'm> {
    pub(super) fn new(policies: &'p Policies<'p>, universe: &'u Universe<'m>) -> Self {
        let mut index = Self {
            policies,
            universe,
            labels: HashMap::new(),
            namespaces: BTreeMap::new(),
            accounts: BTreeMap::new(),
            addresses: Vec::new(),
            families: BTreeMap::new(),
            unaddressed: ClassSet::new(),
            selectors: HashMap::new(),
            namespace_selectors: HashMap::new(),
            held: HashMap::new(),
            entities: HashMap::new(),
            own_ends: HashMap::new(),
            sets_by_label: HashMap::new(),
        };
        for set in &policies.objects.sets {
            for (k, v) in set_labels(set) {
                let by_value = index.sets_by_label.entry(k).or_default();
                by_value.entry(v).or_default().push(set);
            }
        }
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
    }

    /// The pods a policy applies to (direction aside), as `applies` decides
    pub(super) fn applying(&mut self, policy: &Policy) -> ClassSet {
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
    pub(super) fn entity(&mut self, entity: &Entity, policy: &Policy, domains: bool) -> Option<ClassSet> {
        // many rules name the same peer
        let known = self.entities.get(entity).into_iter().flatten();
        if let Some((_, picked)) = known
            .into_iter()
            .find(|((ns, d), _)| ns.as_deref() == policy.namespace && *d == domains)
        {
            return picked.clone();
        }
        let picked = self
            .outsides_picked(entity, policy, domains)
            .map(|outsides| self.entity_pods(entity, policy) | outsides);
        let namespace = policy.namespace.map(str::to_string);
        let known = self.entities.entry(entity.clone()).or_default();
        known.push(((namespace, domains), picked.clone()));
        picked
    }

    /// The pods of a rule's own end ([`Index::entity_pods`]), memoised
    pub(super) fn own_end(&mut self, entity: &Entity, policy: &Policy) -> ClassSet {
        let known = self.own_ends.get(entity).into_iter().flatten();
        if let Some((_, pods)) = known.into_iter().find(|(ns, _)| ns.as_deref() == policy.namespace) {
            return pods.clone();
        }
        let pods = self.entity_pods(entity, policy);
        let namespace = policy.namespace.map(str::to_string);
        self.own_ends
            .entry(entity.clone())
            .or_default()
            .push((namespace, pods.clone()));
        pods
    }

    /// The outside classes an entity picks, asked of every address of the
    /// model: a class is in only when all its addresses are
    fn outsides_picked(&self, entity: &Entity, policy: &Policy, domains: bool) -> Option<ClassSet> {
        let (model, universe) = (self.universe.model, self.universe);
        // An outside address is picked by a selector only through a network
        // set the selector picks: with none, no address is, and asking each
        // address of each set would cost addresses x sets per entity
        let (positive, confined) = confinement(entity, policy);
        if (positive || confined)
            && !self
                .sets_selectable(entity.selector.as_ref())
                .any(|set| picks(entity, policy, model, confined, &Candidate::Set(set)))
        {
            return Some(ClassSet::new());
        }
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
    pub(super) fn entity_pods(&mut self, entity: &Entity, policy: &Policy) -> ClassSet {
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
            let model = self.universe.model;
            let mut picked = self.picked_pods(entity, policy, confined);
            let sets: Vec<&NetworkSet> = self
                .sets_selectable(entity.selector.as_ref())
                .filter(|set| picks(entity, policy, model, confined, &Candidate::Set(set)))
                .collect();
            for set in sets {
                picked |= self.pods_held(&set.nets);
            }
            out &= picked;
        }
        if let Some(not) = &entity.not_selector {
            let mut picked = self.select(not, Scope::PLAIN);
            let sets: Vec<&NetworkSet> = self
                .sets_selectable(Some(not))
                .filter(|set| not.matches(set_labels(set)))
                .collect();
            for set in sets {
                picked |= self.pods_held(&set.nets);
            }
            out -= picked;
        }
        out
    }

    /// The network sets `selector` can pick: those with a label it requires,
    /// where it requires one (every set of the policies otherwise)
    fn sets_selectable(&self, selector: Option<&Selector>) -> Box<dyn Iterator<Item = &'p NetworkSet> + '_> {
        match selector.and_then(Selector::required_label) {
            Some((k, v)) => Box::new(
                self.sets_by_label
                    .get(k)
                    .and_then(|by_value| by_value.get(v))
                    .into_iter()
                    .flatten()
                    .copied(),
            ),
            None => Box::new(self.policies.objects.sets.iter()),
        }
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
    pub(super) fn egress_pieces(&self, ports: &Ports, peers: &ClassSet) -> Vec<(Services, ClassSet)> {
        let mut special: BTreeMap<(Protocol, u16), (ClassSet, ClassSet)> = BTreeMap::new();
        let positive: Vec<&String> = ports.ports.iter().flat_map(|(_, n)| n).collect();
        for (name, negative) in positive
            .iter()
            .map(|n| (*n, false))
            .chain(ports.not_ports.1.iter().map(|n| (n, true)))
        {
            for (point, classes) in self.universe.named_port_numbers(name) {
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
    pub(super) fn rule_on(&self, rule: &RuleFacts, pod: &Pod, family: Option<bool>, direction: Direction) -> Vec<Rule> {
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
