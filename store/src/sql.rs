//! The one seam between the store's logic and a database: statements with
//! numbered parameters (`$1`, `$2`, ...), integer and text values, rows
//! read by column. Everything else (migrations, ingest, windows, pruning)
//! is written once against [`Sql`]; `sqlite.rs` and `postgres.rs` only
//! open connections and carry values across.

use crate::StoreError;

/// A parameter. Nulls carry their type: PostgreSQL checks a parameter's
/// type even when it is null
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(n: Option<i64>) -> Self {
        Self::Int(n)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(Some(s))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Self::Text(s)
    }
}

/// One row of a result, read by column index
pub(crate) trait Row {
    fn int(&self, column: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, column: usize) -> Result<Option<String>, StoreError>;

    /// A column that must not be null
    fn int_required(&self, column: usize) -> Result<i64, StoreError> {
        self.int(column)?.ok_or_else(|| self.null(column))
    }

    /// A text column that must not be null
    fn text_required(&self, column: usize) -> Result<String, StoreError> {
        self.text(column)?.ok_or_else(|| self.null(column))
    }

    fn null(&self, column: usize) -> StoreError;
}

/// Which database a statement runs on, for the few texts that differ
/// (DDL of row ids, the catalogue, the migration lock)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection to a store's database
pub(crate) trait Sql: Send {
    fn dialect(&self) -> Dialect;

    /// How errors name the store: the file, or the URL without its password
    fn name(&self) -> &str;

    /// Start a transaction that will write: it waits for other writers
    /// rather than failing halfway
    fn begin(&mut self) -> Result<(), StoreError>;

    /// Start a transaction that only reads: one snapshot, so that queries
    /// of one window agree with each other while an ingest commits
    fn begin_read(&mut self) -> Result<(), StoreError>;

    fn commit(&mut self) -> Result<(), StoreError>;

    /// Undo the open transaction, if any (after an error: never fails
    /// louder than the error that caused it)
    fn rollback(&mut self);

    /// Statements without parameters or results, one after another (DDL)
    fn batch(&mut self, statements: &str) -> Result<(), StoreError>;

    /// One statement; the rows it changed
    fn execute(&mut self, statement: &str, params: &[Value<'_>]) -> Result<u64, StoreError>;

    /// One query; `each` sees every row in order
    fn query(
        &mut self,
        statement: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The tables of the store's schema
    fn tables(&mut self) -> Result<Vec<String>, StoreError>;

    /// Whether `error` is one a retry of the whole transaction may clear
    /// (a deadlock or serialization failure between two writers)
    fn retryable(&self, error: &StoreError) -> bool;
}

/// One integer of a one-row query (`COUNT`, `MAX`)
pub(crate) fn scalar(sql: &mut dyn Sql, statement: &str, params: &[Value<'_>]) -> Result<Option<i64>, StoreError> {
    let mut found = None;
    sql.query(statement, params, &mut |row| {
        found = row.int(0)?;
        Ok(())
    })?;
    Ok(found)
}

/// Run `work` in a write transaction: committed when it returns Ok, rolled
/// back otherwise; retried a few times when two writers collided
pub(crate) fn in_transaction<T>(
    sql: &mut dyn Sql,
    mut work: impl FnMut(&mut dyn Sql) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    const ATTEMPTS: u32 = 6;
    let mut attempt = 1;
    loop {
        let done = sql.begin().and_then(|()| work(sql)).and_then(|value| {
            sql.commit()?;
            Ok(value)
        });
        match done {
            Ok(value) => return Ok(value),
            Err(e) => {
                sql.rollback();
                if attempt >= ATTEMPTS || !sql.retryable(&e) {
                    return Err(e);
                }
                // Apart, and a little differently each time: two writers
                // that collided once must not collide again in step.
                std::thread::sleep(backoff(attempt));
                attempt += 1;
            }
        }
    }
}

/// 20 ms, 40 ms, 80 ms, ... with up to as much again of jitter
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 20_u64 << attempt.min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
        % base;
    std::time::Duration::from_millis(base + jitter)
}

/// Run `work` on one snapshot of the store
pub(crate) fn in_snapshot<T>(
    sql: &mut dyn Sql,
    work: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    sql.begin_read()?;
    let done = work(sql).and_then(|value| {
        sql.commit()?;
        Ok(value)
    });
    if done.is_err() {
        sql.rollback();
    }
    done
}

/// `(...), (...)` for `rows` rows of `width` numbered parameters, from `$1`
pub(crate) fn values_list(rows: usize, width: usize) -> String {
    let mut text = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..width {
            if column > 0 {
                text.push_str(", ");
            }
            text.push('$');
            text.push_str(&(row * width + column + 1).to_string());
        }
        text.push(')');
    }
    text
}

/// `$from, ..., $to` (an `IN` list)
pub(crate) fn parameter_list(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{parameter_list, values_list};

    #[test]
    fn lists_number_parameters_in_order() {
        assert_eq!(values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(parameter_list(1, 3), "$1, $2, $3");
    }
}
