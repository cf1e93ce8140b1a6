//! The CiliumNetworkPolicy traps: toFQDNs without the DNS proxy rule that
//! feeds it, `matchName` with a literal `*`, single public addresses,
//! metadata open to a namespace, policies that select no pod of the dump,
//! and policies Cilium's agent refuses whole (admission.rs).

use super::admission::{self, CILIUM_REFUSES};
use crate::manifest::Field;
use crate::{
    lint::{check_egress_block, EgressBlock, Finding, FQDN_WITHOUT_DNS_PROXY, LITERAL_WILDCARD, SELECTS_NOTHING},
    Manifest,
};
use ipnet::IpNet;
use palisade_compiler::model::ClusterModel;
use serde_json::Value;

pub(super) fn lint(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let mut out = Vec::new();
    let policies: Vec<(usize, &Manifest)> = manifests
        .iter()
        .enumerate()
        .filter(|(_, m)| m.api_version() == "cilium.io/v2" && m.kind() == "CiliumNetworkPolicy")
        .collect();
    for &(index, m) in &policies {
        for refusal in admission::refusals(&m.object) {
            // PAL010 already says this one, with its fix.
            let literal_wildcard = refusal.pointer.contains("/toFQDNs/") && refusal.pointer.ends_with("/matchName");
            if !literal_wildcard {
                out.push(Finding::new(
                    &CILIUM_REFUSES,
                    index,
                    refusal.pointer,
                    format!("{} (Cilium's {})", refusal.message, refusal.rule),
                    admission_fix(&refusal.message),
                ));
            }
        }
        let spec = &m.object["spec"];
        let selector = spec["endpointSelector"]["matchLabels"].as_object();
        let whole_namespace = selector.is_none_or(|s| s.is_empty());
        if let (Some(cluster), Some(selector)) = (cluster, selector.filter(|s| !s.is_empty())) {
            let matches = |p: &palisade_compiler::model::Pod| {
                selector.iter().all(|(k, v)| {
                    let key = k.strip_prefix("k8s:").or_else(|| k.strip_prefix("any:")).unwrap_or(k);
                    p.labels.get(key).map(String::as_str) == v.as_str()
                })
            };
            if cluster.namespaces.contains_key(m.namespace())
                && !cluster.pods.iter().any(|p| p.namespace == m.namespace() && matches(p))
            {
                out.push(Finding::new(
                    &SELECTS_NOTHING,
                    index,
                    "/spec/endpointSelector",
                    format!(
                        "no pod of {} in the cluster dump matches this endpointSelector",
                        m.namespace()
                    ),
                    "check the labels against `kubectl get pods -n <namespace> --show-labels`",
                ));
            }
        }
        for (r, rule) in spec["egress"].as_array().into_iter().flatten().enumerate() {
            for (s, fqdn) in rule["toFQDNs"].as_array().into_iter().flatten().enumerate() {
                if let Some(name) = fqdn["matchName"].as_str().filter(|n| n.contains('*')) {
                    out.push(Finding::new(
                        &LITERAL_WILDCARD,
                        index,
                        format!("/spec/egress/{r}/toFQDNs/{s}/matchName"),
                        format!("matchName `{name}` is not a name: Cilium's CRD refuses it, and matchName never matches wildcards"),
                        format!("write `matchPattern: \"{name}\"`"),
                    ));
                }
            }
            if rule.get("toFQDNs").is_some() && !feeds_dns_proxy(&policies, m, selector) {
                out.push(Finding::new(
                    &FQDN_WITHOUT_DNS_PROXY,
                    index,
                    format!("/spec/egress/{r}/toFQDNs"),
                    "no egress rule of these endpoints sends DNS through Cilium's proxy (`toPorts.rules.dns`), so the names are never learnt and this rule matches nothing",
                    "add an egress rule to kube-dns on udp/53 with `rules: { dns: [{ matchPattern: \"*\" }] }`",
                ));
            }
            let cidrs = rule["toCIDR"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(c, v)| {
                    Some((
                        format!("/spec/egress/{r}/toCIDR/{c}"),
                        v.as_str()?.parse::<IpNet>().ok()?,
                        Vec::new(),
                    ))
                })
                .chain(
                    rule["toCIDRSet"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .filter_map(|(c, v)| {
                            let except: Vec<IpNet> = v["except"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|e| e.as_str()?.parse().ok())
                                .collect();
                            Some((
                                format!("/spec/egress/{r}/toCIDRSet/{c}/cidr"),
                                v["cidr"].as_str()?.parse().ok()?,
                                except,
                            ))
                        }),
                );
            for (pointer, net, except) in cidrs {
                let block = EgressBlock {
                    manifest: m,
                    index,
                    pointer,
                    net,
                    except,
                    whole_namespace,
                    name_instead: "use `toFQDNs` with the host's name (and a DNS proxy rule)",
                };
                check_egress_block(block, &mut out);
            }
        }
    }
    out
}

/// Whether a policy of the namespace that selects these endpoints (or all of
/// them) has an egress rule with DNS proxy rules
fn feeds_dns_proxy(
    policies: &[(usize, &Manifest)],
    policy: &Manifest,
    selector: Option<&serde_json::Map<String, Value>>,
) -> bool {
    policies
        .iter()
        .filter(|(_, m)| m.namespace() == policy.namespace())
        .filter(|(_, m)| {
            let other = m.object["spec"]["endpointSelector"]["matchLabels"].as_object();
            other.is_none_or(|o| o.is_empty()) || other == selector
        })
        .any(|(_, m)| {
            m.object["spec"]["egress"].as_array().into_iter().flatten().any(|rule| {
                rule["toPorts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p.at(&["rules", "dns"]).is_some())
            })
        })
}

/// What to write instead, for the admission rules hand-written policies break most
fn admission_fix(message: &str) -> &'static str {
    if message.starts_with("L7 rules can only apply to TCP") {
        "move the UDP and SCTP ports to a `toPorts` entry of their own, without `rules`"
    } else if message.starts_with("Combining") {
        "write one rule per peer kind (toEndpoints, toCIDRSet, toEntities, toFQDNs, ...), each with its own toPorts"
    } else if message.starts_with("too many ports") {
        "split the ports over several `toPorts` entries of at most 40"
    } else if message.starts_with("allow CIDR prefix") {
        "list only excepts inside the cidr (an except outside it takes nothing away)"
    } else if message.starts_with("DNS rules do not support port ranges") {
        "list the DNS ports one by one (`port: \"53\"`)"
    } else if message.starts_with("multiple L7 protocol") {
        "one kind of L7 rule per `toPorts` entry: split the entry"
    } else {
        "see Cilium's pkg/policy/api/rule_validation.go for the rule, and `kubectl describe cnp` for the agent's verdict"
    }
}
