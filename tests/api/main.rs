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
mod list_tickets;
mod logging;
mod schema;
mod statements;
mod totals;
mod transport;
mod update_status;
mod view_ticket;
