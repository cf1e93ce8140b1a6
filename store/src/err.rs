//! Why a store cannot be used: each names the store and what to do

use std::path::{Path, PathBuf};

/// An error of the flow store
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// a URL of a backend this build does not have
    #[error("the store `{url}` is not supported yet: {}", if scheme.is_empty() { "it names no file" } else { "palisade keeps evidence in SQLite files" })]
    Unsupported {
        /// as given
        url: String,
        /// the scheme it names
        scheme: String,
    },
    /// a store to read that does not exist (a typo must not read as an
    /// empty store)
    #[error("there is no store at `{}`", path.display())]
    Missing {
        /// the file
        path: PathBuf,
    },
    /// the file could not be opened or is not an SQLite database
    #[error("cannot open the store `{}`: {message}", path.display())]
    Open {
        /// the file
        path: PathBuf,
        /// why
        message: String,
    },
    /// an SQLite database that is not a palisade store
    #[error("`{}` is not a palisade flow store: {why}", path.display())]
    NotAStore {
        /// the file
        path: PathBuf,
        /// what it holds instead
        why: String,
    },
    /// written by a newer palisade
    #[error("the store `{}` has schema version {found}, newer than this palisade reads (up to {known}): use a newer palisade", path.display())]
    Newer {
        /// the file
        path: PathBuf,
        /// the version it has
        found: i64,
        /// the newest this code knows
        known: i64,
    },
    /// a statement failed (disk full, locked past the busy timeout, ...)
    #[error("the store `{}`: {message}", path.display())]
    Database {
        /// the file
        path: PathBuf,
        /// the database's message
        message: String,
    },
    /// a row this code cannot read back
    #[error("the store `{}` holds a conversation palisade cannot read: {why}", path.display())]
    Corrupt {
        /// the file
        path: PathBuf,
        /// what is wrong with it
        why: String,
    },
}

impl StoreError {
    pub(crate) fn open(path: &Path, e: rusqlite::Error) -> Self {
        if is_not_a_database(&e) {
            return Self::NotAStore {
                path: path.to_path_buf(),
                why: "the file is not an SQLite database".into(),
            };
        }
        Self::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    pub(crate) fn db(path: &Path, e: rusqlite::Error) -> Self {
        if is_not_a_database(&e) {
            return Self::NotAStore {
                path: path.to_path_buf(),
                why: "the file is not an SQLite database".into(),
            };
        }
        Self::Database {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }

    /// What to do about it, for the command line's help line
    pub fn help(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } => "pass `--store sqlite:PATH` (or a file path); PostgreSQL is not supported yet",
            Self::Open { .. } | Self::Database { .. } => "check that the file's folder exists and is writable",
            Self::NotAStore { .. } | Self::Corrupt { .. } => {
                "pass a file palisade created with `palisade evidence ingest`, or a new file name"
            }
            Self::Missing { .. } => "pass the store that `palisade evidence ingest --store` wrote",
            Self::Newer { .. } => "this store was written by a newer palisade; upgrade rather than downgrade it",
        }
    }
}

fn is_not_a_database(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}
