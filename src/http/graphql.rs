//! GraphQL over HTTP: media types, status codes, CSRF prevention, body and batch limits,
//! rate limit and time budget, around the schema's executor.

use async_graphql::BatchRequest;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header::{ALLOW, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, Response};

use super::AppState;
use super::auth::MaybeViewer;
use super::graphql_response::{execution_started, not_acceptable, refuse, respond, response_json};
use super::media::{ResponseMedia, negotiate};
use super::request_body::{check_content_type, parse_body, read_body};
use crate::budget::Deadline;
use crate::domain::Viewer;
use crate::error::AppError;
use crate::graphql::pipeline::Transport;
use tokio::time::Instant;

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
    let deadline = Deadline(Instant::now() + state.http.request_timeout);
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
    let request = request.data(Transport::HttpGet);
    run_one(&state, media, request, viewer.as_ref(), deadline).await
}

/// `POST /graphql` with a JSON body: one operation, or a batch as a JSON array. The
/// whole request, body and every operation of a batch, shares one time budget.
pub async fn execute_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeViewer(viewer): MaybeViewer,
    body: Body,
) -> Response {
    let deadline = Deadline(Instant::now() + state.http.request_timeout);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    if let Err((status, refusal)) = check_content_type(&headers) {
        return refuse(media, status, &refusal);
    }
    let body = read_body(&headers, body, state.http.max_body_bytes);
    let bytes = match tokio::time::timeout_at(deadline.0, body).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err((status, refusal))) => return refuse(media, status, &refusal),
        Err(_) => return refuse(media, StatusCode::SERVICE_UNAVAILABLE, &AppError::Timeout),
    };
    let batch = match parse_body(&bytes, state.http.query_limits.max_batch) {
        Ok(batch) => batch,
        Err(refusal) => return refuse(media, StatusCode::BAD_REQUEST, &refusal),
    };
    match batch {
        BatchRequest::Single(request) => {
            let request = request.data(Transport::HttpPost);
            run_one(&state, media, request, viewer.as_ref(), deadline).await
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                let request = request.data(Transport::HttpPost);
                let response = execute(&state, request, viewer.as_ref(), deadline).await;
                responses.push(response_json(response));
            }
            respond(media, StatusCode::OK, format!("[{}]", responses.join(",")))
        }
    }
}

async fn run_one(
    state: &AppState,
    media: ResponseMedia,
    request: async_graphql::Request,
    viewer: Option<&Viewer>,
    deadline: Deadline,
) -> Response {
    let response = execute(state, request, viewer, deadline).await;
    let outcome = Outcome::of(&response);
    let mut response = respond(media, outcome.status(media), response_json(response));
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

async fn execute(
    state: &AppState,
    mut request: async_graphql::Request,
    viewer: Option<&Viewer>,
    deadline: Deadline,
) -> async_graphql::Response {
    if let Some(viewer) = viewer {
        request = request.data(viewer.clone());
    }
    state.schema.execute(request.data(deadline)).await
}

/// How a request ended, for its HTTP status and headers: decided here, from the error
/// the pipeline refused it with.
#[derive(Clone, Copy)]
enum Outcome {
    /// Execution started: `data` is present.
    Executed,
    /// The document did not parse, validate or fit the limits: no `data`.
    RequestError,
    /// Sent by hash only, and the hash is unknown here: Apollo Client and urql send the
    /// text next, on a 200 as on any other status.
    PersistedQueryNotFound,
    MutationOverGet,
    RateLimited {
        retry_after_seconds: u64,
    },
    TimedOut,
}

impl Outcome {
    fn of(response: &async_graphql::Response) -> Self {
        if execution_started(response) {
            return Self::Executed;
        }
        let refusal = response
            .errors
            .first()
            .and_then(|error| error.source::<AppError>());
        match refusal {
            Some(AppError::MutationOverGet) => Self::MutationOverGet,
            Some(AppError::RateLimited {
                retry_after_seconds,
            }) => Self::RateLimited {
                retry_after_seconds: *retry_after_seconds,
            },
            Some(AppError::Timeout) => Self::TimedOut,
            Some(AppError::PersistedQueryNotFound) => Self::PersistedQueryNotFound,
            _ => Self::RequestError,
        }
    }

    fn status(self, media: ResponseMedia) -> StatusCode {
        match self {
            Self::Executed | Self::PersistedQueryNotFound => StatusCode::OK,
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
