//! Bulk loading for `supportdesk seed`: many rows per statement, counts rebuilt after.

use entity::prelude::{Ticket, TicketEvent, TicketMessage};
use entity::{ticket, ticket_event, ticket_message};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Iterable};

/// Bound parameters per statement: below SQLite's limit (32,766) and PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;

/// How many rows of `E` one statement binds: its columns counted from the entity, so
/// that a new column can never push a statement past the limit.
fn rows_per_statement<E: EntityTrait>() -> usize {
    MAX_PARAMETERS / E::Column::iter().count().max(1)
}

/// Inserts the tickets, many per statement. Their counts are not kept: call
/// [`super::rebuild_counts`] when the load is done.
pub async fn insert_tickets(
    db: &impl ConnectionTrait,
    tickets: Vec<ticket::Model>,
) -> Result<(), DbErr> {
    for chunk in tickets.chunks(rows_per_statement::<Ticket>()) {
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
    for chunk in messages.chunks(rows_per_statement::<TicketMessage>()) {
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
    for chunk in events.chunks(rows_per_statement::<TicketEvent>()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_binds_no_more_parameters_than_the_limit() {
        let tickets = rows_per_statement::<Ticket>() * ticket::Column::iter().count();
        let events = rows_per_statement::<TicketEvent>() * ticket_event::Column::iter().count();
        assert!(tickets <= MAX_PARAMETERS && tickets > MAX_PARAMETERS - 20);
        assert!(events <= MAX_PARAMETERS && events > MAX_PARAMETERS - 20);
    }
}
