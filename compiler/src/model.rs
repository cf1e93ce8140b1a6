//! The cluster model: namespaces, pods and outside addresses on which
//! connections are decided. Built from intents (`synthesize`) for verification;
//! later also read from a cluster dump.

use crate::{
    ir::{Ir, Peer},
    profile::Cni,
};
use ipnet::IpNet;
use palisade_intents::{
    syntax::{Entity, Protocol},
    types::Labels,
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
};

/// A namespace and its labels (`kubernetes.io/metadata.name` included)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// its name
    pub name: String,
    /// its labels
    pub labels: Labels,
}

/// A named container port
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    /// its name, when it has one
    pub name: Option<String>,
    /// protocol
    pub protocol: Protocol,
    /// number
    pub port: u16,
}

/// A pod
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// its namespace
    pub namespace: String,
    /// its name
    pub name: String,
    /// its labels
    pub labels: Labels,
    /// its service account
    pub service_account: Option<String>,
    /// its address; the unspecified address (`0.0.0.0`) stands for none (a
    /// pod the dump shows without `status.podIP`): read it with [`Pod::address`]
    pub ip: IpAddr,
    /// its container ports
    pub ports: Vec<ContainerPort>,
}

impl Pod {
    /// `namespace/name`
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether every label of `selector` is on this pod
    pub fn matches(&self, selector: &Labels) -> bool {
        selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }

    /// Its address, or `None` when it has none yet (pending, or a dump
    /// without `status.podIP`): no address block can match such a pod
    pub fn address(&self) -> Option<IpAddr> {
        (!self.ip.is_unspecified()).then_some(self.ip)
    }
}

/// How the cluster's CNI decides NetworkPolicy `ipBlock` peers for pods.
/// The upstream e2e suite (test/e2e/network/netpol/network_policy.go, "should
/// allow egress access to server in CIDR block", "should enforce except clause
/// while egress access to server in CIDR block") expects an ipBlock to match
/// the pod whose `status.podIP` it covers, and most CNIs do; Cilium documents
/// the opposite ("CIDR rules do not apply to traffic where both sides of the
/// connection are either managed by Cilium or use an IP belonging to a node",
/// docs.cilium.io, Layer 3 policy) and matches pods by identity only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CniProfile {
    /// not known: evaluators answer as the e2e suite expects, and say where
    /// the answer depends on the CNI
    #[default]
    Unknown,
    /// Calico (ipBlock matches pod addresses)
    Calico,
    /// Cilium (ipBlock never matches a Cilium-managed pod)
    Cilium,
    /// Antrea (ipBlock matches pod addresses)
    Antrea,
    /// OVN-Kubernetes (ipBlock matches pod addresses)
    OvnKubernetes,
    /// kube-router (ipBlock matches pod addresses)
    KubeRouter,
    /// kindnet / kube-network-policies (ipBlock matches pod addresses)
    Kindnet,
    /// Weave Net (ipBlock matches pod addresses)
    Weave,
}

impl CniProfile {
    /// Every named profile, for help texts
    pub const NAMED: &'static [CniProfile] = &[
        CniProfile::Calico,
        CniProfile::Cilium,
        CniProfile::Antrea,
        CniProfile::OvnKubernetes,
        CniProfile::KubeRouter,
        CniProfile::Kindnet,
        CniProfile::Weave,
    ];

    /// The name users write
    pub fn name(self) -> &'static str {
        match self {
            CniProfile::Unknown => "unknown",
            CniProfile::Calico => "calico",
            CniProfile::Cilium => "cilium",
            CniProfile::Antrea => "antrea",
            CniProfile::OvnKubernetes => "ovn-kubernetes",
            CniProfile::KubeRouter => "kube-router",
            CniProfile::Kindnet => "kindnet",
            CniProfile::Weave => "weave",
        }
    }

    /// The profile of that name
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        Self::NAMED.iter().copied().find(|c| c.name() == name)
    }

    /// Whether an ipBlock matches a pod whose address it covers; `None`
    /// when the CNI is not known
    pub fn ip_blocks_match_pods(self) -> Option<bool> {
        match self {
            CniProfile::Unknown => None,
            CniProfile::Cilium => Some(false),
            _ => Some(true),
        }
    }
}

/// An address outside the cluster, with the DNS name it answers to, if any
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct External {
    /// the address
    pub ip: IpAddr,
    /// the name a pod looked up to reach it
    pub fqdn: Option<String>,
    /// whether it is an endpoint of the Kubernetes API server (Cilium gives
    /// such addresses the `kube-apiserver` identity)
    pub kube_apiserver: bool,
}

/// One end of a connection
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// a pod of the model
    Pod(&'a Pod),
    /// an address outside the cluster
    External(&'a External),
}

impl Endpoint<'_> {
    /// How reports name it
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Pod(p) => p.id(),
            Endpoint::External(e) => match &e.fqdn {
                Some(name) => format!("{name} ({})", e.ip),
                None => e.ip.to_string(),
            },
        }
    }
}

/// An HTTP request carried by a connection
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// upper-case method
    pub method: String,
    /// path, starting with `/`
    pub path: String,
    /// what it stands for in reports: the rule's pattern it was made from
    /// (`GET /products/*`), not the sample path it carries
    pub stands_for: String,
}

impl Request {
    /// A request as observed or asked about: it stands for itself
    pub fn new(method: &str, path: String) -> Self {
        let method = method.to_ascii_uppercase();
        Self {
            stands_for: format!("{method} {path}"),
            method,
            path,
        }
    }
}

/// A connection to decide; with a request, L7 rules are decided too
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// who opens it
    pub from: Endpoint<'a>,
    /// who accepts it
    pub to: Endpoint<'a>,
    /// protocol
    pub protocol: Protocol,
    /// destination port
    pub port: u16,
    /// the HTTP request, when L7 is being asked about
    pub request: Option<&'a Request>,
}

impl Connection<'_> {
    /// `a -> b tcp/80` (and `GET /path`)
    pub fn describe(&self) -> String {
        let request = self
            .request
            .map(|r| format!(" {} {}", r.method, r.path))
            .unwrap_or_default();
        format!(
            "{} -> {} {}/{}{request}",
            self.from.describe(),
            self.to.describe(),
            self.protocol.as_str(),
            self.port
        )
    }
}

/// Namespaces, pods and outside addresses
#[derive(Debug, Clone, Default)]
pub struct ClusterModel {
    /// namespaces by name
    pub namespaces: BTreeMap<String, Namespace>,
    /// pods, sorted by namespace then name
    pub pods: Vec<Pod>,
    /// outside addresses
    pub externals: Vec<External>,
    /// the (protocol, port) pairs worth trying
    pub ports: Vec<(Protocol, u16)>,
    /// HTTP requests worth trying where an HTTP rule applies
    pub requests: Vec<Request>,
    /// the CNI, when the dump or the project names it
    pub cni: CniProfile,
    /// the cluster's pod and service ranges, where synthetic pods get their
    /// addresses (empty: 10.244.0.0/16)
    pub pod_ranges: Vec<IpNet>,
    /// the address blocks that rules name: outside addresses that every
    /// block either covers or misses are alike (`palisade_relation` makes
    /// one class of them); empty: every address is its own
    pub blocks: Vec<IpNet>,
    /// the CronJobs of the dump, sorted by namespace then name: the audit
    /// gate asks the evidence to cover one period of each
    pub cron_jobs: Vec<CronJob>,
}

/// A CronJob as the dump holds it; its schedule is read by the evidence gate
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronJob {
    /// its namespace
    pub namespace: String,
    /// its name
    pub name: String,
    /// `spec.schedule` as written (`0 3 * * 0`, `@daily`)
    pub schedule: String,
    /// `spec.timeZone`, when set
    pub time_zone: Option<String>,
}

impl CronJob {
    /// `namespace/name`
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl ClusterModel {
    /// The namespace of a pod
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }

    /// Every endpoint: pods first, then outside addresses
    pub fn endpoints(&self) -> impl Iterator<Item = Endpoint<'_>> {
        self.pods
            .iter()
            .map(Endpoint::Pod)
            .chain(self.externals.iter().map(Endpoint::External))
    }

    /// Add a pod as observed (its own name, address and ports); its
    /// namespace is created with the standard name label when missing.
    /// Returns its position in `pods` (callers sort afterwards if they need to).
    pub fn insert_pod(&mut self, pod: Pod) -> usize {
        self.add_namespace(&pod.namespace);
        self.pods.push(pod);
        self.pods.len() - 1
    }

    /// Add a namespace by name (with `kubernetes.io/metadata.name`) unless it is known
    pub fn add_namespace(&mut self, name: &str) {
        self.namespaces.entry(name.to_string()).or_insert_with(|| Namespace {
            name: name.to_string(),
            labels: Labels::from([("kubernetes.io/metadata.name".to_string(), name.to_string())]),
        });
    }

    /// A pod of `namespace` that no intent names: what every rule must keep out
    pub fn add_stranger(&mut self, namespace: &str) {
        let labels = Labels::from([("palisade.dev/stranger".to_string(), "true".to_string())]);
        self.add_pod(namespace, "stranger", labels, None, Vec::new());
    }

    /// An address for the next synthetic pod: inside the first cluster range
    /// when the model has one, so that address blocks (which except the
    /// cluster's ranges) never match a representative pod by accident
    fn next_pod_address(&self) -> IpAddr {
        let index = u32::try_from(self.pods.len()).unwrap_or(u32::MAX).saturating_add(10);
        match self.pod_ranges.first() {
            Some(IpNet::V4(net)) => {
                let hosts = u32::MAX >> net.prefix_len().min(31);
                let offset = if hosts > 1 { index % hosts } else { 0 };
                IpAddr::from(std::net::Ipv4Addr::from(
                    u32::from(net.network()).saturating_add(offset),
                ))
            }
            Some(IpNet::V6(net)) => IpAddr::from(std::net::Ipv6Addr::from(
                u128::from(net.network()).saturating_add(u128::from(index)),
            )),
            None => IpAddr::from(std::net::Ipv4Addr::from(
                u32::from(std::net::Ipv4Addr::new(10, 244, 0, 0)).saturating_add(index),
            )),
        }
    }

    /// Add a pod standing for every pod of `namespace` with these labels,
    /// unless one with the same labels is there already
    pub fn add_pod(
        &mut self,
        namespace: &str,
        name: &str,
        labels: Labels,
        service_account: Option<String>,
        ports: Vec<ContainerPort>,
    ) {
        self.add_namespace(namespace);
        // A pod is its labels: the same labels are the same pod, whatever it is called.
        if self.pods.iter().any(|p| p.namespace == namespace && p.labels == labels) {
            return;
        }
        let taken = |n: &str| self.pods.iter().any(|p| p.namespace == namespace && p.name == n);
        let name = (1..)
            .map(|i| {
                if i == 1 {
                    name.to_string()
                } else {
                    format!("{name}-{i}")
                }
            })
            .find(|n| !taken(n))
            .unwrap_or_default();
        let ip = self.next_pod_address();
        self.pods.push(Pod {
            namespace: namespace.to_string(),
            name,
            labels,
            service_account,
            ip,
            ports,
        });
    }
}

/// The service accounts the model's pods declare, by namespace: a
/// service's `serviceAccount` says what its pods run as, so a pod that
/// verification invents and a service's selector selects runs as that
/// account too. Without it, it would be a pod the mesh and Calico's
/// `serviceAccounts` cannot identify as the service, which the intents'
/// declaration rules out; a real pod like that is in a cluster dump, and
/// verify reports what each layer does to it.
pub struct DeclaredAccounts(HashMap<String, Vec<(Labels, String)>>);

impl DeclaredAccounts {
    /// The accounts of `model`'s pods
    pub fn new(model: &ClusterModel) -> Self {
        let mut by_namespace: HashMap<String, Vec<(Labels, String)>> = HashMap::new();
        for pod in model.pods.iter().filter(|p| !p.labels.is_empty()) {
            if let Some(account) = &pod.service_account {
                by_namespace
                    .entry(pod.namespace.clone())
                    .or_default()
                    .push((pod.labels.clone(), account.clone()));
            }
        }
        Self(by_namespace)
    }

    /// The one account of the pods whose labels `labels` all carry; none
    /// where no such pod declares one, or two declare different ones
    pub fn of(&self, namespace: &str, labels: &Labels) -> Option<String> {
        let mut found = self
            .0
            .get(namespace)?
            .iter()
            .filter(|(selector, _)| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
            .map(|(_, account)| account);
        let first = found.next()?;
        found.all(|other| other == first).then(|| first.clone())
    }
}

/// Pods to add at once: namespace, name, labels, service account, ports
pub type NewPod = (String, String, Labels, Option<String>, Vec<ContainerPort>);

impl ClusterModel {
    /// Many pods, each as [`ClusterModel::add_pod`] adds it (the same labels
    /// in a namespace are one pod; a taken name gets `-2`, `-3`, ...), with
    /// the lookups indexed: thousands of probes named alike stay linear
    pub fn add_pods(&mut self, pods: Vec<NewPod>) {
        let mut seen: std::collections::HashSet<(String, Labels)> = self
            .pods
            .iter()
            .map(|p| (p.namespace.clone(), p.labels.clone()))
            .collect();
        let mut taken: std::collections::HashSet<(String, String)> = self
            .pods
            .iter()
            .map(|p| (p.namespace.clone(), p.name.clone()))
            .collect();
        let mut next: HashMap<(String, String), u32> = HashMap::new();
        for (namespace, base, labels, service_account, ports) in pods {
            self.add_namespace(&namespace);
            if !seen.insert((namespace.clone(), labels.clone())) {
                continue;
            }
            let counter = next.entry((namespace.clone(), base.clone())).or_insert(1);
            let name = loop {
                let candidate = if *counter == 1 {
                    base.clone()
                } else {
                    format!("{base}-{counter}")
                };
                *counter = counter.saturating_add(1);
                if !taken.contains(&(namespace.clone(), candidate.clone())) {
                    break candidate;
                }
            };
            taken.insert((namespace.clone(), name.clone()));
            let ip = self.next_pod_address();
            self.pods.push(Pod {
                namespace,
                name,
                labels,
                service_account,
                ip,
                ports,
            });
        }
    }
}

/// The representative model of DESIGN.md's verification: a pod per service, a
/// stranger pod per namespace, pods for every selector and piece of
/// infrastructure, addresses inside and outside every CIDR and `except`, every
/// named FQDN and a near miss, every port mentioned and one not.
pub fn synthesize(ir: &Ir) -> ClusterModel {
    let mut model = ClusterModel {
        cni: match ir.profile.cni {
            Cni::Calico => CniProfile::Calico,
            Cni::Cilium => CniProfile::Cilium,
            Cni::Kubernetes | Cni::Unknown => CniProfile::Unknown,
        },
        pod_ranges: ir.profile.cluster_cidrs.clone(),
        ..ClusterModel::default()
    };
    for ns in ir.namespaces.values() {
        for svc in ns.services.values() {
            let ports = svc
                .ports
                .values()
                .map(|p| ContainerPort {
                    name: p.name.clone(),
                    protocol: p.protocol,
                    port: p.first,
                })
                .collect();
            model.add_pod(
                &ns.name,
                &svc.name,
                svc.selector.clone(),
                svc.service_account.clone(),
                ports,
            );
        }
    }
    let profile = &ir.profile;
    let mut infra = vec![(profile.dns.namespace.clone(), profile.dns.selector.clone(), "dns")];
    if let Some(t) = &profile.telemetry {
        infra.push((t.namespace.clone(), t.selector.clone(), "telemetry"));
    }
    if let Some(g) = &profile.egress_gateway {
        infra.push((g.pods.namespace.clone(), g.pods.selector.clone(), "egress-gateway"));
    }
    for (ns, selector, name) in infra {
        model.add_pod(&ns, name, selector, None, Vec::new());
    }
    let mut blocks: BTreeSet<IpNet> = BTreeSet::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let accounts = DeclaredAccounts::new(&model);
    for edge in &ir.edges {
        for peer in [&edge.from, &edge.to] {
            match peer {
                Peer::Pods { namespace, selector } => {
                    let name = format!("pods-{}", selector.values().cloned().collect::<Vec<_>>().join("-"));
                    let account = accounts.of(namespace, selector);
                    model.add_pod(namespace, &name, selector.clone(), account, Vec::new());
                }
                Peer::Namespace(ns) => model.add_namespace(ns),
                Peer::Cidr { net, except } => {
                    blocks.insert(*net);
                    blocks.extend(except.iter().copied());
                }
                // A host reached through the gateway is an outside endpoint
                // too: the route to it, not only the hop to the gateway pods,
                // is what verification must prove for each caller.
                Peer::Fqdn { name, .. } => {
                    names.insert(name.as_str().to_string());
                }
                Peer::Service { .. } | Peer::Entity(Entity::Dns | Entity::World) => {}
                Peer::Entity(Entity::KubeApi) => {}
            }
        }
    }
    guardrail_pods(ir, &mut model, &mut blocks, &mut names);
    let namespaces: Vec<String> = model.namespaces.keys().cloned().collect();
    for ns in namespaces {
        model.add_stranger(&ns);
    }
    blocks.insert(profile.metadata);
    blocks.extend(profile.api_server.iter().flat_map(|a| a.cidrs.iter().copied()));
    blocks.extend(profile.node_local_dns);
    model.blocks = blocks.iter().copied().collect();
    let mut externals: BTreeSet<External> = BTreeSet::new();
    let api_server: Vec<IpNet> = profile
        .api_server
        .iter()
        .flat_map(|a| a.cidrs.iter().copied())
        .collect();
    let outside = |ip: &IpAddr| !profile.cluster_cidrs.iter().any(|c| c.contains(ip));
    for block in &blocks {
        // Addresses inside the cluster's own CIDRs belong to pods and services, not to the outside.
        for ip in probe_addresses(block).into_iter().filter(outside) {
            externals.insert(External {
                ip,
                fqdn: None,
                kube_apiserver: api_server.iter().any(|a| a.contains(&ip)),
            });
        }
    }
    externals.insert(External {
        ip: IpAddr::from([203, 0, 113, 10]),
        fqdn: None,
        kube_apiserver: false,
    });
    for (index, name) in names.iter().enumerate() {
        let base = u8::try_from(index % 100).unwrap_or(0);
        let concrete = match name.strip_prefix("*.") {
            Some(suffix) => format!("sub.{suffix}"),
            None => name.clone(),
        };
        let near_miss = match name.strip_prefix("*.") {
            Some(suffix) => format!("a.b.{suffix}"),
            None => format!("not-{name}"),
        };
        let ip = |offset: u8| IpAddr::from([198, 51, 100, base.saturating_mul(2).saturating_add(offset)]);
        externals.insert(External {
            ip: ip(0),
            fqdn: Some(concrete),
            kube_apiserver: false,
        });
        externals.insert(External {
            ip: ip(1),
            fqdn: Some(near_miss),
            kube_apiserver: false,
        });
    }
    model.externals = externals.into_iter().collect();
    let mut ports: BTreeSet<(Protocol, u16)> = BTreeSet::from([(Protocol::Tcp, 9), (Protocol::Udp, 9)]);
    // A guardrail's named port has no number of its own: each pod gives it one.
    let guardrail_ports = ir.guardrails.admin.iter().chain(&ir.guardrails.baseline);
    let guardrail_ports = guardrail_ports.flat_map(|g| &g.ports).filter(|p| p.name.is_none());
    {
        for p in ir.edges.iter().flat_map(|e| &e.ports).chain(guardrail_ports) {
            ports.insert((p.protocol, p.first));
            ports.insert((p.protocol, p.last));
            if p.last < u16::MAX {
                ports.insert((p.protocol, p.last + 1));
            }
            if p.first > 1 {
                ports.insert((p.protocol, p.first - 1));
            }
        }
    }
    model.ports = ports.into_iter().collect();
    let mut requests: BTreeSet<Request> = BTreeSet::new();
    for rule in ir.edges.iter().flat_map(|e| &e.http) {
        let method = rule.method.clone().unwrap_or_else(|| "GET".into());
        let path = match rule.path.as_deref() {
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => format!("{prefix}item"),
                None => p.to_string(),
            },
            None => "/".into(),
        };
        // One request the rule admits, and near misses by method and by path.
        let pattern = rule.path.clone().unwrap_or_else(|| "/*".into());
        let other_method = if method == "DELETE" { "PATCH" } else { "DELETE" };
        requests.insert(Request {
            method: method.clone(),
            path: path.clone(),
            stands_for: format!("{method} {pattern}"),
        });
        requests.insert(Request {
            method: other_method.into(),
            path: path.clone(),
            stands_for: format!("{other_method} {pattern}"),
        });
        requests.insert(Request {
            method: method.clone(),
            path: "/palisade-elsewhere".into(),
            stands_for: format!("{method} on other paths"),
        });
    }
    model.requests = requests.into_iter().collect();
    model
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    model
}

/// What the guardrails name: for each pods peer, a namespace with the labels
/// it selects (the named one, or `guard-N` carrying the labels) and a pod
/// with its pod labels there; blocks and names of their outside peers
fn guardrail_pods(ir: &Ir, model: &mut ClusterModel, blocks: &mut BTreeSet<IpNet>, names: &mut BTreeSet<String>) {
    use crate::ir::GuardrailPeer;
    let guardrails = ir.guardrails.admin.iter().chain(&ir.guardrails.baseline);
    let peers: Vec<&GuardrailPeer> = guardrails.flat_map(|g| g.from.iter().chain(&g.to)).collect();
    for (index, peer) in peers.into_iter().enumerate() {
        match peer {
            GuardrailPeer::Pods { namespaces, pods } => {
                let named = namespaces
                    .get(crate::guardrails::NAMESPACE_LABEL)
                    .filter(|_| namespaces.len() == 1)
                    .cloned();
                let namespace = match named {
                    Some(name) => {
                        model.add_namespace(&name);
                        name
                    }
                    None => {
                        let name = format!("guard-{index}");
                        let mut labels = namespaces.clone();
                        labels.insert(crate::guardrails::NAMESPACE_LABEL.to_string(), name.clone());
                        model.namespaces.entry(name.clone()).or_insert(Namespace {
                            name: name.clone(),
                            labels,
                        });
                        name
                    }
                };
                if !pods.is_empty() {
                    let name = format!("pods-{}", pods.values().cloned().collect::<Vec<_>>().join("-"));
                    model.add_pod(&namespace, &name, pods.clone(), None, Vec::new());
                }
            }
            GuardrailPeer::Outside(Peer::Cidr { net, except }) => {
                blocks.insert(*net);
                blocks.extend(except.iter().copied());
            }
            GuardrailPeer::Outside(Peer::Fqdn { name, .. }) => {
                names.insert(name.as_str().to_string());
            }
            GuardrailPeer::Outside(_) => {}
        }
    }
}

/// An address inside the block, the first and last, and one on each side
pub fn probe_addresses(block: &IpNet) -> Vec<IpAddr> {
    let mut out = vec![block.network(), block.broadcast()];
    match block {
        IpNet::V4(net) => {
            let first = u32::from(net.network());
            let last = u32::from(net.broadcast());
            out.extend(
                [
                    first.checked_sub(1),
                    last.checked_add(1),
                    Some(first + (last - first) / 2),
                ]
                .into_iter()
                .flatten()
                .map(|n| IpAddr::from(std::net::Ipv4Addr::from(n))),
            );
        }
        IpNet::V6(net) => {
            let first = u128::from(net.network());
            let last = u128::from(net.broadcast());
            out.extend(
                [first.checked_sub(1), last.checked_add(1)]
                    .into_iter()
                    .flatten()
                    .map(|n| IpAddr::from(std::net::Ipv6Addr::from(n))),
            );
        }
    }
    out
}

/// One model for several versions of the intents (as `plan` compares them):
/// pods are the same pod when namespace and labels agree, whatever the
/// service is called in each version, so a rename changes nothing
pub fn synthesize_union(irs: &[&Ir]) -> ClusterModel {
    let mut model = ClusterModel::default();
    for ir in irs {
        let other = synthesize(ir);
        if model.pod_ranges.is_empty() {
            model.pod_ranges = other.pod_ranges.clone();
            model.cni = other.cni;
        }
        for (name, ns) in other.namespaces {
            model.namespaces.entry(name).or_insert(ns);
        }
        for pod in other.pods {
            model.add_pod(&pod.namespace, &pod.name, pod.labels, pod.service_account, pod.ports);
        }
        for external in other.externals {
            if !model.externals.contains(&external) {
                model.externals.push(external);
            }
        }
        let ports: BTreeSet<(Protocol, u16)> = model.ports.iter().copied().chain(other.ports).collect();
        model.ports = ports.into_iter().collect();
        let blocks: BTreeSet<IpNet> = model.blocks.iter().copied().chain(other.blocks).collect();
        model.blocks = blocks.into_iter().collect();
        let requests: BTreeSet<Request> = model.requests.iter().cloned().chain(other.requests).collect();
        model.requests = requests.into_iter().collect();
    }
    model.externals.sort();
    model
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    model
}

impl ClusterModel {
    /// Every connection worth deciding at L4: each ordered pair of endpoints
    /// (not outside to outside) on each port of the model
    pub fn connections(&self) -> impl Iterator<Item = Connection<'_>> + '_ {
        self.endpoints().flat_map(move |from| {
            self.endpoints()
                .filter(move |to| !matches!((from, to), (Endpoint::External(_), Endpoint::External(_))))
                .flat_map(move |to| {
                    self.ports.iter().map(move |&(protocol, port)| Connection {
                        from,
                        to,
                        protocol,
                        port,
                        request: None,
                    })
                })
        })
    }
}
