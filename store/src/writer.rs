//! The connection lent to a thread of its own while an ingest runs, so that
//! reading and aggregating the next batch goes on while the database takes
//! the last one (on PostgreSQL, a server that works while we wait; on
//! SQLite, the other core). One batch waits at most: memory stays at a few
//! batches, whatever the stream's length.

use crate::ingest::Batch;
use crate::sql::{Dialect, Row, Sql, Value};
use crate::write::{write_batch, RowCache};
use crate::StoreError;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// A writer thread and the queue to it
pub(crate) struct Writer {
    batches: SyncSender<Batch>,
    thread: JoinHandle<Lent>,
}

/// What the thread gives back: the connection and the first error (after
/// which it took no more batches)
pub(crate) struct Lent {
    pub sql: Box<dyn Sql>,
    pub cache: RowCache,
    pub result: Result<(), StoreError>,
}

impl Writer {
    pub(crate) fn start(mut sql: Box<dyn Sql>, mut cache: RowCache) -> Self {
        let (batches, queue) = sync_channel::<Batch>(1);
        let thread = std::thread::spawn(move || {
            for batch in queue {
                if let Err(e) = write_batch(sql.as_mut(), &batch, &mut cache) {
                    return Lent {
                        sql,
                        cache,
                        result: Err(e),
                    };
                }
            }
            Lent {
                sql,
                cache,
                result: Ok(()),
            }
        });
        Self { batches, thread }
    }

    /// Queue a batch, waiting while another is queued; `false` when the
    /// thread has stopped on an error ([`Self::stop`] tells which)
    pub(crate) fn send(&self, batch: Batch) -> bool {
        self.batches.send(batch).is_ok()
    }

    /// Wait until every queued batch is written, and take the connection back
    pub(crate) fn stop(self, name: &str) -> Lent {
        drop(self.batches);
        self.thread.join().unwrap_or_else(|_| Lent {
            sql: Box::new(Gone { name: name.to_string() }),
            cache: RowCache::default(),
            result: Err(StoreError::Database {
                store: name.to_string(),
                message: "the thread writing the store stopped unexpectedly".into(),
            }),
        })
    }
}

/// Stands for the connection while a thread has it (the borrow checker
/// keeps everyone else off the store meanwhile), or after that thread died
pub(crate) struct Gone {
    pub name: String,
}

impl Gone {
    fn error(&self) -> StoreError {
        StoreError::Database {
            store: self.name.clone(),
            message: "the connection was lost with the thread that wrote the store: open the store again".into(),
        }
    }
}

impl Sql for Gone {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        Err(self.error())
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        Err(self.error())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Err(self.error())
    }

    fn rollback(&mut self) {}

    fn batch(&mut self, _: &str) -> Result<(), StoreError> {
        Err(self.error())
    }

    fn execute(&mut self, _: &str, _: &[Value<'_>]) -> Result<u64, StoreError> {
        Err(self.error())
    }

    fn query(
        &mut self,
        _: &str,
        _: &[Value<'_>],
        _: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        Err(self.error())
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        Err(self.error())
    }

    fn retryable(&self, _: &StoreError) -> bool {
        false
    }
}
