//! Every target's manifests for one mode, or every refusal

use crate::{TargetSet, Workspace};
use palisade_compiler::ir::Ir;
use palisade_intents::Diags;
use palisade_targets::{EmitOptions, Manifest, Mode};

/// Each target's manifests, in the order of the targets
pub type Rendered = Vec<(&'static str, Vec<Manifest>)>;

/// Every dialect's manifests, and the diagnostics: warnings (checks, CNI,
/// degradations) come back either way, refusals as errors (a target that
/// refuses is left out of the list, so callers must check for errors)
pub fn render(ws: &Workspace, targets: &TargetSet, mode: Mode) -> (Rendered, Diags) {
    render_each(ws, targets, mode, |manifests| manifests)
}

/// [`render`], turning each target's manifests into what the caller keeps as
/// soon as they are rendered (the YAML text of a large repository is a tenth
/// of the memory of its JSON trees)
pub fn render_each<T>(
    ws: &Workspace,
    targets: &TargetSet,
    mode: Mode,
    keep: impl FnMut(Vec<Manifest>) -> T,
) -> (Vec<(&'static str, T)>, Diags) {
    let mut diags = ws.warnings.clone();
    let (rendered, more) = render_ir(&ws.ir, targets, mode, keep);
    diags.extend(more);
    (rendered, diags.sorted())
}

/// [`render_each`] of an IR compiled elsewhere (the intents an import wrote)
pub fn render_ir<T>(
    ir: &Ir,
    targets: &TargetSet,
    mode: Mode,
    mut keep: impl FnMut(Vec<Manifest>) -> T,
) -> (Vec<(&'static str, T)>, Diags) {
    let mut diags = targets.enforcement_warnings(ir);
    let mut rendered = Vec::new();
    let collisions = palisade_targets::groups::name_collisions(ir);
    if !collisions.is_empty() {
        collisions.into_iter().for_each(|d| diags.push(d));
        return (rendered, diags.sorted());
    }
    for dialect in targets.iter() {
        let options = EmitOptions::for_set(*dialect, targets, ir, mode);
        match palisade_targets::render(*dialect, ir, &options) {
            Ok((manifests, warnings)) => {
                diags.extend(warnings);
                rendered.push((dialect.id(), keep(manifests)));
            }
            Err(refusals) => diags.extend(refusals),
        }
    }
    (rendered, diags.sorted())
}

/// Both modes at once, flattened (what a rollout applies): refusals in
/// either mode are errors
pub fn render_both(ws: &Workspace, targets: &TargetSet) -> Result<(Vec<Manifest>, Vec<Manifest>, Diags), Diags> {
    let (audit, audit_diags) = render(ws, targets, Mode::Audit);
    let (enforce, diags) = render(ws, targets, Mode::Enforce);
    if audit_diags.has_errors() || diags.has_errors() {
        let mut all = audit_diags;
        all.extend(diags);
        return Err(all.sorted());
    }
    let flat = |r: Rendered| r.into_iter().flat_map(|(_, m)| m).collect::<Vec<_>>();
    Ok((flat(audit), flat(enforce), diags))
}
