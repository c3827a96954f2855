//! The API's behaviour, driven over HTTP against a real server and database.

mod abuse;
mod add_message;
mod authentication;
mod concurrency;
mod cors;
mod create_ticket;
mod helpers;
mod hostile;
mod http;
mod identity_provider;
mod list_tickets;
mod logging;
mod production_auth;
mod schema;
mod statements;
mod totals;
mod transport;
mod update_status;
mod view_ticket;
