//! kube's in-process mock API server, shared by the controller's tests: every
//! request is recorded (method, path and query, body), and `respond` picks
//! the status and body of each reply from the request line, its body and
//! how many requests came before.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support; each test binary uses part of it"
)]

pub mod reconciling;

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

/// A small in-memory API server for the reconciler: objects of the emitted
/// kinds (get, list by label, server-side apply, delete), the Intents and
/// Projects (list, status), Events. Every request is logged, and so is each
/// write that would weaken what is enforced (see [`Violation`]).
#[derive(Clone, Default)]
pub struct Fake {
    pub state: Arc<Mutex<FakeState>>,
}

/// What the fake holds
#[derive(Clone, Default)]
pub struct FakeState {
    /// objects by path (`/apis/g/v/namespaces/ns/plural/name`)
    pub objects: std::collections::BTreeMap<String, Value>,
    /// the Intents resources
    pub intents: Vec<Value>,
    /// the Project resources
    pub projects: Vec<Value>,
    /// every request: line and body
    pub log: Vec<(String, Value)>,
    /// writes that weakened an enforced object
    pub violations: Vec<String>,
    /// object writes (PATCH, DELETE) still allowed; then 403 ("the controller died")
    pub budget: Option<usize>,
    /// the names a DELETE of an enforced object must find enforced first
    pub replacement: Vec<String>,
}

impl Fake {
    /// A fake with these Intents and Projects
    pub fn new(intents: Vec<Value>, projects: Vec<Value>) -> Self {
        let fake = Fake::default();
        {
            let mut state = fake.state.lock().unwrap();
            state.intents = intents;
            state.projects = projects;
        }
        fake
    }

    /// A client talking to it
    pub fn client(&self) -> Client {
        let state = self.state.clone();
        let (client, _) = mock(move |line, body, _| state.lock().unwrap().answer(line, body));
        client
    }

    /// A copy of the fake (for a restart from the same cluster)
    pub fn fork(&self) -> Fake {
        Fake {
            state: Arc::new(Mutex::new(self.state.lock().unwrap().clone())),
        }
    }

    /// The Intents `name` as the fake holds it (with its status)
    pub fn intents(&self, name: &str) -> Value {
        let state = self.state.lock().unwrap();
        state
            .intents
            .iter()
            .find(|i| i["metadata"]["name"] == name)
            .cloned()
            .unwrap()
    }

    /// The request lines so far
    pub fn lines(&self) -> Vec<String> {
        self.state.lock().unwrap().log.iter().map(|(l, _)| l.clone()).collect()
    }

    /// (path, stage label) of every object held
    pub fn objects(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .unwrap()
            .objects
            .iter()
            .map(|(p, o)| (p.clone(), stage_of(o)))
            .collect()
    }
}

/// The `palisade.dev/stage` label of an object
pub fn stage_of(object: &Value) -> String {
    object["metadata"]["labels"]["palisade.dev/stage"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn list(items: Vec<Value>) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
}

impl FakeState {
    fn answer(&mut self, line: &str, body: &Value) -> (u16, Value) {
        self.log.push((line.to_string(), body.clone()));
        let (method, rest) = line.split_once(' ').unwrap();
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let query = decode(query);
        if path.contains("/events") {
            return (201, body.clone());
        }
        if path == "/apis/palisade.dev/v1alpha1/projects" {
            return (200, list(self.projects.clone()));
        }
        if path == "/apis/palisade.dev/v1alpha1/intents" {
            return (200, list(self.intents.clone()));
        }
        if path.starts_with("/apis/palisade.dev/") {
            // PATCH .../namespaces/ns/intents/name[/status]
            let parts: Vec<&str> = path.split('/').collect();
            let name = parts[7];
            let Some(intents) = self.intents.iter_mut().find(|i| i["metadata"]["name"] == name) else {
                return (404, status(404, "NotFound"));
            };
            if method == "PATCH" && path.ends_with("/status") {
                intents["status"] = body["status"].clone();
            }
            return (200, intents.clone());
        }
        let writes = method == "PATCH" || method == "DELETE";
        if writes {
            if let Some(budget) = self.budget.as_mut() {
                if *budget == 0 {
                    return (403, status(403, "Forbidden"));
                }
                *budget -= 1;
            }
        }
        let parts: Vec<&str> = path.split('/').collect();
        // /apis/g/v/namespaces/ns/plural[/name]
        if parts.len() == 7 && method == "GET" {
            let wanted: Vec<(String, String)> = query
                .split('&')
                .filter_map(|p| p.strip_prefix("labelSelector="))
                .flat_map(|s| s.split(','))
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let items = self
                .objects
                .iter()
                .filter(|(p, _)| p.rsplit_once('/').map(|(dir, _)| dir) == Some(path))
                .filter(|(_, o)| {
                    wanted
                        .iter()
                        .all(|(k, v)| o["metadata"]["labels"][k.as_str()] == v.as_str())
                })
                .map(|(_, o)| o.clone())
                .collect();
            return (200, list(items));
        }
        match method {
            "GET" => match self.objects.get(path) {
                Some(o) => (200, o.clone()),
                None => (404, status(404, "NotFound")),
            },
            "PATCH" => {
                let force = query.contains("force=true");
                let manager = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("fieldManager="))
                    .unwrap_or("")
                    .to_string();
                let mut object = body.clone();
                let mut managers = vec![serde_json::json!({"manager": manager, "operation": "Apply"})];
                if let Some(existing) = self.objects.get(path) {
                    let theirs: Vec<Value> = existing["metadata"]["managedFields"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    if !force && !theirs.iter().any(|m| m["manager"] == manager.as_str()) {
                        return (409, status(409, "Conflict"));
                    }
                    if stage_of(existing) == "enforce" && stage_of(body) == "audit" {
                        self.violations
                            .push(format!("an audit form was applied over the enforced {path}"));
                    }
                    managers = theirs;
                    if !managers.iter().any(|m| m["manager"] == manager.as_str()) {
                        managers.push(serde_json::json!({"manager": manager, "operation": "Apply"}));
                    }
                }
                object["metadata"]["managedFields"] = Value::Array(managers);
                self.objects.insert(path.to_string(), object.clone());
                (200, object)
            }
            "DELETE" => match self.objects.get(path).cloned() {
                Some(o) => {
                    if stage_of(&o) == "enforce" {
                        let enforced: Vec<String> = self
                            .objects
                            .iter()
                            .filter(|(_, o)| stage_of(o) == "enforce")
                            .map(|(p, _)| p.clone())
                            .collect();
                        let missing: Vec<&String> = self.replacement.iter().filter(|r| !enforced.contains(r)).collect();
                        if !missing.is_empty() {
                            self.violations.push(format!(
                                "the enforced {path} was deleted before {missing:?} were enforced"
                            ));
                        }
                    }
                    self.objects.remove(path);
                    (200, status(200, "Success"))
                }
                None => (404, status(404, "NotFound")),
            },
            _ => (405, status(405, "MethodNotAllowed")),
        }
    }
}
