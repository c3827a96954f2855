//! The sequence that numbers, on PostgreSQL, the events one transaction records: with the
//! transaction's id it makes the event's id (`supportdesk::store::events`), so that
//! writers commit side by side instead of in turn. SQLite has one writer at a time and
//! needs none.

use sea_orm_migration::prelude::*;

use crate::postgres_only::run_on_postgres;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(manager, &["CREATE SEQUENCE ticket_event_order AS bigint"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(manager, &["DROP SEQUENCE ticket_event_order"]).await
    }
}
