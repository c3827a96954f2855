use chrono::{DateTime, Utc};
use entity::prelude::{Role, TicketMessage};
use entity::ticket_message;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

use super::events::{self, NewEvent};
use crate::policy::Visibility;

/// The messages of several tickets in one query, each ticket's oldest first, at most
/// `max_rows`, as `visibility` allows.
pub async fn messages_of_tickets(
    db: &DatabaseConnection,
    ticket_ids: &[Uuid],
    visibility: Visibility,
    max_rows: u64,
) -> Result<Vec<ticket_message::Model>, DbErr> {
    if ticket_ids.is_empty() {
        return Ok(Vec::new());
    }
    visible(TicketMessage::find(), visibility)
        .filter(ticket_message::Column::TicketId.is_in(ticket_ids.iter().copied()))
        .order_by_asc(ticket_message::Column::TicketId)
        .order_by_asc(ticket_message::Column::CreatedAt)
        .order_by_asc(ticket_message::Column::Id)
        .limit(max_rows)
        .all(db)
        .await
}

/// The messages of the given ids that exist, at most `max_rows`, as `visibility` allows.
pub async fn messages_by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    visibility: Visibility,
    max_rows: u64,
) -> Result<Vec<ticket_message::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    visible(TicketMessage::find(), visibility)
        .filter(ticket_message::Column::Id.is_in(ids.iter().copied()))
        .limit(max_rows)
        .all(db)
        .await
}

/// Internal notes are staff-only.
fn visible(query: Select<TicketMessage>, visibility: Visibility) -> Select<TicketMessage> {
    if visibility.includes_staff_only() {
        query
    } else {
        query.filter(ticket_message::Column::Internal.eq(false))
    }
}

pub struct NewMessage {
    pub ticket_id: Uuid,
    pub author_id: String,
    pub author_role: Role,
    pub body: String,
    pub internal: bool,
    pub at: DateTime<Utc>,
}

/// Inserts a new message and records the events that tell of it (`events_of` makes them
/// of the message), in one statement on PostgreSQL ([`events::record_events_with`]).
pub async fn insert_message_with_events(
    txn: &DatabaseTransaction,
    new: NewMessage,
    events_of: impl FnOnce(&ticket_message::Model) -> Vec<NewEvent>,
) -> Result<ticket_message::Model, DbErr> {
    let message = ticket_message::Model {
        id: Uuid::now_v7(),
        ticket_id: new.ticket_id,
        author_id: new.author_id,
        author_role: new.author_role,
        body: new.body,
        internal: new.internal,
        created_at: new.at,
    };
    let insert = TicketMessage::insert(message.clone().into_active_model()).into_query();
    events::record_events_with(txn, insert, events_of(&message)).await?;
    Ok(message)
}
