//! palisade-compiler: resolution of intents into the IR, the cluster profile,
//! checks, the cluster model and the reference semantics of the IR.
//!
//! Architecture invariants: no I/O (files come in as a loaded `Repository`);
//! never panics on input; knows no target dialect. The reference semantics here
//! is what every target's evaluator is checked against.

pub mod checks;
pub mod cluster;
pub mod guardrails;
pub mod ir;
pub mod model;
pub mod profile;
pub mod resolve;
pub mod semantics;

use palisade_intents::{Diags, Repository};

/// The IR of a repository and the warnings about it, or every error found
pub fn compile(repository: &Repository) -> Result<(ir::Ir, Diags), Diags> {
    let mut diags = repository.warnings.clone();
    let ir = resolve::resolve(repository, &mut diags);
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    diags.extend(checks::run(&ir));
    Ok((ir, diags.sorted()))
}
