//! The conformance table: each row cites the upstream test (file ::
//! ShortName :: subtest, conformance/tests @v0.2.0) or the godoc it follows.

use super::*;

/// A rule of a 7-rule conformance fixture: (name, action, house, ports)
type Written<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, u16)]);

/// The rules in `order` (indices into `rules`), each to or from its house's namespace
fn ordered(rules: &[Written], order: &[usize], peers_key: &str) -> Vec<String> {
    order
        .iter()
        .map(|&i| {
            let (name, action, to, p) = rules[i];
            rule(name, action, peers_key, &house(to), &ports(p))
        })
        .collect()
}

const P80_53_9003: &[(&str, u16)] = &[("tcp", 80), ("udp", 53), ("sctp", 9003)];
const P8080_5353_9003: &[(&str, u16)] = &[("tcp", 8080), ("udp", 5353), ("sctp", 9003)];
const P80_5353_9003: &[(&str, u16)] = &[("tcp", 80), ("udp", 5353), ("sctp", 9003)];

/// conformance/base/admin_tier/standard-gress-rules-combined.yaml
const GRESS_EGRESS: [Written; 7] = [
    ("allow-to-ravenclaw-everything", "Accept", "ravenclaw", &[]),
    ("deny-to-ravenclaw-everything", "Deny", "ravenclaw", &[]),
    ("pass-to-ravenclaw-everything", "Pass", "ravenclaw", &[]),
    (
        "deny-to-slytherin-at-ports-80-53-9003",
        "Deny",
        "slytherin",
        P80_53_9003,
    ),
    ("pass-to-slytherin-at-port-80-53-9003", "Pass", "slytherin", P80_53_9003),
    (
        "allow-to-hufflepuff-at-ports-8080-5353-9003",
        "Accept",
        "hufflepuff",
        P8080_5353_9003,
    ),
    ("deny-to-hufflepuff-everything-else", "Deny", "hufflepuff", &[]),
];
const GRESS_INGRESS: [Written; 7] = [
    ("allow-from-ravenclaw-everything", "Accept", "ravenclaw", &[]),
    ("deny-from-ravenclaw-everything", "Deny", "ravenclaw", &[]),
    ("pass-from-ravenclaw-everything", "Pass", "ravenclaw", &[]),
    (
        "deny-from-slytherin-at-port-80-53-9003",
        "Deny",
        "slytherin",
        P80_53_9003,
    ),
    (
        "pass-from-slytherin-at-port-80-53-9003",
        "Pass",
        "slytherin",
        P80_53_9003,
    ),
    (
        "allow-from-hufflepuff-at-port-80-5353-9003",
        "Accept",
        "hufflepuff",
        P80_5353_9003,
    ),
    ("deny-from-hufflepuff-everything-else", "Deny", "hufflepuff", &[]),
];

fn gress(order: &[usize]) -> String {
    cnp(
        "gress-rules",
        "Admin",
        15,
        &house("gryffindor"),
        &ordered(&GRESS_INGRESS, order, "from"),
        &ordered(&GRESS_EGRESS, order, "to"),
    )
}

fn priority_field(pass_priority: u32) -> String {
    let (subject, slytherin) = (house_pods("gryffindor"), house_pods("slytherin"));
    let both = |name: &str, tier: &str, priority: u32, action: &str, verb: &str| {
        cnp(
            name,
            tier,
            priority,
            &subject,
            &[rule(
                &format!("{verb}-all-ingress-from-slytherin"),
                action,
                "from",
                &slytherin,
                "",
            )],
            &[rule(
                &format!("{verb}-all-egress-to-slytherin"),
                action,
                "to",
                &slytherin,
                "",
            )],
        )
    };
    both("priority-50-example", "Admin", 50, "Deny", "deny")
        + &both(
            "old-priority-60-new-priority-40-example",
            "Admin",
            pass_priority,
            "Pass",
            "pass",
        )
        + &both("default", "Baseline", 10, "Accept", "allow")
}

#[test]
fn admin_priority_orders_deny_and_pass_and_pass_reaches_baseline() {
    check(
        &priority_field(60),
        "
// C1 admin-network-policy-standard-priority.go :: CNPAdminTierPriorityField :: Should Deny traffic from slytherin to gryffindor respecting admin CNP
S0 -> G0 tcp/80: deny by ClusterNetworkPolicy priority-50-example ingress[0] `deny-all-ingress-from-slytherin` Deny (Admin tier, priority 50)
S1 -> G0 tcp/8080: deny by ClusterNetworkPolicy priority-50-example ingress[0] `deny-all-ingress-from-slytherin` Deny (Admin tier, priority 50)
// C2 same :: Should Deny traffic to slytherin from gryffindor respecting admin CNP
G0 -> S0 tcp/80: deny by ClusterNetworkPolicy priority-50-example egress[0] `deny-all-egress-to-slytherin` Deny (Admin tier, priority 50)
G1 -> S1 tcp/8080: deny by ClusterNetworkPolicy priority-50-example egress[0] `deny-all-egress-to-slytherin` Deny (Admin tier, priority 50)
",
    );
    check(
        &priority_field(40),
        "
// C3 same :: Should respect admin CNP priority field; thus passing both ingress and egress traffic over to baseline CNP
S0 -> G0 tcp/80: allow by ClusterNetworkPolicy old-priority-60-new-priority-40-example ingress[0] `pass-all-ingress-from-slytherin` Pass (Admin tier, priority 40); ClusterNetworkPolicy default ingress[0] `allow-all-ingress-from-slytherin` Accept (Baseline tier, priority 10)
G0 -> S0 tcp/8080: allow by ClusterNetworkPolicy old-priority-60-new-priority-40-example egress[0] `pass-all-egress-to-slytherin` Pass (Admin tier, priority 40); ClusterNetworkPolicy default egress[0] `allow-all-egress-to-slytherin` Accept (Baseline tier, priority 10)
",
    );
}

/// conformance/base/api_integration/standard-anp-np-banp.yaml
fn integration(ingress: &str, egress: &str, network_policy: bool) -> String {
    let label = |h: &str| format!("{{ namespaces: {{ matchLabels: {{ conformance-house: {h} }} }} }}");
    let admin = cnp(
        "pass-example",
        "Admin",
        10,
        &label("gryffindor"),
        &[rule(
            "deny-all-ingress-from-slytherin",
            ingress,
            "from",
            &label("slytherin"),
            "",
        )],
        &[rule(
            "deny-all-egress-to-slytherin",
            egress,
            "to",
            &label("slytherin"),
            "",
        )],
    );
    let baseline = cnp(
        "default",
        "Baseline",
        10,
        &label("gryffindor"),
        &[rule(
            "deny-all-ingress-from-slytherin",
            "Deny",
            "from",
            &label("slytherin"),
            "",
        )],
        &[rule(
            "deny-all-egress-to-slytherin",
            "Deny",
            "to",
            &label("slytherin"),
            "",
        )],
    );
    let np = "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-gress-from-to-slytherin-to-gryffindor, namespace: network-policy-conformance-gryffindor }
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { conformance-house: slytherin } } }] }]
  egress: [{ to: [{ namespaceSelector: { matchLabels: { conformance-house: slytherin } } }] }]
";
    admin + if network_policy { np } else { "" } + &baseline
}

#[test]
fn admin_pass_hands_over_to_network_policy_and_without_one_to_baseline() {
    check(
        &integration("Deny", "Deny", true),
        "
// C4 admin-network-policy-standard-integration.go :: CNPAdminTierIntegration :: Should Deny traffic from slytherin to gryffindor respecting admin CNP
S0 -> G0 tcp/80: deny by ClusterNetworkPolicy pass-example ingress[0] `deny-all-ingress-from-slytherin` Deny (Admin tier, priority 10)
// C5 same :: Should Deny traffic to slytherin from gryffindor respecting admin CNP
G0 -> S0 tcp/8080: deny by ClusterNetworkPolicy pass-example egress[0] `deny-all-egress-to-slytherin` Deny (Admin tier, priority 10)
",
    );
    check(
        &integration("Pass", "Pass", true),
        "
// C6 same :: Should support a 'pass-ingress' policy for admin CNP and respect the match for network policy
S0 -> G0 tcp/80: allow by ClusterNetworkPolicy pass-example ingress[0] `deny-all-ingress-from-slytherin` Pass (Admin tier, priority 10); NetworkPolicy network-policy-conformance-gryffindor/allow-gress-from-to-slytherin-to-gryffindor ingress[0]
// C7 same :: Should support a 'pass-egress' policy for admin CNP and respect the match for network policy
G0 -> S0 tcp/8080: allow by ClusterNetworkPolicy pass-example egress[0] `deny-all-egress-to-slytherin` Pass (Admin tier, priority 10); NetworkPolicy network-policy-conformance-gryffindor/allow-gress-from-to-slytherin-to-gryffindor egress[0]
",
    );
    check(
        &integration("Pass", "Pass", false),
        "
// C8 same :: Should support a 'pass-ingress' policy for admin CNP and respect the match for baseline cluster network policy (the NetworkPolicy deleted)
S0 -> G0 tcp/80: deny by ClusterNetworkPolicy pass-example ingress[0] `deny-all-ingress-from-slytherin` Pass (Admin tier, priority 10); ClusterNetworkPolicy default ingress[0] `deny-all-ingress-from-slytherin` Deny (Baseline tier, priority 10)
// C9 same :: Should support a 'pass-egress' policy for admin CNP and respect the match for baseline cluster network policy
G0 -> S0 tcp/8080: deny by ClusterNetworkPolicy pass-example egress[0] `deny-all-egress-to-slytherin` Pass (Admin tier, priority 10); ClusterNetworkPolicy default egress[0] `deny-all-egress-to-slytherin` Deny (Baseline tier, priority 10)
",
    );
}

#[test]
fn rules_decide_in_written_order_on_their_protocols_and_ports() {
    check(
        &gress(&[0, 1, 2, 3, 4, 5, 6]),
        "
// C10 admin-network-policy-standard-gress-rules.go :: CNPAdminTierGress :: Should support an 'allow-gress' policy across different protocols
G0 -> R0 tcp/80: allow by ClusterNetworkPolicy gress-rules egress[0] `allow-to-ravenclaw-everything` Accept (Admin tier, priority 15)
G0 -> R1 udp/53: allow by ClusterNetworkPolicy gress-rules egress[0] `allow-to-ravenclaw-everything` Accept (Admin tier, priority 15)
G1 -> R0 sctp/9003: allow by ClusterNetworkPolicy gress-rules egress[0] `allow-to-ravenclaw-everything` Accept (Admin tier, priority 15)
R0 -> G0 tcp/80: allow by ClusterNetworkPolicy gress-rules ingress[0] `allow-from-ravenclaw-everything` Accept (Admin tier, priority 15)
R0 -> G0 sctp/9003: allow by ClusterNetworkPolicy gress-rules ingress[0] `allow-from-ravenclaw-everything` Accept (Admin tier, priority 15)
// C11 same :: Should support an 'allow-gress' policy across different protocols at the specified ports
G0 -> H0 tcp/8080: allow by ClusterNetworkPolicy gress-rules egress[5] `allow-to-hufflepuff-at-ports-8080-5353-9003` Accept (Admin tier, priority 15)
G0 -> H0 tcp/80: deny by ClusterNetworkPolicy gress-rules egress[6] `deny-to-hufflepuff-everything-else` Deny (Admin tier, priority 15)
G0 -> H0 udp/5353: allow by ClusterNetworkPolicy gress-rules egress[5] `allow-to-hufflepuff-at-ports-8080-5353-9003` Accept (Admin tier, priority 15)
G0 -> H0 udp/53: deny by ClusterNetworkPolicy gress-rules egress[6] `deny-to-hufflepuff-everything-else` Deny (Admin tier, priority 15)
G0 -> H0 sctp/9003: allow by ClusterNetworkPolicy gress-rules egress[5] `allow-to-hufflepuff-at-ports-8080-5353-9003` Accept (Admin tier, priority 15)
G0 -> H0 sctp/9005: deny by ClusterNetworkPolicy gress-rules egress[6] `deny-to-hufflepuff-everything-else` Deny (Admin tier, priority 15)
H0 -> G0 tcp/80: allow by ClusterNetworkPolicy gress-rules ingress[5] `allow-from-hufflepuff-at-port-80-5353-9003` Accept (Admin tier, priority 15)
H0 -> G0 tcp/8080: deny by ClusterNetworkPolicy gress-rules ingress[6] `deny-from-hufflepuff-everything-else` Deny (Admin tier, priority 15)
H0 -> G0 udp/5353: allow by ClusterNetworkPolicy gress-rules ingress[5] `allow-from-hufflepuff-at-port-80-5353-9003` Accept (Admin tier, priority 15)
H0 -> G0 sctp/9005: deny by ClusterNetworkPolicy gress-rules ingress[6] `deny-from-hufflepuff-everything-else` Deny (Admin tier, priority 15)
",
    );
    check(
        &gress(&[1, 0, 2, 3, 4, 5, 6]),
        "
// C12 same :: Should support an 'deny-gress' policy across different protocols (rules 0 and 1 swapped)
G0 -> R0 tcp/80: deny by ClusterNetworkPolicy gress-rules egress[0] `deny-to-ravenclaw-everything` Deny (Admin tier, priority 15)
G0 -> R0 udp/53: deny by ClusterNetworkPolicy gress-rules egress[0] `deny-to-ravenclaw-everything` Deny (Admin tier, priority 15)
R0 -> G0 sctp/9003: deny by ClusterNetworkPolicy gress-rules ingress[0] `deny-from-ravenclaw-everything` Deny (Admin tier, priority 15)
// C13 same :: Should support a 'deny-gress' policy across different protocols at the specified ports (no rule matches the other ports: the default allows)
G0 -> S0 tcp/80: deny by ClusterNetworkPolicy gress-rules egress[3] `deny-to-slytherin-at-ports-80-53-9003` Deny (Admin tier, priority 15)
G0 -> S0 tcp/8080: allow
G0 -> S0 udp/53: deny by ClusterNetworkPolicy gress-rules egress[3] `deny-to-slytherin-at-ports-80-53-9003` Deny (Admin tier, priority 15)
G0 -> S0 udp/5353: allow
G0 -> S0 sctp/9003: deny by ClusterNetworkPolicy gress-rules egress[3] `deny-to-slytherin-at-ports-80-53-9003` Deny (Admin tier, priority 15)
G0 -> S0 sctp/9005: allow
S0 -> G0 tcp/80: deny by ClusterNetworkPolicy gress-rules ingress[3] `deny-from-slytherin-at-port-80-53-9003` Deny (Admin tier, priority 15)
S0 -> G0 tcp/8080: allow
",
    );
    check(
        &gress(&[2, 0, 1, 3, 4, 5, 6]),
        "
// C14 same :: Should support an 'pass-gress' policy across different protocols (then rules 0 and 2 swapped: no NetworkPolicy, no Baseline, so the default allows)
G0 -> R0 tcp/80: allow by ClusterNetworkPolicy gress-rules egress[0] `pass-to-ravenclaw-everything` Pass (Admin tier, priority 15)
G0 -> R0 udp/5353: allow by ClusterNetworkPolicy gress-rules egress[0] `pass-to-ravenclaw-everything` Pass (Admin tier, priority 15)
R0 -> G0 udp/53: allow by ClusterNetworkPolicy gress-rules ingress[0] `pass-from-ravenclaw-everything` Pass (Admin tier, priority 15)
",
    );
    check(
        &gress(&[2, 0, 1, 4, 3, 5, 6]),
        "
// C15 same :: Should support an 'pass-gress' policy across different protocols at the specified ports (then rules 3 and 4 swapped)
G0 -> S0 tcp/80: allow by ClusterNetworkPolicy gress-rules egress[3] `pass-to-slytherin-at-port-80-53-9003` Pass (Admin tier, priority 15)
G0 -> S0 udp/53: allow by ClusterNetworkPolicy gress-rules egress[3] `pass-to-slytherin-at-port-80-53-9003` Pass (Admin tier, priority 15)
G0 -> S0 sctp/9005: allow
S0 -> G0 sctp/9003: allow by ClusterNetworkPolicy gress-rules ingress[3] `pass-from-slytherin-at-port-80-53-9003` Pass (Admin tier, priority 15)
",
    );
}

#[test]
fn baseline_rules_decide_in_written_order_where_no_network_policy_selects() {
    let mut egress = GRESS_EGRESS;
    egress[5].0 = "allow-to-hufflepuff-at-ports-8080-5353";
    let yaml = |order: &[usize]| {
        cnp(
            "default",
            "Baseline",
            10,
            &house("gryffindor"),
            &ordered(&GRESS_INGRESS, order, "from"),
            &ordered(&egress, order, "to"),
        )
    };
    check(
        &yaml(&[0, 1, 3, 5, 6]),
        "
// C20 baseline-admin-network-policy-standard-gress-rules.go :: CNPBaselineTierGress :: Should support an 'allow-gress' policy across different protocols at the specified ports
G0 -> H0 tcp/8080: allow by ClusterNetworkPolicy default egress[3] `allow-to-hufflepuff-at-ports-8080-5353` Accept (Baseline tier, priority 10)
G0 -> H0 tcp/80: deny by ClusterNetworkPolicy default egress[4] `deny-to-hufflepuff-everything-else` Deny (Baseline tier, priority 10)
G0 -> H0 sctp/9005: deny by ClusterNetworkPolicy default egress[4] `deny-to-hufflepuff-everything-else` Deny (Baseline tier, priority 10)
H0 -> G0 tcp/80: allow by ClusterNetworkPolicy default ingress[3] `allow-from-hufflepuff-at-port-80-5353-9003` Accept (Baseline tier, priority 10)
H0 -> G0 udp/53: deny by ClusterNetworkPolicy default ingress[4] `deny-from-hufflepuff-everything-else` Deny (Baseline tier, priority 10)
",
    );
    check(
        &yaml(&[1, 0, 3, 5, 6]),
        "
// C21 same :: Should support a 'deny-gress' policy across different protocols at the specified ports
G0 -> R0 tcp/80: deny by ClusterNetworkPolicy default egress[0] `deny-to-ravenclaw-everything` Deny (Baseline tier, priority 10)
G0 -> S0 tcp/80: deny by ClusterNetworkPolicy default egress[2] `deny-to-slytherin-at-ports-80-53-9003` Deny (Baseline tier, priority 10)
G0 -> S0 tcp/8080: allow
S0 -> G0 udp/53: deny by ClusterNetworkPolicy default ingress[2] `deny-from-slytherin-at-port-80-53-9003` Deny (Baseline tier, priority 10)
S0 -> G0 udp/5353: allow
",
    );
}

/// conformance/base/{admin,baseline}_tier/standard-egress-inline-cidr-rules.yaml,
/// with the rule the test inserts first when `inserted`
fn inline_cidr(tier: &str, priority: u32, name: &str, subject: &str, inserted: bool) -> String {
    let mut egress = vec![
        rule(
            "allow-egress-to-slytherin",
            "Accept",
            "to",
            &house_pods("slytherin"),
            "",
        ),
        rule(
            "deny-egress-to-internet",
            "Deny",
            "to",
            "{ networks: [0.0.0.0/0, '::/0'] }",
            "",
        ),
    ];
    if inserted {
        let pods = "{ networks: [10.244.4.10/32, 10.244.3.10/32] }";
        egress.insert(0, rule("allow-egress-to-specific-podIPs", "Accept", "to", pods, ""));
    }
    cnp(name, tier, priority, subject, &[], &egress)
}

#[test]
fn networks_match_pod_addresses_as_well_as_the_outside() {
    let admin = |inserted| {
        inline_cidr(
            "Admin",
            85,
            "inline-cidr-as-peers-example",
            &house_pods("gryffindor"),
            inserted,
        )
    };
    check(
        &admin(false),
        "
// C16 admin-network-policy-standard-egress-inline-cidr-rules.go :: CNPAdminTierEgressInlineCIDRPeers :: Should support a 'deny-egress' rule policy for egress-cidr-peer ([T] Networks: cluster-internal traffic is checked against the rule as well)
G0 -> R0 tcp/80: deny by ClusterNetworkPolicy inline-cidr-as-peers-example egress[1] `deny-egress-to-internet` Deny (Admin tier, priority 85)
G0 -> H1 udp/53: deny by ClusterNetworkPolicy inline-cidr-as-peers-example egress[1] `deny-egress-to-internet` Deny (Admin tier, priority 85)
G0 -> S0 sctp/9003: allow by ClusterNetworkPolicy inline-cidr-as-peers-example egress[0] `allow-egress-to-slytherin` Accept (Admin tier, priority 85)
G0 -> 203.0.113.7 tcp/443: deny by ClusterNetworkPolicy inline-cidr-as-peers-example egress[1] `deny-egress-to-internet` Deny (Admin tier, priority 85)
// ingress is not egress: the subject's egress rules do not bear on what enters it
R0 -> G0 tcp/80: allow
",
    );
    check(
        &admin(true),
        "
// C18 same :: Should support an 'allow-egress' rule policy for egress-cidr-peer (the pods' /32s inserted first)
G0 -> R0 tcp/80: allow by ClusterNetworkPolicy inline-cidr-as-peers-example egress[0] `allow-egress-to-specific-podIPs` Accept (Admin tier, priority 85)
G0 -> H0 sctp/9003: allow by ClusterNetworkPolicy inline-cidr-as-peers-example egress[0] `allow-egress-to-specific-podIPs` Accept (Admin tier, priority 85)
G0 -> R1 tcp/80: deny by ClusterNetworkPolicy inline-cidr-as-peers-example egress[2] `deny-egress-to-internet` Deny (Admin tier, priority 85)
G0 -> H1 udp/53: deny by ClusterNetworkPolicy inline-cidr-as-peers-example egress[2] `deny-egress-to-internet` Deny (Admin tier, priority 85)
",
    );
    let baseline = |inserted| inline_cidr("Baseline", 10, "default", &house("gryffindor"), inserted);
    check(
        &baseline(true),
        "
// C19 baseline-admin-network-policy-standard-egress-inline-cidr-rules.go :: CNPBaselineTierEgressInlineCIDRPeers (no NetworkPolicy anywhere, so Baseline decides)
G0 -> R0 tcp/80: allow by ClusterNetworkPolicy default egress[0] `allow-egress-to-specific-podIPs` Accept (Baseline tier, priority 10)
G0 -> R1 tcp/80: deny by ClusterNetworkPolicy default egress[2] `deny-egress-to-internet` Deny (Baseline tier, priority 10)
G0 -> S1 udp/53: allow by ClusterNetworkPolicy default egress[1] `allow-egress-to-slytherin` Accept (Baseline tier, priority 10)
",
    );
}

#[test]
fn named_ports_resolve_on_the_destination_pod() {
    let web = "{ destinationNamedPort: web }";
    let dns = "{ destinationNamedPort: dns }";
    let to = |h: &str| house(h);
    let admin_egress = cnp(
        "egress-tcp",
        "Admin",
        6,
        &house("gryffindor"),
        &[],
        &[
            rule("allow-to-ravenclaw-everything", "Accept", "to", &to("ravenclaw"), ""),
            rule("deny-to-ravenclaw-everything", "Deny", "to", &to("ravenclaw"), ""),
            rule("pass-to-ravenclaw-everything", "Pass", "to", &to("ravenclaw"), ""),
            rule(
                "deny-to-slytherin-at-port-80",
                "Deny",
                "to",
                &to("slytherin"),
                &ports(&[("tcp", 80)]),
            ),
            rule(
                "pass-to-slytherin-at-port-80",
                "Pass",
                "to",
                &to("slytherin"),
                &ports(&[("tcp", 80)]),
            ),
            rule(
                "allow-to-hufflepuff-at-port-8080",
                "Accept",
                "to",
                &to("hufflepuff"),
                web,
            ),
            rule(
                "deny-to-hufflepuff-everything-else",
                "Deny",
                "to",
                &to("hufflepuff"),
                "",
            ),
        ],
    );
    check(
        &admin_egress,
        "
// C22 admin-network-policy-experimental-egress-rules.go :: CNPAdminTierEgressNamedPort :: Should support an 'allow-egress' policy for named port (egress[5] patched to `web`)
G0 -> H0 tcp/80: allow by ClusterNetworkPolicy egress-tcp egress[5] `allow-to-hufflepuff-at-port-8080` Accept (Admin tier, priority 6)
G0 -> H0 tcp/8080: deny by ClusterNetworkPolicy egress-tcp egress[6] `deny-to-hufflepuff-everything-else` Deny (Admin tier, priority 6)
// a named port carries no protocol of its own: `web` is TCP 80, so UDP 80 does not match it
G0 -> H0 udp/80: deny by ClusterNetworkPolicy egress-tcp egress[6] `deny-to-hufflepuff-everything-else` Deny (Admin tier, priority 6)
",
    );
    let admin_ingress = cnp(
        "ingress-udp",
        "Admin",
        4,
        &house("hufflepuff"),
        &[
            rule(
                "allow-from-gryffindor-at-port-53",
                "Accept",
                "from",
                &to("gryffindor"),
                dns,
            ),
            rule(
                "deny-from-gryffindor-everything-else",
                "Deny",
                "from",
                &to("gryffindor"),
                "",
            ),
        ],
        &[],
    );
    check(
        &admin_ingress,
        "
// C23 admin-network-policy-experimental-ingress-rules.go :: CNPAdminTierIngressNamedPort (ingress[5..6] of standard-ingress-udp-rules.yaml; rules 0-4 name other houses)
G0 -> H0 udp/53: allow by ClusterNetworkPolicy ingress-udp ingress[0] `allow-from-gryffindor-at-port-53` Accept (Admin tier, priority 4)
G0 -> H0 udp/5353: deny by ClusterNetworkPolicy ingress-udp ingress[1] `deny-from-gryffindor-everything-else` Deny (Admin tier, priority 4)
",
    );
    let baseline_egress = cnp(
        "default",
        "Baseline",
        10,
        &house("hufflepuff"),
        &[],
        &[
            rule("allow-to-gryffindor-at-port-53", "Accept", "to", &to("gryffindor"), dns),
            rule(
                "deny-to-gryffindor-everything-else",
                "Deny",
                "to",
                &to("gryffindor"),
                "",
            ),
        ],
    );
    check(
        &baseline_egress,
        "
// C24 baseline-admin-network-policy-experimental-egress-rules.go :: CNPBaselineTierEgressNamedPort (egress[3..4] of standard-egress-udp-rules.yaml)
H0 -> G0 udp/53: allow by ClusterNetworkPolicy default egress[0] `allow-to-gryffindor-at-port-53` Accept (Baseline tier, priority 10)
H0 -> G0 udp/5353: deny by ClusterNetworkPolicy default egress[1] `deny-to-gryffindor-everything-else` Deny (Baseline tier, priority 10)
",
    );
    let baseline_ingress = cnp(
        "default",
        "Baseline",
        10,
        &house("gryffindor"),
        &[
            rule(
                "allow-from-hufflepuff-at-port-80",
                "Accept",
                "from",
                &to("hufflepuff"),
                web,
            ),
            rule(
                "deny-from-hufflepuff-everything-else",
                "Deny",
                "from",
                &to("hufflepuff"),
                "",
            ),
        ],
        &[],
    );
    check(
        &baseline_ingress,
        "
// C25 baseline-admin-network-policy-experimental-ingress-rules.go :: CNPBaselineTierIngressNamedPort (ingress[3..4] of standard-ingress-tcp-rules.yaml)
H0 -> G0 tcp/80: allow by ClusterNetworkPolicy default ingress[0] `allow-from-hufflepuff-at-port-80` Accept (Baseline tier, priority 10)
H0 -> G0 tcp/8080: deny by ClusterNetworkPolicy default ingress[1] `deny-from-hufflepuff-everything-else` Deny (Baseline tier, priority 10)
",
    );
}

#[test]
fn a_port_range_includes_both_ends() {
    let range = "{ tcp: { destinationPort: { range: { start: 80, end: 8080 } } } }";
    let yaml = cnp(
        "range",
        "Admin",
        1,
        &house("gryffindor"),
        &[],
        &[
            rule("allow-range", "Accept", "to", &house("slytherin"), range),
            rule("deny-rest", "Deny", "to", &house("slytherin"), ""),
        ],
    );
    check(
        &yaml,
        "
// C27 baseline-admin-network-policy-experimental-egress-rules.go :: CNPBaselineTierEgressNodePeers (range P0..P1: both ends allowed); [T] PortRange: an inclusive range
G0 -> S0 tcp/80: allow by ClusterNetworkPolicy range egress[0] `allow-range` Accept (Admin tier, priority 1)
G0 -> S0 tcp/8080: allow by ClusterNetworkPolicy range egress[0] `allow-range` Accept (Admin tier, priority 1)
G0 -> S0 tcp/8081: deny by ClusterNetworkPolicy range egress[1] `deny-rest` Deny (Admin tier, priority 1)
G0 -> S0 udp/80: deny by ClusterNetworkPolicy range egress[1] `deny-rest` Deny (Admin tier, priority 1)
",
    );
}

/// A NetworkPolicy in gryffindor that isolates ingress and admits only ravenclaw
const ISOLATE_GRYFFINDOR: &str = "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: only-ravenclaw, namespace: network-policy-conformance-gryffindor }
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { conformance-house: ravenclaw } } }] }]
";

#[test]
fn tiers_compose_with_network_policy_per_direction() {
    let admin_accept = cnp(
        "accept-s",
        "Admin",
        1000,
        &house("gryffindor"),
        &[rule("accept-s", "Accept", "from", &house("slytherin"), "")],
        &[],
    );
    let baseline_accept = cnp(
        "baseline-accept-h",
        "Baseline",
        1,
        &house("gryffindor"),
        &[rule("accept-h", "Accept", "from", &house("hufflepuff"), "")],
        &[],
    );
    check(
        &(admin_accept + ISOLATE_GRYFFINDOR + &baseline_accept),
        "
// [T] Tier and priority godoc: all Admin tier rules have higher precedence than NetworkPolicy, even at priority 1000; Accept: no further NetworkPolicy rules are processed
S0 -> G0 tcp/80: allow by ClusterNetworkPolicy accept-s ingress[0] `accept-s` Accept (Admin tier, priority 1000)
// [T] Tier godoc: NetworkPolicy always makes a final decision for selected pods, so Baseline is not reached
H0 -> G0 tcp/80: deny by NetworkPolicy network-policy-conformance-gryffindor/only-ravenclaw isolates ingress
R0 -> G0 tcp/80: allow by NetworkPolicy network-policy-conformance-gryffindor/only-ravenclaw ingress[0]
// the NetworkPolicy isolates ingress only: egress goes on to Baseline, which has no egress rules, and the default allows
G0 -> H0 tcp/80: allow
",
    );
    let egress_accept = cnp(
        "s-may-reach-g",
        "Admin",
        1,
        &house("slytherin"),
        &[],
        &[rule("accept-g", "Accept", "to", &house("gryffindor"), "")],
    );
    let ingress_deny = cnp(
        "g-refuses-s",
        "Admin",
        2,
        &house("gryffindor"),
        &[rule("deny-s", "Deny", "from", &house("slytherin"), "")],
        &[],
    );
    check(
        &(egress_accept + &ingress_deny),
        "
// [T]@HEAD egress Accept godoc: no further egress rules are processed, but any ingress rules at the destination do apply
S0 -> G0 tcp/80: deny by ClusterNetworkPolicy s-may-reach-g egress[0] `accept-g` Accept (Admin tier, priority 1); ClusterNetworkPolicy g-refuses-s ingress[0] `deny-s` Deny (Admin tier, priority 2)
",
    );
}

#[test]
fn a_baseline_pass_leaves_the_connection_to_the_default() {
    let yaml = cnp(
        "default",
        "Baseline",
        5,
        &house_pods("gryffindor"),
        &[],
        &[
            rule("pass-s", "Pass", "to", &house("slytherin"), ""),
            rule("deny-all", "Deny", "to", "{ namespaces: {} }", ""),
        ],
    );
    check(
        &yaml,
        "
// [T] Pass: skips all further rules in the current tier; after Baseline the default applies, and all pods may communicate (no conformance test: derived, fact sheet 2.2)
G0 -> S0 tcp/80: allow by ClusterNetworkPolicy default egress[0] `pass-s` Pass (Baseline tier, priority 5)
G0 -> R0 tcp/80: deny by ClusterNetworkPolicy default egress[1] `deny-all` Deny (Baseline tier, priority 5)
// `namespaces: {}` selects every pod, not outside addresses
G0 -> 203.0.113.7 tcp/443: allow
",
    );
}

#[test]
fn a_pods_subject_without_namespace_selector_selects_every_namespace() {
    let yaml = cnp(
        "deny-dns-everywhere",
        "Admin",
        3,
        "{ pods: { podSelector: {} } }",
        &[],
        &[rule(
            "deny-udp-53",
            "Deny",
            "to",
            "{ pods: { podSelector: {} } }",
            &ports(&[("udp", 53)]),
        )],
    );
    check(
        &yaml,
        "
// [T] NamespacedPod: namespaceSelector, if empty, selects all Namespaces (the CRD requires only podSelector)
R1 -> H0 udp/53: deny by ClusterNetworkPolicy deny-dns-everywhere egress[0] `deny-udp-53` Deny (Admin tier, priority 3)
S0 -> G1 udp/53: deny by ClusterNetworkPolicy deny-dns-everywhere egress[0] `deny-udp-53` Deny (Admin tier, priority 3)
S0 -> G1 tcp/53: allow
",
    );
}

/// [T] Priority godoc: with equal priorities "the implementation can apply
/// any of the matching policies", so palisade reports the tie and fails closed
#[test]
fn policies_of_one_tier_at_one_priority_that_may_overlap_are_a_problem() {
    let deny = |name: &str, subject: &str| {
        cnp(
            name,
            "Admin",
            7,
            subject,
            &[rule("deny-s", "Deny", "from", &house("slytherin"), "")],
            &[],
        )
    };
    let accept = |name: &str, subject: &str| {
        cnp(
            name,
            "Admin",
            7,
            subject,
            &[rule("accept-s", "Accept", "from", &house("slytherin"), "")],
            &[],
        )
    };
    let tied = manifests(&(deny("a", &house("gryffindor")) + &accept("b", "{ namespaces: {} }")));
    tied.iter().for_each(admitted);
    let problems = kubernetes().problems(&tied);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].manifest, problems[0].pointer.as_str()),
        (1, "/spec/priority")
    );
    assert!(
        problems[0].message.contains("`a` and `b` share priority 7"),
        "{problems:?}"
    );
    let model = model();
    let evaluator = kubernetes().evaluator(&tied);
    assert!(
        render(evaluator.as_ref(), &model, "R0 -> H0 tcp/80")
            .starts_with("R0 -> H0 tcp/80: deny by ClusterNetworkPolicy b not evaluated: "),
        "fails closed on every connection while the problem stands"
    );
    // Subjects that cannot share a pod, or actions that agree, leave no doubt.
    let disjoint = manifests(&(deny("a", &house("gryffindor")) + &accept("b", &house("hufflepuff"))));
    assert_eq!(kubernetes().problems(&disjoint), Vec::new());
    let agreeing = manifests(&(deny("a", &house("gryffindor")) + &deny("b", "{ namespaces: {} }")));
    assert_eq!(kubernetes().problems(&agreeing), Vec::new());
    let other_tier = manifests(
        &(deny("a", &house("gryffindor"))
            + &accept("b", "{ namespaces: {} }").replace("tier: Admin", "tier: Baseline")),
    );
    assert_eq!(kubernetes().problems(&other_tier), Vec::new());
}

/// conformance/base/admin_tier/experimental-egress-selector-rules.yaml
/// (C26): `nodes` peers match node addresses the model does not hold
#[test]
fn peers_the_model_cannot_place_are_problems() {
    let yaml = cnp(
        "node-and-domain",
        "Admin",
        75,
        &house_pods("gryffindor"),
        &[],
        &[
            rule(
                "allow-to-nodes",
                "Accept",
                "to",
                "{ nodes: { matchLabels: { kubernetes.io/os: linux } } }",
                &ports(&[("tcp", 10250)]),
            ),
            rule(
                "allow-to-docs",
                "Accept",
                "to",
                "{ domainNames: [kubernetes.io, '*.kubernetes.io'] }",
                "",
            ),
            rule(
                "named-to-networks",
                "Deny",
                "to",
                "{ networks: [10.0.0.0/8] }",
                "{ destinationNamedPort: web }",
            ),
        ],
    );
    let policies = manifests(&yaml);
    policies.iter().for_each(admitted);
    let found: Vec<String> = kubernetes()
        .problems(&policies)
        .into_iter()
        .map(|p| p.pointer)
        .collect();
    assert_eq!(
        found,
        [
            "/spec/egress/0/to/0/nodes",
            "/spec/egress/1/to/0/domainNames",
            "/spec/egress/2/protocols/0"
        ]
    );
    let model = model();
    let evaluator = kubernetes().evaluator(&policies);
    assert!(!evaluator.allows(
        &model,
        &Connection {
            from: endpoint(&model, "S0"),
            to: endpoint(&model, "H0"),
            protocol: Protocol::Tcp,
            port: 80,
            request: None
        }
    ));
}

/// [T] peer godoc: a peer that sets no member it knows "fails closed": an
/// Accept rule matches no traffic, a Deny or Pass rule denies all. The API
/// server refuses such peers; admission says so, and the evaluator follows
/// the godoc for a peer written for a newer version.
#[test]
fn a_peer_that_sets_no_known_member_fails_closed() {
    let accept = cnp(
        "a",
        "Admin",
        1,
        &house("gryffindor"),
        &[rule("newer", "Accept", "from", "{ future: {} }", "")],
        &[],
    );
    let pass = cnp(
        "b",
        "Admin",
        2,
        &house("gryffindor"),
        &[rule("newer", "Pass", "from", "{ future: {} }", "")],
        &[],
    );
    let policies = manifests(&(accept + &pass));
    assert!(policies.iter().all(|m| !kubernetes().admission(m).is_empty()));
    if let Some(errors) = schema_errors(&policies[0].object, true) {
        assert!(!errors.is_empty(), "the strict schema refuses the unknown member");
    }
    let model = model();
    let evaluator = kubernetes().evaluator(&policies);
    assert_eq!(
        render(evaluator.as_ref(), &model, "S0 -> G0 tcp/80"),
        "S0 -> G0 tcp/80: deny by ClusterNetworkPolicy b ingress[0] `newer` Pass (Admin tier, priority 2; a peer or protocol it cannot read makes it deny all)"
    );
}
