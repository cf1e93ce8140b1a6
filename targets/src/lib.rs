//! palisade-targets: one folder per dialect, each with the same faces: `emit`
//! (IR → manifests) and `evaluate` (manifests × cluster × connection → verdict
//! and the rule responsible).
//!
//! Architecture invariants: an evaluator reads only manifests and the cluster
//! model, never the IR, so that checking a dialect against the reference
//! semantics does not check the compiler against itself. Output is
//! deterministic: sorted objects, sorted keys, no clock.
//! Adding a dialect is a folder and one line in `DIALECTS`.

pub mod kubernetes;
pub mod manifest;
pub mod verdict;

pub use manifest::Manifest;
pub use verdict::{RuleRef, Verdict};

use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection},
};
use palisade_intents::Diags;

/// What the manifests should do
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// drop what the intents do not allow
    Enforce,
    /// drop nothing new; observe what enforcement would drop
    Audit,
}

/// One enforcement layer's dialect
pub trait Dialect: Sync {
    /// The name users write (`kubernetes`)
    fn id(&self) -> &'static str;

    /// The manifests that implement the IR, or refusals saying what to choose instead
    fn emit(&self, ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags>;

    /// Read the manifests once into an evaluator that decides connections by
    /// them alone (manifests of other dialects are ignored)
    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm>;

    /// Whether this dialect reads this manifest (by apiVersion and kind)
    fn reads(&self, manifest: &Manifest) -> bool;
}

/// Decides connections by one dialect's manifests
pub trait Evaluator {
    /// The verdict on one connection, and the rules that decided it
    fn evaluate(&self, model: &ClusterModel, conn: &Connection) -> Verdict;
}

/// Every dialect palisade knows
pub static DIALECTS: &[&dyn Dialect] = &[&kubernetes::Kubernetes];

/// The dialect of that name
pub fn dialect(id: &str) -> Option<&'static dyn Dialect> {
    DIALECTS.iter().copied().find(|d| d.id() == id)
}

/// Names of all dialects, for help texts and "did you mean"
pub fn dialect_ids() -> Vec<&'static str> {
    DIALECTS.iter().map(|d| d.id()).collect()
}
