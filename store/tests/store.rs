//! The store against the readers: what goes in comes back as the evidence
//! `palisade_evidence::read` makes of the same file, windows take the hours
//! they name, and the store outlives the process. Every test runs on
//! each backend: an SQLite file, and a PostgreSQL database when
//! PALISADE_TEST_POSTGRES names a server (`.ci/postgres-up` starts one)

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_compiler::model::Request;
use palisade_evidence::Evidence;
use palisade_intents::syntax::Protocol;
use palisade_store::{FileMark, Ingested, Store, StoreError, Window};
use palisade_targets::flows::{self, EndpointKind, FlowEndpoint, FlowRecord, Observed};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const WALKTHROUGH: &str = "../examples/zero-trust/flows/hubble.jsonl";
const DAY_MS: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z: day 0 of the generated weeks
const DAY0: i64 = 1_793_491_200_000;

mod backends;
use backends::{each_backend, Fresh};

fn store_in(fresh: &Fresh) -> (Store, String) {
    (Store::open(&fresh.url).unwrap(), fresh.url.clone())
}

/// Ingest one file the way `palisade evidence ingest` does
fn ingest_file(store: &mut Store, path: &Path, flush_every: usize) {
    let formats = flows::formats();
    let mut ingest = store.ingester_flushing_every(flush_every);
    let mut failed = None;
    let take = |repeat| {
        if failed.is_none() {
            failed = ingest.add_repeat(repeat).err();
        }
    };
    let stats = flows::read_repeating(path, None, &formats, take, &|_| {}).unwrap();
    assert!(failed.is_none(), "{failed:?}");
    ingest.finish(Some((&path.display().to_string(), &stats))).unwrap();
}

fn everything(store: &Store) -> Evidence {
    store.evidence(i64::MIN / 2, i64::MAX / 2).unwrap()
}

/// Every part of the evidence the gate and discovery read, compared
fn assert_same(stored: &Evidence, read: &Evidence, what: &str) {
    assert_eq!(stored.flows.len(), read.flows.len(), "{what}: conversations");
    for (key, seen) in &read.flows {
        assert_eq!(stored.flows.get(key), Some(seen), "{what}: {key:?}");
    }
    assert_eq!(stored.lookups, read.lookups, "{what}: lookups");
    assert_eq!(stored.minutes, read.minutes, "{what}: minutes");
    assert_eq!(
        stored.minutes_by_namespace, read.minutes_by_namespace,
        "{what}: minutes by namespace"
    );
    let counts = |e: &Evidence| -> Vec<_> {
        e.reads
            .iter()
            .map(|r| (r.format.clone(), r.lines, r.flows, r.malformed, r.lost))
            .collect()
    };
    assert_eq!(counts(stored), counts(read), "{what}: streams");
}

fn samples() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(WALKTHROUGH)];
    let dir = PathBuf::from("../../shared/samples/flows/hubble");
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json" || x == "jsonl"))
                .collect();
            found.sort();
            files.extend(found);
        }
        Err(_) => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but {} is missing",
                dir.display()
            );
            eprintln!("\n!!! SKIPPED: {} not found !!!\n", dir.display());
        }
    }
    files
}

#[test]
fn a_window_over_everything_is_what_reading_the_file_gives() {
    for file in samples() {
        for flush_every in [1, 7, 100_000] {
            each_backend(|fresh| {
                let (mut store, _) = store_in(fresh);
                ingest_file(&mut store, &file, flush_every);
                let read = palisade_evidence::read(&[file.as_path()], None).unwrap();
                assert!(!read.flows.is_empty(), "{}: no flows to compare", file.display());
                assert_same(
                    &everything(&store),
                    &read,
                    &format!("{} flushing every {flush_every} in {}", file.display(), fresh.url),
                );
            });
        }
    }
}

/// Records that repeat one another but for their time (the store takes
/// the second on as the first) are stored as reading each whole gives:
/// untimed ones before and after timed ones, replies, lookups, bad lines
#[test]
fn repeated_records_are_stored_as_records_read_whole() {
    let flow = |time: &str, port: u16, extra: &str| {
        let time = if time.is_empty() {
            String::new()
        } else {
            format!(r#""time":"{time}","#)
        };
        format!(
            r#"{{"flow":{{{time}"verdict":"FORWARDED","IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"UDP":{{"source_port":{port},"destination_port":53}}}},"source":{{"namespace":"shop","labels":["k8s:app=web"],"pod_name":"web-1"}},"destination":{{"namespace":"kube-system","labels":["k8s:k8s-app=kube-dns"],"pod_name":"dns-1"}}{extra}}}}}"#
        )
    };
    let dns = r#","l7":{"type":"REQUEST","dns":{"query":"api.example.com."}}"#;
    let lines = [
        flow("", 1000, ""),
        flow("", 1001, ""),
        flow("2026-11-02T10:00:00Z", 1002, ""),
        flow("2026-11-02T10:05:00Z", 1003, dns),
        flow("2026-11-02T11:00:00Z", 1004, dns),
        flow("2026-11-02T11:00:00Z", 1005, r#","is_reply":true"#),
        flow("2026-11-02T12:00:00Z", 1006, r#","is_reply":true"#),
        flow("not a time", 1007, ""),
        flow("", 1008, ""),
        flow("2026-11-03T09:00:00Z", 1009, ""),
        r#"{"flow":{"verdict":"SOMETIMES"}}"#.to_string(),
        r#"{"flow":{"verdict":"SOMETIMES"}}"#.to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repeats.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    for flush_every in [1, 3, 100] {
        each_backend(|fresh| {
            let (mut store, _) = store_in(fresh);
            ingest_file(&mut store, &file, flush_every);
            let read = palisade_evidence::read(&[file.as_path()], None).unwrap();
            let stored = everything(&store);
            assert_same(
                &stored,
                &read,
                &format!("flushing every {flush_every} in {}", fresh.url),
            );
            assert_eq!(stored.reads.first().map(|r| r.malformed), Some(2));
            assert_eq!(stored.records(), 8, "{:?}", stored.flows);
        });
    }
}

#[test]
fn ingesting_twice_doubles_the_counts_and_keeps_first_and_last() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let file = Path::new(WALKTHROUGH);
        ingest_file(&mut store, file, 100_000);
        ingest_file(&mut store, file, 100_000);
        let once = palisade_evidence::read(&[file], None).unwrap();
        let twice = everything(&store);
        assert_eq!(twice.flows.len(), once.flows.len());
        for (key, seen) in &once.flows {
            let stored = &twice.flows[key];
            assert_eq!(stored.count, seen.count * 2, "{key:?}");
            assert_eq!((stored.first_ms, stored.last_ms), (seen.first_ms, seen.last_ms));
            for (verdict, n) in &seen.observed {
                assert_eq!(stored.observed[verdict], n * 2);
            }
        }
        assert_eq!(twice.minutes, once.minutes);
        assert_eq!(twice.reads.len(), 2, "one stream row per ingest");
    });
}

fn pod(namespace: &str, app: &str) -> FlowEndpoint {
    let mut e = FlowEndpoint::of_kind(EndpointKind::Pod);
    e.namespace = Some(namespace.into());
    e.labels.insert("app".into(), app.into());
    e
}

fn record(time_ms: i64, from: (&str, &str), to: (&str, &str), port: u16) -> FlowRecord {
    FlowRecord {
        time_ms: Some(time_ms),
        source: pod(from.0, from.1),
        destination: pod(to.0, to.1),
        protocol: Protocol::Tcp,
        port,
        observed: Observed::Allowed,
        request: None,
        dns_query: None,
        count: 1,
    }
}

/// A week: web talks to api every ten minutes of every day; the reporting
/// job talks to the warehouse once, on day 6
fn week() -> Vec<FlowRecord> {
    let mut records = Vec::new();
    for minute in (0..7 * 24 * 60).step_by(10) {
        records.push(record(DAY0 + minute * 60_000, ("shop", "web"), ("shop", "api"), 8080));
    }
    records.push(record(
        DAY0 + 6 * DAY_MS + 3 * 3_600_000,
        ("batch", "report"),
        ("data", "warehouse"),
        5432,
    ));
    records
}

fn has_rare(evidence: &Evidence) -> bool {
    evidence
        .flows
        .keys()
        .any(|k| k.destination.labels.get("app").is_some_and(|a| a == "warehouse"))
}

#[test]
fn a_conversation_of_day_6_is_in_the_week_and_not_in_the_day_before() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        store.ingest(week()).unwrap();
        let end = DAY0 + 7 * DAY_MS - 1;
        let week = store.evidence(end - 7 * DAY_MS + 1, end).unwrap();
        assert!(has_rare(&week), "a 7-day window holds the day-6 conversation");
        // The day up to the end of day 5 (hours are whole: end on the hour before).
        let day5_end = DAY0 + 6 * DAY_MS - 1;
        let day = store.evidence(day5_end - DAY_MS + 1, day5_end).unwrap();
        assert!(!has_rare(&day), "a 1-day window ending on day 5 does not");
        let web = day.flows.values().map(|s| s.count).sum::<u64>();
        assert_eq!(web, 24 * 6, "that day holds its own 144 web -> api records only");
        assert!(day
            .minutes
            .iter()
            .all(|m| (m * 60_000) > day5_end - DAY_MS && m * 60_000 <= day5_end));
    });
}

#[test]
fn a_window_that_leaves_out_a_day_leaves_out_its_buckets() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        store.ingest(week()).unwrap();
        let days_1_to_6 = store.evidence(DAY0 + DAY_MS, DAY0 + 7 * DAY_MS - 1).unwrap();
        let seen = &days_1_to_6.flows.values().find(|s| s.count > 1).unwrap();
        assert_eq!(seen.count, 6 * 144);
        assert_eq!(seen.first_ms, Some(DAY0 + DAY_MS));
        assert!(days_1_to_6
            .minutes
            .first()
            .is_some_and(|m| *m == (DAY0 + DAY_MS) / 60_000));
    });
}

/// Three days of two conversations at uneven hours, and DNS lookups
fn uneven_days() -> Vec<FlowRecord> {
    let mut records = Vec::new();
    for hour in 0..72_i64 {
        let at = DAY0 + hour * 3_600_000;
        for n in 0..(hour % 5) {
            records.push(record(at + n * 60_000 + 7_000, ("shop", "web"), ("shop", "api"), 8080));
        }
        if hour % 7 == 3 {
            let mut lookup = record(at + 30 * 60_000, ("shop", "web"), ("kube-system", "dns"), 53);
            lookup.dns_query = Some(format!("name{}.example.com", hour % 2));
            records.push(lookup);
        }
    }
    records
}

#[test]
fn every_window_takes_exactly_the_hours_it_touches_whatever_days_it_covers() {
    // The store reads the days a window covers whole from their sums and
    // the hours at its ends one by one: every window, aligned to days or
    // not, must be what the records of its hours give read alone.
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        store.ingest(uneven_days()).unwrap();
        for (since_hour, until_hour) in [
            (0, 71),
            (0, 23),
            (1, 23),
            (0, 24),
            (5, 50),
            (23, 24),
            (24, 47),
            (30, 30),
            (47, 71),
            (2, 70),
        ] {
            let (since, until) = (
                DAY0 + since_hour * 3_600_000 + 1_000,
                DAY0 + until_hour * 3_600_000 + 59_000,
            );
            let mut expected = Evidence::default();
            for record in uneven_days() {
                let hour = (record.time_ms.unwrap() - DAY0).div_euclid(3_600_000);
                if (since_hour..=until_hour).contains(&hour) {
                    expected.add(record);
                }
            }
            let stored = store.evidence(since, until).unwrap();
            let what = format!("hours {since_hour}..={until_hour} in {}", fresh.url);
            assert_eq!(stored.flows, expected.flows, "{what}");
            assert_eq!(stored.lookups, expected.lookups, "{what}");
        }
    });
}

#[test]
fn a_prune_within_a_day_leaves_that_day_summed_from_the_hours_it_keeps() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        store.ingest(uneven_days()).unwrap();
        store.prune(DAY0 + 30 * 3_600_000).unwrap();
        let mut expected = Evidence::default();
        for record in uneven_days()
            .into_iter()
            .filter(|r| r.time_ms.unwrap() >= DAY0 + 30 * 3_600_000)
        {
            expected.add(record);
        }
        let left = store.evidence(DAY0, DAY0 + 3 * DAY_MS - 1).unwrap();
        assert_eq!(left.flows, expected.flows);
        assert_eq!(left.lookups, expected.lookups);
    });
}

#[test]
fn a_restart_keeps_the_window() {
    each_backend(|fresh| {
        let (mut store, url) = store_in(fresh);
        store.ingest(week()).unwrap();
        let before = everything(&store);
        drop(store);
        let reopened = Store::open(&url).unwrap();
        let after = everything(&reopened);
        assert_eq!(after.flows, before.flows);
        assert_eq!(after.minutes_by_namespace, before.minutes_by_namespace);
        assert_eq!(reopened.last_seen_ms().unwrap(), Some(DAY0 + 7 * DAY_MS - 10 * 60_000));
    });
}

#[test]
fn prune_forgets_the_hours_before_the_cutoff_and_keeps_the_rest() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        store.ingest(week()).unwrap();
        let pruned = store.prune(DAY0 + 6 * DAY_MS).unwrap();
        assert_eq!(pruned.buckets, 6 * 24, "six days of hourly web -> api buckets");
        assert_eq!(pruned.conversations, 0, "web -> api still has day 6");
        assert_eq!(pruned.minutes, 6 * 144, "minutes, not rows per namespace");
        let left = everything(&store);
        assert!(has_rare(&left));
        let web = left.flows.values().find(|s| s.count > 1).unwrap();
        assert_eq!((web.count, web.first_ms), (144, Some(DAY0 + 6 * DAY_MS)));
        assert_eq!(left.minutes.first().copied(), Some((DAY0 + 6 * DAY_MS) / 60_000));
        // Past the rare one's hour, it goes with its conversation row.
        let pruned = store.prune(DAY0 + 7 * DAY_MS).unwrap();
        assert_eq!(pruned.conversations, 2);
        assert!(everything(&store).flows.is_empty());
    });
}

#[test]
fn lookups_and_requests_come_back_by_hour() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let mut dns = record(DAY0, ("shop", "web"), ("kube-system", "kube-dns"), 53);
        dns.protocol = Protocol::Udp;
        dns.dns_query = Some("api.example.com".into());
        let mut http = record(DAY0 + 2 * 3_600_000, ("shop", "web"), ("shop", "api"), 8080);
        http.request = Some(Request::new("get", "/products/1".into()));
        let records = vec![dns.clone(), dns, http];
        store.ingest(records.clone()).unwrap();
        let mut direct = Evidence::default();
        records.into_iter().for_each(|r| direct.add(r));
        assert_same(&everything(&store), &direct, "generated");
        let first_hour = store.evidence(DAY0, DAY0 + 3_600_000 - 1).unwrap();
        assert_eq!(first_hour.lookups.values().flat_map(|n| n.values()).sum::<u64>(), 2);
        assert!(first_hour.flows.keys().all(|k| k.request.is_none()));
    });
}

#[test]
fn an_empty_store_is_migrated_once_and_an_existing_one_reopened() {
    each_backend(|fresh| {
        if let Some(file) = fresh.file() {
            std::fs::write(file, b"").unwrap(); // a zero-byte file is an empty database
        }
        let mut store = Store::open(&fresh.url).unwrap();
        store.ingest(week()).unwrap();
        drop(store);
        let reopened = Store::open(&fresh.url).unwrap();
        assert!(has_rare(&everything(&reopened)));
        assert_eq!(
            reopened.schema_versions().unwrap(),
            vec![1, 2, 3, 4],
            "each migration applied once"
        );
    });
}

/// A store as the previous palisade (schema 1) left it: one minute a row
#[test]
fn a_store_of_schema_1_keeps_its_evidence_through_the_migration() {
    each_backend(|fresh| {
        let hour = DAY0 / 3_600_000;
        let minutes = [DAY0 / 60_000 + 5, DAY0 / 60_000 + 59, DAY0 / 60_000 + 61];
        let scratch = fresh.sibling();
        let key = {
            let mut store = Store::open(&scratch.url).unwrap();
            store
                .ingest([record(DAY0 + 5 * 60_000, ("shop", "web"), ("shop", "api"), 8080)])
                .unwrap();
            scratch.texts("SELECT conversation_key FROM conversations").remove(0)
        };
        drop(Store::open_at(&fresh.url, 1).unwrap());
        fresh.execute(
            "INSERT INTO conversations (id, conversation_key, source_workload, destination, protocol, port) VALUES (7, $1, 'shop/web', 'shop/api', 'tcp', 8080)",
            &[&key],
        );
        fresh.execute(
            &format!(
                "INSERT INTO buckets VALUES (7, {hour}, 3, {}, {}, 3, 0, 0)",
                DAY0 + 5 * 60_000,
                DAY0 + 61 * 60_000
            ),
            &[],
        );
        for minute in minutes {
            for namespace in ["", "shop"] {
                fresh.execute(
                    &format!("INSERT INTO activity (namespace, minute) VALUES ($1, {minute})"),
                    &[namespace],
                );
            }
        }
        let store = Store::open(&fresh.url).unwrap();
        assert_eq!(store.schema_versions().unwrap(), vec![1, 2, 3, 4]);
        let evidence = everything(&store);
        let seen = evidence.flows.values().next().unwrap();
        assert_eq!((seen.count, seen.hours.len()), (3, 1), "{seen:?}");
        assert_eq!(evidence.minutes.iter().copied().collect::<Vec<_>>(), minutes);
        assert_eq!(
            evidence.minutes_by_namespace["shop"]
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            minutes
        );
        // And schema 2's own writes land beside the migrated rows.
        let mut store = store;
        store
            .ingest([record(DAY0 + 62 * 60_000, ("shop", "web"), ("shop", "api"), 8080)])
            .unwrap();
        let evidence = everything(&store);
        assert_eq!(evidence.flows.values().next().unwrap().count, 4);
        assert_eq!(evidence.minutes.len(), 4);
    });
}

#[test]
fn a_newer_schema_is_refused_not_downgraded() {
    each_backend(|fresh| {
        drop(Store::open(&fresh.url).unwrap());
        fresh.execute("INSERT INTO schema_version (version) VALUES (99)", &[]);
        let refused = Store::open(&fresh.url).unwrap_err();
        assert!(matches!(refused, StoreError::Newer { found: 99, .. }), "{refused:?}");
        assert!(
            refused.to_string().contains("newer than this palisade reads"),
            "{refused}"
        );
        let versions = fresh.texts("SELECT CAST(version AS TEXT) FROM schema_version ORDER BY version");
        assert_eq!(versions, ["1", "2", "3", "4", "99"], "left as it was");
    });
}

#[test]
fn a_database_that_is_not_a_store_is_a_clear_error() {
    each_backend(|fresh| {
        if let Some(file) = fresh.file() {
            std::fs::copy(WALKTHROUGH, &file).unwrap();
            let refused = Store::open(&fresh.url).unwrap_err();
            assert!(matches!(refused, StoreError::NotAStore { .. }), "{refused:?}");
            assert!(refused.to_string().contains("not an SQLite database"), "{refused}");
            std::fs::remove_file(&file).unwrap();
        }
        let missing = Store::open_existing(&fresh.url).unwrap_err();
        assert!(matches!(missing, StoreError::Missing { .. }), "{missing:?}");
        fresh.execute("CREATE TABLE t (x INTEGER)", &[]);
        let refused = Store::open(&fresh.url).unwrap_err();
        assert!(refused.to_string().contains("holds other tables (t)"), "{refused}");
    });
    let refused = Store::open("mysql://db.example/palisade").unwrap_err();
    assert!(
        refused.to_string().contains("neither `sqlite:` nor `postgres://`"),
        "{refused}"
    );
    let unreachable = Store::open("postgres://palisade:secret@127.0.0.1:1/palisade").unwrap_err();
    assert!(matches!(unreachable, StoreError::Open { .. }), "{unreachable:?}");
    let message = unreachable.to_string();
    assert!(
        message.contains("postgres://palisade:***@127.0.0.1:1/palisade") && !message.contains("secret"),
        "{message}"
    );
}

#[test]
fn a_checkpoint_saves_where_a_stream_resumes_with_its_buckets() {
    each_backend(|fresh| {
        let mut store = Store::open(&fresh.url).unwrap();
        assert_eq!(store.cursor("relay").unwrap(), None);
        let mut ingest = store.ingester();
        ingest
            .add(record(DAY0, ("shop", "web"), ("shop", "api"), 8080))
            .unwrap();
        ingest.checkpoint("relay", "1793491200000").unwrap();
        ingest
            .add(record(DAY0 + 1, ("shop", "web"), ("shop", "api"), 8080))
            .unwrap();
        ingest.checkpoint("relay", "1793491200001").unwrap();
        drop(ingest);
        drop(store);
        let reopened = Store::open_existing(&fresh.url).unwrap();
        assert_eq!(reopened.cursor("relay").unwrap().as_deref(), Some("1793491200001"));
        assert_eq!(
            everything(&reopened).records(),
            2,
            "both checkpoints wrote their records"
        );
        assert_eq!(reopened.cursor("other").unwrap(), None);
    });
}

#[test]
fn a_summary_names_services_gaps_and_the_busiest_conversations() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        store.ingest(week()).unwrap();
        let window = Window::ending(DAY0 + 7 * DAY_MS - 1, 7 * DAY_MS);
        let summary = store.summary(window, 60).unwrap();
        assert_eq!(summary.conversations, 2);
        assert_eq!(summary.records, 7 * 144 + 1);
        assert!(summary.gaps.is_empty(), "every ten minutes is no gap over an hour");
        let names: Vec<&str> = summary.namespaces.iter().map(|c| c.namespace.as_str()).collect();
        assert_eq!(names, ["batch", "data", "shop"]);
        let data = &summary.namespaces[1];
        assert_eq!(data.active_minutes, 1);
        assert_eq!(data.services[0].name, "data/warehouse");
        assert_eq!((data.services[0].inbound, data.services[0].outbound), (1, 0));
        assert_eq!(summary.top[0].source, "shop/web");
        assert_eq!(summary.top[0].port, "tcp/8080");
        let tight = store.summary(window, 5).unwrap();
        assert_eq!(
            tight.gaps.len(),
            7 * 144 - 1,
            "every ten-minute silence is a gap over five minutes"
        );
    });
}

#[test]
fn two_writers_interleaving_small_batches_both_count() {
    each_backend(|fresh| {
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut store = Store::open(&fresh.url).unwrap();
                    let mut ingest = store.ingester_flushing_every(50);
                    for r in week() {
                        ingest.add(r).unwrap();
                    }
                    ingest.finish(None).unwrap();
                });
            }
        });
        let store = Store::open_existing(&fresh.url).unwrap();
        assert_eq!(everything(&store).records(), 2 * (7 * 144 + 1));
    });
}

fn untimed(from: (&str, &str), to: (&str, &str), port: u16) -> FlowRecord {
    FlowRecord {
        time_ms: None,
        ..record(0, from, to, port)
    }
}

/// A record with no time in a file of last week is in last week's window
/// (the one that ends at the store's newest record), not in the hour the
/// ingest ran: a flow enforcement would drop must not fall out of every
/// window for lack of a timestamp
#[test]
fn a_record_without_time_is_in_the_window_of_its_stream() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let mut records = week();
        records.insert(0, untimed(("shop", "web"), ("data", "admin"), 9000));
        records.push(untimed(("shop", "web"), ("data", "secrets"), 9001));
        store.ingest(records).unwrap();
        let end = store.last_seen_ms().unwrap().unwrap();
        assert_eq!(
            end,
            DAY0 + 7 * DAY_MS - 1,
            "the end of the newest timed record's hour, where the untimed one counts; not the ingest's"
        );
        let window = store.evidence(end - 7 * DAY_MS, end).unwrap();
        for app in ["admin", "secrets"] {
            assert!(
                window
                    .flows
                    .keys()
                    .any(|k| k.destination.labels.get("app").is_some_and(|a| a == app)),
                "{app} is in the week"
            );
        }
        // A stream of untimed records only is placed at the ingest's hour,
        // and the store's newest time is that hour's end.
        let other = fresh.sibling();
        let mut store = Store::open(&other.url).unwrap();
        store
            .ingest([untimed(("shop", "web"), ("data", "admin"), 9000)])
            .unwrap();
        let end = store
            .last_seen_ms()
            .unwrap()
            .expect("an untimed-only store has a newest time");
        assert_eq!(everything(&store).records(), 1);
        assert_eq!(store.evidence(end - DAY_MS, end).unwrap().records(), 1);
    });
}

/// Pruning between two batches of one ingest frees a conversation's id,
/// which SQLite gives to the next new one: the ingest must not keep
/// writing the old conversation's counts under it
#[test]
fn a_prune_between_batches_never_moves_counts_to_another_conversation() {
    each_backend(|fresh| {
        let (mut store, url) = store_in(fresh);
        let mut ingest = store.ingester();
        ingest.add(record(DAY0, ("shop", "web"), ("shop", "old"), 80)).unwrap();
        ingest.checkpoint("test", "1").unwrap();
        let mut pruner = Store::open(&url).unwrap();
        assert_eq!(pruner.prune(DAY0 + DAY_MS).unwrap().conversations, 1);
        ingest
            .add(record(DAY0 + 2 * DAY_MS, ("shop", "web"), ("shop", "new"), 80))
            .unwrap();
        ingest.checkpoint("test", "2").unwrap();
        ingest
            .add(record(DAY0 + 2 * DAY_MS, ("shop", "web"), ("shop", "old"), 80))
            .unwrap();
        ingest
            .add(record(DAY0 + 2 * DAY_MS, ("shop", "web"), ("shop", "old"), 80))
            .unwrap();
        ingest.finish(None).unwrap();
        let counts: BTreeMap<String, u64> = everything(&store)
            .flows
            .iter()
            .map(|(k, s)| (k.destination.labels["app"].clone(), s.count))
            .collect();
        assert_eq!(counts, BTreeMap::from([("new".into(), 1), ("old".into(), 2)]));
    });
}

/// One node with its clock in 2099 must not end every window there, nor
/// make a prune forget the real week
#[test]
fn a_record_from_the_future_is_taken_as_now() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let mut ingest = store.ingester();
        for r in week() {
            ingest.add(r).unwrap();
        }
        ingest
            .add(record(4_070_908_800_000, ("shop", "web"), ("shop", "api"), 8080))
            .unwrap();
        assert_eq!(ingest.from_the_future(), 1);
        ingest.finish(None).unwrap();
        let newest = store.last_seen_ms().unwrap().unwrap();
        assert!(newest < 4_000_000_000_000, "the newest time is about now: {newest}");
        let pruned = store.prune(DAY0).unwrap();
        assert_eq!(pruned.buckets, 0, "nothing of the week is older than its start");
        assert_eq!(everything(&store).records(), 7 * 144 + 2);
    });
}

/// A pod with many labels makes a conversation key longer than a
/// PostgreSQL index entry may be; it is stored like any other
#[test]
fn a_conversation_with_a_very_long_key_is_stored() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let mut big = record(DAY0, ("shop", "web"), ("shop", "api"), 8080);
        for n in 0..80 {
            big.source
                .labels
                .insert(format!("team.example.com/label-{n}"), "x".repeat(60));
        }
        store.ingest([big.clone(), big]).unwrap();
        let stored = everything(&store);
        assert_eq!(stored.flows.len(), 1);
        assert_eq!(stored.flows.values().next().unwrap().count, 2);
    });
}

/// A record that claims more connections than a counter holds is held at
/// a cap, and every window still reads, on both backends
#[test]
fn huge_counts_are_held_not_wrapped() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let mut huge = record(DAY0, ("shop", "web"), ("shop", "api"), 8080);
        huge.count = u64::MAX;
        for hour in 0..3 {
            let mut r = huge.clone();
            r.time_ms = Some(DAY0 + hour * 3_600_000);
            store.ingest([r.clone(), r]).unwrap();
        }
        let seen = everything(&store).flows.into_values().next().unwrap();
        assert!(seen.count >= 3 << 48 && seen.count < u64::MAX / 2, "{}", seen.count);
        assert_eq!(seen.observed[&Observed::Allowed], seen.count);
    });
}

/// A stream with no timed record (a file of junk) counts at the time it
/// was ingested: in the windows around then, and pruned with them
#[test]
fn a_stream_without_times_is_placed_at_its_ingest() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let stats = flows::ReadStats {
            format: "hubble".into(),
            lines: 1,
            malformed: 1,
            ..flows::ReadStats::default()
        };
        store.ingester().finish(Some(("junk.jsonl", &stats))).unwrap();
        assert!(
            store.evidence(DAY0, DAY0 + 7 * DAY_MS).unwrap().reads.is_empty(),
            "not in last year's week"
        );
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        assert_eq!(store.evidence(now - DAY_MS, now + DAY_MS).unwrap().reads.len(), 1);
        assert_eq!(store.prune(now + DAY_MS).unwrap().streams, 1);
    });
}

/// A file is known again by its path and content: whole once its ingest
/// finished, in part when one stopped midway (its first batches stored)
#[test]
fn a_file_is_known_whole_or_in_part() {
    each_backend(|fresh| {
        let (mut store, _) = store_in(fresh);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flows.jsonl");
        std::fs::copy(WALKTHROUGH, &file).unwrap();
        let mark = FileMark::of(&file).unwrap().unwrap();
        assert_eq!(store.already_ingested(&mark).unwrap(), Ingested::No);
        {
            let mut stopped = store.ingester_flushing_every(1);
            stopped.mark_begun(&mark).unwrap();
            stopped
                .add(record(DAY0, ("shop", "web"), ("shop", "api"), 8080))
                .unwrap();
            // dropped without finish: killed, or an error of the reader
        }
        assert_eq!(store.already_ingested(&mark).unwrap(), Ingested::Part);
        assert_eq!(everything(&store).records(), 1, "the first part is stored");
        let mut whole = store.ingester();
        whole.mark_begun(&mark).unwrap();
        whole.mark_ingested(&mark).unwrap();
        whole.finish(None).unwrap();
        assert_eq!(store.already_ingested(&mark).unwrap(), Ingested::Whole);
        std::fs::write(&file, "{}\n").unwrap();
        let changed = FileMark::of(&file).unwrap().unwrap();
        assert_eq!(
            store.already_ingested(&changed).unwrap(),
            Ingested::No,
            "new content, new file"
        );
        assert_eq!(
            FileMark::of(Path::new("-")).unwrap(),
            None,
            "stdin is never known again"
        );
    });
}
