//! Exact ticket counts per queue (status, priority, assignee) and per tag and status, kept
//! in the transaction of each write as `ticket_counts` is, so that the totals of a queue
//! (`status: OPEN, unassigned: true`) or of a tag (`tags: ["billing"], status: OPEN`) are
//! read from a few rows instead of counted over hundreds of thousands of index entries.
//! Filled here from the tickets and tags that exist already.
//!
//! An unassigned ticket counts under the assignee `''` rather than NULL: a primary key
//! column cannot be NULL on PostgreSQL, and SQLite, which would accept it, treats two NULLs
//! as distinct, so `ON CONFLICT` would never meet the row it should add to. No assignee id
//! is empty (they are trimmed and refused when empty), so `''` stands for nobody alone.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TicketQueueCounts {
    Table,
    Status,
    Priority,
    AssigneeId,
    Count,
}

#[derive(DeriveIden)]
enum TicketTagCounts {
    Table,
    Tag,
    Status,
    Count,
}

/// Counts the tickets per status, priority and assignee (`''` for none).
pub const QUEUE_COUNTS_FILL: &str = "INSERT INTO ticket_queue_counts \
     (status, priority, assignee_id, count) \
     SELECT status, priority, COALESCE(assignee_id, ''), COUNT(*) FROM tickets \
     GROUP BY status, priority, COALESCE(assignee_id, '')";

/// Counts the tagged tickets per tag and status.
pub const TAG_COUNTS_FILL: &str = "INSERT INTO ticket_tag_counts (tag, status, count) \
     SELECT g.tag, t.status, COUNT(*) FROM ticket_tags g JOIN tickets t ON t.id = g.ticket_id \
     GROUP BY g.tag, t.status";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketQueueCounts::Table)
                    .col(string_len(TicketQueueCounts::Status, 16))
                    .col(small_integer(TicketQueueCounts::Priority))
                    .col(string_len(TicketQueueCounts::AssigneeId, 255))
                    .col(big_integer(TicketQueueCounts::Count))
                    .primary_key(
                        Index::create()
                            .col(TicketQueueCounts::Status)
                            .col(TicketQueueCounts::Priority)
                            .col(TicketQueueCounts::AssigneeId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketTagCounts::Table)
                    .col(string_len(TicketTagCounts::Tag, 40))
                    .col(string_len(TicketTagCounts::Status, 16))
                    .col(big_integer(TicketTagCounts::Count))
                    .primary_key(
                        Index::create()
                            .col(TicketTagCounts::Tag)
                            .col(TicketTagCounts::Status),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(QUEUE_COUNTS_FILL).await?;
        db.execute_unprepared(TAG_COUNTS_FILL).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TicketTagCounts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TicketQueueCounts::Table).to_owned())
            .await
    }
}
