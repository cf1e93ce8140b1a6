//! Hubble flows: `hubble observe -o json` (older: `-o jsonpb`) and the Hubble
//! exporter's file write one `GetFlowsResponse` per line,
//! `{"flow":{...},"node_name":...,"time":...}`; older clients print the bare
//! flow. Replies, L7 responses and non-flow records (node status) are
//! skipped with a reason; `lost_events` records are gaps in the evidence.

use crate::flows::{
    parse_time, split_at_byte, split_label, EndpointKind, FlowEndpoint, FlowFormat, FlowRecord, Line, Observed, Scan,
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
        match scan_record(line) {
            Some(flow) => flow_record(flow),
            None => read_with_serde(line),
        }
    }

    // `read` makes its record of the scanned flow alone, and the key holds
    // every field of that flow but its time.
    fn fingerprint(&self, line: &str, key: &mut Vec<u8>) -> Option<Option<i64>> {
        let flow = scan_record(line)?;
        write_key(&flow, &mut Key(key));
        Some(flow.time.as_deref().and_then(parse_time))
    }
}

/// A flow's fields in a fixed order, each as its length and bytes, an
/// absent one as a length no text has: different flows never write the
/// same bytes
struct Key<'k>(&'k mut Vec<u8>);

impl Key<'_> {
    const ABSENT: u32 = u32::MAX;
    const UNREADABLE: u32 = u32::MAX - 1;

    fn text(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                let length = u32::try_from(text.len()).unwrap_or(Self::UNREADABLE);
                self.0.extend_from_slice(&length.to_le_bytes());
                self.0.extend_from_slice(text.as_bytes());
            }
            None => self.0.extend_from_slice(&Self::ABSENT.to_le_bytes()),
        }
    }

    fn texts(&mut self, texts: &[Text<'_>]) {
        self.number(u32::try_from(texts.len()).ok());
        for text in texts {
            self.text(Some(text));
        }
    }

    fn number(&mut self, number: Option<u32>) {
        match number {
            Some(n) => {
                self.0.extend_from_slice(&4_u32.to_le_bytes());
                self.0.extend_from_slice(&n.to_le_bytes());
            }
            None => self.text(None),
        }
    }

    fn flag(&mut self, flag: Option<bool>) {
        self.number(flag.map(u32::from));
    }

    fn endpoint(&mut self, endpoint: Option<&Endpoint<'_>>) {
        self.flag(endpoint.map(|_| true));
        if let Some(e) = endpoint {
            self.text(Some(&e.namespace));
            self.text(Some(&e.pod_name));
            self.texts(&e.labels);
        }
    }
}

fn write_key(flow: &Flow<'_>, key: &mut Key<'_>) {
    match &flow.verdict {
        Some(Verdict::Name(name)) => key.text(Some(name)),
        Some(Verdict::Unreadable) => key.number(Some(Key::UNREADABLE)),
        None => key.text(None),
    }
    let ip = flow.ip.as_ref();
    key.flag(ip.map(|_| true));
    key.text(ip.and_then(|a| a.source.as_deref()));
    key.text(ip.and_then(|a| a.destination.as_deref()));
    let l4 = flow.l4.as_ref();
    key.flag(l4.map(|_| true));
    for ports in [
        l4.and_then(|l| l.tcp.as_ref()),
        l4.and_then(|l| l.udp.as_ref()),
        l4.and_then(|l| l.sctp.as_ref()),
    ] {
        key.number(ports.map(|p| p.destination_port));
    }
    key.endpoint(flow.source.as_ref());
    key.endpoint(flow.destination.as_ref());
    key.texts(&flow.source_names);
    key.texts(&flow.destination_names);
    key.flag(flow.is_reply);
    key.flag(flow.reply);
    let l7 = flow.l7.as_ref();
    key.flag(l7.map(|_| true));
    key.text(l7.and_then(|l| l.kind.as_deref()));
    let dns = l7.and_then(|l| l.dns.as_ref());
    key.flag(dns.map(|_| true));
    key.text(dns.map(|d| &*d.query));
    let http = l7.and_then(|l| l.http.as_ref());
    key.flag(http.map(|_| true));
    key.text(http.map(|h| &*h.method));
    key.text(http.map(|h| &*h.url));
}

/// The reference reading of a line, and the only one for what the fast path
/// leaves: lost events, node status, escapes, and every error
fn read_with_serde(line: &str) -> Result<Line, String> {
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

/// Which fields of an object were read already: serde rejects a field named
/// twice, so the fast path leaves such a record to it
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, field: u32) -> Option<()> {
        let bit = 1 << field;
        let first = self.0 & bit == 0;
        self.0 |= bit;
        first.then_some(())
    }
}

/// The fast path of [`Hubble::read`]: the flow of a record read with
/// [`Scan`], as serde reads it, or `None` for serde to read the record
fn scan_record(line: &str) -> Option<Flow<'_>> {
    let mut scan = Scan::new(line);
    let (mut wrapped, mut bare) = (None, Flow::default());
    let (mut seen, mut seen_bare) = (Seen::default(), Seen::default());
    scan.object(|scan, key| match key {
        "flow" => {
            seen.first(0)?;
            wrapped = Some(scan_flow(scan)?);
            Some(())
        }
        "lost_events" | "node_status" => None,
        // A bare flow (older clients) has its fields at the top.
        _ => flow_field(scan, key, &mut bare, &mut seen_bare),
    })?;
    if !scan.at_end() {
        return None;
    }
    match wrapped {
        Some(flow) => Some(flow),
        None => bare.verdict.is_some().then_some(bare),
    }
}

fn scan_flow<'a>(scan: &mut Scan<'a>) -> Option<Flow<'a>> {
    let (mut flow, mut seen) = (Flow::default(), Seen::default());
    scan.object(|scan, key| flow_field(scan, key, &mut flow, &mut seen))?;
    Some(flow)
}

fn flow_field<'a>(scan: &mut Scan<'a>, key: &str, flow: &mut Flow<'a>, seen: &mut Seen) -> Option<()> {
    match key {
        "time" => {
            seen.first(0)?;
            flow.time = Some(text(scan)?);
        }
        "verdict" => {
            seen.first(1)?;
            flow.verdict = Some(Verdict::Name(Cow::Borrowed(scan.string()?)));
        }
        "IP" => {
            seen.first(2)?;
            flow.ip = Some(scan_addresses(scan)?);
        }
        "l4" => {
            seen.first(3)?;
            flow.l4 = Some(scan_l4(scan)?);
        }
        "source" => {
            seen.first(4)?;
            flow.source = Some(scan_endpoint(scan)?);
        }
        "destination" => {
            seen.first(5)?;
            flow.destination = Some(scan_endpoint(scan)?);
        }
        "source_names" => {
            seen.first(6)?;
            flow.source_names = texts(scan)?;
        }
        "destination_names" => {
            seen.first(7)?;
            flow.destination_names = texts(scan)?;
        }
        "is_reply" => {
            seen.first(8)?;
            flow.is_reply = Some(scan.boolean()?);
        }
        "reply" => {
            seen.first(9)?;
            flow.reply = Some(scan.boolean()?);
        }
        "l7" => {
            seen.first(10)?;
            flow.l7 = Some(scan_l7(scan)?);
        }
        _ => scan.skip()?,
    }
    Some(())
}

fn text<'a>(scan: &mut Scan<'a>) -> Option<Text<'a>> {
    scan.string().map(|s| Text(Cow::Borrowed(s)))
}

fn texts<'a>(scan: &mut Scan<'a>) -> Option<Vec<Text<'a>>> {
    let mut all = Vec::new();
    scan.array(|scan| {
        // Labels, mostly: a pod has a handful, and a list grown from
        // nothing takes an allocation for each doubling.
        if all.capacity() == 0 {
            all.reserve(8);
        }
        all.push(text(scan)?);
        Some(())
    })?;
    Some(all)
}

fn scan_addresses<'a>(scan: &mut Scan<'a>) -> Option<Addresses<'a>> {
    let (mut out, mut seen) = (Addresses::default(), Seen::default());
    scan.object(|scan, key| {
        match key {
            "source" => {
                seen.first(0)?;
                out.source = Some(text(scan)?);
            }
            "destination" => {
                seen.first(1)?;
                out.destination = Some(text(scan)?);
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_l4(scan: &mut Scan<'_>) -> Option<L4> {
    let (mut out, mut seen) = (L4::default(), Seen::default());
    scan.object(|scan, key| {
        match key {
            "TCP" => {
                seen.first(0)?;
                out.tcp = Some(scan_ports(scan)?);
            }
            "UDP" => {
                seen.first(1)?;
                out.udp = Some(scan_ports(scan)?);
            }
            "SCTP" => {
                seen.first(2)?;
                out.sctp = Some(scan_ports(scan)?);
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_ports(scan: &mut Scan<'_>) -> Option<Ports> {
    let (mut out, mut seen) = (Ports::default(), Seen::default());
    scan.object(|scan, key| {
        match key {
            "destination_port" => {
                seen.first(0)?;
                out.destination_port = u32::try_from(scan.unsigned()?).ok()?;
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_endpoint<'a>(scan: &mut Scan<'a>) -> Option<Endpoint<'a>> {
    let (mut out, mut seen) = (Endpoint::default(), Seen::default());
    scan.object(|scan, key| {
        match key {
            "namespace" => {
                seen.first(0)?;
                out.namespace = text(scan)?;
            }
            "pod_name" => {
                seen.first(1)?;
                out.pod_name = text(scan)?;
            }
            "labels" => {
                seen.first(2)?;
                out.labels = texts(scan)?;
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_l7<'a>(scan: &mut Scan<'a>) -> Option<L7<'a>> {
    let (mut out, mut seen) = (L7::default(), Seen::default());
    scan.object(|scan, key| {
        match key {
            "type" => {
                seen.first(0)?;
                out.kind = Some(text(scan)?);
            }
            "dns" => {
                seen.first(1)?;
                let mut dns = Dns::default();
                let mut seen_dns = Seen::default();
                scan.object(|scan, key| match key {
                    "query" => {
                        seen_dns.first(0)?;
                        dns.query = text(scan)?;
                        Some(())
                    }
                    _ => scan.skip(),
                })?;
                out.dns = Some(dns);
            }
            "http" => {
                seen.first(2)?;
                out.http = Some(scan_http(scan)?);
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(out)
}

fn scan_http<'a>(scan: &mut Scan<'a>) -> Option<Http<'a>> {
    let (mut out, mut seen) = (Http::default(), Seen::default());
    scan.object(|scan, key| {
        match key {
            "method" => {
                seen.first(0)?;
                out.method = text(scan)?;
            }
            "url" => {
                seen.first(1)?;
                out.url = text(scan)?;
            }
            _ => scan.skip()?,
        }
        Some(())
    })?;
    Some(out)
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

    const FLOW: &str = r#"{"flow":{"time":"2026-11-20T00:00:00.000000000Z","verdict":"FORWARDED","IP":{"source":"10.100.3.61","destination":"10.100.7.199","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":30000,"destination_port":8080}},"source":{"namespace":"ops-029","labels":["k8s:app=catalog-20","k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=ops-029","k8s:io.cilium.k8s.policy.serviceaccount=catalog-20"],"pod_name":"catalog-20-623d-0","workloads":[{"name":"catalog-20","kind":"Deployment"}]},"destination":{"namespace":"ops-029","labels":["reserved:world"],"pod_name":"","workloads":[]},"destination_names":["API.example.com."],"Type":"L3_L4","event_type":{"type":4,"sub_type":-1.5},"is_reply":false,"l7":{"type":"REQUEST","http":{"method":"GET","url":"http://a/b?c"},"dns":{"query":"x."}}},"node_name":"node-5","time":"2026-11-20T00:00:00.000000000Z"}"#;

    fn agree(line: &str) {
        assert_eq!(Hubble.read(line), read_with_serde(line), "{line}");
    }

    #[test]
    fn the_usual_record_is_read_without_serde() {
        assert!(scan_record(FLOW).is_some());
        let bare = r#"{"verdict":"DROPPED","l4":{"UDP":{"destination_port":53}},"source":{"namespace":"a"}}"#;
        assert!(scan_record(bare).is_some());
        agree(FLOW);
        agree(bare);
    }

    /// What a line reads as, with its time taken out, and that time
    fn read_but_time(line: &str) -> (Result<Line, String>, Option<i64>) {
        match Hubble.read(line) {
            Ok(Line::Flow(mut record)) => {
                let time = record.time_ms.take();
                (Ok(Line::Flow(record)), time)
            }
            other => (other, None),
        }
    }

    /// The store reads a line whose fingerprint it saw as the record of the
    /// first such line: lines with one fingerprint must read alike but for
    /// their time, and that time is the fingerprint's
    #[test]
    fn lines_with_one_fingerprint_read_alike_but_for_their_time() {
        let mut lines = vec![
            FLOW.replacen("00:00:00.000000000Z", "05:30:00.25Z", 1),
            FLOW.replace("\"source_port\":30000", "\"source_port\":41234"),
            FLOW.replace("node-5", "node-6"),
            FLOW.replace("FORWARDED", "DROPPED"),
            FLOW.replace("8080", "8081"),
            FLOW.replace("catalog-20-623d-0", "catalog-20-623d-1"),
            FLOW.replace("10.100.3.61", "10.100.3.62"),
            FLOW.replace("\"is_reply\":false", "\"is_reply\":true"),
            FLOW.replace("REQUEST", "RESPONSE"),
        ];
        for at in 0..FLOW.len() {
            for byte in ["\"", ",", "}", " ", "1", "x", "0"] {
                if let (Some(head), Some(tail)) = (FLOW.get(..at), FLOW.get(at + 1..)) {
                    lines.push(format!("{head}{byte}{tail}"));
                }
            }
        }
        let print = |line: &str| {
            let mut key = Vec::new();
            Hubble.fingerprint(line, &mut key).map(|time| (key, time))
        };
        let (flow_key, _) = print(FLOW).expect("the usual record has a fingerprint");
        for line in &lines[..3] {
            assert_eq!(print(line).map(|(key, _)| key), Some(flow_key.clone()), "{line}");
        }
        let mut first: std::collections::HashMap<Vec<u8>, (String, Result<Line, String>)> = Default::default();
        let mut shared = 0;
        for line in std::iter::once(FLOW.to_string()).chain(lines) {
            let Some((key, time)) = print(&line) else { continue };
            let (read, read_time) = read_but_time(&line);
            if let Ok(Line::Flow(_)) = read {
                assert_eq!(time, read_time, "{line}");
            }
            match first.get(&key) {
                Some((earlier, earlier_read)) => {
                    shared += 1;
                    assert_eq!(&read, earlier_read, "{line}\nshares its fingerprint with\n{earlier}");
                }
                None => {
                    first.insert(key, (line, read));
                }
            }
        }
        assert!(
            shared > 100,
            "only {shared} lines shared a fingerprint: the test tests little"
        );
        assert!(first.len() > 100, "only {} fingerprints", first.len());
    }

    /// Whatever the fast path reads, serde_json reads alike; whatever it
    /// leaves (escapes, odd numbers, bad syntax) serde_json reads, errors
    /// and their columns included
    #[test]
    fn every_line_reads_as_serde_json_reads_it() {
        let odd = [
            r#"{"flow":{"verdict":"FORWARDED","verdict":"DROPPED"}}"#,
            r#"{"flow":null,"verdict":"FORWARDED","l4":{"TCP":{"destination_port":1}}}"#,
            r#"{"flow":3}"#,
            r#"{"flow":{}} x"#,
            r#"{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":70000}}}}"#,
            r#"{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":8080.0}}}}"#,
            r#"{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":-1}}}}"#,
            r#"{"flow":{"verdict":"FORWARDED","l4":{"TCP":{"destination_port":01}}}}"#,
            r#"{"flow":{"verdict":2,"x":1e400,"l4":{"TCP":{"destination_port":1}}}}"#,
            r#"{"flow":{"verdict":"FORWARDED","x":123456789012345678901234567890}}"#,
            r#"{"flow":{"verdict":"FORWARDED","source":{"labels":["k8s:app=a\"b","k8s:x=\u00e9"]}}}"#,
            "{\"flow\":{\"verdict\":\"FORWARDED\",\"time\":\"a\tb\"}}",
            r#"{"lost_events":{"num_events_lost":7},"flow":{}}"#,
            r#"{"node_status":{}}"#,
            r#"{"flow":{"verdict":"FORWARDED","is_reply":"no"}}"#,
            r#"{"flow":{"verdict":"FORWARDED","x":[1,2,],"l4":{}}}"#,
            r#" { "flow" : { "verdict" : "AUDIT" , "l4" : { "SCTP" : { "destination_port" : 9 } } } } "#,
            "",
        ];
        for line in odd {
            agree(line);
        }
        agree(&format!(
            r#"{{"flow":{{"verdict":"FORWARDED","x":{}1{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        ));
        for at in 0..FLOW.len() {
            agree(&FLOW[..at]);
            for byte in ["\"", "\\", ",", "}", "]", " ", "1", "-", ".", "e", "x", "\u{1}", "é"] {
                if let (Some(head), Some(tail)) = (FLOW.get(..at), FLOW.get(at + 1..)) {
                    agree(&format!("{head}{byte}{tail}"));
                }
            }
        }
    }
}
