#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail by panicking"
)]

use crate::{
    load_files,
    model::{GuardrailPeer, Repository},
    syntax::{Entity, PeerSyntax},
    types::GuardrailAction,
    Diag, RawFile,
};

const HEAD: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Guardrails\nmetadata: { name: platform }\nspec:\n";

fn load(body: &str) -> Result<Repository, Vec<String>> {
    load_files(vec![RawFile {
        path: "platform.yaml".into(),
        bytes: format!("{HEAD}{body}").into_bytes(),
    }])
    .map_err(|d| d.iter().map(Diag::render_plain).collect())
}

fn errors(body: &str) -> Vec<String> {
    match load(body) {
        Ok(r) => panic!("expected errors, loaded {:?}", r.guardrails),
        Err(e) => e,
    }
}

#[test]
fn terse_and_structured_rules_read_alike() {
    let repository = load(
        "  rules:\n    - deny tenants/* -> metadata\n    - action: allow\n      from: { namespaceSelector: { team: monitoring } }\n      to: { namespaceSelector: {} }\n      ports: [tcp/9090]\n    - \"delegate pay/* -> world, 10.0.0.0/8 tcp/443\"\n  baseline:\n    - action: deny\n      from: { namespaceSelector: {} }\n      to: world\n",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let [g] = repository.guardrails.as_slice() else {
        panic!("{:?}", repository.guardrails)
    };
    let actions: Vec<GuardrailAction> = g.rules.iter().map(|r| r.action.value).collect();
    assert_eq!(
        actions,
        [GuardrailAction::Deny, GuardrailAction::Allow, GuardrailAction::Delegate]
    );
    assert_eq!(
        g.rules[0].from[0].value,
        GuardrailPeer::Peer(PeerSyntax::Namespace("tenants".into()))
    );
    assert_eq!(g.rules[0].to[0].value, GuardrailPeer::Metadata);
    assert_eq!(g.rules[0].action.loc.to_string(), "platform.yaml:6:7");
    assert_eq!(
        g.rules[1].from[0].value,
        GuardrailPeer::Namespaces {
            namespaces: [("team".to_string(), "monitoring".to_string())].into(),
            pods: Default::default()
        }
    );
    assert_eq!(
        g.rules[1].text,
        "allow { namespaceSelector: { team: monitoring } } -> { namespaceSelector: {} } tcp/9090"
    );
    assert_eq!(g.rules[2].to.len(), 2);
    assert_eq!(g.rules[2].ports.len(), 1);
    assert_eq!(g.rules[2].ports[0].loc.to_string(), "platform.yaml:11:44");
    assert_eq!(
        g.baseline[0].to[0].value,
        GuardrailPeer::Peer(PeerSyntax::Entity(Entity::World))
    );
}

#[test]
fn mistakes_are_named_where_they_are_written() {
    let cases = [
        (
            "  rules: [\"block a/* -> b/*\"]\n",
            "platform.yaml:5:12",
            "`block` is not a guardrail action",
        ),
        (
            "  rules: [\"deny a/* -> backend\"]\n",
            "platform.yaml:5:24",
            "a guardrail has no namespace of its own",
        ),
        (
            "  rules: [\"deny a/* -> b/* tcp/70000\"]\n",
            "platform.yaml:5:32",
            "out of range",
        ),
        (
            "  rules: [{ action: deny, from: a/*, to: { fqdn: x.com, via: egress-gateway } }]\n",
            "platform.yaml:5:",
            "egress gateway",
        ),
        (
            "  rules: [{ action: deny, from: a/*, to: [] }]\n",
            "platform.yaml:5:",
            "an empty list of peers",
        ),
        (
            "  rules: [{ action: deny, from: { namespaceSelector: { a: b }, cidr: 10.0.0.0/8 }, to: world }]\n",
            "platform.yaml:5:",
            "`namespaceSelector` goes with `selector` only",
        ),
        (
            "  rules: [{ action: block, from: a/*, to: world }]\n",
            "platform.yaml:5:",
            "unknown variant `block`",
        ),
        (
            "  baseline: [\"delegate a/* -> world\"]\n",
            "platform.yaml:5:15",
            "`delegate` in `baseline`",
        ),
        (
            "  rules: [{ action: deny, from: { namespaceSelector: { -x: b } }, to: world }]\n",
            "platform.yaml:5:",
            "not a valid label key",
        ),
    ];
    for (body, at, message) in cases {
        let e = errors(body);
        assert!(
            e.iter().any(|e| e.starts_with(at) && e.contains(message)),
            "{body}\n{e:?}"
        );
    }
    let namespaced = format!(
        "{}  rules: []\n",
        HEAD.replace("name: platform", "name: platform, namespace: x")
    );
    let Err(e) = load_files(vec![RawFile {
        path: "platform.yaml".into(),
        bytes: namespaced.into_bytes(),
    }]) else {
        panic!("a namespace on a Guardrails was taken")
    };
    assert!(e.iter().any(|d| d.message().contains("take no `metadata.namespace`")));
}

#[test]
fn a_namespace_intent_cannot_select_namespaces_by_label() {
    let text = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services: { a: { selector: { app: a } } }\n  allow:\n    - { from: { namespaceSelector: { team: x } }, to: a }\n";
    let Err(e) = load_files(vec![RawFile {
        path: "shop.yaml".into(),
        bytes: text.as_bytes().to_vec(),
    }]) else {
        panic!("loaded")
    };
    let e: Vec<String> = e.iter().map(Diag::render_plain).collect();
    assert!(
        e.iter()
            .any(|e| e.starts_with("shop.yaml:7:36") && e.contains("only `Guardrails` may")),
        "{e:?}"
    );
}

/// The editor schema committed at the repository root knows `Guardrails`
/// (`PALISADE_WRITE_SCHEMA=1` rewrites it, as `palisade schema` prints it)
#[test]
fn the_committed_editor_schema_is_this_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/palisade.schema.json");
    let printed = format!(
        "{}\n",
        serde_json::to_string_pretty(&crate::schema::combined()).unwrap()
    );
    if std::env::var_os("PALISADE_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &printed).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == printed,
        "{} is stale: run with PALISADE_WRITE_SCHEMA=1",
        path.display()
    );
    assert!(committed.contains("\"Guardrails\""));
}

/// A Guardrails document that would be passed over as another API's is an
/// error: the cluster would run without the platform's rules
#[test]
fn guardrails_meant_as_palisade_do_not_vanish() {
    let body = "  rules: [\"deny a/* -> world\"]\n";
    for (text, message) in [
        (
            format!("{}{body}", HEAD.replace("palisade.dev/v1alpha1", "v1")),
            "`kind: Guardrails` with `apiVersion: v1`",
        ),
        (
            format!(
                "{}{body}",
                HEAD.replace("apiVersion: palisade.dev/v1alpha1\nkind: Guardrails\n", "")
            ),
            "without `apiVersion` and `kind`",
        ),
    ] {
        let Err(e) = load_files(vec![RawFile {
            path: "platform.yaml".into(),
            bytes: text.clone().into_bytes(),
        }]) else {
            panic!("{text} loaded")
        };
        assert!(
            e.iter().any(|d| d.message().contains(message)),
            "{text}\n{:?}",
            e.iter().map(Diag::render_plain).collect::<Vec<_>>()
        );
    }
}
