//! A conversation as the store names it: a canonical text that gives the
//! [`FlowKey`] back exactly, and the columns people query by

use palisade_compiler::model::Request;
use palisade_evidence::observe::FlowKey;
use palisade_evidence::suggest::WORKLOAD_LABELS;
use palisade_intents::syntax::Protocol;
use palisade_targets::flows::{EndpointKind, FlowEndpoint};
use serde::{Deserialize, Serialize};

/// The key's fields in a fixed order: JSON of sorted maps and of a
/// workload's sorted names, so one conversation is always one text
#[derive(Serialize, Deserialize)]
struct Stored {
    source: FlowEndpoint,
    destination: FlowEndpoint,
    protocol: Protocol,
    port: u16,
    request: Option<Request>,
}

/// The canonical text of a conversation
pub(crate) fn text(key: &FlowKey) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Stored {
        source: key.source.clone(),
        destination: key.destination.clone(),
        protocol: key.protocol,
        port: key.port,
        request: key.request.clone(),
    })
}

/// The SHA-256 of a canonical text, in hex: the conversation's unique key
/// in the database (a text can outgrow an index entry; its hash cannot)
pub(crate) fn hash(text: &str) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The conversation a canonical text names
pub(crate) fn parse(text: &str) -> Result<FlowKey, serde_json::Error> {
    let stored: Stored = serde_json::from_str(text)?;
    Ok(FlowKey {
        source: stored.source,
        destination: stored.destination,
        protocol: stored.protocol,
        port: stored.port,
        request: stored.request,
    })
}

/// The canonical text of an endpoint (the lookups' key)
pub(crate) fn endpoint_text(endpoint: &FlowEndpoint) -> Result<String, serde_json::Error> {
    serde_json::to_string(endpoint)
}

/// The endpoint a canonical text names
pub(crate) fn parse_endpoint(text: &str) -> Result<FlowEndpoint, serde_json::Error> {
    serde_json::from_str(text)
}

/// How reports name one end: `namespace/app` for a labelled pod, the pod,
/// the names or the address otherwise
pub fn party(e: &FlowEndpoint) -> String {
    match e.kind {
        EndpointKind::Node => "node".into(),
        EndpointKind::KubeApiserver => "kube-apiserver".into(),
        EndpointKind::Outside => e
            .names
            .first()
            .cloned()
            .or_else(|| e.ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| "outside".into()),
        EndpointKind::Pod => {
            let name = WORKLOAD_LABELS
                .iter()
                .find_map(|label| e.labels.get(*label).cloned())
                .or_else(|| e.pod.clone())
                .or_else(|| e.service.clone())
                .or_else(|| e.ip.map(|ip| ip.to_string()))
                .unwrap_or_else(|| {
                    let labels: Vec<String> = e.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{{{}}}", labels.join(","))
                });
            match &e.namespace {
                Some(namespace) => format!("{namespace}/{name}"),
                None => name,
            }
        }
    }
}

/// The protocol's column text
pub(crate) fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}
