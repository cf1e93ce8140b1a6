//! The cluster profile: where DNS, the API server, metadata, telemetry and the
//! egress gateway live, with the defaults of a typical cluster.

use crate::ir::Port;
use ipnet::IpNet;
use palisade_intents::{
    diag::did_you_mean,
    model::{ClusterSyntax, Located, PodsSyntax},
    syntax::{PortNumber, PortSpec, Protocol},
    types::Labels,
    Diag, Diags, Loc,
};

/// The CNI of the cluster
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cni {
    /// not stated
    Unknown,
    /// a CNI that enforces only native NetworkPolicy
    Kubernetes,
    /// Calico
    Calico,
    /// Cilium
    Cilium,
}

/// Infrastructure pods
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pods {
    /// their namespace
    pub namespace: String,
    /// their labels
    pub selector: Labels,
    /// their ports
    pub ports: Vec<Port>,
}

/// The egress gateway
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressGateway {
    /// its pods
    pub pods: Pods,
    /// its Service name
    pub service: String,
}

/// The API server endpoints
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServer {
    /// endpoint blocks
    pub cidrs: Vec<IpNet>,
    /// endpoint ports
    pub ports: Vec<Port>,
}

/// The cluster profile with defaults filled in
#[derive(Debug, Clone)]
pub struct ClusterProfile {
    /// the CNI
    pub cni: Cni,
    /// where `cni` was written
    pub cni_loc: Option<Loc>,
    /// the DNS pods
    pub dns: Pods,
    /// node-local DNS address
    pub node_local_dns: Option<IpNet>,
    /// API server endpoints, when configured
    pub api_server: Option<ApiServer>,
    /// metadata block
    pub metadata: IpNet,
    /// the metadata service's port (tcp/80 on AWS, GCP and Azure)
    pub metadata_ports: Vec<Port>,
    /// telemetry collector, when configured
    pub telemetry: Option<Pods>,
    /// egress gateway, when configured
    pub egress_gateway: Option<EgressGateway>,
    /// pod and service CIDRs
    pub cluster_cidrs: Vec<IpNet>,
    /// the cluster's DNS domain, for the names pods look up
    pub cluster_domain: String,
}

impl Default for ClusterProfile {
    fn default() -> Self {
        Self {
            cni: Cni::Unknown,
            cni_loc: None,
            dns: Pods {
                namespace: "kube-system".into(),
                selector: Labels::from([("k8s-app".to_string(), "kube-dns".to_string())]),
                ports: vec![Port::single(Protocol::Udp, 53), Port::single(Protocol::Tcp, 53)],
            },
            node_local_dns: None,
            api_server: None,
            metadata: IpNet::from(std::net::IpAddr::from([169, 254, 169, 254])),
            metadata_ports: vec![Port::single(Protocol::Tcp, 80)],
            telemetry: None,
            egress_gateway: None,
            cluster_cidrs: Vec::new(),
            cluster_domain: "cluster.local".into(),
        }
    }
}

impl ClusterProfile {
    /// Build from what the project file says, reporting what is wrong
    pub fn from_syntax(syntax: &ClusterSyntax, diags: &mut Diags) -> Self {
        let mut profile = ClusterProfile::default();
        if let Some(cni) = &syntax.cni {
            profile.cni_loc = Some(cni.loc.clone());
            profile.cni = match cni.value.as_str() {
                "kubernetes" => Cni::Kubernetes,
                "calico" => Cni::Calico,
                "cilium" => Cni::Cilium,
                "flannel" => {
                    diags.push(
                        Diag::error("cni_enforces_nothing", "Flannel does not enforce network policies: every policy would fail open")
                            .at(&cni.loc)
                            .help("install a CNI that enforces them (Calico, Cilium) or run Calico for policy beside Flannel (Canal) and write `cni: calico`"),
                    );
                    Cni::Unknown
                }
                other => {
                    diags.push(
                        Diag::error("bad_value", format!("unknown CNI `{other}`"))
                            .at(&cni.loc)
                            .help(
                                did_you_mean(other, ["kubernetes", "calico", "cilium", "flannel"])
                                    .unwrap_or_else(|| "write `kubernetes`, `calico` or `cilium`".into()),
                            ),
                    );
                    Cni::Unknown
                }
            };
        }
        if let Some(dns) = &syntax.dns {
            profile.dns = pods(dns, diags, "the DNS pods");
        }
        profile.node_local_dns = syntax.node_local_dns.as_ref().map(|n| n.value);
        if let Some(api) = &syntax.api_server {
            // An ipBlock list, `nets` or `toCIDR` without entries is "any address"
            // to the layers: never build a profile that would render one.
            if api.cidrs.is_empty() {
                diags.push(
                    Diag::error("empty_list", "`apiServer.cidrs` is empty")
                        .at(&api.loc)
                        .help("list the API server's endpoint addresses (`kubectl get endpoints kubernetes`), e.g. `cidrs: [172.20.0.10/32]`"),
                );
            }
            let ports = if api.ports.is_empty() {
                vec![Port::single(Protocol::Tcp, 6443)]
            } else {
                numbered(&api.ports, diags)
            };
            profile.api_server = Some(ApiServer {
                cidrs: api.cidrs.iter().map(|c| c.value).collect(),
                ports,
            });
        }
        if let Some(metadata) = &syntax.metadata {
            profile.metadata = metadata.value;
        }
        profile.telemetry = syntax
            .telemetry
            .as_ref()
            .map(|t| pods(t, diags, "the telemetry collector"));
        profile.egress_gateway = syntax.egress_gateway.as_ref().map(|(p, service)| EgressGateway {
            pods: pods(p, diags, "the egress gateway"),
            service: service
                .as_ref()
                .map_or_else(|| "istio-egressgateway".to_string(), |s| s.value.clone()),
        });
        profile.cluster_cidrs = syntax.cluster_cidrs.iter().map(|c| c.value).collect();
        outside_the_cluster(syntax, &profile.cluster_cidrs, diags);
        if let Some(domain) = &syntax.cluster_domain {
            profile.cluster_domain = domain.value.trim_end_matches('.').to_string();
        }
        profile
    }
}

/// The profile's address blocks become ipBlocks and `nets`, which match pod
/// and service addresses too: one that overlaps the cluster's ranges would
/// admit pods (every pod behind `10.0.0.0/8` on the API server port), so it
/// is refused where it is written. The API server is named by its endpoint
/// addresses (host network), never by the `kubernetes` Service's ClusterIP.
fn outside_the_cluster(syntax: &ClusterSyntax, cluster: &[IpNet], diags: &mut Diags) {
    let mut blocks: Vec<(&str, &Located<IpNet>)> = Vec::new();
    if let Some(api) = &syntax.api_server {
        blocks.extend(api.cidrs.iter().map(|c| ("apiServer.cidrs", c)));
    }
    blocks.extend(syntax.metadata.iter().map(|m| ("metadata", m)));
    blocks.extend(syntax.node_local_dns.iter().map(|n| ("nodeLocalDNS", n)));
    for (field, block) in blocks {
        if let Some(range) = cluster
            .iter()
            .find(|c| c.contains(&block.value) || block.value.contains(*c))
        {
            diags.push(
                Diag::error("profile_inside_cluster", format!("`{field}` `{}` overlaps the cluster range `{range}`", block.value))
                    .at(&block.loc)
                    .help("address rules also match pods and services there: give the addresses outside `clusterCIDRs` (the API server's endpoints: `kubectl get endpoints kubernetes`), or name in-cluster pods by service"),
            );
        }
    }
}

fn pods(syntax: &PodsSyntax, diags: &mut Diags, what: &str) -> Pods {
    let ports = numbered(&syntax.ports, diags);
    if syntax.ports.is_empty() && what != "the egress gateway" {
        diags.push(
            Diag::error("missing_ports", format!("no ports given for {what}"))
                .at(&syntax.namespace.loc)
                .help("add `ports: [tcp/4317]` (the ports its pods serve)"),
        );
    }
    Pods {
        namespace: syntax.namespace.value.clone(),
        selector: syntax.selector.value.clone(),
        ports,
    }
}

/// Infrastructure ports must be numbers: named ports mean nothing without a pod
fn numbered(ports: &[Located<PortSpec>], diags: &mut Diags) -> Vec<Port> {
    ports
        .iter()
        .filter_map(|p| match &p.value.port {
            PortNumber::Single(n) => Some(Port::single(p.value.protocol, *n)),
            PortNumber::Range(a, b) => Some(Port {
                protocol: p.value.protocol,
                first: *a,
                last: *b,
                name: None,
            }),
            PortNumber::Named(_) => {
                diags.push(
                    Diag::error("bad_port", "infrastructure ports must be numbers")
                        .at(&p.loc)
                        .help("write e.g. `tcp/4317`"),
                );
                None
            }
        })
        .collect()
}
