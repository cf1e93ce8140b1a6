//! The custom resources: `Intents` (namespaced: the very files users compile
//! offline) and `Project` (cluster-scoped: targets, cluster profile, rollout
//! policy), generated from the intent types with kube's derive and schemars.
//!
//! The intent language accepts a rule as a string or a mapping, and a peer as
//! a string, a mapping or a list; Kubernetes wants structural schemas (one type
//! per field), so such fields are marked `x-kubernetes-preserve-unknown-fields`
//! and the controller validates them with the intents loader, which gives the
//! same `field: error` messages as the CLI.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use palisade_intents::types::{IntentsSpec, ProjectSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The spec of an `Intents` resource: exactly the file's `spec`
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "palisade.dev",
    version = "v1alpha1",
    kind = "Intents",
    plural = "intents",
    namespaced,
    status = "RolloutStatus",
    shortname = "pli",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Since","type":"date","jsonPath":".status.since"}"#
)]
#[serde(transparent)]
pub struct IntentsResourceSpec {
    /// the intents, kept as the API server returns them: the controller reads
    /// them through the intents loader, so a bad resource gets the same
    /// diagnostics as a bad file
    #[schemars(with = "IntentsSpec")]
    pub intents: serde_json::Value,
}

/// How namespaces are promoted from audit to enforce
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutPolicy {
    /// how long a namespace stays in audit with healthy evidence and no
    /// would-drop flow before it is Ready (seconds; default one week, to
    /// cover weekly jobs)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observe_seconds: Option<u64>,
    /// a gap this long in the evidence restarts the window (seconds; default 600)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gap_seconds: Option<u64>,
    /// promote Ready namespaces without the `palisade.dev/approve` annotation
    #[serde(default)]
    pub auto_promote: bool,
}

/// The spec of the `Project` resource: the project file's spec and the rollout policy
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "palisade.dev",
    version = "v1alpha1",
    kind = "Project",
    status = "ProjectStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct ProjectResourceSpec {
    /// targets and cluster profile, as in palisade.yaml (kept as the API
    /// server returns them; read through the intents loader)
    #[serde(flatten)]
    #[schemars(with = "ProjectSpec")]
    pub project: serde_json::Map<String, Value>,
    /// promotion from audit to enforce
    #[serde(default)]
    pub rollout: RolloutPolicy,
}

/// A condition, as Kubernetes conventions write them
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Audited`, `Ready`, `Enforced`, `Blocked`
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False`, `Unknown`
    pub status: String,
    /// a CamelCase reason
    pub reason: String,
    /// for people
    pub message: String,
    /// RFC 3339
    pub last_transition_time: String,
}

/// A flow that enforcement would drop, as the status lists it
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WouldDrop {
    /// `shop/frontend`
    pub source: String,
    /// `shop/backend`
    pub destination: String,
    /// `tcp/8080`
    pub ports: Vec<String>,
    /// connections seen
    pub count: u64,
    /// the allow line that would admit it
    pub intent: String,
}

/// Where an `Intents` resource is in its rollout
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Pending, Auditing, Ready, Enforcing, Blocked
    #[serde(default)]
    pub phase: String,
    /// when the phase began (RFC 3339)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// the spec generation the phase is about
    #[serde(default)]
    pub observed_generation: i64,
    /// the rollout's conditions
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// what enforcement would drop (Blocked)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_drop: Vec<WouldDrop>,
    /// the generation whose enforce manifests are applied
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforced_generation: Option<i64>,
    /// when the current clean evidence window began (RFC 3339)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    /// whether every service has been seen in the evidence
    #[serde(default)]
    pub all_services_seen: bool,
    /// digests of the enforced objects (`Kind/name`), so that a new
    /// generation audits only what changed
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enforced_digests: BTreeMap<String, String>,
}

/// The project's status
#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectStatus {
    /// the project's conditions (e.g. the profile does not compile)
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl Intents {
    /// The resource as an intents file (YAML), for the loader
    pub fn to_file(&self) -> palisade_intents::RawFile {
        let object = serde_json::json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Intents",
            "metadata": {
                "name": self.metadata.name.clone().unwrap_or_default(),
                "namespace": self.metadata.namespace.clone().unwrap_or_default(),
            },
            "spec": self.spec.intents,
        });
        let namespace = self.metadata.namespace.clone().unwrap_or_default();
        let name = self.metadata.name.clone().unwrap_or_default();
        palisade_intents::RawFile {
            path: format!("Intents {namespace}/{name}"),
            bytes: serde_yaml_ng::to_string(&object).unwrap_or_default().into_bytes(),
        }
    }
}

/// Both CustomResourceDefinitions, with structural schemas
pub fn crds() -> Vec<CustomResourceDefinition> {
    [Intents::crd(), Project::crd()].into_iter().map(structural).collect()
}

/// Rewrite each version's schema so the API server accepts it as structural:
/// a node whose alternatives have different types keeps its description and
/// preserves unknown fields instead
fn structural(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    if let Some(versions) = value.pointer_mut("/spec/versions").and_then(Value::as_array_mut) {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                rewrite(schema);
            }
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

fn rewrite(node: &mut Value) {
    let Value::Object(map) = node else { return };
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(alternatives)) = map.remove(key) else {
            continue;
        };
        let (nulls, rest): (Vec<Value>, Vec<Value>) = alternatives.into_iter().partition(|a| {
            a["type"] == "null"
                || a["enum"] == serde_json::json!([null])
                || a["const"].is_null() && a.get("const").is_some()
        });
        let types: std::collections::BTreeSet<String> = rest.iter().map(|a| a["type"].to_string()).collect();
        let all_values = rest.iter().all(|a| a.get("const").is_some() || a.get("enum").is_some());
        if rest.len() == 1 {
            // `Option<T>`: T, nullable
            if let Some(Value::Object(only)) = rest.into_iter().next() {
                for (k, v) in only {
                    map.entry(k).or_insert(v);
                }
            }
        } else if types.len() == 1 && all_values {
            // documented enum variants: one string enum
            let values: Vec<Value> = rest
                .iter()
                .flat_map(|a| {
                    a.get("const")
                        .cloned()
                        .into_iter()
                        .chain(a["enum"].as_array().cloned().unwrap_or_default())
                })
                .collect();
            map.insert("type".into(), rest[0]["type"].clone());
            map.insert("enum".into(), Value::Array(values));
        } else {
            // a string or a mapping (a rule, a peer): the loader checks these
            let description = map.get("description").cloned();
            map.clear();
            map.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
            if let Some(d) = description {
                map.insert("description".into(), d);
            }
            return;
        }
        if !nulls.is_empty() {
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
    if let Some(Value::Array(types)) = map.get("type").cloned() {
        // `type: [string, "null"]`
        let real: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
        if let [only] = real.as_slice() {
            map.insert("type".into(), (*only).clone());
            map.insert("nullable".into(), Value::Bool(true));
        }
    }
    // Not structural: `default: null`, and additionalProperties beside properties.
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
    if map.contains_key("properties") && map.get("additionalProperties") == Some(&Value::Bool(false)) {
        map.remove("additionalProperties");
    }
    for child in map.values_mut() {
        match child {
            Value::Object(_) => rewrite(child),
            Value::Array(items) => items.iter_mut().for_each(rewrite),
            _ => {}
        }
    }
}
