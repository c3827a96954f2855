use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketCounts {
    Table,
    UserId,
    Status,
    Count,
}

/// Counts the tickets per owner and status, and for all owners (`''`).
pub const TICKET_COUNTS_FILL: [&str; 2] = [
    "INSERT INTO ticket_counts (user_id, status, count) \
     SELECT user_id, status, COUNT(*) FROM tickets GROUP BY user_id, status",
    "INSERT INTO ticket_counts (user_id, status, count) \
     SELECT '', status, COUNT(*) FROM tickets GROUP BY status",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketCounts::Table)
                    .col(string_len(TicketCounts::UserId, 255))
                    .col(string_len(TicketCounts::Status, 16))
                    .col(big_integer(TicketCounts::Count))
                    .primary_key(
                        Index::create()
                            .col(TicketCounts::UserId)
                            .col(TicketCounts::Status),
                    )
                    .to_owned(),
            )
            .await?;
        // Counts of the tickets that exist already.
        let db = manager.get_connection();
        for statement in TICKET_COUNTS_FILL {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketCounts::Table).to_owned())
            .await
    }
}
