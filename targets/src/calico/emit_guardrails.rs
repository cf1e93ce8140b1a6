//! IR guardrails → Calico tiers: the admin tier is the Tier `palisade-admin`
//! (order 100, before the default tier where the namespaces' policies sit),
//! the baseline tier `palisade-baseline` (order 2,000,000, after it); both
//! pass what no rule decides (`defaultAction: Pass`), so the next tier, and
//! after the last the namespace profile (allow), decides.
//!
//! Each guardrail becomes, for every pods peer among its sources, a
//! GlobalNetworkPolicy selecting those pods with egress rules to its
//! destinations, and for every pods peer among its destinations, one selecting
//! them with ingress rules from its sources; `allow`/`deny`/`delegate` are
//! Allow/Deny/Pass, and the policies' `order` follows the rules', so a side's
//! first matching rule in the tier is its first matching guardrail. Audit
//! renders the same policies as StagedGlobalNetworkPolicy.
//!
//! Refused, with the alternative: DNS names (Calico OSS has no domain rules,
//! Enterprise domains are egress Allow only), named ports (a Calico rule names
//! the protocol a named port must have, a guardrail's takes the pod's), and
//! address blocks without the cluster's ranges (`nets` match pods too).

use super::evaluate::ORCHESTRATOR;
use crate::{
    groups::{metadata, Sources},
    Manifest, Mode,
};
use palisade_compiler::ir::{Guardrail, GuardrailPeer, Ir, Peer, Port};
use palisade_intents::{
    syntax::{Entity, Protocol},
    types::{GuardrailAction, Labels},
    Diag, Diags,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The tiers: name, order
const ADMIN: (&str, u32) = ("palisade-admin", 100);
const BASELINE: (&str, u32) = ("palisade-baseline", 2_000_000);

/// The Tier objects and policies of the IR's guardrails, or the refusals
pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    if ir.guardrails.is_empty() {
        return Ok(Vec::new());
    }
    let kind = match mode {
        Mode::Enforce => "GlobalNetworkPolicy",
        Mode::Audit => "StagedGlobalNetworkPolicy",
    };
    let mut diags = Diags::new();
    let mut out = Vec::new();
    for ((tier, order), rules) in [(ADMIN, &ir.guardrails.admin), (BASELINE, &ir.guardrails.baseline)] {
        if rules.is_empty() {
            continue;
        }
        let mut sources = Sources::default();
        rules.iter().for_each(|r| sources.add(r.source.id()));
        let mut meta = metadata(ir, "", tier, &sources);
        if let Some(fields) = meta.as_object_mut() {
            fields.remove("namespace");
        }
        out.push(Manifest::from_parts(
            "projectcalico.org/v3",
            "Tier",
            meta,
            json!({ "order": order, "defaultAction": "Pass" }),
        ));
        let mut index = 0usize;
        let mut stems = crate::kubernetes::cluster_emit::Stems::default();
        for rule in rules {
            let stem = stems.of(rule);
            match parts(ir, rule) {
                Ok(parts) => {
                    let mut counts = (0usize, 0usize);
                    for (direction, selectors, rules) in parts {
                        let k = if direction == "ingress" {
                            &mut counts.1
                        } else {
                            &mut counts.0
                        };
                        let name = format!("{tier}.{stem}-{direction}-{k}");
                        *k += 1;
                        out.push(policy(
                            ir, kind, &name, tier, index, direction, selectors, rules, rule, mode,
                        ));
                        index += 1;
                    }
                }
                Err(d) => diags.push(d),
            }
        }
    }
    if diags.has_errors() {
        Err(diags.sorted())
    } else {
        Ok(out)
    }
}

#[expect(clippy::too_many_arguments, reason = "one policy is all of these")]
fn policy(
    ir: &Ir,
    kind: &str,
    name: &str,
    tier: &str,
    index: usize,
    direction: &str,
    (selector, namespace_selector): (String, Option<String>),
    rules: Vec<Value>,
    rule: &Guardrail,
    mode: Mode,
) -> Manifest {
    let mut sources = Sources::default();
    sources.add(rule.source.id());
    let mut meta = metadata(ir, "", name, &sources);
    if let Some(fields) = meta.as_object_mut() {
        fields.remove("namespace");
    }
    let types = if direction == "ingress" { "Ingress" } else { "Egress" };
    let mut spec = json!({
        "tier": tier,
        "order": index,
        "selector": selector,
        "types": [types],
        direction: rules,
    });
    if let Some(ns) = namespace_selector {
        spec["namespaceSelector"] = ns.into();
    }
    if mode == Mode::Audit {
        spec["stagedAction"] = "Set".into();
    }
    Manifest::from_parts("projectcalico.org/v3", kind, meta, spec)
}

type Part = (&'static str, (String, Option<String>), Vec<Value>);

/// The policies one guardrail becomes: direction, subject, rules
fn parts(ir: &Ir, rule: &Guardrail) -> Result<Vec<Part>, Diag> {
    let refuse = |message: String, help: &str| {
        Diag::error("guardrail_unsupported", message)
            .at(&rule.source.loc)
            .help(help.to_string())
    };
    for peer in rule.from.iter().chain(&rule.to) {
        if let GuardrailPeer::Outside(Peer::Fqdn { name, .. }) = peer {
            return Err(refuse(
                format!("`calico` cannot match the DNS name `{name}` in a guardrail"),
                "Calico OSS has no domain rules and Enterprise's are egress Allow only: name the host's addresses (`{ cidr: ... }`), or leave the name to the namespaces' intents (`delegate`) and a `cilium` target",
            ));
        }
    }
    if let Some(name) = rule.ports.iter().find_map(|p| p.name.as_deref()) {
        return Err(refuse(
            format!("`calico` cannot use the named port `{name}` in a guardrail"),
            "a Calico rule fixes the protocol a named port must have, a guardrail's takes each pod's: write the port number",
        ));
    }
    let action = match rule.action {
        GuardrailAction::Allow => "Allow",
        GuardrailAction::Deny => "Deny",
        GuardrailAction::Delegate => "Pass",
    };
    let entities = |peers: &[GuardrailPeer]| -> Result<Vec<Value>, Diag> {
        peers
            .iter()
            .map(|p| entity(ir, p))
            .collect::<Result<Vec<Option<Value>>, String>>()
            .map(|e| e.into_iter().flatten().collect())
            .map_err(|m| refuse(m, "add `clusterCIDRs: [<pod CIDR>, <service CIDR>]` under `spec.cluster` in palisade.yaml: Calico's `nets` match pod addresses too"))
    };
    let to = entities(&rule.to)?;
    let from = entities(&rule.from)?;
    let mut parts = Vec::new();
    for subject in rule.from.iter().filter_map(subject) {
        let rules = to
            .iter()
            .flat_map(|e| rules(action, "destination", e, &rule.ports))
            .collect();
        parts.push(("egress", subject, rules));
    }
    for subject in rule.to.iter().filter_map(subject) {
        let rules = from
            .iter()
            .flat_map(|e| rules(action, "source", e, &rule.ports))
            .collect();
        parts.push(("ingress", subject, rules));
    }
    Ok(parts)
}

/// Pods (and only pods) with these labels
fn pod_selector(labels: &Labels) -> String {
    let mut out = format!("{ORCHESTRATOR} == 'k8s'");
    for (k, v) in labels {
        out.push_str(&format!(" && {k} == '{v}'"));
    }
    out
}

/// Namespaces with these labels (none: every namespace)
fn namespace_selector(labels: &Labels) -> Option<String> {
    (!labels.is_empty()).then(|| {
        labels
            .iter()
            .map(|(k, v)| format!("{k} == '{v}'"))
            .collect::<Vec<_>>()
            .join(" && ")
    })
}

/// The selectors of a pods peer as a policy's subject
fn subject(peer: &GuardrailPeer) -> Option<(String, Option<String>)> {
    match peer {
        GuardrailPeer::Pods { namespaces, pods } => Some((pod_selector(pods), namespace_selector(namespaces))),
        GuardrailPeer::Outside(_) => None,
    }
}

/// A peer as a rule's entity (`None`: it stands for no address at all)
fn entity(ir: &Ir, peer: &GuardrailPeer) -> Result<Option<Value>, String> {
    let profile = &ir.profile;
    let (nets, mut not_nets): (Vec<ipnet::IpNet>, Vec<ipnet::IpNet>) = match peer {
        GuardrailPeer::Pods { namespaces, pods } => {
            let mut entity = json!({ "selector": pod_selector(pods) });
            if let Some(ns) = namespace_selector(namespaces) {
                entity["namespaceSelector"] = ns.into();
            }
            return Ok(Some(entity));
        }
        GuardrailPeer::Outside(Peer::Cidr { net, except }) => (vec![*net], except.clone()),
        GuardrailPeer::Outside(Peer::Entity(Entity::World)) => (
            ["0.0.0.0/0", "::/0"].iter().filter_map(|n| n.parse().ok()).collect(),
            Vec::new(),
        ),
        GuardrailPeer::Outside(Peer::Entity(Entity::KubeApi)) => (
            profile
                .api_server
                .iter()
                .flat_map(|a| a.cidrs.iter().copied())
                .collect(),
            Vec::new(),
        ),
        GuardrailPeer::Outside(other) => return Err(format!("`{other}` is not an address block")),
    };
    let never_pods = |net: &ipnet::IpNet| match net {
        ipnet::IpNet::V4(n) => (n.network().is_link_local() && n.prefix_len() >= 16) || n.network().is_loopback(),
        ipnet::IpNet::V6(n) => {
            (n.network().is_unicast_link_local() && n.prefix_len() >= 10) || n.network().is_loopback()
        }
    };
    if profile.cluster_cidrs.is_empty() && !nets.iter().all(never_pods) {
        return Err(format!("`{peer}` on Calico needs the cluster's pod and service CIDRs"));
    }
    if nets.is_empty() {
        return Ok(None);
    }
    not_nets.extend(profile.cluster_cidrs.iter().copied());
    let mut entity = json!({ "nets": nets.iter().map(ToString::to_string).collect::<Vec<_>>() });
    if !not_nets.is_empty() {
        entity["notNets"] = not_nets.iter().map(ToString::to_string).collect();
    }
    Ok(Some(entity))
}

/// The rules of one entity: one per protocol of the ports (Calico takes one)
fn rules(action: &str, side: &str, entity: &Value, ports: &[Port]) -> Vec<Value> {
    let mut by_protocol: BTreeMap<Protocol, Vec<&Port>> = BTreeMap::new();
    for p in ports {
        by_protocol.entry(p.protocol).or_default().push(p);
    }
    let one = |protocol: Option<Protocol>, ports: &[&Port]| {
        let mut rule = Map::new();
        rule.insert("action".into(), action.into());
        if let Some(p) = protocol {
            rule.insert("protocol".into(), p.as_k8s().into());
        }
        let mut destination = if side == "destination" {
            entity.clone()
        } else {
            json!({})
        };
        if !ports.is_empty() {
            destination["ports"] = ports
                .iter()
                .map(|p| {
                    if p.first == p.last {
                        json!(p.first)
                    } else {
                        json!(format!("{}:{}", p.first, p.last))
                    }
                })
                .collect();
        }
        if side == "source" {
            rule.insert("source".into(), entity.clone());
        }
        if destination.as_object().is_some_and(|d| !d.is_empty()) {
            rule.insert("destination".into(), destination);
        }
        Value::Object(rule)
    };
    if by_protocol.is_empty() {
        return vec![one(None, &[])];
    }
    by_protocol
        .iter()
        .map(|(protocol, ports)| one(Some(*protocol), ports))
        .collect()
}
