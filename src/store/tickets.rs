use chrono::{DateTime, Utc};
use entity::prelude::{Ticket, TicketMessage, TicketStatus};
use entity::{ticket, ticket_message};
use sea_orm::sea_query::{Expr, IntoCondition, Order};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, RelationTrait,
};
use uuid::Uuid;

use super::counts;
use crate::domain::{ListOrder, PageRequest};
use crate::policy::Visibility;

/// Which tickets a list holds: those of one owner (or all), in one status (or any).
#[derive(Clone, Copy, Debug, Default)]
pub struct TicketFilter<'a> {
    pub owner: Option<&'a str>,
    pub status: Option<TicketStatus>,
}

/// One page of tickets and the count of all that match, read side by side.
pub async fn list_tickets(
    db: &DatabaseConnection,
    filter: TicketFilter<'_>,
    order: ListOrder,
    page: PageRequest,
) -> Result<(Vec<ticket::Model>, u64), DbErr> {
    let direction = match order {
        ListOrder::NewestFirst => Order::Desc,
        ListOrder::OldestFirst => Order::Asc,
    };
    let page_query = Ticket::find()
        .apply_if(filter.owner, |query, owner| {
            query.filter(ticket::Column::UserId.eq(owner))
        })
        .apply_if(filter.status, |query, status| {
            query.filter(ticket::Column::Status.eq(status))
        })
        .order_by(ticket::Column::CreatedAt, direction.clone())
        .order_by(ticket::Column::Id, direction)
        .offset(page.offset())
        .limit(page.limit());
    tokio::try_join!(page_query.all(db), counts::count_tickets(db, filter))
}

pub async fn find_ticket(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<ticket::Model>, DbErr> {
    Ticket::find_by_id(id).one(db).await
}

/// A ticket and its messages, oldest first, in one statement: the ticket LEFT JOIN its
/// messages. Internal notes, when left out, are left out in the join's `ON` clause, not
/// in `WHERE`, so that a ticket with no message to show is still found (with none).
pub async fn find_ticket_with_messages(
    db: &impl ConnectionTrait,
    id: Uuid,
    visibility: Visibility,
    max_messages: u64,
) -> Result<Option<(ticket::Model, Vec<ticket_message::Model>)>, DbErr> {
    let mut messages = ticket::Relation::Messages.def();
    if !visibility.includes_staff_only() {
        messages = messages
            .on_condition(|_, _| ticket_message::Column::Internal.eq(false).into_condition());
    }
    let rows = Ticket::find_by_id(id)
        .join(JoinType::LeftJoin, messages)
        .select_with(TicketMessage)
        .order_by_asc(ticket_message::Column::CreatedAt)
        .order_by_asc(ticket_message::Column::Id)
        // One row per message (or one for a ticket without any): at most `max_messages`.
        .limit(max_messages)
        .all(db)
        .await?;
    Ok(rows.into_iter().next())
}

/// Reads a ticket and, on PostgreSQL, locks its row until the transaction ends.
pub async fn lock_ticket(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<ticket::Model>, DbErr> {
    Ticket::find_by_id(id).lock_exclusive().one(txn).await
}

pub struct NewTicket {
    pub id: Uuid,
    pub owner: String,
    pub subject: String,
    pub at: DateTime<Utc>,
}

/// Inserts an OPEN ticket and counts it.
pub async fn insert_ticket(
    txn: &DatabaseTransaction,
    new: NewTicket,
) -> Result<ticket::Model, DbErr> {
    let ticket = ticket::ActiveModel {
        id: Set(new.id),
        user_id: Set(new.owner),
        subject: Set(new.subject),
        status: Set(TicketStatus::Open),
        created_at: Set(new.at),
        updated_at: Set(new.at),
    }
    .insert(txn)
    .await?;
    counts::adjust(txn, &ticket.user_id, &[(ticket.status, 1)]).await?;
    Ok(ticket)
}

/// Moves a locked ticket to `status` (keeping the counts exact) and sets `updated_at`.
pub async fn set_ticket_status(
    txn: &DatabaseTransaction,
    ticket: &ticket::Model,
    status: TicketStatus,
    at: DateTime<Utc>,
) -> Result<ticket::Model, DbErr> {
    if status != ticket.status {
        counts::adjust(txn, &ticket.user_id, &[(ticket.status, -1), (status, 1)]).await?;
    }
    let mut updated = ticket::ActiveModel {
        id: Set(ticket.id),
        ..Default::default()
    };
    updated.status = Set(status);
    updated.updated_at = Set(at);
    updated.update(txn).await
}

/// Sets `updated_at` only.
pub async fn touch_ticket(
    txn: &DatabaseTransaction,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    Ticket::update_many()
        .col_expr(ticket::Column::UpdatedAt, Expr::value(at))
        .filter(ticket::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}
