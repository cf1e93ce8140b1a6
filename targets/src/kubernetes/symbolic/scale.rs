//! The size of the large repository: 20,000 pods of 10,000 services in 100
//! namespaces, a policy per service with 50,000 peers in all. Run with
//! `cargo test -p palisade-targets --lib symbolic::scale -- --ignored --nocapture`.

use super::tests::{external, pod, port};
use crate::{dialect, Manifest};
use palisade_compiler::model::{ClusterModel, Namespace};
use palisade_intents::syntax::Protocol;
use palisade_relation::Universe;
use serde_json::json;
use std::time::Instant;

const NAMESPACES: usize = 100;
const SERVICES: usize = 10_000;
const PEERS: usize = 5;

fn cluster() -> ClusterModel {
    let mut model = ClusterModel::default();
    for n in 0..NAMESPACES {
        let name = format!("ns{n}");
        let labels = [("kubernetes.io/metadata.name".to_string(), name.clone())].into();
        model.namespaces.insert(name.clone(), Namespace { name, labels });
    }
    for s in 0..SERVICES {
        let namespace = format!("ns{}", s % NAMESPACES);
        for version in ["v1", "v2"] {
            let address = format!("10.{}.{}.{}", s / 256 / 256 % 256, s / 256 % 256, s % 256);
            let app = format!("svc{s}");
            let labels = [("app", app.as_str()), ("version", version)];
            let ports = vec![port("http", Protocol::Tcp, 8080)];
            model
                .pods
                .push(pod(&namespace, &format!("{app}-{version}"), &labels, &address, ports));
        }
    }
    model.externals = vec![external("192.168.1.5"), external("203.0.113.9")];
    model.ports = vec![(Protocol::Tcp, 8080), (Protocol::Tcp, 5432), (Protocol::Udp, 53)];
    model
}

fn policies() -> Vec<Manifest> {
    (0..SERVICES)
        .map(|s| {
            let peer = |k: usize| {
                let other = (s * 7 + k * 131 + 1) % SERVICES;
                json!({
                    "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": format!("ns{}", other % NAMESPACES) } },
                    "podSelector": { "matchLabels": { "app": format!("svc{other}") } }
                })
            };
            let peers: Vec<_> = (0..PEERS).map(peer).collect();
            Manifest::new(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": { "name": format!("svc{s}"), "namespace": format!("ns{}", s % NAMESPACES) },
                "spec": {
                    "podSelector": { "matchLabels": { "app": format!("svc{s}") } },
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{ "from": peers, "ports": [{ "port": "http" }, { "port": 5432 }] }],
                    "egress": [
                        { "to": peers, "ports": [{ "port": 8080 }] },
                        { "to": [{ "ipBlock": { "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"] } }] }
                    ]
                }
            }))
        })
        .collect()
}

#[test]
#[ignore = "a measurement (about a second), not a check"]
fn the_large_repository_resolves_in_seconds() {
    let model = cluster();
    let manifests = policies();
    let evaluator = dialect("kubernetes").unwrap().evaluator(&manifests);
    let started = Instant::now();
    let universe = Universe::new(&model, false);
    let sides = evaluator.sides(&universe).unwrap();
    let took = started.elapsed();
    eprintln!(
        "{} pods, {} policies: sides in {took:?}",
        model.pods.len(),
        manifests.len()
    );
    assert_eq!(sides.ingress.len(), model.pods.len());
}
