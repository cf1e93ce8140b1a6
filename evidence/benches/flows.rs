//! Discovery and audit over one million Hubble records: `cargo bench -p
//! palisade-evidence --bench flows` prints the time of each step, the rate,
//! and the peak memory of the process. Records are generated (deterministic
//! LCG): 20 namespaces x 10 workloads, cross-namespace calls, DNS lookups,
//! outside names, replies, in the shape `hubble observe -o json` prints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails loudly"
)]

use palisade_evidence::{audit, discover, AuditOptions, DiscoverOptions};
use palisade_targets::{Dialect, EmitOptions, Manifest, Mode};
use std::{collections::BTreeMap, io::Write, time::Instant};

const RECORDS: usize = 1_000_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn endpoint(ns: usize, app: usize) -> String {
    format!(
        r#"{{"ID":{},"identity":{},"namespace":"ns{ns}","labels":["k8s:app=app{app}","k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=ns{ns}","k8s:io.cilium.k8s.policy.cluster=default","k8s:io.cilium.k8s.policy.serviceaccount=app{app}","k8s:io.kubernetes.pod.namespace=ns{ns}"],"pod_name":"app{app}-5f7b9c-x{}","workloads":[{{"name":"app{app}","kind":"Deployment"}}]}}"#,
        ns * 100 + app,
        10_000 + ns * 100 + app,
        app % 3
    )
}

fn generate(path: &std::path::Path) -> u64 {
    let mut rng = Lcg(42);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let dns = r#"{"ID":7,"identity":102,"namespace":"kube-system","labels":["k8s:k8s-app=kube-dns","k8s:io.kubernetes.pod.namespace=kube-system"],"pod_name":"coredns-1"}"#;
    let world = r#"{"identity":2,"labels":["reserved:world"]}"#;
    for i in 0..RECORDS {
        let (ns, app) = (rng.next(20), rng.next(10));
        // Each workload talks to a few fixed peers, as services do.
        let peer_ns = if rng.next(4) == 0 { (ns + 1) % 20 } else { ns };
        let peer_app = (app + 1 + rng.next(2)) % 10;
        let second = i % 60;
        let (destination, port, proto, names, l7) = match rng.next(10) {
            0..=5 => (
                endpoint(peer_ns, peer_app),
                8080 + (peer_app % 2) as u16,
                "TCP",
                String::new(),
                String::new(),
            ),
            6 | 7 => (
                dns.to_string(),
                53,
                "UDP",
                String::new(),
                format!(
                    r#","l7":{{"type":"REQUEST","dns":{{"query":"api{}.example.com.","qtypes":["A"]}}}}"#,
                    app % 3
                ),
            ),
            8 => (
                world.to_string(),
                443,
                "TCP",
                format!(r#","destination_names":["api{}.example.com"]"#, app % 3),
                String::new(),
            ),
            _ => (
                endpoint(peer_ns, peer_app),
                8080,
                "TCP",
                String::new(),
                r#","is_reply":true"#.to_string(),
            ),
        };
        writeln!(
            out,
            r#"{{"flow":{{"time":"2026-11-20T10:{:02}:{second:02}.000000000Z","verdict":"FORWARDED","IP":{{"source":"10.244.{ns}.{app}","destination":"10.244.{peer_ns}.{peer_app}","ipVersion":"IPv4"}},"l4":{{"{proto}":{{"source_port":{},"destination_port":{port}}}}},"source":{},"destination":{destination},"Type":"L3_L4","node_name":"node-{}","event_type":{{"type":4}},"traffic_direction":"EGRESS","trace_observation_point":"TO_STACK"{names}{l7}}},"node_name":"node-{}","time":"2026-11-20T10:00:00Z"}}"#,
            (i / 60) % 60,
            30000 + i % 30000,
            endpoint(ns, app),
            ns % 5,
            ns % 5
        )
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn peak_memory_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or_else(|| "n/a".into(), |kb| format!("{} MiB", kb / 1024))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    let bytes = generate(&path);
    println!("{RECORDS} Hubble records, {} MiB", bytes / (1 << 20));

    let t = Instant::now();
    let evidence = palisade_evidence::read(&[path.as_path()], None).unwrap();
    let read = t.elapsed();
    let stats = &evidence.reads[0];
    println!(
        "read + aggregate   {:>8.2} s  {:>9.0} records/s  ({} flows, {} skipped, {} conversations)",
        read.as_secs_f64(),
        RECORDS as f64 / read.as_secs_f64(),
        stats.flows,
        stats.skipped.values().sum::<u64>(),
        evidence.flows.len()
    );

    let t = Instant::now();
    let proposal = discover(
        &evidence,
        None,
        &DiscoverOptions {
            namespaces: Vec::new(),
            workload_labels: vec!["app".into()],
            targets: vec!["cilium".into()],
            fqdn: true,
            cluster_cidrs: Vec::new(),
        },
    );
    let discovered = t.elapsed();
    println!(
        "discover           {:>8.3} s  ({} files)",
        discovered.as_secs_f64(),
        proposal.files.len()
    );

    let repository = palisade_intents::load_files(proposal.raw_files()).unwrap();
    let (ir, _) = palisade_compiler::compile(&repository).unwrap();
    let cilium = palisade_targets::dialect("cilium").unwrap();
    let (manifests, _) = palisade_targets::render(
        cilium,
        &ir,
        &EmitOptions {
            mode: Mode::Enforce,
            ..EmitOptions::ENFORCE
        },
    )
    .unwrap();
    let rendered: Vec<(&dyn Dialect, &[Manifest])> = vec![(cilium, manifests.as_slice())];
    let t = Instant::now();
    let report = audit(
        &evidence,
        &ir,
        &BTreeMap::new(),
        None,
        &rendered,
        AuditOptions::default(),
    );
    let audited = t.elapsed();
    println!(
        "audit (cilium)     {:>8.3} s  ({} connections judged, {} would-drop groups)",
        audited.as_secs_f64(),
        report.judged,
        report.groups.len()
    );
    assert!(
        report.groups.is_empty(),
        "the discovered intents admit the traffic they came from"
    );
    println!(
        "discover + audit after reading: {:.3} s; end to end {:.2} s; peak memory {}",
        (discovered + audited).as_secs_f64(),
        (read + discovered + audited).as_secs_f64(),
        peak_memory_mib()
    );
}
