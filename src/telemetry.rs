//! Logs to stderr, and traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
//!
//! Without it no OpenTelemetry layer, propagator or statement hook is installed and no
//! span is made for traces alone: the server pays nothing for them. With it, the SDK
//! reads the standard `OTEL_*` variables itself (`OTEL_SERVICE_NAME`,
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, …).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Key, KeyValue, global};
use opentelemetry_http::{Bytes, HeaderExtractor, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::runtime::Handle;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The service name traces carry unless `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`) names another.
const SERVICE_NAME: &str = "supportdesk";
/// What the exporter waits for the collector on one request: OTLP's default export
/// timeout. The SDK bounds the retries of one export by `OTEL_EXPORTER_OTLP_TIMEOUT`.
const EXPORT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer of the exported traces, once [`init`] has set them up.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event, coloured when stderr is a terminal.
    #[default]
    Text,
    /// For log collectors: one JSON object per line.
    Json,
}

#[derive(Clone, Debug, clap::Args)]
pub struct LogSettings {
    /// How log lines on stderr are written: `text`, or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
#[error("the trace exporter cannot be set up: {0}")]
pub struct TelemetryError(#[from] ExporterBuildError);

/// What must outlive the server: the trace pipeline, flushed by [`Telemetry::shutdown`].
#[must_use = "call `shutdown` before exiting, or queued spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Installs the logs, on stderr, filtered by `RUST_LOG` (`info` for supportdesk by
/// default), and the traces when an OTLP endpoint is set. The exporter sends its
/// requests on `runtime`, which must still run when [`Telemetry::shutdown`] flushes them.
pub fn init(settings: &LogSettings, runtime: &Handle) -> Result<Telemetry, TelemetryError> {
    let endpoint_set = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|endpoint| !endpoint.is_empty()));
    let traces = endpoint_set.then(|| tracer_provider(runtime)).transpose()?;
    let mut layers = vec![log_layer(settings.log_format)];
    if let Some(provider) = &traces {
        let tracer = provider.tracer(SERVICE_NAME);
        global::set_text_map_propagator(TraceContextPropagator::new());
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer.clone())
                // The spans are ours and the HTTP layer's; the events in them too, which
                // are the log lines and so hold no token and no message text.
                .with_filter(
                    Targets::new()
                        .with_target("supportdesk", Level::INFO)
                        .with_target("tower_http", Level::INFO),
                )
                .boxed(),
        );
        let _ = TRACER.set(tracer);
    }
    tracing_subscriber::registry().with(layers).init();
    Ok(Telemetry { traces })
}

impl Telemetry {
    /// Exports the spans still queued, then stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}

fn log_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,opentelemetry=warn"));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer
            .with_ansi(colours_wanted(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => layer
            .json()
            // `message` beside `level` and `target`, not nested in `fields`.
            .flatten_event(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    }
}

/// Colours only for a person at a terminal who has not asked for none with a non-empty
/// `NO_COLOR` (<https://no-color.org>): escape codes are noise in a file or a collector.
fn colours_wanted(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

fn tracer_provider(runtime: &Handle) -> Result<SdkTracerProvider, ExporterBuildError> {
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

#[cfg(test)]
mod tests {
    use super::colours_wanted;

    #[test]
    fn a_terminal_gets_colours() {
        assert!(colours_wanted(true, None));
    }

    #[test]
    fn a_pipe_or_a_file_gets_no_colours() {
        assert!(!colours_wanted(false, None));
    }

    #[test]
    fn no_color_turns_colours_off_at_a_terminal() {
        assert!(!colours_wanted(true, Some("1".into())));
    }

    #[test]
    fn an_empty_no_color_counts_as_unset() {
        assert!(colours_wanted(true, Some("".into())));
    }
}
