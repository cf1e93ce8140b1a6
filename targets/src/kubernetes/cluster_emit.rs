//! IR guardrails → ClusterNetworkPolicy v1alpha2 (network-policy-api v0.2.0).
//!
//! The admin tier becomes `tier: Admin`, the baseline tier `tier: Baseline`;
//! `allow` is `Accept`, `deny` `Deny`, `delegate` `Pass`. A guardrail decides
//! both sides of a connection, so each becomes, for every pods peer among its
//! sources, a policy with that subject and one egress rule to its
//! destinations, and for every pods peer among its destinations, a policy
//! with that subject and one ingress rule from its sources. Priorities follow
//! the rules' order (the first rule's policies first), one priority per
//! policy (names follow the rule's text, not its place: `Stems`), so no two
//! policies of a tier tie (the specification leaves their
//! order undefined) and a side's first matching policy is its first matching
//! guardrail, as the reference decides.
//!
//! Refused, with what to write instead: DNS names (`domainNames` is an
//! experimental, egress-only field whose matching each implementation
//! decides), addresses as sources of a connection to pods (ingress peers are
//! pods only), address blocks without the cluster's ranges (`networks` match
//! pod addresses too, and have no `except`), and more than the API holds
//! (priorities 0-1000, 25 peers, 25 protocols).

use crate::{
    groups::{metadata, Sources},
    Manifest, Mode,
};
use ipnet::IpNet;
use palisade_compiler::ir::{Guardrail, GuardrailPeer, Ir, Peer, Port};
use palisade_intents::{
    syntax::Entity,
    types::{GuardrailAction, Labels},
    Diag, Diags,
};
use serde_json::{json, Value};

/// The highest priority the API takes
const MAX_PRIORITY: usize = 1000;
/// The most peers (and CIDRs in one `networks` peer, and protocols) of a rule
const MAX_ITEMS: usize = 25;

/// The ClusterNetworkPolicies of the IR's guardrails, or the refusals
pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    // The API has no audit mode: auditing renders nothing (palisade's own
    // gate evaluates the enforce manifests), as for NetworkPolicy.
    if mode == Mode::Audit || ir.guardrails.is_empty() {
        return Ok(Vec::new());
    }
    let mut diags = Diags::new();
    let mut out = Vec::new();
    for (tier, rules) in [("Admin", &ir.guardrails.admin), ("Baseline", &ir.guardrails.baseline)] {
        let mut priority = 0usize;
        let mut stems = Stems::default();
        for rule in rules {
            let stem = stems.of(rule);
            let parts = match parts(ir, rule) {
                Ok(parts) => parts,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            let mut counts = [0usize; 2];
            for part in parts {
                let direction = usize::from(part.direction == "ingress");
                let k = counts.get(direction).copied().unwrap_or_default();
                if let Some(count) = counts.get_mut(direction) {
                    *count += 1;
                }
                let name = format!("palisade-{}-{stem}-{}-{k}", tier.to_ascii_lowercase(), part.direction);
                if priority > MAX_PRIORITY {
                    diags.push(
                        Diag::error("guardrail_unsupported", format!("the {tier} tier needs more than {} ClusterNetworkPolicies", MAX_PRIORITY + 1))
                            .at(&rule.source.loc)
                            .help("a ClusterNetworkPolicy priority is 0-1000: merge guardrails that share their sources or destinations"),
                    );
                    break;
                }
                out.push(part.render(ir, tier, priority, rule, &name));
                priority += 1;
            }
        }
    }
    if diags.has_errors() {
        Err(diags.sorted())
    } else {
        Ok(out)
    }
}

/// One policy of a guardrail: a subject and its one rule
struct Part {
    subject: Value,
    /// `ingress` or `egress`
    direction: &'static str,
    peers: Vec<Value>,
    protocols: Option<Vec<Value>>,
}

impl Part {
    fn render(self, ir: &Ir, tier: &str, priority: usize, rule: &Guardrail, name: &str) -> Manifest {
        let action = match rule.action {
            GuardrailAction::Allow => "Accept",
            GuardrailAction::Deny => "Deny",
            GuardrailAction::Delegate => "Pass",
        };
        let peers_key = if self.direction == "ingress" { "from" } else { "to" };
        let mut body = serde_json::Map::new();
        // `file:line`: what a reader of the cluster's objects can find
        let line: String = rule.source.file_line().chars().take(100).collect();
        body.insert("name".into(), line.into());
        body.insert("action".into(), action.into());
        body.insert(peers_key.into(), self.peers.into());
        if let Some(protocols) = self.protocols {
            body.insert("protocols".into(), protocols.into());
        }
        let spec = json!({
            "tier": tier,
            "priority": priority,
            "subject": self.subject,
            self.direction: [Value::Object(body)],
        });
        let mut sources = Sources::default();
        sources.add(rule.source.id());
        let mut meta = metadata(ir, "", name, &sources);
        if let Some(fields) = meta.as_object_mut() {
            fields.remove("namespace");
        }
        Manifest::from_parts(super::cluster::API_VERSION, super::cluster::KIND, meta, spec)
    }
}

/// Names that stay while a rule does: the rule's words and the digest of
/// its text (`Source::id`), not its position, so adding a rule above renames
/// nothing (its priority changes, its name does not); the same text twice in
/// one tier is told apart by its occurrence
#[derive(Default)]
pub(crate) struct Stems(std::collections::HashMap<String, usize>);

impl Stems {
    pub(crate) fn of(&mut self, rule: &Guardrail) -> String {
        let id = rule.source.id();
        let words = id.rsplit_once('#').map_or(id.as_str(), |(_, w)| w).to_string();
        let seen = self.0.entry(words.clone()).or_default();
        *seen += 1;
        if *seen == 1 {
            words
        } else {
            format!("{words}-{seen}")
        }
    }
}

/// The policies one guardrail becomes, egress ones first
fn parts(ir: &Ir, rule: &Guardrail) -> Result<Vec<Part>, Diag> {
    let refuse = |message: String, help: &str| {
        Diag::error("guardrail_unsupported", message)
            .at(&rule.source.loc)
            .help(help.to_string())
    };
    for peer in rule.from.iter().chain(&rule.to) {
        if let GuardrailPeer::Outside(Peer::Fqdn { name, .. }) = peer {
            return Err(refuse(
                format!("ClusterNetworkPolicy cannot match the DNS name `{name}`"),
                "`domainNames` is an experimental, egress-only field whose matching each implementation decides: name the host's addresses (`{ cidr: ... }`), or leave the name to the namespaces' intents (`delegate`) and a `cilium` target",
            ));
        }
    }
    let is_pods = |p: &&GuardrailPeer| matches!(p, GuardrailPeer::Pods { .. });
    let outside_sources: Vec<&GuardrailPeer> = rule.from.iter().filter(|p| !is_pods(p)).collect();
    if let (Some(source), true) = (outside_sources.first(), rule.to.iter().any(|p| is_pods(&p))) {
        return Err(refuse(
            format!("ClusterNetworkPolicy cannot decide connections from `{source}` to pods: its ingress rules select pods only"),
            "decide them in the namespaces' intents (`delegate`), or name the pods that may not be reached by what reaches them",
        ));
    }
    let protocols =
        protocols(&rule.ports).map_err(|m| refuse(m, "split the guardrail into several with fewer ports"))?;
    let to_peers = rule
        .to
        .iter()
        .map(|p| peer(ir, p))
        .collect::<Result<Vec<Vec<Value>>, String>>()
        .map_err(|m| refuse(m, "add `clusterCIDRs: [<pod CIDR>, <service CIDR>]` under `spec.cluster` in palisade.yaml: `networks` match pod addresses too, so palisade leaves the cluster's ranges out"))?
        .concat();
    let named = rule.ports.iter().find_map(|p| p.name.as_deref());
    if let (Some(name), true) = (named, to_peers.iter().any(|p| p.get("networks").is_some())) {
        return Err(refuse(
            format!("ClusterNetworkPolicy cannot use the named port `{name}` towards addresses"),
            "a named port is a pod's: write its number, or give the addresses a guardrail of their own without the named port",
        ));
    }
    let from_peers: Vec<Value> = rule.from.iter().filter_map(pods_peer).collect();
    for (count, side) in [(to_peers.len(), "destinations"), (from_peers.len(), "sources")] {
        if count > MAX_ITEMS {
            return Err(refuse(
                format!("this guardrail has {count} {side} as ClusterNetworkPolicy peers, more than the {MAX_ITEMS} a rule holds"),
                "split it into several guardrails",
            ));
        }
    }
    let mut parts = Vec::new();
    // A destination with nothing outside the cluster's ranges is no peer:
    // an egress rule needs one (and to nothing, it would decide nothing)
    let egress_subjects = rule.from.iter().filter(|_| !to_peers.is_empty());
    for subject in egress_subjects.filter_map(subject) {
        parts.push(Part {
            subject,
            direction: "egress",
            peers: to_peers.clone(),
            protocols: protocols.clone(),
        });
    }
    for subject in rule.to.iter().filter_map(subject) {
        parts.push(Part {
            subject,
            direction: "ingress",
            peers: from_peers.clone(),
            protocols: protocols.clone(),
        });
    }
    Ok(parts)
}

fn selector(labels: &Labels) -> Value {
    if labels.is_empty() {
        json!({})
    } else {
        json!({ "matchLabels": labels })
    }
}

/// The subject that selects a pods peer
fn subject(peer: &GuardrailPeer) -> Option<Value> {
    pods_peer(peer)
}

/// A pods peer as a subject or peer (both are the same union)
fn pods_peer(peer: &GuardrailPeer) -> Option<Value> {
    match peer {
        GuardrailPeer::Pods { namespaces, pods } if pods.is_empty() => {
            Some(json!({ "namespaces": selector(namespaces) }))
        }
        GuardrailPeer::Pods { namespaces, pods } => Some(json!({
            "pods": { "namespaceSelector": selector(namespaces), "podSelector": selector(pods) }
        })),
        GuardrailPeer::Outside(_) => None,
    }
}

/// A destination as peers: pods, or its addresses without the cluster's
fn peer(ir: &Ir, peer: &GuardrailPeer) -> Result<Vec<Value>, String> {
    let profile = &ir.profile;
    let (blocks, holes): (Vec<IpNet>, Vec<IpNet>) = match peer {
        GuardrailPeer::Pods { .. } => return Ok(pods_peer(peer).into_iter().collect()),
        GuardrailPeer::Outside(Peer::Cidr { net, except }) => (vec![*net], except.clone()),
        GuardrailPeer::Outside(Peer::Entity(Entity::World)) => {
            let all = ["0.0.0.0/0", "::/0"].iter().filter_map(|n| n.parse().ok()).collect();
            (all, Vec::new())
        }
        GuardrailPeer::Outside(Peer::Entity(Entity::KubeApi)) => (
            profile
                .api_server
                .iter()
                .flat_map(|a| a.cidrs.iter().copied())
                .collect(),
            Vec::new(),
        ),
        // resolution makes no other outside peer; FQDNs were refused
        GuardrailPeer::Outside(other) => return Err(format!("`{other}` is not an address block")),
    };
    let never_pods = |net: &IpNet| match net {
        IpNet::V4(n) => (n.network().is_link_local() && n.prefix_len() >= 16) || n.network().is_loopback(),
        IpNet::V6(n) => (n.network().is_unicast_link_local() && n.prefix_len() >= 10) || n.network().is_loopback(),
    };
    if profile.cluster_cidrs.is_empty() && !blocks.iter().all(never_pods) {
        return Err(format!(
            "`{peer}` as ClusterNetworkPolicy `networks` needs the cluster's pod and service CIDRs"
        ));
    }
    let holes: Vec<IpNet> = holes.into_iter().chain(profile.cluster_cidrs.iter().copied()).collect();
    let mut cidrs: Vec<IpNet> = blocks.iter().flat_map(|b| subtract(*b, &holes)).collect();
    cidrs.sort();
    cidrs.dedup();
    if cidrs.is_empty() {
        return Ok(Vec::new());
    }
    Ok(cidrs
        .chunks(MAX_ITEMS)
        .map(|chunk| json!({ "networks": chunk.iter().map(ToString::to_string).collect::<Vec<_>>() }))
        .collect())
}

/// `block` without the `holes`, as the fewest blocks
pub(super) fn subtract(block: IpNet, holes: &[IpNet]) -> Vec<IpNet> {
    if holes.iter().any(|h| h.contains(&block)) {
        return Vec::new();
    }
    if !holes.iter().any(|h| block.contains(h)) {
        return vec![block];
    }
    match block.subnets(block.prefix_len().saturating_add(1)) {
        Ok(halves) => halves.flat_map(|half| subtract(half, holes)).collect(),
        Err(_) => Vec::new(),
    }
}

/// The ports as protocol entries (`None`: every port)
fn protocols(ports: &[Port]) -> Result<Option<Vec<Value>>, String> {
    if ports.is_empty() {
        return Ok(None);
    }
    if ports.len() > MAX_ITEMS {
        return Err(format!(
            "this guardrail lists {} ports, more than the {MAX_ITEMS} protocol entries a ClusterNetworkPolicy rule holds",
            ports.len()
        ));
    }
    Ok(Some(
        ports
            .iter()
            .map(|p| {
                let key = p.protocol.as_str();
                match &p.name {
                    Some(name) => json!({ "destinationNamedPort": name }),
                    None if p.first == p.last => json!({ key: { "destinationPort": { "number": p.first } } }),
                    None => json!({ key: { "destinationPort": { "range": { "start": p.first, "end": p.last } } } }),
                }
            })
            .collect(),
    ))
}
