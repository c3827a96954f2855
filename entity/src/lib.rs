//! SeaORM entities of supportdesk's database: tickets, the messages on them, their
//! staff-only tags, and their timeline of events; the counts of them kept for list totals
//! (per owner, per queue, per tag); the secrets the fleet shares and the answers kept for
//! `Idempotency-Key` retries; the webhooks admins register and their deliveries.
//!
//! This crate holds the storage model only; GraphQL and HTTP live in the server crate.

pub mod enums;
pub mod idempotency_key;
pub mod prelude;
pub mod server_key;
pub mod ticket;
pub mod ticket_count;
pub mod ticket_event;
pub mod ticket_message;
pub mod ticket_queue_count;
pub mod ticket_tag;
pub mod ticket_tag_count;
pub mod webhook;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_dispatch;
pub mod webhook_payload;
