//! Bulk loading for `supportdesk seed`: many rows per statement, counts rebuilt after.

use entity::prelude::{Ticket, TicketEvent, TicketMessage, TicketTag};
use entity::{ticket, ticket_event, ticket_message, ticket_tag};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Iterable};

/// Bound parameters per statement: below SQLite's limit (32,766) and PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;

/// How many rows of `E` one statement binds: its columns counted from the entity, so
/// that a new column can never push a statement past the limit.
fn rows_per_statement<E: EntityTrait>() -> usize {
    MAX_PARAMETERS / E::Column::iter().count().max(1)
}

/// Inserts `models`, many per statement.
async fn insert_all<E>(db: &impl ConnectionTrait, models: Vec<E::Model>) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: Clone + IntoActiveModel<E::ActiveModel>,
{
    for chunk in models.chunks(rows_per_statement::<E>()) {
        let rows = chunk
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        E::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Inserts the tickets, many per statement. Their counts are not kept: call
/// [`super::rebuild_counts`] when the load is done.
pub async fn insert_tickets(
    db: &impl ConnectionTrait,
    tickets: Vec<ticket::Model>,
) -> Result<(), DbErr> {
    insert_all::<Ticket>(db, tickets).await
}

pub async fn insert_messages(
    db: &impl ConnectionTrait,
    messages: Vec<ticket_message::Model>,
) -> Result<(), DbErr> {
    insert_all::<TicketMessage>(db, messages).await
}

/// Inserts events of the past, many per statement: their ids are made by the caller,
/// outside the order [`super::record_events`] keeps for live ones.
pub async fn insert_events(
    db: &impl ConnectionTrait,
    events: Vec<ticket_event::Model>,
) -> Result<(), DbErr> {
    insert_all::<TicketEvent>(db, events).await
}

/// Inserts tags of tickets already inserted, many per statement; each (ticket, tag) once.
pub async fn insert_tags(
    db: &impl ConnectionTrait,
    tags: Vec<ticket_tag::Model>,
) -> Result<(), DbErr> {
    insert_all::<TicketTag>(db, tags).await
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
        let tags = rows_per_statement::<TicketTag>() * ticket_tag::Column::iter().count();
        for bound in [tickets, events, tags] {
            assert!(bound <= MAX_PARAMETERS && bound > MAX_PARAMETERS - 20);
        }
    }
}
