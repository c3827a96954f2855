//! The span of each HTTP request: the context of its log lines and, when traces are
//! exported, the OpenTelemetry server span (`POST /graphql`).
//!
//! It holds the request id, method, path, route and status: never headers (tokens),
//! query strings or bodies (message text).

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::trace::Status;
use tower_http::request_id::RequestId;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let method = request.method();
    // The route is known for the paths the router serves; any other is its own name.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    // Its fields are what both the log lines and the trace say; `otel.*` name the
    // OpenTelemetry span and its kind.
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        http.request.method = %method,
        url.path = %request.uri().path(),
        otel.name = %name,
        otel.kind = "server",
    );
    if let Some(route) = route {
        span.set_attribute("http.route", route.to_owned());
    }
    crate::telemetry::continue_trace(&span, request.headers());
    span
}

/// Logs the response (with its status), and gives the trace its status: an error for a
/// 5xx, the server's own failure.
pub fn on_response<B>(response: &Response<B>, latency: Duration, span: &Span) {
    let status = response.status();
    span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.set_status(Status::error(status.to_string()));
    }
    DefaultOnResponse::new()
        .level(Level::INFO)
        .on_response(response, latency, span);
}
