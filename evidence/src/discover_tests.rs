//! `discover` on odd records: whatever the flows hold, the proposal loads
//! and compiles, and what could not be placed is counted with the reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use super::*;
use palisade_targets::flows::{format as flow_format, Line};
use proptest::prelude::*;
use serde_json::{json, Value};

fn options() -> DiscoverOptions {
    DiscoverOptions {
        namespaces: Vec::new(),
        workload_labels: crate::suggest::WORKLOAD_LABELS.iter().map(|s| s.to_string()).collect(),
        targets: vec!["cilium".into()],
        fqdn: true,
        cluster_cidrs: Vec::new(),
    }
}

fn hubble(source: Value, destination: Value, port: u32, protocol: &str, names: Vec<String>) -> String {
    json!({ "flow": {
        "time": "2026-01-01T10:00:00Z", "verdict": "FORWARDED", "is_reply": false,
        "IP": { "source": "10.244.0.5", "destination": "10.244.0.9" },
        "l4": { protocol: { "destination_port": port } },
        "source": source, "destination": destination, "destination_names": names,
    }})
    .to_string()
}

fn pod(namespace: &str, labels: &[&str]) -> Value {
    json!({ "namespace": namespace, "pod_name": "p-1", "labels": labels })
}

fn evidence(lines: &[String]) -> Evidence {
    let reader = flow_format("hubble").unwrap();
    let mut evidence = Evidence::default();
    for line in lines {
        if let Ok(Line::Flow(record)) = reader.read(line) {
            evidence.add(*record);
        }
    }
    evidence
}

/// What the CLI checks before it writes a proposal
fn compiles(proposal: &Proposal) -> Result<(), String> {
    palisade_intents::load_files(proposal.raw_files())
        .and_then(|r| palisade_compiler::compile(&r).map(|_| ()))
        .map_err(|d| {
            format!(
                "{d:?}\n{}",
                proposal.files.values().cloned().collect::<Vec<_>>().join("---\n")
            )
        })
}

/// The reproduction: one record from namespace `Shop_Prod` (not a
/// DNS label) made the whole proposal fail to compile
#[test]
fn a_record_from_a_namespace_kubernetes_cannot_hold_is_counted_and_the_rest_proposed() {
    let lines = vec![
        hubble(
            pod("shop", &["k8s:app=web"]),
            pod("shop", &["k8s:app=api"]),
            8080,
            "TCP",
            vec![],
        ),
        hubble(
            pod("Shop_Prod", &["k8s:app=web"]),
            pod("shop", &["k8s:app=api"]),
            8080,
            "TCP",
            vec![],
        ),
    ];
    let proposal = discover(&evidence(&lines), None, &options());
    compiles(&proposal).unwrap();
    assert!(
        proposal.files["shop.yaml"].contains("web -> api tcp/8080"),
        "{}",
        proposal.files["shop.yaml"]
    );
    assert!(
        !proposal.files.keys().any(|f| f.contains("Shop")),
        "{:?}",
        proposal.files.keys()
    );
    assert!(
        proposal
            .notes
            .iter()
            .any(|n| n.starts_with("1 connections have an end that could not be placed")
                && n.contains("its namespace is not one Kubernetes allows")),
        "{:?}",
        proposal.notes
    );
}

#[test]
fn labels_and_service_accounts_kubernetes_refuses_are_not_placed_either() {
    let lines = vec![
        hubble(
            pod("shop", &["k8s:app=web"]),
            pod("shop", &["k8s:app=api"]),
            8080,
            "TCP",
            vec![],
        ),
        hubble(
            pod("shop", &["k8s:app=we b"]),
            pod("shop", &["k8s:app=api"]),
            8080,
            "TCP",
            vec![],
        ),
        hubble(
            pod("shop", &["k8s:app=web", "k8s:io.cilium.k8s.policy.serviceaccount=Web*"]),
            pod("shop", &["k8s:app=api"]),
            81,
            "TCP",
            vec![],
        ),
    ];
    let proposal = discover(&evidence(&lines), None, &options());
    compiles(&proposal).unwrap();
    let notes = proposal.notes.join("\n");
    assert!(
        notes.contains("a label key or value is not one Kubernetes allows"),
        "{notes}"
    );
    assert!(
        notes.contains("its service account is not one Kubernetes allows"),
        "{notes}"
    );
}

#[test]
fn a_line_the_intents_refuse_is_left_out_with_the_reason() {
    let mut proposal = Proposal::default();
    proposal.files.insert(
        "palisade.yaml".into(),
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: d }\nspec:\n  targets: [cilium]\n".into(),
    );
    proposal.files.insert(
        "shop.yaml".into(),
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    web: { selector: { app: web } }\n  allow:\n    - web -> nowhere tcp/80  # seen once\n".into(),
    );
    assert!(prune(&mut proposal).is_ok(), "prune says the proposal compiles");
    compiles(&proposal).unwrap();
    assert!(
        proposal.files["shop.yaml"].contains("  allow: []"),
        "{}",
        proposal.files["shop.yaml"]
    );
    assert!(
        proposal.notes.iter().any(|n| n.starts_with("left out of shop.yaml:9")),
        "{:?}",
        proposal.notes
    );
}

// Random records: every field a flow log could carry, odd ones often.

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,8}",
        1 => "[A-Za-z0-9_.-]{0,12}",
        1 => "[a-z]{60,70}",
        1 => prop::sample::select(vec!["default".to_string(), "kube-system".to_string(), "dns".to_string(), "world".to_string(), "123".to_string(), "-a".to_string(), "a.b".to_string()]),
    ]
}

fn label() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        3 => prop::sample::select(vec!["app".to_string(), "k8s-app".to_string(), "app.kubernetes.io/name".to_string(), "tier".to_string(), "pod-template-hash".to_string()]),
        1 => "[a-zA-Z0-9/._ -]{0,12}",
        1 => Just("io.cilium.k8s.policy.serviceaccount".to_string()),
        1 => Just("io.cilium.k8s.namespace.labels.team".to_string()),
    ];
    let value = prop_oneof![3 => name(), 1 => "[ -~]{0,10}", 1 => "[a-z0-9]{50,70}"];
    (prop::sample::select(vec!["k8s:", "reserved:", ""]), key, value)
        .prop_map(|(source, k, v)| format!("{source}{k}={v}"))
}

fn endpoint() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (name(), name(), prop::collection::vec(label(), 0..4)).prop_map(|(ns, pod, labels)| json!({ "namespace": ns, "pod_name": pod, "labels": labels })),
        1 => Just(json!({ "labels": ["reserved:world"] })),
        1 => Just(json!({ "labels": ["reserved:kube-apiserver"] })),
        1 => Just(json!({ "labels": ["reserved:host"] })),
        1 => Just(Value::Null),
    ]
}

fn record() -> impl Strategy<Value = String> {
    let protocol = prop::sample::select(vec!["TCP", "UDP", "SCTP"]);
    let port = prop_oneof![Just(0u32), Just(53u32), Just(443u32), 1u32..65536];
    let names = prop::collection::vec(
        prop_oneof!["[a-z]{1,8}\\.example\\.com", "[ -~]{0,12}", Just("*.x.com".to_string())],
        0..2,
    );
    (endpoint(), endpoint(), port, protocol, names)
        .prop_map(|(s, d, port, protocol, names)| hubble(s, d, port, protocol, names))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No record makes `discover` propose intents that do not compile (the
    /// CLI's "this is a palisade bug")
    #[test]
    fn whatever_the_records_the_proposal_compiles(lines in prop::collection::vec(record(), 1..12)) {
        let proposal = discover(&evidence(&lines), None, &options());
        let result = compiles(&proposal);
        prop_assert!(result.is_ok(), "{}\n{}", lines.join("\n"), result.err().unwrap_or_default());
        // What the CLI reads instead of compiling again
        prop_assert!(proposal.refused.is_none());
    }
}

/// A record with destination port 0 (a reader that passes it on) is
/// counted, not proposed as `tcp/0`, which the intents refuse
#[test]
fn a_record_to_port_0_is_counted_and_not_proposed() {
    let reader = flow_format("hubble").unwrap();
    let line = hubble(
        pod("shop", &["k8s:app=web"]),
        json!({ "labels": ["reserved:kube-apiserver"] }),
        443,
        "TCP",
        vec![],
    );
    let Ok(Line::Flow(mut record)) = reader.read(&line) else {
        panic!("{line}")
    };
    record.port = 0;
    let mut evidence = Evidence::default();
    evidence.add(*record);
    let proposal = discover(&evidence, None, &options());
    compiles(&proposal).unwrap();
    assert!(
        proposal.notes.iter().any(|n| n.contains("its destination port is 0")),
        "{:?}",
        proposal.notes
    );
    // Hubble's own reader counts such a line as unreadable
    let zero = hubble(
        pod("shop", &["k8s:app=web"]),
        pod("shop", &["k8s:app=api"]),
        0,
        "TCP",
        vec![],
    );
    assert!(reader.read(&zero).unwrap_err().contains("port 0"));
}
