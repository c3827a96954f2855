//! Triage: a ticket's priority, its assignee, its staff-only tags and its response times,
//! and the timeline events that tell of them. Existing tickets become NORMAL, unassigned
//! and untagged; their response times are filled from what the messages and the timeline
//! already tell.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_create_tickets::Tickets;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Triage {
    Priority,
    AssigneeId,
    FirstRespondedAt,
    ResolvedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketTags {
    Table,
    TicketId,
    Tag,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketEvents {
    Table,
    FromPriority,
    ToPriority,
    FromAssigneeId,
    ToAssigneeId,
    AddedTags,
    RemovedTags,
}

/// NORMAL, as `entity::prelude::TicketPriority` stores it.
const NORMAL: i16 = 1;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let ticket_columns = [
            small_integer(Triage::Priority).default(NORMAL).to_owned(),
            string_len_null(Triage::AssigneeId, 255),
            timestamp_with_time_zone_null(Triage::FirstRespondedAt),
            timestamp_with_time_zone_null(Triage::ResolvedAt),
        ];
        for column in ticket_columns {
            add_column(manager, Tickets::Table, column).await?;
        }
        let event_columns = [
            small_integer_null(TicketEvents::FromPriority),
            small_integer_null(TicketEvents::ToPriority),
            string_len_null(TicketEvents::FromAssigneeId, 255),
            string_len_null(TicketEvents::ToAssigneeId, 255),
            text_null(TicketEvents::AddedTags),
            text_null(TicketEvents::RemovedTags),
        ];
        for column in event_columns {
            add_column(manager, TicketEvents::Table, column).await?;
        }
        manager.create_table(tags_table()).await?;
        // "Every ticket tagged billing" reads this, not the table.
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_tags_tag_ticket")
                    .table(TicketTags::Table)
                    .col(TicketTags::Tag)
                    .col(TicketTags::TicketId)
                    .to_owned(),
            )
            .await?;
        fill_response_times(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketTags::Table).to_owned())
            .await?;
        let events = [
            TicketEvents::FromPriority,
            TicketEvents::ToPriority,
            TicketEvents::FromAssigneeId,
            TicketEvents::ToAssigneeId,
            TicketEvents::AddedTags,
            TicketEvents::RemovedTags,
        ];
        for column in events {
            drop_column(manager, TicketEvents::Table, column).await?;
        }
        let tickets = [
            Triage::Priority,
            Triage::AssigneeId,
            Triage::FirstRespondedAt,
            Triage::ResolvedAt,
        ];
        for column in tickets {
            drop_column(manager, Tickets::Table, column).await?;
        }
        Ok(())
    }
}

async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<(), DbErr> {
    let mut column = column;
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

fn tags_table() -> TableCreateStatement {
    Table::create()
        .table(TicketTags::Table)
        .col(uuid(TicketTags::TicketId))
        .col(string_len(TicketTags::Tag, 40))
        .primary_key(
            Index::create()
                .col(TicketTags::TicketId)
                .col(TicketTags::Tag),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_ticket_tags_ticket")
                .from(TicketTags::Table, TicketTags::TicketId)
                .to(Tickets::Table, Tickets::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

/// `first_responded_at`: the first public message by an admin. `resolved_at`, for tickets
/// RESOLVED or CLOSED now: the last STATUS_CHANGED that moved them there from OPEN or
/// IN_PROGRESS, or else (a ticket whose timeline tells no such change) `updated_at`.
async fn fill_response_times(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    let statements = [
        "UPDATE tickets SET first_responded_at = (\
            SELECT MIN(m.created_at) FROM ticket_messages m \
            WHERE m.ticket_id = tickets.id AND m.author_role = 'ADMIN' AND m.internal = FALSE)",
        "UPDATE tickets SET resolved_at = (\
            SELECT MAX(e.created_at) FROM ticket_events e \
            WHERE e.ticket_id = tickets.id AND e.kind = 'STATUS_CHANGED' \
            AND e.from_status IN ('OPEN', 'IN_PROGRESS') \
            AND e.to_status IN ('RESOLVED', 'CLOSED')) \
         WHERE status IN ('RESOLVED', 'CLOSED')",
        "UPDATE tickets SET resolved_at = updated_at \
         WHERE status IN ('RESOLVED', 'CLOSED') AND resolved_at IS NULL",
    ];
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
