//! Two policy sets compared on a cluster model: the originals and their
//! import (as intents), or the originals and their migration to another
//! dialect. Every connection decided differently is listed, with the rules
//! that decided it on each side.

use crate::{Dialect, Evaluator, Manifest};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection, Endpoint},
    semantics::Semantics,
};

/// What decides connections
pub enum Decider<'a> {
    /// manifests of any dialects: a connection passes when every dialect
    /// that has manifests in the set lets it through (they all enforce)
    Manifests(Vec<(&'static dyn Dialect, Box<dyn Evaluator + 'a>)>),
    /// intents, by the reference semantics
    Intents(Semantics<'a>),
}

impl<'a> Decider<'a> {
    /// The intents, by their reference semantics
    pub fn intents(ir: &'a Ir) -> Self {
        Decider::Intents(Semantics::new(ir))
    }

    /// The manifests of every dialect that reads some of them
    pub fn manifests(manifests: &'a [Manifest]) -> Self {
        Decider::Manifests(
            crate::DIALECTS
                .iter()
                .filter(|d| manifests.iter().any(|m| d.reads(m)))
                .map(|d| (*d, d.evaluator(manifests)))
                .collect(),
        )
    }

    fn decide(&self, model: &ClusterModel, conn: &Connection) -> (bool, Vec<String>) {
        match self {
            Decider::Intents(semantics) => {
                let d = semantics.decide(conn);
                let why = d
                    .egress_by
                    .iter()
                    .chain(&d.ingress_by)
                    .map(|e| format!("{} ({})", e.source.text, e.source.loc.file_line()))
                    .collect();
                (d.allowed, why)
            }
            Decider::Manifests(evaluators) => {
                let mut allowed = true;
                let mut why = Vec::new();
                for (_, e) in evaluators {
                    let v = e.evaluate(model, conn);
                    allowed &= v.allowed;
                    why.extend(v.decided_by.iter().map(ToString::to_string));
                }
                (allowed, why)
            }
        }
    }
}

/// One connection decided differently
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    /// the connection, described
    pub connection: String,
    /// who opens it
    pub from: String,
    /// who accepts it
    pub to: String,
    /// `tcp/80`, and the request when there is one
    pub port: String,
    /// what the originals do
    pub before: bool,
    /// what the new policies do
    pub after: bool,
    /// the rules that decided it in the originals
    pub before_rules: Vec<String>,
    /// the rules (or intent lines) that decided it now
    pub after_rules: Vec<String>,
}

/// Every connection of the model (and each modelled HTTP request to a pod
/// that either side lets through) decided by both sides
pub fn compare(model: &ClusterModel, before: &Decider, after: &Decider) -> (usize, Vec<Difference>) {
    let mut compared = 0;
    let mut differences = Vec::new();
    for l4 in model.connections() {
        let mut connections = vec![l4];
        if matches!(l4.to, Endpoint::Pod(_)) && !model.requests.is_empty() {
            connections.extend(model.requests.iter().map(|r| Connection { request: Some(r), ..l4 }));
        }
        for conn in connections {
            compared += 1;
            let (was, before_rules) = before.decide(model, &conn);
            let (now, after_rules) = after.decide(model, &conn);
            if was != now {
                let request = conn
                    .request
                    .map(|r| format!(" {} {}", r.method, r.path))
                    .unwrap_or_default();
                differences.push(Difference {
                    connection: conn.describe(),
                    from: conn.from.describe(),
                    to: conn.to.describe(),
                    port: format!("{}/{}{request}", conn.protocol.as_str(), conn.port),
                    before: was,
                    after: now,
                    before_rules,
                    after_rules,
                });
            }
        }
    }
    (compared, differences)
}
