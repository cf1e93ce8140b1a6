//! What one side of a pod lets through, as a set: for every interval of
//! services (ports and requests), the classes at the other end.
//!
//! Every layer palisade emits for decides a connection by the source pod's
//! egress side and the destination pod's ingress side; an outside end has no
//! side. A dialect describes each side as tiers of ordered rules (NetworkPolicy:
//! one tier of allows; Calico: its tiers, orders and actions; Cilium and
//! Istio: the denies, then the allows); [`Side::resolve`] turns that into a
//! [`SideSet`], the canonical form two layers are compared in.

use crate::{
    services::{Key, Services},
    universe::{ClassSet, Universe},
};
use std::sync::Arc;

/// What a rule does with what it matches
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// let it through
    Allow,
    /// stop it
    Deny,
    /// leave it to the next tier (Calico `Pass`)
    Pass,
}

/// One rule of a side: for these services, these classes at the other end
#[derive(Debug, Clone)]
pub struct Rule {
    /// what it does
    pub action: Action,
    /// the ports and requests it speaks of
    pub services: Services,
    /// the classes at the other end it matches
    pub peers: ClassSet,
}

impl Rule {
    /// An allow rule
    pub fn allow(services: Services, peers: ClassSet) -> Self {
        Self {
            action: Action::Allow,
            services,
            peers,
        }
    }

    /// A deny rule
    pub fn deny(services: Services, peers: ClassSet) -> Self {
        Self {
            action: Action::Deny,
            services,
            peers,
        }
    }
}

/// Rules asked in order: the first that matches decides
#[derive(Debug, Clone, Default)]
pub struct Tier {
    /// in order
    pub rules: Vec<Rule>,
    /// whether what no rule matched stops here (a tier with a policy that
    /// selects the pod) rather than going on to the next tier
    pub deny_unmatched: bool,
}

/// One side of one pod
#[derive(Debug, Clone)]
pub struct Side {
    /// asked in order
    pub tiers: Vec<Tier>,
    /// what happens to what went through every tier unmatched
    pub allow_unmatched: bool,
}

impl Side {
    /// A side nothing isolates: everything passes
    pub fn open() -> Self {
        Self {
            tiers: Vec::new(),
            allow_unmatched: true,
        }
    }

    /// The side of a layer that admits the union of its allow rules, or
    /// everything when nothing isolates it (NetworkPolicy, the intents)
    pub fn union(isolated: bool, rules: Vec<Rule>) -> Self {
        if !isolated {
            return Self::open();
        }
        Self {
            tiers: vec![Tier {
                rules,
                deny_unmatched: true,
            }],
            allow_unmatched: false,
        }
    }

    /// The side of a layer where any deny wins over any allow, and an
    /// isolated side admits only what an allow matches (Cilium, Istio)
    pub fn deny_overrides(isolated: bool, denies: Vec<Rule>, allows: Vec<Rule>) -> Self {
        let mut tiers = Vec::new();
        if !denies.is_empty() {
            tiers.push(Tier {
                rules: denies,
                deny_unmatched: false,
            });
        }
        if isolated {
            tiers.push(Tier {
                rules: allows,
                deny_unmatched: true,
            });
        }
        Self {
            tiers,
            allow_unmatched: !isolated,
        }
    }

    /// The set this side lets through
    pub fn resolve(&self, universe: &Universe) -> SideSet {
        let all = universe.all();
        let rules: Vec<&Rule> = self.tiers.iter().flat_map(|t| &t.rules).collect();
        let mut cuts: Vec<Key> = Vec::new();
        for interval in Services::all().intervals() {
            cuts.push(interval.0);
            if let Some(next) = interval.1.checked_add(1) {
                cuts.push(next);
            }
        }
        for rule in &rules {
            for &(lo, hi) in rule.services.intervals() {
                cuts.push(lo);
                if let Some(next) = hi.checked_add(1) {
                    cuts.push(next);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let domain = Services::all();
        let unmatched = self.decide(all, |_| false);
        let mut out = SideSet::default();
        for (index, &lo) in cuts.iter().enumerate() {
            if !domain.contains(lo) {
                continue;
            }
            let hi = cuts.get(index + 1).map_or(Key::MAX, |next| next - 1);
            let covering = |rule: &Rule| rule.services.contains(lo);
            let set = if rules.iter().any(|r| covering(r)) {
                Arc::new(self.decide(all, covering))
            } else {
                Arc::new(unmatched.clone())
            };
            out.push(lo, hi, set, all);
        }
        out
    }

    /// The classes let through for one service point, `covering` saying
    /// which rules speak of it
    fn decide(&self, all: &ClassSet, covering: impl Fn(&Rule) -> bool) -> ClassSet {
        let mut remaining = all.clone();
        let mut allowed = ClassSet::new();
        for tier in &self.tiers {
            let mut passed = ClassSet::new();
            for rule in tier.rules.iter().filter(|r| covering(r)) {
                let matched = &remaining & &rule.peers;
                if matched.is_empty() {
                    continue;
                }
                match rule.action {
                    Action::Allow => allowed |= &matched,
                    Action::Deny => {}
                    Action::Pass => passed |= &matched,
                }
                remaining -= &matched;
            }
            if tier.deny_unmatched {
                remaining = passed;
            } else {
                remaining |= passed;
            }
        }
        if self.allow_unmatched {
            allowed |= remaining;
        }
        allowed
    }
}

/// The canonical form of a side: disjoint service intervals in order, each
/// with the classes let through on it; no empty sets, no two neighbours with
/// the same set
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideSet(Vec<(Key, Key, Arc<ClassSet>)>);

impl SideSet {
    /// The side that lets everything through
    pub fn everything(universe: &Universe) -> Self {
        let mut out = Self::default();
        for &(lo, hi) in Services::all().intervals() {
            out.push(lo, hi, universe.all().clone(), universe.all());
        }
        out
    }

    fn push(&mut self, lo: Key, hi: Key, set: Arc<ClassSet>, all: &Arc<ClassSet>) {
        if set.is_empty() {
            return;
        }
        if let Some(last) = self.0.last_mut() {
            if last.1.checked_add(1) == Some(lo) && *last.2 == *set {
                last.1 = hi;
                return;
            }
        }
        // the whole universe is shared, not copied per pod
        let set = if *set == **all { all.clone() } else { set };
        self.0.push((lo, hi, set));
    }

    /// The intervals and their classes
    pub fn entries(&self) -> impl Iterator<Item = (Key, Key, &ClassSet)> {
        self.0.iter().map(|(lo, hi, set)| (*lo, *hi, set.as_ref()))
    }

    /// Whether nothing passes
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The classes let through on service `key`
    pub fn at(&self, key: Key) -> Option<&ClassSet> {
        let index = self.0.partition_point(|(_, hi, _)| *hi < key);
        self.0
            .get(index)
            .filter(|(lo, _, _)| *lo <= key)
            .map(|(_, _, set)| set.as_ref())
    }

    /// Whether class `class` passes on service `key`
    pub fn contains(&self, key: Key, class: u32) -> bool {
        self.at(key).is_some_and(|set| set.contains(class))
    }

    /// The services on which `class` passes
    pub fn services_of(&self, class: u32) -> Services {
        Services::from_intervals(
            self.0
                .iter()
                .filter(|(_, _, set)| set.contains(class))
                .map(|(lo, hi, _)| (*lo, *hi))
                .collect(),
        )
    }

    /// Both sets combined interval by interval
    pub fn combine(
        &self,
        other: &SideSet,
        all: &Arc<ClassSet>,
        op: impl Fn(&ClassSet, &ClassSet) -> ClassSet,
    ) -> SideSet {
        let empty = ClassSet::new();
        let mut cuts: Vec<Key> = Vec::new();
        for (lo, hi, _) in self.0.iter().chain(&other.0) {
            cuts.push(*lo);
            if let Some(next) = hi.checked_add(1) {
                cuts.push(next);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = SideSet::default();
        for (index, &lo) in cuts.iter().enumerate() {
            let hi = cuts.get(index + 1).map_or(Key::MAX, |next| next - 1);
            let a = self.at(lo).unwrap_or(&empty);
            let b = other.at(lo).unwrap_or(&empty);
            if a.is_empty() && b.is_empty() {
                continue;
            }
            out.push(lo, hi, Arc::new(op(a, b)), all);
        }
        out
    }

    /// What passes on both
    pub fn intersection(&self, other: &SideSet, all: &Arc<ClassSet>) -> SideSet {
        self.combine(other, all, |a, b| a & b)
    }

    /// What passes on `self` and not on `other`
    pub fn difference(&self, other: &SideSet, all: &Arc<ClassSet>) -> SideSet {
        self.combine(other, all, |a, b| a - b)
    }

    /// What passes on either
    pub fn union(&self, other: &SideSet, all: &Arc<ClassSet>) -> SideSet {
        self.combine(other, all, |a, b| a | b)
    }

    /// The side as a layer that sees no HTTP reads it: a port passes whole,
    /// every request of it, for the classes whose connection (request 0) it
    /// lets through, and requests beyond that say nothing
    pub fn request_blind(&self, all: &Arc<ClassSet>) -> SideSet {
        const REQUESTS: Key = 0xFFFF_FFFF;
        let mut out = SideSet::default();
        for (lo, hi, set) in &self.0 {
            // only the interval holding a port's request 0 speaks for that port
            let first = if lo & REQUESTS == 0 {
                *lo
            } else {
                (lo | REQUESTS).saturating_add(1)
            };
            let last = hi | REQUESTS;
            if first <= last && first >> 32 <= hi >> 32 {
                out.push(first, last, set.clone(), all);
            }
        }
        out
    }

    /// Only the classes of `keep`
    pub fn restrict(&self, keep: &ClassSet, all: &Arc<ClassSet>) -> SideSet {
        let mut out = SideSet::default();
        for (lo, hi, set) in &self.0 {
            out.push(*lo, *hi, Arc::new(set.as_ref() & keep), all);
        }
        out
    }
}

/// The direction of a side
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// what a pod may send
    Egress,
    /// what a pod may receive
    Ingress,
}

/// Both sides of every pod class of a universe: the relation of one layer.
/// A connection from `s` to `d` on `k` passes when `egress[s]` has `d` on
/// `k` (or `s` is outside) and `ingress[d]` has `s` on `k` (or `d` is outside).
#[derive(Debug, Clone, Default)]
pub struct Sides {
    /// by pod class
    pub egress: Vec<SideSet>,
    /// by pod class
    pub ingress: Vec<SideSet>,
}

impl Sides {
    /// Every side open
    pub fn open(universe: &Universe) -> Self {
        let everything = SideSet::everything(universe);
        let count = usize::try_from(universe.pod_count()).unwrap_or(0);
        Self {
            egress: vec![everything.clone(); count],
            ingress: vec![everything; count],
        }
    }

    /// The sides of one direction
    pub fn of(&self, direction: Direction) -> &[SideSet] {
        match direction {
            Direction::Egress => &self.egress,
            Direction::Ingress => &self.ingress,
        }
    }

    /// Both layers enforce: each side is the intersection
    pub fn and(&self, other: &Sides, universe: &Universe) -> Sides {
        let all = universe.all();
        let pair = |a: &[SideSet], b: &[SideSet]| -> Vec<SideSet> {
            a.iter().zip(b).map(|(x, y)| x.intersection(y, all)).collect()
        };
        Sides {
            egress: pair(&self.egress, &other.egress),
            ingress: pair(&self.ingress, &other.ingress),
        }
    }

    /// Whether the connection from class `from` to class `to` on `key` passes
    pub fn allows(&self, universe: &Universe, from: u32, to: u32, key: Key) -> bool {
        let side = |sides: &[SideSet], of: u32, other: u32| {
            if of >= universe.pod_count() {
                return true;
            }
            usize::try_from(of)
                .ok()
                .and_then(|i| sides.get(i))
                .is_some_and(|s| s.contains(key, other))
        };
        side(&self.egress, from, to) && side(&self.ingress, to, from)
    }
}
