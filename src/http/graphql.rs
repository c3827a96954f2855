//! GraphQL over HTTP: media types, status codes, CSRF prevention, body and batch limits,
//! rate limit and time budget, around the schema's executor.

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, ErrorExtensions, PathSegment, ServerError};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::MaybeViewer;
use super::media::{ResponseMedia, negotiate};
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
            respond(media, StatusCode::OK, &Value::Array(responses))
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
    let status = match outcome {
        Outcome::Executed => StatusCode::OK,
        Outcome::RequestError if media == ResponseMedia::GraphqlResponseJson => {
            StatusCode::BAD_REQUEST
        }
        Outcome::RequestError => StatusCode::OK,
        Outcome::Refused(status) => status,
    };
    let mut response = respond(media, status, &body);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
    }
    if let Some(seconds) = body["errors"][0]["extensions"]["retryAfter"].as_u64() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// How a request ended, for its HTTP status.
enum Outcome {
    /// Execution started: `data` is present.
    Executed,
    /// The document did not parse, validate or fit the limits: no `data`.
    RequestError,
    /// Refused by the transport with this status.
    Refused(StatusCode),
}

/// Checks, executes and serializes one operation.
async fn run(
    state: &AppState,
    mut request: async_graphql::Request,
    viewer: Option<&Viewer>,
    method: Method,
) -> (Outcome, Value) {
    let operation = match prepare(&mut request, &state.query_limits) {
        Ok(operation) => operation,
        Err(refusal) => return (Outcome::RequestError, error_body(&refusal)),
    };
    if let Some(operation) = operation.filter(|operation| operation.kind == OperationType::Mutation)
    {
        if method == Method::Get {
            let refusal = AppError::BadRequest("Mutations must be sent with POST".into());
            return (
                Outcome::Refused(StatusCode::METHOD_NOT_ALLOWED),
                error_body(&refusal),
            );
        }
        if let Some(viewer) = viewer
            && let Err(wait) = state.rate_limiter.take(&viewer.id, operation.root_fields)
        {
            let refusal = AppError::RateLimited {
                retry_after_seconds: wait.as_secs().saturating_add(1),
            };
            return (
                Outcome::Refused(StatusCode::TOO_MANY_REQUESTS),
                error_body(&refusal),
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
            Outcome::Refused(StatusCode::SERVICE_UNAVAILABLE),
            error_body(&AppError::Timeout),
        );
    };
    let outcome = if execution_started(&response) {
        Outcome::Executed
    } else {
        Outcome::RequestError
    };
    (outcome, response_body(response))
}

/// Whether execution started: it yields `data`, or errors located at a field. Before
/// execution (parse, validation) errors have no path.
fn execution_started(response: &async_graphql::Response) -> bool {
    response.data != async_graphql::Value::Null
        || response.errors.iter().any(|error| !error.path.is_empty())
}

/// A response without `data` when execution never started, as the spec asks; every
/// error carries a code, the executor's own ones included.
fn response_body(response: async_graphql::Response) -> Value {
    let executed = execution_started(&response);
    let mut body = serde_json::Map::new();
    if executed {
        let mut data = match json_of(&response.data) {
            Value::Null => Value::Object(serde_json::Map::new()),
            data => data,
        };
        for error in &response.errors {
            null_where_failed(&mut data, &error.path);
        }
        body.insert("data".into(), data);
    }
    let errors: Vec<Value> = response
        .errors
        .into_iter()
        .map(|error| with_code(error, executed))
        .collect();
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    if !response.extensions.is_empty() {
        body.insert("extensions".into(), json_of(&response.extensions));
    }
    Value::Object(body)
}

/// async-graphql leaves a failed field out of `data`; the spec (and the clients' caches)
/// want it there as `null`. Walks the error's path and puts `null` where the walk
/// first finds nothing.
fn null_where_failed(data: &mut Value, path: &[PathSegment]) {
    let mut current = data;
    for segment in path {
        current = match (current, segment) {
            (Value::Object(fields), PathSegment::Field(name)) => {
                if !fields.contains_key(name) {
                    fields.insert(name.clone(), Value::Null);
                    return;
                }
                match fields.get_mut(name) {
                    Some(next) => next,
                    None => return,
                }
            }
            (Value::Array(items), PathSegment::Index(index)) => match items.get_mut(*index) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
}

/// Gives the executor's own errors (which carry none) a code: before execution they
/// are validation failures, except values of the wrong type, which are the client's
/// input; during execution they come from coercing an argument.
fn with_code(mut error: ServerError, executed: bool) -> Value {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|extensions| extensions.get("code").is_some());
    if !has_code {
        let code = if executed || error.message.starts_with("Invalid value for argument") {
            "BAD_USER_INPUT"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    json_of(&error)
}

fn json_of(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn error_body(error: &AppError) -> Value {
    let error = error.extend();
    json!({ "errors": [{ "message": error.message, "extensions": error.extensions }] })
}

fn refuse(media: ResponseMedia, status: StatusCode, error: &AppError) -> Response {
    respond(media, status, &error_body(error))
}

fn respond(media: ResponseMedia, status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(media.content_type()))],
        body.to_string(),
    )
        .into_response()
}

fn not_acceptable() -> Response {
    let body = error_body(&AppError::BadRequest(
        "Accept application/graphql-response+json or application/json".into(),
    ));
    respond(ResponseMedia::Json, StatusCode::NOT_ACCEPTABLE, &body)
}

/// Media types a browser may POST cross-site without a CORS preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// Headers no browser sends cross-site without a preflight, as Apollo Server's CSRF
/// prevention accepts them.
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];

/// Only JSON bodies are GraphQL requests. A body a cross-site form could send is refused
/// as a possible request forgery unless a header proves a preflight happened.
fn check_content_type(headers: &HeaderMap) -> Result<(), (StatusCode, AppError)> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let preflighted = PREFLIGHT_HEADERS
        .iter()
        .any(|name| headers.get(*name).is_some_and(|value| !value.is_empty()));
    if (media_type.is_empty() || SIMPLE_CONTENT_TYPES.contains(&media_type.as_str()))
        && !preflighted
    {
        return Err((
            StatusCode::BAD_REQUEST,
            AppError::BadRequest(
                "This request has been blocked as a potential cross-site request forgery: \
                 send it with Content-Type: application/json"
                    .into(),
            ),
        ));
    }
    if media_type != "application/json" {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::BadRequest("GraphQL requests are sent as application/json".into()),
        ));
    }
    Ok(())
}

/// Reads at most `max_bytes` of the body: a larger one is refused without buffering it.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
) -> Result<Bytes, (StatusCode, AppError)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadRequest(format!("Request body is larger than {max_bytes} bytes")),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max_bytes)
        .await
        .map_err(|_| too_large())
}
