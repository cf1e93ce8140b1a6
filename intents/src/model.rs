//! The validated intents: what the compiler reads. Every value keeps its `Loc`.
//!
//! Syntax is checked here (ports, CIDRs, FQDNs, selectors, which keys go
//! together); names are resolved by the compiler, which sees every file.

use crate::{
    loc::Loc,
    syntax::{PeerSyntax, PortSpec},
    types::{Baseline, GuardrailAction, Labels, Posture},
};
use ipnet::IpNet;
use std::collections::BTreeMap;

/// A value and where the user wrote it
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// the value
    pub value: T,
    /// where it was written
    pub loc: Loc,
}

impl<T> Located<T> {
    /// Wrap a value with its place
    pub fn new(value: T, loc: Loc) -> Self {
        Self { value, loc }
    }
}

/// Every intents document and the project file of one repository
#[derive(Debug, Clone, Default)]
pub struct Repository {
    /// `palisade.yaml`, when present
    pub project: Option<Project>,
    /// the `Intents` documents, in file order
    pub intents: Vec<Intents>,
    /// the `Guardrails` documents, in file order (which is their order of
    /// precedence: files are read sorted by path)
    pub guardrails: Vec<Guardrails>,
    /// what loading found worth saying that stops nothing (e.g. a hidden
    /// file that holds intents and is not read): the compiler reports them
    pub warnings: crate::Diags,
}

/// `kind: Project`, checked
#[derive(Debug, Clone)]
pub struct Project {
    /// metadata.name
    pub name: Located<String>,
    /// requested targets as written (the binary checks them against the registry)
    pub targets: Vec<Located<String>>,
    /// the cluster profile as written
    pub cluster: ClusterSyntax,
    /// `calico.edition: enterprise`
    pub calico_enterprise: bool,
    /// `l7: degrade-to-l4`, where it was written
    pub l7_degrade: Option<Loc>,
    /// `evidence:`, what the audit gate asks of observed traffic
    pub evidence: crate::types::EvidencePolicy,
}

/// The cluster profile as written; defaults are the compiler's business
#[derive(Debug, Clone, Default)]
pub struct ClusterSyntax {
    /// the CNI
    pub cni: Option<Located<String>>,
    /// the DNS pods
    pub dns: Option<PodsSyntax>,
    /// node-local DNS address
    pub node_local_dns: Option<Located<IpNet>>,
    /// API server endpoints
    pub api_server: Option<ApiServerSyntax>,
    /// metadata block
    pub metadata: Option<Located<IpNet>>,
    /// telemetry collector
    pub telemetry: Option<PodsSyntax>,
    /// egress gateway pods and service name
    pub egress_gateway: Option<(PodsSyntax, Option<Located<String>>)>,
    /// pod and service CIDRs
    pub cluster_cidrs: Vec<Located<IpNet>>,
    /// the cluster's DNS domain
    pub cluster_domain: Option<Located<String>>,
}

/// The API server's endpoints as written
#[derive(Debug, Clone)]
pub struct ApiServerSyntax {
    /// where `cidrs` was written
    pub loc: Loc,
    /// endpoint blocks
    pub cidrs: Vec<Located<IpNet>>,
    /// endpoint ports
    pub ports: Vec<Located<PortSpec>>,
}

/// Infrastructure pods
#[derive(Debug, Clone)]
pub struct PodsSyntax {
    /// their namespace
    pub namespace: Located<String>,
    /// their labels
    pub selector: Located<Labels>,
    /// their ports
    pub ports: Vec<Located<PortSpec>>,
}

/// One `Intents` document, checked
#[derive(Debug, Clone)]
pub struct Intents {
    /// metadata.name
    pub name: Located<String>,
    /// metadata.namespace
    pub namespace: Located<String>,
    /// the posture (default-deny when not written; then the loc is the document's `spec`)
    pub posture: Located<Posture>,
    /// whether the posture was written
    pub posture_written: bool,
    /// namespace-wide baseline
    pub baseline: Vec<Located<Baseline>>,
    /// services, sorted by name
    pub services: Vec<ServiceDecl>,
    /// rules, in file order
    pub rules: Vec<Rule>,
}

/// A service declaration
#[derive(Debug, Clone)]
pub struct ServiceDecl {
    /// its name
    pub name: Located<String>,
    /// its pod labels (not empty)
    pub selector: Located<Labels>,
    /// its service account
    pub service_account: Option<Located<String>>,
    /// named container ports
    pub ports: BTreeMap<String, Located<PortSpec>>,
    /// baseline for this service only
    pub baseline: Vec<Located<Baseline>>,
}

/// One `allow` entry
#[derive(Debug, Clone)]
pub struct Rule {
    /// the whole entry
    pub loc: Loc,
    /// the entry as a one-line text, for reports (`frontend -> backend tcp/8080`)
    pub text: String,
    /// sources
    pub from: Vec<Located<PeerSyntax>>,
    /// destinations
    pub to: Vec<Located<PeerSyntax>>,
    /// ports (empty = all)
    pub ports: Vec<Located<PortSpec>>,
    /// HTTP rules (structured form only)
    pub http: Vec<HttpRule>,
}

/// An HTTP request shape
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpRule {
    /// upper-case method, or any
    pub method: Option<String>,
    /// exact path, or prefix ending in `/*`
    pub path: Option<String>,
    /// headers required
    pub headers: BTreeMap<String, String>,
}

/// One `Guardrails` document, checked
#[derive(Debug, Clone)]
pub struct Guardrails {
    /// metadata.name
    pub name: Located<String>,
    /// `spec.rules`: before the namespaces' intents, in order
    pub rules: Vec<GuardrailRule>,
    /// `spec.baseline`: after them, in order
    pub baseline: Vec<GuardrailRule>,
}

/// One guardrail, checked
#[derive(Debug, Clone)]
pub struct GuardrailRule {
    /// the whole entry
    pub loc: Loc,
    /// the entry as a one-line text, for reports (`deny tenants/* -> metadata`)
    pub text: String,
    /// what it does, and where that was written
    pub action: Located<GuardrailAction>,
    /// sources
    pub from: Vec<Located<GuardrailPeer>>,
    /// destinations
    pub to: Vec<Located<GuardrailPeer>>,
    /// ports (empty = all)
    pub ports: Vec<Located<PortSpec>>,
}

/// A peer of a guardrail as written, before names are resolved
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardrailPeer {
    /// what a namespace intent may name too, but never a bare service name:
    /// a guardrail has no namespace of its own
    Peer(PeerSyntax),
    /// pods by labels (empty: all) in namespaces by labels (empty: all)
    Namespaces {
        /// namespace labels
        namespaces: Labels,
        /// pod labels
        pods: Labels,
    },
    /// the cloud metadata service (the profile's `metadata` block)
    Metadata,
}
