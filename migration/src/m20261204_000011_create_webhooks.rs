//! Webhooks: the receivers admins register, the deliveries of timeline events to them
//! (one per webhook and event, retried until it succeeds or its schedule runs out), each
//! attempt made, the JSON body of each event (built once, so every retry signs the same
//! bytes) and where the fan-out of the timeline stands.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Url,
    Events,
    Description,
    Enabled,
    CreatedAt,
    UpdatedAt,
    DisabledReason,
    FailingSince,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventId,
    EventKind,
    Status,
    AttemptsLeft,
    AttemptCount,
    NextAttemptAt,
    LeaseUntil,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    At,
    ResponseStatus,
    Error,
    DurationMs,
}

#[derive(DeriveIden)]
enum WebhookPayloads {
    Table,
    EventId,
    Body,
}

#[derive(DeriveIden)]
enum WebhookDispatch {
    Table,
    Name,
    LastEventId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(pk_uuid(Webhooks::Id))
                    .col(text(Webhooks::Url))
                    // The kinds it wants, separated by spaces; '' for all.
                    .col(text(Webhooks::Events))
                    .col(text_null(Webhooks::Description))
                    .col(boolean(Webhooks::Enabled))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                    .col(text_null(Webhooks::DisabledReason))
                    .col(timestamp_with_time_zone_null(Webhooks::FailingSince))
                    // Encrypted: nonce, then ciphertext and tag.
                    .col(blob(Webhooks::Secret))
                    .col(blob_null(Webhooks::PreviousSecret))
                    .col(timestamp_with_time_zone_null(
                        Webhooks::PreviousSecretExpiresAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(pk_uuid(WebhookDeliveries::Id))
                    .col(uuid(WebhookDeliveries::WebhookId))
                    .col(uuid(WebhookDeliveries::EventId))
                    .col(string_len(WebhookDeliveries::EventKind, 16))
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::AttemptsLeft))
                    .col(integer(WebhookDeliveries::AttemptCount))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::NextAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LeaseUntil))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A webhook's deliveries, newest first (the listing); and a fan-out repeated
        // writes nothing twice.
        manager
            .create_index(index(
                "idx_webhook_deliveries_webhook_id_id",
                WebhookDeliveries::Table,
                [WebhookDeliveries::WebhookId, WebhookDeliveries::Id],
            ))
            .await?;
        manager
            .create_index(
                index(
                    "idx_webhook_deliveries_webhook_id_event_id",
                    WebhookDeliveries::Table,
                    [WebhookDeliveries::WebhookId, WebhookDeliveries::EventId],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        // What the workers claim: the due PENDING deliveries.
        manager
            .create_index(index(
                "idx_webhook_deliveries_status_next_attempt_at",
                WebhookDeliveries::Table,
                [WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(pk_uuid(WebhookAttempts::Id))
                    .col(uuid(WebhookAttempts::DeliveryId))
                    .col(timestamp_with_time_zone(WebhookAttempts::At))
                    .col(integer_null(WebhookAttempts::ResponseStatus))
                    .col(text_null(WebhookAttempts::Error))
                    .col(integer(WebhookAttempts::DurationMs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_attempts_delivery")
                            .from(WebhookAttempts::Table, WebhookAttempts::DeliveryId)
                            .to(WebhookDeliveries::Table, WebhookDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_webhook_attempts_delivery_id_id",
                WebhookAttempts::Table,
                [WebhookAttempts::DeliveryId, WebhookAttempts::Id],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookPayloads::Table)
                    .col(pk_uuid(WebhookPayloads::EventId))
                    .col(text(WebhookPayloads::Body))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDispatch::Table)
                    .col(string_len(WebhookDispatch::Name, 64).primary_key())
                    .col(uuid_null(WebhookDispatch::LastEventId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookDispatch::Table.into_iden(),
            WebhookPayloads::Table.into_iden(),
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// An index named `name` on `columns` of `table`.
fn index<const N: usize>(
    name: &str,
    table: impl IntoIden,
    columns: [impl IntoIden; N],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    index
}
