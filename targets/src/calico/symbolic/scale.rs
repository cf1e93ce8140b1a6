//! The size of the large repository, in Calico: 20,000 pods of 10,000
//! services in 100 namespaces, a policy per service naming 5 peers by
//! namespace and label, a named port, and a CIDR with a hole. Run with
//! `cargo test -p palisade-targets --lib calico::symbolic::scale -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use crate::{dialect, Manifest};
use palisade_compiler::model::{ClusterModel, ContainerPort, External, Namespace, Pod};
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
        for (v, version) in ["v1", "v2"].into_iter().enumerate() {
            let app = format!("svc{s}");
            model.pods.push(Pod {
                namespace: format!("ns{}", s % NAMESPACES),
                name: format!("{app}-{version}"),
                labels: [("app".to_string(), app), ("version".to_string(), version.to_string())].into(),
                service_account: None,
                ip: format!("10.{}.{}.{}", s / 256 % 256, s % 256, v + 1).parse().unwrap(),
                ports: vec![ContainerPort {
                    name: Some("http".into()),
                    protocol: Protocol::Tcp,
                    port: 8080,
                }],
            });
        }
    }
    let external = |ip: &str| External {
        ip: ip.parse().unwrap(),
        fqdn: None,
        kube_apiserver: false,
    };
    model.externals = vec![external("192.168.1.5"), external("203.0.113.9")];
    model.blocks = vec!["0.0.0.0/0".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    model.ports = vec![(Protocol::Tcp, 8080), (Protocol::Tcp, 5432), (Protocol::Udp, 53)];
    model
}

fn policies() -> Vec<Manifest> {
    (0..SERVICES)
        .map(|s| {
            let peer = |k: usize| {
                let other = (s * 7 + k * 131 + 1) % SERVICES;
                json!({
                    "namespaceSelector": format!("kubernetes.io/metadata.name == 'ns{}'", other % NAMESPACES),
                    "selector": format!("app == 'svc{other}'"),
                })
            };
            let ingress: Vec<_> = (0..PEERS)
                .map(|k| json!({ "action": "Allow", "protocol": "TCP", "source": peer(k), "destination": { "ports": ["http", 5432] } }))
                .collect();
            let mut egress: Vec<_> = (0..PEERS)
                .map(|k| {
                    let mut to = peer(k);
                    to["ports"] = json!([8080]);
                    json!({ "action": "Allow", "protocol": "TCP", "destination": to })
                })
                .collect();
            egress.push(json!({ "action": "Allow", "destination": { "nets": ["0.0.0.0/0"], "notNets": ["10.0.0.0/8"] } }));
            Manifest::new(json!({
                "apiVersion": "projectcalico.org/v3",
                "kind": "NetworkPolicy",
                "metadata": { "name": format!("svc{s}"), "namespace": format!("ns{}", s % NAMESPACES) },
                "spec": {
                    "selector": format!("app == 'svc{s}'"),
                    "types": ["Ingress", "Egress"],
                    "ingress": ingress,
                    "egress": egress,
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
    let evaluator = dialect("calico").unwrap().evaluator(&manifests);
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
