//! Hubble reading speed on one thread: text to `FlowRecord`, nothing else.
//! Run with `cargo bench -p palisade-targets --bench hubble [-- FILE]`.
//! FILE is a Hubble JSONL log (default: `HUBBLE_FLOWS`, else 200,000
//! generated records shaped like a cluster's), read `HUBBLE_ROUNDS` times
//! (3). Pin it to one core with `taskset -c 0`; on a busy machine count its
//! cycles instead (`perf stat -e cycles:u`, less those of `HUBBLE_ROUNDS=0`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark, not library code"
)]

use palisade_targets::flows::{format, Line};
use std::{hint::black_box, time::Instant};

const GENERATED: usize = 200_000;

/// Records like a cluster's: a few hundred workloads, each pair talking in
/// bursts, so consecutive records often share their endpoints
fn generated() -> String {
    let mut text = String::new();
    for i in 0..GENERATED {
        let (from, to) = ((i / 3) % 300, (i / 3 * 7 + 1) % 300);
        let endpoint = |n: usize| {
            format!(
                r#"{{"namespace":"ns-{ns:03}","labels":["k8s:app=svc-{n}","k8s:tier=frontend","k8s:io.kubernetes.pod.namespace=ns-{ns:03}","k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=ns-{ns:03}","k8s:io.cilium.k8s.policy.serviceaccount=svc-{n}"],"pod_name":"svc-{n}-6d4f-0","workloads":[{{"name":"svc-{n}","kind":"Deployment"}}]}}"#,
                ns = n % 40
            )
        };
        text.push_str(&format!(
            r#"{{"flow":{{"time":"2026-11-20T00:{m:02}:{s:02}.{i:09}Z","verdict":"FORWARDED","IP":{{"source":"10.100.{a}.{b}","destination":"10.100.{c}.{d}","ipVersion":"IPv4"}},"l4":{{"TCP":{{"source_port":{sp},"destination_port":8080}}}},"source":{src},"destination":{dst},"Type":"L3_L4","node_name":"node-5","event_type":{{"type":4}},"traffic_direction":"EGRESS","is_reply":false}},"node_name":"node-5","time":"2026-11-20T00:00:00.000000000Z"}}"#,
            m = (i / 60_000) % 60,
            s = (i / 1000) % 60,
            i = i % 1000,
            a = from / 250,
            b = from % 250,
            c = to / 250,
            d = to % 250,
            sp = 30_000 + i % 30_000,
            src = endpoint(from),
            dst = endpoint(to),
        ));
        text.push('\n');
    }
    text
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("HUBBLE_FLOWS").ok());
    let text = match &path {
        Some(path) => std::fs::read_to_string(path).unwrap(),
        None => generated(),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let hubble = format("hubble").unwrap();
    println!(
        "{} records, {:.0} bytes each, from {}",
        lines.len(),
        text.len() as f64 / lines.len().max(1) as f64,
        path.as_deref().unwrap_or("generated records")
    );
    let rounds: usize = std::env::var("HUBBLE_ROUNDS").map_or(3, |r| r.parse().unwrap());
    for round in 1..=rounds {
        let (mut flows, mut other) = (0u64, 0u64);
        let start = Instant::now();
        for line in &lines {
            // Dropped here, as a sink that aggregates drops what it read.
            match black_box(hubble.read(line)) {
                Ok(Line::Flow(_)) => flows += 1,
                _ => other += 1,
            }
        }
        let took = start.elapsed().as_secs_f64();
        println!(
            "round {round}: {flows} flows, {other} other in {took:.3} s: {:.0} records/s, {:.2} us a record",
            lines.len() as f64 / took,
            took * 1e6 / lines.len() as f64
        );
    }
}
