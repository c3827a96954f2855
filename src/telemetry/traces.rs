//! Traces over OTLP/HTTP: the exporter, the W3C `traceparent` of an incoming request,
//! and a span for each SQL statement.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Key, KeyValue, global};
use opentelemetry_http::{Bytes, HeaderExtractor, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::runtime::Handle;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The service name traces carry unless `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`) names another.
pub(super) const SERVICE_NAME: &str = "supportdesk";
/// What the exporter waits for the collector on one request: OTLP's default export
/// timeout. The SDK bounds the retries of one export by `OTEL_EXPORTER_OTLP_TIMEOUT`.
const EXPORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer of the exported traces, once [`super::init`] has set them up.
pub(super) static TRACER: OnceLock<SdkTracer> = OnceLock::new();

pub(super) fn tracer_provider(runtime: &Handle) -> Result<SdkTracerProvider, ExporterBuildError> {
    let client = RuntimeHttpClient {
        client: reqwest::Client::builder()
            .timeout(EXPORT_REQUEST_TIMEOUT)
            .build()
            .map_err(|error| ExporterBuildError::InternalFailure(error.to_string()))?,
        runtime: runtime.clone(),
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// The SDK's resource (from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`), named
/// `supportdesk` when neither names the service.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(SERVICE_NAME).build()
    }
}

/// The exporter's HTTP client: the server's own reqwest, each request run on the
/// server's runtime. The SDK exports from a thread of its own, which has no Tokio
/// reactor for reqwest to run on.
#[derive(Debug)]
struct RuntimeHttpClient {
    client: reqwest::Client,
    runtime: Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let response = client.execute(request).await?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut answer = Response::new(response.bytes().await?);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, reqwest::Error>(answer)
        });
        Ok(sent.await??)
    }
}

/// Whether spans are exported: what is recorded only for traces is skipped otherwise.
pub fn traces_exported() -> bool {
    TRACER.get().is_some()
}

/// Makes `span` continue the trace of the request's W3C `traceparent` header, if it
/// has one.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    let remote =
        global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    if remote.span().span_context().is_remote() {
        // Fails only without an OpenTelemetry layer, which is there when traces are
        // exported.
        let _ = span.set_parent(remote);
    }
}

/// Gives each SQL statement that `db` runs a span, under the span that ran it, when
/// traces are exported. The span holds the database system and the statement's text,
/// whose values are placeholders (`$1`, `?`): the bound values are never recorded.
pub fn trace_statements(db: &mut DatabaseConnection) {
    let Some(tracer) = TRACER.get().cloned() else {
        return;
    };
    let system = match db.get_database_backend() {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        _ => "other_sql",
    };
    db.set_metric_callback(move |statement| {
        // SeaORM reports a statement once it has run, in the task that ran it.
        let parent = tracing::Span::current().context();
        if !parent.span().span_context().is_valid() {
            // Background work (migrations, the event reader) belongs to no request:
            // a trace for each of its statements would only be noise.
            return;
        }
        let end = SystemTime::now();
        let start = end.checked_sub(statement.elapsed).unwrap_or(end);
        let sql = &statement.statement.sql;
        let name = sql.split_whitespace().next().unwrap_or("statement");
        let mut span = tracer
            .span_builder(name.to_owned())
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("db.system.name", system),
                KeyValue::new("db.query.text", sql.clone()),
            ])
            .start_with_context(&tracer, &parent);
        if statement.failed {
            span.set_status(Status::error("the statement failed"));
        }
        span.end_with_timestamp(end);
    });
}
