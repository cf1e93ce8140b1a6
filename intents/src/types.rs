//! The kinds a user writes, `Intents`, `Guardrails` and `Project` (palisade.dev/v1alpha1).
//!
//! These serde types define the documents: they reject unknown fields, keep the
//! position of every value a user wrote (`Spanned`), and derive the JSON Schema
//! that editors use. Values are checked for meaning later (`validate`), where
//! the position is known.

use marked_yaml::Spanned;
use schemars::JsonSchema;
use serde::{
    de::{self, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer, Serialize,
};
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
};

/// The API group and version of both kinds
pub const API_VERSION: &str = "palisade.dev/v1alpha1";

/// Kubernetes-style labels
pub type Labels = BTreeMap<String, String>;

/// `metadata` of either kind
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectMeta {
    /// name of the object
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// namespace the intents apply to (required for `Intents`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Spanned<String>>,
    /// labels, kept as written
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// annotations, kept as written
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Labels>,
}

/// `kind: Intents`: the services of one namespace and the connections they may make
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Intents")]
pub struct IntentsDocument {
    /// always `palisade.dev/v1alpha1`
    #[schemars(with = "String")]
    pub api_version: Spanned<String>,
    /// always `Intents`
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// name and namespace
    pub metadata: ObjectMeta,
    /// what is allowed
    pub spec: IntentsSpec,
}

/// The body of an `Intents` document
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IntentsSpec {
    /// `default-deny` (the default), `default-deny-ingress` or `none`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Posture>")]
    pub posture: Option<Spanned<Posture>>,
    /// infrastructure flows every pod of the namespace gets
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<Baseline>")]
    pub baseline: Vec<Spanned<Baseline>>,
    /// the workloads of this namespace, by name
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Service>")]
    pub services: HashMap<Spanned<String>, Service>,
    /// the allowed connections, terse (`a -> b tcp/80`) or structured
    #[serde(default)]
    #[schemars(with = "Vec<AllowRule>")]
    pub allow: Vec<Spanned<AllowRule>>,
}

/// How isolated the namespace is
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Posture {
    /// every pod isolated in both directions; only intents pass
    DefaultDeny,
    /// every pod isolated for ingress; egress stays open
    DefaultDenyIngress,
    /// nothing isolated: the namespace stays open
    None,
}

/// Infrastructure flows described by the cluster profile
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// the cluster DNS (and node-local DNS) on its ports
    Dns,
    /// the Kubernetes API server endpoints
    KubeApi,
    /// the cloud metadata service (credentials: grant per service, not per namespace)
    Metadata,
    /// the telemetry collector (e.g. OpenTelemetry on tcp/4317)
    Telemetry,
}

impl Baseline {
    /// The word users write
    pub fn as_str(self) -> &'static str {
        match self {
            Baseline::Dns => "dns",
            Baseline::KubeApi => "kube-api",
            Baseline::Metadata => "metadata",
            Baseline::Telemetry => "telemetry",
        }
    }
}

/// One workload: the pods its selector matches
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    /// pod labels that identify the service (required, not empty)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Labels>")]
    pub selector: Option<Spanned<Labels>>,
    /// the service account its pods run as (used by Calico and Istio)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub service_account: Option<Spanned<String>>,
    /// named ports of its containers, e.g. `http: tcp/8080`
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub ports: HashMap<Spanned<String>, Spanned<String>>,
    /// infrastructure flows for this service only (e.g. `metadata`)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<Baseline>")]
    pub baseline: Vec<Spanned<Baseline>>,
}

/// One entry of `allow`: a terse string or the structured form
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum AllowRule {
    /// `SOURCES -> DESTINATIONS [PORTS]`
    Terse(String),
    /// `{from, to, ports, http}`
    Structured(Box<StructuredRule>),
}

/// The structured form of a rule (needed for L7 rules)
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StructuredRule {
    /// one peer or a list
    #[schemars(with = "Peers")]
    pub from: Spanned<Peers>,
    /// one peer or a list
    #[schemars(with = "Peers")]
    pub to: Spanned<Peers>,
    // Omitting the key is how "every port" is spelled; `[]` is refused on load.
    /// `tcp/8080`, `udp/53`, `8080`, `tcp/8000-8100` or a named port; none = all ports
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub ports: Option<Spanned<Vec<Spanned<String>>>>,
    /// HTTP requests allowed (Cilium and Istio targets only)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<HttpMatch>")]
    pub http: Option<Spanned<Vec<HttpMatch>>>,
}

/// One allowed HTTP request shape
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpMatch {
    /// `GET`, `POST`, … (any when absent)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// an exact path, or a prefix ending in `/*`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// headers that must be present with these values
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `from`/`to`: one peer or a list of peers
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Peers {
    /// a single peer
    One(PeerItem),
    /// several peers
    #[schemars(with = "Vec<PeerItem>")]
    Many(Vec<Spanned<PeerItem>>),
}

/// A peer: anything the terse form accepts, or an object
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PeerItem {
    /// `backend`, `ns/svc`, `ns/*`, `api.stripe.com`, `https://host`, a CIDR, `world`, `kube-api`, `dns`
    Text(String),
    /// `{namespace, selector}`, `{fqdn, via}`, `{cidr, except}` or `{entity}`
    Object(Box<PeerObject>),
}

/// The object forms of a peer; which keys go together is checked on load
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerObject {
    /// a namespace (every pod of it, or those matching `selector`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub namespace: Option<Spanned<String>>,
    /// pod labels
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Labels>")]
    pub selector: Option<Spanned<Labels>>,
    /// a DNS name or `*.` pattern
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub fqdn: Option<Spanned<String>>,
    /// how FQDN traffic leaves the cluster
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Via>")]
    pub via: Option<Spanned<Via>>,
    /// an address block
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub cidr: Option<Spanned<String>>,
    /// blocks inside `cidr` that are not allowed
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub except: Vec<Spanned<String>>,
    /// `world`, `kube-api` or `dns` (and, in `Guardrails`, `metadata`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub entity: Option<Spanned<String>>,
    /// namespaces by their labels, `{}` for every namespace (`Guardrails` only);
    /// with `selector`, the pods of those namespaces that carry its labels
    #[serde(default, rename = "namespaceSelector", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Labels>")]
    pub namespace_selector: Option<Spanned<Labels>>,
}

/// `kind: Guardrails`: cluster-wide rules of the platform team, decided
/// before (`rules`) and after (`baseline`) the namespaces' intents
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Guardrails")]
pub struct GuardrailsDocument {
    /// always `palisade.dev/v1alpha1`
    #[schemars(with = "String")]
    pub api_version: Spanned<String>,
    /// always `Guardrails`
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// name (cluster-scoped: no namespace)
    pub metadata: ObjectMeta,
    /// the rules
    pub spec: GuardrailsSpec,
}

/// The body of a `Guardrails` document
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GuardrailsSpec {
    /// decided before the namespaces' intents, in order: the first rule that
    /// matches a connection decides it (`allow`, `deny`) or hands it to the
    /// namespaces (`delegate`)
    #[serde(default)]
    #[schemars(with = "Vec<GuardrailRule>")]
    pub rules: Vec<Spanned<GuardrailRule>>,
    /// decided where the namespaces' intents do not isolate a pod: defaults
    /// the namespaces may override (`allow` or `deny`), in order
    #[serde(default)]
    #[schemars(with = "Vec<GuardrailRule>")]
    pub baseline: Vec<Spanned<GuardrailRule>>,
}

/// One guardrail: `ACTION SOURCES -> DESTINATIONS [PORTS]` or the structured form
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum GuardrailRule {
    /// `deny tenants/* -> metadata`, `allow monitoring/* -> payments/* tcp/9090`
    Terse(String),
    /// `{action, from, to, ports}`
    Structured(Box<StructuredGuardrail>),
}

/// The structured form of a guardrail
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StructuredGuardrail {
    /// `allow`, `deny` or `delegate`
    #[schemars(with = "GuardrailAction")]
    pub action: Spanned<GuardrailAction>,
    /// one peer or a list
    #[schemars(with = "Peers")]
    pub from: Spanned<Peers>,
    /// one peer or a list
    #[schemars(with = "Peers")]
    pub to: Spanned<Peers>,
    /// `tcp/8080`, `udp/53`, `8080`, `tcp/8000-8100` or a named port; none = all ports
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub ports: Option<Spanned<Vec<Spanned<String>>>>,
}

/// What a guardrail does with the connections it matches
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GuardrailAction {
    /// let them through; no namespace intent can narrow it
    Allow,
    /// drop them; no namespace intent can open it
    Deny,
    /// leave them to the namespaces' intents (`rules` only)
    Delegate,
}

impl GuardrailAction {
    /// Parse the word users write
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            "delegate" => Some(Self::Delegate),
            _ => None,
        }
    }

    /// The word users write
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Delegate => "delegate",
        }
    }
}

/// How traffic to an FQDN leaves the cluster
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// straight from the pod (needs FQDN rules: Cilium, Calico Enterprise)
    Direct,
    /// through the cluster's egress gateway
    EgressGateway,
}

/// `kind: Project` (`palisade.yaml` at the repository root)
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Project")]
pub struct ProjectDocument {
    /// always `palisade.dev/v1alpha1`
    #[schemars(with = "String")]
    pub api_version: Spanned<String>,
    /// always `Project`
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// name
    pub metadata: ObjectMeta,
    /// targets and cluster profile
    #[serde(default)]
    pub spec: ProjectSpec,
}

/// The body of the project file
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    /// any of `kubernetes`, `calico`, `cilium`, `istio`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub targets: Vec<Spanned<String>>,
    /// what the cluster looks like
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Calico options
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calico: Option<CalicoSpec>,
    /// `enforce` (default: L7 rules on a target that cannot see L7 are refused)
    /// or `degrade-to-l4` (they allow the whole port, with a warning)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<L7Policy>")]
    pub l7: Option<Spanned<L7Policy>>,
    /// what the audit gate asks of observed traffic before enforcing
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceSpec>,
}

/// What the audit gate asks of the evidence: how long a window, and which
/// services it does not need to see
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EvidenceSpec {
    /// the shortest observation window (last record - first record) that
    /// passes, e.g. `24h`, `7d`, `90m` (default `24h`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub min_window: Option<Spanned<String>>,
    /// services the gate passes without traffic seen from or to them, each
    /// with the reason (shown in every audit)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waive: Vec<WaiverSpec>,
}

/// A service the gate does not ask to see
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverSpec {
    /// `namespace/service`
    #[schemars(with = "String")]
    pub service: Spanned<String>,
    /// why no traffic of it is expected (required)
    #[schemars(with = "String")]
    pub reason: Spanned<String>,
}

/// The evidence section, checked: the minimum window in seconds and the
/// waived services by `namespace/name`
#[derive(Debug, Clone, Default)]
pub struct EvidencePolicy {
    /// `minWindow`, in seconds, and where it was written
    pub min_window: Option<crate::model::Located<u64>>,
    /// the waivers, in file order
    pub waive: Vec<Waiver>,
}

/// A waiver, checked
#[derive(Debug, Clone)]
pub struct Waiver {
    /// `namespace/service`, known to the intents
    pub service: crate::model::Located<String>,
    /// why
    pub reason: String,
}

/// What to do with HTTP rules on targets that cannot see HTTP
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum L7Policy {
    /// refuse them
    Enforce,
    /// allow the whole port, and warn per degraded edge
    DegradeToL4,
}

/// Calico options
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalicoSpec {
    /// `opensource` (default) or `enterprise` (enables domain rules)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub edition: Option<Spanned<String>>,
}

/// The cluster profile: where infrastructure lives
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    /// `kubernetes`, `calico`, `cilium` or `flannel` (refused: enforces nothing)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub cni: Option<Spanned<String>>,
    /// the DNS pods (default: kube-system, `k8s-app: kube-dns`, udp/53 and tcp/53)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<PodsSpec>,
    /// node-local DNS cache address, e.g. 169.254.20.10
    #[serde(default, rename = "nodeLocalDNS", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub node_local_dns: Option<Spanned<String>>,
    /// API server endpoints (needed by the `kube-api` baseline)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServerSpec>,
    /// metadata service block (default 169.254.169.254/32)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub metadata: Option<Spanned<String>>,
    /// telemetry collector pods (needed by the `telemetry` baseline)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<PodsSpec>,
    /// egress gateway pods (needed by `via: egress-gateway`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_gateway: Option<EgressGatewaySpec>,
    /// the cluster's DNS domain (default `cluster.local`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub cluster_domain: Option<Spanned<String>>,
    /// pod and service CIDRs: what `world` excludes
    #[serde(default, rename = "clusterCIDRs", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub cluster_cidrs: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Pods of infrastructure, found by namespace and labels
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodsSpec {
    /// their namespace
    #[schemars(with = "String")]
    pub namespace: Spanned<String>,
    /// their labels
    #[schemars(with = "Labels")]
    pub selector: Spanned<Labels>,
    /// the ports they serve
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub ports: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The API server's endpoints
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiServerSpec {
    /// endpoint addresses (`kubectl get endpoints kubernetes`), as CIDRs
    #[schemars(with = "Vec<String>")]
    pub cidrs: Spanned<Vec<Spanned<String>>>,
    /// endpoint ports (default tcp/6443)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    pub ports: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The egress gateway
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressGatewaySpec {
    /// its namespace
    #[schemars(with = "String")]
    pub namespace: Spanned<String>,
    /// its pod labels
    #[schemars(with = "Labels")]
    pub selector: Spanned<Labels>,
    /// its Kubernetes Service name
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub service: Option<Spanned<String>>,
}

// The union types are read by hand: serde's untagged enums buffer their input,
// which would lose the positions marked-yaml attaches to each value.

impl<'de> Deserialize<'de> for AllowRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = AllowRule;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rule: `SOURCES -> DESTINATIONS [PORTS]` or a mapping with `from` and `to`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AllowRule::Terse(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                StructuredRule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|rule| AllowRule::Structured(Box::new(rule)))
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}

impl<'de> Deserialize<'de> for GuardrailRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GuardrailVisitor;
        impl<'de> Visitor<'de> for GuardrailVisitor {
            type Value = GuardrailRule;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a guardrail: `ACTION SOURCES -> DESTINATIONS [PORTS]` or a mapping with `action`, `from` and `to`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(GuardrailRule::Terse(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                StructuredGuardrail::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|rule| GuardrailRule::Structured(Box::new(rule)))
            }
        }
        deserializer.deserialize_any(GuardrailVisitor)
    }
}

impl<'de> Deserialize<'de> for Peers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeersVisitor;
        impl<'de> Visitor<'de> for PeersVisitor {
            type Value = Peers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a peer or a list of peers")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Peers::One(PeerItem::Text(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                PeerObject::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|o| Peers::One(PeerItem::Object(Box::new(o))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<PeerItem>>()? {
                    items.push(item);
                }
                Ok(Peers::Many(items))
            }
        }
        deserializer.deserialize_any(PeersVisitor)
    }
}

impl<'de> Deserialize<'de> for PeerItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeerVisitor;
        impl<'de> Visitor<'de> for PeerVisitor {
            type Value = PeerItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a peer: a name, FQDN, CIDR or entity, or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PeerItem::Text(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                PeerObject::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|o| PeerItem::Object(Box::new(o)))
            }
        }
        deserializer.deserialize_any(PeerVisitor)
    }
}
