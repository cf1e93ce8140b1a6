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
    services::Services,
    sides::{SideSet, Sides},
    universe::{Class, ClassSet, Universe},
};
use std::collections::BTreeMap;

/// The connections `after` lets through end to end and `before` does not, as products
pub fn opened(before: &Sides, after: &Sides, universe: &Universe) -> Vec<Product> {
    let all = universe.all();
    let pods = universe.pod_count();
    let mut pairs: BTreeMap<(Class, Class), Services> = BTreeMap::new();
    let mut add = |from: Class, to: Class, services: Services| {
        if services.is_empty() {
            return;
        }
        let entry = pairs.entry((from, to)).or_default();
        *entry = entry.union(&services);
    };
    let everything = SideSet::everything(universe);
    let open: Vec<bool> = after.ingress.iter().map(|s| *s == everything).collect();
    let open_egress: Vec<bool> = after.egress.iter().map(|s| *s == everything).collect();
    let is = |flags: &[bool], class: Class| {
        usize::try_from(class)
            .ok()
            .and_then(|i| flags.get(i))
            .copied()
            .unwrap_or(false)
    };
    // sources whose egress lets more through: each new destination's ingress decides
    for (source, (now, was)) in (0u32..).zip(after.egress.iter().zip(&before.egress)) {
        if now == was {
            continue;
        }
        for (lo, hi, destinations) in now.difference(was, all).entries() {
            let range = Services::from_intervals(vec![(lo, hi)]);
            for destination in destinations.iter() {
                if destination >= pods || is(&open, destination) {
                    add(source, destination, range.clone());
                } else if let Some(accepts) = side_of(&after.ingress, destination) {
                    add(source, destination, accepts.services_of(source).intersection(&range));
                }
            }
        }
    }
    // destinations whose ingress lets more in: each new source's egress decides
    for (destination, (now, was)) in (0u32..).zip(after.ingress.iter().zip(&before.ingress)) {
        if now == was {
            continue;
        }
        for (lo, hi, sources) in now.difference(was, all).entries() {
            let range = Services::from_intervals(vec![(lo, hi)]);
            for source in sources.iter() {
                if source >= pods || is(&open_egress, source) {
                    add(source, destination, range.clone());
                } else if let Some(sends) = side_of(&after.egress, source) {
                    add(source, destination, sends.services_of(destination).intersection(&range));
                }
            }
        }
    }
    let products = pairs
        .into_iter()
        .map(|((from, to), services)| Product {
            from: ClassSet::from_iter([from]),
            to: ClassSet::from_iter([to]),
            services,
        })
        .collect();
    group(products)
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
