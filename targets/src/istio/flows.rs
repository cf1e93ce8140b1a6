//! Envoy access logs in JSON, as Istio's sidecars write them with
//! `accessLogEncoding: JSON` (the built-in field set, plus the optional
//! `downstream_peer` and dry-run fields of the audit format in
//! research/audit.md).
//!
//! A sidecar logs what it saw: the outbound side (`outbound|8080||backend.shop.svc.cluster.local`,
//! `PassthroughCluster`, `BlackHoleCluster`) names the destination by its
//! Service or address; the inbound side (`inbound|8080||`) names the caller by
//! address and, with mTLS, by SPIFFE identity. Pods are known by address
//! only, so a cluster dump (`--cluster`) or the intents' services complete them.

use crate::flows::{parse_time, EndpointKind, FlowEndpoint, FlowFormat, FlowRecord, Line, Observed};
use palisade_compiler::model::Request;
use palisade_intents::syntax::Protocol;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

/// The Envoy access-log reader
pub struct EnvoyAccessLog;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry {
    start_time: Option<String>,
    method: Option<String>,
    path: Option<String>,
    response_code_details: Option<String>,
    authority: Option<String>,
    upstream_host: Option<String>,
    upstream_cluster: Option<String>,
    downstream_local_address: Option<String>,
    downstream_remote_address: Option<String>,
    requested_server_name: Option<String>,
    downstream_peer: Option<String>,
    dry_run_allow: Option<String>,
    dry_run_deny: Option<String>,
}

/// Envoy writes `-` or null for fields it has no value for
fn present(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty() && *s != "-")
}

fn socket(field: &Option<String>) -> Result<Option<SocketAddr>, String> {
    present(field)
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("`{s}` is not an address:port"))
        })
        .transpose()
}

impl FlowFormat for EnvoyAccessLog {
    fn id(&self) -> &'static str {
        "envoy"
    }

    fn recognizes(&self, line: &str) -> bool {
        line.contains("\"upstream_cluster\"") || line.contains("\"downstream_remote_address\"")
    }

    fn read(&self, line: &str) -> Result<Line, String> {
        let entry: Entry = serde_json::from_str(line).map_err(|e| format!("invalid Envoy access-log JSON: {e}"))?;
        let cluster = present(&entry.upstream_cluster).unwrap_or("");
        let local = socket(&entry.downstream_local_address)?;
        let remote = socket(&entry.downstream_remote_address)?;
        let upstream = socket(&entry.upstream_host)?;
        let peer = present(&entry.downstream_peer).and_then(spiffe);
        let mut source = FlowEndpoint::of_kind(EndpointKind::Pod);
        source.ip = remote.map(|a| a.ip());
        if let Some((ns, sa)) = &peer {
            source.namespace = Some(ns.clone());
            source.service_account = Some(sa.clone());
        }
        let (destination, port) = if let Some(rest) = cluster.strip_prefix("inbound|") {
            if peer.is_some() {
                return Ok(Line::Skipped(
                    "inbound side of a meshed caller (its outbound record counts)",
                ));
            }
            let mut d = FlowEndpoint::of_kind(EndpointKind::Pod);
            d.ip = local.map(|a| a.ip());
            let port = rest
                .split('|')
                .next()
                .and_then(|p| p.parse().ok())
                .or(local.map(|a| a.port()));
            (d, port)
        } else if let Some(rest) = cluster.strip_prefix("outbound|") {
            let mut parts = rest.split('|');
            let port = parts.next().and_then(|p| p.parse::<u16>().ok());
            let host = parts.nth(1).unwrap_or("");
            (
                service_endpoint(host, upstream.map(|a| a.ip())),
                port.or(upstream.map(|a| a.port())),
            )
        } else if matches!(cluster, "PassthroughCluster" | "BlackHoleCluster") {
            let mut d = FlowEndpoint::of_kind(EndpointKind::Outside);
            d.ip = local.map(|a| a.ip());
            d.names = [
                present(&entry.requested_server_name),
                present(&entry.authority).map(host_of),
            ]
            .into_iter()
            .flatten()
            .filter(|n| n.parse::<IpAddr>().is_err())
            .map(str::to_ascii_lowercase)
            .take(1)
            .collect();
            (d, local.map(|a| a.port()))
        } else {
            return Ok(Line::Skipped("not a sidecar's inbound or outbound record"));
        };
        let port = port.ok_or("no destination port in upstream_cluster or the addresses")?;
        let denied = entry
            .response_code_details
            .as_deref()
            .is_some_and(|d| d.starts_with("rbac_access_denied"))
            || cluster == "BlackHoleCluster";
        let would_deny = [&entry.dry_run_allow, &entry.dry_run_deny]
            .iter()
            .any(|r| present(r) == Some("denied"));
        let observed = if denied {
            Observed::Dropped
        } else if would_deny {
            Observed::WouldDrop
        } else {
            Observed::Allowed
        };
        let request = present(&entry.method).map(|m| {
            let path = present(&entry.path)
                .unwrap_or("/")
                .split(['?', '#'])
                .next()
                .unwrap_or("/");
            Request::new(m, path.to_string())
        });
        Ok(Line::Flow(Box::new(FlowRecord {
            time_ms: entry.start_time.as_deref().and_then(parse_time),
            source,
            destination,
            protocol: Protocol::Tcp,
            port,
            observed,
            request,
            dns_query: None,
            count: 1,
        })))
    }
}

/// `spiffe://cluster.local/ns/shop/sa/frontend` → (shop, frontend)
fn spiffe(uri: &str) -> Option<(String, String)> {
    let path = uri.strip_prefix("spiffe://")?.split_once('/')?.1;
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("ns"), Some(ns), Some("sa"), Some(sa)) => Some((ns.to_string(), sa.to_string())),
        _ => None,
    }
}

fn host_of(authority: &str) -> &str {
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// `backend.shop.svc.cluster.local` is a Service; other hosts (ServiceEntry
/// names such as `api.stripe.com`) are outside the cluster
fn service_endpoint(host: &str, ip: Option<IpAddr>) -> FlowEndpoint {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [name, ns, "svc", ..] => {
            let mut d = FlowEndpoint::of_kind(EndpointKind::Pod);
            d.service = Some((*name).to_string());
            d.namespace = Some((*ns).to_string());
            d.ip = ip;
            d
        }
        _ => {
            let mut d = FlowEndpoint::of_kind(EndpointKind::Outside);
            d.ip = ip;
            if !host.is_empty() {
                d.names = vec![host.to_ascii_lowercase()];
            }
            d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids_name_namespace_and_account() {
        assert_eq!(
            spiffe("spiffe://cluster.local/ns/shop/sa/frontend"),
            Some(("shop".into(), "frontend".into()))
        );
        assert_eq!(spiffe("spiffe://cluster.local/other"), None);
    }
}
