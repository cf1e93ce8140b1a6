//! istio: an overlay on an L3/L4 target. Egress to exact FQDNs through the
//! egress gateway (ServiceEntry, Gateway with TLS passthrough, VirtualService
//! routing mesh → gateway → outside by SNI, DestinationRule subsets, and a
//! REGISTRY_ONLY Sidecar so the gateway cannot be bypassed), and L7 rules as
//! ALLOW AuthorizationPolicies with service-account principals. Audit marks
//! the AuthorizationPolicies `istio.io/dry-run` and leaves out the Sidecar
//! (traffic to PassthroughCluster is then the evidence).

mod emit;
mod evaluate;
pub(crate) use evaluate::ROOT_NAMESPACE;
pub mod flows;
mod lint;
mod symbolic;

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
            l7_egress: false,
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

    fn kinds(&self) -> &'static [crate::Kind] {
        const fn kind(group: &'static str, kind: &'static str, plural: &'static str) -> crate::Kind {
            crate::Kind {
                group,
                version: "v1",
                kind,
                plural,
                namespaced: true,
            }
        }
        const KINDS: &[crate::Kind] = &[
            kind("networking.istio.io", "ServiceEntry", "serviceentries"),
            kind("networking.istio.io", "Gateway", "gateways"),
            kind("networking.istio.io", "VirtualService", "virtualservices"),
            kind("networking.istio.io", "DestinationRule", "destinationrules"),
            kind("networking.istio.io", "Sidecar", "sidecars"),
            kind("security.istio.io", "AuthorizationPolicy", "authorizationpolicies"),
        ];
        KINDS
    }

    /// The mesh enforces its own policies whatever the CNI
    fn enforced_on(&self, _cni: palisade_compiler::profile::Cni) -> bool {
        true
    }

    /// An AUDIT policy only logs what it matches
    fn inert(&self, manifest: &Manifest) -> bool {
        manifest.kind() == "AuthorizationPolicy"
            && manifest.object.pointer("/spec/action") == Some(&serde_json::json!("AUDIT"))
    }

    /// A Sidecar's REGISTRY_ONLY and a DENY policy only take away: without
    /// them the mesh's defaults pass more
    fn restricts_only(&self, manifest: &Manifest) -> bool {
        match manifest.kind() {
            "Sidecar" => true,
            "AuthorizationPolicy" => manifest.object.pointer("/spec/action") == Some(&serde_json::json!("DENY")),
            _ => false,
        }
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
