//! Two policy sets compared on a cluster model: the originals and their
//! import (as intents), or the originals and their migration to another
//! dialect. What one lets through and the other does not is listed as
//! products in intent terms (`api/* -> 10.0.0.0/8 tcp/5432`), broader
//! first, each with the rules that decide one of its connections on each
//! side.
//!
//! Both sets are compared as relations where every dialect involved has
//! its sets; otherwise each connection of the model is decided on both
//! sides and the differences are gathered into the same products, so the
//! report reads alike either way.

use crate::{Dialect, Evaluator, Manifest};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection, Endpoint},
    semantics::Semantics,
};
use palisade_intents::syntax::Protocol;
use palisade_relation::{
    change, reference,
    report::{self, group, Product},
    services::key,
    Class, ClassSet, Services, Sides, Universe,
};
use std::collections::BTreeMap;

/// What decides connections
pub enum Decider<'a> {
    /// manifests of any dialects: a connection passes when every dialect
    /// that has manifests in the set lets it through (they all enforce)
    Manifests(&'a [Manifest], Vec<(&'static dyn Dialect, Box<dyn Evaluator + 'a>)>),
    /// intents, by the reference semantics
    Intents(&'a Ir, Semantics<'a>),
}

impl<'a> Decider<'a> {
    /// The intents, by their reference semantics
    pub fn intents(ir: &'a Ir) -> Self {
        Decider::Intents(ir, Semantics::new(ir))
    }

    /// The manifests of every dialect that reads some of them
    pub fn manifests(manifests: &'a [Manifest]) -> Self {
        Decider::Manifests(
            manifests,
            crate::DIALECTS
                .iter()
                .filter(|d| manifests.iter().any(|m| d.reads(m)))
                .map(|d| (*d, d.evaluator(manifests)))
                .collect(),
        )
    }

    /// The relation, where every dialect involved has its sets
    fn sides(&self, universe: &Universe) -> Option<Sides> {
        match self {
            Decider::Intents(ir, _) => Some(reference::sides(ir, universe)),
            Decider::Manifests(_, evaluators) => {
                crate::all_enforce(evaluators.iter().map(|(_, e)| e.as_ref()), universe)
            }
        }
    }

    fn allows(&self, model: &ClusterModel, conn: &Connection) -> bool {
        match self {
            Decider::Intents(_, semantics) => semantics.decide(conn).allowed,
            Decider::Manifests(_, evaluators) => evaluators.iter().all(|(_, e)| e.allows(model, conn)),
        }
    }

    /// The rules (or intent lines) that decide a connection
    fn rules(&self, model: &ClusterModel, conn: &Connection) -> Vec<String> {
        match self {
            Decider::Intents(_, semantics) => {
                let d = semantics.decide(conn);
                d.egress_by
                    .iter()
                    .chain(&d.ingress_by)
                    .map(|e| format!("{} ({})", e.source.text, e.source.loc.file_line()))
                    .collect()
            }
            Decider::Manifests(_, evaluators) => evaluators
                .iter()
                .flat_map(|(_, e)| e.evaluate(model, conn).decided_by)
                .map(|rule| rule.to_string())
                .collect(),
        }
    }
}

/// Connections that one side lets through and the other does not
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    /// `from -> to services`
    pub connection: String,
    /// who opens them
    pub from: String,
    /// who accepts them
    pub to: String,
    /// ports as ranges, and the requests where only some differ
    pub services: String,
    /// what the originals do
    pub before: bool,
    /// what the new policies do
    pub after: bool,
    /// the rules that decide one of these connections in the originals
    pub before_rules: Vec<String>,
    /// the rules (or intent lines) that decide it now
    pub after_rules: Vec<String>,
}

/// What a comparison found
pub struct Comparison {
    /// pairs of endpoint classes compared, each on every port and request
    pub compared: usize,
    /// what differs, what is now allowed first, broadest first
    pub differences: Vec<Difference>,
}

/// Every connection of the model, each modelled HTTP request to a pod too,
/// as both sides decide it. The model gets a probe for every peer, port and
/// block the manifests name, so that its classes tell apart whatever either
/// side does (a block only the originals name would otherwise be merged into
/// a class the report then calls different as a whole).
pub fn compare(model: &ClusterModel, before: &Decider, after: &Decider) -> Comparison {
    let mut model = model.clone();
    let named: Vec<Manifest> = [before, after]
        .iter()
        .filter_map(|d| match d {
            Decider::Manifests(manifests, _) => Some(manifests.iter().cloned()),
            Decider::Intents(..) => None,
        })
        .flatten()
        .collect();
    crate::probes::add(&mut model, &named);
    let model = &model;
    let universe = Universe::new(model, !model.requests.is_empty());
    let (opened, closed) = match (before.sides(&universe), after.sides(&universe)) {
        (Some(was), Some(now)) => (
            change::opened(&was, &now, &universe),
            change::opened(&now, &was, &universe),
        ),
        _ => enumerate(model, &universe, before, after),
    };
    let describe = |product: Product, now: bool| {
        let sample = product.sample(&universe);
        let rules = |decider: &Decider| sample.map(|c| decider.rules(model, &c)).unwrap_or_default();
        Difference {
            connection: report::describe(&universe, &product),
            from: report::classes(&universe, &product.from),
            to: report::classes(&universe, &product.to),
            services: report::services(&universe, &product.services),
            before: !now,
            after: now,
            before_rules: rules(before),
            after_rules: rules(after),
        }
    };
    let pods = usize::try_from(universe.pod_count()).unwrap_or(usize::MAX);
    let classes = usize::try_from(universe.all().len()).unwrap_or(usize::MAX);
    Comparison {
        // pod to anything, and outside to pod
        compared: pods
            .saturating_mul(classes)
            .saturating_mul(2)
            .saturating_sub(pods.saturating_mul(pods)),
        differences: opened
            .into_iter()
            .map(|p| describe(p, true))
            .chain(closed.into_iter().map(|p| describe(p, false)))
            .collect(),
    }
}

/// The products opened and closed, found by deciding each connection of
/// the model on both sides. A port on which the connection and every
/// modelled request differ is reported as the port, as the sets would.
fn enumerate(
    model: &ClusterModel,
    universe: &Universe,
    before: &Decider,
    after: &Decider,
) -> (Vec<Product>, Vec<Product>) {
    let requests = u32::try_from(model.requests.len()).unwrap_or(u32::MAX);
    // (opened?, from, to, protocol, port) -> the requests that differ (0: the connection)
    let mut differing: BTreeMap<(bool, Class, Class, Protocol, u16), Vec<u32>> = BTreeMap::new();
    for l4 in model.connections() {
        let (Some(from), Some(to)) = (universe.class_of(&l4.from), universe.class_of(&l4.to)) else {
            continue;
        };
        let mut connections = vec![(l4, 0)];
        if matches!(l4.to, Endpoint::Pod(_)) {
            connections.extend((1u32..).zip(&model.requests).map(|(r, request)| {
                (
                    Connection {
                        request: Some(request),
                        ..l4
                    },
                    r,
                )
            }));
        }
        for (conn, request) in connections {
            let now = after.allows(model, &conn);
            if before.allows(model, &conn) != now {
                differing
                    .entry((now, from, to, conn.protocol, conn.port))
                    .or_default()
                    .push(request);
            }
        }
    }
    let mut opened = Vec::new();
    let mut closed = Vec::new();
    for ((now, from, to, protocol, port), list) in differing {
        let services = if u32::try_from(list.len()).ok() == requests.checked_add(1) {
            Services::ports(protocol, port, port)
        } else {
            Services::from_intervals(
                list.iter()
                    .map(|&r| (key(protocol, port, r), key(protocol, port, r)))
                    .collect(),
            )
        };
        let product = Product {
            from: ClassSet::from_iter([from]),
            to: ClassSet::from_iter([to]),
            services,
        };
        if now { &mut opened } else { &mut closed }.push(product);
    }
    (group(opened), group(closed))
}
