//! Hubble flows: `hubble observe -o json` (older: `-o jsonpb`) and the Hubble
//! exporter's file write one `GetFlowsResponse` per line,
//! `{"flow":{...},"node_name":...,"time":...}`; older clients print the bare
//! flow. Replies, L7 responses and non-flow records (node status) are
//! skipped with a reason; `lost_events` records are gaps in the evidence.

use crate::flows::{parse_label, parse_time, EndpointKind, FlowEndpoint, FlowFormat, FlowRecord, Line, Observed};
use palisade_compiler::model::Request;
use palisade_intents::syntax::Protocol;
use serde::Deserialize;
use std::net::IpAddr;

/// The Hubble reader
pub struct Hubble;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Response {
    flow: Option<Flow>,
    lost_events: Option<LostEvents>,
    node_status: Option<serde::de::IgnoredAny>,
    // A bare flow (older `hubble observe -o json`) has these at the top.
    verdict: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LostEvents {
    num_events_lost: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Flow {
    time: Option<String>,
    verdict: Option<serde_json::Value>,
    #[serde(rename = "IP")]
    ip: Option<Addresses>,
    l4: Option<L4>,
    source: Option<Endpoint>,
    destination: Option<Endpoint>,
    source_names: Vec<String>,
    destination_names: Vec<String>,
    is_reply: Option<bool>,
    reply: Option<bool>,
    l7: Option<L7>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Addresses {
    source: Option<String>,
    destination: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct L4 {
    #[serde(rename = "TCP")]
    tcp: Option<Ports>,
    #[serde(rename = "UDP")]
    udp: Option<Ports>,
    #[serde(rename = "SCTP")]
    sctp: Option<Ports>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Ports {
    destination_port: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Endpoint {
    namespace: String,
    pod_name: String,
    labels: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct L7 {
    #[serde(rename = "type")]
    kind: Option<String>,
    dns: Option<Dns>,
    http: Option<Http>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Dns {
    query: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Http {
    method: String,
    url: String,
}

impl FlowFormat for Hubble {
    fn id(&self) -> &'static str {
        "hubble"
    }

    fn recognizes(&self, line: &str) -> bool {
        line.contains("\"flow\"")
            || line.contains("\"lost_events\"")
            || line.contains("\"node_status\"")
            || (line.contains("\"verdict\"") && line.contains("\"IP\""))
    }

    fn read(&self, line: &str) -> Result<Line, String> {
        let response: Response = serde_json::from_str(line).map_err(|e| format!("invalid Hubble JSON: {e}"))?;
        if let Some(lost) = response.lost_events {
            return Ok(Line::Lost(lost.num_events_lost.max(1)));
        }
        if response.node_status.is_some() {
            return Ok(Line::Skipped("node status"));
        }
        let flow = match response.flow {
            Some(flow) => flow,
            None if response.verdict.is_some() => {
                serde_json::from_str(line).map_err(|e| format!("invalid Hubble flow: {e}"))?
            }
            None => return Err("a Hubble record without `flow`, `lost_events` or `node_status`".into()),
        };
        flow_record(flow)
    }
}

fn flow_record(flow: Flow) -> Result<Line, String> {
    if flow.is_reply.or(flow.reply).unwrap_or(false) {
        return Ok(Line::Skipped("reply"));
    }
    let observed = match verdict_name(flow.verdict.as_ref()).as_deref() {
        Some("FORWARDED" | "REDIRECTED" | "TRACED" | "TRANSLATED") => Observed::Allowed,
        Some("DROPPED") => Observed::Dropped,
        Some("AUDIT") => Observed::WouldDrop,
        Some("ERROR") => return Ok(Line::Skipped("error verdict")),
        Some(other) => return Err(format!("unknown verdict `{other}`")),
        None => return Err("a flow without `verdict`".into()),
    };
    let mut request = None;
    let mut dns_query = None;
    if let Some(l7) = &flow.l7 {
        if l7.kind.as_deref() == Some("RESPONSE") {
            return Ok(Line::Skipped("L7 response"));
        }
        if let Some(http) = &l7.http {
            request = Some(Request::new(&http.method, url_path(&http.url)));
        }
        if let Some(dns) = &l7.dns {
            dns_query = Some(dns.query.trim_end_matches('.').to_ascii_lowercase());
        }
    }
    let l4 = flow.l4.as_ref();
    let (protocol, ports) = match l4 {
        Some(L4 { tcp: Some(p), .. }) => (Protocol::Tcp, p),
        Some(L4 { udp: Some(p), .. }) => (Protocol::Udp, p),
        Some(L4 { sctp: Some(p), .. }) => (Protocol::Sctp, p),
        _ => return Ok(Line::Skipped("not TCP, UDP or SCTP")),
    };
    let port = u16::try_from(ports.destination_port).map_err(|_| "destination_port out of range".to_string())?;
    if port == 0 {
        // Hubble writes 0 where the packet carried no port it could read.
        return Err("destination_port is 0: no connection goes to port 0".into());
    }
    let address = |pick: fn(&Addresses) -> Option<&String>| -> Result<Option<IpAddr>, String> {
        flow.ip
            .as_ref()
            .and_then(pick)
            .map(|a| a.parse::<IpAddr>().map_err(|_| format!("`{a}` is not an IP address")))
            .transpose()
    };
    let source = endpoint(
        flow.source.as_ref(),
        address(|a| a.source.as_ref())?,
        &flow.source_names,
    );
    let destination = endpoint(
        flow.destination.as_ref(),
        address(|a| a.destination.as_ref())?,
        &flow.destination_names,
    );
    Ok(Line::Flow(Box::new(FlowRecord {
        time_ms: flow.time.as_deref().and_then(parse_time),
        source,
        destination,
        protocol,
        port,
        observed,
        request,
        dns_query,
        count: 1,
    })))
}

fn verdict_name(value: Option<&serde_json::Value>) -> Option<String> {
    const BY_NUMBER: [&str; 8] = [
        "VERDICT_UNKNOWN",
        "FORWARDED",
        "DROPPED",
        "ERROR",
        "AUDIT",
        "REDIRECTED",
        "TRACED",
        "TRANSLATED",
    ];
    match value? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => n
            .as_u64()
            .and_then(|n| BY_NUMBER.get(usize::try_from(n).ok()?))
            .map(|s| (*s).to_string()),
        _ => None,
    }
}

/// Hubble gives the whole URL (`http://backend:8080/products/1?x=y`)
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = match rest.find('/') {
        Some(i) if url.contains("://") => &rest[i..],
        _ if url.starts_with('/') => url,
        _ => "/",
    };
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// Cilium's identity labels: `k8s:app=x`, the namespace's labels under
/// `io.cilium.k8s.namespace.labels.`, the service account, and `reserved:`
/// identities for everything that is not a pod
fn endpoint(raw: Option<&Endpoint>, ip: Option<IpAddr>, names: &[String]) -> FlowEndpoint {
    let mut out = FlowEndpoint::of_kind(EndpointKind::Outside);
    out.ip = ip;
    out.names = names
        .iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let Some(raw) = raw else { return out };
    let mut reserved: Vec<&str> = Vec::new();
    for label in &raw.labels {
        let (source, text) = label.split_once(':').unwrap_or(("", label));
        match source {
            "k8s" => {
                let Some((k, v)) = parse_label(text) else { continue };
                if let Some(ns_label) = k.strip_prefix("io.cilium.k8s.namespace.labels.") {
                    out.namespace_labels.insert(ns_label.to_string(), v);
                } else if k == "io.cilium.k8s.policy.serviceaccount" {
                    out.service_account = Some(v);
                } else if !k.starts_with("io.cilium.k8s.policy.") && k != "io.kubernetes.pod.namespace" {
                    out.labels.insert(k, v);
                }
            }
            "reserved" => reserved.push(text),
            _ => {}
        }
    }
    out.kind = if reserved.contains(&"kube-apiserver") {
        EndpointKind::KubeApiserver
    } else if reserved.iter().any(|r| matches!(*r, "host" | "remote-node" | "health")) {
        EndpointKind::Node
    } else if !raw.namespace.is_empty() {
        EndpointKind::Pod
    } else {
        EndpointKind::Outside
    };
    if !raw.namespace.is_empty() {
        out.namespace = Some(raw.namespace.clone());
    }
    if !raw.pod_name.is_empty() {
        out.pod = Some(raw.pod_name.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_out_of_urls() {
        assert_eq!(url_path("http://backend:8080/products/1?x=y"), "/products/1");
        assert_eq!(url_path("http://backend:8080"), "/");
        assert_eq!(url_path("/a/b"), "/a/b");
    }
}
