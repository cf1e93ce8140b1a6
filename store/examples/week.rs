//! The store's own cost, without any flow reader: a synthetic week of
//! records generated in memory, ingested, then read back as the gate does.
//!
//!     cargo run --release -p palisade-store --example week -- URL [RECORDS] [CONVERSATIONS]
//!
//! Prints records/s of the ingest, the window read's time, and the size of
//! the result. The figures of the issue are bench/run's, with the readers.

#![allow(clippy::print_stdout, reason = "an example prints its figures")]

use palisade_intents::syntax::Protocol;
use palisade_store::Store;
use palisade_targets::flows::{EndpointKind, FlowEndpoint, FlowRecord, Observed};
use std::time::Instant;

const DAY0: i64 = 1_793_491_200_000;
const WEEK_MS: i64 = 7 * 86_400_000;

fn pod(namespace: usize, app: usize) -> FlowEndpoint {
    let mut e = FlowEndpoint::of_kind(EndpointKind::Pod);
    e.namespace = Some(format!("ns-{namespace}"));
    e.labels.insert("app".into(), format!("svc-{app}"));
    e
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: week URL [RECORDS] [CONVERSATIONS]")?;
    let records: i64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let conversations: i64 = args.next().map_or(Ok(5_000), |a| a.parse())?;
    let ends: Vec<(FlowEndpoint, FlowEndpoint)> = (0..conversations)
        .map(|c| {
            let c = usize::try_from(c).unwrap_or(0);
            (pod(c % 200, c), pod((c * 7) % 200, c + 1))
        })
        .collect();
    let mut store = Store::open(&url)?;
    // RECORDS 0 reads what an earlier run stored
    let records = if records == 0 {
        return read_week(&store);
    } else {
        records
    };
    let start = Instant::now();
    let mut ingest = store.ingester();
    for n in 0..records {
        let (source, destination) = &ends[usize::try_from(n % conversations).unwrap_or(0)];
        ingest.add(FlowRecord {
            time_ms: Some(DAY0 + n * WEEK_MS / records),
            source: source.clone(),
            destination: destination.clone(),
            protocol: Protocol::Tcp,
            port: 8080,
            observed: Observed::Allowed,
            request: None,
            dns_query: None,
            count: 1,
        })?;
    }
    ingest.finish(None)?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "ingest: {records} records in {seconds:.2} s = {:.0} records/s",
        records as f64 / seconds
    );
    read_week(&store)
}

fn read_week(store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let week = store.evidence(DAY0, DAY0 + WEEK_MS)?;
    println!(
        "read the week: {:.2} s, {} conversations, {} minutes, {} namespaces",
        start.elapsed().as_secs_f64(),
        week.flows.len(),
        week.minutes.len(),
        week.minutes_by_namespace.len()
    );
    Ok(())
}
