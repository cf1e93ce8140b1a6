//! A fake Hubble Relay, shared by the tests that follow one: it serves
//! `observer.Observer/GetFlows` over real HTTP/2 on 127.0.0.1 with the same
//! protobuf messages, answering each call with the next script and ending
//! the stream, except after the last script: that stream stays open.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support; each test binary uses part of it"
)]

use futures::{stream, Stream, StreamExt};
use palisade_controller::relay::{
    proto::{
        get_flows_response::Response, layer4::Protocol, layer7::Record, Endpoint, Flow, GetFlowsRequest,
        GetFlowsResponse, Http, Ip, Layer4, Layer7, LostEvent, Ports,
    },
    Timestamp,
};
use std::{
    collections::VecDeque,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex as StdMutex},
    task::{Context, Poll},
};
use tonic::{body::Body, codegen::Service, server::ServerStreamingService, Status};

type FlowStream = Pin<Box<dyn Stream<Item = Result<GetFlowsResponse, Status>> + Send>>;

/// A relay that answers each GetFlows call with the next script and ends the
/// stream, except after the last script: that stream stays open
#[derive(Clone, Default)]
pub struct FakeRelay {
    pub scripts: Arc<StdMutex<VecDeque<Vec<GetFlowsResponse>>>>,
    pub requests: Arc<StdMutex<Vec<(String, GetFlowsRequest)>>>,
}

impl Service<http::Request<Body>> for FakeRelay {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let relay = self.clone();
        let path = request.uri().path().to_string();
        Box::pin(async move {
            relay.requests.lock().unwrap().push((path, GetFlowsRequest::default()));
            let codec = tonic_prost::ProstCodec::<GetFlowsResponse, GetFlowsRequest>::default();
            Ok(tonic::server::Grpc::new(codec).server_streaming(relay, request).await)
        })
    }
}

impl ServerStreamingService<GetFlowsRequest> for FakeRelay {
    type Response = GetFlowsResponse;
    type ResponseStream = FlowStream;
    type Future = std::future::Ready<Result<tonic::Response<FlowStream>, Status>>;

    fn call(&mut self, request: tonic::Request<GetFlowsRequest>) -> Self::Future {
        if let Some(last) = self.requests.lock().unwrap().last_mut() {
            last.1 = request.into_inner();
        }
        let mut scripts = self.scripts.lock().unwrap();
        let script = stream::iter(scripts.pop_front().unwrap_or_default().into_iter().map(Ok));
        let flows: FlowStream = if scripts.is_empty() {
            Box::pin(script.chain(stream::pending()))
        } else {
            Box::pin(script)
        };
        std::future::ready(Ok(tonic::Response::new(flows)))
    }
}

pub fn endpoint(namespace: &str, app: &str) -> Endpoint {
    Endpoint {
        namespace: namespace.into(),
        labels: vec![
            format!("k8s:app={app}"),
            format!("k8s:io.kubernetes.pod.namespace={namespace}"),
        ],
        pod_name: format!("{app}-1"),
        workloads: Vec::new(),
    }
}

pub fn flow(seconds: i64, from: &str, to: &str, port: u32, verdict: i32, is_reply: Option<bool>) -> GetFlowsResponse {
    GetFlowsResponse {
        response: Some(Response::Flow(Box::new(Flow {
            time: Some(Timestamp {
                seconds,
                nanos: 500_000_000,
            }),
            verdict,
            ip: Some(Ip {
                source: "10.0.0.1".into(),
                destination: "10.0.0.2".into(),
            }),
            l4: Some(Layer4 {
                protocol: Some(Protocol::Tcp(Ports {
                    source_port: 40000,
                    destination_port: port,
                })),
            }),
            source: Some(endpoint("shop", from)),
            destination: Some(endpoint("shop", to)),
            is_reply,
            traffic_direction: 1,
            drop_reason_desc: if verdict == 2 { 133 } else { 0 },
            ..Default::default()
        }))),
        node_name: "node-1".into(),
        time: None,
    }
}

/// An L7 HTTP record from the frontend to the backend (`kind` 1 request, 2 response)
pub fn http(seconds: i64, method: &str, url: &str, kind: i32) -> GetFlowsResponse {
    let mut response = flow(seconds, "frontend", "backend", 8080, 1, Some(kind == 2));
    if let Some(Response::Flow(flow)) = &mut response.response {
        flow.l7 = Some(Layer7 {
            r#type: kind,
            record: Some(Record::Http(Http {
                method: method.into(),
                url: url.into(),
            })),
        });
    }
    response
}

pub fn lost(n: u64) -> GetFlowsResponse {
    GetFlowsResponse {
        response: Some(Response::LostEvents(LostEvent {
            source: 3,
            num_events_lost: n,
        })),
        ..Default::default()
    }
}

/// The server's task
pub type Serving = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

/// Serve `relay` on a free port of 127.0.0.1; its address, and the server's task
pub async fn serve(relay: &FakeRelay) -> (String, Serving) {
    serve_at(relay, "127.0.0.1:0").await
}

/// Serve `relay` at `address` (a relay restarted where it was)
pub async fn serve_at(relay: &FakeRelay, address: &str) -> (String, Serving) {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .serve_with_incoming(relay.clone(), tonic::transport::server::TcpIncoming::from(listener)),
    );
    (address, server)
}
