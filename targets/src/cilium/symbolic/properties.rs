//! Policies written straight as manifests, not compiled from intents: random
//! combinations of the forms palisade never emits (odd selectors, every
//! entity, CIDRs with excepts and junk, names with and without the DNS
//! proxy, named ports, endPort, HTTP and DNS rules, deny rules, default
//! deny turned off) decided by the sets exactly as by the evaluator.

use super::tests::{agree_on, model};
use crate::Manifest;
use proptest::{prelude::*, sample::select};
use serde_json::{json, Map, Value};

fn selectors() -> Vec<Value> {
    vec![
        json!({}),
        json!({ "matchLabels": { "app": "backend" } }),
        json!({ "matchLabels": { "k8s:io.kubernetes.pod.namespace": "blog" } }),
        json!({ "matchLabels": { "app": 5 } }),
        json!({ "matchLabels": { "io.cilium.k8s.namespace.labels.team": "content" } }),
        json!({ "matchExpressions": [{ "key": "role", "operator": "Exists" }] }),
        json!({ "matchExpressions": [{ "key": "app", "operator": "NotIn", "values": ["frontend"] }] }),
        json!({ "matchExpressions": [{ "key": "any:io.kubernetes.pod.namespace", "operator": "In", "values": ["shop", "kube-system"] }] }),
    ]
}

/// A peer field of either direction (`to`/`from` prefixed later) and its value
fn peers() -> Vec<(&'static str, Value)> {
    vec![
        (
            "Endpoints",
            json!([{ "matchLabels": { "app": "frontend" } }, { "matchLabels": { "role": "ops" } }]),
        ),
        (
            "Endpoints",
            json!([{ "matchLabels": { "k8s:io.kubernetes.pod.namespace": "blog" } }]),
        ),
        ("Endpoints", json!([{}])),
        ("Entities", json!(["world"])),
        ("Entities", json!(["cluster", "host"])),
        ("Entities", json!(["kube-apiserver"])),
        ("Entities", json!(["all"])),
        ("CIDR", json!(["203.0.113.0/24", "bogus"])),
        ("CIDR", json!(["198.51.100.7/32"])),
        (
            "CIDRSet",
            json!([{ "cidr": "0.0.0.0/0", "except": ["203.0.113.128/25", "junk"] }]),
        ),
        (
            "FQDNs",
            json!([{ "matchName": "api.stripe.com" }, { "matchPattern": "*.com" }]),
        ),
        ("FQDNs", json!([{ "matchName": "EVIL.com." }])),
    ]
}

fn entries() -> Vec<Value> {
    vec![
        json!({ "ports": [{ "port": "80", "protocol": "TCP" }] }),
        json!({ "ports": [{ "port": "1000", "endPort": 2000 }, { "port": "443", "protocol": "tcp" }] }),
        json!({ "ports": [{ "port": "53", "protocol": "ANY" }], "rules": { "dns": [{ "matchPattern": "*.stripe.com" }] } }),
        json!({ "ports": [{ "port": "53", "protocol": "UDP" }], "rules": { "dns": [{ "matchPattern": "*" }] } }),
        json!({ "ports": [{ "port": "http" }] }),
        json!({ "ports": [{ "port": "http", "protocol": "UDP" }, { "port": "70000" }] }),
        json!({ "ports": [{ "port": "8080", "protocol": "TCP" }], "rules": { "http": [{ "method": "GET" }] } }),
        json!({ "ports": [{ "port": "9090", "endPort": 9095 }], "rules": { "http": [{ "method": "POST|DELETE", "path": "/.*" }] } }),
        json!({ "ports": [{ "port": 443 }] }),
        json!({ "ports": [] }),
    ]
}

/// One rule of a direction: maybe a peer, maybe `toPorts`
fn rule(egress: bool) -> impl Strategy<Value = Value> {
    (
        prop::option::of(select(peers())),
        prop::option::of(prop::collection::vec(select(entries()), 0..3)),
    )
        .prop_map(move |(peer, ports)| {
            let mut rule = Map::new();
            if let Some((field, value)) = peer {
                let prefix = if egress { "to" } else { "from" };
                rule.insert(format!("{prefix}{field}"), value);
            }
            if let Some(ports) = ports {
                rule.insert("toPorts".into(), Value::Array(ports));
            }
            Value::Object(rule)
        })
}

fn rules(egress: bool) -> impl Strategy<Value = Option<Vec<Value>>> {
    prop::option::of(prop::collection::vec(rule(egress), 0..3))
}

fn policy() -> impl Strategy<Value = Value> {
    (
        select(vec!["shop", "blog"]),
        select(selectors()),
        (rules(false), rules(true), rules(false), rules(true)),
        prop::option::of((prop::option::of(any::<bool>()), prop::option::of(any::<bool>()))),
    )
        .prop_map(
            |(namespace, selector, (ingress, egress, ingress_deny, egress_deny), default_deny)| {
                let mut spec = Map::new();
                spec.insert("endpointSelector".into(), selector);
                for (key, list) in [
                    ("ingress", ingress),
                    ("egress", egress),
                    ("ingressDeny", ingress_deny),
                    ("egressDeny", egress_deny),
                ] {
                    if let Some(list) = list {
                        spec.insert(key.into(), Value::Array(list));
                    }
                }
                if let Some((ingress, egress)) = default_deny {
                    spec.insert(
                        "enableDefaultDeny".into(),
                        json!({ "ingress": ingress, "egress": egress }),
                    );
                }
                json!({
                    "apiVersion": "cilium.io/v2",
                    "kind": "CiliumNetworkPolicy",
                    "metadata": { "name": "p", "namespace": namespace },
                    "spec": spec,
                })
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// With the CIDRs as the model's blocks (outside classes merged as far
    /// as they can be) or without (each address its own class)
    #[test]
    fn the_sets_decide_random_policies_as_the_evaluator_does(
        objects in prop::collection::vec(policy(), 1..4),
        blocks in any::<bool>(),
    ) {
        let manifests: Vec<Manifest> = objects.into_iter().map(Manifest::new).collect();
        let mut model = model();
        if blocks {
            model.blocks = ["203.0.113.0/24", "198.51.100.7/32", "0.0.0.0/0", "203.0.113.128/25"]
                .iter()
                .filter_map(|b| b.parse().ok())
                .collect();
        }
        agree_on(&manifests, &model);
    }
}
