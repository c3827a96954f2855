//! The index a delivery worker claims a webhook's due deliveries by: its PENDING ones,
//! the longest due first. Each webhook is claimed on its own (each has its cap of
//! attempts in flight), so that a receiver with a long backlog is never scanned through
//! to reach another's deliveries.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    WebhookId,
    Status,
    NextAttemptAt,
}

const INDEX: &str = "idx_webhook_deliveries_webhook_id_status_next_attempt_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(WebhookDeliveries::Table)
                    .to_owned(),
            )
            .await
    }
}
