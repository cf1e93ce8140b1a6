//! `palisade evidence ingest|show|prune`: what a user sees of the flow
//! store, and that what the command stored is what reading the file gives

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use palisade_store::Store;

#[path = "gate_support/mod.rs"]
mod gate_support;
use std::path::{Path, PathBuf};

const FLOWS: &str = "examples/zero-trust/flows/hubble.jsonl";
const T0: &str = "2026-11-20T10:00:00.000000000Z";

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = palisade().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn show_json(store: &str, since: &str) -> serde_json::Value {
    let (code, stdout, stderr) = run(&["evidence", "show", "--store", store, "--since", since, "-o", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn hubble_samples() -> Vec<PathBuf> {
    let dir = PathBuf::from("../shared/samples/flows/hubble");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but ../shared/samples is missing"
        );
        eprintln!("\n!!! SKIPPED: ../shared/samples/flows/hubble not found !!!\n");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn what_ingest_stores_is_what_reading_the_files_gives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("evidence.db");
    let url = format!("sqlite:{}", db.display());
    let mut files = vec![PathBuf::from(FLOWS)];
    files.extend(hubble_samples());
    let mut args = vec!["evidence".to_string(), "ingest".into(), "--store".into(), url.clone()];
    for f in &files {
        args.extend(["--flows".to_string(), f.display().to_string()]);
    }
    let out = palisade().args(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("of {} stream", files.len())), "{stdout}");
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let read = palisade_evidence::read(&paths, None).unwrap();
    let stored = Store::open_existing(&url).unwrap().evidence(0, i64::MAX / 2).unwrap();
    assert_eq!(stored.flows, read.flows);
    assert_eq!(stored.lookups, read.lookups);
    assert_eq!(stored.minutes, read.minutes);
    assert_eq!(stored.minutes_by_namespace, read.minutes_by_namespace);
    let lost = |e: &palisade_evidence::Evidence| {
        e.reads
            .iter()
            .map(|r| (r.lost, r.malformed, r.flows))
            .collect::<Vec<_>>()
    };
    assert_eq!(lost(&stored), lost(&read));
}

#[test]
fn show_gives_the_window_coverage_and_top_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("e.db").display().to_string();
    let (code, _, stderr) = run(&["evidence", "ingest", "--flows", FLOWS, "--store", &store]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("read 95 lines (hubble): 63 flows"), "{stderr}");
    let (code, text, stderr) = run(&["evidence", "show", "--store", &store]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            "window: 2026-11-20T10:00:00Z .. 2026-11-20T10:56:00Z (56m) of the 7d asked",
            "63 records in 20 conversations, 18 minutes active; 1 stream ingested: 3 reported lost, 1 unreadable",
            "silences over 10 minutes: no gaps",
        ]
    );
    assert!(text.contains("    shop/frontend: 31 out, 0 in\n"), "{text}");
    assert!(
        text.contains("  shop/backend -> api.stripe.com tcp/443: 15 (15 allowed)"),
        "{text}"
    );
    let again = run(&["evidence", "show", "--store", &store]).1;
    assert_eq!(again, text, "the same store prints byte for byte the same");
    let json = show_json(&store, "7d");
    assert_eq!(
        (json["records"].as_u64(), json["conversations"].as_u64()),
        (Some(63), Some(20))
    );
    // Silences over two minutes: the walkthrough's flows are minutes apart.
    let (_, tight, _) = run(&["evidence", "show", "--store", &store, "--max-gap", "2"]);
    assert!(
        tight.contains("silences over 2 minutes: 14 gaps, the longest 4m"),
        "{tight}"
    );
}

/// `flows` written to a file and ingested into a new store: the folder
/// they live in, the store, and what ingest printed
fn ingested(flows: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("week.jsonl");
    std::fs::write(&file, flows).unwrap();
    let store = dir.path().join("e.db").display().to_string();
    let (code, stdout, stderr) = run(&[
        "evidence",
        "ingest",
        "--flows",
        file.to_str().unwrap(),
        "--store",
        &store,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    (dir, store, stdout)
}

/// The walkthrough's first lines, moved `days` back from its own day
fn shifted(lines: &[&str], days: u32) -> String {
    let day = 20 - days;
    lines
        .iter()
        .map(|l| l.replace(T0, &format!("2026-11-{day:02}T10:00:00.000000000Z")) + "\n")
        .collect()
}

#[test]
fn a_week_is_kept_and_prune_keeps_only_what_keep_says() {
    let walkthrough = std::fs::read_to_string(FLOWS).unwrap();
    let lines: Vec<&str> = walkthrough.lines().collect();
    // frontend -> DNS every day of the week; backend -> stripe on the last day only
    let mut week = String::new();
    for days in (1..7).rev() {
        week += &shifted(&lines[..1], days);
    }
    week += &shifted(&[lines[0], lines[4]], 0);
    let (_dir, store, stdout) = ingested(&week);
    assert_eq!(stdout, format!("stored 8 flows of 1 stream in `{store}`\n"));
    let week = show_json(&store, "7d");
    assert_eq!(
        (week["records"].as_u64(), week["conversations"].as_u64()),
        (Some(8), Some(2))
    );
    assert_eq!(
        show_json(&store, "2d")["records"].as_u64(),
        Some(4),
        "the last two days and their edges"
    );
    let (code, stdout, stderr) = run(&["evidence", "prune", "--store", &store, "--keep", "2d"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "kept what was seen since 2026-11-18T10:00:00Z: removed 4 conversation-hours, 0 conversations no longer seen, 4 minutes of activity and 0 stream records\n"
    );
    assert_eq!(show_json(&store, "7d")["records"].as_u64(), Some(4));
}

#[test]
fn two_processes_ingest_into_one_store_at_once() {
    let walkthrough = std::fs::read_to_string(FLOWS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("many.jsonl");
    std::fs::write(&flows, walkthrough.repeat(300)).unwrap();
    let store = dir.path().join("shared.db").display().to_string();
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("palisade"))
            .args([
                "evidence",
                "ingest",
                "--flows",
                flows.to_str().unwrap(),
                "--store",
                &store,
                // the same file on purpose: two writers at once
                "--again",
            ])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    for out in [&a, &b] {
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let json = show_json(&store, "7d");
    assert_eq!(json["records"].as_u64(), Some(2 * 300 * 63), "both ingests counted");
    assert_eq!(json["streams"].as_u64(), Some(2));
}

#[test]
fn a_store_that_cannot_be_used_is_exit_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db").display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (
            &["evidence", "show", "--store", FLOWS],
            "is not a palisade flow store: the file is not an SQLite database",
        ),
        (
            &["evidence", "ingest", "--flows", FLOWS, "--store", FLOWS],
            "not an SQLite database",
        ),
        (&["evidence", "show", "--store", &missing], "there is no store at"),
        (
            &["evidence", "prune", "--store", "mysql://db/palisade", "--keep", "30d"],
            "is not one palisade can use",
        ),
        (
            &["evidence", "prune", "--store", &missing, "--keep", "soon"],
            "is not a duration",
        ),
    ];
    for (args, expected) in cases {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!Path::new(&missing).exists(), "reading a store never creates one");
    let before = std::fs::read(FLOWS).unwrap();
    run(&["evidence", "ingest", "--flows", FLOWS, "--store", FLOWS]);
    assert_eq!(
        std::fs::read(FLOWS).unwrap(),
        before,
        "a file that is no store is left as it was"
    );
}

#[test]
fn an_empty_store_shows_an_empty_window_in_the_same_shape() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let store = dir.path().join("e.db").display().to_string();
    let (code, stdout, stderr) = run(&[
        "evidence",
        "ingest",
        "--flows",
        empty.to_str().unwrap(),
        "--store",
        &store,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("stored 0 flows of 1 stream in `{store}`\n"));
    let (code, text, _) = run(&["evidence", "show", "--store", &store]);
    assert_eq!(code, Some(0));
    assert!(
        text.starts_with("window: nothing in the 7d asked\n0 records in 0 conversations"),
        "{text}"
    );
    let json = show_json(&store, "24h");
    assert_eq!((json["records"].as_u64(), json["streams"].as_u64()), (Some(0), Some(1)));
    let (code, stdout, _) = run(&["evidence", "prune", "--store", &store, "--keep", "30d"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("`{store}` holds no flows: nothing to prune\n"));
}

/// `line` with its record's time set to `at`

#[test]
fn a_conversation_seen_on_day_6_of_7_holds_the_gate_a_short_window_would_open() {
    let walkthrough = std::fs::read_to_string(FLOWS).unwrap();
    let lines: Vec<&str> = walkthrough.lines().collect();
    let rare = lines
        .iter()
        .find(|l| l.contains("\"destination\": \"203.0.113.50\""))
        .unwrap_or_else(|| panic!("the walkthrough's outside database"));
    // Every allowed conversation of the walkthrough on each of seven days
    // (2026-11-14 .. 20), the outside database nobody allowed on day 6 only.
    let allowed: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            l.contains("\"time\": \"") && l.ends_with('}') && !l.contains("203.0.113.50") && !l.contains("/admin/")
        })
        .collect();
    let mut week = String::new();
    for day in 14..=20 {
        for (i, line) in allowed.iter().enumerate() {
            week += &gate_support::retimed(line, &format!("2026-11-{day}T10:{:02}:00.000000000Z", i % 60));
        }
    }
    week += &gate_support::retimed(rare, "2026-11-19T03:00:00.000000000Z");
    let (_dir, store, _) = ingested(&week);
    let audit = |since: &str| {
        run(&[
            "audit",
            "examples/zero-trust",
            "--store",
            &store,
            "--since",
            since,
            "-o",
            "json",
        ])
    };
    let (code, week, stderr) = audit("7d");
    assert_eq!(code, Some(3), "the week holds the gate: {stderr}");
    let week: serde_json::Value = serde_json::from_str(&week).unwrap();
    let dropped: Vec<String> = week["would_drop"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{} -> {}",
                d["source"].as_str().unwrap_or("?"),
                d["destination"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert!(dropped.iter().any(|d| d.contains("203.0.113.50")), "{dropped:?}");
    let (_, day, _) = audit("1d");
    let day: serde_json::Value = serde_json::from_str(&day).unwrap();
    assert!(
        day["summary"]["observed"]["flows"].as_u64() > Some(0),
        "the day was judged: {day}"
    );
    let seen_in_a_day = day["would_drop"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|d| d.to_string().contains("203.0.113.50"));
    assert!(
        !seen_in_a_day,
        "a one-day window misses it: that is why the gate reads the week"
    );
}

#[test]
fn the_same_file_twice_is_refused_unless_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("e.db").display());
    let ingest = |extra: &[&str]| {
        let mut args = vec!["evidence", "ingest", "--flows", FLOWS, "--store", &store];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (code, _, stderr) = ingest(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    let once = show_json(&store, "7d")["records"].as_u64();
    let (code, stdout, stderr) = ingest(&[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("already: its flows would count twice") && stderr.contains("--again"),
        "{stderr}"
    );
    assert_eq!(
        show_json(&store, "7d")["records"].as_u64(),
        once,
        "nothing counted twice"
    );
    let (code, _, stderr) = ingest(&["--again"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(show_json(&store, "7d")["records"].as_u64(), once.map(|n| 2 * n));
    // A copy elsewhere is another file (the user said to store it).
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(FLOWS, &copy).unwrap();
    let (code, _, stderr) = run(&[
        "evidence",
        "ingest",
        "--flows",
        copy.to_str().unwrap(),
        "--store",
        &store,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
}
