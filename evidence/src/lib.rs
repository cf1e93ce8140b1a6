//! palisade-evidence: what observed traffic says. Flow records from any
//! dialect's reader are aggregated per workload (`observe`), placed on a
//! cluster model (`resolve`), judged against the enforce manifests of each
//! target (`audit`, the promotion gate) or turned into proposed intents
//! (`discover`).

pub mod audit;
pub mod discover;
pub mod observe;
pub mod resolve;
pub mod suggest;

pub use audit::{audit, AuditOptions, AuditReport};
pub use discover::{discover, DiscoverOptions, Proposal};
pub use observe::Evidence;

use palisade_targets::flows::{self, FlowFormat, StreamError};
use std::path::Path;

/// Read flow files (`-` for stdin, gzip or plain) into one evidence set
pub fn read(paths: &[&Path], format: Option<&dyn FlowFormat>) -> Result<Evidence, StreamError> {
    read_with_progress(paths, format, &|_, _| {})
}

/// [`read`], telling `progress` which file (its index) and how many of its
/// bytes have been read
pub fn read_with_progress(
    paths: &[&Path],
    format: Option<&dyn FlowFormat>,
    progress: &dyn Fn(usize, u64),
) -> Result<Evidence, StreamError> {
    let formats = flows::formats();
    let mut evidence = Evidence::default();
    for (index, path) in paths.iter().enumerate() {
        let mut taken = Evidence::default();
        let stats = flows::read_with_progress(path, format, &formats, |record| taken.add(record), &|bytes| {
            progress(index, bytes);
        })?;
        merge(&mut evidence, taken);
        evidence.reads.push(stats);
    }
    Ok(evidence)
}

fn merge(into: &mut Evidence, from: Evidence) {
    for (key, seen) in from.flows {
        into.flows.entry(key).or_default().merge(&seen);
    }
    for (who, names) in from.lookups {
        let entry = into.lookups.entry(who).or_default();
        for (name, n) in names {
            *entry.entry(name).or_default() += n;
        }
    }
    into.minutes.extend(from.minutes);
}
