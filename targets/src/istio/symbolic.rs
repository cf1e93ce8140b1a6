//! The Istio layer as sets: the manifests read by the rules of `evaluate.rs`,
//! answered for every connection of a universe at once.
//!
//! Why the evaluator's decision separates into two sides: a connection to a
//! pod is decided by that pod's AuthorizationPolicies alone, with the source
//! as the peer (the ingress side); a pod's connection to an outside address
//! by the source's Sidecar, the ServiceEntries and routes its namespace sees,
//! and the gateway's policies read with the source's identity and the host as
//! SNI (the egress side, where the outside class is the peer and carries the
//! name). Pod to pod, nothing restricts the way out; outside to pod, only the
//! way in. Within a policy rule every field and condition speaks of one
//! thing only (the source, the destination's name, or the port and request),
//! and the evaluator's three-valued `and` of them is a product, so each rule
//! is one set rule on the side that sees its peer.
//!
//! The three values carry over as pairs of sets: where a condition holds
//! (`yes`) and where it may (`maybe`, the evaluator's "not No"). A DENY rule
//! denies where it holds, an ALLOW rule admits where it may.
//!
//! Requests: the universe's request classes 1..=n are the model's requests,
//! known by method and path and carrying no header. The connection itself
//! (request 0) and the keys above n ("every other request") tell none of
//! that, as a connection without a request does: Unknown. Without requests
//! (n = 0) every HTTP condition is therefore port-level.

use super::evaluate::{host_matches, only_about_sni, principal_of, strings, value_matches, Mesh, ROOT_NAMESPACE};
use crate::{manifest::Field, Manifest};
use ipnet::IpNet;
use palisade_compiler::model::Request;
use palisade_intents::syntax::Protocol;
use palisade_relation::{
    services::key, universe::Span, Action, Class, ClassSet, Rule, Services, Side, SideSet, Sides, Tier, Universe,
};
use serde_json::Value;
use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    rc::Rc,
};

/// Both sides of every pod, or `None` where an outside class holds addresses
/// that a manifest's block tells apart (no set of classes can then answer
/// for each of them)
pub(super) fn sides(mesh: &Mesh, universe: &Universe) -> Option<Sides> {
    if !outside_classes_alike(mesh, universe) {
        return None;
    }
    let reader = Reader::new(mesh, universe);
    Some(Sides {
        egress: reader.egress_sides(),
        ingress: reader.ingress_sides(),
    })
}

/// The connections a pod's mesh routes to an egress gateway, as each pod
/// class's egress side of the outside classes and TCP ports routed
/// (`through_gateway` finds a route; whether the gateway then lets it
/// through is the egress side's business)
pub(super) fn routed(mesh: &Mesh, universe: &Universe) -> Option<Vec<SideSet>> {
    if !outside_classes_alike(mesh, universe) {
        return None;
    }
    let reader = Reader::new(mesh, universe);
    let mut by_namespace: HashMap<&str, SideSet> = HashMap::new();
    let mut out = Vec::new();
    for class in 0..universe.pod_count() {
        let Some(pod) = universe.pod(class) else { continue };
        let side = by_namespace.entry(pod.namespace.as_str()).or_insert_with(|| {
            let rules = reader
                .routing(&pod.namespace)
                .groups
                .into_iter()
                .filter_map(|g| set_rule(Action::Allow, &g.ports.intersection(&tcp()), &g.classes))
                .collect();
            Side::union(true, rules).resolve(universe)
        });
        out.push(side.clone());
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Three-valued sets

/// The set operations a [`Tri`] needs, on classes and on services alike
trait Lattice: Clone + Default {
    fn meet(&self, other: &Self) -> Self;
    fn join(&self, other: &Self) -> Self;
    fn without(&self, other: &Self) -> Self;
}

impl Lattice for ClassSet {
    fn meet(&self, other: &Self) -> Self {
        self & other
    }
    fn join(&self, other: &Self) -> Self {
        self | other
    }
    fn without(&self, other: &Self) -> Self {
        self - other
    }
}

impl Lattice for Services {
    fn meet(&self, other: &Self) -> Self {
        self.intersection(other)
    }
    fn join(&self, other: &Self) -> Self {
        self.union(other)
    }
    fn without(&self, other: &Self) -> Self {
        self.difference(other)
    }
}

/// The evaluator's `Truth` on each member of a domain: Yes on `yes`, No
/// outside `maybe`, Unknown between (`yes ⊆ maybe`)
#[derive(Debug, Clone, Default)]
struct Tri<S> {
    yes: S,
    maybe: S,
}

impl<S: Lattice> Tri<S> {
    fn known(set: S) -> Self {
        Self {
            yes: set.clone(),
            maybe: set,
        }
    }

    fn unknown(domain: &S) -> Self {
        Self {
            yes: S::default(),
            maybe: domain.clone(),
        }
    }

    fn and(&self, other: &Self) -> Self {
        Self {
            yes: self.yes.meet(&other.yes),
            maybe: self.maybe.meet(&other.maybe),
        }
    }

    fn or(&self, other: &Self) -> Self {
        Self {
            yes: self.yes.join(&other.yes),
            maybe: self.maybe.join(&other.maybe),
        }
    }

    /// `Truth::all`: Yes over the whole domain when there is nothing to ask
    fn all(domain: &S, items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().fold(Self::known(domain.clone()), |a, b| a.and(&b))
    }

    /// `Truth::any`: No everywhere when there is nothing to ask
    fn any(items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().fold(Self::known(S::default()), |a, b| a.or(&b))
    }
}

/// Where a condition's actual value is wanted: `values` hits (when given)
/// and `notValues` misses (when given), as `Facts::condition` combines them
fn values_and_not<S: Lattice>(domain: &S, values: &[&str], not_values: &[&str], hit: impl Fn(&[&str]) -> S) -> S {
    let wanted = if values.is_empty() { domain.clone() } else { hit(values) };
    if not_values.is_empty() {
        wanted
    } else {
        wanted.without(&hit(not_values))
    }
}

// ---------------------------------------------------------------------------
// Ports and requests (Istio sees TCP only)

fn tcp() -> Services {
    Services::protocol(Protocol::Tcp)
}

fn tcp_port(number: u16) -> Services {
    Services::ports(Protocol::Tcp, number, number)
}

/// UDP and SCTP: the sidecar never sees them, so every side passes them
fn not_tcp() -> Services {
    Services::protocol(Protocol::Udp).union(&Services::protocol(Protocol::Sctp))
}

/// A value Istio matches as itself: no leading or trailing `*`
fn literal(pattern: &str) -> bool {
    !pattern.starts_with('*') && !pattern.ends_with('*')
}

/// The ports whose decimal text is one of `values` (`ports: ["80"]` compares text)
fn listed_ports(values: &[&str]) -> Services {
    values
        .iter()
        .filter_map(|v| v.parse::<u16>().ok().filter(|n| n.to_string() == *v))
        .fold(Services::none(), |acc, n| acc.union(&tcp_port(n)))
}

/// The ports whose text one of `patterns` matches (a `destination.port` condition)
fn matching_ports(patterns: &[&str]) -> Services {
    let (exact, wild): (Vec<&str>, Vec<&str>) = patterns.iter().partition(|p| literal(p));
    let mut intervals = Vec::new();
    if !wild.is_empty() {
        for number in 1..=u16::MAX {
            let text = number.to_string();
            if wild.iter().any(|p| value_matches(p, &text)) {
                intervals.push((key(Protocol::Tcp, number, 0), key(Protocol::Tcp, number, u32::MAX)));
            }
        }
    }
    Services::from_intervals(intervals).union(&listed_ports(&exact))
}

/// The keys of every TCP port whose request lies in one of the `runs`
/// (inclusive ranges of request classes, 0 the connection itself)
fn on_every_port(runs: &[(u32, u32)]) -> Services {
    if runs.is_empty() {
        return Services::none();
    }
    let mut intervals = Vec::with_capacity(usize::from(u16::MAX) * runs.len());
    for number in 1..=u16::MAX {
        intervals.extend(
            runs.iter()
                .map(|&(lo, hi)| (key(Protocol::Tcp, number, lo), key(Protocol::Tcp, number, hi))),
        );
    }
    Services::from_intervals(intervals)
}

/// Consecutive request classes as ranges (`classes` sorted)
fn runs(classes: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &c in classes {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(c) => last.1 = c,
            _ => out.push((c, c)),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The facts of each class, indexed

/// What `Facts` holds for each class (principal, namespace, address; for an
/// outside class also its name), indexed so that a pattern finds its classes
/// without a pass over the pods
struct Index<'a> {
    universe: &'a Universe<'a>,
    all: ClassSet,
    principals: HashMap<String, ClassSet>,
    namespaces: HashMap<String, ClassSet>,
    /// pods by `Pod::address`, outside classes by their representative's, sorted
    addresses: Vec<(IpAddr, Class)>,
    /// outside classes by name, as `value_matches` compares (exactly)
    names: HashMap<String, ClassSet>,
    /// outside classes by name, as `host_matches` compares (ASCII case folded)
    folded_names: HashMap<String, ClassSet>,
    named: ClassSet,
}

impl<'a> Index<'a> {
    fn new(universe: &'a Universe<'a>) -> Self {
        let mut index = Self {
            universe,
            all: universe.all().as_ref().clone(),
            principals: HashMap::new(),
            namespaces: HashMap::new(),
            addresses: Vec::new(),
            names: HashMap::new(),
            folded_names: HashMap::new(),
            named: ClassSet::new(),
        };
        for class in 0..universe.pod_count() {
            let Some(pod) = universe.pod(class) else { continue };
            if let Some(principal) = principal_of(pod) {
                index.principals.entry(principal).or_default().insert(class);
            }
            index.namespaces.entry(pod.namespace.clone()).or_default().insert(class);
            if let Some(ip) = pod.address() {
                index.addresses.push((ip, class));
            }
        }
        for class in &universe.outsides() {
            let Some((_, ext)) = universe.outside(class) else {
                continue;
            };
            index.addresses.push((ext.ip, class));
            if let Some(name) = &ext.fqdn {
                index.names.entry(name.clone()).or_default().insert(class);
                index
                    .folded_names
                    .entry(name.to_ascii_lowercase())
                    .or_default()
                    .insert(class);
                index.named.insert(class);
            }
        }
        index.addresses.sort_unstable();
        index
    }

    /// The classes whose value (by `index`) one of `patterns` matches as
    /// `value_matches` does: literals looked up, patterns tried on each value
    fn matching(index: &HashMap<String, ClassSet>, patterns: &[&str]) -> ClassSet {
        let mut out = ClassSet::new();
        for pattern in patterns {
            if literal(pattern) {
                if let Some(set) = index.get(*pattern) {
                    out |= set;
                }
            } else {
                for (value, set) in index {
                    if value_matches(pattern, value) {
                        out |= set;
                    }
                }
            }
        }
        out
    }

    /// The pods whose principal a pattern matches; none where the peer is not authenticated
    fn principals(&self, patterns: &[&str], authenticated: bool) -> ClassSet {
        if !authenticated {
            return ClassSet::new();
        }
        Self::matching(&self.principals, patterns)
    }

    /// The pods whose namespace a pattern matches; none where the peer is not authenticated
    fn namespaces(&self, patterns: &[&str], authenticated: bool) -> ClassSet {
        if !authenticated {
            return ClassSet::new();
        }
        Self::matching(&self.namespaces, patterns)
    }

    /// The outside classes whose name a pattern matches as `value_matches` does (`connection.sni`)
    fn names(&self, patterns: &[&str]) -> ClassSet {
        Self::matching(&self.names, patterns)
    }

    /// The outside classes whose name a registry host matches (`host_matches`)
    fn hosts(&self, patterns: &[&str]) -> ClassSet {
        let mut out = ClassSet::new();
        for pattern in patterns {
            if *pattern == "*" || pattern.starts_with("*.") {
                for (name, set) in &self.names {
                    if host_matches(pattern, name) {
                        out |= set;
                    }
                }
            } else if let Some(set) = self.folded_names.get(&pattern.to_ascii_lowercase()) {
                out |= set;
            }
        }
        out
    }

    /// The classes whose address lies in `first..=last`
    fn addressed(&self, first: IpAddr, last: IpAddr) -> ClassSet {
        let start = self.addresses.partition_point(|(ip, _)| *ip < first);
        self.addresses
            .iter()
            .skip(start)
            .take_while(|(ip, _)| *ip <= last)
            .map(|&(_, class)| class)
            .collect()
    }

    /// The classes whose address one of `blocks` covers (a CIDR, or one address), as `Facts::source` reads them
    fn in_blocks(&self, blocks: &[&str]) -> ClassSet {
        let mut out = ClassSet::new();
        for block in blocks {
            if let Some((first, last)) = address_range(block) {
                out |= self.addressed(first, last);
            }
        }
        out
    }

    /// The outside class's name
    fn name_of(&self, class: Class) -> Option<&'a str> {
        self.universe.outside(class).and_then(|(_, ext)| ext.fqdn.as_deref())
    }
}

/// A block as `Facts::source` reads it: a CIDR, else a single address
fn address_range(block: &str) -> Option<(IpAddr, IpAddr)> {
    match block.parse::<IpNet>() {
        Ok(net) => Some((net.network(), net.broadcast())),
        Err(_) => block.parse::<IpAddr>().ok().map(|ip| (ip, ip)),
    }
}

/// The pods a selector selects, as `evaluate::selects` reads it: its
/// `matchLabels` (or `labels`, or itself); a label whose value is not a
/// string selects the pods without that label
fn selected(universe: &Universe, selector: Option<&Value>) -> ClassSet {
    let labels = selector
        .and_then(|s| s.get("matchLabels").or(s.get("labels")).or(Some(s)))
        .and_then(Value::as_object);
    let mut out = universe.pods();
    for (k, v) in labels.into_iter().flatten() {
        out &= match v.as_str() {
            Some(value) => universe.pods_with(k, value),
            None => universe.pods() - universe.pods_with_key(k),
        };
    }
    out
}

// ---------------------------------------------------------------------------
// Rules as products

/// Where the facts of a connection come from
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reading {
    /// a pod's own AuthorizationPolicies: no SNI; a pod peer shows its mTLS identity
    Ingress,
    /// the gateway's policies on a routed connection: the SNI is the host;
    /// the caller's identity only where the server terminates Istio mTLS
    Gateway { authenticated: bool },
}

impl Reading {
    fn authenticated(self) -> bool {
        match self {
            Reading::Ingress => true,
            Reading::Gateway { authenticated } => authenticated,
        }
    }
}

/// One policy rule as a product: its truth on a connection is
/// `source ∧ destination ∧ key` of the connection's source class,
/// destination class and service key
#[derive(Debug, Clone)]
struct Parts {
    source: Tri<ClassSet>,
    /// the `connection.sni` conditions, over outside classes (Yes everywhere on ingress)
    destination: Tri<ClassSet>,
    key: Tri<Services>,
}

/// What one `when` condition speaks of
enum Condition {
    Source(Tri<ClassSet>),
    Destination(Tri<ClassSet>),
    Key(Tri<Services>),
    Unknown,
}

/// An enforcing AuthorizationPolicy and the pods it applies to
struct Policy<'m> {
    manifest: &'m Manifest,
    action: Action,
    about_sni_only: bool,
}

fn policy_action(m: &Manifest) -> Option<Action> {
    match m
        .object
        .at(&["spec", "action"])
        .and_then(Value::as_str)
        .unwrap_or("ALLOW")
    {
        "ALLOW" => Some(Action::Allow),
        "DENY" => Some(Action::Deny),
        // AUDIT and CUSTOM neither admit nor deny here
        _ => None,
    }
}

fn policy_rules(m: &Manifest) -> &[Value] {
    m.object
        .at(&["spec", "rules"])
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A set rule, unless it is empty in either dimension
fn set_rule(action: Action, services: &Services, peers: &ClassSet) -> Option<Rule> {
    (!services.is_empty() && !peers.is_empty()).then(|| Rule {
        action,
        services: services.clone(),
        peers: peers.clone(),
    })
}

// ---------------------------------------------------------------------------
// Where objects are seen from

/// Indices of objects by the namespaces that see them, as `visible` reads `exportTo`
#[derive(Default)]
struct Exports {
    everywhere: Vec<usize>,
    by_namespace: HashMap<String, Vec<usize>>,
}

impl Exports {
    fn new<'m>(objects: impl IntoIterator<Item = &'m Manifest>) -> Self {
        let mut exports = Self::default();
        for (i, m) in objects.into_iter().enumerate() {
            match exported_to(m) {
                None => exports.everywhere.push(i),
                Some(namespaces) => {
                    for ns in namespaces {
                        let list = exports.by_namespace.entry(ns).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
            }
        }
        exports
    }

    /// The objects `namespace` sees, in their order
    fn seen_from(&self, namespace: &str) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .everywhere
            .iter()
            .chain(self.by_namespace.get(namespace).into_iter().flatten())
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// `None`: seen everywhere; else the namespaces that see it
fn exported_to(m: &Manifest) -> Option<Vec<String>> {
    let list = m.object.at(&["spec", "exportTo"]).and_then(Value::as_array)?;
    if list.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for e in list.iter().filter_map(Value::as_str) {
        match e {
            "*" => return None,
            "." => out.push(m.namespace().to_string()),
            "~" => {}
            ns => out.push(ns.to_string()),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// The egress route

/// What the gateway does with a routed connection
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Outcome {
    /// no server, or no route bound to it: the connection goes nowhere
    Refused,
    /// this gateway pod's policies decide
    Gateway { pod: Class, authenticated: bool },
}

/// Outside classes a namespace's callers reach on some ports, and how
#[derive(Debug, Clone)]
struct Group {
    outcome: Outcome,
    ports: Services,
    classes: ClassSet,
}

/// The egress facts of one namespace's callers
struct Routing {
    /// the ServiceEntries it sees: (ports, outside classes), the registry under REGISTRY_ONLY
    entries: Vec<(Services, ClassSet)>,
    /// the routed connections, disjoint
    groups: Vec<Group>,
}

/// The gateway pod's policies, read on routed connections
struct GatewayRules {
    isolated: bool,
    rules: Vec<(Action, Rc<Parts>)>,
}

// ---------------------------------------------------------------------------
// The reader

struct Reader<'a> {
    mesh: &'a Mesh<'a>,
    universe: &'a Universe<'a>,
    index: Index<'a>,
    policies: Vec<Policy<'a>>,
    /// by pod class: the policies that select it (`authorize`'s `applying` before the hop filter)
    applying: Vec<Vec<usize>>,
    entry_exports: Exports,
    route_exports: Exports,
    from_memo: RefCell<HashMap<(String, bool), Tri<ClassSet>>>,
    to_memo: RefCell<HashMap<String, Tri<Services>>>,
    parts_memo: RefCell<HashMap<(String, Reading), Rc<Parts>>>,
    entry_memo: RefCell<HashMap<usize, Rc<(Services, ClassSet)>>>,
    route_hosts_memo: RefCell<HashMap<usize, Rc<ClassSet>>>,
    outcome_memo: RefCell<HashMap<(String, String), Outcome>>,
    gateway_memo: RefCell<HashMap<Outcome, Rc<GatewayRules>>>,
}

impl<'a> Reader<'a> {
    fn new(mesh: &'a Mesh<'a>, universe: &'a Universe<'a>) -> Self {
        let mut policies = Vec::new();
        let count = usize::try_from(universe.pod_count()).unwrap_or(0);
        let mut applying: Vec<Vec<usize>> = vec![Vec::new(); count];
        let mut namespaces: Vec<&&str> = mesh.policies.keys().collect();
        namespaces.sort();
        for namespace in namespaces {
            let scope = if *namespace == ROOT_NAMESPACE {
                universe.pods()
            } else {
                universe.pods_in(namespace)
            };
            for m in mesh.policies.get(*namespace).into_iter().flatten() {
                let Some(action) = policy_action(m) else { continue };
                let pods = &scope & &selected(universe, m.object.at(&["spec", "selector"]));
                for class in &pods {
                    if let Some(list) = usize::try_from(class).ok().and_then(|i| applying.get_mut(i)) {
                        list.push(policies.len());
                    }
                }
                policies.push(Policy {
                    manifest: m,
                    action,
                    about_sni_only: only_about_sni(m),
                });
            }
        }
        Self {
            mesh,
            universe,
            index: Index::new(universe),
            policies,
            applying,
            entry_exports: Exports::new(mesh.service_entries.iter().copied()),
            route_exports: Exports::new(mesh.virtual_services.iter().copied()),
            from_memo: RefCell::default(),
            to_memo: RefCell::default(),
            parts_memo: RefCell::default(),
            entry_memo: RefCell::default(),
            route_hosts_memo: RefCell::default(),
            outcome_memo: RefCell::default(),
            gateway_memo: RefCell::default(),
        }
    }

    // -- the facts of a rule ------------------------------------------------

    /// `Facts::source` on every class
    fn source(&self, source: &Value, authenticated: bool) -> Tri<ClassSet> {
        let all = &self.index.all;
        let Some(fields) = source.as_object() else {
            return Tri::known(all.clone());
        };
        Tri::all(
            all,
            fields.iter().map(|(key, value)| {
                let values = strings(Some(value));
                let index = &self.index;
                match key.as_str() {
                    "principals" => Tri::known(index.principals(&values, authenticated)),
                    "notPrincipals" => Tri::known(all - index.principals(&values, authenticated)),
                    "namespaces" => Tri::known(index.namespaces(&values, authenticated)),
                    "notNamespaces" => Tri::known(all - index.namespaces(&values, authenticated)),
                    "ipBlocks" | "remoteIpBlocks" => Tri::known(index.in_blocks(&values)),
                    "notIpBlocks" | "notRemoteIpBlocks" => Tri::known(all - index.in_blocks(&values)),
                    "serviceAccounts" if values.iter().all(|v| v.contains('/')) => {
                        Tri::known(self.service_accounts(&values, authenticated))
                    }
                    _ => Tri::unknown(all),
                }
            }),
        )
    }

    /// `serviceAccounts: [ns/sa]`: the pods of that principal, compared whole
    /// (a `*` in it is no pattern here, as in `Facts::source`)
    fn service_accounts(&self, values: &[&str], authenticated: bool) -> ClassSet {
        let mut out = ClassSet::new();
        if !authenticated {
            return out;
        }
        for (ns, sa) in values.iter().filter_map(|v| v.split_once('/')) {
            if let Some(set) = self.index.principals.get(&format!("cluster.local/ns/{ns}/sa/{sa}")) {
                out |= set;
            }
        }
        out
    }

    /// `rule.from`, remembered per spec: many rules name the same callers
    fn from(&self, rule: &Value, authenticated: bool) -> Tri<ClassSet> {
        let Some((spec, from)) = rule.get("from").and_then(|v| Some((v, v.as_array()?))) else {
            return Tri::known(self.index.all.clone());
        };
        let memo_key = (spec.to_string(), authenticated);
        if let Some(found) = self.from_memo.borrow().get(&memo_key) {
            return found.clone();
        }
        let tri = Tri::any(from.iter().map(|f| self.source(&f["source"], authenticated)));
        self.from_memo.borrow_mut().insert(memo_key, tri.clone());
        tri
    }

    /// `Facts::operation` on every TCP key
    fn operation(&self, operation: &Value) -> Tri<Services> {
        let Some(fields) = operation.as_object() else {
            return Tri::known(tcp());
        };
        Tri::all(
            &tcp(),
            fields.iter().map(|(key, value)| {
                let values = strings(Some(value));
                let listed = |actual: &str| values.iter().any(|v| value_matches(v, actual));
                let templated = values.iter().any(|v| v.contains("{*}") || v.contains("{**}"));
                match key.as_str() {
                    "ports" => Tri::known(listed_ports(&values)),
                    "notPorts" => Tri::known(tcp().difference(&listed_ports(&values))),
                    "methods" => self.requests(|r| listed(&r.method)),
                    "notMethods" => self.requests(|r| !listed(&r.method)),
                    "paths" if !templated => self.requests(|r| listed(&r.path)),
                    "notPaths" if !templated => self.requests(|r| !listed(&r.path)),
                    _ => Tri::unknown(&tcp()),
                }
            }),
        )
    }

    /// `rule.to`, remembered per spec: HTTP operations on every port are large sets
    fn to(&self, rule: &Value) -> Tri<Services> {
        let Some((spec, to)) = rule.get("to").and_then(|v| Some((v, v.as_array()?))) else {
            return Tri::known(tcp());
        };
        let memo_key = spec.to_string();
        if let Some(found) = self.to_memo.borrow().get(&memo_key) {
            return found.clone();
        }
        let tri = Tri::any(to.iter().map(|t| self.operation(&t["operation"])));
        self.to_memo.borrow_mut().insert(memo_key, tri.clone());
        tri
    }

    /// A condition on the request: Yes/No on the known requests by `admits`,
    /// Unknown on the connection itself. The keys above n stand for requests
    /// that no rule's pattern names (as the intents' sets read them): asked
    /// as a request whose method and path no pattern lists, so `paths` and
    /// `methods` refuse it and `notPaths` and `notMethods` let it.
    fn requests(&self, admits: impl Fn(&Request) -> bool) -> Tri<Services> {
        let n = self.universe.request_count();
        if n == 0 {
            return Tri::unknown(&tcp());
        }
        let admitted = self.universe.requests_where(&admits);
        let mut known = runs(&admitted);
        if admits(&unnamed_request()) {
            if let Some(after) = n.checked_add(1) {
                known.push((after, u32::MAX));
            }
        }
        let yes = on_every_port(&known);
        let mut maybe_runs = vec![(0, 0)];
        maybe_runs.extend(known);
        Tri {
            yes,
            maybe: on_every_port(&maybe_runs),
        }
    }

    /// `Facts::condition`, by what it speaks of
    fn condition(&self, condition: &Value, reading: Reading) -> Condition {
        let key = condition["key"].as_str().unwrap_or("");
        let values = strings(condition.get("values"));
        let not_values = strings(condition.get("notValues"));
        let all = &self.index.all;
        let authenticated = reading.authenticated();
        match key {
            "connection.sni" => match reading {
                Reading::Ingress => Condition::Unknown,
                Reading::Gateway { .. } => {
                    Condition::Destination(Tri::known(values_and_not(all, &values, &not_values, |list| {
                        self.index.names(list)
                    })))
                }
            },
            "source.principal" => Condition::Source(Tri::known(values_and_not(all, &values, &not_values, |list| {
                self.index.principals(list, authenticated)
            }))),
            "source.namespace" => Condition::Source(Tri::known(values_and_not(all, &values, &not_values, |list| {
                self.index.namespaces(list, authenticated)
            }))),
            "destination.port" => {
                Condition::Key(Tri::known(values_and_not(&tcp(), &values, &not_values, matching_ports)))
            }
            // a modelled request carries no header: only an absent `values` holds
            k if k.starts_with("request.headers[") => Condition::Key(self.requests(|_| values.is_empty())),
            _ => Condition::Unknown,
        }
    }

    /// A rule as a product, remembered per rule and reading
    fn parts(&self, rule: &Value, reading: Reading) -> Rc<Parts> {
        let memo_key = (rule.to_string(), reading);
        if let Some(found) = self.parts_memo.borrow().get(&memo_key) {
            return found.clone();
        }
        let mut parts = Parts {
            source: self.from(rule, reading.authenticated()),
            destination: Tri::known(self.index.all.clone()),
            key: self.to(rule),
        };
        for c in rule.get("when").and_then(Value::as_array).into_iter().flatten() {
            match self.condition(c, reading) {
                Condition::Source(t) => parts.source = parts.source.and(&t),
                Condition::Destination(t) => parts.destination = parts.destination.and(&t),
                Condition::Key(t) => parts.key = parts.key.and(&t),
                Condition::Unknown => parts.key = parts.key.and(&Tri::unknown(&tcp())),
            }
        }
        let parts = Rc::new(parts);
        self.parts_memo.borrow_mut().insert(memo_key, parts.clone());
        parts
    }

    // -- ingress ------------------------------------------------------------

    /// Pods a Gateway selects: the hop to them carries no SNI
    fn gateway_pods(&self) -> ClassSet {
        let mut out = ClassSet::new();
        for g in &self.mesh.gateways {
            if let Some(selector) = g.object.at(&["spec", "selector"]) {
                out |= selected(self.universe, Some(selector));
            }
        }
        out
    }

    fn ingress_sides(&self) -> Vec<SideSet> {
        let hops = self.gateway_pods();
        let mut memo: HashMap<Vec<usize>, SideSet> = HashMap::new();
        (0u32..)
            .zip(&self.applying)
            .map(|(class, applying)| {
                let hop = hops.contains(class);
                let deciding: Vec<usize> = applying
                    .iter()
                    .copied()
                    .filter(|&p| !(hop && self.policies.get(p).is_some_and(|p| p.about_sni_only)))
                    .collect();
                memo.entry(deciding)
                    .or_insert_with_key(|deciding| self.ingress_side(deciding))
                    .clone()
            })
            .collect()
    }

    /// `authorize` with the source as the peer: DENY where a rule holds,
    /// then, once an ALLOW policy applies, only what an ALLOW rule may match
    fn ingress_side(&self, deciding: &[usize]) -> SideSet {
        let mut denies = Vec::new();
        let mut allows = Vec::new();
        let mut isolated = false;
        for policy in deciding.iter().filter_map(|&p| self.policies.get(p)) {
            isolated |= policy.action == Action::Allow;
            for rule in policy_rules(policy.manifest) {
                let parts = self.parts(rule, Reading::Ingress);
                match policy.action {
                    Action::Deny => denies.extend(set_rule(Action::Deny, &parts.key.yes, &parts.source.yes)),
                    _ => allows.extend(set_rule(Action::Allow, &parts.key.maybe, &parts.source.maybe)),
                }
            }
        }
        if isolated {
            allows.push(Rule::allow(not_tcp(), self.index.all.clone()));
        }
        Side::deny_overrides(isolated, denies, allows).resolve(self.universe)
    }

    // -- egress -------------------------------------------------------------

    /// The pods whose Sidecar (`sidecar_for`) is REGISTRY_ONLY
    fn registry_only(&self) -> ClassSet {
        let universe = self.universe;
        let closed = |s: &Manifest| {
            s.object
                .at(&["spec", "outboundTrafficPolicy", "mode"])
                .and_then(Value::as_str)
                == Some("REGISTRY_ONLY")
        };
        let mut decided = ClassSet::new();
        let mut out = ClassSet::new();
        let mut assign = |pods: ClassSet, s: &Manifest, decided: &mut ClassSet| {
            let pods = pods - &*decided;
            if closed(s) {
                out |= &pods;
            }
            *decided |= pods;
        };
        let sidecars = &self.mesh.sidecars;
        // a workload's own Sidecar, the first that selects it
        for s in sidecars {
            if let Some(selector) = s.object.at(&["spec", "workloadSelector"]) {
                let pods = universe.pods_in(s.namespace()) & selected(universe, Some(selector));
                assign(pods, s, &mut decided);
            }
        }
        // then its namespace's first default, then the root namespace's
        let defaults: Vec<&&Manifest> = sidecars
            .iter()
            .filter(|s| s.object.at(&["spec", "workloadSelector"]).is_none())
            .collect();
        let mut defaulted: Vec<&str> = Vec::new();
        for s in &defaults {
            if !defaulted.contains(&s.namespace()) {
                defaulted.push(s.namespace());
                assign(universe.pods_in(s.namespace()), s, &mut decided);
            }
        }
        if let Some(root) = defaults.iter().find(|s| s.namespace() == ROOT_NAMESPACE) {
            assign(universe.pods(), root, &mut decided);
        }
        out
    }

    fn egress_sides(&self) -> Vec<SideSet> {
        let closed = self.registry_only();
        let mut routing: HashMap<&str, Routing> = HashMap::new();
        let mut memo: HashMap<(String, bool, Vec<Vec<usize>>), SideSet> = HashMap::new();
        let everything = SideSet::everything(self.universe);
        let mut out = Vec::new();
        for class in 0..self.universe.pod_count() {
            let Some(pod) = self.universe.pod(class) else { continue };
            let namespace = pod.namespace.as_str();
            let routing = routing.entry(namespace).or_insert_with(|| self.routing(namespace));
            let registry_only = closed.contains(class);
            if routing.groups.is_empty() && !registry_only {
                out.push(everything.clone());
                continue;
            }
            let relevant: Vec<Vec<usize>> = routing.groups.iter().map(|g| self.relevant(g.outcome, class)).collect();
            let memo_key = (namespace.to_string(), registry_only, relevant);
            let side = memo
                .entry(memo_key)
                .or_insert_with_key(|(_, registry_only, relevant)| self.egress_side(routing, *registry_only, relevant))
                .clone();
            out.push(side);
        }
        out
    }

    /// `egress`: routed connections as the gateway decides them, then under
    /// REGISTRY_ONLY only the registry, else everything
    fn egress_side(&self, routing: &Routing, registry_only: bool, relevant: &[Vec<usize>]) -> SideSet {
        let mut routed = Vec::new();
        for (group, relevant) in routing.groups.iter().zip(relevant) {
            routed.extend(self.group_rules(group, relevant));
        }
        let mut tiers = vec![Tier {
            rules: routed,
            deny_unmatched: false,
        }];
        if registry_only {
            let mut registry: Vec<Rule> = routing
                .entries
                .iter()
                .filter_map(|(ports, classes)| set_rule(Action::Allow, ports, classes))
                .collect();
            registry.push(Rule::allow(Services::all(), self.universe.pods()));
            registry.push(Rule::allow(not_tcp(), self.index.all.clone()));
            tiers.push(Tier {
                rules: registry,
                deny_unmatched: true,
            });
        }
        Side {
            tiers,
            allow_unmatched: !registry_only,
        }
        .resolve(self.universe)
    }

    /// One group's rules, all within its ports and classes (groups are
    /// disjoint, so their order does not matter): the gateway's DENY rules,
    /// its ALLOW rules, then what no rule matched
    fn group_rules(&self, group: &Group, relevant: &[usize]) -> Vec<Rule> {
        let Outcome::Gateway { .. } = group.outcome else {
            return vec![Rule::deny(group.ports.clone(), group.classes.clone())];
        };
        let gateway = self.gateway_rules(group.outcome);
        let mut rules = Vec::new();
        for wanted in [Action::Deny, Action::Allow] {
            for (action, parts) in relevant.iter().filter_map(|&i| gateway.rules.get(i)) {
                if *action != wanted {
                    continue;
                }
                let (services, peers) = match action {
                    Action::Deny => (&parts.key.yes, &parts.destination.yes),
                    _ => (&parts.key.maybe, &parts.destination.maybe),
                };
                rules.extend(set_rule(
                    *action,
                    &group.ports.intersection(services),
                    &(&group.classes & peers),
                ));
            }
        }
        let unmatched = if gateway.isolated { Action::Deny } else { Action::Allow };
        rules.extend(set_rule(unmatched, &group.ports, &group.classes));
        rules
    }

    /// The gateway rules that can decide for `caller`: DENY rules whose
    /// source part holds for it, ALLOW rules whose source part may
    fn relevant(&self, outcome: Outcome, caller: Class) -> Vec<usize> {
        let Outcome::Gateway { .. } = outcome else {
            return Vec::new();
        };
        let gateway = self.gateway_rules(outcome);
        gateway
            .rules
            .iter()
            .enumerate()
            .filter(|(_, (action, parts))| match action {
                Action::Deny => parts.source.yes.contains(caller),
                _ => parts.source.maybe.contains(caller),
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The gateway pod's policies (no hop filter: a routed connection has its SNI)
    fn gateway_rules(&self, outcome: Outcome) -> Rc<GatewayRules> {
        if let Some(found) = self.gateway_memo.borrow().get(&outcome) {
            return found.clone();
        }
        let (pod, reading) = match outcome {
            Outcome::Gateway { pod, authenticated } => (pod, Reading::Gateway { authenticated }),
            Outcome::Refused => (u32::MAX, Reading::Ingress),
        };
        let applying = usize::try_from(pod)
            .ok()
            .and_then(|i| self.applying.get(i))
            .map_or(&[][..], Vec::as_slice);
        let mut gateway = GatewayRules {
            isolated: false,
            rules: Vec::new(),
        };
        for policy in applying.iter().filter_map(|&p| self.policies.get(p)) {
            gateway.isolated |= policy.action == Action::Allow;
            for rule in policy_rules(policy.manifest) {
                gateway.rules.push((policy.action, self.parts(rule, reading)));
            }
        }
        let gateway = Rc::new(gateway);
        self.gateway_memo.borrow_mut().insert(outcome, gateway.clone());
        gateway
    }

    /// A ServiceEntry as `entry_for` matches it: the ports it lists (all
    /// when none) and the outside classes of its hosts and addresses
    fn entry(&self, index: usize) -> Rc<(Services, ClassSet)> {
        if let Some(found) = self.entry_memo.borrow().get(&index) {
            return found.clone();
        }
        let found = Rc::new(
            self.mesh
                .service_entries
                .get(index)
                .map(|e| self.read_entry(e))
                .unwrap_or_default(),
        );
        self.entry_memo.borrow_mut().insert(index, found.clone());
        found
    }

    fn read_entry(&self, e: &Manifest) -> (Services, ClassSet) {
        let mut classes = self.index.hosts(&strings(e.object.at(&["spec", "hosts"])));
        for net in strings(e.object.at(&["spec", "addresses"]))
            .iter()
            .filter_map(|a| a.parse::<IpNet>().ok())
        {
            classes |= self.index.addressed(net.network(), net.broadcast()) & self.universe.outsides();
        }
        let ports = match e.object.at(&["spec", "ports"]).and_then(Value::as_array) {
            None => tcp(),
            Some(list) if list.is_empty() => tcp(),
            Some(list) => list
                .iter()
                .filter_map(|p| p["number"].as_u64().and_then(|n| u16::try_from(n).ok()))
                .fold(Services::none(), |acc, n| acc.union(&tcp_port(n))),
        };
        (ports, classes)
    }

    /// The outside classes a VirtualService's hosts name
    fn route_hosts(&self, index: usize) -> Rc<ClassSet> {
        if let Some(found) = self.route_hosts_memo.borrow().get(&index) {
            return found.clone();
        }
        let found = Rc::new(
            self.mesh
                .virtual_services
                .get(index)
                .map(|vs| self.index.hosts(&strings(vs.object.at(&["spec", "hosts"]))))
                .unwrap_or_default(),
        );
        self.route_hosts_memo.borrow_mut().insert(index, found.clone());
        found
    }

    /// What `namespace`'s callers reach through its ServiceEntries and mesh routes
    fn routing(&self, namespace: &str) -> Routing {
        let entries: Vec<(Services, ClassSet)> = self
            .entry_exports
            .seen_from(namespace)
            .into_iter()
            .map(|i| self.entry(i).as_ref().clone())
            .collect();
        // a named destination with an entry on these ports may be routed (`egress`)
        let mut registered: BTreeMap<Class, Services> = BTreeMap::new();
        for (ports, classes) in &entries {
            for class in &(classes & &self.index.named) {
                let known = registered.entry(class).or_default();
                *known = known.union(ports);
            }
        }
        let routes: Vec<usize> = self
            .route_exports
            .seen_from(namespace)
            .into_iter()
            .filter(|&i| self.mesh.virtual_services.get(i).is_some_and(|vs| from_the_mesh(vs)))
            .collect();
        let mut groups: BTreeMap<(Outcome, Services), ClassSet> = BTreeMap::new();
        for (class, ports) in registered {
            let Some(host) = self.index.name_of(class) else {
                continue;
            };
            for (ports, destination) in self.routed(&routes, class, host, ports) {
                let outcome = self.outcome(destination, host);
                groups.entry((outcome, ports)).or_default().insert(class);
            }
        }
        Routing {
            entries,
            groups: groups
                .into_iter()
                .map(|((outcome, ports), classes)| Group {
                    outcome,
                    ports,
                    classes,
                })
                .collect(),
        }
    }

    /// `through_gateway`'s route search for one host on `ports`: the first
    /// mesh route, in order, that matches each port and leads elsewhere
    fn routed(&self, routes: &[usize], class: Class, host: &str, ports: Services) -> Vec<(Services, &'a str)> {
        let mut remaining = ports;
        let mut out = Vec::new();
        for &index in routes {
            if remaining.is_empty() {
                break;
            }
            if !self.route_hosts(index).contains(class) {
                continue;
            }
            let Some(vs) = self.mesh.virtual_services.get(index) else {
                continue;
            };
            for route in vs
                .object
                .at(&["spec", "tls"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(destination) = route["route"][0]["destination"]["host"].as_str() else {
                    continue;
                };
                if destination == host {
                    continue;
                }
                let covered = remaining.intersection(&route_ports(route, host));
                if !covered.is_empty() {
                    remaining = remaining.difference(&covered);
                    out.push((covered, destination));
                }
            }
        }
        out
    }

    /// The gateway's server and route for `host` behind the Service `destination`
    fn outcome(&self, destination: &str, host: &str) -> Outcome {
        // `name.namespace.svc...`: the gateway Service's namespace
        let gateway_ns = destination.split('.').nth(1).unwrap_or("");
        let memo_key = (gateway_ns.to_string(), host.to_string());
        if let Some(found) = self.outcome_memo.borrow().get(&memo_key) {
            return *found;
        }
        let outcome = self.find_outcome(gateway_ns, host);
        self.outcome_memo.borrow_mut().insert(memo_key, outcome);
        outcome
    }

    fn find_outcome(&self, gateway_ns: &str, host: &str) -> Outcome {
        for g in &self.mesh.gateways {
            let pods = self.universe.pods_in(gateway_ns) & selected(self.universe, g.object.at(&["spec", "selector"]));
            let Some(first) = pods.min() else { continue };
            let Some(servers) = g.object.at(&["spec", "servers"]).and_then(Value::as_array) else {
                continue;
            };
            let serves = |s: &&Value| {
                strings(s.get("hosts"))
                    .iter()
                    .any(|h| host_matches(h.rsplit('/').next().unwrap_or(h), host))
            };
            let Some(server) = servers.iter().find(serves) else {
                continue;
            };
            let terminates = server["tls"]["mode"].as_str() == Some("ISTIO_MUTUAL");
            let routed = self
                .universe
                .pod(first)
                .is_some_and(|pod| self.mesh.gateway_routes(g, server, pod, host, terminates));
            return if routed {
                Outcome::Gateway {
                    pod: first,
                    authenticated: terminates,
                }
            } else {
                Outcome::Refused
            };
        }
        Outcome::Refused
    }
}

/// A VirtualService the callers' sidecars apply (`gateways` empty or `mesh`) with `tls` routes
fn from_the_mesh(vs: &Manifest) -> bool {
    let gateways = strings(vs.object.at(&["spec", "gateways"]));
    (gateways.is_empty() || gateways.contains(&"mesh"))
        && vs.object.at(&["spec", "tls"]).and_then(Value::as_array).is_some()
}

/// The ports on which a mesh `tls` route matches `host`
fn route_ports(route: &Value, host: &str) -> Services {
    let Some(matches) = route["match"].as_array() else {
        return tcp();
    };
    let mut out = Services::none();
    for m in matches {
        let gateways = strings(m.get("gateways"));
        let from_mesh = gateways.is_empty() || gateways.contains(&"mesh");
        let by_sni = strings(m.get("sniHosts")).iter().any(|h| host_matches(h, host));
        if !(from_mesh && by_sni) {
            continue;
        }
        let ports = match m["port"].as_u64() {
            None => tcp(),
            Some(n) => u16::try_from(n).map(tcp_port).unwrap_or_default(),
        };
        out = out.union(&ports);
    }
    out
}

// ---------------------------------------------------------------------------
// Whether the outside classes are fine enough

/// Whether every outside class holds addresses that each block of the
/// manifests (AuthorizationPolicy `ipBlocks`, ServiceEntry `addresses`)
/// either all covers or all misses. Probes put the manifests' blocks into
/// the model, so this holds on the models verification builds; a model made
/// otherwise may merge addresses a policy tells apart.
fn outside_classes_alike(mesh: &Mesh, universe: &Universe) -> bool {
    let mut spans: Vec<(Span, Class)> = universe
        .outsides()
        .iter()
        .filter_map(|c| universe.outside(c).map(|(o, _)| (o.span, c)))
        .collect();
    spans.sort_unstable();
    let mut members: HashMap<Class, Vec<IpAddr>> = HashMap::new();
    for (i, ext) in universe.model.externals.iter().enumerate() {
        if let Some(class) = universe.class_of_external(i) {
            members.entry(class).or_default().push(ext.ip);
        }
    }
    blocks_of(mesh).into_iter().all(|(first, last)| {
        [first, last].into_iter().all(|edge| {
            let Some(class) = span_cut(&spans, edge, first, last) else {
                return true;
            };
            let inside = |ip: &IpAddr| *ip >= first && *ip <= last;
            let ips = members.get(&class).map_or(&[][..], Vec::as_slice);
            ips.iter().all(inside) || !ips.iter().any(inside)
        })
    })
}

/// The class whose span `edge` (an end of the block `first..=last`) cuts
fn span_cut(spans: &[(Span, Class)], edge: IpAddr, first: IpAddr, last: IpAddr) -> Option<Class> {
    let (v6, at) = line_point(edge);
    let after = spans.partition_point(|(s, _)| (s.v6, s.first) <= (v6, at));
    let (span, class) = spans.get(after.checked_sub(1)?)?;
    if span.v6 != v6 || span.last < at {
        return None;
    }
    let (_, lo) = line_point(first);
    let (_, hi) = line_point(last);
    (span.first < lo && lo <= span.last || span.first <= hi && hi < span.last).then_some(*class)
}

fn line_point(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

/// Every address range a manifest of the mesh compares an outside address with
fn blocks_of(mesh: &Mesh) -> Vec<(IpAddr, IpAddr)> {
    let mut out = Vec::new();
    for m in mesh.policies.values().flatten() {
        for rule in policy_rules(m) {
            for f in rule.get("from").and_then(Value::as_array).into_iter().flatten() {
                for field in ["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"] {
                    out.extend(strings(f["source"].get(field)).iter().filter_map(|b| address_range(b)));
                }
            }
        }
    }
    for e in &mesh.service_entries {
        out.extend(
            strings(e.object.at(&["spec", "addresses"]))
                .iter()
                .filter_map(|a| a.parse::<IpNet>().ok())
                .map(|n| (n.network(), n.broadcast())),
        );
    }
    out
}

#[cfg(test)]
#[path = "symbolic_tests.rs"]
mod tests;

/// A request no pattern names: the stand-in for the keys above the model's requests
fn unnamed_request() -> Request {
    Request::new("PALISADE-UNNAMED", "/\u{0}palisade-unnamed".into())
}
