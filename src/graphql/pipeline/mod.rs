//! What every request passes around the schema, whatever carried it: the document checks
//! and limits, the document cache and persisted queries, the rate limit, the time budget,
//! and the metrics and spans that stand around them. Nothing here knows the schema's
//! types.

mod answer;
mod checks;
mod document_cache;
pub mod limits;
pub mod metrics;
pub mod nesting;
mod panic_guard;
pub mod rate_limit;
pub mod request;
pub mod root_fields;
mod selected;
pub mod spans;

pub use checks::{RequestPipeline, Transport};
pub use panic_guard::PanicGuard;

/// Whether execution started: it yields `data`, or errors located at a field. Before
/// execution (parse, validation) errors have no path.
pub fn execution_started(response: &async_graphql::Response) -> bool {
    response.data != async_graphql::Value::Null
        || response.errors.iter().any(|error| !error.path.is_empty())
}
