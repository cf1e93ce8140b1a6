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
    /// digests of the enforced objects (`apiVersion/Kind/name`, source
    /// lines left out), so that a new generation enforcing the same objects
    /// needs no new audit
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

/// A resource without a field the controller cannot do without: an Intents
/// without a namespace is an error, never the namespace `""`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {kind} resource has no metadata.{field}")]
pub struct Incomplete {
    /// `Intents` or `Project`
    pub kind: &'static str,
    /// `name`, `namespace`, `uid`
    pub field: &'static str,
}

fn required<'a>(value: Option<&'a String>, kind: &'static str, field: &'static str) -> Result<&'a str, Incomplete> {
    value
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(Incomplete { kind, field })
}

impl Intents {
    /// metadata.namespace
    pub fn namespace_required(&self) -> Result<&str, Incomplete> {
        required(self.metadata.namespace.as_ref(), "Intents", "namespace")
    }

    /// metadata.name
    pub fn name_required(&self) -> Result<&str, Incomplete> {
        required(self.metadata.name.as_ref(), "Intents", "name")
    }

    /// metadata.uid: what proves an object is this resource's
    pub fn uid_required(&self) -> Result<&str, Incomplete> {
        required(self.metadata.uid.as_ref(), "Intents", "uid")
    }

    /// The resource as an intents file (YAML), for the loader
    pub fn to_file(&self) -> Result<palisade_intents::RawFile, Incomplete> {
        let namespace = self.namespace_required()?;
        let name = self.name_required()?;
        let object = serde_json::json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Intents",
            "metadata": { "name": name, "namespace": namespace },
            "spec": self.spec.intents,
        });
        Ok(palisade_intents::RawFile {
            path: format!("Intents {namespace}/{name}"),
            // the safe writer: a label value `on` written plain would come
            // back from a YAML 1.1 reading as a boolean
            bytes: palisade_targets::manifest::value_to_yaml(&object).into_bytes(),
        })
    }
}

impl Project {
    /// The resource as a project file (YAML), for the loader
    pub fn to_file(&self) -> Result<palisade_intents::RawFile, Incomplete> {
        let name = required(self.metadata.name.as_ref(), "Project", "name")?;
        let document = serde_json::json!({
            "apiVersion": "palisade.dev/v1alpha1",
            "kind": "Project",
            "metadata": { "name": name },
            "spec": self.spec.project,
        });
        Ok(palisade_intents::RawFile {
            path: format!("Project {name}"),
            bytes: palisade_targets::manifest::value_to_yaml(&document).into_bytes(),
        })
    }
}

/// Both CustomResourceDefinitions, with structural schemas
pub fn crds() -> Vec<CustomResourceDefinition> {
    [Intents::crd(), Project::crd()].into_iter().map(structural).collect()
}

/// Both CustomResourceDefinitions as one YAML stream (`---` between them),
/// by palisade's YAML writer: a description or enum value such as `on` or
/// `1_000` stays a string for kubectl's YAML 1.1 reading
pub fn crds_yaml() -> Result<String, serde_json::Error> {
    let mut docs = Vec::new();
    for crd in crds() {
        docs.push(palisade_targets::manifest::value_to_yaml(&serde_json::to_value(&crd)?));
    }
    Ok(docs.join("---\n"))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

    use super::*;
    use serde_json::json;

    /// Lines where a YAML 1.1 reader (kubectl's go-yaml v2, PyYAML) resolves
    /// a plain scalar to a boolean or a number (yaml.org/type/bool.html,
    /// int.html: `yes`, `on`, `off`, `no`, `1_000`)
    fn misread(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|line| {
                let value = line.trim_start().trim_start_matches("- ");
                let value = value.rsplit_once(": ").map_or(value, |(_, v)| v);
                ["yes", "on", "off", "no", "1_000"].contains(&value)
            })
            .collect()
    }

    fn intents(spec: Value) -> Intents {
        let mut intents = Intents::new("shop", IntentsResourceSpec { intents: spec });
        intents.metadata.namespace = Some("shop".into());
        intents
    }

    #[test]
    fn resources_are_handed_to_the_loader_with_ambiguous_strings_quoted() {
        let resource = intents(json!({
            "services": {
                "frontend": {"selector": {"app": "frontend", "canary": "on"}},
                "backend": {"selector": {"app": "backend", "tier": "1_000", "legacy": "yes"}}
            },
            "allow": ["frontend -> backend tcp/8080"]
        }));
        let file = resource.to_file().unwrap();
        let text = String::from_utf8(file.bytes.clone()).unwrap();
        assert_eq!(misread(&text), Vec::<&str>::new(), "{text}");
        assert!(
            text.contains("canary: 'on'\n") && text.contains("tier: '1_000'\n"),
            "{text}"
        );
        // and serde_yaml_ng, which wrote it before, leaves them plain
        let before = serde_yaml_ng::to_string(&json!({"canary": "on", "tier": "1_000"})).unwrap();
        assert_eq!(misread(&before).len(), 2, "{before}");

        let project = Project::new(
            "on",
            ProjectResourceSpec {
                project: json!({"targets": ["kubernetes"]}).as_object().cloned().unwrap(),
                rollout: RolloutPolicy::default(),
            },
        );
        let project_file = project.to_file().unwrap();
        let project_text = String::from_utf8(project_file.bytes.clone()).unwrap();
        assert!(project_text.contains("name: 'on'\n"), "{project_text}");
        assert_eq!(misread(&project_text), Vec::<&str>::new(), "{project_text}");

        // The loader reads them back as the strings the resource holds.
        let repository = palisade_intents::load_files(vec![file, project_file])
            .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.render_plain()).collect::<String>()));
        let (ir, _) = palisade_compiler::compile(&repository)
            .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| d.render_plain()).collect::<String>()));
        let selector = |service: &str| ir.namespaces["shop"].services[service].selector.clone();
        assert_eq!(selector("frontend").get("canary").map(String::as_str), Some("on"));
        assert_eq!(selector("backend").get("tier").map(String::as_str), Some("1_000"));
        assert_eq!(selector("backend").get("legacy").map(String::as_str), Some("yes"));
    }

    #[test]
    fn the_crd_stream_is_written_by_the_safe_writer_and_reads_back() {
        let stream = crds_yaml().unwrap();
        assert_eq!(misread(&stream), Vec::<&str>::new(), "{stream}");
        let documents: Vec<Value> = stream
            .split("---\n")
            .map(|d| serde_yaml_ng::from_str(d).unwrap())
            .collect();
        let expected: Vec<Value> = crds().iter().map(|c| serde_json::to_value(c).unwrap()).collect();
        assert_eq!(documents, expected);
        assert_eq!(documents.len(), 2);
    }
}
