//! supportdesk: a support-ticket backend served as a GraphQL API.
//!
//! The edge (`http`, `config`, `cli`) turns requests and settings into calls on the
//! GraphQL schema (`graphql`), whose resolvers are glue over the use cases in `tickets`
//! and `events` (the timeline).
//! Those apply the authorization rules of `policy` and the domain rules of `domain`, and
//! reach the database only through `store`.

/// Every binary that links supportdesk (the server, the benchmark baseline, the tests)
/// allocates with mimalloc: a request allocates many small, short-lived values.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod auth;
pub mod budget;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod listing;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod reading_pace;
pub mod refusal;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod webhooks;
