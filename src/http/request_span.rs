//! The span of each HTTP request: the context of its log lines and, when traces are
//! exported, the OpenTelemetry server span (`POST /graphql`).
//!
//! It holds the request id, method, path and the client's address (and for traces the
//! route and status): never headers (tokens), query strings or bodies (message text).
//! The id is plain already (see `request_id`), the address is parsed; the method and
//! path are escaped when they are not.

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::trace::Status;
use tower_http::request_id::RequestId;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::field::Empty;
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::client_address::ClientAddress;
use crate::telemetry::Escaped;

pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        http.request.method = %Escaped(request.method()),
        url.path = %Escaped(request.uri().path()),
        client.address = Empty,
        network.peer.address = Empty,
        otel.name = Empty,
        otel.kind = Empty,
    );
    if let Some(address) = request.extensions().get::<ClientAddress>() {
        span.record("client.address", tracing::field::display(address.client));
        // The proxy it came through, when the client is not the peer.
        if address.peer != address.client {
            span.record(
                "network.peer.address",
                tracing::field::display(address.peer),
            );
        }
    }
    if crate::telemetry::traces_exported() {
        make_server_span(&span, request);
    }
    span
}

/// Names the span as OpenTelemetry names a server span, and sets its parent: the
/// caller's span in the request's `traceparent`, if any.
fn make_server_span<B>(span: &Span, request: &Request<B>) {
    let method = request.method();
    // The route is known for the paths the router serves; any other is its own name.
    match request.extensions().get::<MatchedPath>() {
        Some(route) => {
            span.record("otel.name", format!("{method} {}", route.as_str()));
            span.set_attribute("http.route", route.as_str().to_owned());
        }
        None => {
            span.record("otel.name", method.as_str());
        }
    }
    span.record("otel.kind", "server");
    crate::telemetry::continue_trace(span, request.headers());
}

/// Logs the response (with its status), and gives the trace its status: an error for a
/// 5xx, the server's own failure.
pub fn on_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status();
    if crate::telemetry::traces_exported() {
        span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.set_status(Status::error(status.to_string()));
        }
    }
    DefaultOnResponse::new()
        .level(Level::INFO)
        .on_response(response, latency, span);
}
