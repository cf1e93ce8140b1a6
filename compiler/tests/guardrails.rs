//! The reference semantics of guardrails, held against a hand-checked table:
//! the admin tier first (first match: allow accepts, deny drops, delegate goes
//! on), then the namespaces' intents, then the baseline tier, per side.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use palisade_compiler::{
    model::{synthesize, ClusterModel, Connection, Endpoint, External},
    semantics::Semantics,
};
use palisade_intents::{syntax::Protocol, RawFile};

const PROJECT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec:\n  targets: [kubernetes]\n  cluster: { clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12] }\n";

const TENANT_A: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: a, namespace: tenant-a }\nspec:\n  posture: default-deny\n  baseline: [dns]\n  services:\n    web: { selector: { app: web } }\n  allow:\n    - web -> world tcp/443\n    - tenant-b/* -> web tcp/8080\n    - web -> 169.254.169.254/32 tcp/80\n";

const TENANT_B: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: b, namespace: tenant-b }\nspec:\n  posture: none\n  services:\n    api: { selector: { app: api } }\n";

const GUARDRAILS: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Guardrails\nmetadata: { name: platform }\nspec:\n  rules:\n    - allow monitoring/* -> tenant-a/*, tenant-b/* tcp/9090\n    - action: deny\n      from: { namespaceSelector: { tenant: \"true\" } }\n      to: metadata\n    - delegate tenant-a/* -> world\n    - action: deny\n      from: { namespaceSelector: { tenant: \"true\" } }\n      to: { namespaceSelector: { tenant: \"true\" } }\n    - action: allow\n      from: { namespaceSelector: {} }\n      to: dns\n  baseline:\n    - action: deny\n      from: { namespaceSelector: {} }\n      to: { namespaceSelector: {} }\n";

fn ir() -> palisade_compiler::ir::Ir {
    let files = [
        ("palisade.yaml", PROJECT),
        ("intents/tenant-a.yaml", TENANT_A),
        ("intents/tenant-b.yaml", TENANT_B),
        ("platform/guardrails.yaml", GUARDRAILS),
    ]
    .map(|(path, text)| RawFile {
        path: path.into(),
        bytes: text.as_bytes().to_vec(),
    });
    let repository = palisade_intents::load_files(files.into()).unwrap_or_else(|d| panic!("{d:?}"));
    let (ir, _) = palisade_compiler::compile(&repository).unwrap_or_else(|d| panic!("{d:?}"));
    ir
}

fn model(ir: &palisade_compiler::ir::Ir) -> ClusterModel {
    let mut model = synthesize(ir);
    model.add_pod(
        "monitoring",
        "prometheus",
        [("app".into(), "prometheus".into())].into(),
        None,
        Vec::new(),
    );
    model.add_pod("other", "job", [("app".into(), "job".into())].into(), None, Vec::new());
    for tenant in ["tenant-a", "tenant-b"] {
        if let Some(ns) = model.namespaces.get_mut(tenant) {
            ns.labels.insert("tenant".into(), "true".into());
        }
    }
    model
}

#[test]
fn the_admin_tier_then_the_intents_then_the_baseline() {
    let ir = ir();
    let model = model(&ir);
    let semantics = Semantics::in_model(&ir, &model);
    let pod = |id: &str| {
        model
            .pods
            .iter()
            .find(|p| p.id() == id)
            .map(Endpoint::Pod)
            .unwrap_or_else(|| {
                panic!(
                    "no pod {id} in {:?}",
                    model.pods.iter().map(|p| p.id()).collect::<Vec<_>>()
                )
            })
    };
    let metadata = External {
        ip: [169, 254, 169, 254].into(),
        fqdn: None,
        kube_apiserver: false,
    };
    let outside = External {
        ip: [203, 0, 113, 10].into(),
        fqdn: None,
        kube_apiserver: false,
    };
    let meta = || Endpoint::External(&metadata);
    let world = || Endpoint::External(&outside);
    let table = [
        // allow: the intents of tenant-a (default deny) cannot narrow it
        (
            pod("monitoring/prometheus"),
            pod("tenant-a/web"),
            Protocol::Tcp,
            9090,
            true,
        ),
        (
            pod("monitoring/prometheus"),
            pod("tenant-a/web"),
            Protocol::Tcp,
            9091,
            false,
        ),
        // deny: the metadata service, though tenant-a's intents allow it
        (pod("tenant-a/web"), meta(), Protocol::Tcp, 80, false),
        (pod("tenant-b/api"), meta(), Protocol::Tcp, 80, false),
        // an unlabelled namespace is not a tenant: the baseline knows only pods
        (pod("other/job"), meta(), Protocol::Tcp, 80, true),
        // delegate: tenant-a's intents decide
        (pod("tenant-a/web"), world(), Protocol::Tcp, 443, true),
        (pod("tenant-a/web"), world(), Protocol::Tcp, 80, false),
        // tenants never reach each other, whatever tenant-a allows
        (pod("tenant-b/api"), pod("tenant-a/web"), Protocol::Tcp, 8080, false),
        // every namespace reaches DNS, past the baseline's default deny
        (pod("other/job"), pod("kube-system/dns"), Protocol::Udp, 53, true),
        (pod("tenant-a/web"), pod("kube-system/dns"), Protocol::Udp, 53, true),
        // baseline: pods the intents do not isolate are denied in the cluster
        (pod("other/job"), pod("tenant-b/api"), Protocol::Tcp, 80, false),
        (pod("tenant-b/api"), pod("other/job"), Protocol::Tcp, 80, false),
        // ... and not outside it
        (pod("other/job"), world(), Protocol::Tcp, 80, true),
        // tenant-a isolates: its intents, not the baseline, decide its side
        (pod("tenant-a/web"), pod("other/job"), Protocol::Tcp, 80, false),
    ];
    for (from, to, protocol, port, expected) in table {
        let conn = Connection {
            from,
            to,
            protocol,
            port,
            request: None,
        };
        let decision = semantics.decide(&conn);
        assert_eq!(decision.allowed, expected, "{}", conn.describe());
    }
    // The rule that decided is named: an admin deny at its line
    let conn = Connection {
        from: pod("tenant-a/web"),
        to: meta(),
        protocol: Protocol::Tcp,
        port: 80,
        request: None,
    };
    let decision = semantics.decide(&conn);
    let lines: Vec<String> = decision.guardrails.iter().map(|g| g.source.file_line()).collect();
    assert_eq!(lines, ["platform/guardrails.yaml:7"]);
}

#[test]
fn without_guardrails_nothing_changes() {
    let files = [
        ("palisade.yaml", PROJECT),
        ("intents/tenant-a.yaml", TENANT_A),
        ("intents/tenant-b.yaml", TENANT_B),
    ]
    .map(|(path, text)| RawFile {
        path: path.into(),
        bytes: text.as_bytes().to_vec(),
    });
    let repository = palisade_intents::load_files(files.into()).unwrap_or_else(|d| panic!("{d:?}"));
    let (ir, _) = palisade_compiler::compile(&repository).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(ir.guardrails.is_empty());
    let model = synthesize(&ir);
    let semantics = Semantics::in_model(&ir, &model);
    for conn in model.connections() {
        assert_eq!(
            semantics.decide(&conn).allowed,
            palisade_compiler::semantics::decide(&ir, &conn).allowed
        );
        assert!(semantics.decide(&conn).guardrails.is_empty());
    }
}

#[test]
fn unknown_names_in_guardrails_are_errors_at_their_place() {
    let guardrails = "apiVersion: palisade.dev/v1alpha1\nkind: Guardrails\nmetadata: { name: platform }\nspec:\n  rules:\n    - deny tenant-a/nope -> world\n    - deny tenant-a/* -> kube-api\n    - deny world -> 10.0.0.0/8\n";
    let files = [
        ("palisade.yaml", PROJECT),
        ("intents/tenant-a.yaml", TENANT_A),
        ("g.yaml", guardrails),
    ]
    .map(|(path, text)| RawFile {
        path: path.into(),
        bytes: text.as_bytes().to_vec(),
    });
    let repository = palisade_intents::load_files(files.into()).unwrap_or_else(|d| panic!("{d:?}"));
    let Err(diags) = palisade_compiler::compile(&repository) else {
        panic!("compiled")
    };
    let rendered: Vec<String> = diags.iter().map(|d| d.render_plain()).collect();
    for (at, message) in [
        ("g.yaml:6:12", "no intents declare service `nope`"),
        ("g.yaml:7:26", "`kube-api` needs the cluster profile"),
        ("g.yaml:8:7", "names no pods on either side"),
    ] {
        assert!(
            rendered.iter().any(|r| r.starts_with(at) && r.contains(message)),
            "{at} {message}\n{rendered:#?}"
        );
    }
}

/// The README's guardrails compile beside its project file, and mean what
/// the README says of them
#[test]
fn the_readme_example_compiles() {
    let readme = include_str!("../../README.md");
    let block = |first: &str| -> String {
        let start = readme
            .find(first)
            .unwrap_or_else(|| panic!("no block `{first}` in the README"));
        let rest = &readme[start..];
        rest[..rest.find("```").unwrap()].to_string()
    };
    let guardrails = block("# platform/guardrails.yaml");
    let ir_files = [
        ("palisade.yaml", PROJECT.to_string()),
        (
            "intents/tenant-a.yaml",
            TENANT_A.replace("    - tenant-b/* -> web tcp/8080\n", ""),
        ),
        ("platform/guardrails.yaml", guardrails),
    ]
    .map(|(path, text)| RawFile {
        path: path.into(),
        bytes: text.into_bytes(),
    });
    let repository = palisade_intents::load_files(ir_files.into()).unwrap_or_else(|d| panic!("{d:?}"));
    let (ir, _) = palisade_compiler::compile(&repository).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!((ir.guardrails.admin.len(), ir.guardrails.baseline.len()), (5, 1));
}

/// `palisade check`: an edge a guardrail denies all of is dead, one it
/// denies part of is overridden; both name the edge and the guardrail
#[test]
fn intents_a_guardrail_takes_away_are_reported_at_both_places() {
    let guardrails = "apiVersion: palisade.dev/v1alpha1\nkind: Guardrails\nmetadata: { name: platform }\nspec:\n  rules:\n    - deny tenant-a/* -> metadata\n    - deny tenant-b/* -> tenant-a/web tcp/8080\n    - deny tenant-a/* -> 0.0.0.0/1\n";
    let files = [
        ("palisade.yaml", PROJECT),
        ("intents/tenant-a.yaml", TENANT_A),
        ("intents/tenant-b.yaml", TENANT_B),
        ("g.yaml", guardrails),
    ]
    .map(|(path, text)| RawFile {
        path: path.into(),
        bytes: text.as_bytes().to_vec(),
    });
    let repository = palisade_intents::load_files(files.into()).unwrap();
    let (_, warnings) = palisade_compiler::compile(&repository).unwrap();
    let rendered: Vec<String> = warnings.iter().map(|d| d.render_plain()).collect();
    for (at, code, guardrail) in [
        ("intents/tenant-a.yaml:12:7", "dead_intent", "g.yaml:6:7"),
        ("intents/tenant-a.yaml:11:7", "dead_intent", "g.yaml:7:7"),
        ("intents/tenant-a.yaml:10:7", "overridden_intent", "g.yaml:8:7"),
    ] {
        assert!(
            rendered
                .iter()
                .any(|r| r.starts_with(&format!("{at}: warning[palisade::{code}]")) && r.contains(guardrail)),
            "{at} {code}\n{rendered:#?}"
        );
    }
    assert_eq!(
        rendered.iter().filter(|r| r.contains("_intent]")).count(),
        3,
        "{rendered:#?}"
    );
}
