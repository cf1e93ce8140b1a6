//! What the API server refuses in a ClusterNetworkPolicy, one shape per
//! row: palisade's admission names the field, and the CRD schema (plain or
//! strict) refuses it too where jsonschema can tell; CEL rules and
//! `listType: set` only the API server checks.

use super::*;

/// Who else refuses the shape
#[derive(Debug, Clone, Copy, PartialEq)]
enum Also {
    /// the schema, plain
    Schema,
    /// the schema with unknown fields refused (kubectl --validate=strict)
    Strict,
    /// a CEL rule or the list type: the API server only
    Server,
}

fn base() -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": { "name": "base" },
        "spec": {
            "tier": "Admin",
            "priority": 10,
            "subject": { "namespaces": {} },
            "ingress": [{ "name": "in", "action": "Deny", "from": [{ "namespaces": {} }],
                "protocols": [{ "tcp": { "destinationPort": { "number": 80 } } }] }],
            "egress": [{ "name": "out", "action": "Accept", "to": [{ "networks": ["10.0.0.0/8"] }],
                "protocols": [{ "udp": { "destinationPort": { "range": { "start": 53, "end": 54 } } } }] }]
        }
    })
}

/// The base with the value at `pointer` replaced (created where absent)
fn with(pointer: &str, value: Value) -> Value {
    let mut object = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let slot = object.pointer_mut(parent).unwrap();
    match slot {
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        Value::Object(map) => {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.into(), value);
            }
        }
        _ => panic!("{pointer}"),
    }
    object
}

fn many(item: Value) -> Value {
    Value::Array(vec![item; 26])
}

#[test]
fn the_base_policy_is_admitted() {
    admitted(&Manifest::new(base()));
}

#[test]
fn each_refused_shape_is_named_at_its_field() {
    let rule = json!({ "action": "Deny", "from": [{ "namespaces": {} }] });
    let cases: Vec<(&str, Value, &str, Also)> = vec![
        ("no spec", with("/spec", Value::Null), "/spec", Also::Schema),
        (
            "priority above 1000",
            with("/spec/priority", json!(1001)),
            "/spec/priority",
            Also::Schema,
        ),
        (
            "negative priority",
            with("/spec/priority", json!(-1)),
            "/spec/priority",
            Also::Schema,
        ),
        (
            "no priority",
            with("/spec/priority", Value::Null),
            "/spec",
            Also::Schema,
        ),
        (
            "tier in lower case",
            with("/spec/tier", json!("admin")),
            "/spec/tier",
            Also::Schema,
        ),
        (
            "empty subject",
            with("/spec/subject", json!({})),
            "/spec/subject",
            Also::Schema,
        ),
        (
            "subject with both members",
            with(
                "/spec/subject",
                json!({ "namespaces": {}, "pods": { "podSelector": {} } }),
            ),
            "/spec/subject",
            Also::Schema,
        ),
        (
            "pods without podSelector",
            with("/spec/subject", json!({ "pods": { "namespaceSelector": {} } })),
            "/spec/subject/pods",
            Also::Schema,
        ),
        (
            "v1alpha1 action",
            with("/spec/ingress/0/action", json!("Allow")),
            "/spec/ingress/0/action",
            Also::Schema,
        ),
        (
            "rule without peers",
            with("/spec/ingress/0/from", Value::Null),
            "/spec/ingress/0",
            Also::Schema,
        ),
        (
            "empty peer list",
            with("/spec/ingress/0/from", json!([])),
            "/spec/ingress/0/from",
            Also::Schema,
        ),
        (
            "26 rules",
            with("/spec/ingress", many(rule.clone())),
            "/spec/ingress",
            Also::Schema,
        ),
        (
            "26 peers",
            with("/spec/ingress/0/from", many(json!({ "namespaces": {} }))),
            "/spec/ingress/0/from",
            Also::Schema,
        ),
        (
            "26 protocols",
            with(
                "/spec/ingress/0/protocols",
                many(json!({ "destinationNamedPort": "web" })),
            ),
            "/spec/ingress/0/protocols",
            Also::Schema,
        ),
        (
            "empty protocols",
            with("/spec/ingress/0/protocols", json!([])),
            "/spec/ingress/0/protocols",
            Also::Schema,
        ),
        (
            "peer with two members",
            with(
                "/spec/ingress/0/from/0",
                json!({ "namespaces": {}, "pods": { "podSelector": {} } }),
            ),
            "/spec/ingress/0/from/0",
            Also::Schema,
        ),
        (
            "empty peer",
            with("/spec/ingress/0/from/0", json!({})),
            "/spec/ingress/0/from/0",
            Also::Schema,
        ),
        (
            "networks on ingress",
            with("/spec/ingress/0/from/0", json!({ "networks": ["10.0.0.0/8"] })),
            "/spec/ingress/0/from/0/networks",
            Also::Strict,
        ),
        (
            "tcp: {}",
            with("/spec/ingress/0/protocols/0", json!({ "tcp": {} })),
            "/spec/ingress/0/protocols/0/tcp",
            Also::Schema,
        ),
        (
            "two protocols in one entry",
            with(
                "/spec/ingress/0/protocols/0",
                json!({ "tcp": { "destinationPort": { "number": 80 } }, "destinationNamedPort": "web" }),
            ),
            "/spec/ingress/0/protocols/0",
            Also::Schema,
        ),
        (
            "number and range",
            with(
                "/spec/ingress/0/protocols/0/tcp/destinationPort",
                json!({ "number": 80, "range": { "start": 1, "end": 2 } }),
            ),
            "/spec/ingress/0/protocols/0/tcp/destinationPort",
            Also::Schema,
        ),
        (
            "port 0",
            with("/spec/ingress/0/protocols/0/tcp/destinationPort/number", json!(0)),
            "/spec/ingress/0/protocols/0/tcp/destinationPort/number",
            Also::Schema,
        ),
        (
            "port 65536",
            with("/spec/ingress/0/protocols/0/tcp/destinationPort/number", json!(65536)),
            "/spec/ingress/0/protocols/0/tcp/destinationPort/number",
            Also::Schema,
        ),
        (
            "range without end",
            with(
                "/spec/egress/0/protocols/0/udp/destinationPort/range",
                json!({ "start": 53 }),
            ),
            "/spec/egress/0/protocols/0/udp/destinationPort/range",
            Also::Schema,
        ),
        (
            "range of one port",
            with(
                "/spec/egress/0/protocols/0/udp/destinationPort/range",
                json!({ "start": 53, "end": 53 }),
            ),
            "/spec/egress/0/protocols/0/udp/destinationPort/range",
            Also::Server,
        ),
        (
            "v1alpha1 ports",
            with("/spec/ingress/0/ports", json!([{ "portNumber": { "port": 80 } }])),
            "/spec/ingress/0/ports",
            Also::Strict,
        ),
        (
            "not a CIDR",
            with("/spec/egress/0/to/0/networks", json!(["10.0.0.0/33"])),
            "/spec/egress/0/to/0/networks/0",
            Also::Server,
        ),
        (
            "a CIDR listed twice",
            with("/spec/egress/0/to/0/networks", json!(["10.0.0.0/8", "10.0.0.0/8"])),
            "/spec/egress/0/to/0/networks/1",
            Also::Server,
        ),
        (
            "a CIDR over 43 characters",
            with(
                "/spec/egress/0/to/0/networks",
                json!(["0000:0000:0000:0000:0000:0000:0000:0000/0128"]),
            ),
            "/spec/egress/0/to/0/networks/0",
            Also::Schema,
        ),
        (
            "rule name over 100 characters",
            with("/spec/ingress/0/name", json!("n".repeat(101))),
            "/spec/ingress/0/name",
            Also::Schema,
        ),
        (
            "expression without operator",
            with(
                "/spec/subject",
                json!({ "namespaces": { "matchExpressions": [{ "key": "team" }] } }),
            ),
            "/spec/subject/namespaces/matchExpressions/0",
            Also::Schema,
        ),
        (
            "one-label domain name",
            with("/spec/egress/0/to/0", json!({ "domainNames": ["localhost"] })),
            "/spec/egress/0/to/0/domainNames/0",
            Also::Schema,
        ),
        (
            "named port beside nodes",
            with(
                "/spec/egress/0",
                json!({ "action": "Accept", "to": [{ "nodes": {} }], "protocols": [{ "destinationNamedPort": "web" }] }),
            ),
            "/spec/egress/0/protocols/0",
            Also::Server,
        ),
    ];
    for (what, object, pointer, also) in cases {
        let problems = kubernetes().admission(&Manifest::new(object.clone()));
        assert!(
            problems.iter().any(|p| p.pointer == pointer),
            "{what}: admission should refuse {pointer}, found {problems:?}"
        );
        assert!(
            problems.iter().all(|p| !p.message.is_empty() && !p.help.is_empty()),
            "{what}: every refusal says what and how: {problems:?}"
        );
        let plain = schema_errors(&object, false);
        let strict = schema_errors(&object, true);
        match also {
            Also::Schema => assert!(plain.is_none_or(|e| !e.is_empty()), "{what}: the schema admits it"),
            Also::Strict => assert!(
                strict.is_none_or(|e| !e.is_empty()),
                "{what}: the strict schema admits it"
            ),
            // Only the API server's CEL or list type refuses it: the schema must not.
            Also::Server => assert!(
                strict.is_none_or(|e| e.is_empty()),
                "{what}: the schema refuses it too: {object}"
            ),
        }
    }
}

#[test]
fn refusals_read_like_the_api_servers() {
    let problems = kubernetes().admission(&Manifest::new(with(
        "/spec/ingress/0/protocols/0",
        json!({ "tcp": {} }),
    )));
    let tcp = problems.iter().find(|p| p.pointer.ends_with("/tcp")).unwrap();
    assert_eq!(tcp.message, "`tcp` needs `destinationPort`");
    assert!(tcp.help.contains("range: { start: 1, end: 65535 }"), "{}", tcp.help);
    let problems = kubernetes().admission(&Manifest::new(with(
        "/spec/egress/0/protocols/0/udp/destinationPort/range",
        json!({ "start": 60, "end": 53 }),
    )));
    assert!(
        problems[0].message.starts_with("Start port must be less than End port"),
        "{problems:?}"
    );
    let problems = kubernetes().admission(&Manifest::new(with("/spec/ingress/0/action", json!("Allow"))));
    assert!(problems[0].help.contains("`Accept`"), "{problems:?}");
}
