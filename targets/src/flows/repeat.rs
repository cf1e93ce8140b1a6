//! Records that repeat: a conversation's records differ in their time and
//! little else, so a stream read for a sink that works per distinct record
//! builds each record once. A line's fingerprint
//! ([`super::FlowFormat::fingerprint`]: every byte that decides its record
//! but the time) names the record it reads as; the first line with a
//! fingerprint is read whole, and the ones after it are handed on as that
//! record with their own time.

use super::{batch::Read, FlowRecord, Line};
use std::collections::HashMap;

/// Bytes of fingerprints the memo holds at most: past it, the memo starts
/// over, and records are read whole again as they come
const MEMO_BYTES: usize = 48 << 20;

/// A flow as [`super::read_repeating`] hands it on
#[derive(Debug)]
pub enum Repeat {
    /// a record read whole: the first with its fingerprint (`index`), or
    /// one whose line has none (`None`)
    New {
        /// the record
        record: Box<FlowRecord>,
        /// the number its repeats come with, until a record that is
        /// `New` with the same index takes it over (the memo started over)
        index: Option<u32>,
    },
    /// the record that was `New` with this index, but at this time
    Again {
        /// the record's index
        index: u32,
        /// this line's time
        time_ms: Option<i64>,
    },
}

/// What a memo made of a fingerprinted line
pub(super) enum Recalled<'f> {
    /// a flow, new or again
    Flow(Repeat),
    /// a record that is not a flow
    Skipped(&'static str),
    /// what reading the line whole gave, where it is not remembered
    /// (errors keep their line and column; lost events their count)
    Not(Read<'f>),
}

/// The fingerprints seen so far, each with its index
#[derive(Default)]
pub(super) struct Memo {
    index: HashMap<Box<[u8]>, Remembered, foldhash::fast::RandomState>,
    flows: u32,
    bytes: usize,
}

#[derive(Clone, Copy)]
enum Remembered {
    Flow(u32),
    Skipped(&'static str),
}

impl Memo {
    /// What the line whose fingerprint is `key` reads as, read with
    /// `read_whole` the first time
    pub(super) fn recall<'f>(
        &mut self,
        key: &[u8],
        time_ms: Option<i64>,
        read_whole: impl FnOnce() -> Read<'f>,
    ) -> Recalled<'f> {
        match self.index.get(key) {
            Some(Remembered::Flow(index)) => Recalled::Flow(Repeat::Again { index: *index, time_ms }),
            Some(Remembered::Skipped(why)) => Recalled::Skipped(why),
            None => self.remember(key, time_ms, read_whole()),
        }
    }

    fn remember<'f>(&mut self, key: &[u8], time_ms: Option<i64>, read: Read<'f>) -> Recalled<'f> {
        if self.bytes + key.len() > MEMO_BYTES || self.flows == u32::MAX {
            *self = Self::default();
        }
        match read {
            Read::Line(Line::Flow(mut record)) => {
                self.bytes += key.len();
                let index = self.flows;
                self.flows += 1;
                self.index.insert(key.into(), Remembered::Flow(index));
                // The fingerprint's time is the one `read` gives: kept as read.
                record.time_ms = time_ms;
                Recalled::Flow(Repeat::New {
                    record,
                    index: Some(index),
                })
            }
            Read::Line(Line::Skipped(why)) => {
                self.bytes += key.len();
                self.index.insert(key.into(), Remembered::Skipped(why));
                Recalled::Skipped(why)
            }
            other => Recalled::Not(other),
        }
    }
}
