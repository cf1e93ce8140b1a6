//! Hubble flows: `hubble observe -o json` (older: `-o jsonpb`) and the Hubble
//! exporter's file write one `GetFlowsResponse` per line,
//! `{"flow":{...},"node_name":...,"time":...}`; older clients print the bare
//! flow. Replies, L7 responses and non-flow records (node status) are
//! skipped with a reason; `lost_events` records are gaps in the evidence.

use crate::flows::{
    parse_time, split_at_byte, split_label, EndpointKind, FlowEndpoint, FlowFormat, FlowRecord, Line, Observed,
};
use palisade_compiler::model::Request;
use palisade_intents::syntax::Protocol;
use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::net::IpAddr;

/// The Hubble reader
pub struct Hubble;

// The records are read borrowing from the line ([`Text`]) and only the
// fields palisade uses are named: every other field is skipped unparsed,
// and nothing is allocated for a field that is not kept.

#[derive(Deserialize, Default)]
#[serde(default)]
struct Response<'a> {
    #[serde(borrow)]
    flow: Option<Flow<'a>>,
    lost_events: Option<LostEvents>,
    node_status: Option<IgnoredAny>,
    // A bare flow (older `hubble observe -o json`) has these at the top.
    verdict: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LostEvents {
    num_events_lost: u64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Flow<'a> {
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    verdict: Option<Verdict<'a>>,
    #[serde(rename = "IP", borrow)]
    ip: Option<Addresses<'a>>,
    l4: Option<L4>,
    #[serde(borrow)]
    source: Option<Endpoint<'a>>,
    #[serde(borrow)]
    destination: Option<Endpoint<'a>>,
    #[serde(borrow)]
    source_names: Vec<Text<'a>>,
    #[serde(borrow)]
    destination_names: Vec<Text<'a>>,
    is_reply: Option<bool>,
    reply: Option<bool>,
    #[serde(borrow)]
    l7: Option<L7<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Addresses<'a> {
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    destination: Option<Text<'a>>,
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
struct Endpoint<'a> {
    #[serde(borrow)]
    namespace: Text<'a>,
    #[serde(borrow)]
    pod_name: Text<'a>,
    #[serde(borrow)]
    labels: Vec<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct L7<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    dns: Option<Dns<'a>>,
    #[serde(borrow)]
    http: Option<Http<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Dns<'a> {
    #[serde(borrow)]
    query: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Http<'a> {
    #[serde(borrow)]
    method: Text<'a>,
    #[serde(borrow)]
    url: Text<'a>,
}

/// A JSON string, borrowed from the line unless it has escapes (serde's
/// `Cow<str>` always copies outside a field of exactly that type)
#[derive(Default)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Hubble's verdict: its name, or (protobuf JSON of old) its number; any
/// other value is a flow without a verdict palisade can read
enum Verdict<'a> {
    Name(Cow<'a, str>),
    Unreadable,
}

impl<'de: 'a, 'a> Deserialize<'de> for Verdict<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(VerdictVisitor)
    }
}

struct VerdictVisitor;

impl<'de> Visitor<'de> for VerdictVisitor {
    type Value = Verdict<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a verdict")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Verdict::Name(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Verdict::Name(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
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
        Ok(usize::try_from(n)
            .ok()
            .and_then(|n| BY_NUMBER.get(n))
            .map_or(Verdict::Unreadable, |name| Verdict::Name(Cow::Borrowed(name))))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Ok(Verdict::Unreadable),
        }
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Verdict::Unreadable)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Verdict::Unreadable)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Verdict::Unreadable)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Verdict::Unreadable)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Verdict::Unreadable)
    }
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

fn flow_record(flow: Flow<'_>) -> Result<Line, String> {
    if flow.is_reply.or(flow.reply).unwrap_or(false) {
        return Ok(Line::Skipped("reply"));
    }
    let verdict = match &flow.verdict {
        Some(Verdict::Name(name)) => Some(name.as_ref()),
        Some(Verdict::Unreadable) | None => None,
    };
    let observed = match verdict {
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
    let source = endpoint(
        flow.source.as_ref(),
        address(flow.ip.as_ref().and_then(|a| a.source.as_ref()))?,
        &flow.source_names,
    );
    let destination = endpoint(
        flow.destination.as_ref(),
        address(flow.ip.as_ref().and_then(|a| a.destination.as_ref()))?,
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

fn address(text: Option<&Text<'_>>) -> Result<Option<IpAddr>, String> {
    text.map(|a| {
        a.parse::<IpAddr>()
            .map_err(|_| format!("`{}` is not an IP address", &**a))
    })
    .transpose()
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
fn endpoint(raw: Option<&Endpoint<'_>>, ip: Option<IpAddr>, names: &[Text<'_>]) -> FlowEndpoint {
    let mut out = FlowEndpoint::of_kind(EndpointKind::Outside);
    out.ip = ip;
    out.names = names
        .iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let Some(raw) = raw else { return out };
    let (mut apiserver, mut node) = (false, false);
    for label in &raw.labels {
        let label: &str = label;
        let (source, text) = split_at_byte(label, b':').unwrap_or(("", label));
        match source {
            "k8s" => {
                let Some((k, v)) = split_label(text) else { continue };
                if let Some(ns_label) = k.strip_prefix("io.cilium.k8s.namespace.labels.") {
                    out.namespace_labels.insert(ns_label.to_string(), v.to_string());
                } else if k == "io.cilium.k8s.policy.serviceaccount" {
                    out.service_account = Some(v.to_string());
                } else if !k.starts_with("io.cilium.k8s.policy.") && k != "io.kubernetes.pod.namespace" {
                    out.labels.insert(k.to_string(), v.to_string());
                }
            }
            "reserved" => {
                apiserver |= text == "kube-apiserver";
                node |= matches!(text, "host" | "remote-node" | "health");
            }
            _ => {}
        }
    }
    out.kind = if apiserver {
        EndpointKind::KubeApiserver
    } else if node {
        EndpointKind::Node
    } else if !raw.namespace.is_empty() {
        EndpointKind::Pod
    } else {
        EndpointKind::Outside
    };
    if !raw.namespace.is_empty() {
        out.namespace = Some(raw.namespace.to_string());
    }
    if !raw.pod_name.is_empty() {
        out.pod = Some(raw.pod_name.to_string());
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
