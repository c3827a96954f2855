//! Prometheus metrics: what the server counts, and `GET /metrics` on a listener of its
//! own (`METRICS_ADDR`), so that they are never served to the public by accident.
//!
//! The recorder is the process's: it is installed once, when the first server with a
//! metrics listener is built, and every server of the process records into it. Without
//! one the `metrics` macros record nothing, at next to no cost.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::net::TcpListener;

use crate::config::ConnectionLimits;

const GRAPHQL_REQUESTS: &str = "supportdesk_graphql_requests_total";
const GRAPHQL_REQUEST_DURATION: &str = "supportdesk_graphql_request_duration_seconds";
const REFUSALS: &str = "supportdesk_refusals_total";
const DB_POOL_CONNECTIONS: &str = "supportdesk_db_pool_connections";
const WEBSOCKETS_OPEN: &str = "supportdesk_websockets_open";
const SUBSCRIPTIONS_ACTIVE: &str = "supportdesk_subscriptions_active";
const BUILD_INFO: &str = "supportdesk_build_info";
const MESSAGES_READ: &str = "supportdesk_messages_read_total";
const RATE_LIMIT_BACKEND: &str = "supportdesk_rate_limit_backend";
const RATE_LIMIT_REDIS_FAILURES: &str = "supportdesk_rate_limit_redis_failures_total";
const WEBHOOK_DELIVERIES: &str = "supportdesk_webhook_deliveries_total";
const WEBHOOK_ATTEMPT_DURATION: &str = "supportdesk_webhook_attempt_duration_seconds";
const WEBHOOK_DELIVERIES_PENDING: &str = "supportdesk_webhook_deliveries_pending";

/// Seconds: from an answer out of the document cache to past the default time budget
/// (`REQUEST_TIMEOUT_SECONDS`, 10 s).
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The recorder keeps a histogram's samples until they are rendered: drained this often,
/// they cannot pile up while nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether anything is recorded: without a metrics listener, the work of naming what
/// would be recorded is skipped too.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// The process's recorder, installed on first use.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if let Err(error) = ::metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed: /metrics stays empty");
        }
        describe();
        gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// The `# HELP` lines.
fn describe() {
    describe_counter!(
        GRAPHQL_REQUESTS,
        "GraphQL operations, over HTTP and WebSocket, by operation name and outcome (OK or the first error's code)"
    );
    describe_histogram!(
        GRAPHQL_REQUEST_DURATION,
        ::metrics::Unit::Seconds,
        "Time to answer a query or mutation, by operation name and outcome"
    );
    describe_counter!(
        REFUSALS,
        "Requests, operations, sockets and connections refused, by reason"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database pool connections, by state (in_use, idle)"
    );
    describe_counter!(
        MESSAGES_READ,
        "Messages read for GraphQL operations and subscription deliveries, as their message budgets count them"
    );
    describe_gauge!(WEBSOCKETS_OPEN, "WebSockets open");
    describe_gauge!(SUBSCRIPTIONS_ACTIVE, "Subscriptions running");
    describe_gauge!(BUILD_INFO, "The running version, in its label");
    describe_gauge!(
        RATE_LIMIT_BACKEND,
        "Where the mutation rate limit is decided now: 1 for the backend in its label (redis, shared by the fleet; memory, this instance's own), 0 for the other"
    );
    describe_counter!(
        RATE_LIMIT_REDIS_FAILURES,
        "Calls to the rate limit's Redis that failed (an error, a refused connection, no answer within RATE_LIMIT_REDIS_TIMEOUT_MS): a mutation's, decided by this instance's own bucket instead, or an attempt to reconnect"
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts made by this instance, by what became of the delivery (outcome: succeeded; retried, the attempt failed and another is scheduled; failed, the last attempt allowed failed)"
    );
    describe_histogram!(
        WEBHOOK_ATTEMPT_DURATION,
        ::metrics::Unit::Seconds,
        "Time of one webhook delivery attempt, from connecting to the receiver's answer (or its failure)"
    );
    describe_gauge!(
        WEBHOOK_DELIVERIES_PENDING,
        "Webhook deliveries waiting for an attempt or in one, over every webhook and instance (read from the database at each scrape)"
    );
}

/// One GraphQL operation, ended with `outcome`. `duration` is the time to its answer;
/// none for a subscription, whose life is no latency.
pub fn record_operation(operation: String, outcome: String, duration: Option<Duration>) {
    if let Some(duration) = duration {
        histogram!(GRAPHQL_REQUEST_DURATION, "operation" => operation.clone(), "outcome" => outcome.clone())
            .record(duration.as_secs_f64());
    }
    counter!(GRAPHQL_REQUESTS, "operation" => operation, "outcome" => outcome).increment(1);
}

/// One refusal. Each kind is counted where it is decided, once: `reason` is one of a
/// fixed set of names (`Refusal::reason`, the socket's close codes).
pub fn record_refusal(reason: &'static str) {
    if !enabled() {
        return;
    }
    counter!(REFUSALS, "reason" => reason).increment(1);
}

/// Messages read for an operation, counted against its budget.
pub fn record_messages_read(read: u64) {
    if !enabled() {
        return;
    }
    counter!(MESSAGES_READ).increment(read);
}

/// A call to the rate limit's Redis that failed.
pub fn record_rate_limit_redis_failure() {
    if !enabled() {
        return;
    }
    counter!(RATE_LIMIT_REDIS_FAILURES).increment(1);
}

/// One webhook delivery attempt, its `outcome` (`succeeded`, `retried`, `failed`) and
/// how long it took.
pub fn record_webhook_attempt(outcome: &'static str, duration: Duration) {
    if !enabled() {
        return;
    }
    counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
    histogram!(WEBHOOK_ATTEMPT_DURATION).record(duration.as_secs_f64());
}

/// Whether this server's mutation buckets are the ones in Redis right now, read at each
/// scrape.
#[derive(Debug, Default)]
pub struct RateLimitBackend(AtomicBool);

impl RateLimitBackend {
    pub fn set_shared(&self, shared: bool) {
        self.0.store(shared, Ordering::Relaxed);
    }

    pub fn is_shared(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How many of something this server has open right now, read at each scrape.
#[derive(Debug, Default)]
pub struct Tally(AtomicUsize);

impl Tally {
    /// Counts one more until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>) -> Held {
        self.0.fetch_add(1, Ordering::Relaxed);
        Held(Arc::clone(self))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One of a [`Tally`], given back on drop, however its holder ends.
#[derive(Debug)]
pub struct Held(Arc<Tally>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a server has open, and where it decides its rate limit.
#[derive(Debug, Default)]
pub struct Open {
    pub sockets: Arc<Tally>,
    pub subscriptions: Arc<Tally>,
    pub rate_limit: Arc<RateLimitBackend>,
}

/// What a scrape reads the gauges from: this server's own pool and open things.
#[derive(Clone)]
struct Sources {
    db: DatabaseConnection,
    open: Arc<Open>,
}

/// Prometheus and a person with curl at the most: a scraper that leaves connections open
/// cannot take more than these.
const MAX_SCRAPE_CONNECTIONS: usize = 8;

/// Serves `GET /metrics` on `listener` until the task is dropped, behind the same
/// ceilings as the API (a header read timeout, a cap on connections): the listener is
/// meant for a trusted network, but a slow or stuck client there must not hold it either.
pub async fn serve(
    listener: TcpListener,
    header_read_timeout: Duration,
    db: DatabaseConnection,
    open: Arc<Open>,
) {
    let handle = install();
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Sources { db, open });
    let limits = ConnectionLimits {
        max_connections: MAX_SCRAPE_CONNECTIONS,
        header_read_timeout,
    };
    let upkeep = async {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    };
    tokio::select! {
        () = crate::http::serve::serve(listener, router, limits, std::future::pending()) => {}
        () = upkeep => {}
    }
}

async fn scrape(State(sources): State<Sources>) -> Response {
    // Counted in the database (every instance's deliveries), before the turn below: a
    // slow count must not hold other scrapes. None until the migrations have run.
    let pending = crate::store::webhook_deliveries::count_pending(&sources.db)
        .await
        .ok();
    // The gauges are the process's, and a process may run several servers (the tests
    // do): each scrape sets them from its own server and renders them before another
    // scrape sets them again.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let body = {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        set_gauges(&sources);
        if let Some(pending) = pending {
            gauge!(WEBHOOK_DELIVERIES_PENDING).set(pending as f64);
        }
        install().render()
    };
    (
        [(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        body,
    )
        .into_response()
}

fn set_gauges(sources: &Sources) {
    let (size, idle) = pool_connections(&sources.db);
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(size.saturating_sub(idle) as f64);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(idle as f64);
    gauge!(WEBSOCKETS_OPEN).set(sources.open.sockets.count() as f64);
    gauge!(SUBSCRIPTIONS_ACTIVE).set(sources.open.subscriptions.count() as f64);
    let shared = sources.open.rate_limit.is_shared();
    gauge!(RATE_LIMIT_BACKEND, "backend" => "redis").set(f64::from(u8::from(shared)));
    gauge!(RATE_LIMIT_BACKEND, "backend" => "memory").set(f64::from(u8::from(!shared)));
}

/// The pool's open connections and, of them, the idle ones.
fn pool_connections(db: &DatabaseConnection) -> (usize, usize) {
    let (size, idle) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => (0, 0),
    };
    (usize::try_from(size).unwrap_or(usize::MAX), idle)
}
