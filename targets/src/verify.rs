//! Translation validation: the manifests of a set of targets decide every
//! connection of a cluster model as the intents do. Used by `palisade verify`
//! and by the test suite.
//!
//! Each L3/L4 target of the set is checked, combined (AND) with the set's
//! overlays. HTTP requests are asked about only where some target of the
//! combination sees L7; elsewhere an L7 rule is known (and warned) to be a
//! port-level allowance.

use crate::{Dialect, Evaluator, Manifest, RuleRef};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection, Endpoint},
    semantics::Semantics,
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

/// Compare every connection of `model` (and the requests it lists) between the
/// intents and each L3/L4 target of `rendered` combined with its overlays
pub fn verify(ir: &Ir, model: &ClusterModel, rendered: &[(&dyn Dialect, &[Manifest])]) -> Report {
    let overlays: Vec<(&dyn Dialect, Box<dyn Evaluator + '_>)> = rendered
        .iter()
        .filter(|(d, _)| d.capabilities().overlay)
        .map(|(d, m)| (*d, d.evaluator(m)))
        .collect();
    let combinations: Vec<Combination> = rendered
        .iter()
        .filter(|(d, _)| !d.capabilities().overlay)
        .map(|(dialect, manifests)| Combination {
            evaluator: dialect.evaluator(manifests),
            sees_l7: dialect.capabilities().l7_http || overlays.iter().any(|(d, _)| d.capabilities().l7_http),
            name: std::iter::once(dialect.id())
                .chain(overlays.iter().map(|(d, _)| d.id()))
                .collect::<Vec<_>>()
                .join("+"),
        })
        .collect();
    let semantics = Semantics::new(ir);
    let mut report = Report::default();
    for l4 in model.connections() {
        let expected_l4 = semantics.decide(&l4);
        let with_requests = matches!(l4.to, Endpoint::Pod(_)) && expected_l4.allowed;
        let requests: Vec<Connection> = if with_requests {
            model
                .requests
                .iter()
                .map(|r| Connection { request: Some(r), ..l4 })
                .collect()
        } else {
            Vec::new()
        };
        for combination in &combinations {
            let asked = std::iter::once(&l4).chain(requests.iter().filter(|_| combination.sees_l7));
            for conn in asked {
                report.compared += 1;
                let expected = if conn.request.is_none() {
                    expected_l4.clone()
                } else {
                    semantics.decide(conn)
                };
                // Deciding is cheap; naming the rules is not: only a mismatch is explained.
                let allowed =
                    combination.evaluator.allows(model, conn) && overlays.iter().all(|(_, o)| o.allows(model, conn));
                if allowed == expected.allowed {
                    continue;
                }
                let verdicts: Vec<_> = std::iter::once(combination.evaluator.evaluate(model, conn))
                    .chain(overlays.iter().map(|(_, o)| o.evaluate(model, conn)))
                    .collect();
                report.mismatches.push(Mismatch {
                    connection: conn.describe(),
                    targets: combination.name.clone(),
                    expected: expected.allowed,
                    rules: verdicts.into_iter().flat_map(|v| v.decided_by).collect(),
                    intents: expected
                        .egress_by
                        .iter()
                        .chain(&expected.ingress_by)
                        .map(|e| format!("{} ({})", e.source.text, e.source.loc))
                        .collect(),
                });
            }
        }
    }
    report
}

/// One L3/L4 target with the set's overlays
struct Combination<'m> {
    evaluator: Box<dyn Evaluator + 'm>,
    sees_l7: bool,
    name: String,
}
