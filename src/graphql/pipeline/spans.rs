//! When traces are exported, a span for each stage of each GraphQL operation,
//! `graphql.parse`, `graphql.validate` and `graphql.execute`, under the span of the
//! request that carried it: where the time of a request went.
//!
//! Each names its operation and the operation's type, once they are known. None holds
//! the document, whose literals can be what a client wrote (a message's text), nor the
//! variables. Operations over the WebSocket, which no HTTP request carries, get none.

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextValidation,
};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::selected::{OperationWatch, SelectedOperation};

/// Add with `SchemaBuilder::extension`, before the
/// [`RequestPipeline`](super::pipeline::RequestPipeline): the pipeline parses the
/// document while preparing the request, so the parse span is the span around it.
pub struct OperationSpans;

impl ExtensionFactory for OperationSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationSpansExtension::default())
    }
}

/// One per operation: async-graphql creates the extensions for each request it runs.
#[derive(Default)]
struct OperationSpansExtension {
    operation: OnceLock<SelectedOperation>,
}

/// What a span says of its operation.
fn record_operation_on(span: &Span, operation: &SelectedOperation) {
    span.record("graphql.operation.type", operation.kind.to_string());
    if let Some(name) = &operation.name {
        span.record("graphql.operation.name", name.as_str());
    }
}

#[derive(Clone, Copy)]
enum Stage {
    Parse,
    Validate,
    Execute,
}

impl OperationSpansExtension {
    fn span(&self, stage: Stage) -> Span {
        // Over the WebSocket no request span holds the operation: its stages would each
        // be a trace of their own, so there are none.
        if !crate::telemetry::traces_exported() || Span::current().is_none() {
            return Span::none();
        }
        // A span's name is in its static metadata: one macro call for each.
        let span = match stage {
            Stage::Parse => tracing::info_span!(
                "graphql.parse",
                graphql.operation.name = Empty,
                graphql.operation.type = Empty
            ),
            Stage::Validate => tracing::info_span!(
                "graphql.validate",
                graphql.operation.name = Empty,
                graphql.operation.type = Empty
            ),
            Stage::Execute => tracing::info_span!(
                "graphql.execute",
                graphql.operation.name = Empty,
                graphql.operation.type = Empty
            ),
        };
        if let Some(operation) = self.operation.get() {
            record_operation_on(&span, operation);
        }
        span
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationSpansExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let span = self.span(Stage::Parse);
        let watch = OperationWatch::on(&mut request);
        let request = next.run(ctx, request).instrument(span.clone()).await?;
        if let Some(operation) = watch.selected() {
            record_operation_on(&span, operation);
            let _ = self.operation.set(operation.clone());
        }
        Ok(request)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).instrument(self.span(Stage::Validate)).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        next.run(ctx, operation_name)
            .instrument(self.span(Stage::Execute))
            .await
    }
}
