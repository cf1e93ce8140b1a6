//! `palisade::not_enforced`
//!
//! What it finds: a target whose manifests the configured CNI will not enforce
//! (Calico policies on a Cilium cluster, Cilium policies on a Calico cluster).
//!
//! Why it matters: the policies apply without error and protect nothing. That
//! is fine while preparing a migration, and a surprise otherwise.
//!
//! Instead: render the target the CNI enforces; native NetworkPolicy works on
//! every CNI but Flannel.

use crate::{ir::Ir, profile::Cni};
use palisade_intents::{Diag, Diags};

/// Warnings for targets the configured CNI does not enforce
pub fn enforcement_warnings(ir: &Ir, targets: &[&str]) -> Diags {
    let mut diags = Diags::new();
    let cni = ir.profile.cni;
    for target in targets {
        let enforced = matches!(
            (*target, cni),
            (_, Cni::Unknown) | ("kubernetes" | "istio", _) | ("calico", Cni::Calico) | ("cilium", Cni::Cilium)
        );
        if !enforced {
            let cni_name = match cni {
                Cni::Kubernetes => "kubernetes",
                Cni::Calico => "calico",
                Cni::Cilium => "cilium",
                Cni::Unknown => "unknown",
            };
            diags.push(
                Diag::warning("not_enforced", format!("the cluster's CNI `{cni_name}` will not enforce `{target}` manifests"))
                    .at_opt(ir.profile.cni_loc.as_ref())
                    .help("fine while preparing a migration; otherwise render the target the CNI enforces (`kubernetes` works everywhere)"),
            );
        }
    }
    diags
}
