//! `palisade evidence follow --flows FILE`: a file that grows while it is
//! followed reaches the store, a line still being written waits, SIGTERM
//! stops after a last checkpoint, a restart resumes without counting
//! anything twice, and a rotated file is read to its end and then the new
//! one from its start. (The relay's follower is tested with the controller's
//! fake relay in controller/tests/stored.rs.)

#![cfg(unix)]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_store::Store;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn record(minute: u32) -> String {
    format!(
        r#"{{"flow":{{"time":"2026-11-20T10:{minute:02}:00Z","verdict":"FORWARDED","IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"TCP":{{"destination_port":8080}}}},"source":{{"namespace":"shop","pod_name":"frontend-1","labels":["k8s:app=frontend"]}},"destination":{{"namespace":"shop","pod_name":"backend-1","labels":["k8s:app=backend"]}},"is_reply":false}}}}"#
    )
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.flush().unwrap();
}

fn lines(minutes: std::ops::Range<u32>) -> String {
    minutes.map(|m| record(m) + "\n").collect()
}

fn follow(store: &str, flows: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("palisade"))
        .args(["evidence", "follow", "--store", store, "--flush-every", "1s", "--flows"])
        .arg(flows)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM, as a pod's stop sends it; what the follower printed
fn stop(child: Child) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Connections the store holds, and what its streams reported lost
fn stored(db: &Path) -> (u64, u64) {
    let Ok(store) = Store::open_existing(&db.display().to_string()) else {
        return (0, 0);
    };
    let evidence = store.evidence(0, i64::MAX / 2).unwrap();
    let connections = evidence.flows.values().map(|s| s.count).sum();
    let lost = evidence.reads.iter().map(|r| r.lost).sum();
    (connections, lost)
}

/// Wait until the store holds `connections`; the follower must still run
fn until_stored(db: &Path, connections: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(db).0 < connections {
        assert!(child.try_wait().unwrap().is_none(), "the follower exited");
        assert!(
            Instant::now() < deadline,
            "the store holds {} connections, not {connections}",
            stored(db).0
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stored(db).0, connections, "nothing beyond what was written");
}

fn cursor(db: &Path, flows: &Path) -> String {
    let store = Store::open_existing(&db.display().to_string()).unwrap();
    let stream = std::path::absolute(flows).unwrap().display().to_string();
    store.cursor(&stream).unwrap().unwrap_or_default()
}

#[test]
fn a_growing_file_is_stored_once_across_restarts_and_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let url = format!("sqlite:{}", db.display());
    let flows = dir.path().join("flows.json");
    append(&flows, &lines(0..2));

    let mut child = follow(&url, &flows);
    until_stored(&db, 2, &mut child);
    // A line still being written waits for its end.
    append(&flows, &lines(2..3));
    let whole = std::fs::metadata(&flows).unwrap().len();
    let third = record(3);
    let (head, tail) = third.split_at(50);
    append(&flows, head);
    until_stored(&db, 3, &mut child);
    assert!(
        cursor(&db, &flows).ends_with(&format!("@{whole}")),
        "the position stops before the unfinished line: {}",
        cursor(&db, &flows)
    );
    append(&flows, &format!("{tail}\n"));
    until_stored(&db, 4, &mut child);
    let printed = stop(child);
    assert!(printed.contains("stored 4 flows"), "{printed}");

    // Written while nobody followed: the restart takes these, not the rest again.
    append(&flows, &lines(4..6));
    let mut child = follow(&url, &flows);
    until_stored(&db, 6, &mut child);

    // Rotated while followed: the old file's last lines, then the new file.
    append(&flows, &lines(6..7));
    std::fs::rename(&flows, dir.path().join("flows.json.1")).unwrap();
    append(&flows, &lines(7..9));
    until_stored(&db, 9, &mut child);
    stop(child);
    assert_eq!(stored(&db), (9, 0), "every record once, nothing lost");

    // Rotated while nobody followed: the new file from its start, and the
    // old one's unread rest (maybe none, but nothing proves it) is a gap.
    std::fs::rename(&flows, dir.path().join("flows.json.2")).unwrap();
    append(&flows, &lines(9..10));
    let mut child = follow(&url, &flows);
    until_stored(&db, 10, &mut child);
    stop(child);
    assert_eq!(stored(&db), (10, 1));
}

#[test]
fn a_file_that_is_not_there_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("evidence.db").display());
    let missing = dir.path().join("nope.json");
    let out = Command::new(assert_cmd::cargo::cargo_bin("palisade"))
        .args(["evidence", "follow", "--store", &url, "--flows"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nope.json"), "{stderr}");
}

#[test]
fn follow_needs_one_source() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("palisade"))
        .args(["evidence", "follow", "--store", "x.db"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--flows <FILE>|--hubble-relay"), "{stderr}");
    let both = Command::new(assert_cmd::cargo::cargo_bin("palisade"))
        .args([
            "evidence",
            "follow",
            "--store",
            "x.db",
            "--flows",
            "f",
            "--hubble-relay",
            "r:80",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert_eq!(both.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}
