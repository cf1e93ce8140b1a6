//! Why a store cannot be used: each names the store (its file, or its URL
//! without the password) and what to do

/// An error of the flow store
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// a URL of a backend palisade does not have
    #[error("the store `{url}` is not one palisade can use: {}", if scheme.is_empty() { "it names no file".to_string() } else { format!("`{scheme}:` is neither `sqlite:` nor `postgres://`") })]
    Unsupported {
        /// as given
        url: String,
        /// the scheme it names
        scheme: String,
    },
    /// a store to read that does not exist (a typo must not read as an
    /// empty store)
    #[error("there is no store at `{store}`")]
    Missing {
        /// the file or URL
        store: String,
    },
    /// the file or the server could not be opened
    #[error("cannot open the store `{store}`: {message}")]
    Open {
        /// the file or URL
        store: String,
        /// why
        message: String,
    },
    /// a database that is not a palisade store
    #[error("`{store}` is not a palisade flow store: {why}")]
    NotAStore {
        /// the file or URL
        store: String,
        /// what it holds instead
        why: String,
    },
    /// written by a newer palisade
    #[error("the store `{store}` has schema version {found}, newer than this palisade reads (up to {known}): use a newer palisade")]
    Newer {
        /// the file or URL
        store: String,
        /// the version it has
        found: i64,
        /// the newest this code knows
        known: i64,
    },
    /// a statement failed (disk full, locked past the busy timeout, ...)
    #[error("the store `{store}`: {message}")]
    Database {
        /// the file or URL
        store: String,
        /// the database's message
        message: String,
    },
    /// two writers collided (a deadlock or serialization failure): the
    /// transaction was retried and collided again
    #[error("the store `{store}`: another writer kept colliding with this one: {message}")]
    Conflict {
        /// the file or URL
        store: String,
        /// the database's message
        message: String,
    },
    /// a row this code cannot read back
    #[error("the store `{store}` holds a conversation palisade cannot read: {why}")]
    Corrupt {
        /// the file or URL
        store: String,
        /// what is wrong with it
        why: String,
    },
}

impl StoreError {
    /// What to do about it, for the command line's help line
    pub fn help(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } => {
                "pass `--store sqlite:PATH` (or a file path) or `--store postgres://USER@HOST:PORT/DATABASE`"
            }
            Self::Open { .. } => {
                "for a file, check that its folder exists and is writable; for PostgreSQL, that the server is up, the URL's user, password and database are right (TLS is not supported: use a local or tunnelled connection)"
            }
            Self::Database { .. } => "check the disk and the database's log; a locked file waits 60 s before this error",
            Self::Conflict { .. } => "run it again: another palisade process was writing the same hours",
            Self::NotAStore { .. } | Self::Corrupt { .. } => {
                "pass a store palisade created with `palisade evidence ingest`, or a new file or an empty database"
            }
            Self::Missing { .. } => "pass the store that `palisade evidence ingest --store` wrote",
            Self::Newer { .. } => "this store was written by a newer palisade; upgrade rather than downgrade it",
        }
    }
}
