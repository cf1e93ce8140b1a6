//! Evidence kept in a flow store: what one controller (or follower) wrote,
//! a restarted one or a new leader reads back, with the same gate verdict;
//! a restarted follower resumes from its checkpoint and counts nothing twice,
//! whether it follows a file or Hubble Relay (the fake relay of fake_relay/).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;
mod fake_relay;

use common::{
    reconciling::{intents_value, last_status, project, run_stored, run_with},
    Fake,
};
use fake_relay::{flow, lost, serve_at, FakeRelay};
use palisade_controller::{
    feed::Feed,
    relay::{RelayOptions, Timestamp},
    stored::{self, Checkpoints, Followed, Reader},
};
use palisade_store::Store;
use serde_json::{json, Value};
use std::{
    io::Write,
    path::Path,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

/// The time of these tests: in the past, as the store takes a record from
/// the future (a node with a wrong clock) as seen now
const NOW: i64 = 1_790_000_000;

fn hubble(seconds: i64, from: &str, to: &str, port: u16) -> String {
    let time = k8s_openapi::chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true);
    format!(
        r#"{{"flow":{{"time":"{time}","verdict":"FORWARDED","IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"TCP":{{"destination_port":{port}}}}},"source":{{"namespace":"shop","pod_name":"{from}-1","labels":["k8s:app={from}"]}},"destination":{{"namespace":"shop","pod_name":"{to}-1","labels":["k8s:app={to}"]}},"is_reply":false}}}}"#
    )
}

/// An hour of frontend -> backend tcp/9090 (not allowed: enforcing drops
/// it), one a minute from `from`
fn an_hour_from(from: i64) -> String {
    (0..60)
        .map(|m| hubble(from + m * 60, "frontend", "backend", 9090) + "\n")
        .collect()
}

fn checkpoints() -> Checkpoints {
    Checkpoints::new(Duration::from_millis(50), Arc::default())
}

/// Follow `path` into the store at `url` until all of the file is
/// checkpointed, then stop, as a controller stopped by a signal does
async fn follow_to_the_end(url: &str, path: &Path) -> Followed {
    let (url, path) = (url.to_string(), path.to_path_buf());
    tokio::task::spawn_blocking(move || follow_file_to_the_end(&url, &path))
        .await
        .unwrap()
}

fn follow_file_to_the_end(url: &str, path: &Path) -> Followed {
    let length = std::fs::metadata(path).unwrap().len();
    let checkpoints = checkpoints();
    let follower = {
        let (url, path, checkpoints) = (url.to_string(), path.to_path_buf(), checkpoints.clone());
        std::thread::spawn(move || stored::follow_file(&mut Store::open(&url).unwrap(), &path, &checkpoints))
    };
    let stream = stored::file_stream(path);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let cursor = Store::open(url).unwrap().cursor(&stream).unwrap().unwrap_or_default();
        if cursor.ends_with(&format!("@{length}")) {
            break;
        }
        assert!(!follower.is_finished(), "the follower stopped: {:?}", follower.join());
        assert!(std::time::Instant::now() < deadline, "never reached the end: {cursor}");
        std::thread::sleep(Duration::from_millis(20));
    }
    checkpoints.stop.store(true, Ordering::SeqCst);
    follower.join().unwrap().unwrap()
}

/// Reconcile the Intents `shop` at `now` as a controller process that
/// opened the store at `url` (its own connection, nothing in memory) does
async fn judge(fake: &Fake, now: i64, url: &str) {
    let reader = Arc::new(Reader::open(url).await.unwrap());
    run_stored(fake, "shop", now, reader).await.unwrap();
}

fn auditing() -> Value {
    let start = k8s_openapi::chrono::DateTime::from_timestamp(NOW - 7200, 0)
        .unwrap()
        .to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true);
    json!({"phase": "Auditing", "since": start, "observedGeneration": 1, "conditions": [],
           "windowStart": start, "allServicesSeen": false})
}

/// What a user reads of the verdict in the status
fn verdict(status: &Value) -> Value {
    json!({
        "phase": status["phase"],
        "windowStart": status["windowStart"],
        "wouldDrop": status["wouldDrop"],
        "allServicesSeen": status["allServicesSeen"],
    })
}

#[tokio::test]
async fn a_restarted_controller_reads_the_window_back_from_the_store_and_judges_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("evidence.db").display());
    let path = dir.path().join("flows.json");
    std::fs::write(&path, an_hour_from(NOW - 3600)).unwrap();
    let followed = follow_to_the_end(&url, &path).await;
    assert_eq!((followed.flows, followed.lost), (60, 0));

    let fake = Fake::new(
        vec![intents_value("shop", "shop", json!({}), auditing())],
        vec![project("default", json!(["cilium"]))],
    );
    // The controller as it was: a feed in memory over the same file.
    let mut feed = Feed::new(path.clone());
    feed.poll().unwrap();
    let in_memory = fake.fork();
    run_with(&in_memory, "shop", NOW, Some(Arc::new(tokio::sync::Mutex::new(feed))))
        .await
        .unwrap();
    let first = fake.fork();
    judge(&first, NOW, &url).await;
    let judged = verdict(&last_status(&first, "shop"));
    assert_eq!(judged["phase"], "Blocked", "{judged}");
    assert_eq!(judged["wouldDrop"][0]["count"], 60, "{judged}");
    assert_eq!(
        judged,
        verdict(&last_status(&in_memory, "shop")),
        "the store's window is judged as memory was"
    );

    // A new process (a restart, or another replica taking the Lease): its
    // own connection, the status the first wrote, nothing in memory.
    let restarted = first.fork();
    judge(&restarted, NOW + 60, &url).await;
    assert_eq!(verdict(&last_status(&restarted, "shop")), judged);

    // The follower restarts too: it resumes after the hour it stored.
    std::fs::write(&path, an_hour_from(NOW - 3600) + &an_hour_from(NOW - 7200)).unwrap();
    let followed = follow_to_the_end(&url, &path).await;
    assert_eq!(followed.flows, 60, "only what was appended");
    let evidence = Reader::open(&url)
        .await
        .unwrap()
        .evidence((NOW - 7200) * 1000, (NOW + 120) * 1000)
        .await
        .unwrap();
    let counts: Vec<u64> = evidence.flows.values().map(|s| s.count).collect();
    assert_eq!(counts, [120], "each record once");
}

#[tokio::test]
async fn lost_records_in_the_stored_window_start_it_again_once_not_at_every_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("evidence.db").display());
    let path = dir.path().join("flows.json");
    // An hour of allowed traffic, and Hubble saying it lost records.
    let allowed: String = (0..60)
        .map(|m| hubble(NOW - 3600 + m * 60, "frontend", "backend", 8080) + "\n")
        .collect();
    std::fs::write(&path, allowed + "{\"lost_events\":{\"num_events_lost\":4}}\n").unwrap();
    assert_eq!(follow_to_the_end(&url, &path).await.lost, 4);
    let fake = Fake::new(
        vec![intents_value("shop", "shop", json!({}), auditing())],
        vec![project("default", json!(["cilium"]))],
    );
    judge(&fake, NOW, &url).await;
    let now = k8s_openapi::chrono::DateTime::from_timestamp(NOW, 0)
        .unwrap()
        .to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true);
    let status = last_status(&fake, "shop");
    assert_eq!(status["windowStart"], now.as_str(), "the loss is a gap: {status}");
    // Restarted, traffic goes on: the loss is before the window now, and
    // not a gap again.
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    writeln!(file, "{}", hubble(NOW + 30, "frontend", "backend", 8080)).unwrap();
    assert_eq!(follow_to_the_end(&url, &path).await.flows, 1);
    let restarted = fake.fork();
    judge(&restarted, NOW + 60, &url).await;
    let status = last_status(&restarted, "shop");
    assert_eq!(status["windowStart"], now.as_str(), "{status}");
}

/// Connections per conversation in the store, as `port count`
fn stored_counts(url: &str) -> Vec<(u16, u64)> {
    let evidence = Store::open(url).unwrap().evidence(0, i64::MAX / 2).unwrap();
    evidence
        .sorted()
        .iter()
        .map(|(key, seen)| (key.port, seen.count))
        .collect()
}

/// Follow `relay`, served at `address`, into the store until `done` holds
/// of it, then stop; the address it was served at
async fn follow_relay_until(
    url: &str,
    relay: &FakeRelay,
    address: &str,
    done: impl Fn(&str) -> bool,
) -> (Followed, String) {
    let (address, server) = serve_at(relay, address).await;
    let checkpoints = checkpoints();
    let options = RelayOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..RelayOptions::default()
    };
    let follower = tokio::spawn({
        let (store, checkpoints, address) = (Store::open(url).unwrap(), checkpoints.clone(), address.clone());
        async move { stored::follow_relay(store, &address, options, checkpoints).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(url) {
        assert!(!follower.is_finished(), "the follower stopped: {:?}", follower.await);
        assert!(tokio::time::Instant::now() < deadline, "{:?}", stored_counts(url));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    checkpoints.stop.store(true, Ordering::SeqCst);
    let followed = follower.await.unwrap().unwrap();
    server.abort();
    // Gone before the next relay takes its address.
    let _ = server.await;
    (followed, address)
}

#[tokio::test]
async fn a_restarted_relay_follower_asks_from_its_last_record_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("evidence.db").display());
    let relay = FakeRelay::default();
    relay.scripts.lock().unwrap().push_back(vec![
        flow(1_790_000_000, "frontend", "backend", 8080, 1, Some(false)),
        flow(1_790_000_001, "frontend", "db", 5432, 2, Some(false)),
        lost(3),
    ]);
    let (followed, address) =
        follow_relay_until(&url, &relay, "127.0.0.1:0", |url| stored_counts(url).len() == 2).await;
    assert_eq!((followed.flows, followed.lost), (2, 3));

    // The relay, back at its address, replays what its buffer holds since
    // the position.
    let replaying = FakeRelay::default();
    replaying.scripts.lock().unwrap().push_back(vec![
        flow(1_790_000_000, "frontend", "backend", 8080, 1, Some(false)),
        flow(1_790_000_001, "frontend", "db", 5432, 2, Some(false)),
        flow(1_790_000_002, "frontend", "cache", 6379, 1, Some(false)),
    ]);
    let (followed, _) = follow_relay_until(&url, &replaying, &address, |url| stored_counts(url).len() == 3).await;
    assert_eq!(followed.flows, 1, "the replayed records were taken already");
    assert_eq!(
        stored_counts(&url),
        [(8080, 1), (6379, 1), (5432, 1)],
        "backend, cache, db: once each"
    );
    let asked = replaying.requests.lock().unwrap()[0].1.since;
    assert_eq!(
        asked,
        Some(Timestamp {
            seconds: 1_790_000_001,
            nanos: 500_000_000
        }),
        "from the last stored record's time"
    );
    let evidence = Store::open(&url).unwrap().evidence(0, i64::MAX / 2).unwrap();
    let lost: u64 = evidence.reads.iter().map(|r| r.lost).sum();
    assert_eq!(lost, 3, "the relay's lost events are a gap of the stream");
}
