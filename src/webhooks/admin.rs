//! What admins do with webhooks through the API: register, change, remove them, rotate
//! their secrets, read their deliveries and queue one more attempt of one. Each checks the
//! caller first, then its input, then that what it names exists.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::prelude::WebhookDeliveryStatus;
use entity::{webhook, webhook_attempt, webhook_delivery};
use sea_orm::{ActiveValue::Set, DatabaseConnection, IntoActiveModel};
use uuid::Uuid;

use super::Webhooks;
use super::secret::WebhookSecret;
use crate::domain::{
    DeliveryLimit, Viewer, WebhookDefinition, WebhookInput, parse_delivery_id, parse_webhook_id,
};
use crate::error::AppError;
use crate::policy::{self, AdminWork};
use crate::store::{self, webhooks::DeliveryFilter, webhooks::NewWebhook};
use crate::tickets::now;

/// How long deliveries are still signed with the secret a rotation replaced, so that
/// receivers can move to the new one without losing a delivery.
pub const PREVIOUS_SECRET_LIFETIME: TimeDelta = TimeDelta::hours(24);

/// A delivery with its attempts, the oldest first.
pub struct DeliveryWithAttempts {
    pub delivery: webhook_delivery::Model,
    pub attempts: Vec<webhook_attempt::Model>,
}

/// Every webhook, the oldest first.
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
) -> Result<Vec<webhook::Model>, AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    Ok(store::webhooks::list_webhooks(db).await?)
}

/// Registers a webhook with a new secret, which is answered here and never again.
pub async fn create(
    db: &DatabaseConnection,
    webhooks: &Webhooks,
    viewer: &Viewer,
    input: WebhookInput<'_>,
) -> Result<(webhook::Model, WebhookSecret), AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    let definition = WebhookDefinition::parse(input, &webhooks.options).await?;
    let id = Uuid::now_v7();
    let secret = WebhookSecret::generate()?;
    let sealed = webhooks.vault.seal(db, id, &secret).await?;
    let webhook = store::webhooks::insert_webhook(
        db,
        NewWebhook {
            id,
            url: definition.url.into_inner(),
            events: definition.events.to_column(),
            description: definition.description.map(|text| text.into_inner()),
            enabled: definition.enabled,
            secret: sealed,
            at: now(),
        },
    )
    .await?;
    Ok((webhook, secret))
}

/// Replaces what the webhook is (URL, events, description, enabled). Enabling one the
/// server disabled clears why, and starts its days of failures anew.
pub async fn update(
    db: &DatabaseConnection,
    webhooks: &Webhooks,
    viewer: &Viewer,
    id: &str,
    input: WebhookInput<'_>,
) -> Result<webhook::Model, AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    let definition = WebhookDefinition::parse(input, &webhooks.options).await?;
    let id = parse_webhook_id(id)?;
    let txn = store::begin_write(db).await?;
    let current = store::webhooks::lock_webhook(&txn, id)
        .await?
        .ok_or(AppError::NotFound("Webhook"))?;
    let re_enabled = definition.enabled && !current.enabled;
    let mut changed = current.into_active_model();
    changed.url = Set(definition.url.into_inner());
    changed.events = Set(definition.events.to_column());
    changed.description = Set(definition.description.map(|text| text.into_inner()));
    changed.enabled = Set(definition.enabled);
    changed.updated_at = Set(now());
    if re_enabled {
        changed.disabled_reason = Set(None);
        changed.failing_since = Set(None);
    }
    let saved = store::webhooks::save_webhook(&txn, changed).await?;
    store::commit(txn).await?;
    Ok(saved)
}

/// Removes the webhook with its deliveries.
pub async fn delete(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> Result<(), AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    let id = parse_webhook_id(id)?;
    if store::webhooks::delete_webhook(db, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("Webhook"))
    }
}

/// Gives the webhook a new secret, answered here and never again. The one it replaces
/// still signs deliveries (beside the new one) for [`PREVIOUS_SECRET_LIFETIME`]; one
/// replaced before is forgotten.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    webhooks: &Webhooks,
    viewer: &Viewer,
    id: &str,
) -> Result<(webhook::Model, WebhookSecret), AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    let id = parse_webhook_id(id)?;
    let secret = WebhookSecret::generate()?;
    let sealed = webhooks.vault.seal(db, id, &secret).await?;
    let at = now();
    let webhook = store::webhooks::rotate_secret(db, id, sealed, at + PREVIOUS_SECRET_LIFETIME, at)
        .await?
        .ok_or(AppError::NotFound("Webhook"))?;
    Ok((webhook, secret))
}

/// What `webhookDeliveries` asks for, as the client sent it.
pub struct DeliveriesRequest<'a> {
    pub webhook_id: &'a str,
    pub status: Option<WebhookDeliveryStatus>,
    pub first: i32,
    pub after: Option<&'a str>,
}

/// A webhook's deliveries, newest first: `first` of them after the delivery `after`, with
/// the attempts of them all read in one query.
pub async fn deliveries(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: DeliveriesRequest<'_>,
) -> Result<Vec<DeliveryWithAttempts>, AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    let limit = DeliveryLimit::parse(request.first)?;
    let before = request
        .after
        .map(|after| {
            Uuid::parse_str(after)
                .map_err(|_| AppError::bad_input("after", "after must be a delivery's id"))
        })
        .transpose()?;
    let webhook_id = parse_webhook_id(request.webhook_id)?;
    store::webhooks::find_webhook(db, webhook_id)
        .await?
        .ok_or(AppError::NotFound("Webhook"))?;
    let deliveries = store::webhooks::list_deliveries(
        db,
        DeliveryFilter {
            webhook_id,
            status: request.status,
            before,
            limit: limit.get(),
        },
    )
    .await?;
    with_attempts(db, deliveries).await
}

/// Queues one more attempt of a delivery that succeeded or failed, due now; a PENDING one
/// is answered as it is, its attempt still to come.
pub async fn redeliver(
    db: &DatabaseConnection,
    viewer: &Viewer,
    delivery_id: &str,
) -> Result<DeliveryWithAttempts, AppError> {
    policy::ensure_admin(viewer, AdminWork::Webhooks)?;
    let id = parse_delivery_id(delivery_id)?;
    let delivery = match store::webhooks::requeue_delivery(db, id, now()).await? {
        Some(requeued) => requeued,
        None => store::webhooks::find_delivery(db, id)
            .await?
            .ok_or(AppError::NotFound("Webhook delivery"))?,
    };
    let mut loaded = with_attempts(db, vec![delivery]).await?;
    loaded
        .pop()
        .ok_or(AppError::Internal("a delivery went missing"))
}

async fn with_attempts(
    db: &DatabaseConnection,
    deliveries: Vec<webhook_delivery::Model>,
) -> Result<Vec<DeliveryWithAttempts>, AppError> {
    let ids: Vec<Uuid> = deliveries.iter().map(|delivery| delivery.id).collect();
    let mut grouped: HashMap<Uuid, Vec<webhook_attempt::Model>> = HashMap::new();
    for attempt in store::webhooks::attempts_of(db, &ids).await? {
        grouped
            .entry(attempt.delivery_id)
            .or_default()
            .push(attempt);
    }
    Ok(deliveries
        .into_iter()
        .map(|delivery| DeliveryWithAttempts {
            attempts: grouped.remove(&delivery.id).unwrap_or_default(),
            delivery,
        })
        .collect())
}

/// When the next attempt is due: `None` unless the delivery is PENDING.
pub fn next_attempt_at(delivery: &webhook_delivery::Model) -> Option<DateTime<Utc>> {
    (delivery.status == WebhookDeliveryStatus::Pending)
        .then_some(delivery.next_attempt_at)
        .flatten()
}
