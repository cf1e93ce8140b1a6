//! Class 7: CiliumNetworkPolicies that Cilium's agent refuses whole although
//! its CRD schema takes them. Every CNP palisade writes is judged here by a
//! hand-written reading of Cilium's admission rules (pkg/policy/api,
//! `Sanitize()` in rule_validation.go), not by palisade's own admission
//! module; and the YAML of class 8 is read back by the rules of YAML 1.1
//! (yaml.org/type/bool.html) as kubectl's go-yaml reads it.

use crate::util::{compile, palisade, project, repo};
use serde_json::Value;

const CLUSTER: &str = "{ cni: cilium, clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12] }";

fn intents(allow: &[&str]) -> String {
    let mut text = String::from("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  baseline: [dns]\n  services:\n    web: { selector: { app: web } }\n    api: { selector: { app: api } }\n  allow:\n");
    for rule in allow {
        text.push_str(&format!("    - {rule}\n"));
    }
    text
}

/// Every rule of Cilium's admission a policy breaks, as Cilium's
/// rule_validation.go states it (the rules palisade's output could break)
fn refused_by_cilium(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for direction in ["ingress", "egress"] {
        for (r, rule) in policy["spec"][direction].as_array().into_iter().flatten().enumerate() {
            let at = format!("{}/{direction}/{r}", policy["metadata"]["name"]);
            // IngressRule/EgressRule.sanitize: "Combining %s and %s is not supported yet"
            let kinds = [
                "Endpoints",
                "CIDR",
                "CIDRSet",
                "Entities",
                "FQDNs",
                "Services",
                "Nodes",
                "Groups",
            ]
            .iter()
            .filter(|k| {
                rule[format!("{}{k}", if direction == "ingress" { "from" } else { "to" })]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            })
            .count();
            if kinds > 1 {
                out.push(format!("{at}: two peer kinds in one rule"));
            }
            for (p, entry) in rule["toPorts"].as_array().into_iter().flatten().enumerate() {
                let ports = entry["ports"].as_array().cloned().unwrap_or_default();
                // PortRule.sanitize: "too many ports, the max is 40"
                if ports.len() > 40 {
                    out.push(format!("{at}/toPorts/{p}: {} ports", ports.len()));
                }
                let http = entry["rules"].get("http").is_some();
                let dns = entry["rules"].get("dns").is_some();
                for port in &ports {
                    // PortRule.sanitize: "L7 rules can only apply to TCP (not %s) except for DNS rules"
                    if http && port["protocol"] != "TCP" {
                        out.push(format!("{at}/toPorts/{p}: HTTP rules on {}", port["protocol"]));
                    }
                    // PortProtocol.sanitize: "DNS rules do not support port ranges"
                    if dns && port.get("endPort").is_some() {
                        out.push(format!("{at}/toPorts/{p}: DNS rules on a range"));
                    }
                }
                // L7Rules.sanitize: "multiple L7 protocol rule types specified in single rule"
                if http && dns {
                    out.push(format!("{at}/toPorts/{p}: HTTP and DNS rules"));
                }
                // IngressRule.sanitize: DNS is not an ingress L7 protocol
                if dns && direction == "ingress" {
                    out.push(format!("{at}/toPorts/{p}: DNS rules on ingress"));
                }
            }
            // CIDRRule.sanitize: "allow CIDR prefix %s does not contain exclude CIDR prefix %s"
            for set in rule["toCIDRSet"]
                .as_array()
                .into_iter()
                .chain(rule["fromCIDRSet"].as_array())
                .flatten()
            {
                let cidr = set["cidr"].as_str().unwrap_or("");
                for except in set["except"].as_array().into_iter().flatten() {
                    if !inside(except.as_str().unwrap_or(""), cidr) {
                        out.push(format!("{at}: except {except} outside {cidr}"));
                    }
                }
            }
        }
    }
    out
}

/// Whether IPv4 block `inner` lies inside `outer` (address arithmetic here, not ipnet)
fn inside(inner: &str, outer: &str) -> bool {
    let parse = |cidr: &str| -> Option<(u32, u32)> {
        let (ip, len) = cidr.split_once('/')?;
        Some((u32::from(ip.parse::<std::net::Ipv4Addr>().ok()?), len.parse().ok()?))
    };
    let (Some((a, alen)), Some((b, blen))) = (parse(inner), parse(outer)) else {
        return false;
    };
    let mask = |len: u32| if len == 0 { 0 } else { u32::MAX << (32 - len) };
    alen >= blen && a & mask(blen) == b & mask(blen)
}

fn policies(objects: &[Value]) -> Vec<&Value> {
    objects.iter().filter(|o| o["kind"] == "CiliumNetworkPolicy").collect()
}

/// The reproduction: HTTP rules and a UDP port on one edge. Cilium
/// refused the whole policy ("L7 rules can only apply to TCP"), so the api
/// pods lost every allowance, HTTP ones included.
#[test]
fn http_rules_with_a_udp_port_render_a_policy_cilium_admits() {
    let dir = repo(
        &project("cilium", CLUSTER),
        &[(
            "intents/shop.yaml",
            &intents(&[
                "{ from: web, to: api, ports: [tcp/8080, udp/8080], http: [{ method: GET, path: /products/* }] }",
            ]),
        )],
    );
    let objects = compile(dir.path(), "cilium");
    let all: Vec<String> = policies(&objects).into_iter().flat_map(refused_by_cilium).collect();
    assert!(all.is_empty(), "{all:?}");
    // The HTTP rules still hold on TCP, and UDP/8080 is admitted on its own.
    let api = policies(&objects)
        .into_iter()
        .find(|p| p["spec"]["endpointSelector"]["matchLabels"]["app"] == "api")
        .unwrap();
    let entries = api["spec"]["ingress"][0]["toPorts"].as_array().unwrap();
    let tcp = entries.iter().find(|e| e["ports"][0]["protocol"] == "TCP").unwrap();
    assert_eq!(tcp["rules"]["http"][0]["path"], "/products/.*");
    let udp = entries.iter().find(|e| e["ports"][0]["protocol"] == "UDP").unwrap();
    assert!(udp.get("rules").is_none(), "{udp}");
}

/// Neighbours: many ports on one edge, DNS with FQDN egress, CIDRs with
/// excepts, HTTP over SCTP; in both modes
#[test]
fn neighbouring_forms_render_policies_cilium_admits() {
    let ports: Vec<String> = (0..45).map(|i| format!("tcp/{}", 3000 + i)).collect();
    let many = format!("web -> api {}", ports.join(","));
    let rules = [
        many.as_str(),
        "web -> https://api.stripe.com",
        "web -> *.example.com tcp/443",
        "{ from: web, to: { cidr: 203.0.113.0/24, except: [203.0.113.128/25] }, ports: [tcp/443, udp/443] }",
        "{ from: web, to: api, ports: [sctp/9, tcp/9, udp/9], http: [{ method: POST, path: /b }] }",
        "{ from: web, to: { namespace: kube-system, selector: { k8s-app: kube-dns } }, ports: [tcp/9153, udp/53] }",
    ];
    let dir = repo(&project("cilium", CLUSTER), &[("intents/shop.yaml", &intents(&rules))]);
    for mode in ["enforce", "audit"] {
        let out = palisade()
            .arg("compile")
            .arg(dir.path())
            .args(["--target", "cilium", "--mode", mode])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let objects = crate::util::documents(&String::from_utf8_lossy(&out.stdout));
        assert!(policies(&objects).len() >= 2);
        let all: Vec<String> = policies(&objects).into_iter().flat_map(refused_by_cilium).collect();
        assert!(all.is_empty(), "{mode}: {all:?}");
    }
}

/// Class 8 on the wire: label values a YAML 1.1 reader (kubectl's go-yaml)
/// takes for booleans, nulls and numbers stay strings in the emitted YAML
/// (yaml.org/type/bool.html, null.html, int.html, float.html)
#[test]
fn label_values_yaml_1_1_would_misread_are_quoted() {
    let words = [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Y",
        "NO",
        "null",
        "1_000",
        "012",
        "2001-12-14",
        "0x1F",
        "1e3",
    ];
    let mut services = String::new();
    let mut allow = String::new();
    for (i, w) in words.iter().enumerate() {
        services.push_str(&format!("    s{i}: {{ selector: {{ app: \"{w}\" }} }}\n"));
        allow.push_str(&format!("    - s{i} -> s{} tcp/80\n", (i + 1) % words.len()));
    }
    let text = format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: shop, namespace: shop }}\nspec:\n  posture: default-deny\n  services:\n{services}  allow:\n{allow}");
    let dir = repo(&project("cilium", CLUSTER), &[("intents/shop.yaml", &text)]);
    let out = palisade()
        .arg("compile")
        .arg(dir.path())
        .args(["--target", "cilium"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8_lossy(&out.stdout);
    for w in words {
        for line in yaml.lines() {
            let value = line.trim_start().trim_start_matches("- ");
            assert_ne!(
                value,
                format!("app: {w}"),
                "`{w}` written plain: a YAML 1.1 reader does not read it as a string"
            );
        }
        assert!(
            yaml.contains(&format!("app: '{w}'")) || yaml.contains(&format!("app: \"{w}\"")),
            "`{w}` not found quoted:\n{yaml}"
        );
    }
}
