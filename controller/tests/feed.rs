//! Following a flow log: appended records are taken once, a line still being
//! written waits for the next poll, a truncated (rotated) file starts again,
//! and the per-namespace report sees gaps, unseen services and would-drops.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_controller::feed::Feed;
use palisade_targets::{Dialect, EmitOptions, Manifest, Mode};
use std::io::Write;

fn record(minute: u32, from: &str, to: &str, port: u16) -> String {
    format!(
        r#"{{"flow":{{"time":"2026-11-20T10:{minute:02}:00Z","verdict":"FORWARDED","IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"TCP":{{"destination_port":{port}}}}},"source":{{"namespace":"shop","pod_name":"{from}-1","labels":["k8s:app={from}"]}},"destination":{{"namespace":"shop","pod_name":"{to}-1","labels":["k8s:app={to}"]}},"is_reply":false}}}}"#
    )
}

#[test]
fn appended_records_are_taken_once_and_partial_lines_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    std::fs::write(&path, format!("{}\n", record(0, "frontend", "backend", 8080))).unwrap();
    let mut feed = Feed::new(path.clone());
    assert_eq!(feed.poll().unwrap(), 1);
    assert_eq!(feed.poll().unwrap(), 0, "nothing new");
    let second = record(1, "frontend", "backend", 8080);
    let (head, tail) = second.split_at(40);
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    write!(file, "{head}").unwrap();
    file.flush().unwrap();
    assert_eq!(feed.poll().unwrap(), 0, "the writer has not finished the line");
    writeln!(file, "{tail}").unwrap();
    file.flush().unwrap();
    assert_eq!(feed.poll().unwrap(), 1);
    writeln!(file, "{{\"lost_events\":{{\"num_events_lost\":4}}}}").unwrap();
    feed.poll().unwrap();
    assert_eq!(feed.lost, 4);
    // Rotated: shorter than what was read, so it is read from the start.
    std::fs::write(&path, format!("{}\n", record(2, "frontend", "backend", 8080))).unwrap();
    assert_eq!(feed.poll().unwrap(), 1);
}

#[test]
fn the_report_sees_silence_unseen_services_and_would_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    std::fs::write(
        &path,
        format!(
            "{}\n{}\n",
            record(0, "frontend", "backend", 8080),
            record(5, "frontend", "backend", 9090)
        ),
    )
    .unwrap();
    let mut feed = Feed::new(path);
    feed.poll().unwrap();
    let files = vec![
        palisade_intents::RawFile {
            path: "palisade.yaml".into(),
            bytes: b"apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec: { targets: [cilium] }\n".to_vec(),
        },
        palisade_intents::RawFile {
            path: "shop.yaml".into(),
            bytes: b"apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services:\n    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend } }\n    batch: { selector: { app: batch } }\n  allow: [frontend -> backend tcp/8080]\n".to_vec(),
        },
    ];
    let repository = palisade_intents::load_files(files).unwrap();
    let (ir, _) = palisade_compiler::compile(&repository).unwrap();
    let cilium = palisade_targets::dialect("cilium").unwrap();
    let options = EmitOptions {
        mode: Mode::Enforce,
        ..EmitOptions::ENFORCE
    };
    let (manifests, _) = palisade_targets::render(cilium, &ir, &options).unwrap();
    let enforce: Vec<(&dyn Dialect, &[Manifest])> = vec![(cilium, manifests.as_slice())];
    let ten_past = 1_795_169_400_000; // 2026-11-20T10:10:00Z
    let requirements = palisade_evidence::Requirements::default().with_max_gap(600, "maxGapSeconds");
    let report = feed.report("shop", &ir, &enforce, ten_past, 0, &requirements);
    assert_eq!(report.longest_gap_seconds, 300, "five minutes since the last record");
    assert_eq!(report.unseen_services, ["shop/batch"]);
    assert_eq!(report.would_drop.len(), 1);
    assert_eq!(report.would_drop[0].ports, ["tcp/9090"]);
    assert_eq!(report.would_drop[0].intent, "frontend -> backend tcp/9090");
    assert!(
        report
            .missing_evidence
            .contains(&"shop/batch was never seen: no flow from or to it".to_string()),
        "{:?}",
        report.missing_evidence
    );
    assert!(
        report.missing_evidence.contains(
            &"the window of namespace shop, 5m, is shorter than the minimum 24h (the default; set project evidence.minWindow)".to_string()
        ),
        "{:?}",
        report.missing_evidence
    );
}

#[test]
fn the_report_carries_the_gates_verdict_with_the_projects_waivers_and_cron_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    let lines: Vec<String> = (0..=5).map(|m| record(m, "frontend", "backend", 8080)).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut feed = Feed::new(path);
    feed.poll().unwrap();
    let files = vec![
        palisade_intents::RawFile {
            path: "palisade.yaml".into(),
            bytes: b"apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec:\n  targets: [cilium]\n  evidence:\n    minWindow: 1h\n    waive: [{ service: shop/batch, reason: runs at quarter end }]\n".to_vec(),
        },
        palisade_intents::RawFile {
            path: "shop.yaml".into(),
            bytes: b"apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  services:\n    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend } }\n    batch: { selector: { app: batch } }\n  allow: [frontend -> backend tcp/8080]\n".to_vec(),
        },
    ];
    let repository = palisade_intents::load_files(files).unwrap();
    let (ir, _) = palisade_compiler::compile(&repository).unwrap();
    let requirements = palisade_evidence::Requirements::new(repository.project.as_ref())
        .with_max_gap(600, "maxGapSeconds")
        .with_cron_jobs(Some(&palisade_compiler::model::ClusterModel {
            cron_jobs: vec![palisade_compiler::model::CronJob {
                namespace: "shop".into(),
                name: "report".into(),
                schedule: "@daily".into(),
                time_zone: None,
            }],
            ..Default::default()
        }));
    let five_past = 1_795_169_100_000; // 2026-11-20T10:05:00Z
    let report = feed.report("shop", &ir, &[], five_past, 0, &requirements);
    assert_eq!(report.unseen_services, Vec::<String>::new(), "batch is waived");
    assert_eq!(report.waived, ["shop/batch (runs at quarter end)"]);
    assert_eq!(
        report.missing_evidence,
        [
            "the window of namespace shop, 5m, is shorter than the minimum 1h (project evidence.minWindow)",
            "CronJob shop/report runs every 24h; the window 5m does not cover one period",
        ]
    );
    // The state machine does not go Ready on it, however long it waits.
    use palisade_controller::rollout::{step, Input, Phase, Policy, State};
    let policy = Policy {
        observe_seconds: 3600,
        max_gap_seconds: 600,
        auto_promote: true,
    };
    let (state, _) = step(&State::new(0), &Input::IntentsChanged(1), 0, &policy);
    let (state, _) = step(&state, &Input::Evidence(report), 60, &policy);
    let (state, actions) = step(&state, &Input::Tick, 48 * 3600, &policy);
    assert_eq!(state.phase, Phase::Auditing, "{actions:?}");
}

/// A record padded past the flow readers' cap with a long label: valid JSON,
/// which a reader without the cap would take whole
fn oversized(minute: u32) -> String {
    let padding = "p".repeat(palisade_targets::flows::MAX_LINE_BYTES + 1000);
    record(minute, "huge", "backend", 8080)
        .replace("\"k8s:app=huge\"", &format!("\"k8s:app=huge\",\"k8s:pad={padding}\""))
}

#[test]
fn a_line_over_the_cap_is_counted_lost_and_never_taken_even_across_polls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    let big = oversized(1);
    assert!(
        serde_json::from_str::<serde_json::Value>(&big).is_ok(),
        "the long line is a real record"
    );
    std::fs::write(
        &path,
        format!(
            "{}\n{big}\n{}\n",
            record(0, "frontend", "backend", 8080),
            record(2, "frontend", "backend", 8080)
        ),
    )
    .unwrap();
    let mut feed = Feed::new(path.clone());
    assert_eq!(feed.poll().unwrap(), 2, "the records on both sides of the long line");
    assert_eq!(feed.lost, 1, "the long line is one unreadable line");

    // A long line still being written: the poll steps past what is there
    // and takes nothing; the rest, when it comes, is skipped, not read as
    // a record of its own, and the line is counted once.
    let big = oversized(3);
    let (head, tail) = big.split_at(palisade_targets::flows::MAX_LINE_BYTES + 10);
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    write!(file, "{head}").unwrap();
    file.flush().unwrap();
    assert_eq!(feed.poll().unwrap(), 0);
    assert_eq!(feed.lost, 1, "not lost before it ends");
    // the rest is itself a whole record's text: only a follower that
    // remembers it is inside the long line skips it
    write!(file, "{tail}{}", record(4, "frontend", "backend", 8080)).unwrap();
    file.flush().unwrap();
    assert_eq!(feed.poll().unwrap(), 0, "still inside the long line");
    writeln!(file).unwrap();
    writeln!(file, "{}", record(5, "frontend", "backend", 8080)).unwrap();
    file.flush().unwrap();
    assert_eq!(feed.poll().unwrap(), 1, "only the record after the long line");
    assert_eq!(feed.lost, 2);
    assert_eq!(
        feed.last_record_ms,
        Some(1_795_169_100_000),
        "2026-11-20T10:05:00Z, the last record taken"
    );
}
