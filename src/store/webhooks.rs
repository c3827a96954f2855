//! The webhooks admins register, and what the API reads and changes of their deliveries.

use chrono::{DateTime, Utc};
use entity::prelude::{Webhook, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus};
use entity::{webhook, webhook_attempt, webhook_delivery};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

/// A webhook as `createWebhook` writes it, its secret already sealed.
pub struct NewWebhook {
    pub id: Uuid,
    pub url: String,
    pub events: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub secret: Vec<u8>,
    pub at: DateTime<Utc>,
}

pub async fn insert_webhook(
    db: &impl ConnectionTrait,
    new: NewWebhook,
) -> Result<webhook::Model, DbErr> {
    webhook::ActiveModel {
        id: Set(new.id),
        url: Set(new.url),
        events: Set(new.events),
        description: Set(new.description),
        enabled: Set(new.enabled),
        created_at: Set(new.at),
        updated_at: Set(new.at),
        disabled_reason: Set(None),
        failing_since: Set(None),
        secret: Set(new.secret),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
    }
    .insert(db)
    .await
}

/// Every webhook, the oldest first.
pub async fn list_webhooks(db: &impl ConnectionTrait) -> Result<Vec<webhook::Model>, DbErr> {
    Webhook::find()
        .order_by_asc(webhook::Column::CreatedAt)
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await
}

pub async fn find_webhook(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<webhook::Model>, DbErr> {
    Webhook::find_by_id(id).one(db).await
}

/// The webhook, locked until `txn` ends (on PostgreSQL; SQLite's write transaction holds
/// the whole database already).
pub async fn lock_webhook(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<webhook::Model>, DbErr> {
    Webhook::find_by_id(id).lock_exclusive().one(txn).await
}

pub async fn save_webhook(
    txn: &DatabaseTransaction,
    webhook: webhook::ActiveModel,
) -> Result<webhook::Model, DbErr> {
    webhook.update(txn).await
}

/// Deletes the webhook, and with it (the foreign keys cascade) its deliveries and their
/// attempts. Whether there was one.
pub async fn delete_webhook(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let deleted = Webhook::delete_by_id(id).exec(db).await?;
    Ok(deleted.rows_affected > 0)
}

/// Makes `secret` the webhook's, and the one it had its previous secret until
/// `previous_expires_at`, in one statement (its right-hand sides read the row as it was).
/// `None` when there is no such webhook.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    id: Uuid,
    secret: Vec<u8>,
    previous_expires_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<Option<webhook::Model>, DbErr> {
    let rotated = Webhook::update_many()
        .col_expr(
            webhook::Column::PreviousSecret,
            Expr::col(webhook::Column::Secret),
        )
        .col_expr(
            webhook::Column::PreviousSecretExpiresAt,
            Expr::value(previous_expires_at),
        )
        .col_expr(webhook::Column::Secret, Expr::value(secret))
        .col_expr(webhook::Column::UpdatedAt, Expr::value(at))
        .filter(webhook::Column::Id.eq(id))
        .exec_with_returning(db)
        .await?;
    Ok(rotated.into_iter().next())
}

/// Which deliveries of a webhook to read: newest first, from before `before` (a delivery
/// id), of `status` only when given.
pub struct DeliveryFilter {
    pub webhook_id: Uuid,
    pub status: Option<WebhookDeliveryStatus>,
    pub before: Option<Uuid>,
    pub limit: u64,
}

pub async fn list_deliveries(
    db: &impl ConnectionTrait,
    filter: DeliveryFilter,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    WebhookDelivery::find()
        .filter(webhook_delivery::Column::WebhookId.eq(filter.webhook_id))
        .apply_if(filter.status, |query, status| {
            query.filter(webhook_delivery::Column::Status.eq(status))
        })
        .apply_if(filter.before, |query, before| {
            query.filter(webhook_delivery::Column::Id.lt(before))
        })
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(filter.limit)
        .all(db)
        .await
}

pub async fn find_delivery(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<webhook_delivery::Model>, DbErr> {
    WebhookDelivery::find_by_id(id).one(db).await
}

/// The attempts of `deliveries`, each delivery's oldest first, in one query.
pub async fn attempts_of(
    db: &impl ConnectionTrait,
    deliveries: &[Uuid],
) -> Result<Vec<webhook_attempt::Model>, DbErr> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    WebhookAttempt::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(deliveries.iter().copied()))
        .order_by_asc(webhook_attempt::Column::DeliveryId)
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await
}

/// Queues one more attempt of a delivery that is not PENDING: due `at`, the last its
/// schedule allows. `None` when there is no such delivery, or it is PENDING already.
pub async fn requeue_delivery(
    db: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<webhook_delivery::Model>, DbErr> {
    let requeued = WebhookDelivery::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(WebhookDeliveryStatus::Pending),
        )
        .col_expr(webhook_delivery::Column::AttemptsLeft, Expr::value(1))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at))
        .filter(webhook_delivery::Column::Id.eq(id))
        .filter(webhook_delivery::Column::Status.ne(WebhookDeliveryStatus::Pending))
        .exec_with_returning(db)
        .await?;
    Ok(requeued.into_iter().next())
}
