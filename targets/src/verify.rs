//! Translation validation: the manifests of a set of targets decide every
//! connection of a cluster model as the intents do. Used by `palisade verify`
//! and by the test suite.
//!
//! Each L3/L4 target of the set is checked, combined (AND) with the set's
//! overlays. HTTP requests are asked about only where some target of the
//! combination sees L7; elsewhere an L7 rule is known (and warned) to be a
//! port-level allowance.
//!
//! A connection from a pod to an outside name that goes through the egress
//! gateway is decided as the layers carry it: the L3/L4 target sees the hop
//! (the pod to the gateway pods, then the gateway pods to the host) and never
//! the pod's own packets to the host; the overlay decides the host (Istio: the
//! gateway's AuthorizationPolicy, by the caller's principal and the SNI). It
//! goes through the gateway where an overlay of the set routes it there (its
//! verdict starts with the mesh route). A set without an overlay configures no
//! gateway: there the application is taken to send the intents' gateway names
//! to the gateway, and the gateway, which nothing in the set restricts, to
//! forward whoever reaches it, so the hop's verdict is the host's. That is
//! the most the L3/L4 layer can promise, and exactly what it enforces: a
//! caller that may reach the gateway for one host reaches every host the
//! gateway serves, and verify reports that as broader than the intents.

use crate::{Dialect, Evaluator, Manifest, RuleRef};
use palisade_compiler::{
    ir::{Ir, Peer},
    model::{ClusterModel, Connection, Endpoint, Pod},
    semantics::Semantics,
};
use palisade_intents::{syntax::Protocol, types::Via};
use palisade_relation::{
    change, reference,
    report::{self, side_difference, Product},
    Class, ClassSet, Direction, Rule, Services, Side, SideSet, Sides, Universe,
};

/// One connection on which manifests and intents disagree
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// the connection, described
    pub connection: String,
    /// the targets combined (`cilium+istio`)
    pub targets: String,
    /// what the intents say
    pub expected: bool,
    /// the rules that decided it in the manifests
    pub rules: Vec<RuleRef>,
    /// the intent lines that allow it (empty when the intents deny it)
    pub intents: Vec<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (say, does) = if self.expected {
            ("allow", "denies")
        } else {
            ("deny", "allows")
        };
        write!(
            f,
            "{}: the intents {say} it, {} {does} it",
            self.connection, self.targets
        )?;
        if !self.intents.is_empty() {
            write!(f, "\n    intent: {}", self.intents.join("; "))?;
        }
        for rule in &self.rules {
            write!(f, "\n    rule:   {rule}")?;
        }
        Ok(())
    }
}

/// What a verification found
#[derive(Debug, Default)]
pub struct Report {
    /// connections compared
    pub compared: usize,
    /// disagreements
    pub mismatches: Vec<Mismatch>,
}

/// Compare the intents with each L3/L4 target of `rendered` combined with
/// its overlays: as sets, side by side, where every dialect of the
/// combination has its symbolic form (each egress side against the intents'
/// egress side, each ingress side against their ingress side, so a hand edit
/// that widens one side only is caught before anyone edits the other);
/// connection by connection where one has not
pub fn verify(ir: &Ir, model: &ClusterModel, rendered: &[(&dyn Dialect, &[Manifest])]) -> Report {
    let set = Set::new(ir, model, rendered);
    let mut report = Report::default();
    // The combinations that read requests alike share a universe, the
    // overlays' relation and the intents'
    for sees_l7 in [false, true] {
        let combinations: Vec<&Combination> = set.combinations.iter().filter(|c| c.sees_l7 == sees_l7).collect();
        if combinations.is_empty() {
            continue;
        }
        let universe = Universe::new(model, sees_l7);
        let overlays = set.overlays(&universe);
        let reference = reference::sides(ir, &universe);
        for combination in combinations {
            // The relation of the intents knows no guardrails yet: with them,
            // the reference semantics decides connection by connection.
            let symbolic = ir.guardrails.is_empty().then_some(()).and(overlays.as_ref());
            let Some(layers) = symbolic.and_then(|o| set.layers(combination, &universe, o)) else {
                set.enumerate(combination, &mut report);
                continue;
            };
            set.compare_sides(combination, &universe, &layers, &reference, &mut report);
            let routed = set.compare_routed(combination, &universe, &layers, &reference);
            report.mismatches.extend(routed);
        }
    }
    report
}

/// Compare every connection of `model` (and the requests it lists) between the
/// intents and each L3/L4 target of `rendered` combined with its overlays:
/// the enumerative verification, kept as the oracle of the symbolic one
pub fn verify_enumerating(ir: &Ir, model: &ClusterModel, rendered: &[(&dyn Dialect, &[Manifest])]) -> Report {
    let set = Set::new(ir, model, rendered);
    let mut report = Report::default();
    for combination in &set.combinations {
        set.enumerate(combination, &mut report);
    }
    report
}

/// The relation of one combination, with what it sends through the egress
/// gateway apart: those connections are decided as the layers carry them
/// (the hop to the gateway pods, then the gateway pods to the host), which
/// no single side holds
struct Layers<'o> {
    /// the L3/L4 target and every overlay enforce: every connection not routed
    sides: Sides,
    /// the L3/L4 target's part in what goes through the gateway
    legs: Legs,
    /// what the overlays decide and route, the same for every combination
    overlays: &'o Overlays,
}

/// What the L3/L4 target lets through on the way through the gateway
#[derive(Default)]
struct Legs {
    /// by pod class (routed ones only): the services on which the class
    /// reaches the gateway pods (its egress side and their ingress side)
    hops: Vec<Services>,
    /// the gateway pods' egress side, towards the hosts
    onward: SideSet,
}

impl Legs {
    fn new(l3l4: &Sides, overlays: &Overlays) -> Self {
        let Some(gateway) = overlays.gateway else {
            return Self::default();
        };
        let (Some(onward), Some(into_gateway)) = (side_of(&l3l4.egress, gateway), side_of(&l3l4.ingress, gateway))
        else {
            return Self::default();
        };
        let hops = (0u32..)
            .zip(&overlays.routes)
            .map(|(class, routed)| match side_of(&l3l4.egress, class) {
                Some(out) if !routed.is_empty() => {
                    out.services_of(gateway).intersection(&into_gateway.services_of(class))
                }
                _ => Services::none(),
            })
            .collect();
        Self {
            hops,
            onward: onward.clone(),
        }
    }
}

/// The side of one pod class
fn side_of(sides: &[SideSet], class: Class) -> Option<&SideSet> {
    usize::try_from(class).ok().and_then(|i| sides.get(i))
}

/// The overlays of a set, in one universe
struct Overlays {
    /// their relation, every one enforcing (`None`: the set has no overlay)
    sides: Option<Sides>,
    /// the gateway pod's class, where the model has one
    gateway: Option<Class>,
    /// by pod class: the outside classes and services routed through the
    /// gateway (none at all without a gateway)
    routes: Vec<SideSet>,
}

/// `sides` without the routed connections on the egress side
fn without_routes(sides: &Sides, routes: &[SideSet], universe: &Universe) -> Sides {
    let all = universe.all();
    Sides {
        egress: sides
            .egress
            .iter()
            .enumerate()
            .map(|(class, side)| match routes.get(class) {
                Some(routed) if !routed.is_empty() => side.difference(routed, all),
                _ => side.clone(),
            })
            .collect(),
        ingress: sides.ingress.clone(),
    }
}

/// The evaluators of one rendered set, and what deciding needs besides
struct Set<'a, 'm> {
    model: &'m ClusterModel,
    overlays: Vec<Box<dyn Evaluator + 'a>>,
    combinations: Vec<Combination<'a>>,
    semantics: Semantics<'a>,
    gateway: Gateway<'m, 'a>,
}

impl<'a, 'm> Set<'a, 'm> {
    fn new(ir: &'a Ir, model: &'m ClusterModel, rendered: &[(&dyn Dialect, &'a [Manifest])]) -> Self {
        let overlay_dialects: Vec<&dyn Dialect> = rendered
            .iter()
            .filter(|(d, _)| d.capabilities().overlay)
            .map(|(d, _)| *d)
            .collect();
        let overlays = rendered
            .iter()
            .filter(|(d, _)| d.capabilities().overlay)
            .map(|(d, m)| d.evaluator(m))
            .collect();
        let combinations = rendered
            .iter()
            .filter(|(d, _)| !d.capabilities().overlay)
            .map(|(dialect, manifests)| Combination {
                evaluator: dialect.evaluator(manifests),
                sees_l7: dialect.capabilities().l7_http || overlay_dialects.iter().any(|d| d.capabilities().l7_http),
                l7_egress: dialect.capabilities().l7_egress
                    || overlay_dialects.iter().any(|d| d.capabilities().l7_egress),
                name: std::iter::once(dialect.id())
                    .chain(overlay_dialects.iter().map(|d| d.id()))
                    .collect::<Vec<_>>()
                    .join("+"),
            })
            .collect();
        Self {
            model,
            overlays,
            combinations,
            semantics: Semantics::in_model(ir, model),
            gateway: Gateway::new(ir, model),
        }
    }

    /// What the overlays decide and route; `None` where one has no symbolic form
    fn overlays(&self, universe: &Universe) -> Option<Overlays> {
        let sides = if self.overlays.is_empty() {
            None
        } else {
            Some(crate::all_enforce(self.overlays.iter().map(AsRef::as_ref), universe)?)
        };
        let gateway = self.gateway.pod.and_then(|p| universe.class_of(&Endpoint::Pod(p)));
        let routes = match gateway {
            Some(gateway) => self.routes(universe, gateway)?,
            None => Vec::new(),
        };
        Some(Overlays { sides, gateway, routes })
    }

    /// The relation of a combination: its L3/L4 target and every overlay
    /// enforce, but on what goes through the gateway
    fn layers<'o>(&self, combination: &Combination, universe: &Universe, overlays: &'o Overlays) -> Option<Layers<'o>> {
        let l3l4 = combination.evaluator.sides(universe)?;
        let legs = Legs::new(&l3l4, overlays);
        let sides = match &overlays.sides {
            Some(o) => l3l4.and(o, universe),
            None => l3l4,
        };
        Some(Layers { sides, legs, overlays })
    }

    /// By pod class, what the set sends through the gateway: what an
    /// overlay routes there, or (no overlay) every TCP connection to a name
    /// the intents send there; the gateway pods do not route themselves
    fn routes(&self, universe: &Universe, gateway: Class) -> Option<Vec<SideSet>> {
        let all = universe.all();
        let count = usize::try_from(universe.pod_count()).unwrap_or(0);
        let mut routes = if self.overlays.is_empty() {
            let hosts = universe.outsides_where(|e| {
                e.fqdn
                    .as_deref()
                    .is_some_and(|name| self.gateway.hosts.iter().any(|h| h.matches(name)))
            });
            let rules = if hosts.is_empty() {
                Vec::new()
            } else {
                vec![Rule::allow(Services::protocol(Protocol::Tcp), hosts)]
            };
            vec![Side::union(true, rules).resolve(universe); count]
        } else {
            let mut union = vec![SideSet::default(); count];
            for overlay in &self.overlays {
                for (into, routed) in union.iter_mut().zip(overlay.routed(universe)?) {
                    *into = into.union(&routed, all);
                }
            }
            union
        };
        if let Some(own) = usize::try_from(gateway).ok().and_then(|g| routes.get_mut(g)) {
            *own = SideSet::default();
        }
        Some(routes)
    }

    /// Each side of the combination against the same side of the intents
    fn compare_sides(
        &self,
        combination: &Combination,
        universe: &Universe,
        layers: &Layers,
        reference: &Sides,
        report: &mut Report,
    ) {
        let everyone: &ClassSet = universe.all();
        let routes = &layers.overlays.routes;
        let sides = &without_routes(&layers.sides, routes, universe);
        let reference = &without_routes(reference, routes, universe);
        let pods = u64::from(universe.pod_count());
        report.compared += usize::try_from(pods.saturating_mul(everyone.len()).saturating_mul(2)).unwrap_or(usize::MAX);
        let before = report.mismatches.len();
        for direction in [Direction::Egress, Direction::Ingress] {
            // A side no layer reads requests on is compared port by port:
            // the requests are the other side's to decide
            let sees_requests = match direction {
                Direction::Egress => combination.l7_egress,
                Direction::Ingress => combination.sees_l7,
            };
            let blinded;
            let (ours, theirs) = if sees_requests {
                (sides, reference)
            } else {
                blinded = (blind(sides, direction, universe), blind(reference, direction, universe));
                (&blinded.0, &blinded.1)
            };
            for (broader, (a, b)) in [(true, (ours, theirs)), (false, (theirs, ours))] {
                for product in side_difference(a, b, direction, universe, everyone) {
                    let mismatch = self.product_mismatch(combination, universe, sides, &product, direction, broader);
                    report.mismatches.push(mismatch);
                }
            }
        }
        // The requests end to end, where a side was compared port by port
        // and found equal: what passes both sides must be what the intents let
        if report.mismatches.len() == before && combination.sees_l7 && !combination.l7_egress {
            for (broader, (a, b)) in [(true, (sides, reference)), (false, (reference, sides))] {
                for product in change::opened(b, a, universe) {
                    let mut mismatch =
                        self.product_mismatch(combination, universe, sides, &product, Direction::Ingress, broader);
                    mismatch.connection = format!("{} (end to end)", report::describe(universe, &product));
                    report.mismatches.push(mismatch);
                }
            }
        }
    }

    /// The connections sent through the gateway, each source's against the
    /// intents' egress side: the hop to the gateway pods (the source's egress
    /// side and the gateway pods' ingress side of the L3/L4 target), the
    /// gateway pods' egress side to the host, and the overlays' decision
    /// on the source's own connection, all at once
    fn compare_routed(
        &self,
        combination: &Combination,
        universe: &Universe,
        layers: &Layers,
        reference: &Sides,
    ) -> Vec<Mismatch> {
        let mut found = Vec::new();
        let (Some(_), Some(pod)) = (layers.overlays.gateway, self.gateway.pod) else {
            return found;
        };
        let all = universe.all();
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for (class, (routed, hop)) in layers.overlays.routes.iter().zip(&layers.legs.hops).enumerate() {
            // every class keeps its place, routed or not
            let Some(wanted) = reference.egress.get(class).filter(|_| !routed.is_empty()) else {
                ours.push(SideSet::default());
                theirs.push(SideSet::default());
                continue;
            };
            let hop = Side::union(true, vec![Rule::allow(hop.clone(), all.as_ref().clone())]).resolve(universe);
            let mut side = routed.intersection(&hop, all).intersection(&layers.legs.onward, all);
            if let Some(overlay) = layers.overlays.sides.as_ref().and_then(|o| o.egress.get(class)) {
                side = side.intersection(overlay, all);
            }
            ours.push(side.request_blind(all));
            theirs.push(routed.intersection(wanted, all).request_blind(all));
        }
        let ours = Sides {
            egress: ours,
            ingress: Vec::new(),
        };
        let theirs = Sides {
            egress: theirs,
            ingress: Vec::new(),
        };
        let overlays: Vec<&dyn Evaluator> = self.overlays.iter().map(AsRef::as_ref).collect();
        for (broader, (a, b)) in [(true, (&ours, &theirs)), (false, (&theirs, &ours))] {
            for product in side_difference(a, b, Direction::Egress, universe, all) {
                let mut mismatch = Mismatch {
                    connection: format!("{} (through {})", report::describe(universe, &product), pod.id()),
                    targets: combination.name.clone(),
                    expected: !broader,
                    rules: Vec::new(),
                    intents: Vec::new(),
                };
                if let Some(conn) = product.sample(universe) {
                    mismatch.rules = gateway_legs(&conn, pod)
                        .iter()
                        .map(|leg| combination.evaluator.evaluate(self.model, leg))
                        .chain(overlays.iter().map(|o| o.evaluate(self.model, &conn)))
                        .flat_map(|v| v.decided_by)
                        .collect();
                    mismatch.intents = intent_lines(&self.semantics.decide(&conn));
                }
                found.push(mismatch);
            }
        }
        found
    }

    /// A product on which the combination and the intents differ, with the
    /// rules and intents that decide its first connection
    fn product_mismatch(
        &self,
        combination: &Combination,
        universe: &Universe,
        sides: &Sides,
        product: &Product,
        direction: Direction,
        broader: bool,
    ) -> Mismatch {
        let side = match direction {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        };
        let first = product
            .from
            .min()
            .zip(product.to.min())
            .zip(product.services.intervals().first());
        // a side wider than the intents that the other side still stops is
        // a latent hole: the next edit of the other side opens it
        let latent =
            broader && first.is_some_and(|((from, to), interval)| !sides.allows(universe, from, to, interval.0));
        let note = if latent {
            format!("on the {side} side; the other side stops it today")
        } else {
            format!("on the {side} side")
        };
        let mut mismatch = Mismatch {
            connection: format!("{} ({note})", report::describe(universe, product)),
            targets: combination.name.clone(),
            expected: !broader,
            rules: Vec::new(),
            intents: Vec::new(),
        };
        if let Some(conn) = product.sample(universe) {
            mismatch.rules = std::iter::once(combination.evaluator.evaluate(self.model, &conn))
                .chain(self.overlays.iter().map(|o| o.evaluate(self.model, &conn)))
                .flat_map(|v| v.decided_by)
                .collect();
            mismatch.intents = intent_lines(&self.semantics.decide(&conn));
        }
        mismatch
    }

    /// Every connection of the model (and the requests it lists), decided
    /// by the combination and by the intents
    fn enumerate(&self, combination: &Combination, report: &mut Report) {
        let model = self.model;
        let overlays: Vec<&dyn Evaluator> = self.overlays.iter().map(AsRef::as_ref).collect();
        for l4 in model.connections() {
            let expected_l4 = self.semantics.decide(&l4);
            let with_requests = matches!(l4.to, Endpoint::Pod(_)) && expected_l4.allowed && combination.sees_l7;
            let requests: Vec<Connection> = if with_requests {
                model
                    .requests
                    .iter()
                    .map(|r| Connection { request: Some(r), ..l4 })
                    .collect()
            } else {
                Vec::new()
            };
            for conn in std::iter::once(&l4).chain(&requests) {
                report.compared += 1;
                let expected = if conn.request.is_none() {
                    expected_l4.clone()
                } else {
                    self.semantics.decide(conn)
                };
                let hop = self.gateway.hop(model, conn, &overlays);
                // The L3/L4 layer's connections: the pod's own, or the two legs through the gateway
                let legs: Vec<Connection> = match hop {
                    Some(pod) => gateway_legs(conn, pod),
                    None => vec![*conn],
                };
                // Deciding is cheap; naming the rules is not: only a mismatch is explained.
                let allowed = legs.iter().all(|leg| combination.evaluator.allows(model, leg))
                    && overlays.iter().all(|o| o.allows(model, conn));
                if allowed == expected.allowed {
                    continue;
                }
                let verdicts: Vec<_> = legs
                    .iter()
                    .map(|leg| combination.evaluator.evaluate(model, leg))
                    .chain(overlays.iter().map(|o| o.evaluate(model, conn)))
                    .collect();
                let connection = match hop {
                    Some(pod) => format!("{} (through {})", conn.describe(), pod.id()),
                    None => conn.describe(),
                };
                report.mismatches.push(Mismatch {
                    connection,
                    targets: combination.name.clone(),
                    expected: expected.allowed,
                    rules: verdicts.into_iter().flat_map(|v| v.decided_by).collect(),
                    intents: intent_lines(&expected),
                });
            }
        }
    }
}

/// The intent lines behind a decision
fn intent_lines(decision: &palisade_compiler::semantics::Decision) -> Vec<String> {
    // An edge inside one namespace allows both sides: named once.
    let mut seen = std::collections::HashSet::new();
    decision
        .egress_by
        .iter()
        .chain(&decision.ingress_by)
        .map(|e| format!("{} ({})", e.source.text, e.source.loc))
        .chain(
            decision
                .guardrails
                .iter()
                .map(|g| format!("guardrail {} ({})", g.source.text, g.source.loc)),
        )
        .filter(|line| seen.insert(line.clone()))
        .collect()
}

/// One direction of `sides` read without requests (the other kept)
fn blind(sides: &Sides, direction: Direction, universe: &Universe) -> Sides {
    let all = universe.all();
    let read = |list: &[SideSet]| list.iter().map(|s| s.request_blind(all)).collect();
    match direction {
        Direction::Egress => Sides {
            egress: read(&sides.egress),
            ingress: sides.ingress.clone(),
        },
        Direction::Ingress => Sides {
            egress: sides.egress.clone(),
            ingress: read(&sides.ingress),
        },
    }
}

/// One L3/L4 target with the set's overlays
struct Combination<'m> {
    evaluator: Box<dyn Evaluator + 'm>,
    /// some layer enforces HTTP rules (at the destination at least)
    sees_l7: bool,
    /// some layer enforces them on the source's side too
    l7_egress: bool,
    name: String,
}

/// The connections an L3/L4 target decides for `conn` in a set with these
/// overlays: `conn` itself, or, when the set sends it through the egress
/// gateway, the hop to the gateway pods and the gateway pods' connection to
/// the host (`explain` shows an L3/L4 target's verdict on these)
pub fn l3l4_legs<'m>(
    ir: &Ir,
    model: &'m ClusterModel,
    conn: &Connection<'m>,
    overlays: &[&dyn Evaluator],
) -> Vec<Connection<'m>> {
    match Gateway::new(ir, model).hop(model, conn, overlays) {
        Some(pod) => gateway_legs(conn, pod),
        None => vec![*conn],
    }
}

/// The egress gateway of the profile, as the model has it, and the names the
/// intents send through it
struct Gateway<'m, 'ir> {
    /// a pod standing for the gateway's pods
    pod: Option<&'m Pod>,
    /// the `via: egress-gateway` names
    hosts: Vec<&'ir palisade_intents::syntax::Fqdn>,
}

impl<'m, 'ir> Gateway<'m, 'ir> {
    fn new(ir: &'ir Ir, model: &'m ClusterModel) -> Self {
        let pod = ir.profile.egress_gateway.as_ref().and_then(|g| {
            model
                .pods
                .iter()
                .find(|p| p.namespace == g.pods.namespace && p.matches(&g.pods.selector))
        });
        let hosts = ir
            .edges
            .iter()
            .filter_map(|e| match &e.to {
                Peer::Fqdn {
                    name,
                    via: Via::EgressGateway,
                } => Some(name),
                _ => None,
            })
            .collect();
        Self { pod, hosts }
    }

    /// The gateway pod that carries `conn` when the set sends it through the
    /// gateway: an overlay routes it there, or (no overlay) the intents do
    fn hop(&self, model: &ClusterModel, conn: &Connection, overlays: &[&dyn Evaluator]) -> Option<&'m Pod> {
        let pod = self.pod?;
        let (Endpoint::Pod(src), Endpoint::External(ext)) = (conn.from, conn.to) else {
            return None;
        };
        // Gateway routes are TCP (TLS by SNI); the gateway pods do not route themselves
        if conn.protocol != Protocol::Tcp || std::ptr::eq(src, pod) {
            return None;
        }
        let name = ext.fqdn.as_deref()?;
        if overlays.is_empty() {
            return self.hosts.iter().any(|h| h.matches(name)).then_some(pod);
        }
        overlays
            .iter()
            .any(|o| o.evaluate(model, conn).decided_by.first().is_some_and(is_mesh_route))
            .then_some(pod)
    }
}

/// Whether the overlay's first reason is a mesh route to a gateway: Istio's
/// evaluator starts the verdict of a routed connection with the
/// VirtualService `tls[i] to <gateway service>` route that carried it
fn is_mesh_route(rule: &RuleRef) -> bool {
    rule.policy.starts_with("VirtualService ") && rule.rule.starts_with("tls[") && rule.rule.contains("] to ")
}

/// The connections the L3/L4 layer sees for one routed through `gateway`:
/// the caller to the gateway pods (the route's destination port is the
/// connection's: palisade routes tcp/443 to tcp/443), and the gateway pods
/// to the host
fn gateway_legs<'a>(conn: &Connection<'a>, gateway: &'a Pod) -> Vec<Connection<'a>> {
    vec![
        Connection {
            to: Endpoint::Pod(gateway),
            ..*conn
        },
        Connection {
            from: Endpoint::Pod(gateway),
            ..*conn
        },
    ]
}
