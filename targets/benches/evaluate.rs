//! Evaluation speed: one connection against 2,000 policies, and the full
//! matrix of a 500-pod cluster for one port, per dialect.
//! Run with `cargo bench -p palisade-targets --bench evaluate`; prints a table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark, not library code"
)]

use palisade_compiler::model::{ClusterModel, Connection, ContainerPort, Endpoint, Namespace, Pod};
use palisade_intents::syntax::Protocol;
use palisade_targets::{dialect, Manifest};
use serde_json::json;
use std::{hint::black_box, time::Instant};

const NAMESPACES: usize = 20;
const PODS_PER_NAMESPACE: usize = 25;
const POLICIES: usize = 2000;

fn cluster() -> ClusterModel {
    let mut model = ClusterModel::default();
    for n in 0..NAMESPACES {
        let ns = format!("ns{n}");
        model.namespaces.insert(
            ns.clone(),
            Namespace {
                name: ns.clone(),
                labels: [("kubernetes.io/metadata.name".to_string(), ns.clone())].into(),
            },
        );
        for p in 0..PODS_PER_NAMESPACE {
            model.pods.push(Pod {
                namespace: ns.clone(),
                name: format!("svc{p}"),
                labels: [("app".to_string(), format!("svc{p}"))].into(),
                service_account: Some(format!("svc{p}")),
                ip: std::net::IpAddr::from([10, 244, n as u8, p as u8 + 1]),
                ports: vec![ContainerPort {
                    name: Some("http".into()),
                    protocol: Protocol::Tcp,
                    port: 8080,
                }],
            });
        }
    }
    model
}

/// Policy `i`: pods `app=svc{i%25}` of namespace `ns{(i/25)%20}` admit
/// `app=svc{(i+1)%25}` of the next namespace on tcp/8080
fn policies(kind: &str) -> Vec<Manifest> {
    (0..POLICIES)
        .map(|i| {
            let ns = format!("ns{}", (i / PODS_PER_NAMESPACE) % NAMESPACES);
            let peer_ns = format!("ns{}", (i / PODS_PER_NAMESPACE + 1) % NAMESPACES);
            let (app, peer) = (format!("svc{}", i % PODS_PER_NAMESPACE), format!("svc{}", (i + 1) % PODS_PER_NAMESPACE));
            let name = format!("p{i}");
            Manifest::new(match kind {
                "kubernetes" => json!({
                    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": { "name": name, "namespace": ns },
                    "spec": { "podSelector": { "matchLabels": { "app": app } }, "policyTypes": ["Ingress"], "ingress": [{
                        "from": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": peer_ns } }, "podSelector": { "matchLabels": { "app": peer } } }],
                        "ports": [{ "protocol": "TCP", "port": 8080 }] }] },
                }),
                "calico" => json!({
                    "apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": { "name": name, "namespace": ns },
                    "spec": { "selector": format!("app == '{app}'"), "order": 1000, "types": ["Ingress"], "ingress": [{ "action": "Allow", "protocol": "TCP",
                        "source": { "selector": format!("app == '{peer}'"), "namespaceSelector": format!("projectcalico.org/name == '{peer_ns}'") },
                        "destination": { "ports": [8080] } }] },
                }),
                _ => json!({
                    "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": { "name": name, "namespace": ns },
                    "spec": { "endpointSelector": { "matchLabels": { "app": app } }, "ingress": [{
                        "fromEndpoints": [{ "matchLabels": { "k8s:io.kubernetes.pod.namespace": peer_ns, "app": peer } }],
                        "toPorts": [{ "ports": [{ "port": "8080", "protocol": "TCP" }] }] }] },
                }),
            })
        })
        .collect()
}

fn main() {
    let model = cluster();
    println!(
        "{:<11} {:>26} {:>30}",
        "dialect", "1 connection, 2,000 pols", "500-pod matrix, 1 port"
    );
    for id in ["kubernetes", "calico", "cilium"] {
        let manifests = policies(id);
        let evaluator = dialect(id).unwrap().evaluator(&manifests);
        let pods: Vec<Endpoint> = model.pods.iter().map(Endpoint::Pod).collect();
        let runs = 20_000;
        let start = Instant::now();
        for i in 0..runs {
            let (from, to) = (pods[(i * 7) % pods.len()], pods[(i * 13 + 1) % pods.len()]);
            black_box(evaluator.evaluate(
                &model,
                &Connection {
                    from,
                    to,
                    protocol: Protocol::Tcp,
                    port: 8080,
                    request: None,
                },
            ));
        }
        let single = start.elapsed() / runs as u32;
        let start = Instant::now();
        let mut allowed = 0usize;
        for from in &pods {
            for to in &pods {
                allowed += usize::from(evaluator.allows(
                    &model,
                    &Connection {
                        from: *from,
                        to: *to,
                        protocol: Protocol::Tcp,
                        port: 8080,
                        request: None,
                    },
                ));
            }
        }
        let matrix = start.elapsed();
        println!(
            "{id:<11} {:>23.1} µs {:>23.3} s ({allowed} allowed)",
            single.as_secs_f64() * 1e6,
            matrix.as_secs_f64()
        );
    }
}
