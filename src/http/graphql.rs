//! GraphQL over HTTP: media types, status codes, CSRF prevention, body and batch limits,
//! rate limit and time budget, around the schema's executor.

use async_graphql::BatchRequest;
use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header::{ALLOW, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, Response};

use super::AppState;
use super::auth::MaybeViewer;
use super::graphql_response::{
    error_body, execution_started, not_acceptable, refuse, respond, response_json,
};
use super::media::{ResponseMedia, negotiate};
use super::request_body::{check_content_type, read_body};
use crate::auth::Viewer;
use crate::error::AppError;
use crate::graphql::request::prepare;

pub async fn graphiql() -> Html<String> {
    Html(
        async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .finish(),
    )
}

/// `GET /graphql?query=…`: queries only, so that a cross-site link can change nothing.
pub async fn query_over_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeViewer(viewer): MaybeViewer,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let request =
        match async_graphql::http::parse_query_string(query.as_deref().unwrap_or_default()) {
            Ok(request) => request,
            Err(error) => {
                let refusal = AppError::BadRequest(format!("Malformed query string: {error}"));
                return refuse(media, StatusCode::BAD_REQUEST, &refusal);
            }
        };
    run_one(&state, media, request, viewer.as_ref(), Method::Get).await
}

/// `POST /graphql` with a JSON body: one operation, or a batch as a JSON array.
pub async fn execute_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeViewer(viewer): MaybeViewer,
    body: Body,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err((status, refusal)) = check_content_type(&headers) {
        return refuse(media, status, &refusal);
    }
    let bytes = match read_body(&headers, body, state.http.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err((status, refusal)) => return refuse(media, status, &refusal),
    };
    let batch = match serde_json::from_slice::<BatchRequest>(&bytes) {
        Ok(batch) => batch,
        Err(error) => {
            let refusal = AppError::BadRequest(format!("Malformed GraphQL request body: {error}"));
            return refuse(media, StatusCode::BAD_REQUEST, &refusal);
        }
    };
    match batch {
        BatchRequest::Single(request) => {
            run_one(&state, media, request, viewer.as_ref(), Method::Post).await
        }
        BatchRequest::Batch(requests) => {
            let limit = state.query_limits.max_batch;
            if requests.len() > limit {
                let refusal = AppError::QueryTooComplex(format!(
                    "Batch of {} operations; the limit is {limit}",
                    requests.len()
                ));
                return refuse(media, StatusCode::BAD_REQUEST, &refusal);
            }
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                let (_, body) = run(&state, request, viewer.as_ref(), Method::Post).await;
                responses.push(body);
            }
            respond(media, StatusCode::OK, format!("[{}]", responses.join(",")))
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

async fn run_one(
    state: &AppState,
    media: ResponseMedia,
    request: async_graphql::Request,
    viewer: Option<&Viewer>,
    method: Method,
) -> Response {
    let (outcome, body) = run(state, request, viewer, method).await;
    let mut response = respond(media, outcome.status(media), body);
    let headers = response.headers_mut();
    match outcome {
        Outcome::MutationOverGet => {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        Outcome::RateLimited {
            retry_after_seconds,
        } => {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        _ => {}
    }
    response
}

/// How a request ended, for its HTTP status and headers.
#[derive(Clone, Copy)]
enum Outcome {
    /// Execution started: `data` is present.
    Executed,
    /// The document did not parse, validate or fit the limits: no `data`.
    RequestError,
    MutationOverGet,
    RateLimited {
        retry_after_seconds: u64,
    },
    TimedOut,
}

impl Outcome {
    fn status(self, media: ResponseMedia) -> StatusCode {
        match self {
            Self::Executed => StatusCode::OK,
            // Only the newer media type may say "request error" in the status.
            Self::RequestError if media == ResponseMedia::GraphqlResponseJson => {
                StatusCode::BAD_REQUEST
            }
            Self::RequestError => StatusCode::OK,
            Self::MutationOverGet => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Checks, executes and serializes one operation.
async fn run(
    state: &AppState,
    mut request: async_graphql::Request,
    viewer: Option<&Viewer>,
    method: Method,
) -> (Outcome, String) {
    let operation = match prepare(&mut request, &state.query_limits) {
        Ok(operation) => operation,
        Err(refusal) => return (Outcome::RequestError, error_body(&refusal).to_string()),
    };
    if let Some(operation) = operation.filter(|operation| operation.kind == OperationType::Mutation)
    {
        if method == Method::Get {
            let refusal = AppError::BadRequest("Mutations must be sent with POST".into());
            return (Outcome::MutationOverGet, error_body(&refusal).to_string());
        }
        if let Some(viewer) = viewer
            && let Err(wait) = state.rate_limiter.take(&viewer.id, operation.root_fields)
        {
            let retry_after_seconds = wait.as_secs().saturating_add(1);
            let refusal = AppError::RateLimited {
                retry_after_seconds,
            };
            return (
                Outcome::RateLimited {
                    retry_after_seconds,
                },
                error_body(&refusal).to_string(),
            );
        }
    }
    if let Some(viewer) = viewer {
        request = request.data(viewer.clone());
    }
    let execution = state.schema.execute(request);
    let Ok(response) = tokio::time::timeout(state.http.request_timeout, execution).await else {
        tracing::warn!(budget = ?state.http.request_timeout, "request stopped at its time budget");
        return (
            Outcome::TimedOut,
            error_body(&AppError::Timeout).to_string(),
        );
    };
    let outcome = if execution_started(&response) {
        Outcome::Executed
    } else {
        Outcome::RequestError
    };
    (outcome, response_json(response))
}
