//! Refusals: intents a dialect cannot express, found from its capability
//! table before anything is emitted. Each says why and what to choose instead.
//! Nothing is ever emitted broader than the intent.

use crate::{capabilities::FqdnSupport, Dialect, EmitOptions, L7Mode};
use palisade_compiler::ir::{Ir, Peer};
use palisade_intents::{types::Via, Diag, Diags};

/// Errors (refusals) and warnings (degradations) for one dialect
pub fn check(ir: &Ir, dialect: &dyn Dialect, options: &EmitOptions) -> Diags {
    let caps = dialect.capabilities();
    let id = dialect.id();
    let mut diags = Diags::new();
    if let (Some(source), false) = (&ir.guardrails.source, dialect.guardrails()) {
        diags.push(
            Diag::error("guardrails_unsupported", format!("`{id}` cannot render the cluster-wide `Guardrails` yet"))
                .at(&source.loc)
                .help("render them with the `kubernetes` target (ClusterNetworkPolicy) or the `calico` target (tiers), or leave this target out of the set: rendering it without the guardrails would allow what they deny"),
        );
    }
    for edge in &ir.edges {
        if !edge.http.is_empty() && !caps.l7_http {
            match options.l7 {
                L7Mode::Enforce => diags.push(
                    Diag::error("l7_unsupported", format!("`{id}` cannot restrict HTTP methods, paths or headers"))
                        .at(&edge.source.loc)
                        .help("add a `cilium` or `istio` target for this rule, remove its `http` part, or set `l7: degrade-to-l4` in palisade.yaml to allow the whole port"),
                ),
                L7Mode::Degrade => diags.push(
                    Diag::warning("l7_degraded", format!("`{id}` allows every request on {} (`l7: degrade-to-l4`)", edge.describe()))
                        .at(&edge.source.loc)
                        .help("the HTTP rules of this edge are not enforced by this target"),
                ),
                L7Mode::ByOverlay => {}
            }
        }
        if let Peer::Fqdn { name, via } = &edge.to {
            let refused = match (caps.fqdn, via) {
                (FqdnSupport::Direct, _) | (_, Via::EgressGateway) => None,
                (FqdnSupport::Enterprise, Via::Direct) if ir.calico_enterprise => None,
                (FqdnSupport::Enterprise, Via::Direct) => Some("domain rules are a Calico Enterprise feature; write `{ fqdn: ..., via: egress-gateway }`, add a `cilium` target, or set `calico: { edition: enterprise }`"),
                (FqdnSupport::ViaGatewayOnly, Via::Direct) => Some("write the destination as `{ fqdn: ..., via: egress-gateway }` so pods may reach only the gateway, or add a `cilium` target, whose toFQDNs rules follow DNS"),
                (FqdnSupport::GatewayRouting, Via::Direct) => None, // the L3/L4 target of the set handles it
            };
            if let Some(help) = refused {
                diags.push(
                    Diag::error(
                        "fqdn_unsupported",
                        format!("`{id}` cannot allow a DNS name (`{name}`) directly: it only knows addresses"),
                    )
                    .at(&edge.source.loc)
                    .help(help),
                );
            }
        }
    }
    if !caps.overlay && !options.gateway_by_overlay {
        for diag in gateway_without_overlay(ir, id) {
            diags.push(diag);
        }
    }
    diags
}

/// Without an overlay that admits each gateway host only from its callers,
/// the L3/L4 layer can only let a caller reach the gateway pods, and the
/// gateway, which nothing in the set configures, forwards whoever reaches it:
/// a caller of one host would reach every host sent through the gateway.
/// Exact only when every gateway host has the same callers.
fn gateway_without_overlay(ir: &Ir, id: &str) -> Vec<Diag> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut callers: BTreeMap<String, BTreeSet<&Peer>> = BTreeMap::new();
    for edge in &ir.edges {
        if let Peer::Fqdn {
            name,
            via: Via::EgressGateway,
        } = &edge.to
        {
            callers.entry(name.as_str().to_string()).or_default().insert(&edge.from);
        }
    }
    let mut diags = Vec::new();
    for edge in &ir.edges {
        let Peer::Fqdn {
            name,
            via: Via::EgressGateway,
        } = &edge.to
        else {
            continue;
        };
        let other = callers
            .iter()
            .find(|(host, from)| *host != name.as_str() && !from.contains(&edge.from));
        if let Some((host, _)) = other {
            diags.push(
                Diag::error(
                    "gateway_needs_overlay",
                    format!("`{id}` lets `{}` reach the egress gateway, which would also take it to `{host}`: nothing in these targets tells the gateway's hosts apart", edge.from),
                )
                .at(&edge.source.loc)
                .help("add an `istio` target (the gateway then admits each host only from its callers), or give every host through the gateway the same callers"),
            );
        }
    }
    diags
}
