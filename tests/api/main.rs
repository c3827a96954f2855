//! The API's behaviour, driven over HTTP against a real server and database.

mod abuse;
mod add_message;
mod authentication;
mod concurrency;
mod configuration;
mod cors;
mod create_ticket;
mod faults;
mod helpers;
mod hostile;
mod http;
mod identity_provider;
mod list_tickets;
mod logging;
mod panics;
mod production_auth;
mod proxy;
mod schema;
mod server_process;
mod shutdown;
mod statements;
mod totals;
mod transport;
mod update_status;
mod view_ticket;
