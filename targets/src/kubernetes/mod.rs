//! kubernetes: native NetworkPolicy (networking.k8s.io/v1), enforced by every
//! CNI but Flannel. No FQDN rules (only through the egress gateway), no L7, no
//! audit mode.

mod emit;
mod evaluate;
pub(crate) mod import;
mod lint;
pub mod selector;

use crate::{
    capabilities::{Capabilities, FqdnSupport},
    Dialect, EmitOptions, Evaluator, Manifest,
};
use palisade_compiler::ir::Ir;
use palisade_intents::Diags;

/// The native NetworkPolicy dialect
pub struct Kubernetes;

impl Dialect for Kubernetes {
    fn id(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            overlay: false,
            fqdn: FqdnSupport::ViaGatewayOnly,
            l7_http: false,
            cidr_except: true,
            named_ports: true,
            port_ranges: true,
            audit: "nothing (the API has no audit mode)",
        }
    }

    fn emit(&self, ir: &Ir, options: &EmitOptions) -> Result<Vec<Manifest>, Diags> {
        emit::emit(ir, options.mode)
    }

    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm> {
        Box::new(evaluate::Policies::read(manifests))
    }

    fn reads(&self, manifest: &Manifest) -> bool {
        manifest.api_version() == "networking.k8s.io/v1" && manifest.kind() == "NetworkPolicy"
    }

    fn lint(
        &self,
        manifests: &[Manifest],
        cluster: Option<&palisade_compiler::model::ClusterModel>,
    ) -> Vec<crate::lint::Finding> {
        lint::lint(manifests, cluster)
    }

    fn import(&self, manifests: &[Manifest], context: &crate::import::Context) -> Option<crate::import::Imported> {
        Some(import::import(manifests, context))
    }
}
