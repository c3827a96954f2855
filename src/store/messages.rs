use chrono::{DateTime, Utc};
use entity::prelude::{Role, TicketMessage};
use entity::ticket_message;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

/// The messages of several tickets in one query, each ticket's oldest first, at most
/// `max_rows`; internal notes only when asked for.
pub async fn messages_of_tickets(
    db: &DatabaseConnection,
    ticket_ids: &[Uuid],
    include_internal: bool,
    max_rows: u64,
) -> Result<Vec<ticket_message::Model>, DbErr> {
    if ticket_ids.is_empty() {
        return Ok(Vec::new());
    }
    TicketMessage::find()
        .filter(ticket_message::Column::TicketId.is_in(ticket_ids.iter().copied()))
        .apply_if((!include_internal).then_some(false), |query, internal| {
            query.filter(ticket_message::Column::Internal.eq(internal))
        })
        .order_by_asc(ticket_message::Column::TicketId)
        .order_by_asc(ticket_message::Column::CreatedAt)
        .order_by_asc(ticket_message::Column::Id)
        .limit(max_rows)
        .all(db)
        .await
}

/// The messages of the given ids that exist, at most `max_rows`; internal notes only
/// when asked for.
pub async fn messages_by_ids(
    db: &DatabaseConnection,
    ids: &[Uuid],
    include_internal: bool,
    max_rows: u64,
) -> Result<Vec<ticket_message::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    TicketMessage::find()
        .filter(ticket_message::Column::Id.is_in(ids.iter().copied()))
        .apply_if((!include_internal).then_some(false), |query, internal| {
            query.filter(ticket_message::Column::Internal.eq(internal))
        })
        .limit(max_rows)
        .all(db)
        .await
}

pub struct NewMessage {
    pub ticket_id: Uuid,
    pub author_id: String,
    pub author_role: Role,
    pub body: String,
    pub internal: bool,
    pub at: DateTime<Utc>,
}

pub async fn insert_message(
    txn: &DatabaseTransaction,
    new: NewMessage,
) -> Result<ticket_message::Model, DbErr> {
    ticket_message::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(new.ticket_id),
        author_id: Set(new.author_id),
        author_role: Set(new.author_role),
        body: Set(new.body),
        internal: Set(new.internal),
        created_at: Set(new.at),
    }
    .insert(txn)
    .await
}
