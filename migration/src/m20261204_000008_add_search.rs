//! Full-text search over a ticket's subject and messages, maintained in the transaction
//! of each write so that what a mutation answered is searchable at once.
//!
//! PostgreSQL: two `tsvector` columns per ticket (English stemming), each behind a GIN
//! index: `public_search` (the subject and the public messages: what a customer may
//! find) and `staff_search` (the subject and every message, internal notes included).
//! SQLite: one FTS5 row per ticket (the porter tokenizer) with the subject, the public
//! messages and the internal notes in columns of their own, and a table from a ticket
//! to its row there, so that a new message updates one row by its rowid.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every ticket indexed again from its subject and messages.
const POSTGRES_FILL: &str = "UPDATE tickets t SET
        public_search = to_tsvector('english', t.subject) || COALESCE((
            SELECT to_tsvector('english', string_agg(m.body, ' ' ORDER BY m.created_at, m.id))
            FROM ticket_messages m WHERE m.ticket_id = t.id AND NOT m.internal), ''::tsvector),
        staff_search = to_tsvector('english', t.subject) || COALESCE((
            SELECT to_tsvector('english', string_agg(m.body, ' ' ORDER BY m.created_at, m.id))
            FROM ticket_messages m WHERE m.ticket_id = t.id), ''::tsvector)";

const POSTGRES_UP: [&str; 5] = [
    "ALTER TABLE tickets ADD COLUMN public_search tsvector NOT NULL DEFAULT ''::tsvector",
    "ALTER TABLE tickets ADD COLUMN staff_search tsvector NOT NULL DEFAULT ''::tsvector",
    POSTGRES_FILL,
    "CREATE INDEX idx_tickets_public_search ON tickets USING GIN (public_search)",
    "CREATE INDEX idx_tickets_staff_search ON tickets USING GIN (staff_search)",
];

const POSTGRES_DOWN: [&str; 2] = [
    "ALTER TABLE tickets DROP COLUMN public_search",
    "ALTER TABLE tickets DROP COLUMN staff_search",
];

const SQLITE_TABLES: [&str; 2] = [
    "CREATE VIRTUAL TABLE ticket_search USING fts5(
        subject, public_text, staff_text, tokenize = 'porter unicode61')",
    "CREATE TABLE ticket_search_rows (
        ticket_id uuid_text NOT NULL PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
        search_row integer NOT NULL UNIQUE)",
];

/// Every ticket indexed again from its subject and messages.
const SQLITE_FILL: [&str; 4] = [
    "DELETE FROM ticket_search",
    "DELETE FROM ticket_search_rows",
    "INSERT INTO ticket_search_rows (ticket_id, search_row)
        SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) FROM tickets",
    "INSERT INTO ticket_search (rowid, subject, public_text, staff_text)
        SELECT r.search_row, t.subject,
            COALESCE((SELECT group_concat(m.body, ' ') FROM ticket_messages m
                WHERE m.ticket_id = t.id AND m.internal = 0), ''),
            COALESCE((SELECT group_concat(m.body, ' ') FROM ticket_messages m
                WHERE m.ticket_id = t.id AND m.internal = 1), '')
        FROM tickets t JOIN ticket_search_rows r ON r.ticket_id = t.id",
];

/// What indexes every ticket again, after rows were written around the index (bulk
/// loads): one statement after another, in one transaction.
pub fn search_rebuild(backend: DbBackend) -> &'static [&'static str] {
    match backend {
        DbBackend::Postgres => std::slice::from_ref(&POSTGRES_FILL),
        _ => &SQLITE_FILL,
    }
}

const SQLITE_DOWN: [&str; 2] = ["DROP TABLE ticket_search_rows", "DROP TABLE ticket_search"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, &POSTGRES_UP).await,
            _ => {
                run(manager, &SQLITE_TABLES).await?;
                run(manager, &SQLITE_FILL).await
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &POSTGRES_DOWN,
            _ => &SQLITE_DOWN,
        };
        run(manager, statements).await
    }
}

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
