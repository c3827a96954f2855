//! The database of each test, and direct access to it behind the server's back.

use entity::prelude::Ticket;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, EntityTrait, QuerySelect,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

/// The database of one test.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Another test app's database: that one drops it.
    None,
    /// Removed, with the SQLite file, when dropped.
    SqliteDirectory {
        _directory: tempfile::TempDir,
    },
    PostgresDatabase {
        server_url: String,
        name: String,
    },
}

/// The PostgreSQL server of a test that runs on PostgreSQL only (marked `#[ignore]`, and
/// run with `--include-ignored` when `TEST_DATABASE_URL` names PostgreSQL).
pub fn required_postgres_server_url() -> String {
    postgres_server_url().expect("this test needs TEST_DATABASE_URL=postgres://…")
}

/// The PostgreSQL server the suite runs on, if it runs on PostgreSQL.
pub fn postgres_server_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

impl TestDatabase {
    /// A fresh database on the backend the suite runs on.
    pub async fn create() -> Self {
        match postgres_server_url() {
            Some(server_url) => Self::postgres(server_url).await,
            None => Self::sqlite(),
        }
    }

    /// Another test app's database, which that app drops.
    pub fn borrowed(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            cleanup: Cleanup::None,
        }
    }

    fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}/supportdesk.db?mode=rwc",
            directory.path().display()
        );
        Self {
            url,
            cleanup: Cleanup::SqliteDirectory {
                _directory: directory,
            },
        }
    }

    async fn postgres(server_url: String) -> Self {
        let name = format!("supportdesk_test_{}", uuid::Uuid::now_v7().simple());
        let server = Database::connect(&server_url)
            .await
            .expect("PostgreSQL answers");
        server
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("a test database is created");
        server.close().await.expect("the admin connection closes");
        Self {
            url: with_database(&server_url, &name),
            cleanup: Cleanup::PostgresDatabase { server_url, name },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::PostgresDatabase { server_url, name } = &self.cleanup else {
            return;
        };
        let (server_url, name) = (server_url.clone(), name.clone());
        let database = name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: drop the
        // database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let server = Database::connect(&server_url).await?;
                server
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                server.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {database}: {dropped:?}");
        }
    }
}

/// `postgres://user@host:port/db?opts` with `db` replaced by `name`.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, options) = server_url
        .split_once('?')
        .map_or((server_url, None), |(base, options)| (base, Some(options)));
    let authority_end = base.find("://").map_or(0, |scheme| scheme + 3);
    let root = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match options {
        Some(options) => format!("{root}/{name}?{options}"),
        None => format!("{root}/{name}"),
    }
}

/// The lock a new message on a ticket waits for while the test holds it: SQLite's write
/// lock, or, on PostgreSQL, the lock on the ticket's row.
pub struct TicketLock {
    _db: DatabaseConnection,
    pub txn: DatabaseTransaction,
}

pub async fn lock_ticket(database_url: &str, ticket_id: &str) -> TicketLock {
    let db = Database::connect(database_url).await.expect("the database");
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .expect("a transaction");
    Ticket::find_by_id(ticket_id.parse::<uuid::Uuid>().expect("a UUID"))
        .lock_exclusive()
        .one(&txn)
        .await
        .expect("the ticket is locked")
        .expect("the ticket exists");
    TicketLock { _db: db, txn }
}

/// Runs one statement of plain SQL, `$1`, `$2`, … bound to `values`, on SQLite or PostgreSQL:
/// for fixtures written in the columns a schema had at an earlier migration, which today's
/// entities, with every column added since, would not fit.
pub async fn execute_sql(
    db: &DatabaseConnection,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) {
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    db.execute_raw(statement)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}
