//! supportdesk's schema migrations, applied in order by `supportdesk migrate` and at server start.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_create_tickets;
mod m20261126_000002_create_ticket_messages;
mod m20261127_000003_create_ticket_counts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_tickets::Migration),
            Box::new(m20261126_000002_create_ticket_messages::Migration),
            Box::new(m20261127_000003_create_ticket_counts::Migration),
        ]
    }
}
