//! The schema clients are written against: its types, resolvers and guards. Resolvers
//! turn arguments into use-case calls (`crate::tickets`, `crate::events`,
//! `crate::webhooks::admin`) and their
//! results into GraphQL types; the rules live in the use cases and in `crate::policy`.

mod connection;
mod context;
pub mod cost;
mod events;
mod guards;
mod mutation;
mod query;
mod scalars;
mod subscription;
mod types;
mod webhooks;

pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;
