//! The GraphQL schema: types, resolvers, the checks every request passes, and the SDL the
//! clients are written against.

mod context;
pub mod cost;
mod document_cache;
mod events;
mod guards;
pub mod limits;
pub mod metrics;
mod mutation;
pub mod nesting;
mod panic_guard;
pub mod pipeline;
mod query;
pub mod rate_limit;
pub mod request;
mod scalars;
mod selected;
mod spans;
mod subscription;
mod types;

use std::sync::Arc;

use async_graphql::{SDLExportOptions, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

pub use mutation::MutationRoot;
pub use panic_guard::PanicGuard;
pub use query::QueryRoot;
use subscription::StreamReads;
pub use subscription::SubscriptionRoot;

use self::metrics::OperationMetrics;
use self::pipeline::RequestPipeline;
use self::rate_limit::MutationRateLimiter;
use self::request::Introspection;
use self::spans::OperationSpans;
use crate::config::HttpOptions;
use crate::metrics::Open;
use crate::notify::EventNotifier;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema without its data or its checks: what the SDL is printed from.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot).extension(PanicGuard)
}

/// The schema the server runs: every request passes the [`RequestPipeline`] first, and
/// async-graphql's own ceilings stand behind it, so that a gap in the pipeline still
/// meets a wall. [`OperationMetrics`] stands around the pipeline, and counts what it
/// decided; [`OperationSpans`] gives its stages spans. Both are there only when metrics
/// or traces are on.
pub fn schema(
    db: DatabaseConnection,
    notifier: Arc<EventNotifier>,
    open: Arc<Open>,
    options: &HttpOptions,
) -> AppSchema {
    let limits = options.query_limits;
    let introspection = if options.introspection {
        Introspection::Allowed
    } else {
        Introspection::Refused
    };
    let pipeline = RequestPipeline::new(
        limits,
        introspection,
        MutationRateLimiter::new(options.mutation_rate_limit),
        options.socket_limits.subscription_messages_per_second,
        options.request_timeout,
    );
    let to_usize = |limit: u64| usize::try_from(limit).unwrap_or(usize::MAX);
    let mut builder = schema_builder();
    // Each costs a little on every operation (BENCHMARKS.md, observability cost): there
    // only when what it records goes somewhere.
    if crate::metrics::enabled() {
        builder = builder.extension(OperationMetrics::default());
    }
    if crate::telemetry::traces_exported() {
        builder = builder.extension(OperationSpans);
    }
    builder = builder
        .extension(pipeline)
        .data(Arc::new(StreamReads::for_pool(&db)))
        .data(db)
        .data(notifier)
        .data(open)
        // async-graphql counts a level more than the pipeline does (the operation's own
        // selection set), and fragments and inline fragments as levels of recursion.
        .limit_depth(to_usize(limits.max_depth).saturating_add(1))
        .limit_recursive_depth(
            to_usize(limits.max_depth)
                .saturating_mul(2)
                .saturating_add(2),
        )
        .limit_complexity(to_usize(limits.max_cost))
        .limit_directives(to_usize(limits.max_directives));
    if introspection == Introspection::Refused {
        // Suggestions ("Did you mean …") would leak the schema just the same.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// Whether execution started: it yields `data`, or errors located at a field. Before
/// execution (parse, validation) errors have no path.
pub fn execution_started(response: &async_graphql::Response) -> bool {
    response.data != async_graphql::Value::Null
        || response.errors.iter().any(|error| !error.path.is_empty())
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
