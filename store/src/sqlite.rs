//! The embedded backend: one SQLite file (rusqlite, bundled, so no system
//! library is needed), in WAL mode so that readers run beside a writer

use crate::sql::{Dialect, Row, Sql, Value};
use crate::{StoreError, BUSY_TIMEOUT};
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) struct Sqlite {
    conn: Connection,
    name: String,
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|e| open_error(&name, &e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| open_error(&name, &e))?;
        write_ahead_log(&conn, &name)?;
        // 32 MiB of page cache: an ingest's upserts land all over a week's
        // trees, and the default 2 MiB rereads them from the file.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -32768;")
            .map_err(|e| error(&name, &e))?;
        Ok(Self { conn, name })
    }
}

/// The file a URL names: `sqlite:PATH`, `sqlite://PATH` or a bare path.
/// `Err(scheme)` for a URL of another scheme (`""` for one that names no
/// file), and for a bare name that starts like one (`postgres:evidence`
/// is a typo, not a file to create)
pub(crate) fn path_of(url: &str) -> Result<PathBuf, String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    if let Some(rest) = rest {
        return if rest.is_empty() {
            Err(String::new())
        } else {
            Ok(PathBuf::from(rest))
        };
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(scheme.to_string());
    }
    let prefix = url.split('/').next().unwrap_or("");
    if let Some((scheme, _)) = prefix.split_once(':') {
        // Two letters at least: `C:` of a Windows path is a drive.
        if scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(scheme.to_string());
        }
    }
    if url.is_empty() {
        return Err(String::new());
    }
    Ok(PathBuf::from(url))
}

/// WAL lets readers (show, audit) run while an ingest writes. Switching to
/// it takes the file's lock without waiting on the busy timeout, so two
/// processes opening a new store at once retry here for as long
fn write_ahead_log(conn: &Connection, name: &str) -> Result<(), StoreError> {
    // Asked first: a store already in WAL mode is read without writing,
    // so a user who may only read it can.
    if let Ok(mode) = conn.query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0)) {
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
    }
    let start = Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && start.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(error(name, &e)),
        }
    }
}

/// SQLite numbers parameters `?N`; the store writes `$N` (PostgreSQL's),
/// which never appears in its statements otherwise
fn positional(statement: &str) -> String {
    statement.replace('$', "?")
}

/// A cached statement with its parameters bound
fn prepare<'c>(
    conn: &'c Connection,
    name: &str,
    statement: &str,
    params: &[Value<'_>],
) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
    let mut prepared = conn
        .prepare_cached(&positional(statement))
        .map_err(|e| error(name, &e))?;
    bind(&mut prepared, params).map_err(|e| error(name, &e))?;
    Ok(prepared)
}

fn bind(statement: &mut rusqlite::CachedStatement<'_>, params: &[Value<'_>]) -> rusqlite::Result<()> {
    for (index, value) in params.iter().enumerate() {
        match value {
            Value::Int(n) => statement.raw_bind_parameter(index + 1, n)?,
            Value::Text(s) => statement.raw_bind_parameter(index + 1, s)?,
        }
    }
    Ok(())
}

struct SqliteRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    name: &'r str,
}

impl Row for SqliteRow<'_, '_> {
    fn int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        self.row.get(column).map_err(|e| error(self.name, &e))
    }

    fn text(&self, column: usize) -> Result<Option<String>, StoreError> {
        self.row.get(column).map_err(|e| error(self.name, &e))
    }

    fn null(&self, column: usize) -> StoreError {
        StoreError::Corrupt {
            store: self.name.to_string(),
            why: format!("column {column} of a row is empty"),
        }
    }
}

impl Sql for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock now, so that two writers queue on
        // the busy timeout instead of failing to upgrade a read lock.
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| error(&self.name, &e))
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        // DEFERRED: the snapshot is taken at the first read, and no lock
        // keeps a writer out.
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(|e| error(&self.name, &e))
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(|e| error(&self.name, &e))
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            // The error that led here is the one to report.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn batch(&mut self, statements: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(statements).map_err(|e| error(&self.name, &e))
    }

    fn execute(&mut self, statement: &str, params: &[Value<'_>]) -> Result<u64, StoreError> {
        let mut prepared = prepare(&self.conn, &self.name, statement, params)?;
        let changed = prepared.raw_execute().map_err(|e| error(&self.name, &e))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query(
        &mut self,
        statement: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let name = &self.name;
        let mut prepared = prepare(&self.conn, name, statement, params)?;
        let mut rows = prepared.raw_query();
        while let Some(row) = rows.next().map_err(|e| error(name, &e))? {
            each(&SqliteRow { row, name })?;
        }
        Ok(())
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        let mut tables = Vec::new();
        self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            &[],
            &mut |row| {
                tables.push(row.text_required(0)?);
                Ok(())
            },
        )?;
        Ok(tables)
    }

    fn retryable(&self, _: &StoreError) -> bool {
        // A busy file was already waited on for the busy timeout.
        false
    }
}

fn open_error(name: &str, e: &rusqlite::Error) -> StoreError {
    match error(name, e) {
        StoreError::Database { store, message } => StoreError::Open { store, message },
        other => other,
    }
}

fn error(name: &str, e: &rusqlite::Error) -> StoreError {
    if is_not_a_database(e) {
        return not_sqlite(name);
    }
    StoreError::Database {
        store: name.to_string(),
        message: e.to_string(),
    }
}

fn not_sqlite(name: &str) -> StoreError {
    StoreError::NotAStore {
        store: name.to_string(),
        why: "the file is not an SQLite database".into(),
    }
}

fn is_not_a_database(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}
