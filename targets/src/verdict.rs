//! What an evaluator answers: allowed or not, and which rules decided it.

use std::fmt;

/// A rule of a manifest: `NetworkPolicy shop/backend-ingress ingress[0]`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleRef {
    /// `Kind namespace/name`
    pub policy: String,
    /// the rule inside it (`ingress[0]`), or what decided (`isolation`)
    pub rule: String,
    /// the manifest's `palisade.dev/source` annotation, when it has one
    pub source: Option<String>,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.policy, self.rule)?;
        if let Some(source) = &self.source {
            write!(f, " (from {source})")?;
        }
        Ok(())
    }
}

/// The verdict on one connection
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// whether it passes
    pub allowed: bool,
    /// the rules that let it pass, or the isolating policies that stopped it
    pub decided_by: Vec<RuleRef>,
}

/// The side of a pod a rule guards
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// into the pod
    Ingress,
    /// out of the pod
    Egress,
}

/// A connection passes when the source pod lets it out and the destination
/// pod lets it in (an outside end has no side to consult). `side` answers for
/// one pod and direction, with the rules that decided.
pub fn both_sides(
    conn: &palisade_compiler::model::Connection,
    mut side: impl FnMut(&palisade_compiler::model::Pod, Direction) -> (bool, Vec<RuleRef>),
) -> Verdict {
    use palisade_compiler::model::Endpoint;
    let mut allowed = true;
    let mut decided_by = Vec::new();
    for (end, direction) in [(conn.from, Direction::Egress), (conn.to, Direction::Ingress)] {
        if let Endpoint::Pod(pod) = end {
            let (ok, refs) = side(pod, direction);
            allowed &= ok;
            decided_by.extend(refs);
        }
    }
    Verdict { allowed, decided_by }
}
