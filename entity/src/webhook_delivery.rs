use sea_orm::entity::prelude::*;

use crate::enums::{TicketEventKind, WebhookDeliveryStatus};

/// One timeline event owed to one webhook, retried until it succeeds or its schedule runs
/// out.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The timeline event: also the `webhook-id` header, the same on every retry.
    pub event_id: Uuid,
    pub event_kind: TicketEventKind,
    pub status: WebhookDeliveryStatus,
    /// The retries its schedule still allows.
    pub attempts_left: i32,
    pub attempt_count: i32,
    /// `None` unless PENDING.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// An instance's claim on an attempt in flight; past, it may be taken by another.
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::webhook::Entity",
        from = "Column::WebhookId",
        to = "super::webhook::Column::Id",
        on_delete = "Cascade"
    )]
    Webhook,
    #[sea_orm(has_many = "super::webhook_attempt::Entity")]
    Attempt,
}

impl Related<super::webhook::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Webhook.def()
    }
}

impl Related<super::webhook_attempt::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Attempt.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
