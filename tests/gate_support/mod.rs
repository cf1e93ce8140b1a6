//! The repositories and Hubble records the gate tests of `audit`
//! (tests/evidence.rs), `rollout --stage auto` (tests/rollout.rs) and the
//! flow store (tests/evidence_store.rs, tests/evidence_postgres.rs) share

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support; each test binary uses part of it"
)]

/// A repository of one namespace with three services; `evidence` is the
/// Project's `evidence:` section (indented under spec), if any
pub fn shop(evidence: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.yaml"),
        format!("apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: gate }}\nspec:\n  targets: [cilium]\n{evidence}"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("shop.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services:\n    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend } }\n    payments: { selector: { app: payments } }\n  allow:\n    - frontend -> backend tcp/8080\n    - backend -> payments tcp/9000\n",
    )
    .unwrap();
    dir
}

/// 2026-11-20T00:00Z plus `minute` minutes, as Hubble writes times
pub fn at(minute: u32) -> String {
    let (day, rest) = (20 + minute / 1440, minute % 1440);
    format!("2026-11-{day:02}T{:02}:{:02}:00Z", rest / 60, rest % 60)
}

/// One Hubble record from `from` to `to` (pods of `namespace` named by app)
pub fn hubble(minute: u32, namespace: &str, from: &str, to: &str, port: u16) -> String {
    format!(
        r#"{{"flow":{{"time":"{}","verdict":"FORWARDED","IP":{{"source":"10.244.0.1","destination":"10.244.0.2"}},"l4":{{"TCP":{{"destination_port":{port}}}}},"source":{{"namespace":"{namespace}","pod_name":"{from}-1","labels":["k8s:app={from}"]}},"destination":{{"namespace":"{namespace}","pod_name":"{to}-1","labels":["k8s:app={to}"]}},"is_reply":false}}}}"#,
        at(minute)
    )
}

/// Records every `step` minutes over `minutes`, frontend -> backend and
/// (unless `payments` is false) backend -> payments, in `namespace`
pub fn traffic(namespace: &str, minutes: u32, step: u32, payments: bool) -> String {
    traffic_between(namespace, 0, minutes, step, payments)
}

/// [`traffic`] from minute `from` to minute `to`
pub fn traffic_between(namespace: &str, from: u32, to: u32, step: u32, payments: bool) -> String {
    let mut out = String::new();
    for minute in (from..=to).step_by(step as usize) {
        out.push_str(&hubble(minute, namespace, "frontend", "backend", 8080));
        out.push('\n');
        if payments {
            out.push_str(&hubble(minute, namespace, "backend", "payments", 9000));
            out.push('\n');
        }
    }
    out
}

/// A Hubble record of the walkthrough moved to another time `at`, as a line
pub fn retimed(line: &str, at: &str) -> String {
    let time = line
        .split("\"time\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a Hubble record with a time: {line}"));
    line.replace(time, at) + "\n"
}
