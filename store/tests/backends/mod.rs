//! The backends every store test runs on: a fresh SQLite file, and a fresh
//! PostgreSQL database on the server PALISADE_TEST_POSTGRES names (an
//! admin URL such as `postgres://palisade@127.0.0.1:54329/postgres`, as
//! `.ci/postgres-up` prints). Without it the PostgreSQL half is skipped,
//! loudly, except under CI=true, where it fails.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A store nobody has used yet, removed when dropped
pub struct Fresh {
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, database: String },
}

static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// Run `test` on a fresh store of each backend
pub fn each_backend(mut test: impl FnMut(&Fresh)) {
    test(&Fresh::sqlite());
    match postgres_admin() {
        Some(admin) => test(&Fresh::postgres(&admin)),
        None => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but PALISADE_TEST_POSTGRES is not set: .ci/run starts a server with .ci/postgres-up"
            );
            eprintln!("\n!!! SKIPPED the PostgreSQL backend: set PALISADE_TEST_POSTGRES (see .ci/postgres-up) !!!\n");
        }
    }
}

fn postgres_admin() -> Option<String> {
    std::env::var("PALISADE_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

impl Fresh {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("evidence.db").display());
        Self {
            url,
            kind: Kind::Sqlite(dir),
        }
    }

    fn postgres(admin: &str) -> Self {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let database = format!("palisade_test_{}_{n}", std::process::id());
        let mut client = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        // One statement a call: a multi-statement string is one transaction,
        // which CREATE DATABASE refuses.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
            .unwrap();
        client.batch_execute(&format!("CREATE DATABASE {database}")).unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Self {
            url: format!("{base}/{database}"),
            kind: Kind::Postgres {
                admin: admin.to_string(),
                database,
            },
        }
    }

    /// Another fresh store of the same backend
    pub fn sibling(&self) -> Self {
        match &self.kind {
            Kind::Sqlite(_) => Self::sqlite(),
            Kind::Postgres { admin, .. } => Self::postgres(admin),
        }
    }

    /// The SQLite file (`None` for PostgreSQL)
    pub fn file(&self) -> Option<std::path::PathBuf> {
        match &self.kind {
            Kind::Sqlite(dir) => Some(dir.path().join("evidence.db")),
            Kind::Postgres { .. } => None,
        }
    }

    /// Run one statement on the store's database behind palisade's back;
    /// `$1`... are `texts`
    pub fn execute(&self, statement: &str, texts: &[&str]) {
        match &self.kind {
            Kind::Sqlite(_) => {
                let conn = rusqlite::Connection::open(self.file().unwrap()).unwrap();
                let params: Vec<&dyn rusqlite::ToSql> = texts.iter().map(|t| t as &dyn rusqlite::ToSql).collect();
                conn.execute(&statement.replace('$', "?"), params.as_slice()).unwrap();
            }
            Kind::Postgres { .. } => {
                let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = texts
                    .iter()
                    .map(|t| t as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                client.execute(statement, &params).unwrap();
            }
        }
    }

    /// The first column of a query, as text
    pub fn texts(&self, query: &str) -> Vec<String> {
        match &self.kind {
            Kind::Sqlite(_) => {
                let conn = rusqlite::Connection::open(self.file().unwrap()).unwrap();
                let mut statement = conn.prepare(query).unwrap();
                let rows = statement.query_map([], |row| row.get(0)).unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            }
            Kind::Postgres { .. } => {
                let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
                client.query(query, &[]).unwrap().iter().map(|row| row.get(0)).collect()
            }
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Kind::Postgres { admin, database } = &self.kind {
            if let Ok(mut client) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
            }
        }
    }
}
