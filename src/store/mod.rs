//! Data access: small functions over SeaORM, free of authorization and domain rules.

pub mod bulk;
mod counts;
pub mod events;
pub mod idempotency;
mod messages;
mod search;
mod server_keys;
mod tags;
mod tickets;
pub mod webhook_deliveries;
pub mod webhooks;

pub use counts::{count_tickets, rebuild_counts};
pub use events::{Change, EventStream, NewEvent, event_model, record_events};
pub use messages::{NewMessage, insert_message_with_events, messages_by_ids, messages_of_tickets};
pub use search::{index_new_ticket, rebuild_search};
pub use server_keys::shared_secret;
pub use tags::{tags_of, tags_of_tickets};
pub use tickets::{
    Direction, NewTicket, TagChanges, TicketFilter, count_new_ticket, find_ticket,
    find_ticket_with_messages, find_tickets, insert_ticket, list_tickets, list_window, lock_ticket,
    save_ticket, save_ticket_with_message,
};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

/// Starts a transaction that writes. On SQLite it takes the write lock at `BEGIN`, so
/// concurrent writers queue on the busy timeout instead of failing when a read inside
/// the transaction would have to be upgraded to a write.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Starts a transaction that writes the whole table over (bulk loads): on PostgreSQL
/// without the statement timeout set for requests, which one statement over a million
/// tickets runs past.
async fn begin_bulk_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL statement_timeout = 0")
            .await?;
    }
    Ok(txn)
}

/// Commits a write. The operation's time budget no longer applies from here: once the
/// commit is under way, its outcome is what the client must be told.
pub async fn commit(txn: DatabaseTransaction) -> Result<(), DbErr> {
    crate::budget::note_commit_started();
    txn.commit().await
}
