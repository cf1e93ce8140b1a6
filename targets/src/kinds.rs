//! The facts about a dialect that the rest of palisade derives from: which
//! kinds it writes (for RBAC, pruning and cleanup), which CNIs enforce them,
//! how its objects may be removed without cutting traffic, and how it ranks
//! among importers. Every dialect states them in its own folder; nothing
//! outside `targets/` names a dialect's kinds.

use crate::{Dialect, Manifest, DIALECTS};
use palisade_compiler::profile::Cni;
use serde_json::Value;

/// One kind a dialect emits
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Kind {
    /// the API group (`""` for the core group)
    pub group: &'static str,
    /// the version
    pub version: &'static str,
    /// the kind
    pub kind: &'static str,
    /// the resource name RBAC and the API paths use
    pub plural: &'static str,
    /// whether objects of this kind live in a namespace
    pub namespaced: bool,
}

impl Kind {
    /// `group/version`, or `version` for the core group
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether `manifest` is of this kind
    pub fn is(&self, manifest: &Manifest) -> bool {
        manifest.kind() == self.kind && manifest.api_version() == self.api_version()
    }
}

/// Every kind some dialect emits, once each, sorted
pub fn emitted() -> Vec<Kind> {
    let mut kinds: Vec<Kind> = DIALECTS.iter().flat_map(|d| d.kinds().iter().copied()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The kind of `manifest`, if a dialect emits it
pub fn of(manifest: &Manifest) -> Option<Kind> {
    DIALECTS
        .iter()
        .flat_map(|d| d.kinds().iter())
        .find(|k| k.is(manifest))
        .copied()
}

/// Whether deleting `manifest` can only widen what passes: it grants
/// nothing (a default deny, REGISTRY_ONLY). Pruning deletes these first, so
/// that removing protection never cuts traffic on the way.
pub fn restricts_only(manifest: &Manifest) -> bool {
    DIALECTS.iter().any(|d| d.reads(manifest) && d.restricts_only(manifest))
}

/// Whether `manifest` enforces nothing (an audit form the layer only reports on)
pub fn inert(manifest: &Manifest) -> bool {
    DIALECTS.iter().any(|d| d.reads(manifest) && d.inert(manifest))
}

/// The dialects whose manifests `cni` enforces
pub fn enforced_on(cni: Cni) -> Vec<&'static dyn Dialect> {
    DIALECTS.iter().copied().filter(|d| d.enforced_on(cni)).collect()
}

/// The targets a discovery from flows of format `format` proposes: the
/// dialect that reads them, behind an L3/L4 dialect every CNI enforces when
/// that reader is an overlay (a mesh's access logs); with no known format,
/// the L3/L4 dialect that ranks highest
pub fn for_flow_format(format: Option<&str>) -> Vec<&'static dyn Dialect> {
    let reader = DIALECTS
        .iter()
        .copied()
        .find(|d| d.flows().is_some_and(|f| Some(f.id()) == format));
    let everywhere = DIALECTS.iter().copied().find(|d| {
        !d.capabilities().overlay
            && [Cni::Kubernetes, Cni::Calico, Cni::Cilium]
                .into_iter()
                .all(|c| d.enforced_on(c))
    });
    match reader {
        Some(d) if d.capabilities().overlay => everywhere.into_iter().chain([d]).collect(),
        Some(d) => vec![d],
        None => DIALECTS
            .iter()
            .copied()
            .filter(|d| !d.capabilities().overlay)
            .max_by_key(|d| d.import_rank())
            .into_iter()
            .collect(),
    }
}

/// The dialect the import of `read` (the dialects whose policies a cluster
/// holds) proposes as the one target: the highest-ranked read
pub fn best_import(read: &[&str]) -> Option<&'static dyn Dialect> {
    DIALECTS
        .iter()
        .copied()
        .filter(|d| read.contains(&d.id()))
        .max_by_key(|d| d.import_rank())
}

/// Whether `manifest` belongs to the API group of a kind some dialect emits
/// (its importer reports on every kind of its group, read or not)
pub fn in_emitted_group(manifest: &Manifest) -> bool {
    let group = manifest.api_version().rsplit_once('/').map_or("", |(g, _)| g);
    DIALECTS.iter().flat_map(|d| d.kinds()).any(|k| k.group == group)
}

/// Whether none of `fields` of the object's spec holds a rule
pub(crate) fn no_rules(manifest: &Manifest, fields: &[&str]) -> bool {
    fields.iter().all(|field| {
        manifest
            .object
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    fn manifest(yaml: &str) -> Manifest {
        Manifest::new(serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn every_emitted_kind_is_stated_by_its_dialect() {
        let kinds = emitted();
        let names: Vec<String> = kinds
            .iter()
            .map(|k| format!("{} {}", k.api_version(), k.kind))
            .collect();
        assert!(
            names.contains(&"networking.k8s.io/v1 NetworkPolicy".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"projectcalico.org/v3 StagedNetworkPolicy".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"networking.istio.io/v1 Sidecar".to_string()),
            "{names:?}"
        );
        for dialect in DIALECTS {
            for kind in dialect.kinds() {
                assert!(
                    kind.plural.ends_with('s') && kind.plural == kind.plural.to_lowercase(),
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn discovery_proposes_the_reader_of_the_flows_and_an_l3_partner_for_an_overlay() {
        let ids = |d: Vec<&'static dyn Dialect>| d.iter().map(|d| d.id()).collect::<Vec<_>>();
        assert_eq!(ids(for_flow_format(Some("calico"))), ["calico"]);
        assert_eq!(ids(for_flow_format(Some("hubble"))), ["cilium"]);
        assert_eq!(ids(for_flow_format(Some("envoy"))), ["kubernetes", "istio"]);
        assert_eq!(ids(for_flow_format(None)), ["cilium"]);
        assert_eq!(best_import(&["kubernetes", "calico"]).map(|d| d.id()), Some("calico"));
        assert_eq!(
            best_import(&["kubernetes", "cilium", "calico"]).map(|d| d.id()),
            Some("cilium")
        );
    }

    #[test]
    fn a_default_deny_restricts_only_and_an_allow_does_not() {
        let deny = manifest(
            "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: any-name, namespace: shop}, spec: {podSelector: {}, policyTypes: [Ingress, Egress]}}",
        );
        let allow = manifest(
            "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny, namespace: shop}, spec: {podSelector: {}, ingress: [{}]}}",
        );
        let calico_allow = manifest(
            "{apiVersion: projectcalico.org/v3, kind: NetworkPolicy, metadata: {name: x, namespace: shop}, spec: {selector: all(), egress: [{action: Allow}]}}",
        );
        let calico_deny = manifest(
            "{apiVersion: projectcalico.org/v3, kind: NetworkPolicy, metadata: {name: x, namespace: shop}, spec: {selector: all(), egress: [{action: Deny}], types: [Egress]}}",
        );
        assert!(restricts_only(&deny));
        assert!(!restricts_only(&allow), "judged by its rules, not by its name");
        assert!(!restricts_only(&calico_allow));
        assert!(restricts_only(&calico_deny));
    }
}
