//! CronJob schedules as Kubernetes reads them (robfig/cron's standard
//! parser: five fields, names of months and days, `*`, `?`, ranges, lists,
//! steps, and the `@hourly` … `@yearly` and `@every` descriptors), reduced to
//! the one number the audit gate needs: the longest time between two
//! consecutive firings. Evidence shorter than that may hold no run at all.
//!
//! The longest interval is found by walking every day of one full Gregorian
//! cycle (400 years, 146 097 days, a whole number of weeks), so `0 0 29 2 *`
//! (8 years across 2100) and `0 3 * * 0` (7 days) come out exact.

use std::fmt;

/// Why a schedule was not understood
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    why: String,
}

impl ScheduleError {
    fn new(why: impl Into<String>) -> Self {
        Self { why: why.into() }
    }
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

impl std::error::Error for ScheduleError {}

/// Days in one Gregorian cycle; 146 097 = 7 × 20 871, so weekdays repeat too
const CYCLE_DAYS: i64 = 146_097;

/// Seconds a clock change can lengthen an interval in a zone with daylight
/// saving time
const DST_SHIFT_SECONDS: i64 = 3600;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The longest time (seconds) between two consecutive firings of `schedule`
/// in `time_zone` (`spec.timeZone`; none is the controller manager's zone,
/// taken as UTC). In a zone other than UTC a clock change can stretch an
/// interval by an hour, so an hour is added: the gate errs on the long side.
pub fn longest_interval(schedule: &str, time_zone: Option<&str>) -> Result<i64, ScheduleError> {
    let mut text = schedule.trim();
    let mut zone = time_zone.map(str::trim).filter(|z| !z.is_empty());
    // The deprecated in-schedule zone, `CRON_TZ=Europe/Berlin 0 3 * * *`.
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (name, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            zone = Some(name);
            text = after.trim();
        }
    }
    let base = interval_utc(text)?;
    let utc = match zone {
        None => true,
        Some(z) => matches!(z, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Etc/UCT" | "UCT" | "Zulu"),
    };
    Ok(if utc || text.starts_with("@every") {
        base
    } else if fires_in_small_hours(text) {
        // robfig/cron skips a run that falls into the hour a spring clock
        // change removes (in the small hours): the
        // interval around it is two intervals long
        base.saturating_mul(2).saturating_add(DST_SHIFT_SECONDS)
    } else {
        base.saturating_add(DST_SHIFT_SECONDS)
    })
}

/// Whether the schedule may fire in an hour that a spring clock change removes
/// somewhere (00:00 to 03:59: America/Santiago at midnight, Europe/London at
/// 01:00, Europe/Berlin at 02:00, Europe/Helsinki at 03:00) (the descriptors fire at
/// midnight; one that cannot be read is taken to)
fn fires_in_small_hours(text: &str) -> bool {
    if text.starts_with('@') {
        return true;
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    let Some(hours) = fields.get(1) else { return true };
    match field(hours, 0, 23, &[], "hour") {
        Ok(hours) => (0..=3).any(|h| hours.bits & (1 << h) != 0),
        Err(_) => true,
    }
}

fn interval_utc(text: &str) -> Result<i64, ScheduleError> {
    let expanded = match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
        "@monthly" => "0 0 1 * *".to_string(),
        "@weekly" => "0 0 * * 0".to_string(),
        "@daily" | "@midnight" => "0 0 * * *".to_string(),
        "@hourly" => "0 * * * *".to_string(),
        lower if lower.starts_with("@every") => {
            let duration = text.get("@every".len()..).unwrap_or("").trim();
            return every(duration);
        }
        lower if lower.starts_with('@') => {
            return Err(ScheduleError::new(format!(
                "`{text}` is not a descriptor (@hourly, @daily, @weekly, @monthly, @yearly, @every)"
            )))
        }
        _ => text.to_string(),
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return Err(ScheduleError::new(format!(
            "`{text}` has {} fields, not the five of minute, hour, day of month, month and day of week",
            fields.len()
        )));
    };
    let minute = field(minute, 0, 59, &[], "minute")?;
    let hour = field(hour, 0, 23, &[], "hour")?;
    let dom = field(dom, 1, 31, &[], "day of month")?;
    let month = field(month, 1, 12, &MONTHS, "month")?;
    let mut dow = field(dow, 0, 7, &DAYS, "day of week")?;
    // 7 is Sunday too
    if dow.bits & (1 << 7) != 0 {
        dow.bits = (dow.bits & !(1 << 7)) | 1;
    }
    let times: Vec<i64> = (0..24)
        .filter(|h| hour.bits & (1 << h) != 0)
        .flat_map(|h| {
            (0..60)
                .filter(move |m| minute.bits & (1 << m) != 0)
                .map(move |m| h * 60 + m)
        })
        .collect();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Err(ScheduleError::new(format!("`{text}` names no time of day")));
    };
    let within_day = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let days = firing_days(&dom, &month, &dow);
    let (Some(&first_day), Some(&last_day)) = (days.first(), days.last()) else {
        return Err(ScheduleError::new(format!("`{text}` never fires (no such date)")));
    };
    let between_days = days
        .windows(2)
        .map(|w| (w[1] - w[0]) * 1440 + first - last)
        .chain(std::iter::once(
            (first_day + CYCLE_DAYS - last_day) * 1440 + first - last,
        ))
        .max()
        .unwrap_or(0);
    Ok(within_day.max(between_days) * 60)
}

/// A field: the values it admits, and whether it was written as `*` or `?`
/// (robfig's star bit: the day fields then combine with AND, not OR)
struct Field {
    bits: u64,
    star: bool,
}

fn field(expr: &str, min: u32, max: u32, names: &[&str], what: &str) -> Result<Field, ScheduleError> {
    let bad = |why: &str| ScheduleError::new(format!("the {what} field `{expr}` {why}"));
    let value = |text: &str| -> Result<u32, ScheduleError> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            // months count from 1, days of the week from 0 (Sunday)
            return u32::try_from(i)
                .map(|i| i + min.min(1))
                .map_err(|_| bad("is out of range"));
        }
        let n: u32 = text.parse().map_err(|_| bad("is not a number or a name"))?;
        if n < min || n > max {
            return Err(bad(&format!("is outside {min}-{max}")));
        }
        Ok(n)
    };
    let mut out = Field { bits: 0, star: false };
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| bad("has a step that is not a number"))?;
                if step == 0 {
                    return Err(bad("has a step of 0"));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (start, end, star) = if range == "*" || range == "?" {
            (min, max, step.unwrap_or(1) <= 1)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?, false)
        } else {
            let start = value(range)?;
            // `5/15` is `5-max/15`
            (start, if step.is_some() { max } else { start }, false)
        };
        if start > end {
            return Err(bad("has a range that ends before it starts"));
        }
        let step = step.unwrap_or(1);
        // Kubernetes accepts any step, `6/4294967295` too: stop at the end
        // rather than wrap around to the start.
        let mut n = start;
        while n <= end {
            out.bits |= 1 << n;
            match n.checked_add(step) {
                Some(next) => n = next,
                None => break,
            }
        }
        out.star |= star;
    }
    Ok(out)
}

/// The days of one cycle, counted from 2000-01-01 (a Saturday), on which the
/// schedule fires
fn firing_days(dom: &Field, month: &Field, dow: &Field) -> Vec<i64> {
    let mut out = Vec::new();
    let mut day: i64 = 0;
    let mut weekday: u32 = 6;
    for year in 2000..2400 {
        for m in 1..=12u32 {
            for d in 1..=days_in_month(year, m) {
                let dom_match = dom.bits & (1 << d) != 0;
                let dow_match = dow.bits & (1 << weekday) != 0;
                // robfig: with either day field a star, both must match; else either
                let day_match = if dom.star || dow.star {
                    dom_match && dow_match
                } else {
                    dom_match || dow_match
                };
                if month.bits & (1 << m) != 0 && day_match {
                    out.push(day);
                }
                day += 1;
                weekday = (weekday + 1) % 7;
            }
        }
    }
    out
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// `@every 1h30m`: Go durations of whole hours, minutes and seconds
fn every(text: &str) -> Result<i64, ScheduleError> {
    let bad = || {
        ScheduleError::new(format!(
            "`@every {text}` is not a duration palisade reads (e.g. `@every 1h30m`)"
        ))
    };
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: i64 = std::mem::take(&mut digits).parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
    }
    if !digits.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

/// A duration as people read it: `7d`, `2d 3h`, `24h`, `2h 10m`, `45m`,
/// `30s` (hours up to two days, as a window's minimum is usually written)
pub fn human(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let d = if seconds < 2 * 86_400 { 0 } else { seconds / 86_400 };
    let (h, m) = ((seconds - d * 86_400) / 3600, seconds % 3600 / 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    match (parts.is_empty(), seconds) {
        (true, 0) => "0m".to_string(),
        (true, s) => format!("{s}s"),
        _ => parts.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60;
    const HOUR: i64 = 3600;
    const DAY: i64 = 86_400;

    fn interval(schedule: &str) -> i64 {
        match longest_interval(schedule, None) {
            Ok(s) => s,
            Err(e) => unreachable!("`{schedule}`: {e}"),
        }
    }

    #[test]
    fn the_longest_interval_of_common_schedules() {
        for (schedule, expected) in [
            ("* * * * *", MINUTE),
            ("*/15 * * * *", 15 * MINUTE),
            ("5/20 * * * *", 20 * MINUTE),
            ("5,10 * * * *", 55 * MINUTE),
            ("0 * * * *", HOUR),
            ("@hourly", HOUR),
            ("0 3 * * *", DAY),
            ("@daily", DAY),
            ("30 2,14 * * *", 12 * HOUR),
            ("0 9 * * 1-5", 3 * DAY),
            ("0 9 * * MON-FRI", 3 * DAY),
            ("0 3 * * 0", 7 * DAY),
            ("0 3 * * 7", 7 * DAY),
            ("0 3 * * sun", 7 * DAY),
            ("@weekly", 7 * DAY),
            ("0 0 1 * *", 31 * DAY),
            ("@monthly", 31 * DAY),
            ("0 0 31 * *", 61 * DAY),
            ("0 0 1 1 *", 366 * DAY),
            ("@yearly", 366 * DAY),
            ("0 0 1 */3 *", 92 * DAY),
            ("0 0 1 jan,jul *", 184 * DAY),
            ("@every 90m", 90 * MINUTE),
            ("@every 1h30m", 90 * MINUTE),
        ] {
            assert_eq!(
                interval(schedule),
                expected,
                "{schedule}: {}",
                human(interval(schedule))
            );
        }
    }

    #[test]
    fn day_of_month_and_weekday_combine_as_kubernetes_does() {
        // both restricted: either day fires (the 1st, or any Monday)
        assert_eq!(interval("0 0 1 * 1"), 7 * DAY);
        // a star in one: both must match; `*/1` is a star, `*/2` is not
        assert_eq!(interval("0 0 * * 1"), 7 * DAY);
        assert_eq!(interval("0 0 */1 * 1"), 7 * DAY);
        assert_eq!(interval("0 0 ? * 1"), 7 * DAY);
        // every odd day of the month, or Mondays: never more than 2 days apart
        assert!(interval("0 0 */2 * 1") <= 2 * DAY);
    }

    #[test]
    fn leap_days_are_found_across_the_century_rule() {
        // 2096-02-29 .. 2104-02-29: 2100 is not a leap year
        assert_eq!(interval("0 0 29 2 *"), (365 * 8 + 1) * DAY);
    }

    #[test]
    fn a_zone_with_clock_changes_adds_an_hour() {
        assert_eq!(longest_interval("0 12 * * *", Some("Europe/Berlin")), Ok(DAY + HOUR));
        assert_eq!(longest_interval("0 3 * * *", Some("Etc/UTC")), Ok(DAY));
        assert_eq!(
            longest_interval("CRON_TZ=America/New_York 0 12 * * 0", None),
            Ok(7 * DAY + HOUR)
        );
    }

    /// robfig/cron skips a run that falls into the hour a spring change
    /// removes: `30 2 * * 0` in Europe/Berlin waits two weeks once a year
    #[test]
    fn a_run_in_the_small_hours_of_a_zone_may_be_skipped() {
        assert_eq!(
            longest_interval("30 2 * * *", Some("Europe/Berlin")),
            Ok(2 * DAY + HOUR)
        );
        assert_eq!(
            longest_interval("30 2 * * 0", Some("Europe/Berlin")),
            Ok(14 * DAY + HOUR)
        );
        assert_eq!(longest_interval("@daily", Some("America/Santiago")), Ok(2 * DAY + HOUR));
        assert_eq!(longest_interval("30 2 * * 0", Some("UTC")), Ok(7 * DAY));
    }

    /// Kubernetes accepts any step; the field ends at its end, it does not wrap
    #[test]
    fn a_huge_step_is_one_value_not_an_overflow() {
        assert_eq!(longest_interval("0 0 * * 6/4294967295", None), Ok(7 * DAY));
        assert_eq!(longest_interval("59/4294967295 * * * *", None), Ok(HOUR));
        assert_eq!(longest_interval("0 0 1 12/4294967295 *", None), Ok(365 * DAY + DAY));
    }

    #[test]
    fn schedules_it_cannot_read_are_errors_that_say_why() {
        for (schedule, why) in [
            ("", "has 0 fields"),
            ("0 3 * *", "has 4 fields"),
            ("0 3 * * * *", "has 6 fields"),
            ("60 * * * *", "minute field `60` is outside 0-59"),
            ("0 24 * * *", "outside 0-23"),
            ("0 0 0 * *", "outside 1-31"),
            ("0 0 L * *", "not a number or a name"),
            ("0 0 * * 1#2", "not a number or a name"),
            ("*/0 * * * *", "step of 0"),
            ("0 0 5-1 * *", "ends before it starts"),
            ("0 0 30 2 *", "never fires"),
            ("@fortnightly", "not a descriptor"),
            ("@every", "not a duration"),
            ("@every 1.5h", "not a duration"),
        ] {
            match longest_interval(schedule, None) {
                Err(e) => assert!(e.to_string().contains(why), "`{schedule}`: {e}"),
                Ok(s) => unreachable!("`{schedule}` read as {s} s"),
            }
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(7 * DAY), "7d");
        assert_eq!(human(2 * HOUR + 10 * MINUTE), "2h 10m");
        assert_eq!(human(DAY), "24h");
        assert_eq!(human(DAY + HOUR), "25h");
        assert_eq!(human(2 * DAY + 3 * HOUR + 5 * MINUTE), "2d 3h 5m");
        assert_eq!(human(45 * MINUTE), "45m");
        assert_eq!(human(30), "30s");
        assert_eq!(human(0), "0m");
    }
}
