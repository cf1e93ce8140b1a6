//! Evidence followed into a flow store: a growing flow log ([`Tail`]) or
//! Hubble Relay's stream, aggregated by palisade-store and checkpointed every
//! few seconds with the position to resume from, so that a restart (of
//! `palisade evidence follow`, or of the controller, or a new leader)
//! continues the same window without a hole and without counting twice.
//!
//! - a file's position is its offset and identity: a file rotated while
//!   nobody followed it starts at 0, and the unread rest of the old one is
//!   counted as lost (a gap)
//! - the relay's position is the last record's time: the next follower asks
//!   for flows since then and skips the ones up to it
//! - lost events, unreadable lines and outages are kept with the stream's
//!   read statistics, recorded at the first checkpoint with a timed record,
//!   so that the window they fall in sees them as a gap; the counts of
//!   checkpoints without either wait for the next record or the last
//!   checkpoint (a week of checkpoints is not a week of stream records)
//!
//! The store's client is synchronous (and PostgreSQL's must not run on a
//! runtime thread): every store call here runs on a thread of its own; the
//! relay's records reach it over a channel.

use crate::{
    relay::{self, RelayError, RelayOptions},
    tail::{Intake, Position, Tail},
};
use palisade_evidence::Evidence;
use palisade_store::{Ingest, Store, StoreError};
use palisade_targets::flows::{FlowRecord, ReadStats};
use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

/// How often a follower looks at its source while it waits: a file is
/// polled, and a stop is noticed, within this
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// When a follower writes, and when it stops
#[derive(Debug, Clone)]
pub struct Checkpoints {
    /// how often what was taken is written, with the position to resume from
    pub every: Duration,
    /// set to stop: a last checkpoint, then the follower returns
    pub stop: Arc<AtomicBool>,
    /// cleared when this process may no longer write (a controller that
    /// lost its Lease): the follower returns without writing what it holds,
    /// which the next leader reads again from the last checkpoint
    pub may_write: Arc<AtomicBool>,
}

impl Checkpoints {
    /// Every `every`, until `stop` is set
    pub fn new(every: Duration, stop: Arc<AtomicBool>) -> Self {
        Self {
            every,
            stop,
            may_write: Arc::new(AtomicBool::new(true)),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// What a follower took, once it stopped
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// flows written
    pub flows: u64,
    /// records the layer reported lost, and outages
    pub lost: u64,
    /// lines or messages that could not be read
    pub unreadable: u64,
    /// checkpoints written
    pub checkpoints: u64,
}

/// Why a follower stopped before it was told to
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// the store
    #[error("{0}")]
    Store(#[from] StoreError),
    /// the followed file
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// why
        source: std::io::Error,
    },
    /// the saved position is not one this follower writes
    #[error("the store's position for `{stream}` is unusable: {why}")]
    Cursor {
        /// the stream
        stream: String,
        /// what is wrong with it
        why: String,
    },
    /// the relay's address or TLS files
    #[error("{0}")]
    Relay(#[from] RelayError),
    /// the relay's follower ended, or the writer's thread
    #[error("{0}")]
    Ended(String),
}

impl FollowError {
    /// What to do about it
    pub fn help(&self) -> String {
        match self {
            FollowError::Store(e) => e.help().to_string(),
            FollowError::Read { .. } => "check the path and that this process may read it".into(),
            FollowError::Cursor { .. } => "the store was written by something else: follow into a new store".into(),
            FollowError::Relay(_) => {
                "pass the relay as HOST:PORT (Cilium's: hubble-relay.kube-system.svc.cluster.local:80)".into()
            }
            FollowError::Ended(_) => "run it again: it resumes from the last checkpoint".into(),
        }
    }
}

/// The name a file's position is saved under: its absolute path, so that
/// a follower started from another directory finds it
pub fn file_stream(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The name the relay's position is saved under
pub fn relay_stream(address: &str) -> String {
    format!("hubble-relay:{address}")
}

/// Follow `path` into `store` until `checkpoints.stop` is set, from where
/// the store's position for it says the last follower stopped
pub fn follow_file(store: &mut Store, path: &Path, checkpoints: &Checkpoints) -> Result<Followed, FollowError> {
    let stream = file_stream(path);
    let tail = match store.cursor(&stream)? {
        None => Tail::new(path.to_path_buf()),
        Some(text) => {
            let position: Position = text.parse().map_err(|why| FollowError::Cursor {
                stream: stream.clone(),
                why,
            })?;
            Tail::resume(path.to_path_buf(), position)
        }
    };
    write(store, &mut FileSource { tail, stream }, checkpoints)
}

/// Follow Hubble Relay at `address` into `store` until `checkpoints.stop`
/// is set, from the last record the store holds of it; the store is used
/// on a thread of its own
pub async fn follow_relay(
    store: Store,
    address: &str,
    options: RelayOptions,
    checkpoints: Checkpoints,
) -> Result<Followed, FollowError> {
    relay::check(address, &options)?;
    let stream = relay_stream(address);
    let (sender, received) = mpsc::sync_channel(RELAYED_QUEUE);
    let (resume_sender, resume) = tokio::sync::oneshot::channel();
    let writer = tokio::task::spawn_blocking(move || {
        let mut store = store;
        let resume_ms = match store.cursor(&stream) {
            Ok(cursor) => cursor.map(|text| resume_ms(&stream, &text)).transpose(),
            Err(e) => Err(e.into()),
        };
        let _ = resume_sender.send(resume_ms.as_ref().ok().copied().flatten());
        let mut source = RelaySource {
            stream,
            received,
            last_ms: resume_ms?,
        };
        write(&mut store, &mut source, &checkpoints)
    });
    // A writer that failed to read the position drops the sender: its own
    // error is the one to report.
    let resume_ms = resume.await.unwrap_or(None);
    let address = address.to_string();
    let relay = tokio::spawn(async move {
        let intake = Arc::new(tokio::sync::Mutex::new(Sender {
            channel: sender,
            overflowed: 0,
        }));
        relay::follow(&address, intake, RelayOptions { resume_ms, ..options }).await
    });
    let written = writer.await;
    relay.abort();
    written.map_err(|e| FollowError::Ended(format!("the store's writer stopped: {e}")))?
}

fn resume_ms(stream: &str, text: &str) -> Result<i64, FollowError> {
    text.parse().map_err(|_| FollowError::Cursor {
        stream: stream.to_string(),
        why: format!("`{text}` is not a record time (ms since the epoch)"),
    })
}

/// A stream a follower writes from
trait Source {
    /// the name its position is saved under
    fn stream(&self) -> &str;
    /// take what arrives into `intake` until `until`, or a stop
    fn take(&mut self, intake: &mut Period<'_, '_>, until: Instant, stop: &Checkpoints) -> Result<(), FollowError>;
    /// where to resume after what was taken, once something was
    fn position(&self) -> Option<String>;
    /// the format of its records, for the read statistics
    fn format(&self) -> String;
}

/// Take, checkpoint, repeat: until stopped (a last checkpoint), until this
/// process may no longer write (none), or an error
fn write(store: &mut Store, source: &mut dyn Source, checkpoints: &Checkpoints) -> Result<Followed, FollowError> {
    let mut followed = Followed::default();
    // Read statistics not recorded yet: a stream record without times
    // would fall in every window, and a gap belongs where it happened.
    let mut carried = ReadStats::default();
    loop {
        let stopping = checkpoints.stopped();
        // Nothing written between checkpoints: a crash resumes from the
        // last one and takes again exactly what was not written.
        let mut ingest = store.ingester_flushing_every(usize::MAX);
        let mut period = Period {
            ingest: &mut ingest,
            stats: std::mem::take(&mut carried),
            timed: false,
            failed: None,
        };
        let taken = if stopping {
            Ok(())
        } else {
            source.take(&mut period, Instant::now() + checkpoints.every, checkpoints)
        };
        let Period {
            mut stats,
            timed,
            failed,
            ..
        } = period;
        if let Some(e) = failed {
            return Err(e.into());
        }
        if !checkpoints.may_write.load(Ordering::SeqCst) {
            return Ok(followed);
        }
        if let Some(position) = source.position() {
            ingest.checkpoint(source.stream(), &position)?;
            followed.checkpoints += 1;
        }
        let last = stopping || checkpoints.stopped() || taken.is_err();
        let gap = stats.lost > 0 || stats.malformed > 0;
        let read_anything = stats.lines > 0 || stats.lost > 0;
        if (gap && timed) || (read_anything && last) {
            stats.format = source.format();
            followed.flows += stats.flows;
            followed.lost += stats.lost;
            followed.unreadable += stats.malformed;
            ingest.finish(Some((source.stream(), &stats)))?;
        } else {
            carried = stats;
            ingest.finish(None)?;
        }
        taken?;
        if last {
            return Ok(followed);
        }
    }
}

/// One checkpoint's worth of records, going into the store's ingest
struct Period<'i, 's> {
    ingest: &'i mut Ingest<'s>,
    stats: ReadStats,
    /// whether a record with a time was taken
    timed: bool,
    /// the store's error, which stops the follower
    failed: Option<StoreError>,
}

impl Intake for Period<'_, '_> {
    fn flow(&mut self, record: FlowRecord) {
        if self.failed.is_some() {
            return;
        }
        self.stats.lines += 1;
        self.stats.flows += 1;
        self.timed |= record.time_ms.is_some();
        self.failed = self.ingest.add(record).err();
    }

    fn lost(&mut self, records: u64) {
        self.stats.lost += records;
    }

    fn unreadable(&mut self) {
        self.stats.lines += 1;
        self.stats.malformed += 1;
    }
}

/// A followed file
struct FileSource {
    tail: Tail,
    stream: String,
}

impl Source for FileSource {
    fn stream(&self) -> &str {
        &self.stream
    }

    fn take(
        &mut self,
        intake: &mut Period<'_, '_>,
        until: Instant,
        checkpoints: &Checkpoints,
    ) -> Result<(), FollowError> {
        loop {
            match self.tail.poll(intake) {
                Ok(_) => {}
                // Rotated away and not created again yet: wait for it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.tail.position().identity.is_some() => {}
                Err(source) => {
                    return Err(FollowError::Read {
                        path: self.tail.path().to_path_buf(),
                        source,
                    })
                }
            }
            if !wait(until, checkpoints) {
                return Ok(());
            }
        }
    }

    fn position(&self) -> Option<String> {
        Some(self.tail.position().to_string())
    }

    fn format(&self) -> String {
        self.tail.format().unwrap_or("unrecognised").to_string()
    }
}

/// Sleep a little unless `until` has come or a stop was asked; whether
/// to go on
fn wait(until: Instant, checkpoints: &Checkpoints) -> bool {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() || checkpoints.stopped() {
        return false;
    }
    std::thread::sleep(left.min(LOOK_EVERY));
    true
}

/// What the relay's task hands the store's thread
enum Relayed {
    Flow(Box<FlowRecord>),
    Lost(u64),
    Unreadable,
}

/// Records on their way from the relay to the store's thread at most:
/// memory stays bounded when the store is slower than the cluster
const RELAYED_QUEUE: usize = 50_000;

/// The relay's end of the channel. A record that finds the queue full is
/// not waited for (that would stall the async relay task) but counted as
/// lost, and the loss reaches the store as soon as there is room: the gate
/// sees a gap rather than an evidence that is quietly thinner
struct Sender {
    channel: mpsc::SyncSender<Relayed>,
    overflowed: u64,
}

impl Sender {
    fn send(&mut self, item: Relayed) {
        if self.overflowed > 0 {
            match self.channel.try_send(Relayed::Lost(self.overflowed)) {
                Ok(()) => self.overflowed = 0,
                Err(_) => {
                    self.overflowed = self.overflowed.saturating_add(item.records());
                    return;
                }
            }
        }
        // A closed channel is a writer that stopped: the records are left
        // to the next follower, which resumes from the last checkpoint.
        if let Err(mpsc::TrySendError::Full(item)) = self.channel.try_send(item) {
            self.overflowed = self.overflowed.saturating_add(item.records());
        }
    }
}

impl Relayed {
    /// How many records it stands for, when it has to be counted as lost
    fn records(&self) -> u64 {
        match self {
            Self::Flow(_) | Self::Unreadable => 1,
            Self::Lost(n) => *n,
        }
    }
}

impl Intake for Sender {
    fn flow(&mut self, record: FlowRecord) {
        self.send(Relayed::Flow(Box::new(record)));
    }

    fn lost(&mut self, records: u64) {
        self.send(Relayed::Lost(records));
    }

    fn unreadable(&mut self) {
        self.send(Relayed::Unreadable);
    }
}

/// The store's end of the channel
struct RelaySource {
    stream: String,
    received: mpsc::Receiver<Relayed>,
    /// the newest record's time, which is where a restart resumes
    last_ms: Option<i64>,
}

impl Source for RelaySource {
    fn stream(&self) -> &str {
        &self.stream
    }

    fn take(
        &mut self,
        intake: &mut Period<'_, '_>,
        until: Instant,
        checkpoints: &Checkpoints,
    ) -> Result<(), FollowError> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || checkpoints.stopped() {
                return Ok(());
            }
            match self.received.recv_timeout(left.min(LOOK_EVERY)) {
                Ok(Relayed::Flow(record)) => {
                    if let Some(t) = record.time_ms {
                        self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
                    }
                    intake.flow(*record);
                }
                Ok(Relayed::Lost(n)) => intake.lost(n),
                Ok(Relayed::Unreadable) => intake.unreadable(),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(FollowError::Ended("the Hubble Relay follower stopped".into()))
                }
            }
        }
    }

    fn position(&self) -> Option<String> {
        self.last_ms.map(|t| t.to_string())
    }

    fn format(&self) -> String {
        "hubble".into()
    }
}

/// Set `stop` on SIGINT (Ctrl-C) or SIGTERM (a pod stopped), so that the
/// followers write a last checkpoint and return
pub async fn stop_on_signal(stop: Arc<AtomicBool>) {
    let interrupted = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminated) => {
                tokio::select! {
                    _ = interrupted => {}
                    _ = terminated.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupted.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupted.await;
    }
    stop.store(true, Ordering::SeqCst);
}

/// A store that reports read their window from, on a thread of its own
pub struct Reader {
    store: Arc<std::sync::Mutex<Store>>,
}

impl Reader {
    /// Open (create, migrate) the store at `url`
    pub async fn open(url: &str) -> Result<Self, FollowError> {
        let url = url.to_string();
        let store = blocking(move || Store::open(&url)).await?;
        Ok(Self {
            store: Arc::new(std::sync::Mutex::new(store)),
        })
    }

    /// The evidence of `since_ms..=until_ms`
    pub async fn evidence(&self, since_ms: i64, until_ms: i64) -> Result<Evidence, FollowError> {
        let store = self.store.clone();
        blocking(move || match store.lock() {
            Ok(store) => store.evidence(since_ms, until_ms),
            // A read that panicked left nothing half-written: read again.
            Err(poisoned) => poisoned.into_inner().evidence(since_ms, until_ms),
        })
        .await
    }
}

/// `work` on the runtime's blocking threads, where the store's client may
/// block
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, FollowError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done.map_err(FollowError::from),
        Err(e) => Err(FollowError::Ended(format!("the store's thread stopped: {e}"))),
    }
}
