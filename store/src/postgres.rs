//! The shared backend: a PostgreSQL database, for controllers that run
//! several replicas (a new leader continues the window) or evidence shared
//! across clusters. The sync `postgres` client runs its own runtime: from
//! async code, call the store on a blocking thread.

use crate::sql::{Dialect, Row, Sql, Value};
use crate::StoreError;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) struct Postgres {
    client: Client,
    name: String,
    prepared: HashMap<String, Statement>,
}

/// Whether a URL names a PostgreSQL database
pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Postgres {
    pub(crate) fn open(url: &str) -> Result<Self, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| StoreError::Open {
            store: unparsed_name(url),
            message: format!("not a PostgreSQL URL: {e}"),
        })?;
        let name = display_name(&config);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("palisade");
        // No TLS in this build: a URL that demands it is refused by the
        // client rather than sent in the clear.
        let client = config.connect(NoTls).map_err(|e| StoreError::Open {
            store: name.clone(),
            message: message(&e),
        })?;
        Ok(Self {
            client,
            name,
            prepared: HashMap::new(),
        })
    }

    fn statement(&mut self, text: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.prepared.get(text) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(text).map_err(|e| error(&self.name, &e))?;
        self.prepared.insert(text.to_string(), statement.clone());
        Ok(statement)
    }
}

/// How the store is named in messages: rebuilt from the parsed URL with
/// only the user, hosts, ports and database, so that no form of password
/// (`user:secret@`, `?password=`) is ever printed
fn display_name(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            postgres::config::Host::Unix(dir) => format!("[{}]:{port}", dir.display()),
        })
        .collect();
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let password = if config.get_password().is_some() { ":***" } else { "" };
    let user = match user.strip_suffix('@') {
        Some(name) => format!("{name}{password}@"),
        None => user,
    };
    format!(
        "postgres://{user}{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// A URL that does not parse, named without anything after the scheme's
/// authority that might hold a password
fn unparsed_name(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "a postgres:// URL".to_string();
    };
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host.split(['/', '?']).next().unwrap_or("");
    format!("{scheme}://{host}/...")
}

fn parameters<'v>(params: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|value| match value {
            Value::Int(n) => n as &(dyn ToSql + Sync),
            Value::Text(s) => s as &(dyn ToSql + Sync),
        })
        .collect()
}

struct PgRow<'r> {
    row: &'r postgres::Row,
    name: &'r str,
}

impl Row for PgRow<'_> {
    fn int(&self, column: usize) -> Result<Option<i64>, StoreError> {
        self.row.try_get(column).map_err(|e| error(self.name, &e))
    }

    fn text(&self, column: usize) -> Result<Option<String>, StoreError> {
        self.row.try_get(column).map_err(|e| error(self.name, &e))
    }

    fn null(&self, column: usize) -> StoreError {
        StoreError::Corrupt {
            store: self.name.to_string(),
            why: format!("column {column} of a row is empty"),
        }
    }
}

impl Sql for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.client.batch_execute("BEGIN").map_err(|e| error(&self.name, &e))
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.client
            // A week's buckets grouped per conversation and day: with the
            // default 4 MB the grouping sorts on disk, at twice the time.
            // LOCAL: for this transaction only.
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL work_mem = '64MB'")
            .map_err(|e| error(&self.name, &e))
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.client.batch_execute("COMMIT").map_err(|e| error(&self.name, &e))
    }

    fn rollback(&mut self) {
        // Outside a transaction this only warns; the error that led here
        // is the one to report.
        let _ = self.client.batch_execute("ROLLBACK");
    }

    fn batch(&mut self, statements: &str) -> Result<(), StoreError> {
        self.client.batch_execute(statements).map_err(|e| error(&self.name, &e))
    }

    fn execute(&mut self, statement: &str, params: &[Value<'_>]) -> Result<u64, StoreError> {
        let prepared = self.statement(statement)?;
        self.client
            .execute(&prepared, &parameters(params))
            .map_err(|e| error(&self.name, &e))
    }

    fn query(
        &mut self,
        statement: &str,
        params: &[Value<'_>],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let prepared = self.statement(statement)?;
        let name = self.name.clone();
        // Streamed, not collected: a week's buckets need not fit twice.
        let mut rows = self
            .client
            .query_raw(&prepared, parameters(params))
            .map_err(|e| error(&name, &e))?;
        while let Some(row) = rows.next().map_err(|e| error(&name, &e))? {
            each(&PgRow { row: &row, name: &name })?;
        }
        Ok(())
    }

    fn tables(&mut self) -> Result<Vec<String>, StoreError> {
        let mut tables = Vec::new();
        self.query(
            "SELECT CAST(tablename AS TEXT) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY 1",
            &[],
            &mut |row| {
                tables.push(row.text_required(0)?);
                Ok(())
            },
        )?;
        Ok(tables)
    }

    fn retryable(&self, error: &StoreError) -> bool {
        matches!(error, StoreError::Conflict { .. })
    }
}

fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {detail}", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

fn error(name: &str, e: &postgres::Error) -> StoreError {
    let collided = e
        .code()
        // A foreign key that fails: a prune removed a conversation this
        // writer knew between its look and its write; the retry looks again.
        .is_some_and(|c| {
            *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::FOREIGN_KEY_VIOLATION
        });
    if collided {
        return StoreError::Conflict {
            store: name.to_string(),
            message: message(e),
        };
    }
    StoreError::Database {
        store: name.to_string(),
        message: message(e),
    }
}

#[cfg(test)]
mod tests {
    use super::{display_name, unparsed_name};

    fn name(url: &str) -> String {
        display_name(&url.parse().unwrap_or_else(|e| panic!("{url}: {e}")))
    }

    #[test]
    fn a_password_never_names_the_store() {
        assert_eq!(
            name("postgres://palisade:s3cret@db:5433/evidence"),
            "postgres://palisade:***@db:5433/evidence"
        );
        assert_eq!(
            name("postgresql://palisade@db/evidence"),
            "postgres://palisade@db:5432/evidence"
        );
        assert_eq!(name("postgres://u@h/db?password=s3cret"), "postgres://u:***@h:5432/db");
        assert_eq!(name("postgres://u:s3c%2Fret@h/db"), "postgres://u:***@h:5432/db");
        assert!(!unparsed_name("postgres://u:s3c/ret@h/db?x").contains("s3c"));
    }
}
