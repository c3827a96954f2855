//! supportdesk's schema migrations, applied in order by `supportdesk migrate` and at server start.
//!
//! `supportdesk::db::migrate` applies each one in a transaction of its own, with its row in
//! `seaql_migrations` and under a lock other servers wait on: a migration may mix DDL and
//! data (as `create_ticket_counts` does) and still commit whole or not at all.

pub use sea_orm_migration::prelude::*;

mod event_ids;
mod m20261126_000001_create_tickets;
mod m20261126_000002_create_ticket_messages;
mod m20261127_000003_create_ticket_counts;
mod m20261127_000004_create_ticket_events;
mod m20261204_000005_add_triage;
mod m20261204_000006_add_queue_indexes;
mod m20261204_000007_create_server_keys;
mod m20261204_000008_add_search;
mod m20261204_000009_create_idempotency_keys;
mod m20261204_000010_create_queue_and_tag_counts;
mod m20261204_000011_create_webhooks;
mod m20261204_000012_create_event_order;
mod m20261204_000013_add_webhook_claim_index;
mod m20261204_000014_lighten_event_writes;
mod m20261205_000015_inline_event_ids;
mod postgres_only;

pub use event_ids::historical_event_id;
pub use m20261204_000008_add_search::search_rebuild;

/// What counts every ticket again into the kept counts, after rows were written around
/// them (bulk loads): one statement after another, to run in one transaction. The tables
/// come in the order every writer locks their rows: `ticket_counts`, then
/// `ticket_queue_counts`, then `ticket_tag_counts`.
pub const COUNTS_REBUILD: [&str; 7] = [
    "DELETE FROM ticket_counts",
    m20261127_000003_create_ticket_counts::TICKET_COUNTS_FILL[0],
    m20261127_000003_create_ticket_counts::TICKET_COUNTS_FILL[1],
    "DELETE FROM ticket_queue_counts",
    m20261204_000010_create_queue_and_tag_counts::QUEUE_COUNTS_FILL,
    "DELETE FROM ticket_tag_counts",
    m20261204_000010_create_queue_and_tag_counts::TAG_COUNTS_FILL,
];

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tickets::Migration),
            Box::new(m20261126_000002_create_ticket_messages::Migration),
            Box::new(m20261127_000003_create_ticket_counts::Migration),
            Box::new(m20261127_000004_create_ticket_events::Migration),
            Box::new(m20261204_000005_add_triage::Migration),
            Box::new(m20261204_000006_add_queue_indexes::Migration),
            Box::new(m20261204_000007_create_server_keys::Migration),
            Box::new(m20261204_000008_add_search::Migration),
            Box::new(m20261204_000009_create_idempotency_keys::Migration),
            Box::new(m20261204_000010_create_queue_and_tag_counts::Migration),
            Box::new(m20261204_000011_create_webhooks::Migration),
            Box::new(m20261204_000012_create_event_order::Migration),
            Box::new(m20261204_000013_add_webhook_claim_index::Migration),
            Box::new(m20261204_000014_lighten_event_writes::Migration),
            Box::new(m20261205_000015_inline_event_ids::Migration),
        ]
    }
}
