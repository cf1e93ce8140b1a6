//! calico: projectcalico.org/v3 NetworkPolicy with selector expressions,
//! explicit Allow actions and `order`, NetworkSets for address blocks, and
//! service-account matches. Audit renders the Staged kinds (Calico 3.30+),
//! which Calico evaluates and reports on without enforcing.

mod emit;
mod emit_guardrails;
mod evaluate;
pub mod flows;
mod import;
mod lint;
mod objects;
pub mod selector;
mod symbolic;

pub use objects::Problem;

use crate::{
    capabilities::{Capabilities, FqdnSupport},
    Dialect, EmitOptions, Evaluator, Manifest,
};
use palisade_compiler::ir::Ir;
use palisade_intents::Diags;

/// The Calico dialect
pub struct Calico;

/// What in these manifests Calico would refuse or palisade cannot evaluate
/// (an unparseable selector, a tier that is not among them, a `services`
/// match, ...), each with the manifest's index and a JSON pointer to locate
/// it. While any exists, the evaluator denies every connection and names
/// the problem: callers should report these first, at file:line:column.
pub fn problems(manifests: &[Manifest]) -> Vec<Problem> {
    evaluate::problems(manifests)
}

impl Dialect for Calico {
    fn id(&self) -> &'static str {
        "calico"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            overlay: false,
            fqdn: FqdnSupport::Enterprise,
            l7_http: false,
            l7_egress: false,
            cidr_except: true,
            named_ports: true,
            port_ranges: true,
            audit: "Staged* kinds (Calico 3.30+)",
        }
    }

    fn emit(&self, ir: &Ir, options: &EmitOptions) -> Result<Vec<Manifest>, Diags> {
        // `nets` match pod addresses: a CIDR that resolution could not cut
        // down to the outside of the cluster is refused.
        let refusals = ir.cidrs_without_cluster_ranges("Calico");
        if !refusals.is_empty() {
            let mut diags = Diags::new();
            refusals.into_iter().for_each(|d| diags.push(d));
            return Err(diags);
        }
        let mut manifests = emit::emit(ir, options.mode)?;
        manifests.extend(emit_guardrails::emit(ir, options.mode)?);
        Ok(manifests)
    }

    /// Guardrails are GlobalNetworkPolicies in tiers before and after the default one
    fn guardrails(&self) -> bool {
        true
    }

    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm> {
        Box::new(evaluate::Policies::read(manifests))
    }

    fn reads(&self, manifest: &Manifest) -> bool {
        manifest.api_version() == "projectcalico.org/v3"
    }

    fn kinds(&self) -> &'static [crate::Kind] {
        const fn kind(kind: &'static str, plural: &'static str) -> crate::Kind {
            crate::Kind {
                group: "projectcalico.org",
                version: "v3",
                kind,
                plural,
                namespaced: true,
            }
        }
        const fn global(kind: &'static str, plural: &'static str) -> crate::Kind {
            crate::Kind {
                group: "projectcalico.org",
                version: "v3",
                kind,
                plural,
                namespaced: false,
            }
        }
        const KINDS: &[crate::Kind] = &[
            kind("NetworkPolicy", "networkpolicies"),
            kind("StagedNetworkPolicy", "stagednetworkpolicies"),
            kind("NetworkSet", "networksets"),
            global("Tier", "tiers"),
            global("GlobalNetworkPolicy", "globalnetworkpolicies"),
            global("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies"),
        ];
        KINDS
    }

    fn enforced_on(&self, cni: palisade_compiler::profile::Cni) -> bool {
        use palisade_compiler::profile::Cni;
        matches!(cni, Cni::Calico | Cni::Unknown)
    }

    /// A policy none of whose rules allows (a staged policy enforces
    /// nothing at all, and a NetworkSet only names addresses for rules)
    fn restricts_only(&self, manifest: &Manifest) -> bool {
        match manifest.kind() {
            "NetworkPolicy" | "StagedNetworkPolicy" => ["ingress", "egress"].iter().all(|side| {
                manifest
                    .object
                    .pointer(&format!("/spec/{side}"))
                    .and_then(serde_json::Value::as_array)
                    .is_none_or(|rules| rules.iter().all(|r| r["action"] != "Allow"))
            }),
            _ => false,
        }
    }

    fn import_rank(&self) -> u8 {
        1
    }

    /// Staged policies are only reported on (Calico 3.30+ flow logs show
    /// what they would do)
    fn inert(&self, manifest: &Manifest) -> bool {
        manifest.kind().starts_with("Staged")
    }

    fn problems(&self, manifests: &[Manifest]) -> Vec<crate::Problem> {
        problems(manifests)
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
        Some(&flows::CalicoFlows)
    }
}
