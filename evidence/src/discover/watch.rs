//! How long discovery watched, and how much of it each conversation and each
//! namespace was seen: a proposal drawn from a week must say that a line
//! rests on one day of it, and a namespace seen for half an hour is no ground
//! for denying everything else it may do.

use crate::{
    cron::human,
    observe::{Evidence, Seen, HOUR_MS},
    resolve::{Place, Placed},
    sufficiency::Requirements,
};
use palisade_targets::flows::format_time;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Hours in a (UTC) day: days seen are counted from [`Seen::hours`]
const DAY_HOURS: i64 = 24;

/// A namespace whose traffic spans less than this share of the window (and
/// less than the minimum window) is too briefly seen to deny by default: it
/// has not shown the rhythm the rest of the window shows
const BRIEF_SHARE: i64 = 2;

/// The stretch discovery watched: from the first minute with a record to
/// the end of the last
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    /// start, ms since the epoch
    pub first_ms: i64,
    /// end, ms since the epoch
    pub last_ms: i64,
}

impl Watched {
    /// The window of the evidence; `None` when no record carries a time
    pub fn of(evidence: &Evidence) -> Option<Self> {
        let (first, last) = (evidence.minutes.first()?, evidence.minutes.last()?);
        Some(Self {
            first_ms: first * 60_000,
            last_ms: (last + 1) * 60_000,
        })
    }

    fn seconds(&self) -> i64 {
        (self.last_ms - self.first_ms) / 1000
    }

    /// The hours the window touches (a window ending on the hour does not
    /// touch the next)
    fn hours(&self) -> i64 {
        (self.last_ms - 1).div_euclid(HOUR_MS) - self.first_ms.div_euclid(HOUR_MS) + 1
    }

    /// The UTC days the window touches
    fn days(&self) -> i64 {
        let day = |ms: i64| ms.div_euclid(HOUR_MS * DAY_HOURS);
        day(self.last_ms - 1) - day(self.first_ms) + 1
    }

    /// ` between 2026-11-30T00:00:00Z and 2026-12-07T00:00:00Z`
    pub fn between(&self) -> String {
        format!(
            " between {} and {}",
            format_time(self.first_ms),
            format_time(self.last_ms)
        )
    }

    /// What the window was, for the JSON output
    pub fn report(&self) -> WindowReport {
        WindowReport {
            first: format_time(self.first_ms),
            last: format_time(self.last_ms),
            seconds: self.seconds(),
            text: human(self.seconds()),
            days: self.days(),
            hours: self.hours(),
        }
    }
}

/// The window discovery watched
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowReport {
    /// its start, RFC 3339
    pub first: String,
    /// its end
    pub last: String,
    /// last - first, seconds
    pub seconds: i64,
    /// the same, as people read it (`7d`)
    pub text: String,
    /// the UTC days it touches
    pub days: i64,
    /// the hours it touches
    pub hours: i64,
}

/// How often and when one proposed line was seen
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeenReport {
    /// connections
    pub connections: u64,
    /// the first, RFC 3339 (none: the records carry no time)
    pub first: Option<String>,
    /// the last
    pub last: Option<String>,
    /// the UTC days it was seen on
    pub days: usize,
    /// the hours it was seen in
    pub hours: usize,
}

/// The report of one tally
pub fn seen_report(seen: &Seen) -> SeenReport {
    SeenReport {
        connections: seen.count,
        first: seen.first_ms.map(format_time),
        last: seen.last_ms.map(format_time),
        days: days_seen(seen),
        hours: seen.hours.len(),
    }
}

fn days_seen(seen: &Seen) -> usize {
    let days: BTreeSet<i64> = seen.hours.iter().map(|h| h.div_euclid(DAY_HOURS)).collect();
    days.len()
}

/// `seen 1,204 times on 6 of 7 days, first 2026-11-30T02:00:00Z, last
/// 2026-12-06T23:10:00Z`; `seen once at ...`; how regular it was is said in
/// days over a window of several, in hours over a window within one day
pub fn seen_text(seen: &Seen, watched: Option<&Watched>) -> String {
    let times = if seen.count == 1 {
        "once".to_string()
    } else {
        format!("{} times", grouped(seen.count))
    };
    let regularity = match watched {
        _ if seen.count == 1 || seen.hours.is_empty() => String::new(),
        Some(w) if w.days() > 1 => format!(" on {} of {} days", days_seen(seen), w.days()),
        Some(w) if w.hours() > 1 => format!(" in {} of {} hours", seen.hours.len(), w.hours()),
        _ => String::new(),
    };
    match (seen.first_ms, seen.last_ms) {
        (Some(a), Some(b)) if a / 1000 == b / 1000 => format!("seen {times}{regularity} at {}", format_time(a)),
        (Some(a), Some(b)) => format!(
            "seen {times}{regularity}, first {}, last {}",
            format_time(a),
            format_time(b)
        ),
        _ => format!("seen {times}{regularity}"),
    }
}

/// `1,204`: counts over a week run to millions, which people read grouped
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A namespace seen for too short a part of the window to deny by default
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brief {
    /// the namespace
    pub namespace: String,
    /// its first record, RFC 3339
    pub first: String,
    /// its last
    pub last: String,
    /// last - first, seconds
    pub seconds: i64,
    /// why it is proposed without default deny, and what to do
    pub message: String,
}

/// What was seen of each namespace: every conversation with a pod of it on
/// either side, merged
pub fn by_namespace(evidence: &Evidence, placed: &Placed) -> BTreeMap<String, Seen> {
    let mut out: BTreeMap<String, Seen> = BTreeMap::new();
    for (key, seen) in &evidence.flows {
        let mut sides: Vec<&str> = [&key.source, &key.destination]
            .into_iter()
            .filter_map(|party| match placed.place(party) {
                Place::Pod(i) => placed.model.pods.get(i).map(|p| p.namespace.as_str()),
                _ => None,
            })
            .collect();
        sides.dedup();
        for namespace in sides {
            match out.get_mut(namespace) {
                Some(tally) => tally.merge(seen),
                None => {
                    out.insert(namespace.to_string(), seen.clone());
                }
            }
        }
    }
    out
}

/// Whether `namespace`, seen as `seen`, was seen too briefly in the window
/// to be put on default deny: its records span less than the minimum window
/// the audit gate asks for and less than half of the window watched (a
/// window that is short as a whole is the gate's to refuse, not a reason to
/// propose nothing)
pub fn brief(namespace: &str, seen: &Seen, watched: &Watched, requirements: &Requirements) -> Option<Brief> {
    let (first, last) = (seen.first_ms?, seen.last_ms?);
    let seconds = (last - first) / 1000;
    let minimum = requirements.min_window_seconds;
    if seconds >= minimum || seconds.saturating_mul(BRIEF_SHARE) >= watched.seconds() {
        return None;
    }
    // A namespace of one record was seen at a moment, not "for 0m".
    let when = if seconds < 60 {
        format!("only at {}", format_time(first))
    } else {
        format!(
            "for only {} ({} .. {})",
            human(seconds),
            format_time(first),
            format_time(last)
        )
    };
    let message = format!(
        "namespace {namespace} was seen {when} in the {} watched, less than the minimum window {} ({}): it is proposed with posture none, not default-deny, as what it does the rest of the time is unknown; observe it longer (`palisade evidence ingest` into a store, then `discover --store URL --since 7d`) and discover again",
        human(watched.seconds()),
        human(minimum),
        requirements.min_window_from
    );
    Some(Brief {
        namespace: namespace.to_string(),
        first: format_time(first),
        last: format_time(last),
        seconds,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        let cases = [(0, "0"), (999, "999"), (1204, "1,204"), (1_000_000, "1,000,000")];
        for (n, text) in cases {
            assert_eq!(grouped(n), text);
        }
    }

    #[test]
    fn a_week_counts_seven_days_and_a_window_on_the_hour_no_extra_hour() {
        let watched = Watched {
            first_ms: 0,
            last_ms: 7 * DAY_HOURS * HOUR_MS,
        };
        assert_eq!((watched.days(), watched.hours()), (7, 7 * DAY_HOURS));
    }
}
