//! The ticket timeline: one row per thing that happened to a ticket, and a backfill of
//! what the tickets and messages already written tell (a creation, then each later
//! message; no status change can be told from them, so none is invented).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult};
use sea_orm_migration::{prelude::*, schema::*};
use uuid::Uuid;

use crate::historical_event_id;
use crate::m20261126_000001_create_tickets::Tickets;
use crate::m20261126_000002_create_ticket_messages::TicketMessages;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TicketEvents {
    Table,
    Id,
    TicketId,
    OwnerId,
    Kind,
    ActorId,
    ActorRole,
    CreatedAt,
    MessageId,
    Internal,
    FromStatus,
    ToStatus,
    StatusAfter,
}

/// A ticket's timeline, a customer's feed, a feed by status and a customer's feed by
/// status each read one of these in `id` order from a given id on; the feed of everything
/// reads the primary key.
const STREAM_INDEXES: [(&str, &[TicketEvents]); 4] = [
    ("idx_ticket_events_ticket_id", &[TicketEvents::TicketId]),
    ("idx_ticket_events_owner_id", &[TicketEvents::OwnerId]),
    ("idx_ticket_events_status_id", &[TicketEvents::StatusAfter]),
    (
        "idx_ticket_events_owner_status_id",
        &[TicketEvents::OwnerId, TicketEvents::StatusAfter],
    ),
];

/// Tickets read per round of the backfill.
const BACKFILL_TICKETS: u64 = 1_000;
/// Rows per insert: 12 columns each, below SQLite's 32,766 bound parameters.
const INSERT_ROWS: usize = 2_500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(table()).await?;
        for (name, prefix) in STREAM_INDEXES {
            let mut index = Index::create();
            index.name(name).table(TicketEvents::Table);
            for column in prefix {
                index.col(*column);
            }
            index.col(TicketEvents::Id);
            manager.create_index(index.to_owned()).await?;
        }
        backfill(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketEvents::Table).to_owned())
            .await
    }
}

fn table() -> TableCreateStatement {
    Table::create()
        .table(TicketEvents::Table)
        .col(pk_uuid(TicketEvents::Id))
        .col(uuid(TicketEvents::TicketId))
        .col(string_len(TicketEvents::OwnerId, 255))
        .col(string_len(TicketEvents::Kind, 16))
        .col(string_len(TicketEvents::ActorId, 255))
        .col(string_len(TicketEvents::ActorRole, 16))
        .col(timestamp_with_time_zone(TicketEvents::CreatedAt))
        .col(uuid_null(TicketEvents::MessageId))
        .col(boolean(TicketEvents::Internal))
        .col(string_len_null(TicketEvents::FromStatus, 16))
        .col(string_len_null(TicketEvents::ToStatus, 16))
        .col(string_len(TicketEvents::StatusAfter, 16))
        .foreign_key(
            ForeignKey::create()
                .name("fk_ticket_events_ticket")
                .from(TicketEvents::Table, TicketEvents::TicketId)
                .to(Tickets::Table, Tickets::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_ticket_events_message")
                .from(TicketEvents::Table, TicketEvents::MessageId)
                .to(TicketMessages::Table, TicketMessages::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

struct OldTicket {
    id: Uuid,
    owner: String,
    status: String,
    created_at: DateTime<Utc>,
}

struct OldMessage {
    id: Uuid,
    ticket_id: Uuid,
    author_id: String,
    author_role: String,
    internal: bool,
    created_at: DateTime<Utc>,
}

/// One backfilled event, in the columns' order of [`insert_events`].
struct OldEvent {
    id: Uuid,
    ticket_id: Uuid,
    owner_id: String,
    kind: &'static str,
    actor_id: String,
    actor_role: String,
    created_at: DateTime<Utc>,
    message_id: Option<Uuid>,
    internal: bool,
    status_after: String,
}

/// Writes the events of the tickets already there, a batch of tickets at a time (in id
/// order, so each batch starts after the last), with their messages.
async fn backfill(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let mut after = None;
    loop {
        let tickets = read_tickets(db, after).await?;
        let Some(last) = tickets.last() else {
            return Ok(());
        };
        after = Some(last.id);
        let ids: Vec<Uuid> = tickets.iter().map(|ticket| ticket.id).collect();
        let messages = read_messages(db, &ids).await?;
        insert_events(db, events_of(&tickets, &messages)).await?;
    }
}

async fn read_tickets(
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
) -> Result<Vec<OldTicket>, DbErr> {
    let mut query = Query::select();
    query
        .columns([
            Tickets::Id,
            Tickets::UserId,
            Tickets::Status,
            Tickets::CreatedAt,
        ])
        .from(Tickets::Table)
        .order_by(Tickets::Id, Order::Asc)
        .limit(BACKFILL_TICKETS);
    if let Some(after) = after {
        query.and_where(Expr::col(Tickets::Id).gt(after));
    }
    db.query_all(&query)
        .await?
        .iter()
        .map(|row| {
            Ok(OldTicket {
                id: get(row, Tickets::Id)?,
                owner: get(row, Tickets::UserId)?,
                status: get(row, Tickets::Status)?,
                created_at: get(row, Tickets::CreatedAt)?,
            })
        })
        .collect()
}

/// The messages of `tickets`, each ticket's in the order its history shows them.
async fn read_messages(
    db: &impl ConnectionTrait,
    tickets: &[Uuid],
) -> Result<Vec<OldMessage>, DbErr> {
    let query = Query::select()
        .columns([
            TicketMessages::Id,
            TicketMessages::TicketId,
            TicketMessages::AuthorId,
            TicketMessages::AuthorRole,
            TicketMessages::Internal,
            TicketMessages::CreatedAt,
        ])
        .from(TicketMessages::Table)
        .and_where(Expr::col(TicketMessages::TicketId).is_in(tickets.iter().copied()))
        .order_by(TicketMessages::TicketId, Order::Asc)
        .order_by(TicketMessages::CreatedAt, Order::Asc)
        .order_by(TicketMessages::Id, Order::Asc)
        .to_owned();
    db.query_all(&query)
        .await?
        .iter()
        .map(|row| {
            Ok(OldMessage {
                id: get(row, TicketMessages::Id)?,
                ticket_id: get(row, TicketMessages::TicketId)?,
                author_id: get(row, TicketMessages::AuthorId)?,
                author_role: get(row, TicketMessages::AuthorRole)?,
                internal: get(row, TicketMessages::Internal)?,
                created_at: get(row, TicketMessages::CreatedAt)?,
            })
        })
        .collect()
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: impl Iden) -> Result<T, DbErr> {
    row.try_get("", &column.to_string())
}

/// Each ticket's creation (with its first message, the owner as actor, in the role that
/// message was written in), then a MESSAGE_ADDED per later message. Every event carries
/// the ticket's current status: nothing tells what it was before.
fn events_of(tickets: &[OldTicket], messages: &[OldMessage]) -> Vec<OldEvent> {
    let mut events = Vec::with_capacity(tickets.len() + messages.len());
    for ticket in tickets {
        let mut history = messages
            .iter()
            .filter(|message| message.ticket_id == ticket.id);
        let first = history.next();
        events.push(OldEvent {
            id: historical_event_id(ticket.created_at, 0, ticket.id),
            ticket_id: ticket.id,
            owner_id: ticket.owner.clone(),
            kind: "TICKET_CREATED",
            actor_id: ticket.owner.clone(),
            actor_role: first.map_or_else(|| "CUSTOMER".to_owned(), |m| m.author_role.clone()),
            created_at: ticket.created_at,
            message_id: first.map(|message| message.id),
            internal: false,
            status_after: ticket.status.clone(),
        });
        for (position, message) in (1u16..).zip(history) {
            events.push(OldEvent {
                id: historical_event_id(message.created_at, position, message.id),
                ticket_id: ticket.id,
                owner_id: ticket.owner.clone(),
                kind: "MESSAGE_ADDED",
                actor_id: message.author_id.clone(),
                actor_role: message.author_role.clone(),
                created_at: message.created_at,
                message_id: Some(message.id),
                internal: message.internal,
                status_after: ticket.status.clone(),
            });
        }
    }
    events
}

async fn insert_events(db: &impl ConnectionTrait, events: Vec<OldEvent>) -> Result<(), DbErr> {
    for chunk in events.chunks(INSERT_ROWS) {
        let mut insert = Query::insert();
        insert.into_table(TicketEvents::Table).columns([
            TicketEvents::Id,
            TicketEvents::TicketId,
            TicketEvents::OwnerId,
            TicketEvents::Kind,
            TicketEvents::ActorId,
            TicketEvents::ActorRole,
            TicketEvents::CreatedAt,
            TicketEvents::MessageId,
            TicketEvents::Internal,
            TicketEvents::FromStatus,
            TicketEvents::ToStatus,
            TicketEvents::StatusAfter,
        ]);
        for event in chunk {
            insert
                .values([
                    event.id.into(),
                    event.ticket_id.into(),
                    event.owner_id.clone().into(),
                    event.kind.into(),
                    event.actor_id.clone().into(),
                    event.actor_role.clone().into(),
                    event.created_at.into(),
                    event.message_id.into(),
                    event.internal.into(),
                    Option::<String>::None.into(),
                    Option::<String>::None.into(),
                    event.status_after.clone().into(),
                ])
                .map_err(|error| DbErr::Custom(error.to_string()))?;
        }
        db.execute(&insert).await?;
    }
    Ok(())
}
