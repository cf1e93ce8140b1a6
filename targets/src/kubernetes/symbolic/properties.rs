//! Policies written straight as manifests, not compiled from intents: the
//! forms palisade never emits (pods matched by address, excepts, odd
//! selectors, endPort, named ports of several numbers, invalid peers and
//! protocols, pods without an address) decided by the sets exactly as by
//! the evaluator, on small random clusters.

use super::tests::{disagreements, external, pod, port};
use crate::Manifest;
use palisade_compiler::model::{ClusterModel, CniProfile, ContainerPort, Namespace, Request};
use palisade_intents::syntax::Protocol;
use proptest::{prelude::*, sample::select};
use serde_json::{json, Map, Value};

const ADDRESSES: [&str; 7] = [
    "0.0.0.0",
    "10.0.0.1",
    "10.0.0.2",
    "10.0.1.1",
    "10.0.1.7",
    "192.168.1.9",
    "fd00::1",
];
const CIDRS: [&str; 8] = [
    "10.0.0.0/24",
    "10.0.0.0/16",
    "10.0.0.1/8",
    "192.168.1.0/24",
    "0.0.0.0/0",
    "10.0.1.7/32",
    "fd00::/64",
    "bogus",
];
const EXCEPTS: [&str; 5] = ["10.0.0.2/32", "10.0.1.0/24", "192.168.1.5/32", "fd00::1/128", "junk"];

/// A pod: namespace (`w` is not in the model's namespaces), app label,
/// tier label, address, container ports
type PodSpec = (usize, Option<&'static str>, bool, &'static str, usize);

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        0usize..4,
        prop::option::of(select(vec!["a", "b", "c"])),
        any::<bool>(),
        select(ADDRESSES.to_vec()),
        0usize..4,
    )
}

fn container_ports(choice: usize) -> Vec<ContainerPort> {
    match choice {
        1 => vec![port("http", Protocol::Tcp, 8080)],
        2 => vec![port("http", Protocol::Tcp, 9090), port("dns", Protocol::Udp, 53)],
        3 => vec![port("http", Protocol::Udp, 8080), port("http", Protocol::Tcp, 81)],
        _ => Vec::new(),
    }
}

fn model(pods: &[PodSpec], cni: CniProfile) -> ClusterModel {
    let mut model = ClusterModel::default();
    for (name, team) in [("x", Some("a")), ("y", Some("b")), ("z", None)] {
        let mut labels = palisade_intents::types::Labels::from([("kubernetes.io/metadata.name".into(), name.into())]);
        if let Some(team) = team {
            labels.insert("team".into(), team.into());
        }
        model.namespaces.insert(
            name.into(),
            Namespace {
                name: name.into(),
                labels,
            },
        );
    }
    for (index, &(ns, app, tier, address, ports)) in pods.iter().enumerate() {
        let namespace = ["x", "y", "z", "w"].get(ns).copied().unwrap_or("x");
        let mut labels: Vec<(&str, &str)> = app.map(|a| ("app", a)).into_iter().collect();
        if tier {
            labels.push(("tier", "db"));
        }
        let name = format!("p{index}");
        model
            .pods
            .push(pod(namespace, &name, &labels, address, container_ports(ports)));
    }
    model.externals = ["192.168.1.5", "192.168.2.5", "10.0.0.200", "fd00::5"]
        .map(external)
        .to_vec();
    model.externals.push(palisade_compiler::model::External {
        fqdn: Some("api.example.com".into()),
        ..external("203.0.113.1")
    });
    let tcp = [53, 79, 80, 81, 8080, 9090].map(|p| (Protocol::Tcp, p));
    let udp = [53, 80, 8080].map(|p| (Protocol::Udp, p));
    model.ports = tcp.into_iter().chain(udp).chain([(Protocol::Sctp, 80)]).collect();
    model.requests = vec![Request::new("GET", "/".into())];
    model.cni = cni;
    model
}

fn pod_selector() -> impl Strategy<Value = Value> {
    let expression = (
        select(vec!["app", "tier"]),
        select(vec!["In", "NotIn", "Exists", "DoesNotExist", "Bogus"]),
        prop::collection::vec(select(vec!["a", "b", "db"]), 0..3),
    )
        .prop_map(|(key, operator, values)| json!({ "key": key, "operator": operator, "values": values }));
    prop_oneof![
        Just(json!({})),
        select(vec!["a", "b"]).prop_map(|app| json!({ "matchLabels": { "app": app } })),
        prop::collection::vec(expression, 1..3).prop_map(|e| json!({ "matchExpressions": e })),
    ]
}

fn namespace_selector() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        select(vec!["a", "b"]).prop_map(|team| json!({ "matchLabels": { "team": team } })),
        select(vec!["Exists", "DoesNotExist"])
            .prop_map(|op| json!({ "matchExpressions": [{ "key": "team", "operator": op }] })),
        Just(json!({ "matchExpressions": [{ "key": "team", "operator": "NotIn", "values": ["a"] }] })),
    ]
}

fn peer() -> impl Strategy<Value = Value> {
    let block = (
        select(CIDRS.to_vec()),
        prop::option::of(prop::collection::vec(select(EXCEPTS.to_vec()), 0..3)),
    )
        .prop_map(|(cidr, except)| {
            let mut block = json!({ "cidr": cidr });
            if let Some(except) = except {
                block["except"] = json!(except);
            }
            json!({ "ipBlock": block })
        });
    prop_oneof![
        Just(json!({})),
        pod_selector().prop_map(|s| json!({ "podSelector": s })),
        namespace_selector().prop_map(|s| json!({ "namespaceSelector": s })),
        (namespace_selector(), pod_selector()).prop_map(|(n, p)| json!({ "namespaceSelector": n, "podSelector": p })),
        block,
    ]
}

fn port_item() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        select(vec![53, 80, 81, 8080, 9090]).prop_map(|p| json!(p)),
        select(vec!["http", "dns", "nope"]).prop_map(|p| json!(p)),
    ];
    (
        prop::option::of(select(vec!["TCP", "UDP", "SCTP", "tcp"])),
        prop::option::of(number),
        prop::option::of(select(vec![79, 81, 9090])),
    )
        .prop_map(|(protocol, number, end)| {
            let mut item = Map::new();
            protocol.map(|p| item.insert("protocol".into(), json!(p)));
            number.map(|n| item.insert("port".into(), n));
            end.map(|e| item.insert("endPort".into(), json!(e)));
            Value::Object(item)
        })
}

/// `None`, `[]` or a few items
fn list_of(item: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Vec<Value>>> {
    prop_oneof![
        Just(None),
        Just(Some(Vec::new())),
        prop::collection::vec(item, 1..3).prop_map(Some)
    ]
}

type RuleSpec = (Option<Vec<Value>>, Option<Vec<Value>>);

fn rule(peers: &str, (to, ports): &RuleSpec) -> Value {
    let mut rule = Map::new();
    to.as_ref().map(|v| rule.insert(peers.into(), json!(v)));
    ports.as_ref().map(|v| rule.insert("ports".into(), json!(v)));
    Value::Object(rule)
}

fn rules() -> impl Strategy<Value = Option<Vec<RuleSpec>>> {
    prop_oneof![
        Just(None),
        Just(Some(Vec::new())),
        prop::collection::vec((list_of(peer()), list_of(port_item())), 1..3).prop_map(Some),
    ]
}

fn policy() -> impl Strategy<Value = Value> {
    (
        select(vec!["x", "y", "z", "w", ""]),
        prop::option::of(pod_selector()),
        prop::option::of(select(vec![
            vec![],
            vec!["Ingress"],
            vec!["Egress"],
            vec!["Ingress", "Egress"],
        ])),
        rules(),
        rules(),
        0u8..8,
    )
        .prop_map(|(namespace, selector, types, ingress, egress, shape)| {
            let mut metadata = json!({ "name": "p" });
            if !namespace.is_empty() {
                metadata["namespace"] = json!(namespace);
            }
            let mut spec = Map::new();
            selector.map(|s| spec.insert("podSelector".into(), s));
            types.map(|t| spec.insert("policyTypes".into(), json!(t)));
            ingress.map(|r| spec.insert("ingress".into(), r.iter().map(|r| rule("from", r)).collect()));
            egress.map(|r| spec.insert("egress".into(), r.iter().map(|r| rule("to", r)).collect()));
            let mut object =
                json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata });
            // now and then a policy without `spec` (the empty spec)
            if shape > 0 {
                object["spec"] = Value::Object(spec);
            }
            object
        })
}

/// Every block a manifest names, as probes make them: the partition then
/// splits every outside class the policies tell apart
fn named_blocks(manifests: &[Manifest]) -> Vec<ipnet::IpNet> {
    fn walk(value: &Value, out: &mut Vec<ipnet::IpNet>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let nets = match (key.as_str(), v) {
                        ("cidr", Value::String(s)) => vec![s.as_str()],
                        ("except", Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    out.extend(
                        nets.iter()
                            .filter_map(|s| s.parse::<ipnet::IpNet>().ok())
                            .map(|n| n.trunc()),
                    );
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    manifests.iter().for_each(|m| walk(&m.object, &mut out));
    out.sort();
    out.dedup();
    out
}

proptest! {
    // No failure file: it would be written outside this folder; a failure prints its case.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_sets_decide_hand_written_policies_as_the_evaluator_does(
        pods in prop::collection::vec(pod_spec(), 1..8),
        policies in prop::collection::vec(policy(), 0..4),
        cni in select(vec![CniProfile::Unknown, CniProfile::Cilium, CniProfile::Calico]),
        blocks in 0u8..3,
    ) {
        let manifests: Vec<Manifest> = policies.into_iter().map(Manifest::new).collect();
        let mut model = model(&pods, cni);
        model.blocks = match blocks {
            0 => Vec::new(),
            1 => named_blocks(&manifests),
            _ => vec!["10.0.0.0/8".parse().unwrap(), "192.168.0.0/16".parse().unwrap()],
        };
        match disagreements(&model, &manifests) {
            Some(wrong) => prop_assert!(wrong.is_empty(), "{}\n{:#?}", wrong.join("\n"), manifests.iter().map(|m| &m.object).collect::<Vec<_>>()),
            // without blocks every address is its own class; with the named ones, the partition splits them
            None => prop_assert!(blocks == 2, "no sets for a model whose classes the blocks split"),
        }
    }
}
