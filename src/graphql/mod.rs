//! The GraphQL schema: types, resolvers and the SDL the clients are written against.

mod context;
pub mod limits;
mod mutation;
pub mod nesting;
mod panic_guard;
mod query;
pub mod request;
mod scalars;
mod types;

use async_graphql::{EmptySubscription, SDLExportOptions, Schema, SchemaBuilder};

pub use mutation::MutationRoot;
pub use panic_guard::PanicGuard;
pub use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The schema without its data: the server adds the database connection.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot::default(), MutationRoot, EmptySubscription).extension(PanicGuard)
}

/// The schema in SDL, with fields and enum items sorted so that it diffs cleanly.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}
