//! Logs to stderr, and traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
//!
//! Without it no OpenTelemetry layer, propagator or statement hook is installed and no
//! span is made for traces alone: the server pays nothing for them. With it, the SDK
//! reads the standard `OTEL_*` variables itself (`OTEL_SERVICE_NAME`,
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, …).

mod logs;
mod traces;

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::ExporterBuildError;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Handle;
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

pub use self::logs::{Escaped, LogFormat};
use self::traces::{SERVICE_NAME, TRACER, tracer_provider};
pub use self::traces::{continue_trace, trace_statements, traces_exported};

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
    let mut layers = vec![logs::log_layer(settings.log_format)];
    if let Some(provider) = &traces {
        let tracer = provider.tracer(SERVICE_NAME);
        global::set_text_map_propagator(TraceContextPropagator::new());
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer.clone())
                // What a span says of the code that made it (file, line, thread, target,
                // busy and idle time) made up most of each span's attributes, and a
                // third of the cost of tracing (BENCHMARKS.md, observability cost).
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                // Our spans and our log lines, which hold no token and no message text.
                // Not tower-http's line per response: the request span already has its
                // status and its duration.
                .with_filter(Targets::new().with_target("supportdesk", Level::INFO))
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
