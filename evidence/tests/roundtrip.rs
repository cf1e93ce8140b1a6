//! Discovery's promise, checked on generated traffic: intents proposed from
//! flows compile, and auditing the same flows against them finds nothing to
//! drop, on every target that can express them.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_evidence::{audit, discover, AuditOptions, DiscoverOptions, Evidence};
use palisade_intents::{syntax::Protocol, types::Labels};
use palisade_targets::{
    flows::{EndpointKind, FlowEndpoint, FlowRecord, Observed},
    Dialect, EmitOptions, Manifest, Mode,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum To {
    Pod(usize),
    Outside { host: u8, name: Option<usize> },
    KubeApi,
    Dns,
}

fn pod(namespace: &str, app: &str) -> FlowEndpoint {
    let mut e = FlowEndpoint::of_kind(EndpointKind::Pod);
    e.namespace = Some(namespace.into());
    e.labels = Labels::from([("app".to_string(), app.to_string())]);
    e
}

const NAMESPACES: [&str; 3] = ["shop", "pay", "ops"];
const APPS: [&str; 4] = ["web", "api", "db", "worker"];
const NAMES: [&str; 3] = ["api.stripe.com", "hooks.slack.com", "example.org"];

/// (source pod, destination, protocol, port, minute)
fn flows() -> impl Strategy<Value = Vec<(usize, To, Protocol, u16, i64)>> {
    let to = prop_oneof![
        6 => (0..12usize).prop_map(To::Pod),
        2 => (0..4u8, proptest::option::of(0..3usize)).prop_map(|(host, name)| To::Outside { host, name }),
        1 => Just(To::KubeApi),
        2 => Just(To::Dns),
    ];
    let protocol = prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)];
    proptest::collection::vec((0..12usize, to, protocol, 1..10_000u16, 0..60i64), 1..40)
}

fn endpoint_of(index: usize) -> FlowEndpoint {
    pod(NAMESPACES[index % 3], APPS[index / 3])
}

fn evidence(generated: &[(usize, To, Protocol, u16, i64)]) -> Evidence {
    let mut evidence = Evidence::default();
    for (from, to, protocol, port, minute) in generated {
        let (destination, protocol, port) = match to {
            To::Pod(i) => (endpoint_of(*i), *protocol, *port),
            To::Outside { host, name } => {
                let mut e = FlowEndpoint::of_kind(EndpointKind::Outside);
                e.ip = Some(std::net::IpAddr::from([198, 51, 100, host + 1]));
                e.names = name.map(|n| NAMES[n].to_string()).into_iter().collect();
                (e, *protocol, *port)
            }
            To::KubeApi => {
                let mut e = FlowEndpoint::of_kind(EndpointKind::KubeApiserver);
                e.ip = Some(std::net::IpAddr::from([172, 20, 0, 10]));
                (e, Protocol::Tcp, 6443)
            }
            To::Dns => {
                let mut e = FlowEndpoint::of_kind(EndpointKind::Pod);
                e.namespace = Some("kube-system".into());
                e.labels = Labels::from([("k8s-app".to_string(), "kube-dns".to_string())]);
                (e, Protocol::Udp, 53)
            }
        };
        evidence.add(FlowRecord {
            time_ms: Some(1_763_632_800_000 + minute * 60_000),
            source: endpoint_of(*from),
            destination,
            protocol,
            port,
            observed: Observed::Allowed,
            request: None,
            dns_query: None,
            count: 1,
        });
    }
    evidence
}

fn round_trip(generated: &[(usize, To, Protocol, u16, i64)], target: &str) {
    let evidence = evidence(generated);
    let dialect = palisade_targets::dialect(target).unwrap();
    let proposal = discover(
        &evidence,
        None,
        &DiscoverOptions {
            namespaces: Vec::new(),
            workload_labels: vec!["app".into()],
            targets: vec![target.into()],
            fqdn: dialect.capabilities().fqdn == palisade_targets::capabilities::FqdnSupport::Direct,
            cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap(), "10.96.0.0/12".parse().unwrap()],
        },
    );
    let files = proposal.raw_files();
    let shown: String = proposal.files.values().cloned().collect::<Vec<_>>().join("---\n");
    let repository = palisade_intents::load_files(files).unwrap_or_else(|d| panic!("{d:?}\n{shown}"));
    let (ir, _) = palisade_compiler::compile(&repository).unwrap_or_else(|d| panic!("{d:?}\n{shown}"));
    let options = EmitOptions {
        mode: Mode::Enforce,
        ..EmitOptions::ENFORCE
    };
    let (manifests, _) = palisade_targets::render(dialect, &ir, &options).unwrap_or_else(|d| panic!("{d:?}\n{shown}"));
    let rendered: Vec<(&dyn Dialect, &[Manifest])> = vec![(dialect, manifests.as_slice())];
    let report = audit(
        &evidence,
        &ir,
        &BTreeMap::new(),
        None,
        &rendered,
        AuditOptions::default(),
    );
    assert!(
        report.groups.is_empty(),
        "{target} would drop {:#?}\nproposal:\n{shown}",
        report.groups
    );
    assert!(report.judged > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn discovered_intents_admit_the_traffic_they_came_from(generated in flows()) {
        for target in ["cilium", "kubernetes", "calico"] {
            round_trip(&generated, target);
        }
    }
}

#[test]
fn a_busy_namespace_round_trips() {
    let generated: Vec<(usize, To, Protocol, u16, i64)> = (0..12)
        .flat_map(|i| {
            [
                (i, To::Pod((i + 1) % 12), Protocol::Tcp, 8080, 1),
                (i, To::Dns, Protocol::Udp, 53, 2),
                (i, To::Outside { host: 1, name: Some(0) }, Protocol::Tcp, 443, 3),
                (i, To::KubeApi, Protocol::Tcp, 6443, 4),
            ]
        })
        .collect();
    for target in ["cilium", "kubernetes", "calico"] {
        round_trip(&generated, target);
    }
}
