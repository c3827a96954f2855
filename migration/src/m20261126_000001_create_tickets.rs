use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Tickets {
    Table,
    Id,
    UserId,
    Subject,
    Status,
    CreatedAt,
    UpdatedAt,
}

/// Every list shape (all, by owner, by status, by both) reads one of these in
/// `(created_at, id)` order, so a page never needs a sort.
const LIST_INDEXES: [(&str, &[Tickets]); 4] = [
    ("idx_tickets_created", &[]),
    ("idx_tickets_user_created", &[Tickets::UserId]),
    ("idx_tickets_status_created", &[Tickets::Status]),
    (
        "idx_tickets_user_status_created",
        &[Tickets::UserId, Tickets::Status],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(pk_uuid(Tickets::Id))
                    .col(string_len(Tickets::UserId, 255))
                    .col(string_len(Tickets::Subject, 255))
                    .col(string_len(Tickets::Status, 16))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, prefix) in LIST_INDEXES {
            let mut index = Index::create();
            index.name(name).table(Tickets::Table);
            for column in prefix {
                index.col(*column);
            }
            index.col(Tickets::CreatedAt).col(Tickets::Id);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tickets::Table).to_owned())
            .await
    }
}
