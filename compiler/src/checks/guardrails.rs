//! `palisade::dead_intent`, `palisade::overridden_intent`
//!
//! What it finds: an edge of a namespace's intents whose every connection an
//! admin guardrail denies (`dead_intent`: it allows nothing), or some of
//! whose connections one denies (`overridden_intent`: it allows less than
//! it says), on the model verification builds. Edges that only duplicate an
//! admin `allow` are not reported: they change nothing and harm nothing.
//!
//! Why it matters: a namespace team reads its intents as what its pods may
//! do; a platform guardrail that silently takes it away breaks the service
//! on the day it is enforced, with nothing in the team's files saying why.
//!
//! Instead: remove the edge, or ask the platform team for a guardrail that
//! admits it (an `allow` before the `deny`, or `delegate`).
//!
//! The model knows namespaces by name only (no intents say which labels a
//! namespace carries): a guardrail that selects namespaces by other labels
//! is held to the model's namespaces, which carry none of them.

use crate::{
    ir::{Edge, Guardrail, Ir},
    model::{synthesize, Endpoint},
    semantics::{admits, matches, Semantics},
};
use palisade_intents::{types::GuardrailAction, Diag, Diags};

/// Beyond this many (edge, connection) pairs the check says nothing rather
/// than slow every command down (a large repository without guardrails
/// costs nothing: the check returns at once)
const BUDGET: usize = 4_000_000;

pub(super) fn check(ir: &Ir, diags: &mut Diags) {
    if ir.guardrails.admin.iter().all(|g| g.action != GuardrailAction::Deny) {
        return;
    }
    let model = synthesize(ir);
    let semantics = Semantics::in_model(ir, &model);
    let endpoints: Vec<Endpoint> = model.endpoints().collect();
    let mut spent = 0usize;
    for edge in ir.edges.iter().filter(|e| !e.from_baseline) {
        let sources: Vec<&Endpoint> = endpoints.iter().filter(|e| matches(ir, &edge.from, e)).collect();
        let destinations: Vec<&Endpoint> = endpoints.iter().filter(|e| matches(ir, &edge.to, e)).collect();
        spent = spent.saturating_add(sources.len() * destinations.len() * model.ports.len());
        if spent > BUDGET {
            return;
        }
        let mut allowed = 0usize;
        let mut denied: Option<&Guardrail> = None;
        let mut denied_count = 0usize;
        for from in &sources {
            for to in &destinations {
                if matches!((from, to), (Endpoint::External(_), Endpoint::External(_))) {
                    continue;
                }
                for &(protocol, port) in &model.ports {
                    let conn = crate::model::Connection {
                        from: **from,
                        to: **to,
                        protocol,
                        port,
                        request: None,
                    };
                    if !admits(&edge.ports, &conn) {
                        continue;
                    }
                    allowed += 1;
                    let decision = semantics.decide(&conn);
                    if let Some(g) = decision
                        .guardrails
                        .first()
                        .filter(|g| g.action == GuardrailAction::Deny)
                    {
                        if !decision.allowed && ir.guardrails.admin.iter().any(|a| std::ptr::eq(a, *g)) {
                            denied_count += 1;
                            denied.get_or_insert(g);
                        }
                    }
                }
            }
        }
        if let Some(guardrail) = denied {
            diags.push(report(edge, guardrail, denied_count == allowed));
        }
    }
}

fn report(edge: &Edge, guardrail: &Guardrail, all: bool) -> Diag {
    let (code, what) = if all {
        ("dead_intent", "allows nothing")
    } else {
        ("overridden_intent", "allows less than it says")
    };
    Diag::warning(
        code,
        format!(
            "`{}` {what}: the guardrail `{}` denies {}",
            edge.source.text,
            guardrail.source.text,
            if all { "all of it" } else { "some of it" }
        ),
    )
    .at(&edge.source.loc)
    .help(format!(
        "{} denies it before any namespace's intents are read; remove the edge, or ask for a guardrail that admits it",
        guardrail.source.loc
    ))
}
