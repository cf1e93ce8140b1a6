//! Shared by the targets' integration tests: loading examples and comparing
//! every dialect against the reference semantics.

#![allow(
    dead_code,
    clippy::panic,
    reason = "each test binary uses part of this module; tests fail by panicking"
)]

use palisade_compiler::{
    ir::Ir,
    model::{synthesize, ClusterModel, Connection},
    semantics,
};
use palisade_targets::{Dialect, Manifest, Mode};
use std::path::{Path, PathBuf};

/// The workspace root
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every folder under examples/
pub fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("palisade.yaml").exists())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no examples found");
    dirs
}

/// Load and compile a folder, failing the test with the diagnostics on error
pub fn compile_dir(dir: &Path) -> Ir {
    let repository = palisade_intents::load_dir(dir).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
    let (ir, _) = palisade_compiler::compile(&repository).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
    ir
}

/// Load and compile YAML text given as (path, text) files
pub fn compile_text(files: &[(&str, String)]) -> Result<Ir, String> {
    let raw = files
        .iter()
        .map(|(p, t)| palisade_intents::RawFile {
            path: (*p).to_string(),
            bytes: t.clone().into_bytes(),
        })
        .collect();
    let repository = palisade_intents::load_files(raw).map_err(|d| format!("{d:?}"))?;
    palisade_compiler::compile(&repository)
        .map(|(ir, _)| ir)
        .map_err(|d| format!("{d:?}"))
}

/// Every connection of the model on which the dialect's manifests and the
/// intents disagree, described for a failure message
pub fn disagreements(ir: &Ir, dialect: &dyn Dialect, manifests: &[Manifest], model: &ClusterModel) -> Vec<String> {
    let mut out = Vec::new();
    let evaluator = dialect.evaluator(manifests);
    for from in model.endpoints() {
        for to in model.endpoints() {
            if matches!(
                (from, to),
                (
                    palisade_compiler::model::Endpoint::External(_),
                    palisade_compiler::model::Endpoint::External(_)
                )
            ) {
                continue;
            }
            for &(protocol, port) in &model.ports {
                let conn = Connection {
                    from,
                    to,
                    protocol,
                    port,
                };
                let expected = semantics::decide(ir, &conn);
                let actual = evaluator.evaluate(model, &conn);
                if expected.allowed != actual.allowed {
                    let why: Vec<String> = actual.decided_by.iter().map(ToString::to_string).collect();
                    let intents: Vec<String> = expected
                        .egress_by
                        .iter()
                        .chain(&expected.ingress_by)
                        .map(|e| format!("{} ({})", e.source.text, e.source.loc))
                        .collect();
                    out.push(format!(
                        "{}: intents say {}, {} says {} [rules: {}] [intents: {}]",
                        conn.describe(),
                        expected.allowed,
                        dialect.id(),
                        actual.allowed,
                        why.join("; "),
                        intents.join("; ")
                    ));
                }
            }
        }
    }
    out
}

/// Emit for a dialect in enforce mode and compare on the synthesised model
pub fn verify(ir: &Ir, dialect: &dyn Dialect) -> Result<usize, Vec<String>> {
    let manifests = dialect.emit(ir, Mode::Enforce).map_err(|d| vec![format!("{d:?}")])?;
    let model = synthesize(ir);
    let problems = disagreements(ir, dialect, &manifests, &model);
    if problems.is_empty() {
        Ok(model.endpoints().count())
    } else {
        Err(problems)
    }
}
