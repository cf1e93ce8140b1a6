//! Evidence from Hubble Relay: `observer.Observer/GetFlows` followed over
//! gRPC, each flow recorded into an [`Intake`] (the controller's [`Feed`] or
//! a flow store) as a followed file's would be.
//!
//! No protoc and no generated code: [`proto`] holds hand-written prost
//! structs with the subset of Cilium's `flow.proto`/`observer.proto` that
//! palisade reads, at the upstream field numbers (prost skips the rest), and
//! the call goes through tonic's generic client. A flow is turned into the
//! JSON `hubble observe -o json` prints and read by the Hubble reader of
//! palisade-targets, so the relay and a flow file share one set of rules
//! (replies, verdicts, L7 responses, ports, identity labels).
//!
//! The window starts at the first connection (`since` = now), or where a
//! follower that stopped left off ([`RelayOptions::resume_ms`]: its last
//! record's time) so that a restart leaves no hole. A stream that
//! ends or fails is reopened with backoff from the moment it went down (the
//! relay replays what its buffers still hold), and each outage counts one
//! lost record: nothing proves the buffers held all of it, so the next
//! report sees a gap rather than a silently thinner window.

#[cfg(doc)]
use crate::feed::Feed;
use crate::tail::Intake;
use palisade_targets::{
    cilium::flows::Hubble,
    flows::{FlowFormat, Line},
};
use serde_json::{json, Map, Value};
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::sync::Mutex;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The RPC, as `package.Service/Method` of observer.proto
const GET_FLOWS: &str = "/observer.Observer/GetFlows";

/// How to reach the relay and how patiently to retry
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// TLS, when the relay serves it (`hubble.relay.tls.server.enabled`)
    pub tls: Option<TlsOptions>,
    /// the first wait before reconnecting; doubled up to `backoff_max`
    pub backoff_min: Duration,
    /// the longest wait between two attempts
    pub backoff_max: Duration,
    /// how long one connection attempt may take
    pub connect_timeout: Duration,
    /// the time of the last record a stopped follower took (ms since the
    /// epoch): the first stream starts there, and what the relay replays
    /// up to it is not taken twice
    pub resume_ms: Option<i64>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            tls: None,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            resume_ms: None,
        }
    }
}

/// TLS to the relay: its CA, and a client certificate where it asks for mTLS
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// PEM file of the CA that signed the relay's certificate
    pub ca: PathBuf,
    /// the name in the relay's certificate (Cilium's is `*.hubble-relay.cilium.io`)
    pub server_name: Option<String>,
    /// PEM certificate and key files, for `hubble.relay.tls.server.mtls`
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Why following the relay could not start (failures once running are retried)
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// the address is not a URI tonic can dial
    #[error("`{address}` is not a Hubble Relay address (host:port or http://host:port): {source}")]
    Address {
        /// as given
        address: String,
        /// tonic's reason
        source: tonic::transport::Error,
    },
    /// an `https://` address without TLS options, or TLS options with `http://`
    #[error("`{address}`: {reason}")]
    Scheme {
        /// as given
        address: String,
        /// what does not match
        reason: &'static str,
    },
    /// a CA, certificate or key file could not be read
    #[error("cannot read {what} `{path}`: {source}")]
    TlsFile {
        /// which file
        what: &'static str,
        /// where
        path: PathBuf,
        /// the I/O error
        source: std::io::Error,
    },
    /// tonic refused the TLS configuration
    #[error("TLS to `{address}`: {source}")]
    Tls {
        /// as given
        address: String,
        /// tonic's reason
        source: tonic::transport::Error,
    },
}

/// Whether `address` and the TLS files are usable, so that a typo stops the
/// controller at start instead of leaving it without evidence
pub fn check(address: &str, options: &RelayOptions) -> Result<(), RelayError> {
    endpoint(address, options).map(|_| ())
}

/// Follow `address` (e.g. `hubble-relay.kube-system.svc.cluster.local:80`)
/// for as long as the task runs, recording every flow into `feed`; returns
/// only when the address or TLS options are unusable
pub async fn follow<I: Intake + Send>(
    address: &str,
    feed: Arc<Mutex<I>>,
    options: RelayOptions,
) -> Result<(), RelayError> {
    let endpoint = endpoint(address, &options)?;
    let mut since = options.resume_ms.map_or_else(now, Timestamp::from_millis);
    let taken = Taken {
        after_ms: options.resume_ms,
    };
    let mut backoff = options.backoff_min;
    loop {
        let ended = stream(&endpoint, &feed, since, taken).await;
        match &ended.error {
            None => tracing::warn!(%address, received = ended.received, "Hubble Relay ended the flow stream"),
            Some(e) => {
                tracing::warn!(%address, received = ended.received, error = %e, "Hubble Relay flow stream failed")
            }
        }
        if ended.opened {
            // Failed attempts during an outage keep `since` at its start, so
            // the stream that finally opens replays all of it.
            since = now();
            // INVARIANT: every outage is a gap until proved otherwise (see the module doc).
            feed.lock().await.lost(1);
        }
        if ended.received > 0 {
            backoff = options.backoff_min;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(options.backoff_max);
    }
}

/// What went wrong with one stream
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("{0}")]
    Status(#[from] tonic::Status),
}

/// How one stream ended
struct Ended {
    /// the relay accepted the call (so the window was open until now)
    opened: bool,
    /// messages it delivered
    received: u64,
    /// why, unless the relay ended it cleanly
    error: Option<StreamError>,
}

/// What a resumed follower took already: records up to its last one's time
#[derive(Debug, Clone, Copy)]
struct Taken {
    after_ms: Option<i64>,
}

impl Taken {
    fn already(self, time_ms: Option<i64>) -> bool {
        matches!((self.after_ms, time_ms), (Some(after), Some(t)) if t <= after)
    }
}

/// One GetFlows call, from `since` on, until it ends
async fn stream<I: Intake>(endpoint: &Endpoint, feed: &Mutex<I>, since: Timestamp, taken: Taken) -> Ended {
    let failed = |e: StreamError| Ended {
        opened: false,
        received: 0,
        error: Some(e),
    };
    let channel: Channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(e) => return failed(e.into()),
    };
    let mut client = tonic::client::Grpc::new(channel);
    if let Err(e) = client.ready().await {
        return failed(e.into());
    }
    let request = proto::GetFlowsRequest {
        follow: true,
        since: Some(since),
        ..Default::default()
    };
    let path = http::uri::PathAndQuery::from_static(GET_FLOWS);
    let codec = tonic_prost::ProstCodec::<proto::GetFlowsRequest, proto::GetFlowsResponse>::default();
    let mut flows = match client.server_streaming(tonic::Request::new(request), path, codec).await {
        Ok(response) => response.into_inner(),
        Err(e) => return failed(e.into()),
    };
    tracing::info!(endpoint = %endpoint.uri(), "following Hubble Relay");
    let mut received = 0;
    loop {
        match flows.message().await {
            Ok(Some(response)) => {
                received += 1;
                record(&mut *feed.lock().await, &response, taken);
            }
            Ok(None) => {
                break Ended {
                    opened: true,
                    received,
                    error: None,
                }
            }
            Err(e) => {
                break Ended {
                    opened: true,
                    received,
                    error: Some(e.into()),
                }
            }
        }
    }
}

/// Take one response as [`Feed::poll`] takes one line
fn record(feed: &mut dyn Intake, response: &proto::GetFlowsResponse, taken: Taken) {
    match line(response) {
        Ok(Line::Flow(record)) if taken.already(record.time_ms) => {}
        Ok(Line::Flow(record)) => feed.flow(*record),
        Ok(Line::Lost(n)) => feed.lost(n),
        Ok(Line::Skipped(_)) => {}
        Err(e) => {
            tracing::debug!(error = %e, "unreadable Hubble flow");
            feed.unreadable();
        }
    }
}

/// What the Hubble reader makes of a response
fn line(response: &proto::GetFlowsResponse) -> Result<Line, String> {
    use proto::get_flows_response::Response;
    let flow = match &response.response {
        Some(Response::Flow(flow)) => flow,
        Some(Response::LostEvents(lost)) => return Ok(Line::Lost(lost.num_events_lost.max(1))),
        Some(Response::NodeStatus(_)) => return Ok(Line::Skipped("node status")),
        None => return Err("a GetFlows response without flow, node_status or lost_events".into()),
    };
    let mut line = Hubble.read(&json!({ "flow": flow_json(flow) }).to_string())?;
    // The time is taken from the message, not through RFC 3339 and back.
    if let Line::Flow(record) = &mut line {
        record.time_ms = flow.time.or(response.time).map(|t| t.millis());
    }
    Ok(line)
}

/// The flow as protojson prints it (empty fields left out), for the Hubble reader
fn flow_json(flow: &proto::Flow) -> Value {
    let mut out = Map::new();
    out.insert("verdict".into(), json!(flow.verdict));
    if flow.drop_reason_desc != 0 {
        out.insert("drop_reason_desc".into(), json!(flow.drop_reason_desc));
    }
    if let Some(ip) = &flow.ip {
        let mut addresses = Map::new();
        for (key, value) in [("source", &ip.source), ("destination", &ip.destination)] {
            if !value.is_empty() {
                addresses.insert(key.into(), json!(value));
            }
        }
        out.insert("IP".into(), Value::Object(addresses));
    }
    if let Some(protocol) = flow.l4.as_ref().and_then(|l4| l4.protocol.as_ref()) {
        use proto::layer4::Protocol;
        let (key, ports) = match protocol {
            Protocol::Tcp(p) => ("TCP", p),
            Protocol::Udp(p) => ("UDP", p),
            Protocol::Sctp(p) => ("SCTP", p),
        };
        let ports = json!({ "source_port": ports.source_port, "destination_port": ports.destination_port });
        out.insert("l4".into(), json!({ key: ports }));
    }
    for (key, endpoint) in [("source", &flow.source), ("destination", &flow.destination)] {
        if let Some(e) = endpoint {
            let workloads: Vec<Value> = e
                .workloads
                .iter()
                .map(|w| json!({ "name": w.name, "kind": w.kind }))
                .collect();
            out.insert(
                key.into(),
                json!({ "namespace": e.namespace, "pod_name": e.pod_name, "labels": e.labels, "workloads": workloads }),
            );
        }
    }
    out.insert("source_names".into(), json!(flow.source_names));
    out.insert("destination_names".into(), json!(flow.destination_names));
    if let Some(is_reply) = flow.is_reply {
        out.insert("is_reply".into(), json!(is_reply));
    } else if flow.reply {
        // older agents fill only the deprecated field
        out.insert("reply".into(), json!(true));
    }
    if flow.traffic_direction != 0 {
        out.insert("traffic_direction".into(), json!(flow.traffic_direction));
    }
    if let Some(l7) = &flow.l7 {
        let mut layer = Map::new();
        let kind = match l7.r#type {
            1 => "REQUEST",
            2 => "RESPONSE",
            3 => "SAMPLE",
            _ => "UNKNOWN_L7_TYPE",
        };
        layer.insert("type".into(), json!(kind));
        match &l7.record {
            Some(proto::layer7::Record::Dns(dns)) => {
                layer.insert("dns".into(), json!({ "query": dns.query }));
            }
            Some(proto::layer7::Record::Http(http)) => {
                layer.insert("http".into(), json!({ "method": http.method, "url": http.url }));
            }
            None => {}
        }
        out.insert("l7".into(), Value::Object(layer));
    }
    Value::Object(out)
}

/// The endpoint to dial: plaintext HTTP/2 unless TLS options are given
fn endpoint(address: &str, options: &RelayOptions) -> Result<Endpoint, RelayError> {
    let scheme_error = |reason| RelayError::Scheme {
        address: address.to_string(),
        reason,
    };
    let uri = match (address.split_once("://").map(|(s, _)| s), &options.tls) {
        (None, None) => format!("http://{address}"),
        (None, Some(_)) => format!("https://{address}"),
        (Some("http"), None) | (Some("https"), Some(_)) => address.to_string(),
        (Some("https"), None) => return Err(scheme_error("an https:// address needs the relay's CA (TLS options)")),
        (Some("http"), Some(_)) => return Err(scheme_error("TLS options were given for an http:// address")),
        (Some(_), _) => return Err(scheme_error("the scheme must be http:// or https://")),
    };
    let address_error = |source| RelayError::Address {
        address: address.to_string(),
        source,
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(address_error)?
        .connect_timeout(options.connect_timeout)
        // A quiet namespace sends nothing for minutes: keepalives tell a
        // silent stream from a dead connection.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let Some(tls) = &options.tls else {
        return Ok(endpoint);
    };
    let read = |what, path: &PathBuf| {
        std::fs::read(path).map_err(|source| RelayError::TlsFile {
            what,
            path: path.clone(),
            source,
        })
    };
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("the relay's CA", &tls.ca)?));
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name);
    }
    if let Some((certificate, key)) = &tls.client {
        config = config.identity(Identity::from_pem(
            read("the client certificate", certificate)?,
            read("the client key", key)?,
        ));
    }
    endpoint.tls_config(config).map_err(|source| RelayError::Tls {
        address: address.to_string(),
        source,
    })
}

/// A point in time as protobuf's well-known `Timestamp`
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    /// seconds since the epoch
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// and nanoseconds within that second
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The time `ms` milliseconds after the epoch
    pub fn from_millis(ms: i64) -> Self {
        Self {
            seconds: ms.div_euclid(1000),
            // INVARIANT: below 1e9, as a remainder of 1000 times 1e6.
            nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
        }
    }

    /// Milliseconds since the epoch
    pub fn millis(self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos) / 1_000_000)
    }
}

fn now() -> Timestamp {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(elapsed.subsec_nanos()).unwrap_or(0),
    }
}

/// The messages of Cilium's `api/v1/observer/observer.proto` and
/// `api/v1/flow/flow.proto` that palisade reads, with upstream's field
/// numbers; every other field is skipped on decoding
pub mod proto {
    pub use super::Timestamp;

    /// `observer.GetFlowsRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetFlowsRequest {
        /// the last `number` flows (incompatible with `since`)
        #[prost(uint64, tag = "1")]
        pub number: u64,
        /// keep streaming once the buffered flows are sent
        #[prost(bool, tag = "3")]
        pub follow: bool,
        /// flows from this time on
        #[prost(message, optional, tag = "7")]
        pub since: Option<Timestamp>,
    }

    /// `observer.GetFlowsResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetFlowsResponse {
        /// a flow, a node status or lost events
        #[prost(oneof = "get_flows_response::Response", tags = "1, 2, 3")]
        pub response: Option<get_flows_response::Response>,
        /// the node that observed it
        #[prost(string, tag = "1000")]
        pub node_name: String,
        /// when it was observed
        #[prost(message, optional, tag = "1001")]
        pub time: Option<Timestamp>,
    }

    /// The `response_types` oneof of `GetFlowsResponse`
    pub mod get_flows_response {
        /// `oneof response_types`
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Response {
            /// `flow.Flow flow = 1`
            #[prost(message, tag = "1", boxed)]
            Flow(Box<super::Flow>),
            /// `relay.NodeStatusEvent node_status = 2` (its content is not read)
            #[prost(message, tag = "2")]
            NodeStatus(super::NodeStatusEvent),
            /// `flow.LostEvent lost_events = 3`
            #[prost(message, tag = "3")]
            LostEvents(super::LostEvent),
        }
    }

    /// `relay.NodeStatusEvent`, none of whose fields palisade reads
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeStatusEvent {}

    /// `flow.LostEvent`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LostEvent {
        /// `LostEventSource`
        #[prost(int32, tag = "1")]
        pub source: i32,
        /// how many events were lost there
        #[prost(uint64, tag = "2")]
        pub num_events_lost: u64,
    }

    /// `flow.Flow`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Flow {
        /// when
        #[prost(message, optional, tag = "1")]
        pub time: Option<Timestamp>,
        /// `Verdict`: 1 forwarded, 2 dropped, 3 error, 4 audit, 5 redirected, 6 traced, 7 translated
        #[prost(int32, tag = "2")]
        pub verdict: i32,
        /// addresses
        #[prost(message, optional, tag = "5")]
        pub ip: Option<Ip>,
        /// ports
        #[prost(message, optional, tag = "6")]
        pub l4: Option<Layer4>,
        /// who sent it
        #[prost(message, optional, tag = "8")]
        pub source: Option<Endpoint>,
        /// who it went to
        #[prost(message, optional, tag = "9")]
        pub destination: Option<Endpoint>,
        /// DNS names of the source address
        #[prost(string, repeated, tag = "13")]
        pub source_names: Vec<String>,
        /// DNS names of the destination address
        #[prost(string, repeated, tag = "14")]
        pub destination_names: Vec<String>,
        /// L7 records (DNS, HTTP)
        #[prost(message, optional, tag = "15")]
        pub l7: Option<Layer7>,
        /// deprecated: cannot tell false from absent (`is_reply` can)
        #[prost(bool, tag = "16")]
        pub reply: bool,
        /// `TrafficDirection`: 1 ingress, 2 egress
        #[prost(int32, tag = "22")]
        pub traffic_direction: i32,
        /// `DropReason`, for dropped flows (133 policy denied)
        #[prost(int32, tag = "25")]
        pub drop_reason_desc: i32,
        /// `google.protobuf.BoolValue`: absent when unknown
        #[prost(message, optional, tag = "26")]
        pub is_reply: Option<bool>,
    }

    /// `flow.IP`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ip {
        /// source address
        #[prost(string, tag = "1")]
        pub source: String,
        /// destination address
        #[prost(string, tag = "2")]
        pub destination: String,
    }

    /// `flow.Layer4`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Layer4 {
        /// TCP, UDP or SCTP (ICMP is skipped: it has no port)
        #[prost(oneof = "layer4::Protocol", tags = "1, 2, 5")]
        pub protocol: Option<layer4::Protocol>,
    }

    /// The `protocol` oneof of `Layer4`
    pub mod layer4 {
        /// `oneof protocol`
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Protocol {
            /// `TCP TCP = 1`
            #[prost(message, tag = "1")]
            Tcp(super::Ports),
            /// `UDP UDP = 2`
            #[prost(message, tag = "2")]
            Udp(super::Ports),
            /// `SCTP SCTP = 5`
            #[prost(message, tag = "5")]
            Sctp(super::Ports),
        }
    }

    /// `flow.TCP`, `flow.UDP` and `flow.SCTP` share these fields (TCP's flags are skipped)
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Ports {
        /// source port
        #[prost(uint32, tag = "1")]
        pub source_port: u32,
        /// destination port
        #[prost(uint32, tag = "2")]
        pub destination_port: u32,
    }

    /// `flow.Endpoint`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Endpoint {
        /// the pod's namespace
        #[prost(string, tag = "3")]
        pub namespace: String,
        /// identity labels, `k8s:app=x`, `reserved:host`
        #[prost(string, repeated, tag = "4")]
        pub labels: Vec<String>,
        /// the pod's name
        #[prost(string, tag = "5")]
        pub pod_name: String,
        /// the workloads that own the pod
        #[prost(message, repeated, tag = "6")]
        pub workloads: Vec<Workload>,
    }

    /// `flow.Workload`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Workload {
        /// its name
        #[prost(string, tag = "1")]
        pub name: String,
        /// its kind (Deployment, StatefulSet, …)
        #[prost(string, tag = "2")]
        pub kind: String,
    }

    /// `flow.Layer7`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Layer7 {
        /// `L7FlowType`: 1 request, 2 response, 3 sample
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        /// DNS or HTTP (Kafka is skipped)
        #[prost(oneof = "layer7::Record", tags = "100, 101")]
        pub record: Option<layer7::Record>,
    }

    /// The `record` oneof of `Layer7`
    pub mod layer7 {
        /// `oneof record`
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Record {
            /// `DNS dns = 100`
            #[prost(message, tag = "100")]
            Dns(super::Dns),
            /// `HTTP http = 101`
            #[prost(message, tag = "101")]
            Http(super::Http),
        }
    }

    /// `flow.DNS`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dns {
        /// the name looked up, `example.com.`
        #[prost(string, tag = "1")]
        pub query: String,
    }

    /// `flow.HTTP`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Http {
        /// `GET`
        #[prost(string, tag = "2")]
        pub method: String,
        /// the whole URL, `http://backend:8080/products/1`
        #[prost(string, tag = "3")]
        pub url: String,
    }
}
