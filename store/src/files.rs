//! Files already ingested: the same file ingested twice would count its
//! flows twice, which no one reading `evidence show` could tell from a
//! busier week. A file is known by its canonical path and a mark of its
//! content (size, modification time, the SHA-256 of its first 64 KiB),
//! saved as a resume position of the store once its ingest committed.

use crate::{Ingest, Store, StoreError};
use sha2::Digest;
use std::io::Read;
use std::path::Path;

/// How much of a file its mark reads: enough to tell two logs apart,
/// little enough to cost nothing beside reading the file
const MARKED_BYTES: u64 = 64 * 1024;

/// What identifies one file's content in a store
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMark {
    source: String,
    mark: String,
}

impl FileMark {
    /// The mark of the file at `path`; `None` for what is not a regular
    /// file (stdin, a pipe), which cannot be recognised again
    pub fn of(path: &Path) -> std::io::Result<Option<Self>> {
        if path.as_os_str() == "-" {
            return Ok(None);
        }
        let metadata = std::fs::metadata(path)?;
        if !metadata.is_file() {
            return Ok(None);
        }
        let modified = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let mut head = Vec::new();
        std::fs::File::open(path)?.take(MARKED_BYTES).read_to_end(&mut head)?;
        let digest = sha2::Sha256::digest(&head);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let canonical = std::fs::canonicalize(path)?;
        Ok(Some(Self {
            source: format!("file:{}", canonical.display()),
            mark: format!("{}:{modified}:{hex}", metadata.len()),
        }))
    }
}

/// What a store holds of a file
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// nothing: a new file
    No,
    /// all of it
    Whole,
    /// the first part: an ingest of it stopped (killed, or an error)
    /// after some batches were written
    Part,
}

/// The position a file's ingest saves while it runs
fn begun(mark: &str) -> String {
    format!("begun:{mark}")
}

impl Store {
    /// Whether this very file (same path and content mark) was ingested
    /// into the store before, whole or in part
    pub fn already_ingested(&self, file: &FileMark) -> Result<Ingested, StoreError> {
        let saved = self.cursor(&file.source)?;
        Ok(match saved {
            Some(saved) if saved == file.mark => Ingested::Whole,
            Some(saved) if saved == begun(&file.mark) => Ingested::Part,
            _ => Ingested::No,
        })
    }
}

impl Ingest<'_> {
    /// Note that `file` is being ingested, before any of it is written: an
    /// ingest that stops midway leaves its first part stored, and a second
    /// one must be told, or that part counts twice
    pub fn mark_begun(&mut self, file: &FileMark) -> Result<(), StoreError> {
        self.checkpoint(&file.source, &begun(&file.mark))
    }

    /// Write what is pending and note `file` as ingested, in one transaction
    pub fn mark_ingested(&mut self, file: &FileMark) -> Result<(), StoreError> {
        self.checkpoint(&file.source, &file.mark)
    }
}
