//! Following Hubble Relay: an in-process fake relay (fake_relay/) serves
//! `observer.Observer/GetFlows` over real HTTP/2 on 127.0.0.1, with the same
//! protobuf messages, and ends its first stream. The Feed must hold the
//! allowed, the HTTP and the dropped conversation (not the replies), the relay's lost
//! events plus one for the outage, and the flow the second stream sent after
//! the client reconnected from where the first stream went down.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod fake_relay;

use fake_relay::{flow, http, lost, FakeRelay};
use palisade_controller::{feed, relay};

use feed::Feed;
use palisade_targets::flows::Observed;
use relay::{
    proto::{get_flows_response::Response, layer4::Protocol, layer7::Record, GetFlowsResponse, LostEvent},
    RelayOptions,
};
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::sync::Mutex;

/// The conversations in the feed, as `from -> to:port observed`
fn conversations(feed: &Feed) -> Vec<String> {
    feed.evidence
        .sorted()
        .iter()
        .map(|(key, seen)| {
            let app = |e: &palisade_targets::flows::FlowEndpoint| e.labels.get("app").cloned().unwrap_or_default();
            let observed: Vec<&str> = seen.observed.keys().map(|o: &Observed| o.as_str()).collect();
            let request = key
                .request
                .as_ref()
                .map(|r| format!(" {} {}", r.method, r.path))
                .unwrap_or_default();
            format!(
                "{} -> {}:{}{request} {}",
                app(&key.source),
                app(&key.destination),
                key.port,
                observed.join(",")
            )
        })
        .collect()
}

#[tokio::test]
async fn flows_from_the_relay_reach_the_feed_and_an_ended_stream_is_reopened_as_a_gap() {
    const FORWARDED: i32 = 1;
    const DROPPED: i32 = 2;
    let relay = FakeRelay::default();
    relay.scripts.lock().unwrap().extend([
        vec![
            flow(1_800_000_000, "frontend", "backend", 8080, FORWARDED, Some(false)),
            // the backend's answer: not a connection of its own
            flow(1_800_000_001, "backend", "frontend", 40000, FORWARDED, Some(true)),
            flow(1_800_000_002, "frontend", "db", 5432, DROPPED, Some(false)),
            lost(7),
            http(1_800_000_003, "GET", "http://backend:8080/products/1?page=2", 1),
            // the answer to it
            http(1_800_000_004, "GET", "http://backend:8080/products/1?page=2", 2),
        ],
        vec![flow(1_800_000_060, "frontend", "cache", 6379, FORWARDED, None)],
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .serve_with_incoming(relay.clone(), tonic::transport::server::TcpIncoming::from(listener)),
    );

    let feed = Arc::new(Mutex::new(Feed::new(PathBuf::new())));
    let options = RelayOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..RelayOptions::default()
    };
    let before = seconds_now();
    let client = tokio::spawn({
        let feed = feed.clone();
        let address = address.clone();
        async move { relay::follow(&address, feed, options).await }
    });

    // Wait for the second stream's flow (the client must have reconnected).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while feed.lock().await.evidence.flows.len() < 4 {
        assert!(!client.is_finished(), "follow returned: {:?}", client.await);
        assert!(tokio::time::Instant::now() < deadline, "the client never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.abort();
    server.abort();

    let feed = feed.lock().await;
    assert_eq!(
        conversations(&feed),
        [
            "frontend -> backend:8080 allowed",
            "frontend -> backend:8080 GET /products/1 allowed",
            "frontend -> cache:6379 allowed",
            "frontend -> db:5432 dropped",
        ],
        "replies and HTTP responses are not conversations of their own"
    );
    assert_eq!(
        feed.last_record_ms,
        Some(1_800_000_060_500),
        "the flow's own time, to the millisecond"
    );
    assert_eq!(
        feed.lost,
        7 + 1,
        "the relay's lost events, and one for the ended stream"
    );

    let requests = relay.requests.lock().unwrap().clone();
    assert!(requests.len() >= 2, "{requests:?}");
    for (path, request) in &requests {
        assert_eq!(path, "/observer.Observer/GetFlows");
        assert!(request.follow, "{request:?}");
        assert_eq!(request.number, 0, "`number` and `since` exclude each other");
    }
    let since = |i: usize| requests[i].1.since.map(|t| t.seconds).unwrap();
    assert!(since(0) >= before, "the window starts at connect");
    assert!(
        since(1) >= since(0),
        "the second stream starts where the first went down"
    );
}

fn seconds_now() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(elapsed.as_secs()).unwrap()
}

#[tokio::test]
async fn a_relay_that_is_not_up_yet_is_retried_and_replayed_from_the_start() {
    // A free port with nothing listening on it, for now.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let feed = Arc::new(Mutex::new(Feed::new(PathBuf::new())));
    let options = RelayOptions {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        ..RelayOptions::default()
    };
    let started = seconds_now();
    let client = tokio::spawn({
        let feed = feed.clone();
        async move { relay::follow(&address.to_string(), feed, options).await }
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(!client.is_finished(), "a relay that is down is retried, not fatal");
    assert_eq!(feed.lock().await.lost, 0, "nothing was open, so nothing was lost");

    let relay = FakeRelay::default();
    relay
        .scripts
        .lock()
        .unwrap()
        .push_back(vec![flow(1_800_000_000, "frontend", "backend", 8080, 1, Some(false))]);
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .serve_with_incoming(relay.clone(), tonic::transport::server::TcpIncoming::from(listener)),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while feed.lock().await.evidence.flows.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the client never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.abort();
    server.abort();
    assert_eq!(feed.lock().await.lost, 0);
    let requests = relay.requests.lock().unwrap().clone();
    let since = requests[0].1.since.unwrap().seconds;
    assert!(
        (started..started + 1).contains(&since),
        "since {since}: the failed attempts did not move the window's start ({started})"
    );
}

#[tokio::test]
async fn unusable_addresses_and_tls_files_stop_with_a_clear_error() {
    assert!(relay::check(
        "hubble-relay.kube-system.svc.cluster.local:80",
        &RelayOptions::default()
    )
    .is_ok());
    let feed = Arc::new(Mutex::new(Feed::new(PathBuf::new())));
    let error = relay::follow("https://relay:443", feed.clone(), RelayOptions::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("needs the relay's CA"), "{error}");
    let options = RelayOptions {
        tls: Some(relay::TlsOptions {
            ca: PathBuf::from("/nonexistent/ca.crt"),
            server_name: None,
            client: None,
        }),
        ..RelayOptions::default()
    };
    let error = relay::check("relay:443", &options).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot read the relay's CA `/nonexistent/ca.crt`"),
        "{error}"
    );
    let error = relay::follow("relay:443", feed, options).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot read the relay's CA `/nonexistent/ca.crt`"),
        "{error}"
    );
}

#[test]
fn the_messages_read_upstream_field_numbers_and_skip_the_rest() {
    use prost::{
        encoding::{encode_key, encode_varint, WireType},
        Message,
    };
    // Written field by field from Cilium's flow.proto and observer.proto,
    // not through the structs under test.
    fn field(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    fn varint(tag: u32, value: u64, out: &mut Vec<u8>) {
        encode_key(tag, WireType::Varint, out);
        encode_varint(value, out);
    }
    let mut ports = Vec::new();
    varint(2, 5432, &mut ports); // SCTP.destination_port
    let mut l4 = Vec::new();
    field(5, &ports, &mut l4); // Layer4.SCTP
    let mut is_reply = Vec::new();
    varint(1, 0, &mut is_reply); // BoolValue.value (false, written anyway)
    let mut http = Vec::new();
    field(2, b"GET", &mut http); // HTTP.method
    field(3, b"http://db/x", &mut http); // HTTP.url
    let mut l7 = Vec::new();
    varint(1, 1, &mut l7); // Layer7.type = REQUEST
    field(101, &http, &mut l7); // Layer7.http
    let mut source = Vec::new();
    field(3, b"shop", &mut source); // Endpoint.namespace
    field(4, b"k8s:app=frontend", &mut source); // Endpoint.labels
    field(5, b"frontend-1", &mut source); // Endpoint.pod_name
    let mut flow = Vec::new();
    varint(2, 2, &mut flow); // Flow.verdict = DROPPED
    field(6, &l4, &mut flow); // Flow.l4
    field(8, &source, &mut flow); // Flow.source
    field(14, b"db.shop.svc.cluster.local", &mut flow); // Flow.destination_names
    field(15, &l7, &mut flow); // Flow.l7
    varint(22, 2, &mut flow); // Flow.traffic_direction = EGRESS
    varint(25, 133, &mut flow); // Flow.drop_reason_desc = POLICY_DENIED
    field(26, &is_reply, &mut flow); // Flow.is_reply
    field(34, b"0b4f-uuid", &mut flow); // Flow.uuid: not read, skipped
    let mut response = Vec::new();
    field(1, &flow, &mut response); // GetFlowsResponse.flow
    field(1000, b"node-1", &mut response); // GetFlowsResponse.node_name

    let decoded = GetFlowsResponse::decode(response.as_slice()).unwrap();
    assert_eq!(decoded.node_name, "node-1");
    let Some(Response::Flow(flow)) = decoded.response else {
        panic!("{decoded:?}")
    };
    assert_eq!(flow.verdict, 2);
    assert_eq!(flow.drop_reason_desc, 133);
    assert_eq!(flow.traffic_direction, 2);
    assert_eq!(flow.is_reply, Some(false), "present and false, not absent");
    assert_eq!(flow.destination_names, ["db.shop.svc.cluster.local"]);
    let source = flow.source.unwrap();
    assert_eq!(
        (source.namespace.as_str(), source.pod_name.as_str()),
        ("shop", "frontend-1")
    );
    assert_eq!(source.labels, ["k8s:app=frontend"]);
    let Some(Protocol::Sctp(ports)) = flow.l4.unwrap().protocol else {
        panic!("not SCTP")
    };
    assert_eq!(ports.destination_port, 5432);
    let l7 = flow.l7.unwrap();
    assert_eq!(l7.r#type, 1);
    let Some(Record::Http(http)) = l7.record else {
        panic!("not HTTP")
    };
    assert_eq!((http.method.as_str(), http.url.as_str()), ("GET", "http://db/x"));

    let mut lost = Vec::new();
    varint(2, 12, &mut lost); // LostEvent.num_events_lost
    let mut response = Vec::new();
    field(3, &lost, &mut response); // GetFlowsResponse.lost_events
    let decoded = GetFlowsResponse::decode(response.as_slice()).unwrap();
    assert!(
        matches!(
            decoded.response,
            Some(Response::LostEvents(LostEvent {
                num_events_lost: 12,
                ..
            }))
        ),
        "{decoded:?}"
    );
}
