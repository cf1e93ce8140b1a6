//! One test per lint check: a policy with the trap, where it fires (and
//! where), and the fixed policy, where it does not.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_compiler::model::ClusterModel;
use palisade_targets::{lint, Manifest};

fn manifests(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Manifest::new(<serde_json::Value as serde::Deserialize>::deserialize(d).unwrap()))
        .collect()
}

/// (check id, manifest index, pointer) of every finding
fn fired(yaml: &str, cluster: Option<&ClusterModel>) -> Vec<(&'static str, usize, String)> {
    lint::lint(&manifests(yaml), cluster)
        .into_iter()
        .map(|f| (f.check, f.manifest, f.pointer))
        .collect()
}

fn ids(yaml: &str, cluster: Option<&ClusterModel>) -> Vec<&'static str> {
    fired(yaml, cluster).into_iter().map(|(id, _, _)| id).collect()
}

const NP: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: shop }\n";

#[test]
fn pal001_split_peer() {
    let split = format!("{NP}spec:\n  podSelector: {{ matchLabels: {{ app: db }} }}\n  ingress:\n  - from:\n    - namespaceSelector: {{ matchLabels: {{ team: a }} }}\n    - podSelector: {{ matchLabels: {{ app: web }} }}\n");
    assert_eq!(
        fired(&split, None),
        [("PAL001", 0, "/spec/ingress/0/from/1".to_string())]
    );
    let joined = format!("{NP}spec:\n  podSelector: {{ matchLabels: {{ app: db }} }}\n  ingress:\n  - from:\n    - namespaceSelector: {{ matchLabels: {{ team: a }} }}\n      podSelector: {{ matchLabels: {{ app: web }} }}\n");
    assert!(ids(&joined, None).is_empty());
}

#[test]
fn pal002_egress_deny_without_dns() {
    let deny = format!("{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n");
    assert_eq!(fired(&deny, None), [("PAL002", 0, "/spec".to_string())]);
    let with_dns = format!("{deny}  egress:\n  - to:\n    - namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: kube-system }} }}\n      podSelector: {{ matchLabels: {{ k8s-app: kube-dns }} }}\n    ports: [{{ protocol: UDP, port: 53 }}]\n");
    assert!(ids(&with_dns, None).is_empty(), "{:?}", ids(&with_dns, None));
    // The same trap in Cilium: an egress section that turns default deny on.
    let cilium = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: { name: c, namespace: shop }\nspec:\n  endpointSelector: {}\n  egress:\n  - toEntities: [world]\n";
    assert_eq!(ids(cilium, None), ["PAL002"]);
}

#[test]
fn pal002_knows_openshift_dns_and_node_local_dns_cache() {
    // OpenShift's DNS: another namespace, other labels; NodeLocal DNSCache:
    // a link-local address. Neither is kube-system/kube-dns, both answer.
    let deny = format!("{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n");
    let openshift = format!("{deny}  - to:\n    - namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: openshift-dns }} }}\n      podSelector: {{ matchLabels: {{ dns.operator.openshift.io/daemonset-dns: default }} }}\n    ports: [{{ protocol: UDP, port: 53 }}]\n");
    assert!(ids(&openshift, None).is_empty(), "{:?}", ids(&openshift, None));
    let node_local = format!(
        "{deny}  - to: [{{ ipBlock: {{ cidr: 169.254.20.10/32 }} }}]\n    ports: [{{ protocol: UDP, port: 53 }}]\n"
    );
    assert!(ids(&node_local, None).is_empty(), "{:?}", ids(&node_local, None));
    // Another port to those pods is no DNS
    assert_eq!(ids(&openshift.replace("port: 53", "port: 5353"), None), ["PAL002"]);
    // With a dump, a named server must be one of its pods
    let dump = |labels: &str| {
        palisade_compiler::cluster::from_yaml(
            "c.yaml",
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{ name: dns-default-x, namespace: openshift-dns, labels: {{ {labels} }} }}\nspec: {{ containers: [] }}\nstatus: {{ podIP: 10.128.0.5 }}\n"),
        )
        .unwrap()
    };
    let cluster = dump("dns.operator.openshift.io/daemonset-dns: default");
    assert!(
        ids(&openshift, Some(&cluster)).is_empty(),
        "{:?}",
        ids(&openshift, Some(&cluster))
    );
    let typo = dump("dns.operator.openshift.io/daemonset-dns: other");
    assert_eq!(ids(&openshift, Some(&typo)), ["PAL002"]);
}

#[test]
fn pal003_apiserver_by_selector() {
    let by_pod = format!("{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n  egress:\n  - to:\n    - namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: default }} }}\n      podSelector: {{ matchLabels: {{ component: apiserver, provider: kubernetes }} }}\n");
    assert_eq!(
        fired(&by_pod, None),
        [("PAL003", 0, "/spec/egress/0/to/0/podSelector".to_string())]
    );
    let by_address = format!("{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n  egress:\n  - to:\n    - ipBlock: {{ cidr: 10.0.0.1/32 }}\n");
    assert!(ids(&by_address, None).is_empty());
}

#[test]
fn pal004_saas_address() {
    let public = format!("{NP}spec:\n  podSelector: {{ matchLabels: {{ app: a }} }}\n  policyTypes: [Ingress]\n  egress:\n  - to:\n    - ipBlock: {{ cidr: 54.187.216.72/32 }}\n");
    assert_eq!(ids(&public, None), ["PAL004"]);
    let private = public.replace("54.187.216.72/32", "10.1.2.3/32");
    assert!(ids(&private, None).is_empty());
    let block = public.replace("54.187.216.72/32", "54.187.0.0/16");
    assert!(ids(&block, None).is_empty(), "a block is not a single host");
    let calico = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: c, namespace: shop }\nspec:\n  selector: app == 'a'\n  types: [Ingress]\n  egress:\n  - action: Allow\n    destination: { nets: [54.187.216.72/32] }\n";
    assert_eq!(
        fired(calico, None),
        [("PAL004", 0, "/spec/egress/0/destination/nets/0".to_string())]
    );
    let cilium = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: { name: c, namespace: shop }\nspec:\n  endpointSelector: { matchLabels: { app: a } }\n  ingress: [{}]\n  egressDeny: []\n  egress: []\n";
    assert!(!ids(cilium, None).contains(&"PAL004"));
}

#[test]
fn pal005_metadata_to_namespace() {
    let all = format!("{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n  egress:\n  - to:\n    - ipBlock: {{ cidr: 169.254.169.254/32 }}\n");
    assert_eq!(ids(&all, None), ["PAL005"]);
    let one = all.replace("podSelector: {}", "podSelector: { matchLabels: { app: backend } }");
    assert!(ids(&one, None).is_empty());
    let carved = all.replace("169.254.169.254/32 }", "0.0.0.0/0, except: [169.254.169.254/32] }");
    assert!(ids(&carved, None).is_empty(), "{:?}", ids(&carved, None));
}

#[test]
fn pal006_all_namespaces() {
    let every = format!("{NP}spec:\n  podSelector: {{}}\n  ingress:\n  - from:\n    - namespaceSelector: {{}}\n");
    assert_eq!(
        fired(&every, None),
        [("PAL006", 0, "/spec/ingress/0/from/0/namespaceSelector".to_string())]
    );
    let named = every.replace(
        "namespaceSelector: {}",
        "namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: web } }",
    );
    assert!(ids(&named, None).is_empty());
    let calico = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: c, namespace: shop }\nspec:\n  selector: all()\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    source: { namespaceSelector: all() }\n";
    assert_eq!(ids(calico, None), ["PAL006"]);
}

#[test]
fn pal007_selects_nothing_needs_a_cluster_dump() {
    let cluster = palisade_compiler::cluster::from_yaml(
        "c.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: { name: web-1, namespace: shop, labels: { app: web } }\nspec: { containers: [] }\n",
    )
    .unwrap();
    let typo = format!("{NP}spec:\n  podSelector: {{ matchLabels: {{ app: wbe }} }}\n  ingress: []\n");
    assert!(ids(&typo, None).is_empty(), "without a dump nothing is known");
    assert_eq!(ids(&typo, Some(&cluster)), ["PAL007"]);
    let right = typo.replace("wbe", "web");
    assert!(ids(&right, Some(&cluster)).is_empty());
    let cilium = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: { name: c, namespace: shop }\nspec:\n  endpointSelector: { matchLabels: { app: wbe } }\n  ingress: [{}]\n";
    assert_eq!(ids(cilium, Some(&cluster)), ["PAL007"]);
}

const CNP: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: { name: c, namespace: shop }\nspec:\n  endpointSelector: { matchLabels: { app: a } }\n  egress:\n";
const DNS_RULE: &str = "  - toEndpoints: [{ matchLabels: { k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns } }]\n    toPorts: [{ ports: [{ port: \"53\", protocol: UDP }], rules: { dns: [{ matchPattern: \"*\" }] } }]\n";
const FQDN_RULE: &str =
    "  - toFQDNs: [{ matchName: api.stripe.com }]\n    toPorts: [{ ports: [{ port: \"443\", protocol: TCP }] }]\n";

#[test]
fn pal008_fqdn_without_dns_proxy() {
    let without = format!("{CNP}{FQDN_RULE}  - toEndpoints: [{{ matchLabels: {{ k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns }} }}]\n    toPorts: [{{ ports: [{{ port: \"53\", protocol: UDP }}] }}]\n");
    assert_eq!(
        fired(&without, None),
        [("PAL008", 0, "/spec/egress/0/toFQDNs".to_string())]
    );
    let with = format!("{CNP}{FQDN_RULE}{DNS_RULE}");
    assert!(ids(&with, None).is_empty(), "{:?}", ids(&with, None));
}

#[test]
fn pal009_gateway_bypass() {
    let gateway = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: egress, namespace: istio-system }\nspec:\n  selector: { istio: egressgateway }\n  servers: [{ port: { number: 443, name: tls, protocol: TLS }, hosts: [google.com], tls: { mode: PASSTHROUGH } }]\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: google, namespace: shop }\nspec: { hosts: [google.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS }\n";
    assert_eq!(fired(gateway, None), [("PAL009", 0, "/spec/selector".to_string())]);
    let closed = format!("{gateway}---\n{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: istio-system }} }} }}]\n  - to:\n    - namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: kube-system }} }}\n      podSelector: {{ matchLabels: {{ k8s-app: kube-dns }} }}\n    ports: [{{ protocol: UDP, port: 53 }}]\n");
    assert!(ids(&closed, None).is_empty(), "{:?}", ids(&closed, None));
}

/// The gateway and the routes of `pal009_gateway_bypass`, and a DNS rule for
/// the policies below (so PAL002 stays quiet)
const GATEWAY: &str = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: egress, namespace: istio-system }\nspec:\n  selector: { istio: egressgateway }\n  servers: [{ port: { number: 443, name: tls, protocol: TLS }, hosts: [google.com], tls: { mode: PASSTHROUGH } }]\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: google, namespace: shop }\nspec: { hosts: [google.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS }\n---\n";
const NP_DNS: &str = "  - to:\n    - namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: kube-system } }\n      podSelector: { matchLabels: { k8s-app: kube-dns } }\n    ports: [{ protocol: UDP, port: 53 }]\n";

#[test]
fn pal009_is_decided_by_the_layer_below_the_mesh() {
    // Calico's usual default deny is cluster-wide (GlobalNetworkPolicy), and
    // a Calico policy with egress rules and no `types` isolates egress (Calico
    // docs, NetworkPolicy `types`: "Egress" is implied by egress rules)
    let global = format!("{GATEWAY}apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{ name: deny-egress }}\nspec:\n  selector: all()\n  types: [Egress]\n  egress:\n  - action: Allow\n    protocol: UDP\n    destination: {{ ports: [53] }}\n");
    assert!(ids(&global, None).is_empty(), "{:?}", ids(&global, None));
    let implied = format!("{GATEWAY}apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{ name: dns-only, namespace: shop }}\nspec:\n  selector: all()\n  egress:\n  - action: Allow\n    protocol: UDP\n    destination: {{ ports: [53] }}\n");
    assert!(ids(&implied, None).is_empty(), "{:?}", ids(&implied, None));
    // Egress "isolated" but open to the internet: the gateway is still a route
    let open = format!("{GATEWAY}{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n{NP_DNS}  - to: [{{ ipBlock: {{ cidr: 0.0.0.0/0, except: [169.254.0.0/16] }} }}]\n");
    assert_eq!(ids(&open, None), ["PAL009"]);
    // Isolating one app leaves the namespace's other pods a way around
    let one_app = format!("{GATEWAY}{NP}spec:\n  podSelector: {{ matchLabels: {{ app: checkout }} }}\n  policyTypes: [Egress]\n  egress:\n{NP_DNS}");
    assert_eq!(ids(&one_app, None), ["PAL009"]);
    // Cilium allowing the gateway's host by name lets pods skip the gateway
    let by_name = format!("{GATEWAY}apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{ name: c, namespace: shop }}\nspec:\n  endpointSelector: {{}}\n  egress:\n{DNS_RULE}  - toFQDNs: [{{ matchName: google.com }}]\n    toPorts: [{{ ports: [{{ port: \"443\", protocol: TCP }}] }}]\n");
    assert_eq!(ids(&by_name, None), ["PAL009"]);
    let elsewhere = by_name.replace("matchName: google.com", "matchName: api.stripe.com");
    assert!(ids(&elsewhere, None).is_empty(), "{:?}", ids(&elsewhere, None));
}

#[test]
fn an_object_turns_checks_off_by_annotation() {
    let deny = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: shop\n  annotations: { palisade.dev/lint-disable: \"PAL006, egress-without-dns\" }\nspec:\n  podSelector: {}\n  policyTypes: [Egress, Ingress]\n  ingress: [{ from: [{ namespaceSelector: {} }] }]\n";
    assert!(ids(deny, None).is_empty(), "{:?}", ids(deny, None));
    assert_eq!(ids(&deny.replace("PAL006, ", ""), None), ["PAL006"]);
    assert_eq!(
        lint::resolve(["pal002,gateway-bypass"])
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["PAL002", "PAL009"]
    );
    let unknown = lint::resolve(["PAL002", "PAL02"]).unwrap_err();
    assert_eq!(
        (unknown.id(), unknown.suggestion()),
        ("PAL02", Some("did you mean `PAL002`?"))
    );
}

#[test]
fn pal010_literal_wildcard() {
    let literal = format!("{CNP}  - toFQDNs: [{{ matchName: \"*.google.com\" }}]\n{DNS_RULE}");
    assert_eq!(
        fired(&literal, None),
        [("PAL010", 0, "/spec/egress/0/toFQDNs/0/matchName".to_string())]
    );
    let pattern = literal.replace("matchName", "matchPattern");
    assert!(ids(&pattern, None).is_empty());
}

#[test]
fn every_check_is_listed_once_with_a_stable_id() {
    let ids: Vec<&str> = lint::CHECKS.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=11).map(|i| format!("PAL{i:03}")).collect::<Vec<_>>());
}

/// A gateway in istio-system for `hosts`, and a ServiceEntry in `ns` for
/// `host` on `ports`
fn gateway_for(hosts: &str, ns: &str, host: &str, ports: &str) -> String {
    format!("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{ name: egress, namespace: istio-system }}\nspec:\n  selector: {{ istio: egressgateway }}\n  servers: [{{ port: {{ number: 443, name: tls, protocol: TLS }}, hosts: [{hosts}], tls: {{ mode: PASSTHROUGH }} }}]\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: se, namespace: {ns} }}\nspec: {{ hosts: [{host}], ports: [{ports}], resolution: DNS }}\n---\n")
}

/// A NetworkPolicy closing the egress of `ns` but DNS and the gateway, and `extra` rules
fn closed(ns: &str, extra: &str) -> String {
    format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{ name: lock, namespace: {ns} }}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n{NP_DNS}  - to: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: istio-system }} }}, podSelector: {{ matchLabels: {{ istio: egressgateway }} }} }}]\n{extra}")
}

const TLS: &str = "{ number: 443, name: tls, protocol: TLS }";

#[test]
fn pal009_a_wildcard_gateway_serves_the_names_below_it() {
    // edition.cnn.com goes out through `*.cnn.com`; its namespace is open
    let open = gateway_for("api.partner.com, \"*.cnn.com\"", "open", "edition.cnn.com", TLS);
    let partner = format!("{open}apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: partner, namespace: closed }}\nspec: {{ hosts: [api.partner.com], ports: [{TLS}], resolution: DNS }}\n---\n{}", closed("closed", ""));
    assert_eq!(ids(&partner, None), ["PAL009"]);
    let both = format!("{partner}---\n{}", closed("open", ""));
    assert!(ids(&both, None).is_empty(), "{:?}", ids(&both, None));
    // A host that no gateway server names is still mesh egress of its namespace
    let unmatched = gateway_for("api.partner.com", "open", "edition.cnn.com", TLS);
    assert_eq!(ids(&unmatched, None), ["PAL009"]);
    // `*.cnn.com` is not cnn.com itself, nor notcnn.com
    let ns_closed = format!(
        "{}{}",
        gateway_for("\"*.cnn.com\"", "shop", "cnn.com", TLS),
        closed("shop", "")
    );
    assert!(ids(&ns_closed, None).is_empty());
}

#[test]
fn pal009_probes_every_port_of_the_service_entry_and_the_gateway() {
    // The HTTP port of the entry is closed, its TLS port open to the internet
    let ports = format!("{{ number: 80, name: http, protocol: HTTP }}, {TLS}");
    let wide = "  - to: [{ ipBlock: { cidr: 0.0.0.0/0, except: [169.254.0.0/16] } }]\n    ports: [{ protocol: TCP, port: 443 }]\n";
    let yaml = format!(
        "{}{}",
        gateway_for("edition.cnn.com", "shop", "edition.cnn.com", &ports),
        closed("shop", wide)
    );
    assert_eq!(ids(&yaml, None), ["PAL009"]);
    // An entry on 80 only, carried by the gateway's server on 443
    let gateway_port = format!(
        "{}{}",
        gateway_for(
            "edition.cnn.com",
            "shop",
            "edition.cnn.com",
            "{ number: 80, name: http, protocol: HTTP }"
        ),
        closed("shop", wide)
    );
    assert_eq!(ids(&gateway_port, None), ["PAL009"]);
    let narrow = yaml.replace("cidr: 0.0.0.0/0, except: [169.254.0.0/16]", "cidr: 203.0.113.0/24");
    assert!(ids(&narrow, None).is_empty(), "{:?}", ids(&narrow, None));
}

#[test]
fn pal009_a_wide_allow_that_skips_the_documentation_ranges_is_a_way_out() {
    let gateway = gateway_for("edition.cnn.com", "shop", "edition.cnn.com", TLS);
    for cidr in ["0.0.0.0/1", "144.0.0.0/4", "::/0"] {
        let yaml = format!(
            "{gateway}{}",
            closed(
                "shop",
                &format!(
                    "  - to: [{{ ipBlock: {{ cidr: \"{cidr}\" }} }}]\n    ports: [{{ protocol: TCP, port: 443 }}]\n"
                )
            )
        );
        assert_eq!(ids(&yaml, None), ["PAL009"], "{cidr}");
    }
}

#[test]
fn pal009_skips_only_where_the_gateway_pods_run() {
    // istio.io "Egress Gateways": Gateway, ServiceEntry and pods in default,
    // the gateway pods in istio-system; default's egress closed
    let same = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: istio-egressgateway, namespace: default }\nspec:\n  selector: { istio: egressgateway }\n  servers: [{ port: { number: 443, name: tls, protocol: TLS }, hosts: [edition.cnn.com], tls: { mode: PASSTHROUGH } }]\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: cnn, namespace: default }\nspec: { hosts: [edition.cnn.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS }\n---\n";
    let locked = format!("{same}{}", closed("default", ""));
    assert!(ids(&locked, None).is_empty(), "{:?}", ids(&locked, None));
    // default left open is a way around, though the Gateway object is there
    assert_eq!(ids(same, None), ["PAL009"]);
    // The dump says where the gateway pods run: there, not istio-system, is
    // the namespace not probed
    let elsewhere = format!("{locked}---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: cnn, namespace: mesh-egress }}\nspec: {{ hosts: [edition.cnn.com], ports: [{TLS}], resolution: DNS }}\n");
    assert_eq!(ids(&elsewhere, None), ["PAL009"]);
    let cluster = palisade_compiler::cluster::from_yaml(
        "c.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: { name: gw-1, namespace: mesh-egress, labels: { istio: egressgateway } }\nspec: { containers: [] }\nstatus: { podIP: 10.0.0.7 }\n",
    )
    .unwrap();
    assert!(
        ids(&elsewhere, Some(&cluster)).is_empty(),
        "{:?}",
        ids(&elsewhere, Some(&cluster))
    );
}

/// Egress isolated, udp/53 open to `to` only
fn dns_to(to: &str) -> String {
    format!("{NP}spec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{to}]\n    ports: [{{ protocol: UDP, port: 53 }}]\n")
}

#[test]
fn pal002_udp_53_to_what_is_not_the_cluster_dns_does_not_count() {
    let metrics = dns_to("{ podSelector: { matchLabels: { app: metrics } } }");
    let cluster = palisade_compiler::cluster::from_yaml(
        "c.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- { apiVersion: v1, kind: Pod, metadata: { name: metrics-1, namespace: shop, labels: { app: metrics } }, status: { podIP: 10.0.0.5 } }\n- { apiVersion: v1, kind: Pod, metadata: { name: coredns-1, namespace: kube-system, labels: { k8s-app: kube-dns } }, status: { podIP: 10.0.0.9 } }\n",
    )
    .unwrap();
    assert_eq!(ids(&metrics, None), ["PAL002"]);
    assert_eq!(ids(&metrics, Some(&cluster)), ["PAL002"]);
    let message = &lint::lint(&manifests(&metrics), None)[0].message;
    assert!(
        message.contains("udp/53 to shop/app=metrics is no way to it"),
        "{message}"
    );
    // A public resolver is not what kubelet points pods at
    let google = dns_to("{ ipBlock: { cidr: 8.8.8.8/32 } }");
    assert_eq!(ids(&google, None), ["PAL002", "PAL004"]);
    // The conventional DNS, in the dump or not, and NodeLocal DNSCache count
    let kube_dns = dns_to("{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: kube-system } }, podSelector: { matchLabels: { k8s-app: kube-dns } } }");
    assert!(ids(&kube_dns, None).is_empty());
    assert!(ids(&kube_dns, Some(&cluster)).is_empty());
    assert!(ids(&dns_to("{ ipBlock: { cidr: 169.254.25.10/32 } }"), None).is_empty());
}

#[test]
fn pal002_is_at_the_object_that_isolates_and_only_its_annotation_silences_it() {
    // A Kubernetes and a Calico NetworkPolicy of one name: only Calico's isolates egress
    let twins = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: lockdown\n  namespace: shop\nspec:\n  podSelector: { matchLabels: { app: batch } }\n  policyTypes: [Ingress]\n---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: lockdown, namespace: shop }\nspec:\n  selector: all()\n  types: [Egress]\n";
    assert_eq!(fired(twins, None), [("PAL002", 1, "/spec".to_string())]);
    let annotated = twins.replacen(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations: { palisade.dev/lint-disable: PAL002 }\n",
        1,
    );
    assert_eq!(fired(&annotated, None), [("PAL002", 1, "/spec".to_string())]);
}
