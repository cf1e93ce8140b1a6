//! Whether the evidence is enough to judge by. "Nothing would be dropped" is
//! only worth something when the flows show every service at work, over a
//! window long enough for their quiet stretches and their CronJobs, without
//! holes: an empty file, a file of other records or flows of other
//! namespaces show nothing, and must not pass. One verdict for `audit`,
//! `rollout --stage auto` and the controller.

use crate::{
    cron,
    observe::Evidence,
    plural,
    resolve::{place, Place, Placed},
};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, CronJob},
};
use palisade_intents::model::Project;
use palisade_targets::flows::format_time;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The minimum window without `evidence.minWindow`: a day, so that nightly
/// jobs and the daily rhythm of traffic are in it
pub const DEFAULT_MIN_WINDOW_SECONDS: i64 = 24 * 3600;

/// A service the project waives, and why
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waived {
    /// `namespace/service`
    pub service: String,
    /// the project's reason
    pub reason: String,
}

/// What the evidence must show
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirements {
    /// the shortest window (last record - first record), seconds
    pub min_window_seconds: i64,
    /// where the minimum comes from, as messages name it
    pub min_window_from: String,
    /// the longest stretch without any record, seconds
    pub max_gap_seconds: i64,
    /// the flag or setting of that limit, as messages name it
    pub max_gap_from: String,
    /// services that need not be seen
    pub waived: Vec<Waived>,
    /// CronJobs whose period the window must cover
    pub cron_jobs: Vec<CronJob>,
    /// judge only what was seen from this time on (ms since the epoch): the
    /// controller's window starts anew after a gap, and what came before it
    /// neither fills nor breaks the new one
    pub since_ms: Option<i64>,
}

impl Default for Requirements {
    fn default() -> Self {
        Self {
            min_window_seconds: DEFAULT_MIN_WINDOW_SECONDS,
            min_window_from: "the default; set project evidence.minWindow".into(),
            max_gap_seconds: 600,
            max_gap_from: "--max-gap".into(),
            waived: Vec::new(),
            cron_jobs: Vec::new(),
            since_ms: None,
        }
    }
}

impl Requirements {
    /// The project's minimum window and waivers (defaults without a project)
    pub fn new(project: Option<&Project>) -> Self {
        let mut out = Self::default();
        let Some(project) = project else { return out };
        if let Some(min) = &project.evidence.min_window {
            out.min_window_seconds = i64::try_from(min.value).unwrap_or(i64::MAX);
            out.min_window_from = "project evidence.minWindow".into();
        }
        out.waived = project
            .evidence
            .waive
            .iter()
            .map(|w| Waived {
                service: w.service.value.clone(),
                reason: w.reason.clone(),
            })
            .collect();
        out
    }

    /// With the gap limit, in seconds, and the name of its flag or setting
    pub fn with_max_gap(mut self, seconds: i64, from: &str) -> Self {
        self.max_gap_seconds = seconds;
        self.max_gap_from = from.to_string();
        self
    }

    /// With the CronJobs of a cluster dump
    pub fn with_cron_jobs(mut self, cluster: Option<&ClusterModel>) -> Self {
        self.cron_jobs = cluster.map(|c| c.cron_jobs.clone()).unwrap_or_default();
        self
    }

    /// Judge only what was seen from `ms` (ms since the epoch) on
    pub fn since(mut self, ms: i64) -> Self {
        self.since_ms = Some(ms);
        self
    }
}

/// A piece of evidence that is missing
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shortfall {
    /// a stream with no record of a known flow format
    NoRecords {
        /// what the reader said
        stream: String,
    },
    /// a service with no flow from or to it
    Unseen {
        /// `namespace/service`
        service: String,
    },
    /// no flow of the judged namespaces at all
    EmptyWindow {
        /// the judged namespaces
        namespaces: Vec<String>,
    },
    /// the flows of a namespace carry no times
    NoTimes {
        /// the namespace
        namespace: String,
    },
    /// the layer reported records lost: what enforcement would drop may be among them
    Lost {
        /// records lost
        records: u64,
    },
    /// lines no reader could read
    Unreadable {
        /// how many
        lines: u64,
        /// the first, `file:line:column`
        first: Option<String>,
    },
    /// the window is shorter than the minimum
    ShortWindow {
        /// the namespace whose records span it
        namespace: String,
        /// last record - first record, seconds
        window_seconds: i64,
        /// the minimum, seconds
        minimum_seconds: i64,
        /// where the minimum comes from
        from: String,
    },
    /// the window is shorter than a CronJob's period
    CronJobPeriod {
        /// `namespace/name`
        cron_job: String,
        /// its schedule
        schedule: String,
        /// the longest time between two runs, seconds
        period_seconds: i64,
        /// the window, seconds
        window_seconds: i64,
    },
    /// a CronJob schedule palisade cannot read
    UnreadableSchedule {
        /// `namespace/name`
        cron_job: String,
        /// its schedule
        schedule: String,
        /// why
        why: String,
    },
    /// a stretch without any record of a judged namespace
    Gap {
        /// the namespace
        namespace: String,
        /// the last record before it, RFC 3339
        from: String,
        /// the first record after it
        to: String,
        /// its length, seconds
        seconds: i64,
        /// the limit, seconds
        max_seconds: i64,
        /// the limit's flag or setting
        limit: String,
    },
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use cron::human;
        match self {
            Shortfall::NoRecords { stream } => write!(f, "{stream}: no flows read from it"),
            Shortfall::Unseen { service } => write!(f, "{service} was never seen: no flow from or to it"),
            Shortfall::EmptyWindow { namespaces } if namespaces.is_empty() => write!(
                f,
                "the intents declare no namespace: there is no service the evidence could show"
            ),
            Shortfall::EmptyWindow { namespaces } => write!(
                f,
                "no flow of namespace {} in the evidence: the window is empty",
                namespaces.join(", ")
            ),
            Shortfall::NoTimes { namespace } => write!(
                f,
                "the flows of namespace {namespace} carry no times: its window cannot be measured"
            ),
            Shortfall::Lost { records } => write!(
                f,
                "the stream reports {}: a flow enforcement would drop may be among them; \
                 collect a window without losses (a larger Hubble buffer, a flow exporter)",
                plural(*records, "lost record")
            ),
            Shortfall::Unreadable { lines, first } => write!(
                f,
                "{} could not be read{}: a flow enforcement would drop may be among them",
                plural(*lines, "line"),
                first.as_deref().map(|at| format!(" (the first at {at})")).unwrap_or_default()
            ),
            Shortfall::ShortWindow {
                namespace,
                window_seconds,
                minimum_seconds,
                from,
            } => write!(
                f,
                "the window of namespace {namespace}, {}, is shorter than the minimum {} ({from})",
                human(*window_seconds),
                human(*minimum_seconds)
            ),
            Shortfall::CronJobPeriod {
                cron_job,
                period_seconds,
                window_seconds,
                ..
            } => write!(
                f,
                "CronJob {cron_job} runs every {}; the window {} does not cover one period",
                human(*period_seconds),
                human(*window_seconds)
            ),
            Shortfall::UnreadableSchedule { cron_job, schedule, why } => write!(
                f,
                "CronJob {cron_job} has a schedule palisade cannot read (`{schedule}`: {why}): whether the window covers one of its runs is not known"
            ),
            Shortfall::Gap {
                namespace,
                from,
                to,
                seconds,
                max_seconds,
                limit,
            } => write!(
                f,
                "no flow of namespace {namespace} for {} from {from} to {to}: the gap exceeds {limit} {}",
                human(*seconds),
                human(*max_seconds)
            ),
        }
    }
}

/// A missing piece of evidence, with its message
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// what is missing
    #[serde(flatten)]
    pub what: Shortfall,
    /// for people
    pub message: String,
}

/// The span of the records of the judged namespaces
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    /// the first record, RFC 3339
    pub first: Option<String>,
    /// the last record
    pub last: Option<String>,
    /// last - first, seconds
    pub seconds: i64,
    /// the same, as people read it (`2d 3h`)
    pub text: String,
}

/// A CronJob's period, as the gate read it
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `namespace/name`
    pub cron_job: String,
    /// its schedule
    pub schedule: String,
    /// the longest time between two runs, seconds (none: not understood)
    pub seconds: Option<i64>,
}

/// Whether the evidence suffices, and what is missing when not
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// the gate may pass on this evidence
    pub passes: bool,
    /// the namespaces judged
    pub namespaces: Vec<String>,
    /// the shortest of their windows: the one the gate is bound by
    pub window: Window,
    /// each judged namespace's window, of its own records
    pub windows: BTreeMap<String, Window>,
    /// the minimum window, seconds
    pub min_window_seconds: i64,
    /// the same, as people read it
    pub min_window: String,
    /// services seen, `namespace/service`
    pub seen: Vec<String>,
    /// the waivers of services of the judged namespaces, shown every time
    pub waived: Vec<Waived>,
    /// the CronJobs' periods
    pub cron_jobs: Vec<Period>,
    /// what is missing, in a stable order (empty when it passes)
    pub missing: Vec<Missing>,
}

impl Verdict {
    /// The missing pieces' messages
    pub fn messages(&self) -> Vec<&str> {
        self.missing.iter().map(|m| m.message.as_str()).collect()
    }
}

/// Judge `evidence` for the services of `namespaces` (every namespace of the
/// intents when `None`); the dump places pods known only by address
pub fn judge(
    evidence: &Evidence,
    ir: &Ir,
    cluster: Option<&ClusterModel>,
    namespaces: Option<&[&str]>,
    requirements: &Requirements,
) -> Verdict {
    let judged: BTreeSet<String> = match namespaces {
        Some(list) => list.iter().map(|n| n.to_string()).collect(),
        None => ir.namespaces.keys().cloned().collect(),
    };
    let placed = place(evidence, Some(ir), cluster);
    let mut shortfalls = Vec::new();
    for stream in &evidence.unrecognized {
        shortfalls.push(Shortfall::NoRecords { stream: stream.clone() });
    }
    let mut seen = Vec::new();
    let waived: Vec<Waived> = requirements
        .waived
        .iter()
        .filter(|w| w.service.split('/').next().is_some_and(|ns| judged.contains(ns)))
        .cloned()
        .collect();
    for ns in judged.iter().filter_map(|n| ir.namespaces.get(n)) {
        for svc in ns.services.values() {
            let id = format!("{}/{}", ns.name, svc.name);
            let observed = placed
                .model
                .pods
                .iter()
                .any(|p| p.namespace == ns.name && p.matches(&svc.selector));
            if observed {
                seen.push(id);
            } else if !waived.iter().any(|w| w.service == id) {
                shortfalls.push(Shortfall::Unseen { service: id });
            }
        }
    }
    for read in &evidence.reads {
        if read.lost > 0 {
            shortfalls.push(Shortfall::Lost { records: read.lost });
        }
        if read.malformed > 0 {
            shortfalls.push(Shortfall::Unreadable {
                lines: read.malformed,
                first: read.malformed_examples.first().map(|m| m.at.clone()),
            });
        }
    }
    // Each namespace is judged by its own records: flows of other namespaces
    // say nothing of its services, and must not fill its gaps.
    let spans = spans(evidence, &placed, &judged, requirements.since_ms);
    let mut windows = BTreeMap::new();
    for namespace in &judged {
        let Some(span) = spans.get(namespace) else {
            shortfalls.push(Shortfall::EmptyWindow {
                namespaces: vec![namespace.clone()],
            });
            continue;
        };
        let Some((a, b)) = span else {
            shortfalls.push(Shortfall::NoTimes {
                namespace: namespace.clone(),
            });
            continue;
        };
        let window = Window::between(*a, *b);
        if window.seconds < requirements.min_window_seconds {
            shortfalls.push(Shortfall::ShortWindow {
                namespace: namespace.clone(),
                window_seconds: window.seconds,
                minimum_seconds: requirements.min_window_seconds,
                from: requirements.min_window_from.clone(),
            });
        }
        let none = BTreeSet::new();
        let minutes = evidence.minutes_by_namespace.get(namespace).unwrap_or(&none);
        let mut previous = a.div_euclid(60_000);
        for minute in minutes
            .range(a.div_euclid(60_000)..=b.div_euclid(60_000))
            .copied()
            .chain([b.div_euclid(60_000)])
        {
            let seconds = (minute - previous) * 60;
            if seconds > requirements.max_gap_seconds {
                shortfalls.push(Shortfall::Gap {
                    namespace: namespace.clone(),
                    from: format_time(previous * 60_000),
                    to: format_time(minute * 60_000),
                    seconds,
                    max_seconds: requirements.max_gap_seconds,
                    limit: requirements.max_gap_from.clone(),
                });
            }
            previous = minute;
        }
        windows.insert(namespace.clone(), window);
    }
    if judged.is_empty() {
        shortfalls.push(Shortfall::EmptyWindow { namespaces: Vec::new() });
    }
    // Bound by the shortest: a namespace with no window at all binds to empty.
    let measured = windows.len() == judged.len() && !judged.is_empty();
    let window = if measured {
        windows.values().min_by_key(|w| w.seconds).cloned().unwrap_or_default()
    } else {
        Window {
            text: "empty".into(),
            ..Window::default()
        }
    };
    let mut periods = Vec::new();
    for job in &requirements.cron_jobs {
        let period = cron::longest_interval(&job.schedule, job.time_zone.as_deref());
        periods.push(Period {
            cron_job: job.id(),
            schedule: job.schedule.clone(),
            seconds: period.as_ref().ok().copied(),
        });
        // A job of a judged namespace against that namespace's window; any
        // other against the shortest
        let covered = windows.get(&job.namespace).unwrap_or(&window);
        match period {
            Ok(seconds) if measured && covered.seconds < seconds => shortfalls.push(Shortfall::CronJobPeriod {
                cron_job: job.id(),
                schedule: job.schedule.clone(),
                period_seconds: seconds,
                window_seconds: covered.seconds,
            }),
            Ok(_) => {}
            Err(e) => shortfalls.push(Shortfall::UnreadableSchedule {
                cron_job: job.id(),
                schedule: job.schedule.clone(),
                why: e.to_string(),
            }),
        }
    }
    let missing: Vec<Missing> = shortfalls
        .into_iter()
        .map(|what| Missing {
            message: what.to_string(),
            what,
        })
        .collect();
    Verdict {
        passes: missing.is_empty(),
        namespaces: judged.into_iter().collect(),
        window,
        windows,
        min_window_seconds: requirements.min_window_seconds,
        min_window: cron::human(requirements.min_window_seconds),
        seen,
        waived,
        cron_jobs: periods,
        missing,
    }
}

impl Window {
    fn between(first_ms: i64, last_ms: i64) -> Window {
        let seconds = (last_ms - first_ms) / 1000;
        Window {
            first: Some(format_time(first_ms)),
            last: Some(format_time(last_ms)),
            seconds,
            text: cron::human(seconds),
        }
    }
}

/// Per judged namespace with a flow, the first and last time of its flows
/// (`None`: its flows carry no times)
fn spans(
    evidence: &Evidence,
    placed: &Placed,
    judged: &BTreeSet<String>,
    since_ms: Option<i64>,
) -> BTreeMap<String, Option<(i64, i64)>> {
    let namespace_of = |place: Place| match place {
        Place::Pod(i) => placed
            .model
            .pods
            .get(i)
            .map(|p| p.namespace.clone())
            .filter(|n| judged.contains(n)),
        _ => None,
    };
    let mut spans: BTreeMap<String, Option<(i64, i64)>> = BTreeMap::new();
    for (key, seen) in &evidence.flows {
        // A conversation last seen before the window began says nothing of it.
        if since_ms.is_some_and(|since| seen.last_ms.is_some_and(|last| last < since)) {
            continue;
        }
        let sides = [
            namespace_of(placed.place(&key.source)),
            namespace_of(placed.place(&key.destination)),
        ];
        for namespace in sides.into_iter().flatten() {
            let span = spans.entry(namespace).or_insert(None);
            if let (Some(a), Some(b)) = (seen.first_ms, seen.last_ms) {
                let a = since_ms.map_or(a, |since| a.max(since));
                *span = Some(span.map_or((a, b), |(f, l)| (f.min(a), l.max(b))));
            }
        }
    }
    spans
}
