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
    let line = |rule: &str| ProposedLine {
        namespace: "shop".into(),
        rule: rule.into(),
        seen: seen_report(&Seen::default()),
    };
    proposal.lines = vec![line("web -> nowhere tcp/80")];
    assert!(prune(&mut proposal).is_ok(), "prune says the proposal compiles");
    compiles(&proposal).unwrap();
    keep_written_lines(&mut proposal);
    assert_eq!(proposal.lines, [], "the report follows the files");
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

// A week of records (issue 18): what the proposal says of how often and
// when, of what it never saw, and of a namespace seen for half an hour.

/// `hubble` at a given time
fn hubble_at(time: &str, namespace: &str, from: &str, to: &str, port: u32) -> String {
    let line = hubble(
        pod(namespace, &[&format!("k8s:app={from}")]),
        pod(namespace, &[&format!("k8s:app={to}")]),
        port,
        "TCP",
        vec![],
    );
    line.replace("2026-01-01T10:00:00Z", time)
}

fn week() -> Evidence {
    let mut lines = Vec::new();
    for day in 1..=7 {
        for hour in [0, 12, 23] {
            lines.push(hubble_at(
                &format!("2026-03-{day:02}T{hour:02}:00:00Z"),
                "shop",
                "web",
                "api",
                8080,
            ));
        }
    }
    lines.push(hubble_at("2026-03-06T04:00:00Z", "shop", "web", "reports", 9000));
    lines.push(hubble_at("2026-03-06T04:20:00Z", "shop", "web", "reports", 9000));
    for minute in [0, 15, 30] {
        lines.push(hubble_at(
            &format!("2026-03-03T10:{minute:02}:00Z"),
            "labs",
            "trial",
            "model",
            8000,
        ));
    }
    evidence(&lines)
}

#[test]
fn a_conversation_of_one_day_in_seven_is_proposed_and_said_to_be_so() {
    let proposal = discover(&week(), None, &options());
    compiles(&proposal).unwrap();
    let shop = &proposal.files["shop.yaml"];
    assert!(
        shop.contains("- web -> reports tcp/9000  # seen 2 times on 1 of 7 days, first 2026-03-06T04:00:00Z, last 2026-03-06T04:20:00Z\n"),
        "{shop}"
    );
    assert!(
        shop.contains("- web -> api tcp/8080  # seen 21 times on 7 of 7 days,"),
        "{shop}"
    );
    assert!(shop.contains("posture: default-deny"), "{shop}");
    let rare = proposal
        .lines
        .iter()
        .find(|l| l.rule == "web -> reports tcp/9000")
        .unwrap();
    assert_eq!((rare.seen.connections, rare.seen.days, rare.seen.hours), (2, 1, 1));
    assert_eq!(proposal.window.as_ref().map(|w| w.days), Some(7));
}

#[test]
fn a_namespace_seen_for_half_an_hour_of_a_week_is_flagged_and_left_open() {
    let proposal = discover(&week(), None, &options());
    compiles(&proposal).unwrap();
    let labs = &proposal.files["labs.yaml"];
    assert!(labs.contains("  posture: none\n"), "{labs}");
    assert!(
        labs.contains("- trial -> model tcp/8000"),
        "what it did is still proposed: {labs}"
    );
    let flagged: Vec<&str> = proposal.brief.iter().map(|b| b.namespace.as_str()).collect();
    assert_eq!(flagged, ["labs"]);
    let note = proposal
        .notes
        .iter()
        .find(|n| n.starts_with("namespace labs was seen for only 30m (2026-03-03T10:00:00Z .. 2026-03-03T10:30:00Z) in the 6d 23h 1m watched"))
        .unwrap_or_else(|| panic!("{:?}", proposal.notes));
    assert!(note.contains("posture none") && note.contains("--since 7d"), "{note}");
}

#[test]
fn a_window_short_as_a_whole_flags_no_namespace() {
    // An hour of shop and a single record of labs: the gate refuses the
    // window; discovery still proposes default deny where it saw the hour.
    let lines = vec![
        hubble_at("2026-03-01T10:00:00Z", "shop", "web", "api", 8080),
        hubble_at("2026-03-01T11:00:00Z", "shop", "web", "api", 8080),
        hubble_at("2026-03-01T10:30:00Z", "labs", "trial", "model", 8000),
    ];
    let proposal = discover(&evidence(&lines), None, &options());
    assert!(proposal.files["shop.yaml"].contains("posture: default-deny"));
    assert!(
        proposal.files["shop.yaml"].contains("# seen 2 times in 2 of 2 hours, first"),
        "{}",
        proposal.files["shop.yaml"]
    );
    // labs spans nothing of the hour: less than half of it
    assert!(proposal.files["labs.yaml"].contains("posture: none"));
    let messages: Vec<&str> = proposal.brief.iter().map(|b| b.message.as_str()).collect();
    assert!(
        messages.len() == 1
            && messages[0].starts_with("namespace labs was seen only at 2026-03-01T10:30:00Z in the 1h 1m watched"),
        "{messages:?}"
    );
}

#[test]
fn a_workload_of_the_dump_no_flow_shows_is_listed_not_left_out_silently() {
    let evidence = week();
    let pod = |name: &str, app: &str| palisade_compiler::model::Pod {
        namespace: "shop".into(),
        name: name.into(),
        labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        service_account: None,
        ip: std::net::IpAddr::from([10, 244, 0, 7]),
        ports: Vec::new(),
    };
    let mut cluster = ClusterModel::default();
    cluster.insert_pod(pod("web-1", "web"));
    cluster.insert_pod(pod("batch-1", "batch"));
    cluster.insert_pod(pod("batch-2", "batch"));
    let proposal = discover(&evidence, Some(&cluster), &options());
    compiles(&proposal).unwrap();
    let listed: Vec<String> = proposal
        .unseen
        .iter()
        .map(|u| format!("{}/{}", u.namespace, u.service))
        .collect();
    assert_eq!(listed, ["shop/batch"], "one workload, not one per pod; web was seen");
    assert!(proposal.files["shop.yaml"].contains("#   batch: { selector: { app: batch } }\n"));
    assert!(
        !proposal.files["palisade.yaml"].contains("shop/batch"),
        "the project lists only those of namespaces without a file"
    );
    assert!(
        proposal.notes.iter().any(
            |n| n.starts_with("1 service known to the cluster dump is in no flow between")
                && n.ends_with(": shop/batch")
        ),
        "{:?}",
        proposal.notes
    );
}

#[test]
fn the_note_of_thousands_of_unseen_services_names_twenty_and_counts_the_rest() {
    let unseen: Vec<Unseen> = (0..25)
        .map(|i| Unseen {
            namespace: "shop".into(),
            service: format!("svc{i:02}"),
            selector: BTreeMap::from([("app".to_string(), format!("svc{i:02}"))]),
            known_from: "cluster dump",
        })
        .collect();
    let note = unseen_note(&unseen, None).unwrap();
    assert!(
        note.starts_with("25 services known to the cluster dump are in no flow, so"),
        "{note}"
    );
    assert!(
        note.contains("shop/svc19, and 5 more (each Intents file lists its own; `-o json` has them all)"),
        "{note}"
    );
    assert!(!note.contains("shop/svc20"), "{note}");
}
