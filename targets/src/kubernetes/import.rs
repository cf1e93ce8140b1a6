//! NetworkPolicy → intents. A policy isolates the pods it selects for its
//! policy types; each rule allows its peers (namespaceSelector AND
//! podSelector within a peer, OR across peers) on its ports. Namespace
//! selectors by label become the namespaces they match today; what the
//! intent language cannot say (matchExpressions, named ports without a
//! cluster dump) is reported as a loss.

use crate::{
    import::{labels_text, Context, Imported, Isolation, Peer},
    kubernetes::{namespace_of, policy_types, selector::selects, spec_of},
    Manifest,
};
use k8s_openapi::{
    api::networking::v1::{NetworkPolicyPeer, NetworkPolicyPort},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_intents::types::Labels;

pub(super) fn import(manifests: &[Manifest], ctx: &Context) -> Imported {
    let mut out = Imported::default();
    // Reading ClusterNetworkPolicies back into `kind: Guardrails` is not
    // written yet (issue 19, import): each is named as lost.
    for m in manifests.iter().filter(|m| super::cluster::is_cluster_policy(m)) {
        out.lose(
            &format!("ClusterNetworkPolicy {}", m.name()),
            "the whole policy",
            "palisade does not import ClusterNetworkPolicy into `kind: Guardrails` yet: write the guardrails by hand (README, Guardrails); the equivalence check still decides by it",
        );
    }
    for m in manifests
        .iter()
        .filter(|m| m.api_version() == "networking.k8s.io/v1" && m.kind() == "NetworkPolicy")
    {
        let namespace = namespace_of(m).to_string();
        let origin = format!("NetworkPolicy {namespace}/{}", m.name());
        let Some(spec) = spec_of(&m.object) else {
            out.lose(
                &origin,
                "the whole policy",
                "it does not parse as a NetworkPolicy; not imported",
            );
            continue;
        };
        let selector = labels(spec.pod_selector.as_ref(), &origin, "podSelector", &mut out);
        // The API server's defaulting decides the directions, not the keys written.
        let (ingress, egress) = policy_types(&spec);
        out.isolations.push(Isolation {
            namespace: namespace.clone(),
            selector: selector.clone(),
            ingress,
            egress,
            origin: origin.clone(),
        });
        let own = Peer::Pods {
            namespace: namespace.clone(),
            selector: selector.clone(),
        };
        let sides = [
            (
                ingress,
                "ingress",
                spec.ingress
                    .map(|rules| rules.into_iter().map(|r| (r.from, r.ports)).collect::<Vec<_>>()),
            ),
            (
                egress,
                "egress",
                spec.egress
                    .map(|rules| rules.into_iter().map(|r| (r.to, r.ports)).collect::<Vec<_>>()),
            ),
        ];
        for (enabled, side, rules) in sides {
            if !enabled {
                continue;
            }
            for (i, (peers, ports)) in rules.unwrap_or_default().into_iter().enumerate() {
                let origin = format!("{origin} {side}[{i}]");
                let others = match peers.filter(|p| !p.is_empty()) {
                    None => anyone(ctx, &origin, &mut out),
                    Some(list) => list
                        .iter()
                        .flat_map(|p| peer(p, &namespace, ctx, &origin, &mut out))
                        .collect(),
                };
                let ports = port_texts(ports.as_deref(), &namespace, &selector, side, ctx, &origin, &mut out);
                let Some(ports) = ports else { continue };
                out.allow(side, &own, others, &ports, &[], &origin);
            }
        }
    }
    out
}

/// An absent or empty peer list: every pod of every namespace and everything outside
pub(crate) fn anyone(ctx: &Context, origin: &str, out: &mut Imported) -> Vec<Peer> {
    out.lose(
        origin,
        "any peer (no from/to)",
        format!(
            "expanded to `world` and every pod of the {} namespaces in {}; namespaces created later are not covered (narrower)",
            ctx.namespaces.len(),
            ctx.source()
        ),
    );
    let mut peers = vec![Peer::Entity("world")];
    peers.extend(ctx.namespaces.keys().map(|ns| Peer::Pods {
        namespace: ns.clone(),
        selector: Labels::new(),
    }));
    peers
}

fn labels(selector: Option<&LabelSelector>, origin: &str, field: &str, out: &mut Imported) -> Labels {
    let Some(selector) = selector else {
        return Labels::new();
    };
    if selector.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) {
        out.lose(
            origin,
            format!("{field}.matchExpressions"),
            "intents select by labels (key=value, AND); only matchLabels was imported, which selects more pods",
        );
    }
    selector.match_labels.clone().unwrap_or_default().into_iter().collect()
}

fn peer(p: &NetworkPolicyPeer, home: &str, ctx: &Context, origin: &str, out: &mut Imported) -> Vec<Peer> {
    if let Some(block) = &p.ip_block {
        let Ok(net) = block.cidr.parse::<ipnet::IpNet>() else {
            out.lose(origin, format!("ipBlock {}", block.cidr), "not a CIDR; skipped");
            return Vec::new();
        };
        let except = block
            .except
            .iter()
            .flatten()
            .filter_map(|e| e.parse::<ipnet::IpNet>().ok())
            .collect();
        return vec![Peer::Cidr { net, except }];
    }
    let pods = labels(p.pod_selector.as_ref(), origin, "podSelector", out);
    let namespaces = match &p.namespace_selector {
        None => vec![home.to_string()],
        Some(sel) => {
            let by_name = sel
                .match_labels
                .as_ref()
                .filter(|m| m.len() == 1 && sel.match_expressions.as_ref().is_none_or(Vec::is_empty))
                .and_then(|m| m.get("kubernetes.io/metadata.name"))
                .cloned();
            match by_name {
                Some(name) => vec![name],
                None => {
                    let construct = match sel.match_labels.as_ref().filter(|m| !m.is_empty()) {
                        Some(m) => format!("namespaceSelector {}", labels_text(&m.clone().into_iter().collect())),
                        None => "namespaceSelector {} (every namespace)".to_string(),
                    };
                    out.expand_namespaces(ctx, |labels| selects(sel, labels), construct, origin)
                }
            }
        }
    };
    namespaces
        .into_iter()
        .map(|namespace| Peer::Pods {
            namespace,
            selector: pods.clone(),
        })
        .collect()
}

/// The ports of a rule as intents write them; `None` when nothing of the rule
/// can be imported
fn port_texts(
    ports: Option<&[NetworkPolicyPort]>,
    namespace: &str,
    selector: &Labels,
    side: &str,
    ctx: &Context,
    origin: &str,
    out: &mut Imported,
) -> Option<Vec<String>> {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return Some(Vec::new());
    };
    let mut texts = Vec::new();
    for p in ports {
        let protocol = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
        match (&p.port, p.end_port) {
            (None, _) => texts.push(format!("{protocol}/1-65535")),
            (Some(IntOrString::Int(n)), Some(end)) if end > *n => texts.push(format!("{protocol}/{n}-{end}")),
            (Some(IntOrString::Int(n)), _) => texts.push(format!("{protocol}/{n}")),
            (Some(IntOrString::String(name)), _) => {
                if let Ok(proto) = protocol.parse::<palisade_intents::syntax::Protocol>() {
                    out.named_ports.insert((name.clone(), proto));
                }
                // Named ports resolve on the destination pod; on egress that is the peer, unknown here.
                let resolved = (side == "ingress")
                    .then(|| ctx.named_port(namespace, selector, name))
                    .flatten();
                match resolved {
                    Some((proto, number)) => {
                        out.lose(
                            origin,
                            format!("named port `{name}`"),
                            format!("resolved to {}/{number} from the cluster dump; pods that number `{name}` otherwise differ", proto.as_str()),
                        );
                        texts.push(format!("{}/{number}", proto.as_str()));
                    }
                    None => out.lose(
                        origin,
                        format!("named port `{name}`"),
                        "intents name ports only on their own services; without a cluster dump that resolves it, the port was left out (narrower)",
                    ),
                }
            }
        }
    }
    (!texts.is_empty()).then_some(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isolations(yaml: &str) -> Vec<(String, bool, bool)> {
        let manifests: Vec<Manifest> = serde_yaml_ng::Deserializer::from_str(yaml)
            .filter_map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).ok())
            .map(Manifest::new)
            .collect();
        let imported = import(&manifests, &Context::new(&manifests, None));
        imported
            .isolations
            .iter()
            .map(|i| (i.namespace.clone(), i.ingress, i.egress))
            .collect()
    }

    #[test]
    fn isolation_follows_the_api_servers_defaulting_and_kubectls_namespace() {
        let head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: shop }\n";
        // defaults.go: Egress only when len(spec.egress) != 0
        assert_eq!(
            isolations(&format!("{head}spec: {{ podSelector: {{}}, egress: [] }}\n")),
            [("shop".into(), true, false)]
        );
        assert_eq!(
            isolations(&format!(
                "{head}spec: {{ podSelector: {{}}, policyTypes: [], egress: [{{}}] }}\n"
            )),
            [("shop".into(), true, true)]
        );
        assert_eq!(
            isolations(&format!("{head}spec: {{ podSelector: {{}}, policyTypes: [Egress] }}\n")),
            [("shop".into(), false, true)]
        );
        let bare = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p }\n";
        assert_eq!(isolations(bare), [("default".into(), true, false)]);
    }

    /// ClusterNetworkPolicies are not imported into guardrails yet: one is
    /// named as lost, never dropped in silence
    #[test]
    fn a_cluster_network_policy_is_reported_as_not_imported() {
        let yaml = "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: { name: guard }\nspec: { tier: Admin, priority: 1, subject: { namespaces: {} } }\n";
        let manifests: Vec<Manifest> = serde_yaml_ng::Deserializer::from_str(yaml)
            .filter_map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).ok())
            .map(Manifest::new)
            .collect();
        let imported = import(&manifests, &Context::new(&manifests, None));
        assert_eq!(imported.losses.len(), 1);
        assert_eq!(imported.losses[0].origin, "ClusterNetworkPolicy guard");
    }
}
