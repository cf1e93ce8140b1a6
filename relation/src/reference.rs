//! The intents' relation, by the reference semantics
//! (`palisade_compiler::semantics`) read as sets: the egress side of a pod
//! admits what the edges naming it as source allow, the ingress side what
//! the edges naming it as destination allow (not the `via: egress-gateway`
//! ones: the gateway's own ingress is the mesh's business), and a side of a
//! namespace palisade does not isolate in that direction admits everything.

use crate::{
    services::Services,
    sides::{Rule, Side, Sides},
    universe::{ClassSet, Universe},
};
use palisade_compiler::{
    ir::{Edge, Ir, Peer},
    model::{Endpoint, Request},
    semantics::{matches, rules_admit, through_gateway},
};
use palisade_intents::{model::HttpRule, syntax::Entity, types::Via};
use std::collections::{BTreeMap, HashMap};

/// Both sides of every pod of the universe, as the intents decide them
pub fn sides(ir: &Ir, universe: &Universe) -> Sides {
    let count = usize::try_from(universe.pod_count()).unwrap_or(0);
    let mut egress: Vec<Vec<Rule>> = vec![Vec::new(); count];
    let mut ingress: Vec<Vec<Rule>> = vec![Vec::new(); count];
    // an edge list names each service many times
    let mut known: HashMap<&Peer, ClassSet> = HashMap::new();
    let mut peers_of = |peer| known.entry(peer).or_insert_with(|| peers(ir, universe, peer)).clone();
    let requests = Requests::new(universe);
    for edge in &ir.edges {
        let from = peers_of(&edge.from);
        let to = peers_of(&edge.to);
        if from.is_empty() || to.is_empty() {
            continue;
        }
        let services = EdgeServices::new(edge, universe, &requests);
        for source in from.iter().filter(|&c| c < universe.pod_count()) {
            if let Some(rules) = usize::try_from(source).ok().and_then(|i| egress.get_mut(i)) {
                rules.extend(services.towards(&to));
            }
        }
        if through_gateway(edge) {
            continue;
        }
        for destination in to.iter().filter(|&c| c < universe.pod_count()) {
            let at = services.at(destination);
            if at.is_empty() {
                continue;
            }
            if let Some(rules) = usize::try_from(destination).ok().and_then(|i| ingress.get_mut(i)) {
                rules.push(Rule::allow(at, from.clone()));
            }
        }
    }
    let isolated = |class: usize, ingress: bool| {
        universe
            .pod(u32::try_from(class).unwrap_or(u32::MAX))
            .and_then(|pod| ir.namespaces.get(&pod.namespace))
            .is_some_and(|ns| {
                if ingress {
                    ns.isolates_ingress()
                } else {
                    ns.isolates_egress()
                }
            })
    };
    let resolve = |rules: Vec<Vec<Rule>>, ingress: bool| {
        rules
            .into_iter()
            .enumerate()
            .map(|(class, rules)| Side::union(isolated(class, ingress), rules).resolve(universe))
            .collect()
    };
    Sides {
        egress: resolve(egress, false),
        ingress: resolve(ingress, true),
    }
}

/// The classes a peer of the intents names: pods by the indexes, outside
/// classes by the reference semantics asked of their representative
pub fn peers(ir: &Ir, universe: &Universe, peer: &Peer) -> ClassSet {
    let profile = &ir.profile;
    let pods = match peer {
        Peer::Service { namespace, name } => ir
            .service(namespace, name)
            .map(|s| universe.pods_in(namespace) & universe.pods_labelled(&s.selector))
            .unwrap_or_default(),
        Peer::Namespace(ns) => universe.pods_in(ns),
        Peer::Pods { namespace, selector } => universe.pods_in(namespace) & universe.pods_labelled(selector),
        Peer::Fqdn {
            via: Via::EgressGateway,
            ..
        } => profile
            .egress_gateway
            .as_ref()
            .map(|g| universe.pods_in(&g.pods.namespace) & universe.pods_labelled(&g.pods.selector))
            .unwrap_or_default(),
        Peer::Fqdn { .. } => ClassSet::new(),
        Peer::Entity(Entity::Dns) => {
            universe.pods_in(&profile.dns.namespace) & universe.pods_labelled(&profile.dns.selector)
        }
        Peer::Cidr { .. } | Peer::Entity(_) => ClassSet::new(),
    };
    match peer {
        // pods only: asking every outside class of every edge was most of the relation's cost
        Peer::Service { .. } | Peer::Namespace(_) | Peer::Pods { .. } => pods,
        _ => pods | universe.outsides_where(|e| matches(ir, peer, &Endpoint::External(e))),
    }
}

/// The services an edge allows, by destination: its numbered ports (or
/// every port) for every destination, and each named port on the pods that
/// give that name to a number
struct EdgeServices {
    numbered: Services,
    named: Vec<(Services, ClassSet)>,
}

impl EdgeServices {
    fn new(edge: &Edge, universe: &Universe, requests: &Requests) -> Self {
        let requests = (!edge.http.is_empty() && universe.request_count() > 0).then(|| requests.admitted(&edge.http));
        let range = |protocol, first, last| match &requests {
            Some(admitted) => Services::requests(protocol, first, last, admitted),
            None => Services::ports(protocol, first, last),
        };
        if edge.ports.is_empty() {
            let numbered = match &requests {
                Some(_) => [
                    palisade_intents::syntax::Protocol::Tcp,
                    palisade_intents::syntax::Protocol::Udp,
                    palisade_intents::syntax::Protocol::Sctp,
                ]
                .iter()
                .fold(Services::none(), |acc, &p| acc.union(&range(p, 1, u16::MAX))),
                None => Services::all(),
            };
            return Self {
                numbered,
                named: Vec::new(),
            };
        }
        let mut numbered = Services::none();
        let mut named = Vec::new();
        for port in &edge.ports {
            match &port.name {
                None => numbered = numbered.union(&range(port.protocol, port.first, port.last)),
                Some(name) => {
                    for (number, pods) in universe.named_ports(name, port.protocol) {
                        named.push((range(port.protocol, number, number), pods.clone()));
                    }
                }
            }
        }
        Self { numbered, named }
    }

    /// The rules of a source's egress side towards `to`
    fn towards(&self, to: &ClassSet) -> Vec<Rule> {
        let mut rules = Vec::new();
        if !self.numbered.is_empty() {
            rules.push(Rule::allow(self.numbered.clone(), to.clone()));
        }
        for (services, pods) in &self.named {
            let reached = to & pods;
            if !reached.is_empty() {
                rules.push(Rule::allow(services.clone(), reached));
            }
        }
        rules
    }

    /// What the edge allows into one destination pod
    fn at(&self, destination: u32) -> Services {
        self.named
            .iter()
            .filter(|(_, pods)| pods.contains(destination))
            .fold(self.numbered.clone(), |acc, (services, _)| acc.union(services))
    }
}

/// The request classes by path: an edge's HTTP rules look up the requests
/// their paths can admit rather than ask every request of the universe, so
/// the relation stays linear in HTTP edges however many requests the
/// intents name
struct Requests<'m> {
    by_path: BTreeMap<&'m str, Vec<(u32, &'m Request)>>,
}

impl<'m> Requests<'m> {
    fn new(universe: &Universe<'m>) -> Self {
        let mut by_path: BTreeMap<&str, Vec<(u32, &Request)>> = BTreeMap::new();
        for class in 1..=universe.request_count() {
            if let Some(request) = universe.request(class) {
                by_path.entry(request.path.as_str()).or_default().push((class, request));
            }
        }
        Self { by_path }
    }

    /// The request classes some of `rules` admits, in order, as
    /// [`rules_admit`] decides each
    fn admitted(&self, rules: &[HttpRule]) -> Vec<u32> {
        let mut out = Vec::new();
        for rule in rules {
            let candidates: Box<dyn Iterator<Item = &Vec<(u32, &Request)>>> = match rule.path.as_deref() {
                None => Box::new(self.by_path.values()),
                Some(path) => match path.strip_suffix('*') {
                    Some(prefix) => Box::new(
                        self.by_path
                            .range(prefix..)
                            .take_while(move |(p, _)| p.starts_with(prefix))
                            .map(|(_, requests)| requests),
                    ),
                    None => Box::new(self.by_path.get(path).into_iter()),
                },
            };
            let one = std::slice::from_ref(rule);
            out.extend(
                candidates
                    .flatten()
                    .filter(|(_, request)| rules_admit(one, request))
                    .map(|&(class, _)| class),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
