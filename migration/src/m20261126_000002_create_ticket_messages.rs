use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_create_tickets::Tickets;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum TicketMessages {
    Table,
    Id,
    TicketId,
    AuthorId,
    AuthorRole,
    Body,
    Internal,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketMessages::Table)
                    .col(pk_uuid(TicketMessages::Id))
                    .col(uuid(TicketMessages::TicketId))
                    .col(string_len(TicketMessages::AuthorId, 255))
                    .col(string_len(TicketMessages::AuthorRole, 16))
                    .col(text(TicketMessages::Body))
                    .col(boolean(TicketMessages::Internal))
                    .col(timestamp_with_time_zone(TicketMessages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_messages_ticket")
                            .from(TicketMessages::Table, TicketMessages::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A ticket's history is read oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_ticket_messages_ticket_created")
                    .table(TicketMessages::Table)
                    .col(TicketMessages::TicketId)
                    .col(TicketMessages::CreatedAt)
                    .col(TicketMessages::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketMessages::Table).to_owned())
            .await
    }
}
