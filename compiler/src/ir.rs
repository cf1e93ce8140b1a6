//! The IR: normalised directed allow-edges between peers, the posture and the
//! baseline of each namespace. Targets emit from it; the reference semantics
//! (`semantics`) gives it meaning.

use crate::profile::ClusterProfile;
use ipnet::IpNet;
use palisade_intents::{
    model::HttpRule,
    syntax::{Entity, Fqdn, Protocol},
    types::{Baseline, Labels, Posture, Via},
    Diag, Loc,
};
use std::{collections::BTreeMap, fmt};

/// Where an IR element came from: the intent line that a report quotes
#[derive(Debug, Clone)]
pub struct Source {
    /// the place
    pub loc: Loc,
    /// the intent as a one-line text
    pub text: String,
}

impl Source {
    /// `file:line`, the form reports quote
    pub fn file_line(&self) -> String {
        self.loc.file_line()
    }

    /// `file#rule`: what manifest annotations name, stable while the rule
    /// itself is (a line added above it moves its line, not its id). The
    /// rule part is the intent's words, then a digest of its whole text so
    /// that two rules cut to the same words stay apart.
    pub fn id(&self) -> String {
        const WORDS: usize = 40;
        let mut words = String::new();
        for c in self.text.chars() {
            if c.is_ascii_alphanumeric() {
                words.push(c.to_ascii_lowercase());
            } else if !words.is_empty() && !words.ends_with('-') {
                words.push('-');
            }
        }
        let words: String = words.chars().take(WORDS).collect();
        let mut digest: u32 = 0x811c_9dc5;
        for byte in self.text.bytes() {
            digest ^= u32::from(byte);
            digest = digest.wrapping_mul(0x0100_0193);
        }
        format!(
            "{}#{}-{:04x}",
            self.loc.file.path,
            words.trim_end_matches('-'),
            digest & 0xffff
        )
    }
}

/// A port or port range; `name` is set for named ports (then `first == last`
/// is the number the service declares for it)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// protocol
    pub protocol: Protocol,
    /// first port
    pub first: u16,
    /// last port (inclusive)
    pub last: u16,
    /// container port name, for named ports
    pub name: Option<String>,
}

impl Port {
    /// One numbered port
    pub fn single(protocol: Protocol, port: u16) -> Self {
        Self {
            protocol,
            first: port,
            last: port,
            name: None,
        }
    }

    /// Whether this port admits `protocol/port`
    pub fn admits(&self, protocol: Protocol, port: u16) -> bool {
        self.protocol == protocol && (self.first..=self.last).contains(&port)
    }

    /// True when `self` admits everything `other` admits
    pub fn covers(&self, other: &Port) -> bool {
        self.protocol == other.protocol
            && self.first <= other.first
            && other.last <= self.last
            && (self.name.is_none() || self.name == other.name)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.protocol.as_str();
        match (&self.name, self.first == self.last) {
            (Some(name), _) => write!(f, "{proto}/{name}"),
            (None, true) => write!(f, "{proto}/{}", self.first),
            (None, false) => write!(f, "{proto}/{}-{}", self.first, self.last),
        }
    }
}

/// One end of an edge
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// a declared service
    Service {
        /// its namespace
        namespace: String,
        /// its name
        name: String,
    },
    /// every pod of a namespace
    Namespace(String),
    /// pods of a namespace matching labels
    Pods {
        /// the namespace
        namespace: String,
        /// their labels
        selector: Labels,
    },
    /// an address block
    Cidr {
        /// the block
        net: IpNet,
        /// excluded blocks
        except: Vec<IpNet>,
    },
    /// a DNS name or pattern
    Fqdn {
        /// the name
        name: Fqdn,
        /// how the traffic leaves
        via: Via,
    },
    /// world, kube-api or dns
    Entity(Entity),
}

impl Peer {
    /// The namespace whose pods this peer is, if it is pods
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Peer::Service { namespace, .. } | Peer::Pods { namespace, .. } | Peer::Namespace(namespace) => {
                Some(namespace)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Service { namespace, name } => write!(f, "{namespace}/{name}"),
            Peer::Namespace(ns) => write!(f, "{ns}/*"),
            Peer::Pods { namespace, selector } => {
                let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{namespace}/{{{}}}", labels.join(","))
            }
            Peer::Cidr { net, except } if except.is_empty() => write!(f, "{net}"),
            Peer::Cidr { net, except } => {
                write!(
                    f,
                    "{net} except {}",
                    except.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                )
            }
            Peer::Fqdn { name, via: Via::Direct } => write!(f, "{name}"),
            Peer::Fqdn {
                name,
                via: Via::EgressGateway,
            } => write!(f, "{name} via egress-gateway"),
            Peer::Entity(e) => f.write_str(e.as_str()),
        }
    }
}

/// A directed allowance: connections `from` opens to `to` on `ports` (empty = all)
#[derive(Debug, Clone)]
pub struct Edge {
    /// the side that opens the connection
    pub from: Peer,
    /// the side that accepts it
    pub to: Peer,
    /// allowed ports; empty means every port
    pub ports: Vec<Port>,
    /// HTTP requests allowed (empty = any)
    pub http: Vec<HttpRule>,
    /// the intent it came from
    pub source: Source,
    /// true for edges made from a `baseline` entry
    pub from_baseline: bool,
}

impl Edge {
    /// `from -> to ports` in intent terms
    pub fn describe(&self) -> String {
        let ports = if self.ports.is_empty() {
            String::from(" (all ports)")
        } else {
            format!(
                " {}",
                self.ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            )
        };
        format!("{} -> {}{ports}", self.from, self.to)
    }
}

/// A declared service
#[derive(Debug, Clone)]
pub struct ServiceIr {
    /// its namespace
    pub namespace: String,
    /// its name
    pub name: String,
    /// its pod labels
    pub selector: Labels,
    /// its service account
    pub service_account: Option<String>,
    /// named container ports
    pub ports: BTreeMap<String, Port>,
    /// baseline for this service only, and where each was asked for
    pub baseline: BTreeMap<Baseline, Source>,
    /// where it was declared
    pub source: Source,
}

/// A managed namespace
#[derive(Debug, Clone)]
pub struct NamespaceIr {
    /// its name
    pub name: String,
    /// the `metadata.name` of its Intents
    pub intents_name: String,
    /// posture
    pub posture: Posture,
    /// where the posture was set (or the Intents document)
    pub posture_source: Source,
    /// namespace-wide baseline and where each was asked for
    pub baseline: BTreeMap<Baseline, Source>,
    /// services by name
    pub services: BTreeMap<String, ServiceIr>,
}

impl NamespaceIr {
    /// True when pods here are isolated for ingress
    pub fn isolates_ingress(&self) -> bool {
        matches!(self.posture, Posture::DefaultDeny | Posture::DefaultDenyIngress)
    }

    /// True when pods here are isolated for egress
    pub fn isolates_egress(&self) -> bool {
        self.posture == Posture::DefaultDeny
    }
}

/// The compiled intents of a repository
#[derive(Debug, Clone)]
pub struct Ir {
    /// the cluster profile
    pub profile: ClusterProfile,
    /// managed namespaces by name
    pub namespaces: BTreeMap<String, NamespaceIr>,
    /// every edge, baseline included, in source order
    pub edges: Vec<Edge>,
    /// `calico.edition: enterprise`
    pub calico_enterprise: bool,
    /// `l7: degrade-to-l4` in the project, where it was written
    pub l7_degrade: Option<palisade_intents::Loc>,
    /// the platform team's cluster-wide rules
    pub guardrails: GuardrailsIr,
}

impl Ir {
    /// The service a peer names, if it names one
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceIr> {
        self.namespaces.get(namespace)?.services.get(name)
    }

    /// Refusals for a layer whose address rules also match pod addresses
    /// (NetworkPolicy ipBlock, Calico nets): without `clusterCIDRs`,
    /// resolution could not except the cluster's ranges from a CIDR, so the
    /// rule might admit pods. Link-local and loopback blocks (metadata,
    /// node-local DNS) never hold pod addresses and pass.
    pub fn cidrs_without_cluster_ranges(&self, layer: &str) -> Vec<Diag> {
        if !self.profile.cluster_cidrs.is_empty() {
            return Vec::new();
        }
        let never_pods = |net: &IpNet| match net {
            IpNet::V4(n) => (n.network().is_link_local() && n.prefix_len() >= 16) || n.network().is_loopback(),
            IpNet::V6(n) => (n.network().is_unicast_link_local() && n.prefix_len() >= 10) || n.network().is_loopback(),
        };
        let mut out: Vec<Diag> = Vec::new();
        for edge in &self.edges {
            for peer in [&edge.from, &edge.to] {
                let Peer::Cidr { net, .. } = peer else { continue };
                if never_pods(net)
                    || out
                        .iter()
                        .any(|d| d.loc().map(|l| l.offset) == Some(edge.source.loc.offset))
                {
                    continue;
                }
                out.push(
                    Diag::error(
                        "cidr_needs_cluster_cidrs",
                        format!("`{net}` on {layer} needs the cluster's pod and service CIDRs"),
                    )
                    .at(&edge.source.loc)
                    .help("add `clusterCIDRs: [<pod CIDR>, <service CIDR>]` under `spec.cluster` in palisade.yaml (`--cluster-cidrs` for `import` and `migrate`), so the CIDR can except them: the layer matches address rules against pod addresses too"),
                );
            }
        }
        out
    }

    /// The pod labels a pod peer selects (empty = every pod of the namespace)
    pub fn selector_of(&self, peer: &Peer) -> Option<Labels> {
        match peer {
            Peer::Service { namespace, name } => self.service(namespace, name).map(|s| s.selector.clone()),
            Peer::Pods { selector, .. } => Some(selector.clone()),
            Peer::Namespace(_) => Some(Labels::new()),
            _ => None,
        }
    }
}

/// A peer of a guardrail, resolved
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuardrailPeer {
    /// pods by labels (empty: every pod) in namespaces by labels (empty:
    /// every namespace; one namespace is `kubernetes.io/metadata.name`)
    Pods {
        /// namespace labels
        namespaces: Labels,
        /// pod labels
        pods: Labels,
    },
    /// addresses, names and entities outside the cluster: a `Peer::Cidr`,
    /// `Peer::Fqdn` (direct) or `Peer::Entity` (`world`, `kube-api`)
    Outside(Peer),
}

impl fmt::Display for GuardrailPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels = |l: &Labels| l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        match self {
            GuardrailPeer::Pods { namespaces, pods } => {
                write!(f, "namespaces{{{}}}/pods{{{}}}", labels(namespaces), labels(pods))
            }
            GuardrailPeer::Outside(peer) => write!(f, "{peer}"),
        }
    }
}

/// One guardrail, resolved: connections from `from` to `to` on `ports`
/// (empty = all) are decided by `action`
#[derive(Debug, Clone)]
pub struct Guardrail {
    /// allow, deny or delegate
    pub action: palisade_intents::types::GuardrailAction,
    /// sources
    pub from: Vec<GuardrailPeer>,
    /// destinations
    pub to: Vec<GuardrailPeer>,
    /// ports; empty means every port
    pub ports: Vec<Port>,
    /// the rule it came from
    pub source: Source,
}

/// The guardrails of a repository: the admin tier before the namespaces'
/// intents, the baseline tier after them, each in order of precedence
#[derive(Debug, Clone, Default)]
pub struct GuardrailsIr {
    /// `spec.rules` of every Guardrails document, in file order
    pub admin: Vec<Guardrail>,
    /// `spec.baseline` of every Guardrails document, in file order
    pub baseline: Vec<Guardrail>,
    /// where the first Guardrails document is (what a target that cannot
    /// express guardrails points at)
    pub source: Option<Source>,
}

impl GuardrailsIr {
    /// Whether there is no guardrail document at all
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
    }
}
