//! The flow readers: the shared Hubble samples, generated records of every
//! format (Hubble, Calico, Envoy), and broken input: malformed, truncated,
//! not UTF-8, gzip (whole and cut short), unknown formats.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use palisade_intents::syntax::Protocol;
use palisade_targets::flows::{self, EndpointKind, FlowRecord, Observed, ReadStats, StreamError};
use serde_json::json;
use std::{io::Write, path::Path};

fn read_path(path: &Path, format: Option<&str>) -> Result<(Vec<FlowRecord>, ReadStats), StreamError> {
    let formats = flows::formats();
    let format = format.map(|f| flows::format(f).expect("known format"));
    let mut out = Vec::new();
    let stats = flows::read(path, format, &formats, |r| out.push(r))?;
    Ok((out, stats))
}

fn read_text(text: &str, format: Option<&str>) -> (Vec<FlowRecord>, ReadStats) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.jsonl");
    std::fs::write(&path, text).unwrap();
    read_path(&path, format).unwrap()
}

fn lines(records: &[serde_json::Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

#[test]
fn hubble_samples_read_as_flows_with_replies_skipped() {
    let Some(dir) = common::samples_dir() else { return };
    let (flows, stats) = read_path(&dir.join("hubble/basic-sample-10-flows.json"), None).unwrap();
    assert_eq!(stats.format, "hubble");
    assert_eq!((stats.lines, stats.flows, stats.malformed), (10, 5, 0));
    assert_eq!(stats.skipped.get("reply"), Some(&5));
    // Line 2: the node probing reviews on its Istio health port.
    let probe = &flows[0];
    assert_eq!(probe.source.kind, EndpointKind::Node);
    assert_eq!(probe.destination.kind, EndpointKind::Pod);
    assert_eq!(probe.destination.namespace.as_deref(), Some("bookinfo"));
    assert_eq!(probe.destination.labels.get("app").map(String::as_str), Some("reviews"));
    assert_eq!(probe.destination.service_account.as_deref(), Some("bookinfo-reviews"));
    assert_eq!(
        probe
            .destination
            .namespace_labels
            .get("istio-injection")
            .map(String::as_str),
        Some("enabled")
    );
    assert!(!probe.destination.labels.contains_key("io.kubernetes.pod.namespace"));
    assert_eq!((probe.protocol, probe.port), (Protocol::Tcp, 15020));
    assert_eq!(probe.time_ms, flows::parse_time("2021-06-16T16:52:13.136834446Z"));
    // The event exporter reaching a public address.
    let world = flows
        .iter()
        .find(|f| f.destination.kind == EndpointKind::Outside)
        .unwrap();
    assert_eq!(world.destination.ip, Some("35.246.31.234".parse().unwrap()));
    assert_eq!(world.port, 443);

    let (dns, stats) = read_path(&dir.join("hubble/basic-sample-5-dns-flows.json"), Some("hubble")).unwrap();
    assert_eq!((stats.flows, stats.skipped.get("reply")), (3, Some(&2)));
    assert_eq!(
        dns[0].dns_query.as_deref(),
        Some("istiod-istio-1611.istio-system.svc.istio-system.svc.cluster.local")
    );

    let (verdict, _) = read_path(&dir.join("hubble/policy-verdict-redirected.line1.json"), None).unwrap();
    assert_eq!(
        verdict[0].observed,
        Observed::Allowed,
        "REDIRECTED passed (to the proxy)"
    );
    assert_eq!((verdict[0].protocol, verdict[0].port), (Protocol::Udp, 53));
    assert_eq!(verdict[0].source.labels.get("app").map(String::as_str), Some("ratings"));
}

fn hubble(verdict: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut flow = json!({
        "time": "2026-11-20T10:00:00Z",
        "verdict": verdict,
        "IP": {"source": "10.244.1.10", "destination": "10.244.2.20"},
        "l4": {"TCP": {"source_port": 40000, "destination_port": 8080}},
        "source": {"namespace": "shop", "pod_name": "frontend-1", "labels": ["k8s:app=frontend"]},
        "destination": {"namespace": "shop", "pod_name": "backend-1", "labels": ["k8s:app=backend"]},
        "is_reply": false
    });
    for (k, v) in extra.as_object().unwrap() {
        flow[k] = v.clone();
    }
    json!({ "flow": flow, "node_name": "n1", "time": "2026-11-20T10:00:00Z" })
}

#[test]
fn hubble_verdicts_l7_and_lost_events() {
    let text = lines(&[
        hubble("AUDIT", json!({"event_type": {"type": 5}})),
        hubble("DROPPED", json!({"drop_reason_desc": "POLICY_DENIED"})),
        hubble(
            "FORWARDED",
            json!({"l7": {"type": "REQUEST", "http": {"method": "get", "url": "http://backend:8080/products/1?x=1"}}}),
        ),
        hubble("FORWARDED", json!({"l7": {"type": "RESPONSE", "http": {"code": 200}}})),
        hubble("ERROR", json!({})),
        hubble("FORWARDED", json!({"l4": {"ICMPv4": {"type": 8}}})),
        hubble(
            "FORWARDED",
            json!({"destination": {"labels": ["reserved:world"]}, "destination_names": ["API.Stripe.com."]}),
        ),
        hubble(
            "FORWARDED",
            json!({"destination": {"labels": ["reserved:kube-apiserver", "reserved:host"]}}),
        ),
        json!({"lost_events": {"source": "HUBBLE_RING_BUFFER", "num_events_lost": 7}}),
        json!({"node_status": {"state": "NODE_CONNECTED"}}),
        // a bare flow, as older clients print it
        hubble("FORWARDED", json!({}))["flow"].clone(),
    ]);
    let (flows, stats) = read_text(&text, None);
    assert_eq!(stats.malformed, 0, "{:?}", stats.malformed_examples);
    let observed: Vec<Observed> = flows.iter().map(|f| f.observed).collect();
    assert_eq!(
        observed[..3],
        [Observed::WouldDrop, Observed::Dropped, Observed::Allowed]
    );
    let request = flows[2].request.as_ref().unwrap();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/products/1"));
    assert_eq!(flows[3].destination.names, ["api.stripe.com"]);
    assert_eq!(flows[4].destination.kind, EndpointKind::KubeApiserver);
    assert_eq!(flows.len(), 6);
    assert_eq!(stats.lost, 7);
    for why in ["L7 response", "error verdict", "not TCP, UDP or SCTP", "node status"] {
        assert_eq!(stats.skipped.get(why), Some(&1), "{why}: {:?}", stats.skipped);
    }
}

#[test]
fn calico_whisker_and_goldmane_records() {
    let whisker = json!({
        "start_time": "2026-11-20T10:00:00Z", "end_time": "2026-11-20T10:00:15Z", "action": "Allow",
        "source_name": "frontend-7d9c5-*", "source_namespace": "shop",
        "source_labels": "app=frontend | pcns.team=web | projectcalico.org/namespace=shop",
        "dest_name": "backend-5f7b9-*", "dest_namespace": "shop", "dest_labels": "app=backend",
        "protocol": "tcp", "dest_port": 8080, "reporter": "Src",
        "policies": {"enforced": [{"kind": "CalicoNetworkPolicy", "name": "allow", "namespace": "shop", "tier": "default", "action": "Allow", "policy_index": 0, "rule_index": 0}],
                     "pending": [{"kind": "StagedNetworkPolicy", "name": "x", "namespace": "shop", "tier": "default", "action": "Pass", "policy_index": 0, "rule_index": 0},
                                 {"kind": "EndOfTier", "name": "", "namespace": "", "tier": "palisade", "action": "Deny", "policy_index": 1, "rule_index": -1}]},
        "packets_in": 1, "packets_out": 1, "bytes_in": 60, "bytes_out": 60
    });
    let goldmane = json!({
        "key": {"action": "Deny", "source_name": "frontend-7d9c5-*", "source_namespace": "shop", "dest_name": "pub", "dest_namespace": "", "proto": "udp", "dest_port": 53},
        "start_time": 1_763_632_800, "source_labels": ["app=frontend"], "num_connections_started": 4
    });
    let allowed = json!({"action": "Allow", "source_namespace": "shop", "source_name": "a-*", "dest_namespace": "shop", "dest_name": "b-*", "protocol": "TCP", "dest_port": 80});
    let (flows, stats) = read_text(&lines(&[whisker, goldmane, allowed]), None);
    assert_eq!(stats.format, "calico");
    assert_eq!(flows.len(), 3);
    assert_eq!(flows[0].observed, Observed::WouldDrop, "the pending trace ends in Deny");
    assert_eq!(flows[0].source.labels.get("app").map(String::as_str), Some("frontend"));
    assert_eq!(
        flows[0].source.namespace_labels.get("team").map(String::as_str),
        Some("web")
    );
    assert!(!flows[0].source.labels.contains_key("projectcalico.org/namespace"));
    assert_eq!(flows[0].source.pod.as_deref(), Some("frontend-7d9c5-*"));
    assert_eq!(
        (flows[1].observed, flows[1].protocol, flows[1].count),
        (Observed::Dropped, Protocol::Udp, 4)
    );
    assert_eq!(flows[1].destination.kind, EndpointKind::Outside);
    assert_eq!(flows[1].time_ms, Some(1_763_632_800_000));
    assert_eq!(flows[2].observed, Observed::Allowed);
}

#[test]
fn envoy_access_logs_in_both_directions() {
    let outbound = json!({
        "start_time": "2026-11-20T10:00:00.123Z", "method": "GET", "path": "/products/1?page=2", "protocol": "HTTP/1.1",
        "response_code": 200, "authority": "backend.shop:8080", "upstream_host": "10.244.2.20:8080",
        "upstream_cluster": "outbound|8080||backend.shop.svc.cluster.local",
        "downstream_local_address": "10.96.10.10:8080", "downstream_remote_address": "10.244.1.10:41234"
    });
    let denied = json!({
        "start_time": "2026-11-20T10:00:01Z", "method": "POST", "path": "/admin", "response_code": 403,
        "response_code_details": "rbac_access_denied_matched_policy[none]",
        "upstream_cluster": "inbound|8080||", "downstream_local_address": "10.244.2.20:8080",
        "downstream_remote_address": "10.244.1.10:41236"
    });
    let meshed_inbound = json!({
        "start_time": "2026-11-20T10:00:02Z", "method": "GET", "path": "/", "upstream_cluster": "inbound|8080||",
        "downstream_local_address": "10.244.2.20:8080", "downstream_remote_address": "10.244.1.10:41238",
        "downstream_peer": "spiffe://cluster.local/ns/shop/sa/frontend"
    });
    let passthrough = json!({
        "start_time": "2026-11-20T10:00:03Z", "method": null, "path": null, "upstream_cluster": "PassthroughCluster",
        "downstream_local_address": "198.51.100.7:443", "downstream_remote_address": "10.244.2.20:50000",
        "requested_server_name": "api.stripe.com", "dry_run_allow": "denied"
    });
    let (flows, stats) = read_text(&lines(&[outbound, denied, meshed_inbound, passthrough]), None);
    assert_eq!(stats.format, "envoy");
    assert_eq!(flows.len(), 3);
    assert_eq!(stats.skipped.len(), 1);
    let out = &flows[0];
    assert_eq!(out.destination.service.as_deref(), Some("backend"));
    assert_eq!(out.destination.namespace.as_deref(), Some("shop"));
    assert_eq!(out.source.ip, Some("10.244.1.10".parse().unwrap()));
    assert_eq!(out.request.as_ref().map(|r| r.path.as_str()), Some("/products/1"));
    assert_eq!((flows[1].observed, flows[1].port), (Observed::Dropped, 8080));
    assert_eq!(flows[1].destination.ip, Some("10.244.2.20".parse().unwrap()));
    assert_eq!(flows[2].observed, Observed::WouldDrop);
    assert_eq!(flows[2].destination.names, ["api.stripe.com"]);
    assert_eq!((flows[2].port, flows[2].request.is_none()), (443, true));
}

#[test]
fn malformed_lines_are_counted_with_their_place_and_never_fatal() {
    let good = hubble("FORWARDED", json!({})).to_string();
    let truncated = &good[..good.len() / 2];
    let text = format!("{good}\n{truncated}\n\n{{\"flow\": 3}}\n{good}\nnot json at all\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.jsonl");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"{\"flow\": \"\xff\xfe\"}\n");
    std::fs::write(&path, &bytes).unwrap();
    let (flows, stats) = read_path(&path, Some("hubble")).unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!(stats.malformed, 4);
    let places: Vec<&str> = stats.malformed_examples.iter().map(|m| m.at.as_str()).collect();
    let name = path.display().to_string();
    assert!(places[0].starts_with(&format!("{name}:2:")), "{places:?}");
    assert!(places[1].starts_with(&format!("{name}:4:")), "{places:?}");
    assert!(places[2].starts_with(&format!("{name}:6:")), "{places:?}");
    assert_eq!(places[3], format!("{name}:7:1"));
    assert!(stats.malformed_examples[3].message.contains("UTF-8"));
}

#[test]
fn gzip_is_read_and_a_cut_gzip_keeps_what_came_before() {
    let text = lines(&(0..100).map(|_| hubble("FORWARDED", json!({}))).collect::<Vec<_>>());
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("flows.json.gz");
    std::fs::write(&whole, &compressed).unwrap();
    let (flows, stats) = read_path(&whole, None).unwrap();
    assert_eq!((flows.len(), stats.malformed), (100, 0));

    let cut = dir.path().join("cut.json.gz");
    std::fs::write(&cut, &compressed[..compressed.len() - 20]).unwrap();
    let (flows, stats) = read_path(&cut, None).unwrap();
    assert!(flows.len() <= 100);
    assert!(stats.malformed >= 1, "the cut is reported");
    assert!(stats
        .malformed_examples
        .iter()
        .any(|m| m.message.contains("ends early")));
}

#[test]
fn a_file_of_no_known_format_is_an_error_and_a_missing_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    std::fs::write(&path, "{\"hello\": 1}\nplain text\n").unwrap();
    match read_path(&path, None) {
        Err(StreamError::UnknownFormat(message)) => {
            assert!(
                message.contains("hubble, calico, envoy") || message.contains("hubble"),
                "{message}"
            )
        }
        other => panic!("expected an unknown-format error, got {:?}", other.map(|(_, s)| s)),
    }
    assert!(matches!(
        read_path(&dir.path().join("missing"), None),
        Err(StreamError::Io(_))
    ));
}
