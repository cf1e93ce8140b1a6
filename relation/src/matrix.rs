//! Pod to pod on one service, for every pair at once: a row is the
//! source's egress on that service, kept where the destination's ingress
//! admits the source. Ingress sides are read once and turned around (who
//! admits each source), so the cost is the size of the sides and of the
//! answer, not a decision per cell.

use crate::{
    services::Key,
    sides::{SideSet, Sides},
    universe::{ClassSet, Universe},
};

/// `allowed[from][to]` over the pod classes of the universe, on service `key`
pub fn matrix(sides: &Sides, universe: &Universe, key: Key) -> Vec<Vec<bool>> {
    let pods = universe.pod_count();
    let count = usize::try_from(pods).unwrap_or(0);
    let all_pods = universe.pods();
    // destinations that admit every pod, and for the others who they admit
    let mut open = ClassSet::new();
    let mut admitting: Vec<ClassSet> = vec![ClassSet::new(); count];
    for (destination, side) in (0u32..).zip(&sides.ingress) {
        let Some(sources) = side.at(key) else {
            continue;
        };
        if all_pods.is_subset(sources) {
            open.insert(destination);
            continue;
        }
        for source in sources.iter().filter(|&s| s < pods) {
            if let Some(set) = usize::try_from(source).ok().and_then(|i| admitting.get_mut(i)) {
                set.insert(destination);
            }
        }
    }
    let empty = ClassSet::new();
    (0..count)
        .map(|row| {
            let reached = sides
                .egress
                .get(row)
                .and_then(|s: &SideSet| s.at(key))
                .unwrap_or(&empty);
            let admitted = admitting.get(row).map_or_else(|| open.clone(), |a| a | &open);
            let mut cells = vec![false; count];
            for to in &(reached & &admitted) {
                if let Some(cell) = usize::try_from(to).ok().and_then(|i| cells.get_mut(i)) {
                    *cell = true;
                }
            }
            cells
        })
        .collect()
}
