//! What an evaluator answers: allowed or not, and which rules decided it.

use std::fmt;

/// A rule of a manifest: `NetworkPolicy shop/backend-ingress ingress[0]`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
