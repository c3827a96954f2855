//! Migrations are atomic: each one commits with its row in `seaql_migrations` or not at
//! all, and servers starting together over one database apply each one once. Until the
//! schema is current, `/graphql` answers 503. Triage (migration 5) fills what the old
//! rows already tell, and can be undone and done again; so can the webhooks' tables.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use entity::prelude::{Ticket, TicketPriority, TicketQueueCount, TicketTag, TicketTagCount};
use entity::ticket;
use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    Statement,
};
use serde_json::json;
use supportdesk::config::DatabaseConfig;
use uuid::Uuid;

use crate::helpers::{Reply, TestDatabase, execute_sql, spawn_app_over};

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

/// A fresh database migrated to the step before triage (4): fixtures go in with SQL of
/// that schema's shape, which today's entities, with triage's columns, would not fit.
/// The migrations that come before triage's.
const BEFORE_TRIAGE: u32 = 4;

async fn database_before_triage() -> (TestDatabase, DatabaseConnection) {
    database_migrated_to(BEFORE_TRIAGE).await
}

/// A fresh database with the first `steps` migrations applied.
async fn database_migrated_to(steps: u32) -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::create().await;
    let db = supportdesk::db::connect(&DatabaseConfig::new(database.url.clone())).expect("a pool");
    Migrator::up(&db, Some(steps))
        .await
        .expect("the earlier migrations");
    (database, db)
}

/// Undoes every migration after the first `steps`.
async fn undo_after(db: &DatabaseConnection, steps: u32) {
    let after = u32::try_from(Migrator::migrations().len()).expect("a count") - steps;
    Migrator::down(db, Some(after))
        .await
        .expect("the later migrations are undone");
}

const INSERT_TICKET_BEFORE_TRIAGE: &str = "INSERT INTO tickets
    (id, user_id, subject, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_MESSAGE_BEFORE_TRIAGE: &str = "INSERT INTO ticket_messages
    (id, ticket_id, author_id, author_role, body, internal, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
const INSERT_STATUS_CHANGE_BEFORE_TRIAGE: &str = "INSERT INTO ticket_events
    (id, ticket_id, owner_id, kind, actor_id, actor_role, created_at, message_id, internal,
     from_status, to_status, status_after)
    VALUES ($1, $2, 'alice', 'STATUS_CHANGED', 'root', 'ADMIN', $3, NULL, FALSE, $4, $5, $5)";

/// A ticket of alice's, `status` now, opened a day before `updated_at`.
async fn ticket_before_triage(
    db: &DatabaseConnection,
    status: &str,
    updated_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    let created_at = updated_at - chrono::Duration::days(1);
    execute_sql(
        db,
        INSERT_TICKET_BEFORE_TRIAGE,
        [
            id.into(),
            "alice".into(),
            "Before triage".into(),
            status.into(),
            created_at.into(),
            updated_at.into(),
        ],
    )
    .await;
    id
}

async fn message_before_triage(
    db: &DatabaseConnection,
    ticket: Uuid,
    (author_id, author_role): (&str, &str),
    internal: bool,
    at: DateTime<Utc>,
) {
    execute_sql(
        db,
        INSERT_MESSAGE_BEFORE_TRIAGE,
        [
            Uuid::now_v7().into(),
            ticket.into(),
            author_id.into(),
            author_role.into(),
            "Written before triage".into(),
            internal.into(),
            at.into(),
        ],
    )
    .await;
}

const ALICE: (&str, &str) = ("alice", "CUSTOMER");
const ROOT: (&str, &str) = ("root", "ADMIN");

fn instant(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, hour, minute, 0)
        .single()
        .expect("an instant")
}

/// The tickets of the triage migration's fixtures, and the instants it must find.
struct BeforeTriage {
    resolved_with_event: Uuid,
    resolved_at_event: DateTime<Utc>,
    closed_without_event: Uuid,
    closed_updated_at: DateTime<Utc>,
    answered: Uuid,
    first_public_answer: DateTime<Utc>,
    unanswered: Uuid,
}

async fn write_tickets_before_triage(db: &DatabaseConnection) -> BeforeTriage {
    let resolved_at_event = instant(12, 0);
    let resolved_with_event = ticket_before_triage(db, "RESOLVED", instant(13, 0)).await;
    execute_sql(
        db,
        INSERT_STATUS_CHANGE_BEFORE_TRIAGE,
        [
            Uuid::now_v7().into(),
            resolved_with_event.into(),
            resolved_at_event.into(),
            "OPEN".into(),
            "RESOLVED".into(),
        ],
    )
    .await;

    let closed_updated_at = instant(14, 30);
    let closed_without_event = ticket_before_triage(db, "CLOSED", closed_updated_at).await;

    let first_public_answer = instant(9, 9);
    let answered = ticket_before_triage(db, "OPEN", instant(10, 0)).await;
    message_before_triage(db, answered, ALICE, false, instant(9, 0)).await;
    message_before_triage(db, answered, ROOT, true, instant(9, 5)).await;
    message_before_triage(db, answered, ROOT, false, first_public_answer).await;
    message_before_triage(db, answered, ROOT, false, instant(9, 30)).await;

    let unanswered = ticket_before_triage(db, "OPEN", instant(11, 0)).await;
    message_before_triage(db, unanswered, ALICE, false, instant(10, 0)).await;
    message_before_triage(db, unanswered, ALICE, false, instant(10, 30)).await;

    BeforeTriage {
        resolved_with_event,
        resolved_at_event,
        closed_without_event,
        closed_updated_at,
        answered,
        first_public_answer,
        unanswered,
    }
}

async fn triaged(db: &DatabaseConnection, id: Uuid) -> ticket::Model {
    Ticket::find_by_id(id)
        .one(db)
        .await
        .expect("the ticket is read")
        .expect("the ticket is kept")
}

/// What the triage migration must have made of the fixtures.
async fn assert_triage_filled(db: &DatabaseConnection, before: &BeforeTriage) {
    let resolved = triaged(db, before.resolved_with_event).await;
    assert_eq!(resolved.resolved_at, Some(before.resolved_at_event));
    assert_eq!(resolved.first_responded_at, None);
    let closed = triaged(db, before.closed_without_event).await;
    assert_eq!(closed.resolved_at, Some(before.closed_updated_at));
    let answered = triaged(db, before.answered).await;
    assert_eq!(
        answered.first_responded_at,
        Some(before.first_public_answer)
    );
    assert_eq!(answered.resolved_at, None);
    let unanswered = triaged(db, before.unanswered).await;
    assert_eq!(unanswered.first_responded_at, None);
    assert_eq!(unanswered.resolved_at, None);

    let tickets = Ticket::find().all(db).await.expect("the tickets");
    assert_eq!(tickets.len(), 4);
    for ticket in &tickets {
        assert_eq!(ticket.priority, TicketPriority::Normal, "{ticket:?}");
        assert_eq!(ticket.assignee_id, None, "{ticket:?}");
    }
    let tags = TicketTag::find().all(db).await.expect("the tags");
    assert!(tags.is_empty(), "{tags:?}");
}

#[tokio::test]
async fn triage_makes_old_tickets_normal_unassigned_untagged_with_response_times_from_history() {
    let (_database, db) = database_before_triage().await;
    let before = write_tickets_before_triage(&db).await;

    Migrator::up(&db, None).await.expect("the triage migration");

    assert_triage_filled(&db, &before).await;
}

#[tokio::test]
async fn triage_undone_and_done_again_fills_the_same_response_times() {
    let (_database, db) = database_before_triage().await;
    let before = write_tickets_before_triage(&db).await;
    Migrator::up(&db, None).await.expect("the triage migration");

    // Triage and every migration after it.
    undo_after(&db, BEFORE_TRIAGE).await;
    assert!(!has_table(&db, "ticket_tags").await);
    Migrator::up(&db, None)
        .await
        .expect("the triage migration again");

    assert_eq!(applied_versions(&db).await, all_versions());
    assert_triage_filled(&db, &before).await;
}

/// The migrations that come before the queue and tag counts'.
const BEFORE_QUEUE_COUNTS: u32 = 9;

const INSERT_TICKET_BEFORE_QUEUE_COUNTS: &str = "INSERT INTO tickets
    (id, user_id, subject, status, created_at, updated_at, priority, assignee_id)
    VALUES ($1, 'alice', 'Before the counts', $2, $3, $3, $4, $5)";
const INSERT_TAG_BEFORE_QUEUE_COUNTS: &str =
    "INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)";

/// Tickets in several queues, some tagged, written in SQL before the counts existed.
async fn write_tickets_before_queue_counts(db: &DatabaseConnection) {
    let tickets: [(&str, i16, Option<&str>, &[&str]); 5] = [
        ("OPEN", 3, None, &["billing", "vip"]),
        ("OPEN", 3, None, &["billing"]),
        ("OPEN", 1, Some("agent-1"), &[]),
        ("CLOSED", 0, Some("agent-1"), &["billing"]),
        ("IN_PROGRESS", 2, Some("agent-2"), &["refund"]),
    ];
    for (status, priority, assignee, tags) in tickets {
        let id = Uuid::now_v7();
        execute_sql(
            db,
            INSERT_TICKET_BEFORE_QUEUE_COUNTS,
            [
                id.into(),
                status.into(),
                instant(9, 0).into(),
                priority.into(),
                assignee.map(str::to_owned).into(),
            ],
        )
        .await;
        for tag in tags {
            execute_sql(
                db,
                INSERT_TAG_BEFORE_QUEUE_COUNTS,
                [id.into(), (*tag).into()],
            )
            .await;
        }
    }
}

/// What the queue and tag counts must hold of those tickets: unassigned ones under `''`.
async fn assert_queue_and_tag_counts_filled(db: &DatabaseConnection) {
    let mut queues: Vec<(String, i16, String, i64)> = TicketQueueCount::find()
        .all(db)
        .await
        .expect("the queue counts")
        .into_iter()
        .map(|row| {
            let status = row.status.to_value();
            (status, row.priority.to_value(), row.assignee_id, row.count)
        })
        .collect();
    queues.sort();
    let queue = |status: &str, priority: i16, assignee: &str, count: i64| {
        (status.to_owned(), priority, assignee.to_owned(), count)
    };
    assert_eq!(
        queues,
        [
            queue("CLOSED", 0, "agent-1", 1),
            queue("IN_PROGRESS", 2, "agent-2", 1),
            queue("OPEN", 1, "agent-1", 1),
            queue("OPEN", 3, "", 2),
        ]
    );
    let mut tags: Vec<(String, String, i64)> = TicketTagCount::find()
        .all(db)
        .await
        .expect("the tag counts")
        .into_iter()
        .map(|row| (row.tag, row.status.to_value(), row.count))
        .collect();
    tags.sort();
    let tag = |tag: &str, status: &str, count: i64| (tag.to_owned(), status.to_owned(), count);
    assert_eq!(
        tags,
        [
            tag("billing", "CLOSED", 1),
            tag("billing", "OPEN", 2),
            tag("refund", "IN_PROGRESS", 1),
            tag("vip", "OPEN", 1),
        ]
    );
}

#[tokio::test]
async fn queue_and_tag_counts_count_the_tickets_written_before_them() {
    let (_database, db) = database_migrated_to(BEFORE_QUEUE_COUNTS).await;
    write_tickets_before_queue_counts(&db).await;

    Migrator::up(&db, None)
        .await
        .expect("the queue and tag counts' migration");

    assert_queue_and_tag_counts_filled(&db).await;
}

#[tokio::test]
async fn queue_and_tag_counts_undone_and_done_again_count_the_same() {
    let (_database, db) = database_migrated_to(BEFORE_QUEUE_COUNTS).await;
    write_tickets_before_queue_counts(&db).await;
    Migrator::up(&db, None)
        .await
        .expect("the queue and tag counts' migration");

    undo_after(&db, BEFORE_QUEUE_COUNTS).await;
    assert!(!has_table(&db, "ticket_queue_counts").await);
    assert!(!has_table(&db, "ticket_tag_counts").await);
    Migrator::up(&db, None)
        .await
        .expect("the queue and tag counts' migration again");

    assert_eq!(applied_versions(&db).await, all_versions());
    assert_queue_and_tag_counts_filled(&db).await;
}

/// The migrations that come before the webhooks'.
const BEFORE_WEBHOOKS: u32 = 10;

const WEBHOOK_TABLES: [&str; 5] = [
    "webhooks",
    "webhook_deliveries",
    "webhook_attempts",
    "webhook_payloads",
    "webhook_dispatch",
];

#[tokio::test]
async fn webhooks_undone_and_done_again_leave_their_tables_as_before() {
    let (_database, db) = database_migrated_to(BEFORE_WEBHOOKS).await;
    Migrator::up(&db, None)
        .await
        .expect("the webhooks' migration");

    undo_after(&db, BEFORE_WEBHOOKS).await;
    for table in WEBHOOK_TABLES {
        assert!(!has_table(&db, table).await, "{table}");
    }
    Migrator::up(&db, None)
        .await
        .expect("the webhooks' migration again");

    assert_eq!(applied_versions(&db).await, all_versions());
    for table in WEBHOOK_TABLES {
        assert!(has_table(&db, table).await, "{table}");
    }
}
