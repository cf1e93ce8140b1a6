//! kube's in-process mock API server, shared by the controller's tests: every
//! request is recorded (method, path and query, body), and `respond` picks
//! the status and body of each reply from the request line, its body and
//! how many requests came before.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support; each test binary uses part of it"
)]

use http::{Request, Response};
use kube::{client::Body, Client};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// What the mock saw: one (request line, body) per request
pub type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// A client whose requests `respond` answers
pub fn mock(respond: impl Fn(&str, &Value, usize) -> (u16, Value) + Send + 'static) -> (Client, Seen) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let mut count = 0;
        while let Some((request, send)) = handle.next_request().await {
            let line = format!(
                "{} {}",
                request.method(),
                request
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes)
                .or_else(|_| serde_yaml_ng::from_slice(&bytes))
                .unwrap_or(Value::Null);
            let (status, reply) = respond(&line, &body, count);
            count += 1;
            record.lock().unwrap().push((line, body));
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap(),
            );
        }
    });
    (Client::new(service, "default"), seen)
}

/// The request lines, in order
pub fn lines(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().iter().map(|(l, _)| l.clone()).collect()
}

/// A Kubernetes `Status` failure body
pub fn status(code: u16, reason: &str) -> Value {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": reason, "reason": reason, "code": code})
}
