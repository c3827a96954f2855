//! The API's behaviour, driven over HTTP against a real server and database.

mod add_message;
mod authentication;
mod concurrency;
mod create_ticket;
mod helpers;
mod http;
mod identity_provider;
mod list_tickets;
mod production_auth;
mod schema;
mod update_status;
mod view_ticket;
