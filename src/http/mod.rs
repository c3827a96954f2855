//! The HTTP edge: routes, authentication, GraphQL over HTTP, health, and the layers
//! every request passes (request id and log line, CORS).

mod auth;
mod client_address;
mod graphiql;
mod graphql;
mod graphql_response;
mod health;
mod idempotency;
mod media;
mod refusal;
mod request_body;
mod request_id;
mod request_span;
pub mod serve;
mod socket;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{HeaderName, Method, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use crate::auth::Verifier;
use crate::config::{CorsOrigin, HttpOptions};
use crate::db::SchemaState;
use crate::graphql::AppSchema;
use crate::metrics::Open;
use crate::notify::EventNotifier;
use crate::refusal::Refusal;
use crate::webhooks::Webhooks;

use self::media::ResponseMedia;
use self::refusal::refuse;
use self::request_id::{REQUEST_ID, drop_unusable_request_id};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    schema: AppSchema,
    sockets: Arc<socket::OpenSockets>,
    /// What the metrics' gauges read.
    open: Arc<Open>,
    /// Wakes this instance's subscribers.
    notifier: Arc<EventNotifier>,
    /// Raised on shutdown: open sockets are closed, so clients reconnect elsewhere.
    stopping: Arc<watch::Sender<bool>>,
    /// Raised at SIGTERM: `/readyz` answers 503 so the balancer stops sending requests.
    draining: Arc<AtomicBool>,
    verifier: Arc<Verifier>,
    db: DatabaseConnection,
    db_schema: SchemaState,
    http: Arc<HttpOptions>,
    webhooks: Arc<Webhooks>,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        db_schema: SchemaState,
        verifier: Verifier,
        http: HttpOptions,
        webhooks: Webhooks,
    ) -> Self {
        let notifier = EventNotifier::new();
        let open = Arc::new(Open::default());
        let webhooks = Arc::new(webhooks);
        Self {
            schema: crate::graphql::schema(
                db.clone(),
                Arc::clone(&notifier),
                Arc::clone(&open),
                Arc::clone(&webhooks),
                &http,
            ),
            notifier,
            open,
            sockets: Arc::new(socket::OpenSockets::new(&http.socket_limits)),
            stopping: Arc::new(watch::Sender::new(false)),
            draining: Arc::new(AtomicBool::new(false)),
            verifier: Arc::new(verifier),
            db,
            db_schema,
            http: Arc::new(http),
            webhooks,
        }
    }
}

impl AppState {
    /// What wakes this instance's subscribers: on PostgreSQL, fed by a listener.
    pub fn notifier(&self) -> &Arc<EventNotifier> {
        &self.notifier
    }

    /// The webhook settings, and the vault of their secrets (which seals kept answers too).
    pub fn webhooks(&self) -> &Arc<Webhooks> {
        &self.webhooks
    }

    /// What this server has open, for the metrics.
    pub fn open(&self) -> &Arc<Open> {
        &self.open
    }

    /// Closes every open WebSocket with 1001 (going away), as the server shuts down.
    pub fn close_sockets(&self) {
        self.stopping.send_replace(true);
    }

    /// From now on `/readyz` answers 503; everything else is served as before.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.http.cors_origins);
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span::request_span)
        .on_request(())
        .on_response(request_span::on_response)
        // A 503 is the readiness probe or the time budget speaking, not a fault of ours:
        // the errors that are (database, panics) are logged where they happen.
        .on_failure(DefaultOnFailure::new().level(Level::WARN));
    // Past `MAX_REQUESTS_IN_FLIGHT` GraphQL requests, the next is answered 503 at once, so
    // that a flood queues neither in memory nor on the database pool.
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            refuse(ResponseMedia::Json, &Refusal::Overloaded)
        }))
        .load_shed()
        .concurrency_limit(state.http.max_requests_in_flight);
    let schema_ready = middleware::from_fn_with_state(state.clone(), refuse_until_schema_current);
    let proxies = Arc::new(state.http.trusted_proxies.clone());
    let client_address =
        MapRequestLayer::new(move |request| client_address::with_client_address(&proxies, request));
    Router::new()
        // The last layer runs first: a server that cannot serve yet takes no permit.
        .route(
            "/graphql",
            get(graphql::query_or_socket)
                .post(graphql::execute_post)
                .route_layer(shed)
                .route_layer(schema_ready),
        )
        .merge(graphiql::routes())
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .with_state(state)
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        // Before the span is made: it names the client.
        .layer(client_address)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // A client's id is used only when it is short and plain; else the layer above
        // makes a new one.
        .layer(MapRequestLayer::new(drop_unusable_request_id))
}

/// Until the migrations have run, every GraphQL request would fail on a table that is
/// not there yet: answer 503 at once instead, so that clients retry rather than report
/// an internal error.
async fn refuse_until_schema_current(
    State(state): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if !state.db_schema.is_current() {
        return refuse(ResponseMedia::Json, &Refusal::SchemaNotReady);
    }
    next.run(request).await
}

/// Browsers may call the API only from the listed origins. They were checked with the
/// configuration, so none is `*` (which `AllowOrigin::list` would panic on).
fn cors_layer(origins: &[CorsOrigin]) -> CorsLayer {
    let origins = origins.iter().map(|origin| origin.header_value().clone());
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
            idempotency::IDEMPOTENCY_KEY,
        ])
        .expose_headers([REQUEST_ID, idempotency::IDEMPOTENT_REPLAYED])
}
