//! The sets against the evaluator on generated Calico policies: tiers with
//! Deny and Pass ends, orders and ties, every action, namespaced, global and
//! staged kinds, selectors of every operator, namespace selectors with
//! `all()` and `global()`, nets and notNets, network sets, service
//! accounts, domains, protocols, ports, notPorts and named ports, and
//! `ipVersion`, on the corner model of the tests. palisade emits few of
//! these, so the repository-level property test never reaches them.

#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use super::tests::model;
use crate::{calico::evaluate::Policies, Evaluator, Manifest};
use palisade_relation::{services::key, Universe};
use proptest::prelude::*;
use serde_json::{json, Value};

const SELECTORS: &[&str] = &[
    "all()",
    "app == 'web'",
    "app != 'db'",
    "has(tier)",
    "app in {'web', 'db', 'v6'}",
    "app not in {'web'}",
    "!has(app)",
    "app starts with 'w' || app ends with 'e'",
    "app contains 'a' && !has(tier)",
    "global()",
    "projectcalico.org/namespace == 'shop'",
    "projectcalico.org/orchestrator == 'k8s'",
    "palisade.dev/network == 'partner'",
    "kind == 'payments'",
];

const NAMESPACES: &[&str] = &[
    "all()",
    "team == 'b'",
    "global()",
    "projectcalico.org/name == 'shop'",
    "!has(team)",
];

const NETS: &[&[&str]] = &[
    &["203.0.113.0/24"],
    &["10.244.0.0/24"],
    &["198.51.100.7/32", "fd00::/64"],
    &["0.0.0.0/0"],
];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    (0..items.len()).prop_map(move |i| items[i].clone())
}

fn nets() -> impl Strategy<Value = Value> {
    pick(NETS).prop_map(|n| json!(n))
}

/// One match of an entity, or none
fn entity() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        pick(SELECTORS).prop_map(|s| json!({ "selector": s })),
        pick(SELECTORS).prop_map(|s| json!({ "notSelector": s })),
        (pick(NAMESPACES), pick(SELECTORS)).prop_map(|(n, s)| json!({ "namespaceSelector": n, "selector": s })),
        pick(NAMESPACES).prop_map(|n| json!({ "namespaceSelector": n })),
        nets().prop_map(|n| json!({ "nets": n })),
        (nets(), pick(SELECTORS)).prop_map(|(n, s)| json!({ "notNets": n, "selector": s })),
        Just(json!({ "serviceAccounts": { "names": ["builder"] } })),
        Just(json!({ "serviceAccounts": { "selector": "projectcalico.org/name == 'builder'" } })),
        Just(json!({ "domains": ["*.stripe.com"] })),
    ]
}

/// Destination ports and notPorts, or none
fn ports() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!({ "ports": ["http"] }))),
        Just(Some(json!({ "ports": [80, "metrics"] }))),
        Just(Some(json!({ "ports": ["8000:9000"] }))),
        Just(Some(json!({ "notPorts": ["metrics", 53] }))),
        Just(Some(json!({ "notPorts": ["http"] }))),
        Just(Some(json!({ "ports": ["http"], "notPorts": ["metrics"] }))),
    ]
}

fn rule() -> impl Strategy<Value = Value> {
    let action = pick(&["Allow", "Allow", "Deny", "Pass", "Log"]);
    let protocol = pick(&[None, Some("TCP"), Some("UDP"), Some("ICMP")]);
    let not_protocol = pick(&[None, None, Some("UDP")]);
    let version = pick(&[None, None, Some(4), Some(6)]);
    (action, protocol, not_protocol, version, entity(), entity(), ports()).prop_map(
        |(action, protocol, not_protocol, version, source, mut destination, ports)| {
            let mut rule = json!({ "action": action, "source": source });
            // Ports need TCP or UDP (else the rule is a problem, denying all).
            let protocol = match ports {
                Some(Value::Object(fields)) => {
                    for (field, list) in fields {
                        destination[field] = list;
                    }
                    Some(protocol.filter(|p| *p != "ICMP").unwrap_or("TCP"))
                }
                _ => protocol,
            };
            rule["destination"] = destination;
            if let Some(p) = protocol {
                rule["protocol"] = json!(p);
            }
            if let Some(p) = not_protocol {
                rule["notProtocol"] = json!(p);
            }
            if let Some(v) = version {
                rule["ipVersion"] = json!(v);
            }
            rule
        },
    )
}

fn policy() -> impl Strategy<Value = Value> {
    let kind = pick(&[
        "NetworkPolicy",
        "NetworkPolicy",
        "GlobalNetworkPolicy",
        "StagedNetworkPolicy",
    ]);
    let namespace = pick(&["shop", "other"]);
    let tier = pick(&["default", "first", "second"]);
    let order = pick(&[None, Some(1.0), Some(5.0), Some(5.0)]);
    const TYPES: &[Option<&[&str]>] = &[
        None,
        Some(&["Ingress"]),
        Some(&["Egress"]),
        Some(&["Ingress", "Egress"]),
    ];
    let types = pick(TYPES);
    let rules = || proptest::collection::vec(rule(), 0..3);
    let global_namespaces = proptest::option::of(pick(NAMESPACES));
    (
        (kind, namespace, tier, order, types),
        pick(SELECTORS),
        global_namespaces,
        rules(),
        rules(),
        0u32..1000,
    )
        .prop_map(
            |((kind, namespace, tier, order, types), selector, namespaces, ingress, egress, id)| {
                let name = if tier == "default" {
                    format!("p{id}")
                } else {
                    format!("{tier}.p{id}")
                };
                let mut spec = json!({ "tier": tier, "selector": selector, "ingress": ingress, "egress": egress });
                if let Some(order) = order {
                    spec["order"] = json!(order);
                }
                if let Some(types) = types {
                    spec["types"] = json!(types);
                }
                let mut metadata = json!({ "name": name });
                if kind == "GlobalNetworkPolicy" {
                    if let Some(n) = namespaces {
                        spec["namespaceSelector"] = json!(n);
                    }
                } else {
                    metadata["namespace"] = json!(namespace);
                }
                json!({ "apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": metadata, "spec": spec })
            },
        )
}

/// The tiers and network sets every generated repository has
fn fixed() -> Vec<Value> {
    let v3 = |kind: &str, metadata: Value, spec: Value| json!({ "apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": metadata, "spec": spec });
    vec![
        v3(
            "Tier",
            json!({ "name": "first" }),
            json!({ "order": 10, "defaultAction": "Pass" }),
        ),
        v3("Tier", json!({ "name": "second" }), json!({ "order": 100 })),
        v3(
            "NetworkSet",
            json!({ "name": "partner", "namespace": "shop", "labels": { "palisade.dev/network": "partner" } }),
            json!({ "nets": ["203.0.113.0/24", "10.244.0.11/32"] }),
        ),
        v3(
            "GlobalNetworkSet",
            json!({ "name": "stripe", "labels": { "kind": "payments" } }),
            json!({ "allowedEgressDomains": ["api.stripe.com"], "nets": ["2001:db8::/32"] }),
        ),
    ]
}

/// Where the sets and the evaluator disagree, the first connection
fn disagreement(manifests: &[Manifest]) -> Option<String> {
    let model = model();
    let evaluator = Policies::read(manifests);
    let universe = Universe::new(&model, false);
    let Some(sides) = evaluator.sides(&universe) else {
        return Some("no sets".into());
    };
    let wrong = model.connections().find_map(|conn| {
        let from = universe.class_of(&conn.from).unwrap();
        let to = universe.class_of(&conn.to).unwrap();
        let symbolic = sides.allows(&universe, from, to, key(conn.protocol, conn.port, 0));
        let enumerative = evaluator.allows(&model, &conn);
        (symbolic != enumerative).then(|| format!("{}: sets {symbolic}, evaluator {enumerative}", conn.describe()))
    });
    wrong
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn the_sets_decide_generated_calico_policies_as_the_evaluator_does(policies in proptest::collection::vec(policy(), 1..6)) {
        let manifests: Vec<Manifest> = fixed().into_iter().chain(policies).map(Manifest::new).collect();
        if let Some(wrong) = disagreement(&manifests) {
            let text: Vec<String> = manifests.iter().map(|m| m.object.to_string()).collect();
            prop_assert!(false, "{wrong}\n{}", text.join("\n"));
        }
    }
}
