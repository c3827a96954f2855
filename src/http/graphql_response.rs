//! Writing GraphQL responses: the media type, and `data` present only once execution
//! started. The pipeline has shaped them (a code on every error, `null` where a field
//! failed) for every transport alike.

use std::collections::BTreeMap;

use async_graphql::ErrorExtensions;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::media::ResponseMedia;
use crate::graphql::execution_started;

/// The response as JSON text. A response without errors, the common case, is written
/// straight from async-graphql's tree, keys in the order the query selected them;
/// others go through [`response_body`].
pub(super) fn response_json(response: async_graphql::Response) -> String {
    if response.errors.is_empty() && response.data != async_graphql::Value::Null {
        let answer = Answer {
            data: &response.data,
            extensions: &response.extensions,
        };
        match serde_json::to_string(&answer) {
            Ok(json) => return json,
            Err(error) => tracing::error!(%error, "cannot write a response; writing it again"),
        }
    }
    response_body(response).to_string()
}

#[derive(serde::Serialize)]
struct Answer<'a> {
    data: &'a async_graphql::Value,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// A response without `data` when execution never started, as the spec asks.
fn response_body(response: async_graphql::Response) -> Value {
    let executed = execution_started(&response);
    let mut body = serde_json::Map::new();
    if executed {
        body.insert("data".into(), json_of(&response.data));
    }
    let errors: Vec<Value> = response
        .errors
        .into_iter()
        .map(|error| json_of(&error))
        .collect();
    if !errors.is_empty() {
        body.insert("errors".into(), Value::Array(errors));
    }
    if !response.extensions.is_empty() {
        body.insert("extensions".into(), json_of(&response.extensions));
    }
    Value::Object(body)
}

fn json_of(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A body of one error, without `data`: a refusal before execution.
pub(super) fn error_body(error: &impl ErrorExtensions) -> Value {
    json!({ "errors": [error_json(error)] })
}

/// One error as GraphQL writes it: its message and its extensions.
pub(super) fn error_json(error: &impl ErrorExtensions) -> Value {
    let error = error.extend();
    json!({ "message": error.message, "extensions": error.extensions })
}

pub(super) fn respond(media: ResponseMedia, status: StatusCode, body: String) -> Response {
    HttpAnswer::new(media, status, body).into_response()
}

/// An answer before it is written out: what `Idempotency-Key` keeps of one.
pub(super) struct HttpAnswer {
    pub status: StatusCode,
    /// The content type, and any the answer's refusal adds.
    pub headers: HeaderMap,
    pub body: String,
}

impl HttpAnswer {
    pub(super) fn new(media: ResponseMedia, status: StatusCode, body: String) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
        Self {
            status,
            headers,
            body,
        }
    }
}

impl IntoResponse for HttpAnswer {
    fn into_response(self) -> Response {
        (self.status, self.headers, self.body).into_response()
    }
}
