//! `palisade::shadowed_edge`
//!
//! What it finds: an edge that allows nothing another edge does not already
//! allow: the same source (or a whole namespace that contains it), the same
//! destination, and ports the other edge covers.
//!
//! Why it matters: removing the shadowed edge later changes nothing, which
//! misleads reviewers; often the broader edge is the mistake.
//!
//! Instead: delete the narrower edge, or narrow the broader one.

use crate::ir::{Edge, Ir, Peer};
use palisade_intents::{Diag, Diags};
use std::collections::HashMap;

pub(super) fn check(ir: &Ir, diags: &mut Diags) {
    // Only an edge to the same destination, or to that destination's whole
    // namespace, can cover another: index by destination instead of
    // comparing every pair (50,000 edges are 2.5 billion pairs).
    let mut by_destination: HashMap<&Peer, Vec<usize>> = HashMap::new();
    for (index, edge) in ir.edges.iter().enumerate() {
        by_destination.entry(&edge.to).or_default().push(index);
    }
    for (index, edge) in ir.edges.iter().enumerate() {
        let whole_namespace = edge.to.namespace().map(|ns| Peer::Namespace(ns.to_string()));
        let mut candidates: Vec<usize> = [Some(&edge.to), whole_namespace.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|to| by_destination.get(to))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let shadow = candidates
            .into_iter()
            .map(|i| (i, &ir.edges[i]))
            .find(|(other_index, other)| {
                *other_index != index && covers(other, edge) && !(covers(edge, other) && *other_index > index)
            });
        if let Some((_, other)) = shadow {
            if edge.from_baseline && other.from_baseline {
                continue;
            }
            diags.push(
                Diag::warning(
                    "shadowed_edge",
                    format!(
                        "`{}` allows nothing that `{}` does not already allow",
                        edge.describe(),
                        other.source.text
                    ),
                )
                .at(&edge.source.loc)
                .help(format!("{} already allows it; remove one of the two", other.source.loc)),
            );
        }
    }
}

/// `a` allows every connection `b` allows
fn covers(a: &Edge, b: &Edge) -> bool {
    let peer_covers = |x: &Peer, y: &Peer| {
        x == y || matches!((x, y), (Peer::Namespace(ns), other) if other.namespace() == Some(ns.as_str()))
    };
    let ports_cover =
        a.ports.is_empty() || b.ports.iter().all(|p| a.ports.iter().any(|q| q.covers(p))) && !b.ports.is_empty();
    let http_covers = a.http.is_empty() || a.http == b.http;
    peer_covers(&a.from, &b.from) && peer_covers(&a.to, &b.to) && ports_cover && http_covers
}
