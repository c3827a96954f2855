//! Migrations are atomic: each one commits with its row in `seaql_migrations` or not at
//! all, and servers starting together over one database apply each one once. Until the
//! schema is current, `/graphql` answers 503.

use std::time::Duration;

use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement};
use serde_json::json;
use supportdesk::config::DatabaseConfig;

use crate::helpers::{Reply, TestDatabase, spawn_app_over};

/// How long a server may take to migrate once nothing holds it back.
const MIGRATED_WITHIN: Duration = Duration::from_secs(10);

const CREATE_TICKETS: &str = "m20261126_000001_create_tickets";

/// The versions recorded in `seaql_migrations`, oldest first.
async fn applied_versions(db: &DatabaseConnection) -> Vec<String> {
    let statement = Statement::from_string(
        db.get_database_backend(),
        "SELECT version FROM seaql_migrations ORDER BY version",
    );
    db.query_all_raw(statement)
        .await
        .expect("the applied migrations are read")
        .iter()
        .map(|row| row.try_get::<String>("", "version").expect("a version"))
        .collect()
}

async fn has_table(db: &DatabaseConnection, table: &str) -> bool {
    SchemaManager::new(db)
        .has_table(table)
        .await
        .expect("the schema is read")
}

/// Every migration the server knows, by name.
fn all_versions() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

#[tokio::test]
async fn a_migration_that_fails_midway_leaves_no_trace() {
    let database = TestDatabase::create().await;
    let db = supportdesk::db::connect(&DatabaseConfig::new(database.url.clone())).expect("a pool");
    // Index names are global on both databases: the second migration creates its table,
    // then fails on the index it cannot name.
    db.execute_unprepared("CREATE TABLE decoy (x INTEGER)")
        .await
        .expect("a decoy table");
    db.execute_unprepared("CREATE INDEX idx_ticket_messages_ticket_created ON decoy (x)")
        .await
        .expect("a conflicting index");

    let migrated = supportdesk::db::migrate(&db).await;

    assert!(migrated.is_err(), "the second migration fails");
    assert!(!has_table(&db, "ticket_messages").await);
    assert_eq!(applied_versions(&db).await, [CREATE_TICKETS]);
    assert!(has_table(&db, "tickets").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_migrating_one_fresh_database_at_once_both_succeed() {
    let database = TestDatabase::create().await;
    let config = DatabaseConfig::new(database.url.clone());

    let (first, second) = tokio::join!(
        supportdesk::db::connect_and_migrate(&config),
        supportdesk::db::connect_and_migrate(&config),
    );

    let first = first.expect("the first server migrates");
    second.expect("the second server migrates");
    assert_eq!(applied_versions(&first).await, all_versions());
}

/// What holds every server's migrations back while the test keeps it: SQLite's write
/// lock, or PostgreSQL's migration lock.
struct MigrationLock {
    _db: DatabaseConnection,
    txn: DatabaseTransaction,
}

async fn hold_migration_lock(database_url: &str) -> MigrationLock {
    let db =
        supportdesk::db::connect(&DatabaseConfig::new(database_url.to_owned())).expect("a pool");
    let txn = supportdesk::store::begin_write(&db)
        .await
        .expect("the write lock");
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            supportdesk::db::MIGRATION_LOCK_KEY
        ))
        .await
        .expect("the migration lock");
    }
    MigrationLock { _db: db, txn }
}

/// Exactly the refusal of a server whose schema is not migrated yet.
fn assert_schema_not_ready(reply: &Reply) {
    assert_eq!(reply.status, 503, "{:#}", reply.body);
    assert_eq!(reply.headers["retry-after"], "1");
    assert_eq!(
        reply.body,
        json!({ "errors": [{
            "message": "The database schema is not ready yet; retry shortly",
            "extensions": { "code": "SERVICE_UNAVAILABLE" },
        }] })
    );
}

#[tokio::test]
async fn graphql_answers_503_with_retry_after_until_the_schema_is_migrated() {
    let database = TestDatabase::create().await;
    let lock = hold_migration_lock(&database.url).await;
    let app = spawn_app_over(database, |_| {}).await;
    let alice = app.customer("alice");

    assert_schema_not_ready(&app.me(&alice.token).await);

    lock.txn.rollback().await.expect("the lock is released");
    assert!(app.becomes_ready_within(MIGRATED_WITHIN).await);
    let reply = app.me(&alice.token).await.expect_ok();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_graphql_get_answers_503_until_the_schema_is_migrated() {
    let database = TestDatabase::create().await;
    let _lock = hold_migration_lock(&database.url).await;
    let app = spawn_app_over(database, |_| {}).await;
    let alice = app.customer("alice");

    assert_schema_not_ready(&app.get_graphql(&alice, "{ me { id } }").await);
}
