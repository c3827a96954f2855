//! The checks every operation passes, whatever carried it: an async-graphql extension,
//! so that GraphQL over HTTP and over the WebSocket go through the very same ones.
//!
//! Before anything parses or walks the document, `prepare_request` checks its text,
//! parses it once, selects the operation, measures it, refuses what is past a limit or
//! the mutation rate limit, and hands the measured document on: async-graphql then runs
//! exactly that document, behind its own ceilings as a backstop. `execute` holds the
//! operation to its time budget.

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextRequest,
    NextSubscribe, NextValidation,
};
use async_graphql::parser::types::OperationType;
use async_graphql::registry::Registry;
use async_graphql::{
    Data, ErrorExtensions, Request, Response, ServerError, ServerResult, ValidationResult,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::time::Instant;

use super::answer::{completed, shaped};
use super::document_cache::DocumentCache;
use super::rate_limit::MutationRateLimiter;
use super::request::{Introspection, Operation, PreparedDocument, apply, prepare_document};
use super::root_fields::{NonNullRoots, RootFieldCost};
use super::selected::OperationWatch;
use crate::budget::{Deadline, MessageBudget, run_until};
use crate::config::QueryLimits;
use crate::domain::Viewer;
use crate::reading_pace::ReadingPace;
use crate::refusal::Refusal;

/// How a request arrived, as its transport tells the pipeline in the request's data.
/// A request without one came over the WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `GET /graphql?query=…`: a link can send it cross-site, so it may not mutate.
    HttpGet,
    HttpPost,
}

/// Add with `SchemaBuilder::extension`.
pub struct RequestPipeline(Arc<Checks>);

struct Checks {
    limits: QueryLimits,
    documents: DocumentCache,
    introspection: Introspection,
    rate_limiter: MutationRateLimiter,
    /// What each root field of a mutation costs against it: the schema's to say.
    root_field_cost: RootFieldCost,
    reading_pace: Arc<ReadingPace>,
    /// The budget of an operation whose transport set no [`Deadline`].
    timeout: Duration,
}

impl RequestPipeline {
    pub fn new(
        limits: QueryLimits,
        introspection: Introspection,
        rate_limiter: MutationRateLimiter,
        root_field_cost: RootFieldCost,
        subscription_messages_per_second: u64,
        timeout: Duration,
    ) -> Self {
        Self(Arc::new(Checks {
            documents: DocumentCache::new(limits.document_cache_entries),
            limits,
            introspection,
            rate_limiter,
            root_field_cost,
            reading_pace: Arc::new(ReadingPace::new(
                limits.max_messages,
                subscription_messages_per_second,
            )),
            timeout,
        }))
    }
}

impl ExtensionFactory for RequestPipeline {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PipelineExtension(Arc::clone(&self.0)))
    }
}

struct PipelineExtension(Arc<Checks>);

impl Checks {
    /// The request's document, prepared now or taken from the cache, in the request, with
    /// its non-null root fields, and what it costs against the mutation rate limit
    /// (nothing unless a mutation). Only a signed-in viewer's request adds to the cache
    /// (see [`DocumentCache::prepared`]).
    fn prepare(
        &self,
        request: &mut Request,
        signed_in: bool,
        registry: &Registry,
    ) -> Result<(Operation, u64), Refusal> {
        let text = self.documents.resolve_text(request)?;
        let prepared = self.documents.prepared(&text, request, signed_in, || {
            prepare_document(
                &request.query,
                request.operation_name.as_deref(),
                &self.limits,
                self.introspection,
            )
        })?;
        let operation = apply(request, &prepared, &self.limits)?;
        request.data.insert(prepared.non_null_roots(registry));
        if prepared.validation_is_fixed() {
            request.data.insert(ValidatedOnce(Arc::clone(&prepared)));
        }
        let rate_cost = match operation.kind {
            OperationType::Mutation => {
                prepared.mutation_cost(&request.variables, self.root_field_cost)
            }
            _ => 0,
        };
        Ok((operation, rate_cost))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for PipelineExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let checks = &self.0;
        let signed_in = viewer_of(&request, ctx).is_some();
        let (operation, rate_cost) = checks
            .prepare(&mut request, signed_in, &ctx.schema_env.registry)
            .map_err(refusal)?;
        OperationWatch::report(&mut request, operation.kind);
        if operation.kind == OperationType::Mutation {
            if data_of::<Transport>(&request) == Some(&Transport::HttpGet) {
                return Err(refusal(Refusal::MutationOverGet));
            }
            if let Some(viewer) = viewer_of(&request, ctx)
                && let Err(wait) = checks.rate_limiter.take(&viewer.id, rate_cost).await
            {
                return Err(refusal(Refusal::RateLimited {
                    retry_after_seconds: wait.as_secs().saturating_add(1),
                }));
            }
        }
        // The transport's budget, shared by the operations of a batch, or one of the
        // operation's own. A subscription resolves its selection once per event, each
        // under a budget of its own (`execute`); this one covers its start.
        let budget = data_of::<MessageBudget>(&request)
            .cloned()
            .unwrap_or_else(|| MessageBudget::new(checks.limits.max_messages));
        request.data.insert(budget);
        if operation.kind == OperationType::Subscription {
            request.data.insert(EventDeliveries);
        }
        next.run(ctx, request).await
    }

    /// async-graphql validates every request, though the same document validates the same
    /// way each time when it declares no variables: such a document is validated once, and
    /// its result reused by the requests that send it again (only a passed validation is
    /// kept, so a refused document is refused each time, by the same rules).
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let Some(ValidatedOnce(prepared)) = ctx.data_opt::<ValidatedOnce>() else {
            return next.run(ctx).await;
        };
        if let Some(result) = prepared.validated() {
            return Ok(result);
        }
        let result = next.run(ctx).await?;
        prepared.remember_validation(result);
        Ok(result)
    }

    /// Every answer leaves shaped the same, over whichever transport.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        shaped(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(shaped).boxed()
    }

    /// A query or mutation once; a subscription once per event it delivers, each under
    /// the time and message budgets of an operation of its own, at its user's reading pace.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let checks = &self.0;
        let viewer = ctx.data_opt::<Viewer>();
        let (Some(EventDeliveries), Some(viewer)) = (ctx.data_opt::<EventDeliveries>(), viewer)
        else {
            let deadline = ctx
                .data_opt::<Deadline>()
                .map_or_else(|| Instant::now() + checks.timeout, |deadline| deadline.0);
            let response = within_time(deadline, next.run(ctx, operation_name)).await;
            return completed(response, ctx.data_opt::<NonNullRoots>());
        };
        let reservation = checks.reading_pace.reserve(&viewer.id).await;
        let budget = MessageBudget::new(checks.limits.max_messages);
        let mut delivery = Data::default();
        delivery.insert(budget.clone());
        let deadline = Instant::now() + checks.timeout;
        let response =
            within_time(deadline, next.run_with_data(ctx, operation_name, delivery)).await;
        reservation.settle(budget.spent().await);
        completed(response, ctx.data_opt::<NonNullRoots>())
    }
}

/// The prepared document of a request whose validation is fixed, for `validation`.
struct ValidatedOnce(Arc<PreparedDocument>);

/// Marks a subscription: `execute` runs once per event it delivers.
struct EventDeliveries;

/// The operation's answer, or TIMEOUT past `deadline`.
async fn within_time(deadline: Instant, operation: impl Future<Output = Response>) -> Response {
    match run_until(deadline, operation).await {
        Some(response) => response,
        None => {
            tracing::warn!("an operation stopped at its time budget");
            Response::from_errors(vec![refusal(Refusal::Timeout)])
        }
    }
}

/// The refusal as a GraphQL error that still carries what it was (a [`Refusal`] or an
/// [`Refusal`]), so that the transport can tell its status from it.
fn refusal<E: ErrorExtensions + Send + Sync + 'static>(error: E) -> ServerError {
    let extended = error.extend();
    let mut server_error = ServerError::new(extended.message, None);
    server_error.extensions = extended.extensions;
    server_error.source = Some(Arc::new(error));
    server_error
}

/// The request's signed-in viewer, if any: the socket keeps it in the connection's data,
/// HTTP in the request's.
pub(super) fn viewer_of<'r>(
    request: &'r Request,
    ctx: &'r ExtensionContext<'_>,
) -> Option<&'r Viewer> {
    data_of::<Viewer>(request).or_else(|| ctx.data_opt::<Viewer>())
}

/// What the transport put in the request's data.
fn data_of<T: Any>(request: &Request) -> Option<&T> {
    request
        .data
        .get(&TypeId::of::<T>())
        .and_then(|data| data.downcast_ref::<T>())
}
