//! What one relation lets through end to end that another does not: the
//! connections a change opens (or, swapped, closes).
//!
//! A connection passes when both its sides let it; so anything that passes
//! after and not before is on a side that changed. Only the changed parts
//! of sides are walked, each checked against the other end's side after
//! the change: the cost follows the size of the change, not the square of
//! the cluster.

use crate::{
    report::{group, Product},
    services::{Key, Services},
    sides::{SideSet, Sides},
    universe::{Class, ClassSet, Universe},
};
use std::collections::BTreeMap;

/// The connections `after` lets through end to end and `before` does not, as products
pub fn opened(before: &Sides, after: &Sides, universe: &Universe) -> Vec<Product> {
    // each pair's intervals gathered, then merged once (a union per
    // interval was quadratic on a side of many)
    let mut pairs: BTreeMap<(Class, Class), Vec<(Key, Key)>> = BTreeMap::new();
    // sources whose egress lets more through: each new destination's ingress decides
    for (source, destination, services) in widened(&before.egress, &after.egress, &after.ingress, universe) {
        pairs
            .entry((source, destination))
            .or_default()
            .extend_from_slice(services.intervals());
    }
    // destinations whose ingress lets more in: each new source's egress decides
    for (destination, source, services) in widened(&before.ingress, &after.ingress, &after.egress, universe) {
        pairs
            .entry((source, destination))
            .or_default()
            .extend_from_slice(services.intervals());
    }
    let products = pairs
        .into_iter()
        .map(|((from, to), intervals)| Product {
            from: ClassSet::from_iter([from]),
            to: ClassSet::from_iter([to]),
            services: Services::from_intervals(intervals),
        })
        .collect();
    group(products)
}

/// Where one direction's sides let more through after than before:
/// (the pod whose side it is, the class at the other end, the services),
/// kept where the other end's side in the other direction (`facing`, after
/// the change) lets it too; outside ends and open sides let everything
fn widened(
    before: &[SideSet],
    after: &[SideSet],
    facing: &[SideSet],
    universe: &Universe,
) -> Vec<(Class, Class, Services)> {
    let all = universe.all();
    let pods = universe.pod_count();
    let everything = SideSet::everything(universe);
    // which facing sides let everything through, decided once, not per pair
    let open: Vec<bool> = facing.iter().map(|side| *side == everything).collect();
    let mut out = Vec::new();
    for (pod, (now, was)) in (0u32..).zip(after.iter().zip(before)) {
        if now == was {
            continue;
        }
        for (lo, hi, others) in now.difference(was, all).entries() {
            let range = Services::from_intervals(vec![(lo, hi)]);
            for other in others.iter() {
                let is_open = usize::try_from(other)
                    .ok()
                    .and_then(|i| open.get(i))
                    .copied()
                    .unwrap_or(false);
                let services = match side_of(facing, other) {
                    _ if other >= pods || is_open => range.clone(),
                    Some(side) => side.services_of(pod).intersection(&range),
                    None => Services::none(),
                };
                if !services.is_empty() {
                    out.push((pod, other, services));
                }
            }
        }
    }
    out
}

fn side_of(sides: &[SideSet], class: Class) -> Option<&SideSet> {
    usize::try_from(class).ok().and_then(|i| sides.get(i))
}

/// What passes end to end from `from` to `to` (classes), on which services
pub fn between(sides: &Sides, universe: &Universe, from: Class, to: Class) -> Services {
    let pods = universe.pod_count();
    let side = |list: &[SideSet], of: Class, other: Class| -> Services {
        if of >= pods {
            return Services::all();
        }
        usize::try_from(of)
            .ok()
            .and_then(|i| list.get(i))
            .map(|s| s.services_of(other))
            .unwrap_or_default()
    };
    side(&sides.egress, from, to).intersection(&side(&sides.ingress, to, from))
}
