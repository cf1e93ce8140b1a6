//! `palisade::metadata_for_namespace`
//!
//! What it finds: the cloud metadata address (169.254.169.254) opened to every
//! pod of a namespace, by the namespace baseline or by an edge from `ns/*`.
//!
//! Why it matters: the metadata service hands out the node's cloud credentials;
//! any compromised pod of the namespace can take them (a classic path from one
//! pod to the cloud account).
//!
//! Instead: grant `metadata` in the baseline of the one service that needs it.

use crate::ir::{Ir, Peer};
use palisade_intents::{types::Baseline, Diag, Diags};

pub(super) fn check(ir: &Ir, diags: &mut Diags) {
    let metadata = ir.profile.metadata.network();
    for ns in ir.namespaces.values() {
        if let Some(source) = ns.baseline.get(&Baseline::Metadata) {
            diags.push(warning(&ns.name).at(&source.loc));
        }
    }
    for edge in ir.edges.iter().filter(|e| !e.from_baseline) {
        let Peer::Namespace(ns) = &edge.from else {
            continue;
        };
        let reaches = match &edge.to {
            Peer::Cidr { net, except } => net.contains(&metadata) && !except.iter().any(|e| e.contains(&metadata)),
            _ => false,
        };
        if reaches {
            diags.push(warning(ns).at(&edge.source.loc));
        }
    }
}

fn warning(ns: &str) -> Diag {
    Diag::warning(
        "metadata_for_namespace",
        format!("every pod of namespace `{ns}` may reach the cloud metadata service and its credentials"),
    )
    .help("grant `metadata` only to the service that needs it: `services: { name: { baseline: [metadata] } }`")
}
