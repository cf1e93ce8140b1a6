//! Observed traffic in one neutral record, whatever layer reported it.
//!
//! Each dialect that has a flow log owns a reader (`FlowFormat`) in its folder
//! (Hubble in cilium/, Goldmane/Whisker in calico/, Envoy access logs in
//! istio/). This module streams a file, stdin or a gzip file line by line
//! through one of them. A line that cannot be read is counted and its first
//! occurrences are kept with their position: never fatal, never dropped
//! without a trace.

use palisade_compiler::model::Request;
use palisade_intents::{syntax::Protocol, types::Labels};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read},
    net::IpAddr,
    path::Path,
};

/// What kind of thing an end of a flow is
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointKind {
    /// a pod (its labels, or its address or name, identify it)
    Pod,
    /// an address outside the cluster
    Outside,
    /// a node (kubelet probes, host-network pods)
    Node,
    /// the Kubernetes API server
    KubeApiserver,
}

/// One end of an observed flow: whatever the record says about it
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowEndpoint {
    /// what it is
    pub kind: EndpointKind,
    /// its namespace, for pods
    pub namespace: Option<String>,
    /// the pod's name (or the workload's, where the layer aggregates pods)
    pub pod: Option<String>,
    /// the Kubernetes Service the record names (Envoy's upstream cluster)
    pub service: Option<String>,
    /// the pod's labels
    pub labels: Labels,
    /// the labels of the pod's namespace, where the record carries them
    pub namespace_labels: Labels,
    /// the pod's service account
    pub service_account: Option<String>,
    /// its address
    pub ip: Option<IpAddr>,
    /// DNS names the address was looked up as
    pub names: Vec<String>,
}

impl FlowEndpoint {
    /// An endpoint of that kind about which nothing else is known yet
    pub fn of_kind(kind: EndpointKind) -> Self {
        Self {
            kind,
            namespace: None,
            pod: None,
            service: None,
            labels: Labels::new(),
            namespace_labels: Labels::new(),
            service_account: None,
            ip: None,
            names: Vec::new(),
        }
    }
}

/// What the reporting layer did with the flow
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Observed {
    /// it passed
    Allowed,
    /// it was dropped by the policy in force
    Dropped,
    /// it passed, and the layer's own audit says enforcement would drop it
    WouldDrop,
}

impl Observed {
    /// How reports name it
    pub fn as_str(self) -> &'static str {
        match self {
            Observed::Allowed => "allowed",
            Observed::Dropped => "dropped",
            Observed::WouldDrop => "would-drop",
        }
    }
}

/// One observed connection attempt (replies are not flows of their own)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// when, in milliseconds since the Unix epoch
    pub time_ms: Option<i64>,
    /// who opened it
    pub source: FlowEndpoint,
    /// who it went to
    pub destination: FlowEndpoint,
    /// protocol
    pub protocol: Protocol,
    /// destination port
    pub port: u16,
    /// what the layer did
    pub observed: Observed,
    /// the HTTP request, for L7 records
    pub request: Option<Request>,
    /// the name looked up, for DNS requests
    pub dns_query: Option<String>,
    /// how many connections the record stands for (aggregating layers)
    pub count: u64,
}

/// What a reader made of one line
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// a flow
    Flow(Box<FlowRecord>),
    /// a record that is not a flow to judge, and why (replies, node status)
    Skipped(&'static str),
    /// the layer says it lost this many records here: a gap in the evidence
    Lost(u64),
}

/// A flow log format: one JSON record per line
pub trait FlowFormat: Sync {
    /// The name users pass to `--format`
    fn id(&self) -> &'static str;

    /// Whether a line looks like this format (for `--format` left out)
    fn recognizes(&self, line: &str) -> bool;

    /// Read one line; an error says what is wrong with it
    fn read(&self, line: &str) -> Result<Line, String>;
}

/// A line that could not be read
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// `file:line:column`
    pub at: String,
    /// what is wrong
    pub message: String,
}

/// What reading a stream found besides the flows
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// the format that read it
    pub format: String,
    /// lines read (empty ones included)
    pub lines: u64,
    /// flows handed on
    pub flows: u64,
    /// lines that could not be read
    pub malformed: u64,
    /// the first of them, with their positions
    pub malformed_examples: Vec<Malformed>,
    /// records that are not flows, by reason
    pub skipped: BTreeMap<&'static str, u64>,
    /// records the layer reported lost
    pub lost: u64,
}

/// How many malformed lines are kept with their position
const MALFORMED_EXAMPLES: usize = 5;

/// Why a stream could not be read at all
#[derive(Debug)]
pub enum StreamError {
    /// the file could not be opened or read
    Io(String),
    /// no known format recognises its lines
    UnknownFormat(String),
}

/// A reader that reports how far it got
struct Counting<'p, R> {
    inner: R,
    read: u64,
    reported: u64,
    progress: &'p dyn Fn(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.reported >= 256 * 1024 || n == 0 {
            self.reported = self.read;
            (self.progress)(self.read);
        }
        Ok(n)
    }
}

/// Read `path` (`-` is stdin; gzip is recognised by its magic bytes) line by
/// line with `format`, or with the first format that recognises a line, and
/// hand each flow to `sink`
pub fn read(
    path: &Path,
    format: Option<&dyn FlowFormat>,
    formats: &[&dyn FlowFormat],
    sink: impl FnMut(FlowRecord),
) -> Result<ReadStats, StreamError> {
    read_with_progress(path, format, formats, sink, &|_| {})
}

/// [`read`], telling `progress` how many bytes of the file (compressed, for
/// gzip) have been read so far, every few hundred kilobytes
pub fn read_with_progress(
    path: &Path,
    format: Option<&dyn FlowFormat>,
    formats: &[&dyn FlowFormat],
    mut sink: impl FnMut(FlowRecord),
    progress: &dyn Fn(u64),
) -> Result<ReadStats, StreamError> {
    let name = path.display().to_string();
    let input: Box<dyn Read> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| StreamError::Io(format!("cannot read `{name}`: {e}")))?)
    };
    let input = Counting {
        inner: input,
        read: 0,
        reported: 0,
        progress,
    };
    let mut buffered = BufReader::with_capacity(1 << 16, input);
    let gzip = buffered
        .fill_buf()
        .map_err(|e| StreamError::Io(format!("cannot read `{name}`: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    let mut lines: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    let mut stats = ReadStats::default();
    let mut chosen = format;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match lines.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                // A truncated gzip member or a broken pipe: keep what was read.
                let line = stats.lines + 1;
                stats.reject(&name, line, 1, format!("the stream ends early: {e}"));
                break;
            }
        }
        stats.lines += 1;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            let line = stats.lines;
            stats.reject(&name, line, 1, "the line is not UTF-8".into());
            continue;
        };
        let indent = text.len() - text.trim_start().len();
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let reader = match chosen {
            Some(f) => f,
            None => match formats.iter().find(|f| f.recognizes(text)) {
                Some(f) => {
                    chosen = Some(*f);
                    *f
                }
                None => {
                    let known: Vec<&str> = formats.iter().map(|f| f.id()).collect();
                    let line = stats.lines;
                    stats.reject(
                        &name,
                        line,
                        1,
                        format!("not a record of any known flow format ({})", known.join(", ")),
                    );
                    continue;
                }
            },
        };
        match reader.read(text) {
            Ok(Line::Flow(flow)) => {
                stats.flows += 1;
                sink(*flow);
            }
            Ok(Line::Skipped(why)) => *stats.skipped.entry(why).or_default() += 1,
            Ok(Line::Lost(n)) => stats.lost += n,
            Err(message) => {
                let line = stats.lines;
                let column = column_of(&message) + indent as u64;
                stats.reject(&name, line, column, message);
            }
        }
    }
    match chosen {
        Some(f) => stats.format = f.id().to_string(),
        None if stats.flows == 0 && stats.malformed > 0 => {
            let known: Vec<&str> = formats.iter().map(|f| f.id()).collect();
            return Err(StreamError::UnknownFormat(format!(
                "`{name}` holds no record of a known flow format ({}); {} line{} could not be read",
                known.join(", "),
                stats.malformed,
                if stats.malformed == 1 { "" } else { "s" }
            )));
        }
        None => {}
    }
    Ok(stats)
}

impl ReadStats {
    /// Count a line that could not be read; keep the first few with their place
    fn reject(&mut self, file: &str, line: u64, column: u64, message: String) {
        self.malformed += 1;
        if self.malformed_examples.len() < MALFORMED_EXAMPLES {
            self.malformed_examples.push(Malformed {
                at: format!("{file}:{line}:{column}"),
                message,
            });
        }
    }
}

/// serde_json says `... at line 1 column 17`: the column of the fault
fn column_of(message: &str) -> u64 {
    message
        .rsplit_once(" column ")
        .and_then(|(_, c)| c.trim().parse().ok())
        .unwrap_or(1)
}

/// Milliseconds since the epoch of an RFC 3339 time
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// RFC 3339 (UTC, seconds) of milliseconds since the epoch
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// `k=v` labels (Calico joins them with ` | `; Hubble prefixes a source)
pub fn parse_label(text: &str) -> Option<(String, String)> {
    let (k, v) = text.split_once('=').unwrap_or((text, ""));
    let k = k.trim();
    (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
}

/// Every flow format palisade reads, from the dialects that have one
pub fn formats() -> Vec<&'static dyn FlowFormat> {
    crate::DIALECTS.iter().filter_map(|d| d.flows()).collect()
}

/// The format of that name
pub fn format(id: &str) -> Option<&'static dyn FlowFormat> {
    formats().into_iter().find(|f| f.id() == id)
}
