//! Observed traffic in one neutral record, whatever layer reported it.
//!
//! Each dialect that has a flow log owns a reader (`FlowFormat`) in its folder
//! (Hubble in cilium/, Goldmane/Whisker in calico/, Envoy access logs in
//! istio/). This module streams a file, stdin or a gzip file line by line
//! through one of them. A line that cannot be read is counted and its first
//! occurrences are kept with their position: never fatal, never dropped
//! without a trace. A line longer than [`MAX_LINE_BYTES`] is one of them, and
//! is never held in memory: a gzip file of a few kilobytes can inflate to a
//! line of gigabytes.

mod batch;
mod repeat;

pub use repeat::Repeat;

use palisade_compiler::model::Request;
use palisade_intents::{syntax::Protocol, types::Labels};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read},
    net::IpAddr,
    path::Path,
};

/// What kind of thing an end of a flow is
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
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

/// Every record's conversation key is hashed (twice, with the store's map),
/// so the hash leaves out what follows from the rest: the namespace's labels
/// (from the namespace) and the service account (from the workload). Equal
/// endpoints still hash equal; endpoints that differ only there share a hash
/// and are told apart by equality.
impl std::hash::Hash for FlowEndpoint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.namespace.hash(state);
        self.pod.hash(state);
        self.service.hash(state);
        self.labels.hash(state);
        self.ip.hash(state);
        self.names.hash(state);
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
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
    /// The name users pass to `--flow-format`
    fn id(&self) -> &'static str;

    /// Whether a line looks like this format (for `--flow-format` left out)
    fn recognizes(&self, line: &str) -> bool;

    /// Read one line; an error says what is wrong with it
    fn read(&self, line: &str) -> Result<Line, String>;

    /// For a reader whose records repeat (a conversation's records differ
    /// mostly in their time): append to `key` the bytes that decide what
    /// [`FlowFormat::read`] makes of the line, all but its time, and give
    /// that time. Two lines with equal keys must read as the same [`Line`]
    /// but for [`FlowRecord::time_ms`], which is the time given here.
    /// `None` (the default) where the line is read whole each time.
    fn fingerprint(&self, line: &str, key: &mut Vec<u8>) -> Option<Option<i64>> {
        let _ = (line, key);
        None
    }
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
    let (name, mut lines) = open(path, progress)?;
    let mut stats = ReadStats::default();
    let mut chosen = format;
    let read = batch::read_batches(&mut *lines, false, &mut chosen, formats, |batch, reads| {
        stats.take(&name, batch, reads, &mut sink)
    });
    finish(&name, read, chosen, formats, stats)
}

/// [`read_with_progress`] for a sink that works once per distinct record
/// (the store's ingest): a record that repeats an earlier one but for its
/// time is handed on as that one ([`Repeat`]), not built again
pub fn read_repeating(
    path: &Path,
    format: Option<&dyn FlowFormat>,
    formats: &[&dyn FlowFormat],
    mut sink: impl FnMut(Repeat),
    progress: &dyn Fn(u64),
) -> Result<ReadStats, StreamError> {
    let (name, mut lines) = open(path, progress)?;
    let mut stats = ReadStats::default();
    let mut chosen = format;
    let mut memo = repeat::Memo::default();
    let read = batch::read_batches(&mut *lines, true, &mut chosen, formats, |batch, reads| {
        stats.take_repeating(&name, batch, reads, &mut memo, &mut sink)
    });
    finish(&name, read, chosen, formats, stats)
}

/// The lines of `path` (`-` is stdin), gunzipped when they are gzip
fn open<'p>(path: &Path, progress: &'p dyn Fn(u64)) -> Result<(String, Box<dyn BufRead + 'p>), StreamError> {
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
    let lines: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(buffered),
        ))
    } else {
        Box::new(buffered)
    };
    Ok((name, lines))
}

/// The stream's statistics once read, or why it could not be
fn finish(
    name: &str,
    read: Result<(), String>,
    chosen: Option<&dyn FlowFormat>,
    formats: &[&dyn FlowFormat],
    mut stats: ReadStats,
) -> Result<ReadStats, StreamError> {
    if let Err(why) = read {
        return Err(StreamError::Io(format!("cannot read `{name}`: {why}")));
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

/// The longest line a flow reader takes (1 MiB). A flow record is a few
/// kilobytes (Hubble's largest, with L7 headers, stay under 64 KiB); a
/// longer line is not one, and reading it whole would let one line take all
/// the memory there is.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What [`read_line_capped`] found
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capped {
    /// nothing more to read
    End,
    /// a line (with its `\n`, unless the input ended first) is in the buffer
    Line,
    /// a line of this many bytes was skipped, and the buffer is empty;
    /// `ended` when its `\n` was read (a follower of a growing file keeps
    /// an unended one for the next poll)
    TooLong {
        /// bytes skipped
        length: u64,
        /// whether the line's `\n` was read
        ended: bool,
    },
}

/// Read one line into `buf` (cleared first), keeping at most `limit` bytes:
/// past that the rest of the line is skipped as it streams by, never held.
/// Every line reader of flow logs goes through this.
pub fn read_line_capped(input: &mut dyn BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<Capped> {
    buf.clear();
    append_line_capped(input, buf, limit)
}

/// [`read_line_capped`] after what `buf` holds already (a batch of lines):
/// the limit is the line's own, and a line over it leaves `buf` as it was
fn append_line_capped(input: &mut dyn BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<Capped> {
    let start = buf.len();
    let mut length: u64 = 0;
    let mut too_long = false;
    let mut ended = false;
    loop {
        let (used, done) = {
            let available = match input.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let (chunk, done) = match batch::find_newline(available) {
                Some(end) => (&available[..=end], true),
                None => (available, false),
            };
            if !too_long && buf.len() - start + chunk.len() > limit {
                too_long = true;
                buf.truncate(start);
                buf.shrink_to(start + limit.min(1 << 16));
            }
            if !too_long {
                buf.extend_from_slice(chunk);
            }
            (chunk.len(), done)
        };
        input.consume(used);
        length += used as u64;
        if done {
            ended = true;
            break;
        }
    }
    Ok(match (length, too_long) {
        (0, _) => Capped::End,
        (_, true) => Capped::TooLong { length, ended },
        (_, false) => Capped::Line,
    })
}

impl ReadStats {
    /// Count the lines of a batch and hand its flows to `sink`, the
    /// unreadable ones kept at `file:line:column`; false once the stream
    /// broke
    fn take(
        &mut self,
        file: &str,
        batch: &batch::Batch,
        reads: Vec<batch::Read<'_>>,
        sink: &mut impl FnMut(FlowRecord),
    ) -> bool {
        self.take_with(file, batch, reads, |stats, _, read| {
            stats.tally(file, read, &mut |record| sink(*record))
        })
    }

    /// [`Self::take`] of a fingerprinted batch: each flow goes to `sink` as
    /// the `memo` knows it
    fn take_repeating(
        &mut self,
        file: &str,
        batch: &batch::Batch,
        reads: Vec<batch::Read<'_>>,
        memo: &mut repeat::Memo,
        sink: &mut impl FnMut(Repeat),
    ) -> bool {
        self.take_with(file, batch, reads, |stats, line, read| {
            let read = match read {
                batch::Read::Print { key, time_ms, reader } => {
                    match memo.recall(batch.key(&key), time_ms, || batch::read_whole(batch.line(line), reader)) {
                        repeat::Recalled::Flow(repeat) => {
                            stats.flows += 1;
                            sink(repeat);
                            return;
                        }
                        repeat::Recalled::Skipped(why) => {
                            *stats.skipped.entry(why).or_default() += 1;
                            return;
                        }
                        repeat::Recalled::Not(read) => read,
                    }
                }
                read => read,
            };
            stats.tally(file, read, &mut |record| sink(Repeat::New { record, index: None }));
        })
    }

    /// Count the lines of a batch, handing each text line's read to `line`
    fn take_with<'f>(
        &mut self,
        file: &str,
        batch: &batch::Batch,
        reads: Vec<batch::Read<'f>>,
        mut line: impl FnMut(&mut Self, &std::ops::Range<usize>, batch::Read<'f>),
    ) -> bool {
        for (cut, read) in batch.cuts.iter().zip(reads) {
            match cut {
                batch::Cut::Broken(e) => {
                    // A truncated gzip member or a broken pipe: keep what was read.
                    let line = self.lines + 1;
                    self.reject(file, line, 1, format!("the stream ends early: {e}"));
                    return false;
                }
                batch::Cut::TooLong(length) => {
                    self.lines += 1;
                    let line = self.lines;
                    self.reject(
                        file,
                        line,
                        1,
                        format!("the line is {length} bytes long, over the {MAX_LINE_BYTES}-byte limit of a flow record: not read"),
                    );
                }
                batch::Cut::Text(range) => {
                    self.lines += 1;
                    line(self, range, read);
                }
            }
        }
        true
    }

    fn tally(&mut self, file: &str, read: batch::Read<'_>, sink: &mut impl FnMut(Box<FlowRecord>)) {
        match read {
            batch::Read::Nothing => {}
            batch::Read::Line(Line::Flow(flow)) => {
                self.flows += 1;
                sink(flow);
            }
            batch::Read::Line(Line::Skipped(why)) => *self.skipped.entry(why).or_default() += 1,
            batch::Read::Line(Line::Lost(n)) => self.lost += n,
            batch::Read::Bad { column, message } => {
                let line = self.lines;
                self.reject(file, line, column, message);
            }
            // Only a repeating read fingerprints lines, and it recalls them.
            batch::Read::Print { .. } => {}
        }
    }

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
    utc_time_ms(text.as_bytes()).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}

/// The time of nearly every flow record, `2026-11-20T10:00:00.123456789Z`,
/// read without chrono's general parser (a tenth of reading a record);
/// `None` for any other form (offsets, leap seconds), which chrono reads
fn utc_time_ms(text: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1, rest @ ..] = text
    else {
        return None;
    };
    let number = |digits: &[u8]| {
        digits
            .iter()
            .try_fold(0i64, |n, d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (
        number(&[*y0, *y1, *y2, *y3])?,
        number(&[*mo0, *mo1])?,
        number(&[*d0, *d1])?,
    );
    let (hour, minute, second) = (number(&[*h0, *h1])?, number(&[*mi0, *mi1])?, number(&[*s0, *s1])?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1000 || !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let millis = match rest {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) => {
            let mut three = [b'0'; 3];
            for (to, from) in three.iter_mut().zip(fraction) {
                *to = *from;
            }
            number(&three)?
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1000 + millis)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (H. Hinnant's `days_from_civil`): years start in March, so that the leap
/// day ends them
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// RFC 3339 (UTC, seconds) of milliseconds since the epoch
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// `k=v` labels (Calico joins them with ` | `; Hubble prefixes a source)
pub fn parse_label(text: &str) -> Option<(String, String)> {
    split_label(text).map(|(k, v)| (k.to_string(), v.to_string()))
}

/// [`parse_label`] borrowing, for a reader that keeps only some labels
pub fn split_label(text: &str) -> Option<(&str, &str)> {
    let (k, v) = split_at_byte(text, b'=').unwrap_or((text, ""));
    let k = trim(k);
    (!k.is_empty()).then(|| (k, trim(v)))
}

/// `text` before and after the first `byte` (ASCII): labels are short, and
/// a word-at-a-time scan beats `split_once`'s searcher, which readers call
/// a dozen times a record
pub fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = batch::find_byte(text.as_bytes(), byte)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// [`str::trim`], returning at once when neither end is blank (nearly
/// always, for a label)
fn trim(text: &str) -> &str {
    let solid = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    if solid(text.as_bytes().first()) && solid(text.as_bytes().last()) {
        text
    } else {
        text.trim()
    }
}

/// A strict JSON scanner for a reader's fast path: it reads the usual shape
/// of a record without serde's machinery, borrowing every string from the
/// line. Each step returns `None` wherever serde_json could read the text
/// otherwise or not at all (an escape, a control character, an exponent, a
/// nesting too deep, bad syntax): the reader then reads the line again with
/// serde_json, whose result, and error with its column, stands.
pub(crate) struct Scan<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
}

/// Deeper than any flow record, and under serde_json's own limit (128)
const SCAN_DEPTH: u32 = 64;

/// Digits a skipped number may have before its point: fewer than any that
/// serde_json could find out of range
const SCAN_DIGITS: usize = 18;

impl<'a> Scan<'a> {
    /// A scan from the start of `text`
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, at: 0, depth: 0 }
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next byte after blanks, not taken
    pub(crate) fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.byte() {
            self.at += 1;
        }
        self.byte()
    }

    fn eat(&mut self, wanted: u8) -> Option<()> {
        (self.peek()? == wanted).then(|| self.at += 1)
    }

    /// Whether nothing but blanks is left
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string without escapes, borrowed
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        let length = string_end(rest)?;
        // INVARIANT: the bytes before a `"` that ends the string are its text.
        (rest.get(length) == Some(&b'"')).then_some(())?;
        self.at = start + length + 1;
        self.text.get(start..start + length)
    }

    /// `true` or `false`
    pub(crate) fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.word("true").map(|()| true),
            b'f' => self.word("false").map(|()| false),
            _ => None,
        }
    }

    /// A whole number without sign, point or exponent
    pub(crate) fn unsigned(&mut self) -> Option<u64> {
        self.peek()?;
        let digits = self.integer_digits()?;
        if matches!(self.byte(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        digits
            .bytes()
            .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
    }

    /// `{"key": value, ...}`, `field` taking each value after its key
    pub(crate) fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.delimited(b'{', b'}', |scan| {
            let key = scan.string()?;
            scan.eat(b':')?;
            field(scan, key)
        })
    }

    /// `[item, ...]`
    pub(crate) fn array(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.delimited(b'[', b']', item)
    }

    /// `open item, ... close`, one level deeper
    fn delimited(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        self.nest()?;
        if self.peek()? == close {
            self.at += 1;
        } else {
            loop {
                item(self)?;
                if self.close(close)? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Any value, read only to pass it
    pub(crate) fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|scan, _| scan.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn nest(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= SCAN_DEPTH).then_some(())
    }

    /// After an item: true at `end`, false at a `,` (another item follows)
    fn close(&mut self, end: u8) -> Option<bool> {
        let next = self.peek()?;
        self.at += 1;
        match next {
            b',' => Some(false),
            b if b == end => Some(true),
            _ => None,
        }
    }

    fn word(&mut self, word: &str) -> Option<()> {
        let rest = self.text.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// `0` or a digit other than 0 and more digits, as serde_json reads them
    fn integer_digits(&mut self) -> Option<&'a str> {
        let rest = self.text.get(self.at..)?;
        let length = rest.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(rest.len());
        let digits = rest.get(..length)?;
        let well_formed = match digits.as_bytes() {
            [] => false,
            [b'0', _, ..] => false,
            _ => length <= SCAN_DIGITS,
        };
        self.at += length;
        well_formed.then_some(digits)
    }

    /// A number that serde_json reads without fault
    fn number(&mut self) -> Option<()> {
        if self.byte() == Some(b'-') {
            self.at += 1;
        }
        self.integer_digits()?;
        if self.byte() == Some(b'.') {
            self.at += 1;
            let rest = self.text.get(self.at..)?;
            let length = rest.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(rest.len());
            if length == 0 {
                return None;
            }
            self.at += length;
        }
        (!matches!(self.byte(), Some(b'e' | b'E'))).then_some(())
    }
}

/// Where the first `"`, `\` or control character is: eight bytes at a
/// time, since most of a flow record's bytes are in its strings
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte below `n`; the lowest such bit is exact
    // (a borrow only runs upwards), and the lowest is all that is used.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        let found = below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1) | below(x, 0x20);
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let tail = words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(offset + tail)
}

/// Every flow format palisade reads, from the dialects that have one
pub fn formats() -> Vec<&'static dyn FlowFormat> {
    crate::DIALECTS.iter().filter_map(|d| d.flows()).collect()
}

/// The format of that name
pub fn format(id: &str) -> Option<&'static dyn FlowFormat> {
    formats().into_iter().find(|f| f.id() == id)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests fail by panicking"
    )]

    use super::*;
    use std::io::Write as _;

    const FLOW: &str = r#"{"flow":{"time":"2026-01-01T00:00:00Z","verdict":"FORWARDED","IP":{"source":"10.0.0.1","destination":"10.0.0.2","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":40000,"destination_port":8080,"flags":{"SYN":true}}},"source":{"namespace":"shop","labels":["k8s:app=web"],"pod_name":"web-1"},"destination":{"namespace":"shop","labels":["k8s:app=api"],"pod_name":"api-1"},"Type":"L3_L4","traffic_direction":"EGRESS","is_reply":false},"time":"2026-01-01T00:00:00Z"}"#;

    /// A line of `n` bytes of `a` that is produced as it is read, never held
    fn huge_line(n: u64) -> impl std::io::Read {
        std::io::repeat(b'a').take(n).chain(&b"\n"[..])
    }

    /// Every UTC time of the usual form reads as chrono reads it, and every
    /// other form is chrono's to read
    #[test]
    fn times_read_as_chrono_reads_them() {
        let chrono_ms = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let mut ms: i64 = -30_000_000_000_000;
        while ms < 250_000_000_000_000 {
            let second = format_time(ms.div_euclid(1000) * 1000);
            let stem = second.trim_end_matches('Z');
            for text in [
                second.clone(),
                format!("{stem}.{:03}Z", ms.rem_euclid(1000)),
                format!("{stem}.{:09}Z", ms.rem_euclid(1000) * 1_000_123),
                format!("{stem}.5Z"),
                format!("{stem}.1234567891234Z"),
            ] {
                assert_eq!(utc_time_ms(text.as_bytes()), chrono_ms(&text), "{text}");
            }
            ms += 7_777_777_777;
        }
        for text in [
            "2024-02-29T23:59:59Z",
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-12-31T23:59:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+01:00",
            "2026-01-01t00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-1-01T00:00:00Z",
            "+026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.1x2Z",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_time(text), chrono_ms(text), "{text}");
            if let Some(ms) = utc_time_ms(text.as_bytes()) {
                assert_eq!(Some(ms), chrono_ms(text), "{text}");
            }
        }
    }

    #[test]
    fn a_line_over_the_limit_is_skipped_without_being_held() {
        let input = huge_line(64 << 20).chain(FLOW.as_bytes()).chain(&b"\n"[..]);
        let mut input = std::io::BufReader::new(input);
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES).unwrap(),
            Capped::TooLong {
                length: (64 << 20) + 1,
                ended: true
            }
        );
        // what an unbounded read_until would have grown to 64 MiB
        assert!(buf.capacity() <= 2 * MAX_LINE_BYTES, "{}", buf.capacity());
        assert_eq!(
            read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES).unwrap(),
            Capped::Line
        );
        assert_eq!(buf, format!("{FLOW}\n").as_bytes());
        assert_eq!(
            read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES).unwrap(),
            Capped::End
        );
    }

    #[test]
    fn a_line_at_the_limit_is_read_and_a_last_line_without_newline_too() {
        let text = format!("{}\nlast", "b".repeat(MAX_LINE_BYTES - 1));
        let mut input = std::io::BufReader::new(text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES).unwrap(),
            Capped::Line
        );
        assert_eq!(buf.len(), MAX_LINE_BYTES);
        assert_eq!(
            read_line_capped(&mut input, &mut buf, MAX_LINE_BYTES).unwrap(),
            Capped::Line
        );
        assert_eq!(buf, b"last");
    }

    fn read_file(bytes: &[u8]) -> (Vec<FlowRecord>, ReadStats, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.log");
        std::fs::write(&path, bytes).unwrap();
        let mut flows = Vec::new();
        let stats = read(&path, None, &formats(), |f| flows.push(f)).unwrap();
        (flows, stats, path.display().to_string())
    }

    /// The issue's reproduction: a small gzip file whose one line inflates
    /// to hundreds of megabytes is read in bounded memory, the line counted
    /// as unreadable at file:line, and the flows after it still read
    #[test]
    fn an_enormous_line_in_a_gzip_log_is_counted_at_its_place_and_reading_goes_on() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        writeln!(gz, "{FLOW}").unwrap();
        std::io::copy(&mut huge_line(256 << 20), &mut gz).unwrap();
        writeln!(gz, "{FLOW}").unwrap();
        let compressed = gz.finish().unwrap();
        assert!(compressed.len() < 2 << 20, "{}", compressed.len());
        let (flows, stats, path) = read_file(&compressed);
        assert_eq!(flows.len(), 2);
        assert_eq!(stats.lines, 3);
        assert_eq!(stats.malformed, 1);
        let example = &stats.malformed_examples[0];
        assert_eq!(example.at, format!("{path}:2:1"));
        assert!(
            example.message.contains("over the 1048576-byte limit"),
            "{}",
            example.message
        );
    }

    #[test]
    fn an_enormous_line_in_a_plain_log_is_counted_too() {
        let mut text = Vec::new();
        std::io::repeat(b'{').take(3 << 20).read_to_end(&mut text).unwrap();
        text.extend_from_slice(format!("\n{FLOW}\n").as_bytes());
        let (flows, stats, path) = read_file(&text);
        assert_eq!((flows.len(), stats.malformed), (1, 1));
        assert_eq!(stats.malformed_examples[0].at, format!("{path}:1:1"));
    }
}
