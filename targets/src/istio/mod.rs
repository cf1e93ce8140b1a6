//! istio: an overlay on an L3/L4 target. Egress to exact FQDNs through the
//! egress gateway (ServiceEntry, Gateway with TLS passthrough, VirtualService
//! routing mesh → gateway → outside by SNI, DestinationRule subsets, and a
//! REGISTRY_ONLY Sidecar so the gateway cannot be bypassed), and L7 rules as
//! ALLOW AuthorizationPolicies with service-account principals. Audit marks
//! the AuthorizationPolicies `istio.io/dry-run` and leaves out the Sidecar
//! (traffic to PassthroughCluster is then the evidence).

mod emit;
mod evaluate;
pub mod flows;
mod lint;

use crate::{
    capabilities::{Capabilities, FqdnSupport},
    Dialect, EmitOptions, Evaluator, Manifest,
};
use palisade_compiler::ir::Ir;
use palisade_intents::Diags;

/// The Istio dialect
pub struct Istio;

impl Dialect for Istio {
    fn id(&self) -> &'static str {
        "istio"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            overlay: true,
            fqdn: FqdnSupport::GatewayRouting,
            l7_http: true,
            cidr_except: true,
            named_ports: false,
            port_ranges: false,
            audit: "dry-run AuthorizationPolicies, no REGISTRY_ONLY Sidecar",
        }
    }

    fn emit(&self, ir: &Ir, options: &EmitOptions) -> Result<Vec<Manifest>, Diags> {
        emit::emit(ir, options.mode)
    }

    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm> {
        Box::new(evaluate::Mesh::read(manifests))
    }

    fn reads(&self, manifest: &Manifest) -> bool {
        manifest.api_version().starts_with("networking.istio.io/")
            || manifest.api_version().starts_with("security.istio.io/")
    }

    fn lint(
        &self,
        manifests: &[Manifest],
        cluster: Option<&palisade_compiler::model::ClusterModel>,
    ) -> Vec<crate::lint::Finding> {
        lint::lint(manifests, cluster)
    }

    fn flows(&self) -> Option<&'static dyn crate::flows::FlowFormat> {
        Some(&flows::EnvoyAccessLog)
    }
}
