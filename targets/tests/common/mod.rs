//! Shared by the targets' integration tests: loading examples and comparing
//! every dialect against the reference semantics.

#![allow(
    dead_code,
    clippy::panic,
    reason = "each test binary uses part of this module; tests fail by panicking"
)]

pub mod generate;

use palisade_compiler::{ir::Ir, model::synthesize};
use palisade_targets::{Dialect, EmitOptions, Manifest, Mode};
use std::path::{Path, PathBuf};

/// The workspace root
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The upstream schemas (../shared/schemas, or PALISADE_SCHEMAS). Missing, the
/// caller's test says so loudly and passes, except under CI=true, where it fails.
pub fn schemas_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PALISADE_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/schemas"));
    if dir.join("index.json").exists() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "CI=true but the upstream schemas are missing at {}", dir.display());
    eprintln!(
        "\n!!! SKIPPED: upstream schemas not found at {} (set PALISADE_SCHEMAS) !!!\n",
        dir.display()
    );
    None
}

/// The shared flow samples (../shared/samples/flows); missing, as for the schemas
pub fn samples_dir() -> Option<PathBuf> {
    let dir = root().join("../shared/samples/flows");
    if dir.join("hubble").exists() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "CI=true but the flow samples are missing at {}", dir.display());
    eprintln!("\n!!! SKIPPED: flow samples not found at {} !!!\n", dir.display());
    None
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

/// The targets the example's project names (all L3/L4 dialects when it names none)
pub fn project_targets(dir: &Path) -> Vec<&'static dyn Dialect> {
    let repository = palisade_intents::load_dir(dir).unwrap_or_else(|d| panic!("{d:?}"));
    let names: Vec<String> = repository
        .project
        .map(|p| p.targets.into_iter().map(|t| t.value).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return palisade_targets::DIALECTS
            .iter()
            .copied()
            .filter(|d| !d.capabilities().overlay)
            .collect();
    }
    names
        .iter()
        .map(|n| palisade_targets::dialect(n).unwrap_or_else(|| panic!("unknown target {n}")))
        .collect()
}

/// Each dialect of a set with its manifests
pub type Rendered = Vec<(&'static dyn Dialect, Vec<Manifest>)>;

/// Render every dialect of a set as the CLI does (refusals first, options for the set)
pub fn render_set(ir: &Ir, set: &[&'static dyn Dialect], mode: Mode) -> Result<Rendered, String> {
    set.iter()
        .map(|d| {
            let options = EmitOptions::for_set(*d, set, ir, mode);
            palisade_targets::render(*d, ir, &options)
                .map(|(m, _)| (*d, m))
                .map_err(|diags| format!("{}: {diags:?}", d.id()))
        })
        .collect()
}

/// Every connection of the model on which an L3/L4 dialect, combined with the
/// set's overlays, and the intents disagree, described for a failure message
pub fn verify_set(ir: &Ir, set: &[&'static dyn Dialect]) -> Result<usize, Vec<String>> {
    let rendered = render_set(ir, set, Mode::Enforce).map_err(|e| vec![e])?;
    let model = synthesize(ir);
    let borrowed: Vec<(&dyn Dialect, &[Manifest])> = rendered.iter().map(|(d, m)| (*d, m.as_slice())).collect();
    let report = palisade_targets::verify::verify(ir, &model, &borrowed);
    if report.mismatches.is_empty() {
        Ok(report.compared)
    } else {
        Err(report.mismatches.iter().map(ToString::to_string).collect())
    }
}

/// `shop/a` may use api.stripe.com and `shop/b` example.org, both through
/// the egress gateway; `shop/c` may use neither.
pub fn two_gateway_hosts() -> Ir {
    let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: gw }\nspec:\n  cluster:\n    clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12]\n    egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway }\n".to_string();
    let shop = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    a: { selector: { app: a }, serviceAccount: a }\n    b: { selector: { app: b }, serviceAccount: b }\n    c: { selector: { app: c }, serviceAccount: c }\n  allow:\n    - { from: a, to: { fqdn: api.stripe.com, via: egress-gateway }, ports: [tcp/443] }\n    - { from: b, to: { fqdn: example.org, via: egress-gateway }, ports: [tcp/443] }\n    - c -> a tcp/8080\n".to_string();
    compile_text(&[("palisade.yaml", project), ("intents/shop.yaml", shop)]).unwrap_or_else(|e| panic!("{e}"))
}
