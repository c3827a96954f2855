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
        // Counts of the tickets that exist already: per owner, and for all owners ('').
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO ticket_counts (user_id, status, count) \
             SELECT user_id, status, COUNT(*) FROM tickets GROUP BY user_id, status",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO ticket_counts (user_id, status, count) \
             SELECT '', status, COUNT(*) FROM tickets GROUP BY status",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketCounts::Table).to_owned())
            .await
    }
}
