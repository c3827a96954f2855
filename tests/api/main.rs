//! The API's behaviour, driven over HTTP against a real server and database.

mod add_message;
mod authentication;
mod concurrency;
mod create_ticket;
mod faults;
mod helpers;
mod http;
mod list_tickets;
mod panics;
mod proxy;
mod schema;
mod server_process;
mod shutdown;
mod update_status;
mod view_ticket;
