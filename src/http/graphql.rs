//! GraphQL over HTTP: media types, status codes, CSRF prevention, body and batch limits,
//! rate limit and time budget, around the schema's executor.

use async_graphql::BatchRequest;
use async_graphql_axum::GraphQLProtocol;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::handler::Handler;
use axum::http::header::UPGRADE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::AppState;
use super::auth::MaybeViewer;
use super::graphql_response::{HttpAnswer, respond, response_json};
use super::idempotency::{IdempotencyKey, KEY_ON_A_BATCH, run_keyed};
use super::media::{ResponseMedia, negotiate};
use super::refusal::{refusal_of, refuse, status_of};
use super::request_body::{check_content_type, parse_body, read_body};
use super::serve::ConnectionSlot;
use super::socket;
use crate::budget::{Deadline, MessageBudget};
use crate::domain::Viewer;
use crate::graphql::execution_started;
use crate::graphql::pipeline::Transport;
use crate::refusal::Refusal;

/// `GET /graphql`: a WebSocket when the client asks to upgrade, a query otherwise.
pub async fn query_or_socket(State(state): State<AppState>, request: Request<Body>) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts.headers.contains_key(UPGRADE) {
        let slot = parts.extensions.get::<ConnectionSlot>().cloned();
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state).await;
        let protocol = GraphQLProtocol::from_request_parts(&mut parts, &state).await;
        return match (upgrade, protocol) {
            (Ok(upgrade), Ok(protocol)) => {
                socket::upgrade(state, &parts.headers, upgrade, protocol, slot).await
            }
            (Err(rejection), _) => rejection.into_response(),
            (_, Err(_)) => refuse(
                ResponseMedia::Json,
                &Refusal::Malformed("Ask for graphql-transport-ws or graphql-ws".into()),
            ),
        };
    }
    let request = Request::from_parts(parts, body);
    query_over_get.call(request, state).await
}

/// `GET /graphql?query=…`: queries only, so that a cross-site link can change nothing.
async fn query_over_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeViewer(viewer): MaybeViewer,
    RawQuery(query): RawQuery,
) -> Response {
    let deadline = Deadline(Instant::now() + state.http.request_timeout);
    let Some(media) = negotiate(&headers) else {
        return refuse(ResponseMedia::Json, &Refusal::NotAcceptable);
    };
    let request =
        match async_graphql::http::parse_query_string(query.as_deref().unwrap_or_default()) {
            Ok(request) => request,
            Err(error) => {
                let refusal = Refusal::Malformed(format!("Malformed query string: {error}"));
                return refuse(media, &refusal);
            }
        };
    let request = request.data(Transport::HttpGet);
    run_one(&state, media, request, viewer.as_ref(), deadline).await
}

/// `POST /graphql` with a JSON body: one operation, or a batch as a JSON array. The
/// whole request, body and every operation of a batch, shares one time budget. A signed-in
/// user's mutation with an `Idempotency-Key` runs once per key (`idempotency`); an
/// anonymous one, which no mutation lets write, runs as if it had none.
pub async fn execute_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeViewer(viewer): MaybeViewer,
    body: Body,
) -> Response {
    let deadline = Deadline(Instant::now() + state.http.request_timeout);
    let Some(media) = negotiate(&headers) else {
        return refuse(ResponseMedia::Json, &Refusal::NotAcceptable);
    };
    if let Err(refusal) = check_content_type(&headers) {
        return refuse(media, &refusal);
    }
    let key = match IdempotencyKey::of(&headers) {
        Ok(key) => key,
        Err(refusal) => return refuse(media, &refusal),
    };
    let body = read_body(&headers, body, state.http.max_body_bytes);
    let bytes = match tokio::time::timeout_at(deadline.0, body).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(refusal)) => return refuse(media, &refusal),
        Err(_) => return refuse(media, &Refusal::Timeout),
    };
    let batch = match parse_body(&bytes, state.http.query_limits.max_batch) {
        Ok(batch) => batch,
        Err(refusal) => return refuse(media, &refusal),
    };
    match batch {
        BatchRequest::Single(request) => {
            let request = request.data(Transport::HttpPost);
            match (key, viewer) {
                (Some(key), Some(viewer)) => {
                    run_keyed(&state, media, request, viewer, key, &bytes, deadline).await
                }
                (_, viewer) => run_one(&state, media, request, viewer.as_ref(), deadline).await,
            }
        }
        BatchRequest::Batch(_) if key.is_some() => {
            refuse(media, &Refusal::BadIdempotencyKey(KEY_ON_A_BATCH))
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            // One request, one budget: a batch may not read ten times what one may.
            let messages = MessageBudget::new(state.http.query_limits.max_messages);
            for request in requests {
                let request = request.data(Transport::HttpPost).data(messages.clone());
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
    let (answer, _) = answer_one(state, media, request, viewer, deadline).await;
    answer.into_response()
}

/// One operation's answer, and whether it reached execution (and so may have written).
pub(super) async fn answer_one(
    state: &AppState,
    media: ResponseMedia,
    request: async_graphql::Request,
    viewer: Option<&Viewer>,
    deadline: Deadline,
) -> (HttpAnswer, bool) {
    let response = execute(state, request, viewer, deadline).await;
    let executed = execution_started(&response);
    let mut headers = HeaderMap::new();
    if let Some(refusal) = refusal_of(&response) {
        refusal.add_headers(&mut headers);
    }
    let status = status_of(&response, media);
    let mut answer = HttpAnswer::new(media, status, response_json(response));
    answer.headers.extend(headers);
    (answer, executed)
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
