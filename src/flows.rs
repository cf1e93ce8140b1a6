//! The arguments every command that reads flow logs shares, and reading them.

use palisade_compiler::model::ClusterModel;
use palisade_evidence::Evidence;
use palisade_intents::{diag::did_you_mean, Diag, Diags};
use palisade_targets::flows::{FlowFormat, StreamError};
use std::path::{Path, PathBuf};

/// Where the flows are, how to read them and how long they may fall silent:
/// one definition for every command that reads flow logs (audit, discover,
/// rollout, graph, report)
#[derive(clap::Args, Clone)]
pub struct FlowArgs {
    /// A flow log file or a folder of them; repeat the flag for more
    /// (`--flows a.json --flows b.json`); `-` is stdin; gzip is recognised
    #[arg(long, value_name = "FILE|DIR", help_heading = "Flows")]
    pub flows: Vec<PathBuf>,
    /// The flow format (default: recognised from the first record)
    #[arg(long, value_name = "FORMAT", value_parser = crate::values::flow_formats(), help_heading = "Flows")]
    pub flow_format: Option<String>,
    /// A cluster dump (`kubectl get ns,pods,cronjobs -A -o yaml`)
    ///
    /// It places pods known only by address or name; the audit gate asks the
    /// flows to cover one period of each of its CronJobs.
    #[arg(long, value_name = "FILE", help_heading = "Flows")]
    pub cluster: Option<PathBuf>,
    /// A flow store (`palisade evidence ingest`): its window of evidence
    /// instead of flow files, `sqlite:PATH` or a file path
    #[arg(long, value_name = "URL", help_heading = "Flows")]
    pub store: Option<String>,
    /// With --store: how far back from the newest stored record to judge,
    /// `90m`, `24h`, `7d`
    #[arg(long, value_name = "DURATION", help_heading = "Flows", default_value = "7d", value_parser = duration_ms)]
    pub since: i64,
    /// Minutes without any flow of a namespace that count as a gap in its evidence
    #[arg(long, value_name = "MINUTES", help_heading = "Flows", default_value_t = 10, value_parser = clap::value_parser!(i64).range(1..=527_040))]
    pub max_gap: i64,
}

/// The commands whose work is the flows: `--flows` is required there, and
/// optional where flows only add to the picture (graph, report, rollout
/// outside `--stage auto`)
pub const NEED_FLOWS: [&str; 2] = ["audit", "discover"];

impl FlowArgs {
    /// Read the flows and the dump; on errors, print them and return `None`
    pub fn read(&self, sink: &mut Diags) -> Option<(Evidence, Option<ClusterModel>)> {
        self.read_streams(sink, false)
    }

    /// [`Self::read`] for the audit gate: a file that holds no record of a
    /// known flow format is evidence of nothing, which the gate's verdict
    /// names, not an input error (a file that cannot be read still is one)
    pub fn read_for_gate(&self, sink: &mut Diags) -> Option<(Evidence, Option<ClusterModel>)> {
        self.read_streams(sink, true)
    }

    /// The format `--flow-format` names (`None`: recognised per stream), or
    /// the diagnostic of an unknown one
    pub fn reader(&self, sink: &mut Diags) -> Result<Option<&'static dyn FlowFormat>, ()> {
        let Some(name) = &self.flow_format else {
            return Ok(None);
        };
        match palisade_targets::flows::format(name) {
            Some(f) => Ok(Some(f)),
            None => {
                let ids: Vec<&str> = palisade_targets::flows::formats().iter().map(|f| f.id()).collect();
                let help = did_you_mean(name, ids.iter().copied())
                    .unwrap_or_else(|| format!("palisade reads: {}", ids.join(", ")));
                sink.push(Diag::error("unknown_flow_format", format!("unknown flow format `{name}`")).help(help));
                Err(())
            }
        }
    }

    /// The files `--flows` names, folders read for theirs
    pub fn files(&self, sink: &mut Diags) -> Option<Vec<PathBuf>> {
        flow_files(&self.flows).map_err(|diag| sink.push(diag)).ok()
    }

    fn read_streams(&self, sink: &mut Diags, gate: bool) -> Option<(Evidence, Option<ClusterModel>)> {
        let reader = self.reader(sink).ok()?;
        let cluster = match &self.cluster {
            None => None,
            Some(path) => match palisade_engine::manifests::read_cluster(path) {
                Ok(model) => Some(model),
                Err(diags) => {
                    sink.extend(diags.clone());
                    return None;
                }
            },
        };
        if let Some(url) = &self.store {
            if !self.flows.is_empty() {
                sink.push(
                    Diag::error("flows_and_store", "judge the flows of files or of a store, not both")
                        .help("add the files to the store first: `palisade evidence ingest --flows FILE --store URL`"),
                );
                return None;
            }
            return match stored(url, self.since) {
                Ok(evidence) => Some((evidence, cluster)),
                Err(e) => {
                    sink.push(Diag::error("store", e.to_string()).help(e.help()));
                    None
                }
            };
        }
        let files = self.files(sink)?;
        let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        // Where each file starts on one bar over all of them (stdin counts 0).
        let sizes: Vec<u64> = paths
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .collect();
        let starts: Vec<u64> = sizes
            .iter()
            .scan(0, |total, size| {
                let start = *total;
                *total += size;
                Some(start)
            })
            .collect();
        let bar = crate::progress::bytes(sizes.iter().sum(), "reading flows");
        let progress = |index: usize, bytes: u64| {
            if let Some(bar) = &bar {
                bar.set_position(starts.get(index).copied().unwrap_or(0) + bytes);
            }
        };
        let read = if gate {
            palisade_evidence::read_for_gate(&paths, reader, &progress)
        } else {
            palisade_evidence::read_with_progress(&paths, reader, &progress)
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match read {
            Ok(evidence) => match reader.and_then(|forced| wrong_format(forced, &paths, &evidence)) {
                Some(diag) => {
                    sink.push(diag);
                    None
                }
                None => Some((evidence, cluster)),
            },
            Err(StreamError::Io(message)) => {
                sink.push(Diag::error("io", message).help("pass a flow log file, or `-` to read stdin"));
                None
            }
            Err(StreamError::UnknownFormat(message)) => {
                sink.push(
                    Diag::error("unknown_flow_format", message).help(
                        "pass `hubble observe -o json` output, Calico Whisker/Goldmane flows or Envoy JSON access logs; --flow-format names the format",
                    ));
                None
            }
        }
    }
}

/// The window of a store: `since_ms` back from its newest record (an empty
/// store is an empty window, which the gate holds on)
fn stored(url: &str, since_ms: i64) -> Result<Evidence, palisade_store::StoreError> {
    let store = palisade_store::Store::open_existing(url)?;
    match store.last_seen_ms()? {
        None => Ok(Evidence::default()),
        Some(last) => store.evidence(last.saturating_sub(since_ms), last),
    }
}

/// `7d` as milliseconds; zero is refused (a window of nothing, or a
/// retention that keeps nothing, is never what was meant)
pub fn duration_ms(text: &str) -> Result<i64, String> {
    match palisade_intents::parse_duration(text) {
        Some(0) => Err(format!("`{text}` is zero: write e.g. `24h` or `7d`")),
        Some(seconds) => Ok(i64::try_from(seconds).unwrap_or(i64::MAX / 1000).saturating_mul(1000)),
        None => Err(format!(
            "`{text}` is not a duration: whole numbers with a unit (s, m, h, d, w), e.g. `90m`, `24h`, `7d`"
        )),
    }
}

/// A file of which the format forced by `--flow-format` read no record,
/// while recognising the format reads some: the flags name the wrong format,
/// and judging by no evidence would send the user after the wrong problem
fn wrong_format(
    forced: &dyn palisade_targets::flows::FlowFormat,
    paths: &[&Path],
    evidence: &Evidence,
) -> Option<Diag> {
    let formats = palisade_targets::flows::formats();
    paths.iter().zip(&evidence.reads).find_map(|(path, read)| {
        if read.flows > 0 || read.malformed == 0 || path.as_os_str() == "-" {
            return None;
        }
        let recognised = palisade_targets::flows::read(path, None, &formats, |_| {}).ok()?;
        (recognised.flows > 0 && recognised.format != forced.id()).then(|| {
            Diag::error(
                "wrong_flow_format",
                format!(
                    "`--flow-format {}` reads none of the {} of `{}`: they are {} records",
                    forced.id(),
                    palisade_evidence::plural(read.malformed, "record"),
                    path.display(),
                    recognised.format
                ),
            )
            .help(format!(
                "pass `--flow-format {}`, or leave the flag out: palisade recognises the format",
                recognised.format
            ))
        })
    })
}

/// The files `--flows` names: a folder stands for the files under it, in
/// name order so that a run reads them as the last one did; a folder with
/// none is an error, never evidence of nothing
fn flow_files(named: &[PathBuf]) -> Result<Vec<PathBuf>, Diag> {
    let mut files = Vec::new();
    for path in named {
        if path.as_os_str() == "-" || !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let before = files.len();
        files_under(path, &mut files)?;
        if files.len() == before {
            return Err(
                Diag::error("no_flows", format!("no flow log files under `{}`", path.display())).help(
                    "pass a folder that holds flow log files (hidden files are skipped), or the files themselves",
                ),
            );
        }
    }
    Ok(files)
}

fn files_under(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Diag> {
    let unreadable = |e: std::io::Error| {
        Diag::error("io", format!("cannot read the folder `{}`: {e}", dir.display()))
            .help("pass a readable folder of flow log files, or the files themselves")
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort();
    for entry in entries {
        let hidden = entry.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            files_under(&entry, files)?;
        } else {
            files.push(entry);
        }
    }
    Ok(())
}

/// One line per stream on stderr: what was read, skipped and unreadable
pub fn print_reads(evidence: &Evidence) {
    for read in &evidence.reads {
        let skipped: Vec<String> = read.skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
        eprintln!(
            "read {} lines ({}): {} flows{}{}{}",
            read.lines,
            if read.format.is_empty() {
                "no records"
            } else {
                read.format.as_str()
            },
            read.flows,
            if skipped.is_empty() {
                String::new()
            } else {
                format!(", skipped {}", skipped.join(", "))
            },
            if read.malformed == 0 {
                String::new()
            } else {
                format!(", {} unreadable", read.malformed)
            },
            if read.lost == 0 {
                String::new()
            } else {
                format!(", {} reported lost", read.lost)
            },
        );
        for m in &read.malformed_examples {
            eprintln!("  {}: {}", m.at, m.message);
        }
    }
}
