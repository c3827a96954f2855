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
    operation: OnceLock<OperationLabel>,
}

/// What a span may say of an operation.
struct OperationLabel {
    name: Option<String>,
    kind: String,
}

impl OperationLabel {
    /// The request's operation, once its document is parsed and cut down to it.
    fn of(request: &mut Request) -> Option<Self> {
        let document = request.parsed_query().ok()?;
        let mut operations = document.operations.iter();
        match (operations.next(), operations.next()) {
            (Some((name, operation)), None) => Some(Self {
                name: name.map(ToString::to_string),
                kind: operation.node.ty.to_string(),
            }),
            _ => None,
        }
    }

    fn record_on(&self, span: &Span) {
        span.record("graphql.operation.type", self.kind.as_str());
        if let Some(name) = &self.name {
            span.record("graphql.operation.name", name.as_str());
        }
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
            operation.record_on(&span);
        }
        span
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationSpansExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let span = self.span(Stage::Parse);
        let mut request = next.run(ctx, request).instrument(span.clone()).await?;
        if let Some(operation) = OperationLabel::of(&mut request) {
            operation.record_on(&span);
            let _ = self.operation.set(operation);
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
