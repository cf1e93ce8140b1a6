//! cilium: CiliumNetworkPolicy (cilium.io/v2). Identity-based peers, `toFQDNs`
//! that follow DNS answers seen by the DNS proxy, L7 `http` rules, the
//! `kube-apiserver` entity. Cilium has no per-policy audit mode: audit renders
//! the same policies with `enableDefaultDeny` off, which add allowances and
//! drop nothing new (never the `policy.cilium.io/audit-mode` annotation, which
//! does not exist).

pub mod admission;
mod emit;
mod evaluate;
pub mod flows;
mod import;
mod lint;
mod symbolic;

use crate::{
    capabilities::{Capabilities, FqdnSupport},
    Dialect, EmitOptions, Evaluator, Manifest,
};
use palisade_compiler::ir::Ir;
use palisade_intents::Diags;

/// The namespace label Cilium gives every endpoint
pub(crate) const NAMESPACE_LABEL: &str = "k8s:io.kubernetes.pod.namespace";

/// The CiliumNetworkPolicy dialect
pub struct Cilium;

impl Dialect for Cilium {
    fn id(&self) -> &'static str {
        "cilium"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            overlay: false,
            fqdn: FqdnSupport::Direct,
            l7_http: true,
            l7_egress: true,
            cidr_except: true,
            named_ports: true,
            port_ranges: true,
            audit: "same policies, enableDefaultDeny off",
        }
    }

    fn emit(&self, ir: &Ir, options: &EmitOptions) -> Result<Vec<Manifest>, Diags> {
        emit::emit(ir, options.mode)
    }

    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm> {
        Box::new(evaluate::Policies::read(manifests))
    }

    fn reads(&self, manifest: &Manifest) -> bool {
        manifest.api_version() == "cilium.io/v2" && manifest.kind() == "CiliumNetworkPolicy"
    }

    fn kinds(&self) -> &'static [crate::Kind] {
        &[crate::Kind {
            group: "cilium.io",
            version: "v2",
            kind: "CiliumNetworkPolicy",
            plural: "ciliumnetworkpolicies",
            namespaced: true,
        }]
    }

    fn enforced_on(&self, cni: palisade_compiler::profile::Cni) -> bool {
        use palisade_compiler::profile::Cni;
        matches!(cni, Cni::Cilium | Cni::Unknown)
    }

    /// A policy with no allow rules (deny rules and default deny only)
    fn restricts_only(&self, manifest: &Manifest) -> bool {
        crate::kinds::no_rules(manifest, &["ingress", "egress"])
    }

    fn import_rank(&self) -> u8 {
        2
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

    fn flows(&self) -> Option<&'static dyn crate::flows::FlowFormat> {
        Some(&flows::Hubble)
    }
}
