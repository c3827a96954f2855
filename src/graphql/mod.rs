//! GraphQL: the schema (`schema`, its types and resolvers) and the checks every request
//! passes (`pipeline`), which do not import each other; here they are put together, and
//! the SDL the clients are written against is printed.

pub mod pipeline;
pub mod schema;

use std::sync::Arc;

use async_graphql::{SDLExportOptions, Schema, SchemaBuilder};
use sea_orm::DatabaseConnection;

use pipeline::RequestPipeline;
use pipeline::metrics::OperationMetrics;
use pipeline::rate_limit::MutationRateLimiter;
use pipeline::request::Introspection;
use pipeline::spans::OperationSpans;
pub use pipeline::{PanicGuard, execution_started};
use schema::{MutationRoot, QueryRoot, SubscriptionRoot};

use crate::config::HttpOptions;
use crate::listing::CursorKeys;
use crate::metrics::Open;
use crate::notify::{EventNotifier, StreamReads};
use crate::webhooks::Webhooks;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema without its data or its checks: what the SDL is printed from.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .extension(PanicGuard)
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
    webhooks: Arc<Webhooks>,
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
        MutationRateLimiter::new(
            options.mutation_rate_limit,
            options.shared_rate_limit.as_ref(),
            Arc::clone(&open.rate_limit),
        ),
        schema::cost::root_field_rate_cost,
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
        .data(Arc::new(CursorKeys::default()))
        .data(db)
        .data(notifier)
        .data(open)
        .data(webhooks)
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

/// The schema in SDL, with fields and enum items sorted so that it diffs cleanly.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}
