//! kubernetes: native NetworkPolicy (networking.k8s.io/v1), enforced by every
//! CNI but Flannel. No FQDN rules (only through the egress gateway), no L7, no
//! audit mode.

mod emit;
mod evaluate;
pub mod selector;

use crate::{Dialect, Manifest, Mode, Verdict};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection},
};
use palisade_intents::Diags;

/// The native NetworkPolicy dialect
pub struct Kubernetes;

impl Dialect for Kubernetes {
    fn id(&self) -> &'static str {
        "kubernetes"
    }

    fn emit(&self, ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
        emit::emit(ir, mode)
    }

    fn evaluate(&self, manifests: &[Manifest], model: &ClusterModel, conn: &Connection) -> Verdict {
        evaluate::evaluate(manifests, model, conn)
    }

    fn reads(&self, manifest: &Manifest) -> bool {
        manifest.api_version() == "networking.k8s.io/v1" && manifest.kind() == "NetworkPolicy"
    }
}
