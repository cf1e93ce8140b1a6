//! Evidence intake for the controller, in memory: a flow log followed as it
//! grows ([`Tail`]: the file `hubble observe -o jsonpb --follow`, an
//! exporter or a log shipper writes) or Hubble Relay's stream, everything
//! seen kept in one [`Evidence`]. Each namespace's report says how long the
//! stream was silent, what enforcement would drop, and the audit gate's
//! verdict on the evidence (the one `palisade audit` prints): services never
//! seen and not waived, a window shorter than the minimum or than a
//! CronJob's period, gaps. With a flow store the same report is made of the
//! store's window instead ([`report`]).

use crate::{
    crd::WouldDrop,
    rollout::EvidenceReport,
    tail::{Intake, Tail},
};
use palisade_compiler::ir::Ir;
use palisade_evidence::{audit, sufficiency, AuditOptions, Evidence, Requirements};
use palisade_targets::{flows::FlowRecord, Dialect, Manifest};
use std::{collections::BTreeMap, path::PathBuf};

/// A followed flow log, and everything seen so far
pub struct Feed {
    tail: Tail,
    /// everything seen so far
    pub evidence: Evidence,
    /// the newest record's time (ms since the epoch)
    pub last_record_ms: Option<i64>,
    /// records the layer reported lost, and lines that could not be read
    pub lost: u64,
}

impl Intake for Feed {
    fn flow(&mut self, record: FlowRecord) {
        Memory {
            evidence: &mut self.evidence,
            last_record_ms: &mut self.last_record_ms,
            lost: &mut self.lost,
        }
        .flow(record);
    }

    fn lost(&mut self, records: u64) {
        self.lost += records;
    }

    fn unreadable(&mut self) {
        self.lost += 1;
    }
}

/// The in-memory part of a [`Feed`], borrowed apart from its tail
struct Memory<'f> {
    evidence: &'f mut Evidence,
    last_record_ms: &'f mut Option<i64>,
    lost: &'f mut u64,
}

impl Intake for Memory<'_> {
    fn flow(&mut self, record: FlowRecord) {
        if let Some(t) = record.time_ms {
            *self.last_record_ms = Some(self.last_record_ms.map_or(t, |l| l.max(t)));
        }
        self.evidence.add(record);
    }

    fn lost(&mut self, records: u64) {
        *self.lost += records;
    }

    fn unreadable(&mut self) {
        *self.lost += 1;
    }
}

impl Feed {
    /// Follow `path` (the format is recognised from the first record)
    pub fn new(path: PathBuf) -> Self {
        Self {
            tail: Tail::new(path),
            evidence: Evidence::default(),
            last_record_ms: None,
            lost: 0,
        }
    }

    /// Take what was appended since the last poll; how many flows
    pub fn poll(&mut self) -> std::io::Result<u64> {
        let Self {
            tail,
            evidence,
            last_record_ms,
            lost,
        } = self;
        tail.poll(&mut Memory {
            evidence,
            last_record_ms,
            lost,
        })
    }

    /// The report for one namespace at `now_ms`; `lost_before` is the lost
    /// count at the previous report (new losses count as a gap), judged by
    /// `requirements`: the project's minimum window and waivers
    /// (`Requirements::new(project)`), the gap limit (`with_max_gap(
    /// policy.max_gap_seconds, "maxGapSeconds")`) and the CronJobs whose
    /// periods the window must cover
    pub fn report(
        &self,
        namespace: &str,
        ir: &Ir,
        enforce: &[(&dyn Dialect, &[Manifest])],
        now_ms: i64,
        lost_before: u64,
        requirements: &Requirements,
    ) -> EvidenceReport {
        let judged = Judged {
            namespace,
            ir,
            enforce,
            now_ms,
            requirements,
        };
        report(&self.evidence, self.lost > lost_before, &judged)
    }
}

/// What a report judges evidence against
pub struct Judged<'a> {
    /// the namespace reported on
    pub namespace: &'a str,
    /// every Intents compiled together
    pub ir: &'a Ir,
    /// what enforcement would apply, per dialect
    pub enforce: &'a [(&'a dyn Dialect, &'a [Manifest])],
    /// the time of the report, ms since the epoch
    pub now_ms: i64,
    /// see [`Feed::report`]
    pub requirements: &'a Requirements,
}

/// The report for one namespace on `evidence`; `new_losses` when records
/// were lost since the previous report (they count as a gap)
pub fn report(evidence: &Evidence, new_losses: bool, judged: &Judged<'_>) -> EvidenceReport {
    let Judged {
        namespace,
        ir,
        enforce,
        now_ms,
        requirements,
    } = *judged;
    let longest_gap_seconds = longest_gap_seconds(evidence, namespace, now_ms, requirements, new_losses);
    let result = audit(evidence, ir, &BTreeMap::new(), None, enforce, AuditOptions::default());
    let in_namespace = |name: &str| name.split('/').next() == Some(namespace);
    let would_drop = result
        .groups
        .iter()
        .filter(|g| g.works_today && (in_namespace(&g.source) || in_namespace(&g.destination)))
        .map(|g| WouldDrop {
            source: g.source.clone(),
            destination: g.destination.clone(),
            ports: g.dropped.iter().map(|d| d.port.clone()).collect(),
            count: g.count,
            intent: g.intent.clone(),
        })
        .collect();
    let verdict = sufficiency::judge(evidence, ir, None, Some(&[namespace]), requirements);
    let unseen_services = verdict
        .missing
        .iter()
        .filter_map(|m| match &m.what {
            sufficiency::Shortfall::Unseen { service } => Some(service.clone()),
            _ => None,
        })
        .collect();
    EvidenceReport {
        longest_gap_seconds,
        unseen_services,
        would_drop,
        missing_evidence: verdict.messages().into_iter().map(str::to_string).collect(),
        waived: verdict
            .waived
            .iter()
            .map(|w| format!("{} ({})", w.service, w.reason))
            .collect(),
    }
}

/// The longest silence of `namespace` since the window began (up to now),
/// or past the limit when records were lost since the previous report
fn longest_gap_seconds(
    evidence: &Evidence,
    namespace: &str,
    now_ms: i64,
    requirements: &Requirements,
    new_losses: bool,
) -> i64 {
    let max_gap_seconds = requirements.max_gap_seconds;
    // This namespace's own records since the window began, and none
    // stamped in the future (a node with a wrong clock): another
    // namespace's traffic neither fills its gaps nor hides its silence.
    let skew_minutes = 5;
    let now_minute = now_ms.div_euclid(60_000);
    let from = requirements.since_ms.map_or(i64::MIN, |since| since.div_euclid(60_000));
    let minutes: Vec<i64> = evidence
        .minutes_by_namespace
        .get(namespace)
        .map(|m| m.range(from..=now_minute + skew_minutes).copied().collect())
        .unwrap_or_default();
    let silent = minutes
        .last()
        .map_or(i64::MAX / 2, |last| (now_minute - last).max(0) * 60);
    let inner = minutes.windows(2).map(|w| (w[1] - w[0]) * 60).max().unwrap_or(0);
    let lost_gap = if new_losses { max_gap_seconds + 1 } else { 0 };
    silent.max(inner).max(lost_gap)
}
