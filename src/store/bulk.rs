//! Bulk loading for `supportdesk seed`: many rows per statement, counts rebuilt after.

use entity::prelude::{Ticket, TicketEvent, TicketMessage};
use entity::{ticket, ticket_event, ticket_message};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel};

/// Bound parameters per statement: below SQLite's limit (32,766) and PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;
const TICKET_COLUMNS: usize = 6;
const MESSAGE_COLUMNS: usize = 7;
const EVENT_COLUMNS: usize = 12;

/// Inserts the tickets, many per statement. Their counts are not kept: call
/// [`super::rebuild_counts`] when the load is done.
pub async fn insert_tickets(
    db: &impl ConnectionTrait,
    tickets: Vec<ticket::Model>,
) -> Result<(), DbErr> {
    for chunk in tickets.chunks(MAX_PARAMETERS / TICKET_COLUMNS) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        Ticket::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

pub async fn insert_messages(
    db: &impl ConnectionTrait,
    messages: Vec<ticket_message::Model>,
) -> Result<(), DbErr> {
    for chunk in messages.chunks(MAX_PARAMETERS / MESSAGE_COLUMNS) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        TicketMessage::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Inserts events of the past, many per statement: their ids are made by the caller,
/// outside the order [`super::record_events`] keeps for live ones.
pub async fn insert_events(
    db: &impl ConnectionTrait,
    events: Vec<ticket_event::Model>,
) -> Result<(), DbErr> {
    for chunk in events.chunks(MAX_PARAMETERS / EVENT_COLUMNS) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        TicketEvent::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Refreshes the planner's statistics after a load.
pub async fn analyze(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}
