//! The flow store's commands on PostgreSQL, beside the same commands on
//! SQLite: what a user sees must not depend on the backend. Needs a server
//! (PALISADE_TEST_POSTGRES, an admin URL as `.ci/postgres-up` prints);
//! without one the tests say SKIPPED, and fail under CI=true.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;

#[path = "gate_support/mod.rs"]
mod gate_support;
use std::sync::atomic::{AtomicUsize, Ordering};

const FLOWS: &str = "examples/zero-trust/flows/hubble.jsonl";

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("palisade").unwrap().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh database on the test server, dropped afterwards
struct Database {
    admin: String,
    name: String,
    url: String,
}

static DATABASES: AtomicUsize = AtomicUsize::new(0);

impl Database {
    fn fresh() -> Option<Self> {
        let Some(admin) = std::env::var("PALISADE_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but PALISADE_TEST_POSTGRES is not set: .ci/run starts a server with .ci/postgres-up"
            );
            eprintln!("\n!!! SKIPPED: PostgreSQL tests need PALISADE_TEST_POSTGRES (see .ci/postgres-up) !!!\n");
            return None;
        };
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let name = format!("palisade_cli_{}_{n}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// The walkthrough's first minute of records once an hour for a week
/// (2026-11-14 .. 20), and the outside database nobody allowed once, on
/// day 6
fn a_week_with_a_rare_conversation() -> String {
    let walkthrough = std::fs::read_to_string(FLOWS).unwrap();
    let usual: Vec<&str> = walkthrough
        .lines()
        .filter(|l| l.contains("\"time\": \"2026-11-20T10:00:00.000000000Z\""))
        .collect();
    let rare = walkthrough
        .lines()
        .find(|l| l.contains("\"destination\": \"203.0.113.50\""))
        .unwrap_or_else(|| panic!("the walkthrough's outside database"));
    let mut week = String::new();
    for day in 14..=20 {
        for hour in 0..24 {
            for line in &usual {
                week += &gate_support::retimed(line, &format!("2026-11-{day}T{hour:02}:00:00.000000000Z"));
            }
        }
    }
    week + &gate_support::retimed(rare, "2026-11-19T03:00:00.000000000Z")
}

/// `palisade audit ... -o json` of a store, without what names the store
fn audit(store: &str, since: &str) -> (Option<i32>, serde_json::Value) {
    let (code, stdout, stderr) = run(&[
        "audit",
        "examples/zero-trust",
        "--store",
        store,
        "--since",
        since,
        "-o",
        "json",
    ]);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (code, json)
}

fn show(store: &str) -> serde_json::Value {
    let (code, stdout, stderr) = run(&["evidence", "show", "--store", store, "--since", "7d", "-o", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn a_week_judged_from_postgres_is_judged_as_from_sqlite() {
    let Some(database) = Database::fresh() else { return };
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("week.jsonl");
    std::fs::write(&flows, a_week_with_a_rare_conversation()).unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("week.db").display());
    for store in [&database.url, &sqlite] {
        let (code, _, stderr) = run(&[
            "evidence",
            "ingest",
            "--flows",
            flows.to_str().unwrap(),
            "--store",
            store,
        ]);
        assert_eq!(code, Some(0), "{store}: {stderr}");
    }
    assert_eq!(show(&database.url), show(&sqlite), "evidence show is the same on both");
    let (code, week) = audit(&database.url, "7d");
    assert_eq!(
        code,
        Some(3),
        "the day-6 conversation holds the gate over the week: {week}"
    );
    assert!(week["would_drop"].to_string().contains("203.0.113.50"), "{week}");
    assert_eq!(audit(&sqlite, "7d"), (code, week), "audit is the same on both");
    let (_, day) = audit(&database.url, "1d");
    assert!(
        !day["would_drop"].to_string().contains("203.0.113.50"),
        "a day misses it: {day}"
    );
}

#[test]
fn two_processes_ingesting_into_one_database_both_count() {
    let Some(database) = Database::fresh() else { return };
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("palisade"))
                // the same file on purpose: two writers at once
                .args([
                    "evidence",
                    "ingest",
                    "--flows",
                    FLOWS,
                    "--store",
                    &database.url,
                    "--again",
                ])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children.drain(..) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let twice = show(&database.url);
    let dir = tempfile::tempdir().unwrap();
    let once_store = format!("sqlite:{}", dir.path().join("once.db").display());
    let (code, _, stderr) = run(&["evidence", "ingest", "--flows", FLOWS, "--store", &once_store]);
    assert_eq!(code, Some(0), "{stderr}");
    let once = show(&once_store);
    assert_eq!(twice["records"].as_u64(), once["records"].as_u64().map(|n| 2 * n));
    assert_eq!(twice["conversations"], once["conversations"]);
    assert_eq!(twice["streams"].as_u64(), Some(2));
}

#[test]
fn a_server_that_is_not_there_is_exit_1_without_the_password() {
    let (code, stdout, stderr) = run(&[
        "evidence",
        "show",
        "--store",
        "postgres://palisade:hunter2@127.0.0.1:1/evidence",
    ]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("cannot open the store `postgres://palisade:***@127.0.0.1:1/evidence`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2") && !stderr.contains("panicked"), "{stderr}");
    assert!(stdout.is_empty(), "no partial output: {stdout}");
}
