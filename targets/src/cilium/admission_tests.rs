//! Cilium's admission rules on hand-written policies (a verdict table whose
//! rows cite the Cilium function that decides them), and on every
//! CiliumNetworkPolicy palisade renders for the examples and for generated
//! intents.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use super::{policy, refusals, MAX_PORTS};
use crate::{EmitOptions, Manifest, Mode};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};

fn egress(rule: Value) -> Value {
    policy(json!({ "endpointSelector": { "matchLabels": { "app": "a" } }, "egress": [rule] }))
}

fn ingress(rule: Value) -> Value {
    policy(json!({ "endpointSelector": { "matchLabels": { "app": "a" } }, "ingress": [rule] }))
}

fn kube_dns() -> Value {
    json!([{ "matchLabels": { "k8s:io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns" } }])
}

fn ports(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "port": (1000 + i).to_string(), "protocol": "TCP" }))
        .collect()
}

/// (what, policy, the refusal's message prefix or None when Cilium admits it)
fn table() -> Vec<(&'static str, Value, Option<&'static str>)> {
    let http = json!({ "http": [{ "method": "GET", "path": "/a" }] });
    vec![
        // PortRule.sanitize: "L7 rules can only apply to TCP (not %s) except for DNS rules"
        (
            "HTTP rules with a UDP port in one entry (the issue's reproduction)",
            egress(
                json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "8080", "protocol": "TCP" }, { "port": "8080", "protocol": "UDP" }], "rules": http }] }),
            ),
            Some("L7 rules can only apply to TCP (not UDP)"),
        ),
        (
            "HTTP rules on a port without protocol (ParseL4Proto: ANY)",
            ingress(json!({ "fromEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "80" }], "rules": http }] })),
            Some("L7 rules can only apply to TCP (not ANY)"),
        ),
        (
            "HTTP rules on TCP ports, UDP in an entry of its own",
            egress(
                json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "8080", "protocol": "TCP" }], "rules": http }, { "ports": [{ "port": "8080", "protocol": "UDP" }] }] }),
            ),
            None,
        ),
        (
            "DNS rules on UDP and TCP 53",
            egress(
                json!({ "toEndpoints": kube_dns(), "toPorts": [{ "ports": [{ "port": "53", "protocol": "UDP" }, { "port": "53", "protocol": "TCP" }], "rules": { "dns": [{ "matchPattern": "*" }] } }] }),
            ),
            None,
        ),
        // PortProtocol.sanitize: "DNS rules do not support port ranges"
        (
            "DNS rules on a port range",
            egress(
                json!({ "toEndpoints": kube_dns(), "toPorts": [{ "ports": [{ "port": "53", "endPort": 54, "protocol": "UDP" }], "rules": { "dns": [{ "matchPattern": "*" }] } }] }),
            ),
            Some("DNS rules do not support port ranges"),
        ),
        // L7Rules.sanitize: "Port 53 must be specified for DNS rules"
        (
            "DNS rules without ports",
            egress(
                json!({ "toEndpoints": kube_dns(), "toPorts": [{ "rules": { "dns": [{ "matchPattern": "*" }] } }] }),
            ),
            Some("Port 53 must be specified for DNS rules"),
        ),
        // IngressRule.sanitize: DNS is not an ingress L7 protocol
        (
            "DNS rules on ingress",
            ingress(
                json!({ "fromEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "53", "protocol": "UDP" }], "rules": { "dns": [{ "matchName": "a.com" }] } }] }),
            ),
            Some("L7 protocol DNS is not supported on ingress yet"),
        ),
        // L7Rules.sanitize: one L7 protocol per entry
        (
            "HTTP and DNS rules in one entry",
            egress(
                json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "53", "protocol": "TCP" }], "rules": { "http": [{}], "dns": [{ "matchName": "a.com" }] } }] }),
            ),
            Some("multiple L7 protocol rule types"),
        ),
        // EgressRule.sanitize: l3Members
        (
            "toFQDNs and toEndpoints in one rule",
            egress(json!({ "toFQDNs": [{ "matchName": "api.stripe.com" }], "toEndpoints": [{}] })),
            Some("Combining"),
        ),
        (
            "toCIDRSet and toEntities in one rule",
            egress(json!({ "toCIDRSet": [{ "cidr": "10.0.0.0/8" }], "toEntities": ["world"] })),
            Some("Combining"),
        ),
        (
            "toServices with toPorts",
            egress(
                json!({ "toServices": [{ "k8sService": { "serviceName": "s", "namespace": "n" } }], "toPorts": [{ "ports": [{ "port": "80", "protocol": "TCP" }] }] }),
            ),
            Some("Combining ToServices and ToPorts"),
        ),
        // CIDRRule.sanitize: excepts inside the cidr
        (
            "an except outside its cidr",
            egress(json!({ "toCIDRSet": [{ "cidr": "10.30.0.0/16", "except": ["10.0.0.0/8"] }] })),
            Some("allow CIDR prefix 10.30.0.0/16 does not contain exclude CIDR prefix 10.0.0.0/8"),
        ),
        (
            "an except inside its cidr",
            egress(json!({ "toCIDRSet": [{ "cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"] }] })),
            None,
        ),
        (
            "a cidr without a length",
            egress(json!({ "toCIDRSet": [{ "cidr": "10.0.0.1" }] })),
            Some("Unable to parse CIDRRule"),
        ),
        // PortRule.sanitize: maxPorts
        (
            "41 ports in one entry",
            egress(json!({ "toEndpoints": [{}], "toPorts": [{ "ports": ports(MAX_PORTS + 1) }] })),
            Some("too many ports, the max is 40"),
        ),
        (
            "40 ports in one entry",
            egress(json!({ "toEndpoints": [{}], "toPorts": [{ "ports": ports(MAX_PORTS) }] })),
            None,
        ),
        (
            "L7 rules with port 0",
            egress(
                json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "0", "protocol": "TCP" }], "rules": http }] }),
            ),
            Some("L7 rules can not be used when a port is 0"),
        ),
        (
            "an unparsable port",
            egress(json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "70000", "protocol": "TCP" }] }] })),
            Some("Unable to parse port"),
        ),
        (
            "a named port",
            egress(json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "http", "protocol": "TCP" }] }] })),
            None,
        ),
        (
            "an empty server name",
            egress(
                json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "443", "protocol": "TCP" }], "serverNames": [""] }] }),
            ),
            Some("Empty server name is not allowed"),
        ),
        (
            "serverNames with HTTP rules and no TLS termination",
            egress(
                json!({ "toEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "443", "protocol": "TCP" }], "serverNames": ["a.com"], "rules": http }] }),
            ),
            Some("ServerNames are not allowed with L7 rules"),
        ),
        (
            "icmps beside toPorts",
            egress(
                json!({ "toEndpoints": [{}], "icmps": [{ "fields": [{ "type": 8 }] }], "toPorts": [{ "ports": [{ "port": "80", "protocol": "TCP" }] }] }),
            ),
            Some("The ICMPs block may only be present without ToPorts"),
        ),
        (
            "an unknown entity",
            egress(json!({ "toEntities": ["internet"] })),
            Some("unsupported entity: internet"),
        ),
        (
            "the kube-apiserver entity",
            egress(json!({ "toEntities": ["kube-apiserver"] })),
            None,
        ),
        // fqdn.go FQDNSelector.sanitize
        (
            "matchName with a wildcard",
            egress(json!({ "toFQDNs": [{ "matchName": "*.stripe.com" }] })),
            Some("Invalid characters in MatchName"),
        ),
        (
            "matchPattern with a wildcard",
            egress(json!({ "toFQDNs": [{ "matchPattern": "*.stripe.com" }] })),
            None,
        ),
        (
            "matchPattern with a bracket",
            egress(json!({ "toFQDNs": [{ "matchPattern": "a[b].com" }] })),
            Some("Invalid characters in MatchPattern"),
        ),
        (
            "matchName and matchPattern in one selector",
            egress(json!({ "toFQDNs": [{ "matchName": "a.com", "matchPattern": "*.a.com" }] })),
            Some("only one of MatchName or MatchPattern"),
        ),
        // http.go PortRuleHTTP.Sanitize
        (
            "an HTTP path that is not a regular expression",
            ingress(
                json!({ "fromEndpoints": [{}], "toPorts": [{ "ports": [{ "port": "80", "protocol": "TCP" }], "rules": { "http": [{ "path": "/a(" }] } }] }),
            ),
            Some("`/a(` is not a regular expression"),
        ),
        // Rule.Sanitize, EndpointSelector.sanitize
        (
            "no endpointSelector",
            policy(json!({ "ingress": [{ "fromEntities": ["world"] }] })),
            Some("rule must have one of EndpointSelector or NodeSelector"),
        ),
        (
            "a label key with a blank",
            policy(json!({ "endpointSelector": { "matchLabels": { "a b": "x" } } })),
            Some("`a b` is not a valid label key"),
        ),
        (
            "a namespace label under Cilium's k8s: source",
            policy(json!({ "endpointSelector": { "matchLabels": { "k8s:io.kubernetes.pod.namespace": "shop" } } })),
            None,
        ),
        (
            "host policy with L7 rules",
            policy(
                json!({ "nodeSelector": {}, "ingress": [{ "fromEntities": ["world"], "toPorts": [{ "ports": [{ "port": "80", "protocol": "TCP" }], "rules": http }] }] }),
            ),
            Some("host policies do not support L7 rules yet"),
        ),
        (
            "neither spec nor specs",
            json!({ "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": { "name": "p" } }),
            Some("the policy has neither"),
        ),
    ]
}

#[test]
fn cilium_admits_and_refuses_as_its_sanitize_functions_do() {
    for (what, object, expected) in table() {
        let found = refusals(&object);
        match expected {
            None => assert!(found.is_empty(), "{what}: Cilium admits it, but {found:?}"),
            Some(prefix) => assert!(
                found.iter().any(|r| r.message.starts_with(prefix)),
                "{what}: Cilium refuses it with `{prefix}...`, found {found:?}"
            ),
        }
    }
}

#[test]
fn other_kinds_are_not_judged() {
    assert!(refusals(&json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy" })).is_empty());
}

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every refusal of every CiliumNetworkPolicy rendered for these intents,
/// alone and beside Istio, in both modes; a render error names its cause
fn rendered_refusals(ir: &palisade_compiler::ir::Ir) -> Vec<String> {
    let cilium = crate::dialect("cilium").unwrap();
    let istio = crate::dialect("istio").unwrap();
    let mut out = Vec::new();
    for set in [vec![cilium], vec![cilium, istio]] {
        for mode in [Mode::Enforce, Mode::Audit] {
            let options = EmitOptions::for_set(cilium, &set, ir, mode);
            match crate::render(cilium, ir, &options) {
                Ok((manifests, _)) => {
                    for m in manifests.iter().filter(|m| cilium.reads(m)) {
                        for r in refusals(&m.object) {
                            out.push(format!(
                                "{}: {} at {}: {}\n{}",
                                m.reference(),
                                r.rule,
                                r.pointer,
                                r.message,
                                m.to_yaml()
                            ));
                        }
                    }
                }
                // The emitter's own admission gate refused what it would have written.
                Err(diags) if format!("{diags:?}").contains("cilium_admission") => out.push(format!("{diags:?}")),
                Err(_) => {}
            }
        }
    }
    out
}

fn compile(files: &[(&str, String)]) -> palisade_compiler::ir::Ir {
    let raw = files
        .iter()
        .map(|(p, t)| palisade_intents::RawFile {
            path: (*p).to_string(),
            bytes: t.clone().into_bytes(),
        })
        .collect();
    let repository = palisade_intents::load_files(raw).unwrap_or_else(|d| panic!("{d:?}"));
    palisade_compiler::compile(&repository)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .0
}

#[test]
fn every_policy_rendered_for_the_examples_is_admitted() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap().flatten() {
        let dir = entry.path();
        if !dir.join("palisade.yaml").exists() {
            continue;
        }
        let repository = palisade_intents::load_dir(&dir).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
        let (ir, _) = palisade_compiler::compile(&repository).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
        let found = rendered_refusals(&ir);
        assert!(found.is_empty(), "{}:\n{}", dir.display(), found.join("\n"));
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} examples");
}

const PROJECT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: gen }\nspec:\n  cluster:\n    apiServer: { cidrs: [172.20.0.10/32] }\n    clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12]\n";

fn intents(allow: &[String]) -> Vec<(&'static str, String)> {
    let mut text = String::from("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  baseline: [dns]\n  services:\n    web: { selector: { app: web }, ports: { http: tcp/8080 } }\n    api: { selector: { app: api }, ports: { http: tcp/8080 } }\n  allow:\n");
    for rule in allow {
        text.push_str(&format!("    - {rule}\n"));
    }
    vec![("palisade.yaml", PROJECT.to_string()), ("shop.yaml", text)]
}

/// The reproduction: HTTP rules on an edge whose ports include UDP
#[test]
fn http_rules_stay_on_tcp_ports_and_udp_gets_an_entry_of_its_own() {
    let ir = compile(&intents(&[
        "{ from: web, to: api, ports: [tcp/8080, udp/8080, sctp/9], http: [{ method: GET, path: /a }] }".into(),
    ]));
    assert_eq!(rendered_refusals(&ir), Vec::<String>::new());
    let (manifests, _) = crate::render(crate::dialect("cilium").unwrap(), &ir, &EmitOptions::ENFORCE).unwrap();
    let api: &Manifest = manifests
        .iter()
        .find(|m| m.object["spec"]["endpointSelector"]["matchLabels"]["app"] == "api")
        .unwrap();
    let entries = api.object["spec"]["ingress"][0]["toPorts"].as_array().unwrap();
    assert_eq!(
        entries,
        &vec![
            json!({ "ports": [{ "port": "8080", "protocol": "TCP" }], "rules": { "http": [{ "method": "GET", "path": "/a" }] } }),
            json!({ "ports": [{ "port": "8080", "protocol": "UDP" }, { "port": "9", "protocol": "SCTP" }] }),
        ]
    );
}

#[test]
fn more_than_forty_ports_are_split_over_entries() {
    let ports: Vec<String> = (0..45).map(|i| format!("tcp/{}", 2000 + 2 * i)).collect();
    let ir = compile(&intents(&[format!("web -> api {}", ports.join(","))]));
    assert_eq!(rendered_refusals(&ir), Vec::<String>::new());
    let (manifests, _) = crate::render(crate::dialect("cilium").unwrap(), &ir, &EmitOptions::ENFORCE).unwrap();
    let api = manifests
        .iter()
        .find(|m| m.object["spec"]["endpointSelector"]["matchLabels"]["app"] == "api")
        .unwrap();
    let sizes: Vec<usize> = api.object["spec"]["ingress"][0]["toPorts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ports"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [40, 5]);
}

/// The loader refuses an except outside its cidr; the emitter does not rely
/// on it (an IR can come from elsewhere: import, the compiler's own excepts
/// of the cluster's ranges), and never writes one Cilium refuses
#[test]
fn an_except_outside_the_cidr_is_not_emitted_and_one_over_it_empties_the_rule() {
    use palisade_compiler::ir::Peer;
    let mut ir = compile(&intents(&[
        "{ from: web, to: { cidr: 192.0.2.0/24, except: [192.0.2.128/25] }, ports: [tcp/443] }".into(),
        "{ from: api, to: { cidr: 203.0.113.0/25 }, ports: [tcp/443] }".into(),
    ]));
    for edge in &mut ir.edges {
        if let Peer::Cidr { net, except } = &mut edge.to {
            if net.to_string() == "192.0.2.0/24" {
                except.push("198.51.100.0/24".parse().unwrap());
            } else {
                except.push("203.0.113.0/24".parse().unwrap());
            }
        }
    }
    assert_eq!(rendered_refusals(&ir), Vec::<String>::new());
    let (manifests, _) = crate::render(crate::dialect("cilium").unwrap(), &ir, &EmitOptions::ENFORCE).unwrap();
    let sets: Vec<&Value> = manifests
        .iter()
        .flat_map(|m| m.object["spec"]["egress"].as_array().into_iter().flatten())
        .filter_map(|r| r.get("toCIDRSet"))
        .collect();
    assert!(
        sets.contains(&&json!([{ "cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"] }])),
        "{sets:?}"
    );
    assert!(!format!("{sets:?}").contains("203.0.113"), "{sets:?}");
}

/// DNS proxy rules go on the ports the cluster DNS answers on, never on
/// another port of the DNS pods (the proxy would take metrics scrapes on
/// tcp/9153 for DNS), and never beside another L7 rule
#[test]
fn dns_proxy_rules_stay_on_the_dns_ports() {
    let ir = compile(&intents(&[
        "web -> api.example.com tcp/443".into(),
        "{ from: web, to: { namespace: kube-system, selector: { k8s-app: kube-dns } }, ports: [tcp/9153, udp/53] }"
            .into(),
    ]));
    assert_eq!(rendered_refusals(&ir), Vec::<String>::new());
    let (manifests, _) = crate::render(crate::dialect("cilium").unwrap(), &ir, &EmitOptions::ENFORCE).unwrap();
    let entries: Vec<&Value> = manifests
        .iter()
        .flat_map(|m| m.object["spec"]["egress"].as_array().into_iter().flatten())
        .flat_map(|r| r["toPorts"].as_array().into_iter().flatten())
        .collect();
    let with_dns: Vec<&&Value> = entries.iter().filter(|e| e["rules"].get("dns").is_some()).collect();
    assert!(!with_dns.is_empty(), "{entries:?}");
    for entry in with_dns {
        for port in entry["ports"].as_array().unwrap() {
            assert_eq!(port["port"], "53", "{entry}");
        }
    }
    assert!(
        entries
            .iter()
            .any(|e| e["ports"][0]["port"] == "9153" && e.get("rules").is_none()),
        "{entries:?}"
    );
}

// Generated intents: every peer and port form, HTTP rules over mixed
// protocols, long port lists, CIDRs with excepts (and the cluster's ranges
// the compiler excepts from a CIDR that overlaps them).

fn peer() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("web".to_string()),
        Just("api".to_string()),
        Just("shop/*".to_string()),
        Just("world".to_string()),
        Just("kube-api".to_string()),
        Just("dns".to_string()),
        Just("api.example.com".to_string()),
        Just("*.example.com".to_string()),
        Just("{ cidr: 10.30.0.0/16, except: [10.30.1.0/24, 10.30.128.0/17] }".to_string()),
        Just("{ cidr: 0.0.0.0/0, except: [192.168.0.0/16] }".to_string()),
        Just("{ namespace: other, selector: { app: x } }".to_string()),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tcp/80".to_string()),
        Just("udp/53".to_string()),
        Just("tcp/53".to_string()),
        Just("udp/8080".to_string()),
        Just("tcp/8000-8100".to_string()),
        Just("sctp/9".to_string()),
        (1024u16..1100).prop_map(|p| format!("tcp/{p}")),
        (1024u16..1100).prop_map(|p| format!("udp/{p}")),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    let source = prop_oneof![
        4 => Just("web".to_string()),
        2 => Just("api".to_string()),
        1 => Just("shop/*".to_string()),
        1 => Just("world".to_string()),
        1 => Just("{ cidr: 10.30.0.0/16, except: [10.30.1.0/24, 10.30.128.0/17] }".to_string()),
    ];
    (source, peer(), prop::collection::vec(port(), 1..50), any::<bool>()).prop_map(|(from, to, ports, http)| {
        let quote = |p: String| if p.starts_with('{') { p } else { format!("\"{p}\"") };
        let http = if http {
            ", http: [{ method: GET, path: \"/a/*\" }, { method: POST, path: /b }]"
        } else {
            ""
        };
        format!(
            "{{ from: {}, to: {}, ports: [{}]{http} }}",
            quote(from),
            quote(to),
            ports.join(", ")
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_policy_rendered_for_generated_intents_is_admitted(rules in prop::collection::vec(rule(), 1..5)) {
        let files = intents(&rules);
        let raw = files.iter().map(|(p, t)| palisade_intents::RawFile { path: (*p).to_string(), bytes: t.clone().into_bytes() }).collect();
        // Generated intents the loader refuses (a URL with ports, FQDN ingress) are not this test's business.
        let Ok(repository) = palisade_intents::load_files(raw) else { return Ok(()) };
        let Ok((ir, _)) = palisade_compiler::compile(&repository) else { return Ok(()) };
        let found = rendered_refusals(&ir);
        prop_assert!(found.is_empty(), "{}\n{}", files[1].1, found.join("\n"));
    }
}

/// The generator reaches what matters: a compiled repository with HTTP
/// rules over UDP ports and one with more than 40 ports on an edge
#[test]
fn the_generator_reaches_mixed_protocol_http_and_long_port_lists() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut mixed, mut long, mut compiled) = (false, false, 0);
    for _ in 0..200 {
        let rules = prop::collection::vec(rule(), 1..5)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let files = intents(&rules);
        let raw = files
            .iter()
            .map(|(p, t)| palisade_intents::RawFile {
                path: (*p).to_string(),
                bytes: t.clone().into_bytes(),
            })
            .collect();
        let Ok(repository) = palisade_intents::load_files(raw) else {
            continue;
        };
        let Ok((ir, _)) = palisade_compiler::compile(&repository) else {
            continue;
        };
        compiled += 1;
        for edge in &ir.edges {
            mixed |= !edge.http.is_empty()
                && edge
                    .ports
                    .iter()
                    .any(|p| p.protocol != palisade_intents::syntax::Protocol::Tcp);
            long |= edge.ports.len() > MAX_PORTS;
        }
    }
    assert!(
        mixed && long && compiled >= 100,
        "mixed {mixed}, long {long}, {compiled} of 200 compiled"
    );
}

/// The lint face: PAL011 on what Cilium refuses, and not twice where
/// PAL010 already says it (`matchName` with a wildcard)
#[test]
fn lint_reports_what_cilium_refuses() {
    let rows = table();
    let udp = Manifest::new(rows[0].1.clone());
    let findings = crate::cilium::lint::lint(&[udp], None);
    let pal011: Vec<_> = findings
        .iter()
        .filter(|f| f.check == super::CILIUM_REFUSES.id)
        .collect();
    assert_eq!(pal011.len(), 1, "{findings:?}");
    assert_eq!(pal011[0].pointer, "/spec/egress/0/toPorts/0/ports/1/protocol");
    assert!(
        pal011[0].fix.contains("a `toPorts` entry of their own"),
        "{:?}",
        pal011[0]
    );
    let (_, wildcard, _) = rows
        .iter()
        .find(|(what, _, _)| *what == "matchName with a wildcard")
        .unwrap();
    let findings = crate::cilium::lint::lint(&[Manifest::new(wildcard.clone())], None);
    let checks: Vec<&str> = findings.iter().map(|f| f.check).collect();
    assert!(
        checks.contains(&"PAL010") && !checks.contains(&super::CILIUM_REFUSES.id),
        "{checks:?}"
    );
}

#[test]
fn literal_regexes_are_known_valid_without_building_them() {
    for literal in ["/a", "/products/.*", "/a\\.b", "GET", "/x\\(y\\)"] {
        assert!(super::is_literal_regex(literal), "{literal}");
        assert!(regex::Regex::new(literal).is_ok());
    }
    for other in ["/a(", "a+", "[x]", "a\\d", "^/a$"] {
        assert!(!super::is_literal_regex(other), "{other}");
    }
}
