//! kubernetes: native NetworkPolicy (networking.k8s.io/v1), enforced by every
//! CNI but Flannel. No FQDN rules (only through the egress gateway), no L7, no
//! audit mode. The API server's admission (field types, defaulting of
//! `policyTypes`) lives here, shared by the evaluator, import and lint.
//! ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) is read and
//! evaluated beside it (`cluster`), and emitted for `kind: Guardrails`
//! (`cluster_emit`).

mod cluster;
mod cluster_admission;
pub(crate) mod cluster_emit;
mod cluster_problems;
mod cluster_spec;
#[cfg(test)]
mod cluster_tests;
mod emit;
mod evaluate;
pub(crate) mod import;
mod lint;
pub mod selector;
mod symbolic;

use crate::{
    capabilities::{Capabilities, FqdnSupport},
    Dialect, EmitOptions, Evaluator, Manifest,
};
use k8s_openapi::api::networking::v1::NetworkPolicySpec;
use palisade_compiler::ir::Ir;
use palisade_intents::Diags;
use serde_json::Value;

/// The directions a policy isolates, after the API server's defaulting
/// (pkg/apis/networking/v1/defaults.go, `SetDefaults_NetworkPolicy`): an
/// absent or empty `policyTypes` becomes `[Ingress]`, plus `Egress` when the
/// spec has at least one egress rule (`len(spec.Egress) != 0`: `egress: []`
/// adds nothing). Returns (ingress, egress).
pub(crate) fn policy_types(spec: &NetworkPolicySpec) -> (bool, bool) {
    match spec.policy_types.as_deref() {
        None | Some([]) => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
    }
}

/// The spec as the API server stores it: a policy without `spec` is the
/// empty spec (every pod of the namespace, ingress isolated)
pub(crate) fn spec_of(object: &Value) -> Option<NetworkPolicySpec> {
    match object.get("spec") {
        None | Some(Value::Null) => Some(NetworkPolicySpec::default()),
        Some(spec) => serde_json::from_value(spec.clone()).ok(),
    }
}

/// The namespace a policy lives in: kubectl applies one without
/// `metadata.namespace` to the context's namespace (`default` here; the CLI
/// readers fill in `--namespace` before this is asked)
pub(crate) fn namespace_of(manifest: &Manifest) -> &str {
    match manifest.namespace() {
        "" => "default",
        ns => ns,
    }
}

/// The native NetworkPolicy dialect
pub struct Kubernetes;

impl Dialect for Kubernetes {
    fn id(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            overlay: false,
            fqdn: FqdnSupport::ViaGatewayOnly,
            l7_http: false,
            l7_egress: false,
            cidr_except: true,
            named_ports: true,
            port_ranges: true,
            audit: "nothing (the API has no audit mode)",
        }
    }

    fn emit(&self, ir: &Ir, options: &EmitOptions) -> Result<Vec<Manifest>, Diags> {
        // ipBlocks match pod addresses on most CNIs: a CIDR that resolution
        // could not cut down to the outside of the cluster is refused.
        let refusals = ir.cidrs_without_cluster_ranges("NetworkPolicy");
        if !refusals.is_empty() {
            let mut diags = Diags::new();
            refusals.into_iter().for_each(|d| diags.push(d));
            return Err(diags);
        }
        let mut manifests = emit::emit(ir, options.mode)?;
        manifests.extend(cluster_emit::emit(ir, options.mode)?);
        Ok(manifests)
    }

    /// Guardrails are ClusterNetworkPolicies of the Admin and Baseline tiers
    fn guardrails(&self) -> bool {
        true
    }

    fn evaluator<'m>(&self, manifests: &'m [Manifest]) -> Box<dyn Evaluator + 'm> {
        Box::new(evaluate::Policies::read(manifests))
    }

    fn reads(&self, manifest: &Manifest) -> bool {
        (manifest.api_version() == "networking.k8s.io/v1" && manifest.kind() == "NetworkPolicy")
            || cluster::is_cluster_policy(manifest)
    }

    fn admission(&self, manifest: &Manifest) -> Vec<crate::Problem> {
        let problems = if cluster::is_cluster_policy(manifest) {
            cluster_admission::validate(&manifest.object)
        } else {
            validate(&manifest.object)
        };
        problems
            .into_iter()
            .map(|p| crate::Problem {
                manifest: 0,
                pointer: p.pointer,
                message: p.message,
                help: p.help,
            })
            .collect()
    }

    fn kinds(&self) -> &'static [crate::Kind] {
        &[
            crate::Kind {
                group: "networking.k8s.io",
                version: "v1",
                kind: "NetworkPolicy",
                plural: "networkpolicies",
                namespaced: true,
            },
            crate::Kind {
                group: "policy.networking.k8s.io",
                version: "v1alpha2",
                kind: "ClusterNetworkPolicy",
                plural: "clusternetworkpolicies",
                namespaced: false,
            },
        ]
    }

    /// Every CNI palisade accepts enforces NetworkPolicy (Flannel, which does
    /// not, is refused in the profile)
    fn enforced_on(&self, _cni: palisade_compiler::profile::Cni) -> bool {
        true
    }

    /// A policy with no ingress and no egress rules only isolates; a
    /// ClusterNetworkPolicy whose rules all deny only takes away (an Accept
    /// or a Pass may stand before a later Deny)
    fn restricts_only(&self, manifest: &Manifest) -> bool {
        if cluster::is_cluster_policy(manifest) {
            return ["ingress", "egress"].iter().all(|key| {
                manifest
                    .object
                    .pointer(&format!("/spec/{key}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .all(|rule| rule.get("action").and_then(Value::as_str) == Some("Deny"))
            });
        }
        crate::kinds::no_rules(manifest, &["ingress", "egress"])
    }

    /// What its evaluator cannot evaluate exactly in the ClusterNetworkPolicies
    fn problems(&self, manifests: &[Manifest]) -> Vec<crate::Problem> {
        cluster::read(manifests).problems
    }

    fn lint(
        &self,
        manifests: &[Manifest],
        cluster: Option<&palisade_compiler::model::ClusterModel>,
    ) -> Vec<crate::lint::Finding> {
        lint::lint(manifests, cluster)
    }

    fn import(&self, manifests: &[Manifest], context: &crate::import::Context) -> Option<crate::import::Imported> {
        Some(import::import(manifests, context))
    }
}

/// A field the API server would refuse, as a JSON pointer into the object
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// where (`/spec/policyTypes`)
    pub pointer: String,
    /// what is wrong
    pub message: String,
    /// what to write instead
    pub help: String,
}

impl Problem {
    fn new(pointer: impl Into<String>, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The fields of a NetworkPolicy that the API server would refuse: wrong
/// types, unknown fields (kubectl validates strictly), values outside the
/// enums, peers and ports that its validation rejects
/// (pkg/apis/networking/validation). An empty list: it would be admitted.
pub fn validate(object: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let spec = match object.get("spec") {
        None | Some(Value::Null) => return out,
        Some(spec) => spec,
    };
    let Some(fields) = as_object(spec, "/spec", "a mapping", &mut out) else {
        return out;
    };
    for (key, value) in fields {
        let at = format!("/spec/{key}");
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "podSelector" => selector::validate(value, &at, &mut out),
            "policyTypes" => {
                for (i, t) in list(value, &at, "a list, e.g. `[Ingress, Egress]`", &mut out)
                    .iter()
                    .enumerate()
                {
                    if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
                        out.push(Problem::new(
                            format!("{at}/{i}"),
                            format!("`{}` is not a policy type", text(t)),
                            "write `Ingress` or `Egress`",
                        ));
                    }
                }
            }
            "ingress" | "egress" => {
                let peers = if key == "ingress" { "from" } else { "to" };
                for (i, rule) in list(value, &at, "a list of rules", &mut out).iter().enumerate() {
                    rule_fields(rule, &format!("{at}/{i}"), peers, &mut out);
                }
            }
            other => out.push(unknown(
                &at,
                other,
                &["podSelector", "policyTypes", "ingress", "egress"],
            )),
        }
    }
    out
}

fn rule_fields(rule: &Value, at: &str, peers: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(rule, at, "a mapping", out) else {
        return;
    };
    for (key, value) in fields {
        let here = format!("{at}/{key}");
        if value.is_null() {
            continue;
        }
        if key == peers {
            for (i, peer) in list(value, &here, "a list of peers", out).iter().enumerate() {
                peer_fields(peer, &format!("{here}/{i}"), out);
            }
        } else if key == "ports" {
            for (i, port) in list(value, &here, "a list of ports", out).iter().enumerate() {
                port_fields(port, &format!("{here}/{i}"), out);
            }
        } else {
            out.push(unknown(&here, key, &[peers, "ports"]));
        }
    }
}

fn peer_fields(peer: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(peer, at, "a mapping", out) else {
        return;
    };
    let present: Vec<&str> = fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.as_str())
        .collect();
    for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "podSelector" | "namespaceSelector" => selector::validate(value, &here, out),
            "ipBlock" => ip_block(value, &here, out),
            other => out.push(unknown(&here, other, &["podSelector", "namespaceSelector", "ipBlock"])),
        }
    }
    if present.is_empty() {
        out.push(Problem::new(
            at,
            "a peer needs `podSelector`, `namespaceSelector` or `ipBlock`",
            "to admit every peer, leave out the whole `from`/`to` list",
        ));
    } else if present.contains(&"ipBlock") && present.len() > 1 {
        out.push(Problem::new(
            format!("{at}/ipBlock"),
            "`ipBlock` cannot be combined with a selector in one peer",
            "put the ipBlock in a list item of its own",
        ));
    }
}

fn ip_block(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a mapping", out) else {
        return;
    };
    let cidr = match fields.get("cidr") {
        Some(Value::String(c)) => match c.parse::<ipnet::IpNet>() {
            Ok(net) => Some(net),
            Err(_) => {
                out.push(Problem::new(
                    format!("{at}/cidr"),
                    format!("`{c}` is not a CIDR"),
                    "write an address block such as `10.0.0.0/8`",
                ));
                None
            }
        },
        Some(other) => {
            out.push(wrong_type(
                &format!("{at}/cidr"),
                other,
                "a string such as `10.0.0.0/8`",
            ));
            None
        }
        None => {
            out.push(Problem::new(at, "an ipBlock needs `cidr`", "add `cidr: <block>`"));
            None
        }
    };
    for (key, v) in fields.iter().filter(|(k, v)| k.as_str() != "cidr" && !v.is_null()) {
        let here = format!("{at}/{key}");
        if key != "except" {
            out.push(unknown(&here, key, &["cidr", "except"]));
            continue;
        }
        for (i, e) in list(v, &here, "a list of CIDRs", out).iter().enumerate() {
            let item = format!("{here}/{i}");
            match e.as_str().map(|t| (t, t.parse::<ipnet::IpNet>())) {
                Some((_, Ok(net))) => {
                    // Validation requires each except to be a strict subset of cidr.
                    if cidr.is_some_and(|c| !c.contains(&net) || net.prefix_len() <= c.prefix_len()) {
                        out.push(Problem::new(
                            item,
                            format!("`{net}` is not inside `cidr`"),
                            "except only blocks that the cidr contains",
                        ));
                    }
                }
                Some((t, Err(_))) => out.push(Problem::new(
                    item,
                    format!("`{t}` is not a CIDR"),
                    "write a block such as `10.1.0.0/16`",
                )),
                None => out.push(wrong_type(&item, e, "a string such as `10.1.0.0/16`")),
            }
        }
    }
}

fn port_fields(port: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(port, at, "a mapping", out) else {
        return;
    };
    for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let here = format!("{at}/{key}");
        match (key.as_str(), value) {
            ("protocol", Value::String(p)) if matches!(p.as_str(), "TCP" | "UDP" | "SCTP") => {}
            ("protocol", other) => out.push(Problem::new(
                here,
                format!("`{}` is not a protocol", text(other)),
                "write `TCP`, `UDP` or `SCTP`",
            )),
            ("port", Value::Number(n)) if n.as_u64().is_some_and(|n| (1..=65535).contains(&n)) => {}
            ("port", Value::String(name)) if !name.is_empty() && name.parse::<u64>().is_err() => {}
            ("port", other) => out.push(Problem::new(
                here,
                format!("`{}` is not a port", text(other)),
                "write a number from 1 to 65535 or the name of a container port",
            )),
            ("endPort", Value::Number(n)) => {
                let start = fields.get("port").and_then(Value::as_u64);
                match (n.as_u64(), start) {
                    (Some(end), Some(start)) if (start..=65535).contains(&end) => {}
                    (_, None) => out.push(Problem::new(
                        here,
                        "`endPort` needs a numbered `port`",
                        "write `port: <first>` beside it",
                    )),
                    _ => out.push(Problem::new(
                        here,
                        format!("`{n}` is not a port at or above `port`"),
                        "write the last port of the range",
                    )),
                }
            }
            ("endPort", other) => out.push(wrong_type(&here, other, "a number")),
            (other, _) => out.push(unknown(&here, other, &["protocol", "port", "endPort"])),
        }
    }
}

fn as_object<'v>(
    value: &'v Value,
    at: &str,
    expected: &str,
    out: &mut Vec<Problem>,
) -> Option<&'v serde_json::Map<String, Value>> {
    let object = value.as_object();
    if object.is_none() {
        out.push(wrong_type(at, value, expected));
    }
    object
}

fn list<'v>(value: &'v Value, at: &str, expected: &str, out: &mut Vec<Problem>) -> &'v [Value] {
    match value {
        Value::Array(items) => items,
        other => {
            out.push(wrong_type(at, other, expected));
            &[]
        }
    }
}

pub(crate) fn wrong_type(at: &str, value: &Value, expected: &str) -> Problem {
    let field = at.rsplit('/').next().unwrap_or(at);
    Problem::new(
        at,
        format!("`{field}` must be {expected}, not {}", kind_of(value)),
        format!("write {expected}"),
    )
}

fn unknown(at: &str, key: &str, known: &[&str]) -> Problem {
    let help = palisade_intents::diag::did_you_mean(key, known.iter().copied()).unwrap_or_else(|| {
        format!(
            "the fields here are {}",
            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        )
    });
    Problem::new(at, format!("unknown field `{key}`"), help)
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(spec: Value) -> Vec<String> {
        validate(&json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": spec }))
            .into_iter()
            .map(|p| p.pointer)
            .collect()
    }

    #[test]
    fn what_the_api_server_refuses_is_named_by_its_pointer() {
        assert!(pointers(json!({ "podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [{ "to": [{ "ipBlock": { "cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"] } }], "ports": [{ "port": 80, "endPort": 90 }, { "port": "http", "protocol": "UDP" }] }] })).is_empty());
        assert_eq!(pointers(json!({ "policyTypes": "Ingress" })), ["/spec/policyTypes"]);
        assert_eq!(pointers(json!({ "policyTypes": ["ingress"] })), ["/spec/policyTypes/0"]);
        assert_eq!(pointers(json!({ "policyType": ["Egress"] })), ["/spec/policyType"]);
        assert_eq!(
            pointers(json!({ "ingress": [{ "from": { "podSelector": {} } }] })),
            ["/spec/ingress/0/from"]
        );
        assert_eq!(pointers(json!({ "egress": [{ "to": [{}] }] })), ["/spec/egress/0/to/0"]);
        assert_eq!(
            pointers(json!({ "egress": [{ "to": [{ "ipBlock": { "cidr": "10.0.0.0/8" }, "podSelector": {} }] }] })),
            ["/spec/egress/0/to/0/ipBlock"]
        );
        assert_eq!(
            pointers(
                json!({ "egress": [{ "to": [{ "ipBlock": { "cidr": "10.0.0.0/8", "except": ["11.0.0.0/8"] } }] }] })
            ),
            ["/spec/egress/0/to/0/ipBlock/except/0"]
        );
        assert_eq!(
            pointers(
                json!({ "ingress": [{ "ports": [{ "port": 80, "protocol": "tcp" }, { "port": 0 }, { "endPort": 90 }] }] })
            ),
            [
                "/spec/ingress/0/ports/0/protocol",
                "/spec/ingress/0/ports/1/port",
                "/spec/ingress/0/ports/2/endPort"
            ]
        );
        assert_eq!(
            pointers(
                json!({ "podSelector": { "matchLabels": { "a": 1 }, "matchExpressions": [{ "key": "k", "operator": "In" }] } })
            ),
            [
                "/spec/podSelector/matchExpressions/0/operator",
                "/spec/podSelector/matchLabels/a"
            ]
        );
    }

    #[test]
    fn policy_types_are_defaulted_as_the_api_server_does() {
        let spec = |v: Value| serde_json::from_value::<NetworkPolicySpec>(v).unwrap_or_default();
        assert_eq!(policy_types(&spec(json!({}))), (true, false));
        assert_eq!(policy_types(&spec(json!({ "egress": [] }))), (true, false));
        assert_eq!(policy_types(&spec(json!({ "egress": [{}] }))), (true, true));
        assert_eq!(
            policy_types(&spec(json!({ "policyTypes": [], "egress": [{}] }))),
            (true, true)
        );
        assert_eq!(policy_types(&spec(json!({ "policyTypes": ["Egress"] }))), (false, true));
        assert_eq!(
            spec_of(&json!({ "kind": "NetworkPolicy" })).map(|s| policy_types(&s)),
            Some((true, false))
        );
    }
}
