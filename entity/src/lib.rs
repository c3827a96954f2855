//! SeaORM entities of supportdesk's database: tickets and the messages on them.
//!
//! This crate holds the storage model only; GraphQL and HTTP live in the server crate.

pub mod enums;
pub mod prelude;
pub mod ticket;
pub mod ticket_count;
pub mod ticket_message;
