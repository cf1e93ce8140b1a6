//! Calico flow records (OSS 3.30+): the Whisker backend's `FlowResponse`
//! (`GET /flows`, one JSON object per line once collected) and Goldmane's
//! `Flow` (`{"key": {...}, "source_labels": [...], ...}`, as its emitter
//! posts them). Calico aggregates pods by workload (`frontend-7d9c-*`) and
//! outside addresses as `pub`/`pvt`, without an address.
//!
//! A flow the enforced policies allowed but whose pending trace (staged
//! policies included) ends in Deny is one enforcement would drop.

use crate::flows::{parse_label, parse_time, EndpointKind, FlowEndpoint, FlowFormat, FlowRecord, Line, Observed};
use palisade_intents::syntax::Protocol;
use serde::Deserialize;

/// The Goldmane / Whisker reader
pub struct CalicoFlows;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Record {
    // Goldmane nests the identifying fields under `key`.
    key: Option<Key>,
    #[serde(flatten)]
    flat: Key,
    #[serde(alias = "startTime")]
    start_time: Option<serde_json::Value>,
    #[serde(alias = "sourceLabels")]
    source_labels: Option<Labels>,
    #[serde(alias = "destLabels")]
    dest_labels: Option<Labels>,
    #[serde(alias = "numConnectionsStarted")]
    num_connections_started: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Key {
    action: Option<String>,
    #[serde(alias = "sourceName")]
    source_name: Option<String>,
    #[serde(alias = "sourceNamespace")]
    source_namespace: Option<String>,
    #[serde(alias = "destName")]
    dest_name: Option<String>,
    #[serde(alias = "destNamespace")]
    dest_namespace: Option<String>,
    #[serde(alias = "proto")]
    protocol: Option<String>,
    #[serde(alias = "destPort")]
    dest_port: Option<i64>,
    policies: Option<Policies>,
}

/// Whisker joins labels with ` | `; Goldmane keeps a list
#[derive(Deserialize)]
#[serde(untagged)]
enum Labels {
    Joined(String),
    List(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Policies {
    #[serde(alias = "pending_policies", alias = "pendingPolicies")]
    pending: Vec<Hit>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Hit {
    action: String,
    #[serde(alias = "policyIndex")]
    policy_index: i64,
}

impl FlowFormat for CalicoFlows {
    fn id(&self) -> &'static str {
        "calico"
    }

    fn recognizes(&self, line: &str) -> bool {
        [
            "\"dest_port\"",
            "\"destPort\"",
            "\"source_namespace\"",
            "\"sourceNamespace\"",
        ]
        .iter()
        .any(|k| line.contains(k))
    }

    fn read(&self, line: &str) -> Result<Line, String> {
        let record: Record = serde_json::from_str(line).map_err(|e| format!("invalid Calico flow JSON: {e}"))?;
        let key = record.key.as_ref().unwrap_or(&record.flat);
        let protocol = match key.protocol.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("tcp") => Protocol::Tcp,
            Some("udp") => Protocol::Udp,
            Some("sctp") => Protocol::Sctp,
            Some(_) => return Ok(Line::Skipped("not TCP, UDP or SCTP")),
            None => return Err("a flow without `protocol`".into()),
        };
        let port = key
            .dest_port
            .and_then(|p| u16::try_from(p).ok())
            .ok_or("a flow without a valid `dest_port`")?;
        let pending_denies = key
            .policies
            .as_ref()
            .and_then(|p| p.pending.iter().max_by_key(|h| h.policy_index))
            .is_some_and(|h| h.action.eq_ignore_ascii_case("deny"));
        let observed = match key.action.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("allow") if pending_denies => Observed::WouldDrop,
            Some("allow") => Observed::Allowed,
            Some("deny") => Observed::Dropped,
            Some("pass") => Observed::Allowed,
            Some(other) => return Err(format!("unknown action `{other}`")),
            None => return Err("a flow without `action`".into()),
        };
        let time_ms = match &record.start_time {
            Some(serde_json::Value::String(s)) => parse_time(s),
            Some(serde_json::Value::Number(n)) => n.as_i64().map(|s| s.saturating_mul(1000)),
            _ => None,
        };
        Ok(Line::Flow(Box::new(FlowRecord {
            time_ms,
            source: endpoint(
                key.source_namespace.as_deref(),
                key.source_name.as_deref(),
                record.source_labels,
            ),
            destination: endpoint(
                key.dest_namespace.as_deref(),
                key.dest_name.as_deref(),
                record.dest_labels,
            ),
            protocol,
            port,
            observed,
            request: None,
            dns_query: None,
            count: record.num_connections_started.unwrap_or(1).max(1),
        })))
    }
}

fn endpoint(namespace: Option<&str>, name: Option<&str>, labels: Option<Labels>) -> FlowEndpoint {
    let namespace = namespace.filter(|n| !n.is_empty() && *n != "-");
    let mut out = FlowEndpoint::of_kind(if namespace.is_some() {
        EndpointKind::Pod
    } else {
        EndpointKind::Outside
    });
    out.namespace = namespace.map(str::to_string);
    out.pod = name
        .filter(|n| !n.is_empty() && !matches!(*n, "-" | "pub" | "pvt"))
        .map(str::to_string);
    let list = match labels {
        Some(Labels::Joined(s)) => s.split(" | ").map(str::to_string).collect(),
        Some(Labels::List(l)) => l,
        None => Vec::new(),
    };
    for label in &list {
        if let Some((k, v)) = parse_label(label) {
            match k.strip_prefix("pcns.") {
                // Calico carries namespace labels as `pcns.<key>`; its own
                // `projectcalico.org/*` labels are not the pod's.
                Some(ns_key) => {
                    out.namespace_labels.insert(ns_key.to_string(), v);
                }
                None if k.starts_with("projectcalico.org/") => {}
                None => {
                    out.labels.insert(k, v);
                }
            }
        }
    }
    out
}
