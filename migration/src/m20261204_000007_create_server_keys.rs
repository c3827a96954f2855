//! Secrets every instance of a fleet shares, made by the server the first time one is
//! needed (the key that signs list cursors): the database is what the instances share.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServerKeys {
    Table,
    Name,
    Secret,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServerKeys::Table)
                    .col(string_len(ServerKeys::Name, 64).primary_key())
                    .col(binary(ServerKeys::Secret))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServerKeys::Table).to_owned())
            .await
    }
}
