//! Opening the database and bringing its schema up to date.
//!
//! The pool connects lazily: the server starts, and answers, while the database is
//! unreachable, and a request then fails once it has waited the acquire timeout for a
//! connection. Pooled connections that sat idle are checked before use, and a connection
//! whose query failed on a broken link is closed, so connections broken by a database
//! restart or a network cut are replaced by themselves.

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{ConnectOptions as _, Connection as _, Database as SqlxDatabase};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr,
    SqlxPostgresConnector, SqlxSqliteConnector,
};

use crate::config::DatabaseConfig;

/// A pooled connection idle for this long is checked before it is used again.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// How long an SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The first and the longest pause between two attempts at migrating a database that
/// cannot be reached yet.
const MIGRATION_RETRY_FIRST: Duration = Duration::from_millis(250);
const MIGRATION_RETRY_MAX: Duration = Duration::from_secs(5);

/// The PostgreSQL advisory lock that migrating servers take in turn ("supportd" in
/// ASCII), so that no two apply the same migration. Holding it holds migrations back.
pub const MIGRATION_LOCK_KEY: i64 = 0x7375_7070_6f72_7464;

/// A pool over the database `config` names. It opens no connection yet, so it succeeds
/// while the database is down; only a URL that cannot be understood is an error.
///
/// The pools are built with SQLx directly: SeaORM's `Database::connect` queries the
/// SQLite version before returning, even for a lazy pool, and so would fail at start
/// when the SQLite file cannot be opened yet.
pub fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let url = config.url.as_str();
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connection_error)?
            // Readers and writers side by side, waiting (not failing) on each other,
            // with the foreign keys SQLite leaves off by default.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true)
            .disable_statement_logging();
        let pool = if sqlite_storage(url) == Some(SqliteStorage::Memory) {
            // Each connection to an in-memory SQLite database sees a database of its
            // own: keep exactly one, for the life of the process.
            pool_options(config)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool_options(config)
        }
        .connect_lazy_with(options);
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let options = PgConnectOptions::from_str(url)
            .map_err(connection_error)?
            // Set on every connection the pool opens, so that no query can hold a
            // connection (and the locks it took) for longer. Zero means no limit.
            .options([(
                "statement_timeout",
                config.statement_timeout.as_millis().to_string(),
            )])
            .disable_statement_logging();
        let pool = pool_options(config).connect_lazy_with(options);
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    } else {
        Err(DbErr::Conn(RuntimeErr::Internal(
            "DATABASE_URL must start with sqlite:// or postgres://".to_owned(),
        )))
    }
}

/// Where an SQLite database keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteStorage {
    /// A file on disk, as the URL names it (relative to the working directory or not).
    File(PathBuf),
    /// In memory, gone with the process.
    Memory,
}

/// Where the SQLite database `url` names lives; `None` when `url` is not an SQLite URL
/// that SQLx understands. The URL is read by SQLx's own parser, the one [`connect`] uses,
/// so the path is the very file the pool opens (prefixes, percent-decoding and all).
pub fn sqlite_storage(url: &str) -> Option<SqliteStorage> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    // SQLx keeps whether the database is in memory to itself; these are its two ways.
    let stripped = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (database, parameters) = stripped.split_once('?').unwrap_or((stripped, ""));
    let memory_mode = reqwest::Url::parse(&format!("sqlite:?{parameters}")).is_ok_and(|parsed| {
        parsed
            .query_pairs()
            .any(|(key, value)| key == "mode" && value == "memory")
    });
    let in_memory = database == ":memory:" || memory_mode;
    let path = options.get_filename();
    // SQLite opens an empty file name as a private temporary database.
    if in_memory || path.as_os_str().is_empty() {
        Some(SqliteStorage::Memory)
    } else {
        Some(SqliteStorage::File(path.to_owned()))
    }
}

/// `url` fit for an error message or a log line: the password (in the user part or a
/// `password` parameter) replaced by `***`. A URL that does not parse is not shown at
/// all, since where its password would be cannot be told.
pub fn redacted_url(url: &str) -> Cow<'_, str> {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return Cow::Borrowed("(a URL that does not parse)");
    };
    let password_parameter = parsed
        .query_pairs()
        .any(|(key, _)| key.eq_ignore_ascii_case("password"));
    if parsed.password().is_none() && !password_parameter {
        return Cow::Borrowed(url);
    }
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return Cow::Borrowed("(a URL that does not parse)");
    }
    if password_parameter {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Cow::Owned(parsed.to_string())
}

fn pool_options<DB: SqlxDatabase>(config: &DatabaseConfig) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // A connection the database or the network dropped while it sat idle is
        // noticed here and replaced, instead of failing the next request. One in
        // constant use is not pinged: that would double the round trips under load,
        // and a broken one fails its query and is closed by the pool.
        .test_before_acquire(false)
        .before_acquire(|connection: &mut DB::Connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

fn connection_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(error)))
}

/// Connects and applies pending migrations, once: for `supportdesk migrate`.
pub async fn connect_and_migrate(config: &DatabaseConfig) -> Result<DatabaseConnection, DbErr> {
    let db = connect(config)?;
    migrate(&db).await?;
    Ok(db)
}

/// Applies the pending migrations one at a time, each in a transaction of its own with
/// its row in `seaql_migrations`: a migration that fails halfway leaves nothing behind,
/// and the next attempt starts it afresh. sea-orm-migration wraps a migration in a
/// transaction on PostgreSQL only, and reads what is pending outside of it, so two
/// servers starting together would both apply the same one.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let mut busy_retries = 0;
    loop {
        match apply_next_migration(db).await {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) if busy_retries < SQLITE_BUSY_RETRIES && is_sqlite_busy(db, &error) => {
                busy_retries += 1;
                tokio::time::sleep(MIGRATION_RETRY_FIRST).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// How often a migration step is tried again after SQLite answered "database is locked"
/// at once. Two processes opening a fresh SQLite file together race to switch it to WAL,
/// and the loser can get that answer without SQLite waiting out the busy timeout
/// (seen in about one start in twenty); once the file is in WAL, it does wait.
const SQLITE_BUSY_RETRIES: u32 = 3;

fn is_sqlite_busy(db: &DatabaseConnection, error: &DbErr) -> bool {
    if db.get_database_backend() != DbBackend::Sqlite {
        return false;
    }
    let (DbErr::Conn(RuntimeErr::SqlxError(sqlx_error))
    | DbErr::Exec(RuntimeErr::SqlxError(sqlx_error))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_error))) = error
    else {
        return false;
    };
    matches!(
        sqlx_error.as_database_error().and_then(|database| database.code()),
        // SQLITE_BUSY
        Some(code) if code == "5"
    )
}

/// Applies the first pending migration, if there is one, and tells whether there was.
/// What is pending is read under the migration lock, so a migration another server
/// applied meanwhile is seen as applied.
async fn apply_next_migration(db: &DatabaseConnection) -> Result<bool, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    take_migration_lock(&txn).await?;
    let pending = !Migrator::get_pending_migrations(&txn).await?.is_empty();
    if pending {
        Migrator::up(&txn, Some(1)).await?;
    }
    txn.commit().await?;
    Ok(pending)
}

/// Serializes migrating servers until `txn` ends. On SQLite the write lock that
/// [`crate::store::begin_write`] took at `BEGIN` already does. On PostgreSQL an advisory
/// lock does, and the statement timeout is lifted: a migration may rewrite a large
/// table, and the lock may have to wait for another server's.
async fn take_migration_lock(txn: &DatabaseTransaction) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await?;
    let lock = format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})");
    txn.execute_unprepared(&lock).await?;
    Ok(())
}

/// Whether the migrations have been applied since the server started. Until then the
/// server is not ready.
#[derive(Clone, Debug, Default)]
pub struct SchemaState(Arc<AtomicBool>);

impl SchemaState {
    pub fn is_current(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn mark_current(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Applies pending migrations, retrying with a growing pause until the database can be
/// reached, then marks the schema current.
pub async fn migrate_when_reachable(db: DatabaseConnection, schema: SchemaState) {
    let mut pause = MIGRATION_RETRY_FIRST;
    loop {
        match migrate(&db).await {
            Ok(()) => {
                schema.mark_current();
                tracing::info!("the database schema is up to date");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?pause, "cannot migrate the database yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MIGRATION_RETRY_MAX);
            }
        }
    }
}

/// The most connections the pool opens.
pub fn pool_capacity(db: &DatabaseConnection) -> usize {
    let capacity = match db.get_database_backend() {
        DbBackend::Sqlite => db
            .get_sqlite_connection_pool()
            .options()
            .get_max_connections(),
        DbBackend::Postgres => db
            .get_postgres_connection_pool()
            .options()
            .get_max_connections(),
        _ => 1,
    };
    usize::try_from(capacity).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::any;

    use super::*;

    fn file(path: &str) -> Option<SqliteStorage> {
        Some(SqliteStorage::File(PathBuf::from(path)))
    }

    #[test]
    fn a_relative_sqlite_url_names_its_file() {
        assert_eq!(
            sqlite_storage("sqlite://supportdesk.db?mode=rwc"),
            file("supportdesk.db")
        );
    }

    #[test]
    fn an_absolute_sqlite_url_names_its_file() {
        assert_eq!(
            sqlite_storage("sqlite:///var/lib/supportdesk/data.db?mode=rwc"),
            file("/var/lib/supportdesk/data.db")
        );
    }

    #[test]
    fn a_sqlite_url_without_slashes_names_its_file() {
        assert_eq!(sqlite_storage("sqlite:data/app.db"), file("data/app.db"));
    }

    #[test]
    fn a_percent_encoded_sqlite_path_is_decoded() {
        assert_eq!(sqlite_storage("sqlite://my%20data.db"), file("my data.db"));
    }

    #[test]
    fn in_memory_sqlite_urls_have_no_file() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
            "sqlite://app.db?mode=memory&cache=shared",
            "sqlite://",
        ] {
            assert_eq!(sqlite_storage(url), Some(SqliteStorage::Memory), "{url}");
        }
    }

    #[test]
    fn other_urls_are_not_sqlite() {
        assert_eq!(sqlite_storage("postgres://u@localhost/db"), None);
        assert_eq!(sqlite_storage("sqlite://app.db?mode=nonsense"), None);
    }

    #[test]
    fn a_password_in_the_user_part_is_redacted() {
        let redacted = redacted_url("postgres://app:hunter2@db.internal:5432/support");
        assert_eq!(redacted, "postgres://app:***@db.internal:5432/support");
    }

    #[test]
    fn a_password_parameter_is_redacted() {
        let redacted = redacted_url("postgres://app@db/support?password=hunter2&sslmode=off");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(redacted.contains("sslmode=off"), "{redacted}");
    }

    #[test]
    fn a_url_without_a_password_is_shown_as_it_is() {
        assert_eq!(
            redacted_url("sqlite://supportdesk.db?mode=rwc"),
            "sqlite://supportdesk.db?mode=rwc"
        );
    }

    #[test]
    fn a_url_that_does_not_parse_is_not_shown() {
        assert!(!redacted_url("postgres://app:hun ter2@[bad/db").contains("hun"));
    }

    proptest::proptest! {
        /// Whatever the URL, reading it answers; it never panics.
        #[test]
        fn any_url_is_read_without_panicking(rest in any::<String>()) {
            let url = format!("sqlite:{rest}");
            let _ = sqlite_storage(&url);
            let _ = redacted_url(&url);
        }
    }
}
