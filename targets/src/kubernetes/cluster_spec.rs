//! ClusterNetworkPolicy v1alpha2 as written: the fields of
//! apis/v1alpha2/clusternetworkpolicy_types.go (network-policy-api v0.2.0)
//! that the evaluator reads. Unions are structs of options here; whether
//! exactly one member is set is decided where they are read.

use super::cluster::Action;
use super::cluster::Tier;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;

/// The spec as written. Unknown fields are ignored, as for NetworkPolicy:
/// the API server prunes them, and admission reports them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Spec {
    pub(crate) tier: Tier,
    pub(crate) priority: i32,
    pub(crate) subject: Subject,
    pub(crate) ingress: Option<Vec<IngressRule>>,
    pub(crate) egress: Option<Vec<EgressRule>>,
}

/// Exactly one of its members selects the policy's pods
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Subject {
    pub(crate) namespaces: Option<LabelSelector>,
    pub(crate) pods: Option<NamespacedPod>,
}

/// Pods by label in namespaces by label (absent `namespaceSelector`: all)
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NamespacedPod {
    pub(crate) namespace_selector: Option<LabelSelector>,
    pub(crate) pod_selector: LabelSelector,
}

/// An ingress rule as written
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IngressRule {
    pub(crate) name: Option<String>,
    pub(crate) action: Action,
    pub(crate) from: Vec<Peer>,
    pub(crate) protocols: Option<Vec<ProtocolEntry>>,
}

/// An egress rule as written
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EgressRule {
    pub(crate) name: Option<String>,
    pub(crate) action: Action,
    pub(crate) to: Vec<Peer>,
    pub(crate) protocols: Option<Vec<ProtocolEntry>>,
}

/// A peer as written: exactly one member is valid (ingress: `namespaces`
/// or `pods` only)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Peer {
    pub(crate) namespaces: Option<LabelSelector>,
    pub(crate) pods: Option<NamespacedPod>,
    pub(crate) networks: Option<Vec<String>>,
    pub(crate) nodes: Option<LabelSelector>,
    pub(crate) domain_names: Option<Vec<String>>,
}

/// A protocol entry as written: exactly one member is valid
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProtocolEntry {
    pub(crate) tcp: Option<PortEntry>,
    pub(crate) udp: Option<PortEntry>,
    pub(crate) sctp: Option<PortEntry>,
    pub(crate) destination_named_port: Option<String>,
}

/// `tcp`/`udp`/`sctp`: the destination port is required by the schema
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PortEntry {
    pub(crate) destination_port: Option<Port>,
}

/// Exactly one of a number or an inclusive range
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Port {
    pub(crate) number: Option<i64>,
    pub(crate) range: Option<Range>,
}

/// `start` < `end`, both inclusive
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Range {
    pub(crate) start: i64,
    pub(crate) end: i64,
}
