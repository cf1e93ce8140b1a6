//! palisade-evidence: what observed traffic says. Flow records from any
//! dialect's reader are aggregated per workload (`observe`), placed on a
//! cluster model (`resolve`), judged against the enforce manifests of each
//! target (`audit`, the promotion gate) or turned into proposed intents
//! (`discover`). Whether the evidence is enough to judge by at all is
//! `sufficiency`: the gate passes only when both say so.

pub mod audit;
pub mod cron;
pub mod discover;
pub mod observe;
pub mod resolve;
pub mod sufficiency;
pub mod suggest;

pub use audit::{audit, AuditOptions, AuditReport, Summary};
pub use discover::{discover, DiscoverOptions, Proposal};
pub use observe::Evidence;
pub use sufficiency::{Requirements, Verdict};

use palisade_targets::flows::{self, FlowFormat, StreamError};
use std::path::Path;

/// `1 flow`, `2 flows`, `0 flows`: a count with its noun, for nouns whose
/// plural takes an `s` (every noun palisade counts); one helper so that no
/// message spells its own `if n == 1`
pub fn plural<N: Copy + PartialEq + From<u8> + std::fmt::Display>(n: N, noun: &str) -> String {
    if n == N::from(1) {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

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
    read_streams(paths, format, progress, false)
}

/// [`read_with_progress`] for the audit gate: a stream that holds no record
/// of a known flow format (text, other JSON objects) is evidence of nothing,
/// which the gate names ([`Evidence::unrecognized`]), not an input error; a
/// stream that cannot be opened or read still is one
pub fn read_for_gate(
    paths: &[&Path],
    format: Option<&dyn FlowFormat>,
    progress: &dyn Fn(usize, u64),
) -> Result<Evidence, StreamError> {
    read_streams(paths, format, progress, true)
}

fn read_streams(
    paths: &[&Path],
    format: Option<&dyn FlowFormat>,
    progress: &dyn Fn(usize, u64),
    unrecognized_is_evidence: bool,
) -> Result<Evidence, StreamError> {
    let formats = flows::formats();
    let mut evidence = Evidence::default();
    for (index, path) in paths.iter().enumerate() {
        let mut taken = Evidence::default();
        let read = flows::read_with_progress(path, format, &formats, |record| taken.add(record), &|bytes| {
            progress(index, bytes);
        });
        let stats = match read {
            Ok(stats) => stats,
            Err(StreamError::UnknownFormat(message)) if unrecognized_is_evidence => {
                evidence.unrecognized.push(message);
                continue;
            }
            Err(e) => return Err(e),
        };
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
    for (namespace, minutes) in from.minutes_by_namespace {
        into.minutes_by_namespace.entry(namespace).or_default().extend(minutes);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plural_is_singular_only_at_one() {
        assert_eq!(super::plural(0u64, "flow"), "0 flows");
        assert_eq!(super::plural(1u64, "flow"), "1 flow");
        assert_eq!(super::plural(2usize, "pair"), "2 pairs");
    }
}
