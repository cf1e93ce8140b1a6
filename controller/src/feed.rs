//! Evidence intake for the controller: a flow log followed as it grows (the
//! file `hubble observe -o jsonpb --follow`, an exporter or a log shipper
//! writes), read from where the last poll stopped, with a line cut short at
//! the end left for the next poll. A line over the flow readers' length cap
//! is never held: it is skipped as it streams by (across polls while it is
//! still being written) and counted as lost once it ends. Each namespace's
//! report says how long the stream was silent, what enforcement would drop,
//! and the audit gate's verdict on the evidence (the one `palisade audit`
//! prints): services never seen and not waived, a window shorter than the
//! minimum or than a CronJob's period, gaps.

use crate::{crd::WouldDrop, rollout::EvidenceReport};
use palisade_compiler::ir::Ir;
use palisade_evidence::{audit, sufficiency, AuditOptions, Evidence, Requirements};
use palisade_targets::{
    flows::{read_line_capped, Capped, FlowFormat, Line, MAX_LINE_BYTES},
    Dialect, Manifest,
};
use std::{
    collections::BTreeMap,
    io::{BufReader, Seek, SeekFrom},
    path::PathBuf,
};

/// A followed flow log
pub struct Feed {
    path: PathBuf,
    offset: u64,
    format: Option<&'static dyn FlowFormat>,
    /// everything seen so far
    pub evidence: Evidence,
    /// the newest record's time (ms since the epoch)
    pub last_record_ms: Option<i64>,
    /// records the layer reported lost, and lines that could not be read
    pub lost: u64,
    /// `offset` is inside a line over the cap whose end has not been
    /// written yet: the rest of it is skipped, not read as a record
    skipping: bool,
}

impl Feed {
    /// Follow `path` (the format is recognised from the first record)
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            format: None,
            evidence: Evidence::default(),
            last_record_ms: None,
            lost: 0,
            skipping: false,
        }
    }

    /// Take what was appended since the last poll; how many flows
    pub fn poll(&mut self) -> std::io::Result<u64> {
        let mut file = std::fs::File::open(&self.path)?;
        if file.metadata()?.len() < self.offset {
            self.offset = 0; // rotated or truncated: start again
            self.skipping = false;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::new(file);
        let mut taken = 0;
        let mut line = Vec::new();
        loop {
            let length = match read_line_capped(&mut reader, &mut line, MAX_LINE_BYTES)? {
                Capped::End => break,
                // The writer has not finished this line: read it whole next time.
                Capped::Line if !line.ends_with(b"\n") => break,
                Capped::Line => line.len() as u64,
                // Over the cap and not ended: step past what was written, so
                // that no poll holds or reads it again, and skip the rest later.
                Capped::TooLong { length, ended: false } => {
                    self.offset += length;
                    self.skipping = true;
                    break;
                }
                Capped::TooLong { length, ended: true } => {
                    self.offset += length;
                    self.skipping = false;
                    self.lost += 1;
                    continue;
                }
            };
            self.offset += length;
            if std::mem::take(&mut self.skipping) {
                // the end of a line over the cap, begun in an earlier poll
                self.lost += 1;
                continue;
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                self.lost += 1;
                continue;
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            if self.format.is_none() {
                self.format = palisade_targets::flows::formats()
                    .into_iter()
                    .find(|f| f.recognizes(text));
            }
            let Some(format) = self.format else {
                self.lost += 1;
                continue;
            };
            match format.read(text) {
                Ok(Line::Flow(record)) => {
                    if let Some(t) = record.time_ms {
                        self.last_record_ms = Some(self.last_record_ms.map_or(t, |l| l.max(t)));
                    }
                    self.evidence.add(*record);
                    taken += 1;
                }
                Ok(Line::Lost(n)) => self.lost += n,
                Ok(Line::Skipped(_)) => {}
                Err(_) => self.lost += 1,
            }
        }
        Ok(taken)
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
        let max_gap_seconds = requirements.max_gap_seconds;
        // This namespace's own records since the window began, and none
        // stamped in the future (a node with a wrong clock): another
        // namespace's traffic neither fills its gaps nor hides its silence.
        let skew_minutes = 5;
        let now_minute = now_ms.div_euclid(60_000);
        let from = requirements.since_ms.map_or(i64::MIN, |since| since.div_euclid(60_000));
        let minutes: Vec<i64> = self
            .evidence
            .minutes_by_namespace
            .get(namespace)
            .map(|m| m.range(from..=now_minute + skew_minutes).copied().collect())
            .unwrap_or_default();
        let silent = minutes
            .last()
            .map_or(i64::MAX / 2, |last| (now_minute - last).max(0) * 60);
        let inner = minutes.windows(2).map(|w| (w[1] - w[0]) * 60).max().unwrap_or(0);
        let lost_gap = if self.lost > lost_before {
            max_gap_seconds + 1
        } else {
            0
        };
        let result = audit(
            &self.evidence,
            ir,
            &BTreeMap::new(),
            None,
            enforce,
            AuditOptions::default(),
        );
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
        let verdict = sufficiency::judge(&self.evidence, ir, None, Some(&[namespace]), requirements);
        let unseen_services = verdict
            .missing
            .iter()
            .filter_map(|m| match &m.what {
                sufficiency::Shortfall::Unseen { service } => Some(service.clone()),
                _ => None,
            })
            .collect();
        EvidenceReport {
            longest_gap_seconds: silent.max(inner).max(lost_gap),
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
}
