//! Lines are cut from the stream in batches on the calling thread, read
//! (JSON parsed) by worker threads, and handed on in the order of the
//! stream: parsing is most of the cost of reading a flow log, and the
//! records' order, line numbers and format choice are the same as one
//! thread reading line after line, so whatever is built from them is too.

use super::{append_line_capped, column_of, Capped, FlowFormat, Line, MAX_LINE_BYTES};
use std::{collections::VecDeque, io::BufRead, ops::Range, sync::mpsc};

/// Lines in a batch, at most: enough that handing a batch to a thread costs
/// little beside parsing it, few enough that the batches in flight stay
/// small (a Hubble record is about a kilobyte)
const BATCH_LINES: usize = 512;

/// Bytes of text in a batch before it is closed (one long line may pass it)
const BATCH_BYTES: usize = 512 << 10;

/// Batches queued per worker: one being read, one waiting
const QUEUED_PER_WORKER: usize = 2;

/// One line as the stream gave it, before any reader saw it
pub(super) enum Cut {
    /// its bytes in the batch's text (the `\n` included, if read)
    Text(Range<usize>),
    /// a line over the limit, skipped: its length
    TooLong(u64),
    /// the stream broke here (truncated gzip, broken pipe): the last cut
    Broken(String),
}

/// Lines cut from a stream, with their bytes
#[derive(Default)]
pub(super) struct Batch {
    text: Vec<u8>,
    pub(super) cuts: Vec<Cut>,
    /// whether lines are fingerprinted ([`Read::Print`]) where the reader
    /// can, rather than read whole
    pub(super) fingerprinted: bool,
    /// the fingerprints' bytes
    keys: Vec<u8>,
}

/// What reading one line made of it
pub(super) enum Read<'f> {
    /// a line of blanks, or a cut that is not text (said by the cut)
    Nothing,
    /// what the reader made of it
    Line(Line),
    /// its fingerprint ([`FlowFormat::fingerprint`]): bytes of the batch's
    /// keys, and the record's time
    Print {
        /// where in [`Batch::key`]
        key: Range<usize>,
        /// the record's time
        time_ms: Option<i64>,
        /// the reader that made it, to read the line whole the first time
        reader: &'f dyn FlowFormat,
    },
    /// it could not be read: at which column, and why
    Bad {
        /// column of the fault, 1 when the whole line is at fault
        column: u64,
        /// what is wrong
        message: String,
    },
}

impl Batch {
    /// Cut the next lines of `input` into this batch (emptied first);
    /// false when the stream has nothing more after them
    pub(super) fn fill(&mut self, input: &mut dyn BufRead) -> bool {
        self.text.clear();
        self.cuts.clear();
        self.keys.clear();
        while self.cuts.len() < BATCH_LINES && self.text.len() < BATCH_BYTES {
            let start = self.text.len();
            match append_line_capped(input, &mut self.text, MAX_LINE_BYTES) {
                Ok(Capped::End) => return false,
                Ok(Capped::Line) => self.cuts.push(Cut::Text(start..self.text.len())),
                Ok(Capped::TooLong { length, .. }) => self.cuts.push(Cut::TooLong(length)),
                Err(e) => {
                    self.cuts.push(Cut::Broken(e.to_string()));
                    return false;
                }
            }
        }
        true
    }

    /// Read every line with `chosen`, or, while none is chosen, with the
    /// first of `formats` that recognises a line (which is then chosen)
    pub(super) fn read<'f>(
        &mut self,
        chosen: &mut Option<&'f dyn FlowFormat>,
        formats: &[&'f dyn FlowFormat],
    ) -> Vec<Read<'f>> {
        let mut keys = std::mem::take(&mut self.keys);
        let keyed = self.fingerprinted.then_some(&mut keys);
        let reads = self.read_into(chosen, formats, keyed);
        self.keys = keys;
        reads
    }

    fn read_into<'f>(
        &self,
        chosen: &mut Option<&'f dyn FlowFormat>,
        formats: &[&'f dyn FlowFormat],
        mut keys: Option<&mut Vec<u8>>,
    ) -> Vec<Read<'f>> {
        self.cuts
            .iter()
            .map(|cut| match cut {
                Cut::Text(range) => read_line(self.line(range), chosen, formats, keys.as_deref_mut()),
                Cut::TooLong(_) | Cut::Broken(_) => Read::Nothing,
            })
            .collect()
    }

    /// The bytes of a cut line
    pub(super) fn line(&self, range: &Range<usize>) -> &[u8] {
        self.text.get(range.clone()).unwrap_or_default()
    }

    /// The bytes of a fingerprint
    pub(super) fn key(&self, range: &Range<usize>) -> &[u8] {
        self.keys.get(range.clone()).unwrap_or_default()
    }
}

/// Read a line whole with `reader`, as [`Batch::read`] reads it when it
/// cannot fingerprint it
pub(super) fn read_whole<'f>(bytes: &[u8], reader: &'f dyn FlowFormat) -> Read<'f> {
    read_line(bytes, &mut Some(reader), &[], None)
}

fn read_line<'f>(
    bytes: &[u8],
    chosen: &mut Option<&'f dyn FlowFormat>,
    formats: &[&'f dyn FlowFormat],
    keys: Option<&mut Vec<u8>>,
) -> Read<'f> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Read::Bad {
            column: 1,
            message: "the line is not UTF-8".into(),
        };
    };
    let indent = text.len() - text.trim_start().len();
    let text = text.trim();
    if text.is_empty() {
        return Read::Nothing;
    }
    let reader = match *chosen {
        Some(f) => f,
        None => match formats.iter().find(|f| f.recognizes(text)) {
            Some(f) => *chosen.insert(*f),
            None => {
                let known: Vec<&str> = formats.iter().map(|f| f.id()).collect();
                return Read::Bad {
                    column: 1,
                    message: format!("not a record of any known flow format ({})", known.join(", ")),
                };
            }
        },
    };
    if let Some(keys) = keys {
        let start = keys.len();
        match reader.fingerprint(text, keys) {
            Some(time_ms) => {
                return Read::Print {
                    key: start..keys.len(),
                    time_ms,
                    reader,
                }
            }
            None => keys.truncate(start),
        }
    }
    match reader.read(text) {
        Ok(line) => Read::Line(line),
        Err(message) => Read::Bad {
            column: column_of(&message) + indent as u64,
            message,
        },
    }
}

/// Threads that parse besides the calling one: none on one core (a thread
/// there only takes turns with the caller), else one per core, the caller's
/// work (aggregating, storing) sharing the cores with them
fn workers() -> usize {
    match std::thread::available_parallelism().map_or(1, |n| n.get()) {
        0 | 1 => 0,
        n => n,
    }
}

/// A parsing thread's two ends
struct Worker<'f> {
    jobs: mpsc::SyncSender<(Batch, &'f dyn FlowFormat)>,
    done: mpsc::Receiver<(Batch, Vec<Read<'f>>)>,
}

/// A batch on its way: read already, or with a worker
enum Pending<'f> {
    Read(Batch, Vec<Read<'f>>),
    With(usize),
}

/// Cut `input` into batches and hand each, read, to `take` in the stream's
/// order; `chosen` as in [`Batch::read`]. Until a format is chosen the
/// calling thread reads (the choice depends on the lines before); then the
/// workers do, in turn, and their batches are taken back in the same turn.
/// `take` returns false to stop.
pub(super) fn read_batches<'f>(
    input: &mut dyn BufRead,
    fingerprinted: bool,
    chosen: &mut Option<&'f dyn FlowFormat>,
    formats: &[&'f dyn FlowFormat],
    mut take: impl FnMut(&Batch, Vec<Read<'f>>) -> bool,
) -> Result<(), String> {
    std::thread::scope(|scope| {
        let workers: Vec<Worker<'f>> = (0..workers()).map(|_| spawn(scope)).collect();
        let depth = (workers.len() * QUEUED_PER_WORKER).max(1);
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut spare: Vec<Batch> = Vec::new();
        let (mut more, mut turn) = (true, 0);
        loop {
            while more && pending.len() < depth {
                let mut batch = spare.pop().unwrap_or_default();
                batch.fingerprinted = fingerprinted;
                more = batch.fill(input);
                if batch.cuts.is_empty() {
                    break;
                }
                match (*chosen, workers.get(turn % workers.len().max(1))) {
                    (Some(reader), Some(worker)) => {
                        worker
                            .jobs
                            .send((batch, reader))
                            .map_err(|_| "a flow reading thread stopped".to_string())?;
                        pending.push_back(Pending::With(turn % workers.len()));
                        turn += 1;
                    }
                    _ => {
                        let reads = batch.read(chosen, formats);
                        pending.push_back(Pending::Read(batch, reads));
                    }
                }
            }
            let Some(next) = pending.pop_front() else {
                return Ok(());
            };
            let (batch, reads) = match next {
                Pending::Read(batch, reads) => (batch, reads),
                Pending::With(index) => workers
                    .get(index)
                    .and_then(|w| w.done.recv().ok())
                    .ok_or_else(|| "a flow reading thread stopped".to_string())?,
            };
            if !take(&batch, reads) {
                return Ok(());
            }
            spare.push(batch);
        }
    })
}

fn spawn<'s, 'f: 's>(scope: &'s std::thread::Scope<'s, '_>) -> Worker<'f> {
    let (jobs, queue) = mpsc::sync_channel::<(Batch, &'f dyn FlowFormat)>(QUEUED_PER_WORKER);
    let (finished, done) = mpsc::sync_channel(QUEUED_PER_WORKER);
    scope.spawn(move || {
        for (mut batch, reader) in queue {
            let reads = batch.read(&mut Some(reader), &[]);
            if finished.send((batch, reads)).is_err() {
                break;
            }
        }
    });
    Worker { jobs, done }
}

/// Where the next `\n` is: eight bytes at a time, since a flow log's lines
/// are a kilobyte long and this runs over every byte of the file
pub(super) fn find_newline(bytes: &[u8]) -> Option<usize> {
    find_byte(bytes, b'\n')
}

/// Where the first `byte` is, eight bytes at a time
pub(super) fn find_byte(bytes: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let wanted: u64 = ONES * u64::from(byte);
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight) ^ wanted;
        // A zero byte of x is a `byte` of the word.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            break;
        }
        offset += 8;
    }
    bytes.get(offset..)?.iter().position(|b| *b == byte).map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::{find_byte, find_newline};

    #[test]
    fn the_first_newline_is_found_wherever_it_is() {
        for length in 0..40 {
            for at in 0..length {
                let mut bytes = vec![b'x'; length];
                bytes[at] = b'\n';
                if at + 3 < length {
                    bytes[at + 3] = b'\n';
                }
                assert_eq!(find_newline(&bytes), Some(at), "{length} {at}");
            }
            assert_eq!(find_newline(&vec![0x8a; length]), None);
            assert_eq!(find_byte(&vec![b'='; length], b'='), (length > 0).then_some(0));
        }
    }
}
