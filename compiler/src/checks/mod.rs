//! Checks: warnings about intents that are legal but dangerous. Checks read the
//! IR and the profile; they never evaluate connections (that is `semantics`).
//!
//! Each check is one module with a stable code and a doc comment that says what
//! it finds, why it matters and what to write instead.

mod allow_all;
mod guardrails;
mod metadata_namespace;
mod shadowed;

use crate::ir::Ir;
use palisade_intents::Diags;

/// Run every check
pub fn run(ir: &Ir) -> Diags {
    let mut diags = Diags::new();
    metadata_namespace::check(ir, &mut diags);
    allow_all::check(ir, &mut diags);
    shadowed::check(ir, &mut diags);
    guardrails::check(ir, &mut diags);
    diags
}
