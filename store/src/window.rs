//! A window read back, streams recorded, resume positions, old evidence
//! pruned

use crate::ingest::{corrupt, minutes_of, CLOCK_SKEW_MS};
use crate::sql::{in_snapshot, in_transaction, scalar, Dialect, Row, Sql, Value};
use crate::write::{PRUNED, SAVE_CURSOR};
use crate::{count_of, db_count, key, now_ms, StoreError, HOUR_MS, MINUTE_MS};
use palisade_evidence::observe::{KeyHashing, Seen};
use palisade_evidence::Evidence;
use palisade_targets::flows::{Observed, ReadStats};
use std::collections::HashMap;

/// A stretch of time, ms since the epoch, both ends included. Buckets are
/// taken whole: a window takes every hour it touches (and every minute of
/// activity it touches), so its edges are as fine as an hour
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// from
    pub since_ms: i64,
    /// to
    pub until_ms: i64,
}

impl Window {
    /// The `length_ms` up to `until_ms`
    pub fn ending(until_ms: i64, length_ms: i64) -> Self {
        Self {
            since_ms: until_ms.saturating_sub(length_ms),
            until_ms,
        }
    }

    fn hours(self) -> [Value<'static>; 2] {
        [
            self.since_ms.div_euclid(HOUR_MS).into(),
            self.until_ms.div_euclid(HOUR_MS).into(),
        ]
    }

    /// The window's hours as the days it takes whole, read from their
    /// sums, and the hours before and after those days, read one by one.
    /// Hours before 1970, which no flow log has, are left out.
    fn split(self) -> Split {
        let first_hour = self.since_ms.div_euclid(HOUR_MS).max(0);
        let last_hour = self.until_ms.div_euclid(HOUR_MS);
        let first_day = (first_hour + 23).div_euclid(24);
        let last_day = (last_hour + 1).div_euclid(24) - 1;
        if last_hour < first_hour {
            return Split::default();
        }
        if last_day < first_day {
            return Split {
                days: None,
                hours: vec![[first_hour.into(), last_hour.into()]],
            };
        }
        let hours = [(first_hour, first_day * 24 - 1), ((last_day + 1) * 24, last_hour)]
            .into_iter()
            .filter(|(from, to)| from <= to)
            .map(|(from, to)| [from.into(), to.into()])
            .collect();
        Split {
            days: Some([first_day.into(), last_day.into()]),
            hours,
        }
    }

    fn minutes(self) -> (i64, i64) {
        (self.since_ms.div_euclid(MINUTE_MS), self.until_ms.div_euclid(MINUTE_MS))
    }
}

/// A window as ranges of whole days and of hours, both ends included
#[derive(Default)]
struct Split {
    days: Option<[Value<'static>; 2]>,
    hours: Vec<[Value<'static>; 2]>,
}

// Summed per conversation and day by the database, the hours of the day
// as bits: a week is conversations x 168 bucket rows, too many to carry
// across a socket one by one, and one grouping is one sort. Hours before
// 1970 (which no flow log has) would not be bits: they are left out.
pub(crate) const DAYS: &str = "
SELECT conversation, hour / 24, CAST(SUM(CAST(1 AS BIGINT) << CAST(hour % 24 AS INTEGER)) AS BIGINT),
    CAST(SUM(connections) AS BIGINT), MIN(first_ms), MAX(last_ms),
    CAST(SUM(allowed) AS BIGINT), CAST(SUM(dropped) AS BIGINT), CAST(SUM(would_drop) AS BIGINT)
FROM buckets WHERE hour >= $1 AND hour <= $2 AND hour >= 0 GROUP BY conversation, hour / 24";

/// The days stored whole, in the shape of [`DAYS`]
const DAY_ROWS: &str = "
SELECT conversation, day, hours, connections, first_ms, last_ms, allowed, dropped, would_drop
FROM days WHERE day >= $1 AND day <= $2";

// The key text once per conversation, not once per hour of it; every
// row, as finding the window's conversations among its hours would read
// the hours again (the keys of those not in the window are not parsed).
const KEYS: &str = "SELECT id, conversation_key FROM conversations";

const LOOKUPS: &str = "
SELECT endpoint, name, CAST(SUM(lookups) AS BIGINT) FROM lookups
WHERE hour >= $1 AND hour <= $2 GROUP BY endpoint, name";

const LOOKUP_DAYS: &str = "
SELECT endpoint, name, CAST(SUM(lookups) AS BIGINT) FROM lookup_days
WHERE day >= $1 AND day <= $2 GROUP BY endpoint, name";

const ACTIVITY: &str = "SELECT namespace, hour, minutes FROM activity WHERE hour >= $1 AND hour <= $2";

const STREAMS: &str = "
SELECT format, lines, flows, malformed, lost FROM streams
WHERE COALESCE(last_ms, ingested_ms) >= $1 AND COALESCE(first_ms, ingested_ms) <= $2
ORDER BY id";

pub(crate) fn evidence(sql: &mut dyn Sql, window: Window) -> Result<Evidence, StoreError> {
    in_snapshot(sql, |sql| {
        let mut evidence = Evidence::default();
        read_conversations(sql, window, &mut evidence)?;
        read_lookups(sql, window, &mut evidence)?;
        read_activity(sql, window, &mut evidence)?;
        read_streams(sql, window, &mut evidence)?;
        Ok(evidence)
    })
}

// SQLite reads the hours themselves, in the order of its key: grouping
// them by conversation and day took the database a sort of every hour of
// the window, several times the reading, and in the same process there is
// no socket to spare.
const HOURS: &str = "
SELECT conversation, hour, connections, first_ms, last_ms, allowed, dropped, would_drop
FROM buckets WHERE hour >= $1 AND hour <= $2 AND hour >= 0";

/// Each conversation's tally and the hours it was seen in, by its id
type Tallies = HashMap<i64, (Seen, Vec<i64>), KeyHashing>;

fn read_conversations(sql: &mut dyn Sql, window: Window, evidence: &mut Evidence) -> Result<(), StoreError> {
    let mut seen = Tallies::default();
    let split = window.split();
    for hours in &split.hours {
        match sql.dialect() {
            Dialect::Sqlite => sql.query(HOURS, hours, &mut |row| {
                let (tally, hours) = seen.entry(row.int_required(0)?).or_default();
                hours.push(row.int_required(1)?);
                add_counts(tally, row, 2)
            })?,
            Dialect::Postgres => sql.query(DAYS, hours, &mut |row| {
                let (tally, hours) = seen.entry(row.int_required(0)?).or_default();
                add_day(tally, hours, row)
            })?,
        }
    }
    if let Some(days) = &split.days {
        sql.query(DAY_ROWS, days, &mut |row| {
            let (tally, hours) = seen.entry(row.int_required(0)?).or_default();
            add_day(tally, hours, row)
        })?;
    }
    evidence.flows.reserve(seen.len());
    let store = sql.name().to_string();
    sql.query(KEYS, &[], &mut |row| {
        let id = row.int_required(0)?;
        if let Some((mut tally, hours)) = seen.remove(&id) {
            let flow = key::parse(&row.text_required(1)?).map_err(|e| corrupt(&store, &e))?;
            tally.hours = hours.into_iter().collect();
            evidence.flows.insert(flow, tally);
        }
        Ok(())
    })?;
    if !seen.is_empty() {
        return Err(StoreError::Corrupt {
            store,
            why: format!("{} conversations have hours but no row", seen.len()),
        });
    }
    Ok(())
}

/// One day of a conversation added to its tally
fn add_day(tally: &mut Seen, hours: &mut Vec<i64>, row: &dyn Row) -> Result<(), StoreError> {
    let (day, bits) = (row.int_required(1)?, row.int_required(2)?);
    hours.extend((0..24).filter(|h| bits & (1_i64 << h) != 0).map(|h| day * 24 + h));
    add_counts(tally, row, 3)
}

/// The counts of a row added to a tally: connections, first and last
/// seen, then allowed, dropped and would-drop, from column `first` on
fn add_counts(tally: &mut Seen, row: &dyn Row, first: usize) -> Result<(), StoreError> {
    tally.count = tally.count.saturating_add(count_of(row.int_required(first)?));
    if let Some(earliest) = row.int(first + 1)? {
        tally.first_ms = Some(tally.first_ms.map_or(earliest, |f| f.min(earliest)));
    }
    if let Some(latest) = row.int(first + 2)? {
        tally.last_ms = Some(tally.last_ms.map_or(latest, |l| l.max(latest)));
    }
    let verdicts = [Observed::Allowed, Observed::Dropped, Observed::WouldDrop];
    for (column, verdict) in (first + 3..).zip(verdicts) {
        let n = count_of(row.int_required(column)?);
        if n > 0 {
            let total = tally.observed.entry(verdict).or_default();
            *total = total.saturating_add(n);
        }
    }
    Ok(())
}

fn read_lookups(sql: &mut dyn Sql, window: Window, evidence: &mut Evidence) -> Result<(), StoreError> {
    let store = sql.name().to_string();
    let split = window.split();
    let ranges = split.hours.iter().map(|hours| (LOOKUPS, hours));
    for (query, range) in ranges.chain(split.days.iter().map(|days| (LOOKUP_DAYS, days))) {
        sql.query(query, range, &mut |row| {
            let who = key::parse_endpoint(&row.text_required(0)?).map_err(|e| corrupt(&store, &e))?;
            let looked = evidence
                .lookups
                .entry(who)
                .or_default()
                .entry(row.text_required(1)?)
                .or_default();
            *looked = looked.saturating_add(count_of(row.int_required(2)?));
            Ok(())
        })?;
    }
    Ok(())
}

fn read_activity(sql: &mut dyn Sql, window: Window, evidence: &mut Evidence) -> Result<(), StoreError> {
    let (from_minute, to_minute) = window.minutes();
    // Gathered, then built at once: a week of busy namespaces is millions
    // of minutes, which one sorted build takes far faster than inserts.
    let mut by_namespace: HashMap<String, Vec<i64>> = HashMap::new();
    sql.query(ACTIVITY, &window.hours(), &mut |row| {
        let minutes = minutes_of(row.int_required(1)?, row.int_required(2)?, from_minute, to_minute);
        by_namespace.entry(row.text_required(0)?).or_default().extend(minutes);
        Ok(())
    })?;
    for (namespace, minutes) in by_namespace {
        if namespace.is_empty() {
            evidence.minutes.extend(minutes);
        } else {
            evidence
                .minutes_by_namespace
                .insert(namespace, minutes.into_iter().collect());
        }
    }
    Ok(())
}

fn read_streams(sql: &mut dyn Sql, window: Window, evidence: &mut Evidence) -> Result<(), StoreError> {
    let ends = [Value::from(window.since_ms), Value::from(window.until_ms)];
    sql.query(STREAMS, &ends, &mut |row| {
        evidence.reads.push(ReadStats {
            format: row.text_required(0)?,
            lines: count_of(row.int_required(1)?),
            flows: count_of(row.int_required(2)?),
            malformed: count_of(row.int_required(3)?),
            lost: count_of(row.int_required(4)?),
            ..ReadStats::default()
        });
        Ok(())
    })
}

/// The newest time of the store: the latest record, or the end of the
/// latest hour that holds only untimed records; never later than the clock
/// allows (a store written before records from the future were held at
/// the ingest's time may still have them)
pub(crate) fn last_seen(sql: &mut dyn Sql) -> Result<Option<i64>, StoreError> {
    let newest = scalar(
        sql,
        // In the latest hour: every time of a bucket lies in its hour, and
        // finding that hour takes the end of the key, not every bucket.
        "SELECT MAX(COALESCE(last_ms, hour * 3600000 + 3599999)) FROM buckets
         WHERE hour = (SELECT MAX(hour) FROM buckets)",
        &[],
    )?;
    Ok(newest.map(|t| t.min(now_ms() + CLOCK_SKEW_MS)))
}

pub(crate) fn cursor(sql: &mut dyn Sql, source: &str) -> Result<Option<String>, StoreError> {
    let mut found = None;
    sql.query(
        "SELECT position FROM cursors WHERE source = $1",
        &[source.into()],
        &mut |row| {
            found = row.text(0)?;
            Ok(())
        },
    )?;
    Ok(found)
}

pub(crate) fn record_stream(
    sql: &mut dyn Sql,
    source: &str,
    stats: &ReadStats,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
) -> Result<(), StoreError> {
    let skipped: u64 = stats.skipped.values().sum();
    sql.execute(
        "INSERT INTO streams (source, format, ingested_ms, first_ms, last_ms, lines, flows, malformed, skipped, lost)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            source.into(),
            stats.format.as_str().into(),
            now_ms().into(),
            first_ms.into(),
            last_ms.into(),
            db_count(stats.lines).into(),
            db_count(stats.flows).into(),
            db_count(stats.malformed).into(),
            db_count(skipped).into(),
            db_count(stats.lost).into(),
        ],
    )
    .map(|_| ())
}

/// What a prune removed
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// conversation-hours
    pub buckets: u64,
    /// conversations with no hour left
    pub conversations: u64,
    /// minutes of activity (of the cluster; each namespace's go with them)
    pub minutes: u64,
    /// name-lookup hours
    pub lookups: u64,
    /// streams that ended before the cutoff
    pub streams: u64,
}

pub(crate) fn prune(sql: &mut dyn Sql, older_than_ms: i64) -> Result<Pruned, StoreError> {
    // Only hours that ended before the cutoff: a bucket that straddles it
    // still holds evidence inside the kept window.
    let hour = older_than_ms.div_euclid(HOUR_MS);
    let minute = older_than_ms.div_euclid(MINUTE_MS);
    in_transaction(sql, |sql| {
        // Writers' ids learned before this prune are no longer to be trusted.
        let mark = format!("{}.{}", now_ms(), std::process::id());
        sql.execute(SAVE_CURSOR, &[PRUNED.into(), mark.as_str().into(), now_ms().into()])?;
        let pruned = Pruned {
            buckets: prune_hours(sql, hour)?,
            conversations: sql.execute(
                "DELETE FROM conversations WHERE NOT EXISTS (SELECT 1 FROM buckets WHERE buckets.conversation = conversations.id)",
                &[],
            )?,
            minutes: prune_activity(sql, minute)?,
            lookups: sql.execute("DELETE FROM lookups WHERE hour < $1", &[hour.into()])?,
            streams: sql.execute(
                "DELETE FROM streams WHERE COALESCE(last_ms, ingested_ms) < $1",
                &[older_than_ms.into()],
            )?,
        };
        Ok(pruned)
    })
}

/// Forget the conversations' hours and the lookups before `hour`, with
/// their days; the day `hour` falls in is summed again from the hours it
/// keeps
fn prune_hours(sql: &mut dyn Sql, hour: i64) -> Result<u64, StoreError> {
    let buckets = sql.execute("DELETE FROM buckets WHERE hour < $1", &[hour.into()])?;
    let day = hour.div_euclid(24);
    sql.execute("DELETE FROM days WHERE day <= $1", &[day.into()])?;
    sql.execute("DELETE FROM lookup_days WHERE day <= $1", &[day.into()])?;
    crate::write::fill_days(sql, hour, (day + 1) * 24 - 1)?;
    Ok(buckets)
}

/// Forget the minutes before `minute`: whole hours, then the bits of the
/// hour it falls in; the cluster's minutes forgotten
fn prune_activity(sql: &mut dyn Sql, minute: i64) -> Result<u64, StoreError> {
    let hour = minute.div_euclid(60);
    let below = (1_i64 << minute.rem_euclid(60)) - 1;
    let mut forgotten = 0_u64;
    sql.query(
        "SELECT hour, minutes FROM activity WHERE namespace = '' AND hour <= $1",
        &[hour.into()],
        &mut |row| {
            let bits = row.int_required(1)?;
            let gone = if row.int_required(0)? < hour {
                bits
            } else {
                bits & below
            };
            forgotten += u64::from(gone.count_ones());
            Ok(())
        },
    )?;
    sql.execute("DELETE FROM activity WHERE hour < $1", &[hour.into()])?;
    sql.execute(
        "UPDATE activity SET minutes = minutes & $1 WHERE hour = $2",
        &[(!below).into(), hour.into()],
    )?;
    sql.execute("DELETE FROM activity WHERE minutes = 0", &[])?;
    Ok(forgotten)
}
