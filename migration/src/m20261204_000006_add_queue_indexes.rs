//! The indexes of a support team's queues: by priority (the most urgent first, then the
//! oldest), by assignee (or none) within a status, and by the latest change. Each list
//! shape reads one of them in its order, so that a page needs no sort.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Id,
    Status,
    CreatedAt,
    UpdatedAt,
    Priority,
    AssigneeId,
}

use Tickets::{AssigneeId, CreatedAt, Id, Priority, Status, UpdatedAt};

/// The columns an index is read in, each with its direction.
type ReadOrder = &'static [(Tickets, IndexOrder)];

/// `order: PRIORITY` reads `priority` descending, then `created_at` and `id` ascending.
const URGENT_FIRST: [(Tickets, IndexOrder); 3] = [
    (Priority, IndexOrder::Desc),
    (CreatedAt, IndexOrder::Asc),
    (Id, IndexOrder::Asc),
];

const RECENTLY_UPDATED: [(Tickets, IndexOrder); 2] =
    [(UpdatedAt, IndexOrder::Desc), (Id, IndexOrder::Desc)];

/// Each index: its name, its equality prefix, then the order it is read in.
const QUEUE_INDEXES: [(&str, &[Tickets], ReadOrder); 5] = [
    ("idx_tickets_priority_queue", &[], &URGENT_FIRST),
    (
        "idx_tickets_status_priority_queue",
        &[Status],
        &URGENT_FIRST,
    ),
    (
        "idx_tickets_assignee_status_priority_queue",
        &[AssigneeId, Status],
        &URGENT_FIRST,
    ),
    ("idx_tickets_updated", &[], &RECENTLY_UPDATED),
    (
        "idx_tickets_priority_updated",
        &[Priority],
        &RECENTLY_UPDATED,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, prefix, order) in QUEUE_INDEXES {
            let mut index = Index::create();
            index.name(name).table(Tickets::Table);
            for column in prefix {
                index.col(*column);
            }
            for (column, direction) in order {
                index.col((*column, direction.clone()));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _, _) in QUEUE_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Tickets::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
