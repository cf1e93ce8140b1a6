//! Generated intents: a few namespaces with random postures, services and
//! rules in every peer and port form the kubernetes target can express.

use proptest::prelude::*;

fn pod_peer() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..3usize, 0..4usize).prop_map(|(ns, svc)| format!("ns{ns}/svc{svc}")),
        (0..4usize).prop_map(|svc| format!("svc{svc}")),
        (0..3usize).prop_map(|ns| format!("ns{ns}/*")),
    ]
}

fn outside_source() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("10.30.0.0/16".to_string()),
        Just("192.0.2.7".to_string()),
        Just("world".to_string())
    ]
}

fn outside_destination() -> impl Strategy<Value = String> {
    prop_oneof![
        outside_source(),
        Just("kube-api".to_string()),
        Just("dns".to_string()),
        Just("api.example.com".to_string()),
        Just("*.example.com".to_string()),
    ]
}

fn ports(named_allowed: bool) -> impl Strategy<Value = Vec<String>> {
    let numbered = prop_oneof![
        Just("tcp/80".to_string()),
        Just("udp/53".to_string()),
        Just("tcp/8000-8100".to_string()),
        Just("sctp/9".to_string())
    ];
    let port = if named_allowed {
        prop_oneof![4 => numbered, 1 => Just("http".to_string())].boxed()
    } else {
        numbered.boxed()
    };
    prop::collection::vec(port, 0..3)
}

/// A rule with at least one side in a managed namespace; named ports only
/// towards services, which declare them
fn rule_strategy() -> impl Strategy<Value = (String, String, Vec<String>)> {
    prop_oneof![
        (pod_peer(), pod_peer()).prop_flat_map(|(from, to)| {
            let named = !to.ends_with('*');
            (Just(from), Just(to), ports(named))
        }),
        (pod_peer(), outside_destination(), ports(false)),
        (outside_source(), pod_peer()).prop_flat_map(|(from, to)| {
            let named = !to.ends_with('*');
            (Just(from), Just(to), ports(named))
        }),
    ]
}

pub type GeneratedNamespace = (
    usize,
    Vec<(String, String, Vec<String>)>,
    Vec<&'static str>,
    Vec<(usize, usize)>,
    Option<usize>,
);

pub fn namespace_strategy() -> impl Strategy<Value = GeneratedNamespace> {
    (
        0..3usize,
        prop::collection::vec(rule_strategy(), 0..6),
        prop::sample::subsequence(vec!["dns", "kube-api", "metadata"], 0..3),
        prop::collection::vec((0..4usize, 0..4usize), 0..2),
        prop::option::of(0..4usize),
    )
}

pub fn render(namespaces: &[GeneratedNamespace]) -> Vec<(&'static str, String)> {
    let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: gen }\nspec:\n  cluster:\n    apiServer: { cidrs: [172.20.0.10/32] }\n    clusterCIDRs: [10.244.0.0/16]\n    nodeLocalDNS: 169.254.20.10\n".to_string();
    let mut files = vec![("palisade.yaml", project)];
    let names = ["ns0.yaml", "ns1.yaml", "ns2.yaml"];
    for (index, (posture, rules, baseline, l7, except)) in namespaces.iter().enumerate() {
        let posture = ["default-deny", "default-deny-ingress", "none"][*posture];
        let mut text = format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: ns{index}, namespace: ns{index} }}\nspec:\n  posture: {posture}\n  baseline: [{}]\n  services:\n", baseline.join(", "));
        for svc in 0..4 {
            let labels = if svc == 3 {
                format!("{{ app: svc{svc}, tier: x }}")
            } else {
                format!("{{ app: svc{svc} }}")
            };
            text.push_str(&format!(
                "    svc{svc}: {{ selector: {labels}, ports: {{ http: tcp/8080 }} }}\n"
            ));
        }
        text.push_str("  allow:\n");
        for (from, to, ports) in rules {
            text.push_str(&format!("    - \"{from} -> {to} {}\"\n", ports.join(",")));
        }
        if let Some(svc) = except {
            text.push_str(&format!("    - {{ from: svc{svc}, to: {{ cidr: 10.30.0.0/16, except: [10.30.128.0/17, 10.30.1.0/24] }}, ports: [tcp/443] }}\n"));
        }
        for (from, to) in l7 {
            text.push_str(&format!("    - {{ from: svc{from}, to: svc{to}, ports: [tcp/8080], http: [{{ method: GET, path: /api/* }}, {{ method: POST, path: /api/orders }}] }}\n"));
        }
        files.push((names[index], text));
    }
    files
}
