//! The webhook API: admins register receivers of the timeline's events, read how their
//! deliveries went and queue them again. Admins only, every field.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, ResultExt, SimpleObject};
use entity::{webhook, webhook_attempt};

use super::context::Session;
use super::events::TicketEventKind;
use super::guards::AdminOnly;
use super::scalars::DateTime;
use crate::domain::{self, WebhookEvents};
use crate::error::AppError;
use crate::policy::AdminWork;
use crate::webhooks::Webhooks;
use crate::webhooks::admin::{self, DeliveriesRequest, DeliveryWithAttempts};
use crate::webhooks::secret;

pub struct Webhook(webhook::Model);

/// A receiver of the ticket timeline's events: each one it wants is POSTed to `url` as
/// JSON, signed as the Standard Webhooks specification says, and retried with backoff
/// until it is answered with a 2xx or its schedule runs out.
#[Object]
impl Webhook {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    /// The event kinds it receives; empty means all.
    async fn events(&self) -> Vec<TicketEventKind> {
        WebhookEvents::from_column(&self.0.events)
            .kinds()
            .iter()
            .map(|kind| (*kind).into())
            .collect()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Whether events are delivered to it. The server disables a webhook that answers
    /// 410, or whose deliveries have all failed for 5 days.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }

    /// Why it was disabled, when the server disabled it.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
}

/// A webhook with its signing secret. Only `createWebhook` and `rotateWebhookSecret`
/// answer one: keep the secret then, it cannot be read again.
#[derive(SimpleObject)]
pub struct WebhookSecret {
    webhook: Webhook,
    /// `whsec_` followed by the base64 of 32 random bytes, as the Standard Webhooks
    /// libraries take it to verify `webhook-signature`.
    secret: String,
}

impl WebhookSecret {
    fn new(webhook: webhook::Model, secret: &secret::WebhookSecret) -> Self {
        Self {
            webhook: Webhook(webhook),
            secret: secret.to_text(),
        }
    }
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::prelude::WebhookDeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Its next attempt is to come (or under way).
    Pending,
    /// The receiver answered a 2xx.
    Succeeded,
    /// Every attempt its schedule allows failed; `redeliverWebhook` queues one more.
    Failed,
}

pub struct WebhookAttempt(webhook_attempt::Model);

/// One attempt at a delivery.
#[Object]
impl WebhookAttempt {
    /// When it started.
    async fn at(&self) -> DateTime {
        DateTime(self.0.at)
    }

    /// The receiver's HTTP status; null when no answer came.
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }

    /// Why it failed, when it did: no connection, a timeout, an address refused, the
    /// start of a non-2xx answer's body.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn duration_ms(&self) -> i32 {
        self.0.duration_ms
    }
}

pub struct WebhookDelivery(DeliveryWithAttempts);

/// One timeline event owed to one webhook.
#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.0.delivery.id.to_string())
    }

    async fn webhook_id(&self) -> ID {
        ID(self.0.delivery.webhook_id.to_string())
    }

    /// The timeline event delivered: also its `webhook-id` header, the same on every
    /// attempt, by which receivers tell a retry from a new event.
    async fn event_id(&self) -> ID {
        ID(self.0.delivery.event_id.to_string())
    }

    async fn event_kind(&self) -> TicketEventKind {
        self.0.delivery.event_kind.into()
    }

    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.delivery.status.into()
    }

    /// Every attempt made, the oldest first.
    #[graphql(complexity = "crate::graphql::schema::cost::attempts(child_complexity)")]
    async fn attempts(&self) -> Vec<WebhookAttempt> {
        self.0
            .attempts
            .iter()
            .cloned()
            .map(WebhookAttempt)
            .collect()
    }

    /// When the next attempt is due; null unless PENDING.
    async fn next_attempt_at(&self) -> Option<DateTime> {
        admin::next_attempt_at(&self.0.delivery).map(DateTime)
    }
}

/// What a webhook is: `createWebhook` sets it, `updateWebhook` replaces it whole.
#[derive(InputObject)]
pub struct WebhookInput {
    /// `https://` (plain `http://` only when the server allows it), without credentials;
    /// its host must be, or resolve only to, public addresses. At most 2,000 characters.
    url: String,
    /// The event kinds to receive; empty means all.
    #[graphql(default)]
    events: Vec<TicketEventKind>,
    /// At most 500 characters, trimmed; blank is none.
    description: Option<String>,
    #[graphql(default = true)]
    enabled: bool,
}

impl WebhookInput {
    fn as_domain(&self) -> domain::WebhookInput<'_> {
        domain::WebhookInput {
            url: &self.url,
            events: self.events.iter().map(|kind| (*kind).into()).collect(),
            description: self.description.as_deref(),
            enabled: self.enabled,
        }
    }
}

fn webhooks<'a>(ctx: &Context<'a>) -> Result<&'a Webhooks, AppError> {
    ctx.data_opt::<Arc<Webhooks>>()
        .map(Arc::as_ref)
        .ok_or(AppError::Internal("the schema was built without webhooks"))
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Admins only: every webhook, the oldest first. Their secrets are never shown here.
    #[graphql(guard = "AdminOnly(AdminWork::Webhooks)")]
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<Webhook>> {
        let session = Session::from_context(ctx).extend()?;
        let webhooks = admin::list(session.db, session.viewer).await.extend()?;
        Ok(webhooks.into_iter().map(Webhook).collect())
    }

    /// Admins only: a webhook's deliveries, the newest first, of `status` only when given:
    /// `first` (1–100) of them after the delivery `after` (the last id of the page before).
    /// NOT_FOUND for an unknown webhook.
    #[graphql(
        guard = "AdminOnly(AdminWork::Webhooks)",
        complexity = "crate::graphql::schema::cost::page(first, child_complexity)"
    )]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        status: Option<WebhookDeliveryStatus>,
        #[graphql(default = 20)] first: i32,
        after: Option<ID>,
    ) -> Result<Vec<WebhookDelivery>> {
        let session = Session::from_context(ctx).extend()?;
        let request = DeliveriesRequest {
            webhook_id: &webhook_id,
            status: status.map(Into::into),
            first,
            after: after.as_ref().map(|id| id.as_str()),
        };
        let deliveries = admin::deliveries(session.db, session.viewer, request)
            .await
            .extend()?;
        Ok(deliveries.into_iter().map(WebhookDelivery).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Admins only: registers a webhook, which receives the events that happen from now
    /// on, and answers its signing secret, shown this once. Sent again, it registers a
    /// second webhook, unless an `Idempotency-Key` replays the first answer.
    #[graphql(guard = "AdminOnly(AdminWork::Webhooks)")]
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: WebhookInput,
    ) -> Result<Option<WebhookSecret>> {
        let session = Session::from_context(ctx).extend()?;
        let (webhook, secret) = admin::create(
            session.db,
            webhooks(ctx).extend()?,
            session.viewer,
            input.as_domain(),
        )
        .await
        .extend()?;
        Ok(Some(WebhookSecret::new(webhook, &secret)))
    }

    /// Admins only: replaces the webhook's URL, events, description and `enabled`.
    /// Enabling a webhook the server disabled clears `disabledReason`. Sent again, it
    /// leaves the webhook as the first one did.
    #[graphql(guard = "AdminOnly(AdminWork::Webhooks)")]
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: WebhookInput,
    ) -> Result<Option<Webhook>> {
        let session = Session::from_context(ctx).extend()?;
        let webhook = admin::update(
            session.db,
            webhooks(ctx).extend()?,
            session.viewer,
            &id,
            input.as_domain(),
        )
        .await
        .extend()?;
        Ok(Some(Webhook(webhook)))
    }

    /// Admins only: removes the webhook and its deliveries; answers true. Sent again, it
    /// answers NOT_FOUND.
    #[graphql(guard = "AdminOnly(AdminWork::Webhooks)")]
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<Option<bool>> {
        let session = Session::from_context(ctx).extend()?;
        admin::delete(session.db, session.viewer, &id)
            .await
            .extend()?;
        Ok(Some(true))
    }

    /// Admins only: gives the webhook a new signing secret, shown this once. For 24 hours
    /// deliveries carry a signature with the old secret beside the new one, so receivers
    /// can switch without losing any. Sent again, it rotates again: only the latest
    /// replaced secret keeps signing.
    #[graphql(guard = "AdminOnly(AdminWork::Webhooks)")]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<WebhookSecret>> {
        let session = Session::from_context(ctx).extend()?;
        let (webhook, secret) =
            admin::rotate_secret(session.db, webhooks(ctx).extend()?, session.viewer, &id)
                .await
                .extend()?;
        Ok(Some(WebhookSecret::new(webhook, &secret)))
    }

    /// Admins only: queues one more attempt of a delivery that succeeded or failed, due
    /// now. Sent again while that attempt is PENDING, it changes nothing and answers the
    /// delivery as it is.
    #[graphql(guard = "AdminOnly(AdminWork::Webhooks)")]
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> Result<Option<WebhookDelivery>> {
        let session = Session::from_context(ctx).extend()?;
        let delivery = admin::redeliver(session.db, session.viewer, &delivery_id)
            .await
            .extend()?;
        Ok(Some(WebhookDelivery(delivery)))
    }
}
