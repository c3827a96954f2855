pub use super::enums::{
    Role, TicketEventKind, TicketPriority, TicketStatus, WebhookDeliveryStatus,
};
pub use super::idempotency_key::Entity as IdempotencyKey;
pub use super::server_key::Entity as ServerKey;
pub use super::ticket::Entity as Ticket;
pub use super::ticket_count::Entity as TicketCount;
pub use super::ticket_event::Entity as TicketEvent;
pub use super::ticket_message::Entity as TicketMessage;
pub use super::ticket_queue_count::Entity as TicketQueueCount;
pub use super::ticket_tag::Entity as TicketTag;
pub use super::ticket_tag_count::Entity as TicketTagCount;
pub use super::webhook::Entity as Webhook;
pub use super::webhook_attempt::Entity as WebhookAttempt;
pub use super::webhook_delivery::Entity as WebhookDelivery;
pub use super::webhook_dispatch::Entity as WebhookDispatch;
pub use super::webhook_payload::Entity as WebhookPayload;
