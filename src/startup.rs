//! Building and running the server: what `main` and the tests share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures_util::FutureExt;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;

use crate::auth::{TokenError, Verifier};
use crate::config::{Config, ConfigError, ConnectionLimits};
use crate::db::SchemaState;
use crate::http::serve::serve;
use crate::http::{AppState, router};
use crate::webhooks::{Delivery, Webhooks};

/// The stack of every thread of the server's runtime. The nesting guard keeps documents
/// within `GRAPHQL_MAX_NESTING` (at most `config::MAX_NESTING`) before async-graphql's
/// parser and validator recurse on them; this stack holds that ceiling with a wide
/// margin, as the tests below show on an unoptimized build, whose frames are the largest.
pub const WORKER_STACK_BYTES: usize = 32 * 1024 * 1024;

/// The longest the server waits, once the requests are done, for the pool to close.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("METRICS_ADDR: {0}")]
    MetricsListener(std::io::Error),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("JWKS client: {0}")]
    JwksClient(#[from] reqwest::Error),
    #[error("webhook client: {0}")]
    WebhookClient(reqwest::Error),
}

impl StartupError {
    /// A configuration that cannot be used exits 2, as clap does for a flag it cannot
    /// parse, so a supervisor can tell it from a failure that a restart may cure (1).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            _ => 1,
        }
    }
}

/// A server with its listener bound, ready to run. Its database need not be reachable:
/// the migrations run in the background as soon as it is, and until then the server
/// answers, but is not ready.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    metrics: Option<(TcpListener, SocketAddr)>,
    router: Router,
    db: DatabaseConnection,
    migrations: JoinHandle<()>,
    shutdown_grace: Duration,
    shutdown_drain: Duration,
    connection_limits: ConnectionLimits,
    /// Kept to close the WebSockets on shutdown: they outlive their HTTP connection.
    state: AppState,
    /// The PostgreSQL listener that wakes subscribers, on PostgreSQL.
    event_listener: Option<JoinHandle<()>>,
    /// Reads the new events once for all the subscribers of this instance.
    event_reader: JoinHandle<()>,
    /// Removes expired `Idempotency-Key` answers from time to time.
    key_sweeper: JoinHandle<()>,
    /// Fans the timeline out to webhooks and attempts their deliveries.
    delivery: Delivery,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let mut db = crate::db::connect(&config.database)?;
        crate::telemetry::trace_statements(&mut db);
        let verifier = Verifier::start(&config.auth).await?;
        let listener = TcpListener::bind(config.listen_addr).await?;
        let address = listener.local_addr()?;
        let metrics = match config.metrics_addr {
            Some(metrics_addr) => Some(bind_metrics(metrics_addr).await?),
            None => None,
        };
        let schema = SchemaState::default();
        let migrations = tokio::spawn(crate::db::migrate_when_reachable(
            db.clone(),
            schema.clone(),
        ));
        let connection_limits = config.http.connection_limits;
        let state = AppState::new(
            db.clone(),
            schema,
            verifier,
            config.http,
            Webhooks::new(config.webhooks),
        );
        // One listening connection per instance, for the events other instances write.
        let event_listener = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            state
                .notifier()
                .listen_to_postgres(config.database.url.clone(), db.clone())
        });
        let event_reader = state.notifier().read_for_subscribers(db.clone());
        let key_sweeper = state.sweep_expired_idempotency_keys();
        let delivery = Delivery::start(
            &db,
            state.webhooks(),
            state.notifier().wakeups(),
            config.shutdown_grace,
        )
        .map_err(StartupError::WebhookClient)?;
        Ok(Self {
            delivery,
            connection_limits,
            listener,
            address,
            metrics,
            router: router(state.clone()),
            state,
            event_listener,
            event_reader,
            key_sweeper,
            db,
            migrations,
            shutdown_grace: config.shutdown_grace,
            shutdown_drain: config.shutdown_drain,
        })
    }

    /// The bound port: the one the OS chose when the configuration said 0.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The metrics listener's port, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, address)| address.port())
    }

    /// Serves until SIGINT, or until the drain that SIGTERM starts is over; then
    /// finishes the requests in flight.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        // Listening from now on: a signal that comes before the first poll is not lost.
        let signals = Signals::listen();
        let stop = drain_then_stop(signals, self.shutdown_drain, self.state.clone());
        self.run_until(stop).await
    }

    /// Serves until `shutdown` completes. Then it stops accepting connections, lets the
    /// requests in flight finish for at most the grace period, closes the pool and
    /// returns. Past the grace period it returns anyway: a request stuck on a lock must
    /// not keep the process from exiting when it is told to.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        tracing::info!(address = %self.address, "supportdesk is listening");
        // Scraped until the very end: how the last requests drain is worth seeing.
        let metrics = self.metrics.map(|(listener, address)| {
            tracing::info!(%address, "metrics are served on /metrics");
            tokio::spawn(crate::metrics::serve(
                listener,
                self.connection_limits.header_read_timeout,
                self.db.clone(),
                Arc::clone(self.state.open()),
            ))
        });
        let shutdown = shutdown.shared();
        self.delivery.stop_on(shutdown.clone());
        let server = serve(
            self.listener,
            self.router,
            self.connection_limits,
            shutdown.clone(),
        );
        let grace = self.shutdown_grace;
        let state = self.state.clone();
        let grace_over = async move {
            shutdown.await;
            state.close_sockets();
            tokio::time::sleep(grace).await;
        };
        let drained = tokio::select! {
            () = server => true,
            () = grace_over => false,
        };
        self.migrations.abort();
        if let Some(event_listener) = &self.event_listener {
            event_listener.abort();
        }
        self.event_reader.abort();
        self.key_sweeper.abort();
        // Its attempts record their outcomes through the pool: before it closes.
        self.delivery.stopped().await;
        if let Some(metrics) = metrics {
            metrics.abort();
            // Awaited, so that the port is closed once the server says it stopped.
            let _ = metrics.await;
        }
        if drained {
            match tokio::time::timeout(POOL_CLOSE_TIMEOUT, self.db.close()).await {
                Ok(Ok(())) => tracing::info!("stopped"),
                Ok(Err(error)) => tracing::warn!(%error, "the database pool did not close"),
                Err(_) => tracing::warn!("the database pool did not close in time"),
            }
        } else {
            // The requests still running hold pooled connections, so waiting for the
            // pool to close would wait for them: exiting closes the connections anyway.
            tracing::warn!(
                grace_seconds = grace.as_secs_f64(),
                "requests were still running at the end of the grace period; stopping anyway"
            );
        }
        Ok(())
    }
}

/// The metrics listener, with the recorder installed before the first request.
async fn bind_metrics(address: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(StartupError::MetricsListener)?;
    let bound = listener
        .local_addr()
        .map_err(StartupError::MetricsListener)?;
    crate::metrics::install();
    Ok((listener, bound))
}

/// The signals that stop the server, each heard as many times as it comes.
struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

/// Which signal came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// SIGINT: Ctrl-C at a terminal, where no balancer waits.
    Interrupt,
    /// SIGTERM: what orchestrators and `kill` send.
    Terminate,
}

impl Signals {
    fn listen() -> Self {
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for {name}");
                None
            }
        };
        Self {
            interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            terminate: listen(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// The next SIGINT or SIGTERM; never, for one that cannot be listened for.
    async fn next(&mut self) -> Stop {
        async fn heard(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    // `None` only once the runtime is gone.
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = heard(&mut self.interrupt) => Stop::Interrupt,
            () = heard(&mut self.terminate) => Stop::Terminate,
        }
    }
}

/// Resolves when the server is to stop accepting connections. SIGINT stops it at once:
/// at a terminal nobody wants to wait, and no balancer is following. SIGTERM first
/// drains: `/readyz` answers 503 while everything else is served as before (new
/// connections accepted, sockets kept), for `drain`, so that a load balancer checking
/// it takes the instance out before it refuses anything. Another SIGTERM or SIGINT
/// during the drain cuts it short, as a second Ctrl-C or `kill` is meant to.
async fn drain_then_stop(mut signals: Signals, drain: Duration, state: AppState) {
    let first = signals.next().await;
    if first == Stop::Terminate && !drain.is_zero() {
        state.start_draining();
        tracing::info!(
            drain_seconds = drain.as_secs_f64(),
            "draining: /readyz answers 503, serving on until the balancer has taken this instance out"
        );
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            signal = signals.next() => {
                tracing::info!(?signal, "a second signal: the drain is cut short");
            }
        }
    }
    tracing::info!("shutting down: no new connections, finishing the requests in flight");
}

#[cfg(test)]
mod tests {
    use super::WORKER_STACK_BYTES;
    use crate::config::MAX_NESTING;

    /// The schema without the pipeline's guard, on a thread with a worker's stack: the
    /// parser and validator recurse once per level of nesting.
    fn survives_on_a_worker_stack(query: String) -> bool {
        std::thread::Builder::new()
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime");
                let schema = crate::graphql::schema_builder().finish();
                runtime.block_on(schema.execute(query))
            })
            .expect("a thread")
            .join()
            .is_ok()
    }

    fn nested(open: &str, inner: &str, close: &str) -> String {
        format!(
            "{}{inner}{}",
            open.repeat(MAX_NESTING),
            close.repeat(MAX_NESTING)
        )
    }

    #[test]
    fn list_values_as_deep_as_the_settings_allow_fit_a_worker_stack() {
        let value = nested("[", "1", "]");
        assert!(survives_on_a_worker_stack(format!(
            "{{ tickets(userId: {value}) {{ items {{ id }} }} }}"
        )));
    }

    #[test]
    fn object_values_as_deep_as_the_settings_allow_fit_a_worker_stack() {
        let value = nested("{a:", "1", "}");
        assert!(survives_on_a_worker_stack(format!(
            "{{ tickets(userId: {value}) {{ items {{ id }} }} }}"
        )));
    }

    #[test]
    fn selections_as_deep_as_the_settings_allow_fit_a_worker_stack() {
        assert!(survives_on_a_worker_stack(nested(
            "{ ... on Query ",
            "{ me { id } }",
            "}"
        )));
    }

    #[test]
    fn list_types_as_deep_as_the_settings_allow_fit_a_worker_stack() {
        let list_type = nested("[", "ID", "]");
        assert!(survives_on_a_worker_stack(format!(
            "query($v: {list_type}) {{ me {{ id }} }}"
        )));
    }
}
