//! Data access: small functions over SeaORM, free of authorization and domain rules.

use chrono::{DateTime, Utc};
use entity::prelude::{Role, Ticket, TicketMessage, TicketStatus};
use entity::{ticket, ticket_message};
use sea_orm::sea_query::Order;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use crate::domain::PageRequest;

/// The order of a ticket list; ties on the creation time are broken by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOrder {
    NewestFirst,
    OldestFirst,
}

/// Which tickets a list holds; every given criterion must match.
#[derive(Clone, Copy, Debug, Default)]
pub struct TicketFilter<'a> {
    pub owner: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub status: Option<TicketStatus>,
}

/// One page of tickets and the count of all that match.
pub async fn list_tickets(
    db: &DatabaseConnection,
    filter: TicketFilter<'_>,
    order: ListOrder,
    page: PageRequest,
) -> Result<(Vec<ticket::Model>, u64), DbErr> {
    let matching = Ticket::find()
        .apply_if(filter.owner, |query, owner| {
            query.filter(ticket::Column::UserId.eq(owner))
        })
        .apply_if(filter.user_id, |query, user_id| {
            query.filter(ticket::Column::UserId.eq(user_id))
        })
        .apply_if(filter.status, |query, status| {
            query.filter(ticket::Column::Status.eq(status))
        });
    let direction = match order {
        ListOrder::NewestFirst => Order::Desc,
        ListOrder::OldestFirst => Order::Asc,
    };
    let page_query = matching
        .clone()
        .order_by(ticket::Column::CreatedAt, direction.clone())
        .order_by(ticket::Column::Id, direction)
        .offset(page.offset())
        .limit(page.limit());
    tokio::try_join!(page_query.all(db), matching.count(db))
}

pub async fn find_ticket(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<ticket::Model>, DbErr> {
    Ticket::find_by_id(id).one(db).await
}

/// A ticket's messages, oldest first; internal notes only when asked for.
pub async fn ticket_messages(
    db: &DatabaseConnection,
    ticket_id: Uuid,
    include_internal: bool,
) -> Result<Vec<ticket_message::Model>, DbErr> {
    TicketMessage::find()
        .filter(ticket_message::Column::TicketId.eq(ticket_id))
        .apply_if((!include_internal).then_some(false), |query, internal| {
            query.filter(ticket_message::Column::Internal.eq(internal))
        })
        .order_by_asc(ticket_message::Column::CreatedAt)
        .order_by_asc(ticket_message::Column::Id)
        .all(db)
        .await
}

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

pub async fn insert_ticket(
    txn: &DatabaseTransaction,
    new: NewTicket,
) -> Result<ticket::Model, DbErr> {
    ticket::ActiveModel {
        id: Set(new.id),
        user_id: Set(new.owner),
        subject: Set(new.subject),
        status: Set(TicketStatus::Open),
        created_at: Set(new.at),
        updated_at: Set(new.at),
    }
    .insert(txn)
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

/// Sets a ticket's status and `updated_at`; `None` when there is no such ticket.
pub async fn update_ticket_status(
    db: &impl ConnectionTrait,
    id: Uuid,
    status: TicketStatus,
    at: DateTime<Utc>,
) -> Result<Option<ticket::Model>, DbErr> {
    let updated = Ticket::update_many()
        .col_expr(ticket::Column::Status, status.into())
        .col_expr(ticket::Column::UpdatedAt, at.into())
        .filter(ticket::Column::Id.eq(id))
        .exec_with_returning(db)
        .await?;
    Ok(updated.into_iter().next())
}
