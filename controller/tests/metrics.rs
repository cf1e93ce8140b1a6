//! The operations endpoints: `/metrics` in Prometheus text, `/healthz`, and
//! `/readyz` that says not ready until this replica leads and has reconciled.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_controller::{metrics::Metrics, rollout::Phase};
use std::{
    io::{Read, Write},
    sync::{atomic::Ordering, Arc},
};

fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness_are_served() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let metrics = Arc::new(Metrics::default());
    metrics.set_phase("shop", Phase::Blocked);
    metrics.applied.inc_by(4);
    metrics.fail("Conflict");
    metrics.fail("Conflict");
    metrics.fail("ApiError");
    metrics.reconcile_duration.observe(0.02);
    tokio::spawn(palisade_controller::metrics::serve(address, metrics.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (health, ready, text) = tokio::task::spawn_blocking(move || {
        (
            get(address, "/healthz"),
            get(address, "/readyz"),
            get(address, "/metrics"),
        )
    })
    .await
    .unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(ready.starts_with("HTTP/1.1 503"), "not ready before leading: {ready}");
    assert!(text.contains("palisade_objects_applied_total 4"), "{text}");
    assert!(
        text.contains("palisade_reconcile_failures_total{reason=\"Conflict\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("palisade_reconcile_failures_total{reason=\"ApiError\"} 1"),
        "{text}"
    );
    assert!(text.contains("palisade_reconcile_duration_seconds_count 1"), "{text}");
    assert!(
        text.contains("palisade_reconcile_duration_seconds_bucket{le=\"0.04\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("palisade_rollout_phase{namespace=\"shop\",phase=\"Blocked\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("palisade_rollout_phase{namespace=\"shop\",phase=\"Enforcing\"} 0"),
        "{text}"
    );
    metrics.ready.store(true, Ordering::Relaxed);
    let ready = tokio::task::spawn_blocking(move || get(address, "/readyz"))
        .await
        .unwrap();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
}
