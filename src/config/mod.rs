//! Settings from flags and the environment, checked into a [`Config`].

use std::fmt::Display;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::time::Duration;

use axum::http::HeaderValue;
use reqwest::Url;

use crate::auth::{AuthConfig, AuthConfigError, AuthSettings};

mod idempotency;
mod limits;
mod shared_rate_limit;
mod trusted_proxies;
mod webhook_delivery;
mod webhooks;

pub use idempotency::{ABANDONED_CLAIM_MARGIN, IdempotencyOptions, IdempotencySettings};
pub use limits::{ConnectionLimits, QueryLimits, RateLimit, SocketLimits};
pub use shared_rate_limit::{SharedRateLimit, SharedRateLimitSettings};
pub use trusted_proxies::TrustedProxies;
pub use webhook_delivery::{DeliveryOptions, WebhookDeliverySettings};
pub use webhooks::{WebhookOptions, WebhookSettings};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://supportdesk.db?mode=rwc";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;
pub const DEFAULT_DATABASE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DATABASE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// A little more than `deploy/haproxy.cfg` takes to mark an instance down: two failed
/// checks (`fall 2`) one second apart (`inter 1s`). A test holds the two together.
pub const DEFAULT_SHUTDOWN_DRAIN: Duration = Duration::from_secs(3);
/// Ten minutes covers a balancer that checks once a minute and a DNS name whose TTL is
/// five; a longer drain is a typo that would hold every deploy (and outlast the stop
/// timeout of systemd, 90 s, or Kubernetes, 30 s, which then kill the process).
const MAX_SHUTDOWN_DRAIN_SECONDS: u64 = 600;

/// The longest any duration setting may be. Nothing here needs longer, and the bound
/// keeps the arithmetic later done on these durations (deadlines, `Instant` sums) far
/// from overflowing.
const MAX_SECONDS: u64 = 86_400;
/// Requests smaller than this are refused by any body limit below it: GraphiQL's
/// introspection query alone is larger.
const MIN_BODY_BYTES: usize = 1024;
/// A body is buffered whole before it is parsed: more than this per request would let a
/// few clients exhaust the memory.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// async-graphql's parser and validator recurse once per level: much deeper and they
/// would overflow the stack the limit is there to protect.
pub const MAX_NESTING: usize = 256;
/// Past these a rate limit is no limit, and the retry hint's arithmetic loses meaning.
const MAX_RATE_LIMIT_BURST: u32 = 1_000_000;
const RATE_LIMIT_PER_SECOND: RangeInclusive<f64> = 0.001..=1_000_000.0;
const MAX_DATABASE_CONNECTIONS: u32 = 10_000;

/// Where the database is: all `supportdesk token` needs of it, to find the secret
/// generated beside an SQLite file.
#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseUrl {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    // Its value may hold a password: `--help` must not show it.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,
}

/// The database settings: all that `supportdesk migrate` and `seed` take.
#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseSettings {
    #[command(flatten)]
    pub url: DatabaseUrl,
    /// Most connections the database pool holds open.
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = DEFAULT_DATABASE_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub database_max_connections: u32,
    /// Seconds a request waits for a database connection before it fails.
    #[arg(
        long,
        env = "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        default_value_t = DEFAULT_DATABASE_ACQUIRE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub database_acquire_timeout_seconds: u64,
    /// PostgreSQL only: seconds a statement may run before the database cancels it;
    /// 0 for no limit.
    #[arg(
        long,
        env = "DATABASE_STATEMENT_TIMEOUT_SECONDS",
        default_value_t = DEFAULT_DATABASE_STATEMENT_TIMEOUT.as_secs()
    )]
    pub database_statement_timeout_seconds: u64,
}

impl TryFrom<DatabaseSettings> for DatabaseConfig {
    type Error = ConfigError;

    fn try_from(settings: DatabaseSettings) -> Result<Self, ConfigError> {
        Ok(Self {
            url: settings.url.database_url,
            max_connections: within(
                "DATABASE_MAX_CONNECTIONS",
                settings.database_max_connections,
                1..=MAX_DATABASE_CONNECTIONS,
            )?,
            acquire_timeout: seconds(
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
                settings.database_acquire_timeout_seconds,
                1,
            )?,
            statement_timeout: seconds(
                "DATABASE_STATEMENT_TIMEOUT_SECONDS",
                settings.database_statement_timeout_seconds,
                0,
            )?,
        })
    }
}

/// Every setting of the server, each a flag and an environment variable: what
/// `supportdesk serve` takes.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Seconds the server lets requests in flight finish after SIGTERM or SIGINT before
    /// it exits anyway.
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_SECONDS",
        default_value_t = DEFAULT_SHUTDOWN_GRACE.as_secs()
    )]
    pub shutdown_grace_seconds: u64,
    /// Seconds the server keeps serving after SIGTERM while `/readyz` answers 503, so
    /// that a load balancer takes it out first; 0 for none. SIGINT does not drain.
    #[arg(
        long,
        env = "SHUTDOWN_DRAIN_SECONDS",
        default_value_t = DEFAULT_SHUTDOWN_DRAIN.as_secs()
    )]
    pub shutdown_drain_seconds: u64,
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR)]
    pub listen_addr: SocketAddr,
    /// Address and port of the Prometheus metrics (`GET /metrics`); unset, they are not
    /// served. Keep it off the public network.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// How the HTTP endpoint defends itself; every default is in [`HttpOptions::DEFAULT`].
#[derive(Clone, Debug, clap::Args)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes; a larger one gets 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = HttpOptions::DEFAULT.max_body_bytes)]
    pub max_body_bytes: usize,
    /// Time budget of one GraphQL operation, in seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = HttpOptions::DEFAULT.request_timeout.as_secs_f64())]
    pub request_timeout_seconds: f64,
    /// Origins allowed to call the API from a browser, comma-separated; none by default.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Load balancers whose `X-Forwarded-For` is believed, comma-separated IP addresses
    /// or CIDR networks; none by default.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Whether the schema can be introspected; `false` also turns off field suggestions.
    #[arg(long, env = "GRAPHQL_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphql_introspection: bool,
    /// Deepest field nesting of a query.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = QueryLimits::DEFAULT.max_depth)]
    pub graphql_max_depth: u64,
    /// Most fields in a query, fragments expanded (its complexity).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = QueryLimits::DEFAULT.max_fields)]
    pub graphql_max_complexity: u64,
    /// Most aliased fields in a query.
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = QueryLimits::DEFAULT.max_aliases)]
    pub graphql_max_aliases: u64,
    /// Most fields at the root of an operation.
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = QueryLimits::DEFAULT.max_root_fields)]
    pub graphql_max_root_fields: u64,
    /// Most directives in a document.
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = QueryLimits::DEFAULT.max_directives)]
    pub graphql_max_directives: u64,
    /// Most an operation may load: every field counts one, lists multiply by their size.
    #[arg(long, env = "GRAPHQL_MAX_COST", default_value_t = QueryLimits::DEFAULT.max_cost)]
    pub graphql_max_cost: u64,
    /// Deepest bracket nesting of a document's text and of its variables.
    #[arg(long, env = "GRAPHQL_MAX_NESTING", default_value_t = QueryLimits::DEFAULT.max_nesting)]
    pub graphql_max_nesting: usize,
    /// Most operations in one batched (JSON array) request.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = QueryLimits::DEFAULT.max_batch)]
    pub graphql_max_batch: usize,
    /// Most messages an operation may read.
    #[arg(long, env = "GRAPHQL_MAX_MESSAGES", default_value_t = QueryLimits::DEFAULT.max_messages)]
    pub graphql_max_messages: u64,
    /// Prepared documents and persisted queries (APQ) kept for reuse.
    #[arg(long, env = "GRAPHQL_DOCUMENT_CACHE_ENTRIES", default_value_t = QueryLimits::DEFAULT.document_cache_entries.get())]
    pub graphql_document_cache_entries: usize,
    /// Most connections open at once; past it a new one is closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = HttpOptions::DEFAULT.connection_limits.max_connections)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers, and that a keep-alive
    /// connection may sit idle.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS", default_value_t = HttpOptions::DEFAULT.connection_limits.header_read_timeout.as_secs_f64())]
    pub header_read_timeout_seconds: f64,
    /// Most GraphQL requests served at once; past it, 503 with `Retry-After`.
    #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT", default_value_t = HttpOptions::DEFAULT.max_requests_in_flight)]
    pub max_requests_in_flight: usize,
    /// Seconds a WebSocket may stay open without `connection_init`.
    #[arg(long, env = "WS_INIT_TIMEOUT_SECONDS", default_value_t = SocketLimits::DEFAULT.init_timeout.as_secs_f64())]
    pub ws_init_timeout_seconds: f64,
    /// Operations (subscriptions) one WebSocket may run at once.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = SocketLimits::DEFAULT.max_subscriptions)]
    pub ws_max_subscriptions: usize,
    /// WebSockets one user may have open on one instance.
    #[arg(long, env = "WS_MAX_SOCKETS_PER_USER", default_value_t = SocketLimits::DEFAULT.max_sockets_per_user)]
    pub ws_max_sockets_per_user: usize,
    /// WebSockets of every user together on one instance; by default three quarters of
    /// MAX_CONNECTIONS, and always fewer than it.
    #[arg(long, env = "WS_MAX_SOCKETS")]
    pub ws_max_sockets: Option<usize>,
    /// WebSockets initialised without a token, together, on one instance.
    #[arg(long, env = "WS_MAX_ANONYMOUS_SOCKETS", default_value_t = SocketLimits::DEFAULT.max_anonymous_sockets)]
    pub ws_max_anonymous_sockets: usize,
    /// Operations (subscriptions) one user may run at once over all their WebSockets on
    /// one instance.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS_PER_USER", default_value_t = SocketLimits::DEFAULT.max_subscriptions_per_user)]
    pub ws_max_subscriptions_per_user: usize,
    /// Messages one user's subscriptions together may read per second, on average.
    #[arg(long, env = "WS_SUBSCRIPTION_MESSAGES_PER_SECOND", default_value_t = SocketLimits::DEFAULT.subscription_messages_per_second)]
    pub ws_subscription_messages_per_second: u64,
    /// Largest message a client may send over a WebSocket, in bytes.
    #[arg(long, env = "WS_MAX_MESSAGE_BYTES", default_value_t = SocketLimits::DEFAULT.max_message_bytes)]
    pub ws_max_message_bytes: usize,
    /// Seconds between two keep-alive pings on a WebSocket.
    #[arg(long, env = "WS_KEEPALIVE_SECONDS", default_value_t = SocketLimits::DEFAULT.keepalive_interval.as_secs_f64())]
    pub ws_keepalive_seconds: f64,
    /// Mutations a user may send at once.
    #[arg(long, env = "MUTATION_RATE_LIMIT_BURST", default_value_t = RateLimit::DEFAULT.burst)]
    pub mutation_rate_limit_burst: u32,
    /// Mutations a user regains per second.
    #[arg(long, env = "MUTATION_RATE_LIMIT_PER_SECOND", default_value_t = RateLimit::DEFAULT.per_second)]
    pub mutation_rate_limit_per_second: f64,
    #[command(flatten)]
    pub idempotency: IdempotencySettings,
    #[command(flatten)]
    pub shared_rate_limit: SharedRateLimitSettings,
}

/// The checked form of [`HttpSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct HttpOptions {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub cors_origins: Vec<CorsOrigin>,
    /// Whose `X-Forwarded-For` names the client in the log.
    pub trusted_proxies: TrustedProxies,
    pub introspection: bool,
    pub query_limits: QueryLimits,
    pub mutation_rate_limit: RateLimit,
    /// Where the mutation buckets are shared with the fleet; `None`: in this instance only.
    pub shared_rate_limit: Option<SharedRateLimit>,
    pub connection_limits: ConnectionLimits,
    pub max_requests_in_flight: usize,
    pub socket_limits: SocketLimits,
    pub idempotency: IdempotencyOptions,
}

impl HttpOptions {
    pub const DEFAULT: Self = Self {
        max_body_bytes: 1024 * 1024,
        request_timeout: Duration::from_secs(10),
        cors_origins: Vec::new(),
        trusted_proxies: TrustedProxies::NONE,
        introspection: true,
        query_limits: QueryLimits::DEFAULT,
        mutation_rate_limit: RateLimit::DEFAULT,
        shared_rate_limit: None,
        connection_limits: ConnectionLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
        },
        max_requests_in_flight: 256,
        socket_limits: SocketLimits::DEFAULT,
        idempotency: IdempotencyOptions::DEFAULT,
    };
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<HttpSettings> for HttpOptions {
    type Error = ConfigError;

    fn try_from(settings: HttpSettings) -> Result<Self, ConfigError> {
        let max_connections = within(
            "MAX_CONNECTIONS",
            settings.max_connections,
            1..=MAX_CONNECTIONS,
        )?;
        let request_timeout =
            fractional_seconds("REQUEST_TIMEOUT_SECONDS", settings.request_timeout_seconds)?;
        Ok(Self {
            max_body_bytes: within(
                "MAX_BODY_BYTES",
                settings.max_body_bytes,
                MIN_BODY_BYTES..=MAX_BODY_BYTES,
            )?,
            request_timeout,
            cors_origins: cors_origins(&settings.cors_origins)?,
            trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)?,
            introspection: settings.graphql_introspection,
            query_limits: QueryLimits {
                max_depth: positive("GRAPHQL_MAX_DEPTH", settings.graphql_max_depth)?,
                max_fields: positive("GRAPHQL_MAX_COMPLEXITY", settings.graphql_max_complexity)?,
                max_aliases: positive("GRAPHQL_MAX_ALIASES", settings.graphql_max_aliases)?,
                max_root_fields: positive(
                    "GRAPHQL_MAX_ROOT_FIELDS",
                    settings.graphql_max_root_fields,
                )?,
                max_directives: positive(
                    "GRAPHQL_MAX_DIRECTIVES",
                    settings.graphql_max_directives,
                )?,
                max_cost: positive("GRAPHQL_MAX_COST", settings.graphql_max_cost)?,
                max_messages: within(
                    "GRAPHQL_MAX_MESSAGES",
                    settings.graphql_max_messages,
                    1..=MAX_MESSAGES,
                )?,
                max_nesting: within(
                    "GRAPHQL_MAX_NESTING",
                    settings.graphql_max_nesting,
                    1..=MAX_NESTING,
                )?,
                max_batch: within(
                    "GRAPHQL_MAX_BATCH",
                    settings.graphql_max_batch,
                    1..=usize::MAX,
                )?,
                document_cache_entries: within(
                    "GRAPHQL_DOCUMENT_CACHE_ENTRIES",
                    settings.graphql_document_cache_entries,
                    1..=MAX_DOCUMENT_CACHE_ENTRIES,
                )
                .map(|entries| NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN))?,
            },
            mutation_rate_limit: RateLimit {
                burst: within(
                    "MUTATION_RATE_LIMIT_BURST",
                    settings.mutation_rate_limit_burst,
                    1..=MAX_RATE_LIMIT_BURST,
                )?,
                per_second: rate_per_second(settings.mutation_rate_limit_per_second)?,
            },
            shared_rate_limit: settings.shared_rate_limit.try_into()?,
            connection_limits: ConnectionLimits {
                max_connections,
                header_read_timeout: fractional_seconds(
                    "HEADER_READ_TIMEOUT_SECONDS",
                    settings.header_read_timeout_seconds,
                )?,
            },
            max_requests_in_flight: within(
                "MAX_REQUESTS_IN_FLIGHT",
                settings.max_requests_in_flight,
                1..=MAX_CONNECTIONS,
            )?,
            socket_limits: SocketLimits {
                init_timeout: fractional_seconds(
                    "WS_INIT_TIMEOUT_SECONDS",
                    settings.ws_init_timeout_seconds,
                )?,
                max_subscriptions: within(
                    "WS_MAX_SUBSCRIPTIONS",
                    settings.ws_max_subscriptions,
                    1..=MAX_CONNECTIONS,
                )?,
                max_sockets_per_user: within(
                    "WS_MAX_SOCKETS_PER_USER",
                    settings.ws_max_sockets_per_user,
                    1..=MAX_CONNECTIONS,
                )?,
                max_sockets: match settings.ws_max_sockets {
                    Some(sockets) => within("WS_MAX_SOCKETS", sockets, 0..=max_connections - 1)?,
                    None => SocketLimits::default_max_sockets(max_connections),
                },
                max_anonymous_sockets: within(
                    "WS_MAX_ANONYMOUS_SOCKETS",
                    settings.ws_max_anonymous_sockets,
                    0..=MAX_CONNECTIONS,
                )?,
                max_subscriptions_per_user: within(
                    "WS_MAX_SUBSCRIPTIONS_PER_USER",
                    settings.ws_max_subscriptions_per_user,
                    1..=MAX_CONNECTIONS,
                )?,
                subscription_messages_per_second: within(
                    "WS_SUBSCRIPTION_MESSAGES_PER_SECOND",
                    settings.ws_subscription_messages_per_second,
                    1..=MAX_MESSAGES,
                )?,
                max_message_bytes: within(
                    "WS_MAX_MESSAGE_BYTES",
                    settings.ws_max_message_bytes,
                    MIN_BODY_BYTES..=MAX_BODY_BYTES,
                )?,
                keepalive_interval: fractional_seconds(
                    "WS_KEEPALIVE_SECONDS",
                    settings.ws_keepalive_seconds,
                )?,
            },
            idempotency: IdempotencyOptions::checked(&settings.idempotency, request_timeout)?,
        })
    }
}

/// An origin browsers may call the API from, written as a browser writes it in the
/// `Origin` header (`https://app.example.com`, `http://localhost:3000`), so the CORS
/// layer can compare it byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsOrigin(HeaderValue);

impl CorsOrigin {
    /// `scheme://host[:port]` with `http` or `https`, without user, path, query or
    /// fragment; the host is lower-cased and a default port dropped, as browsers do.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let value = value.trim();
        if value == "*" {
            return Err(ConfigError::invalid(
                "CORS_ORIGINS",
                "`*` is not accepted: list the origins browsers may call from, \
                 comma-separated (https://app.example.com,https://admin.example.com)",
            ));
        }
        let not_an_origin = || {
            ConfigError::invalid(
                "CORS_ORIGINS",
                format!(
                    "`{value}` is not an origin: write scheme://host[:port], with http or \
                     https and no path (https://app.example.com)"
                ),
            )
        };
        let url = Url::parse(value).map_err(|_| not_an_origin())?;
        let bare = matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && !value.ends_with('/')
            && url.query().is_none()
            && url.fragment().is_none();
        if !bare {
            return Err(not_an_origin());
        }
        HeaderValue::from_str(&url.origin().ascii_serialization())
            .map(Self)
            .map_err(|_| not_an_origin())
    }

    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// The listed origins; empty entries (a trailing comma) are skipped.
fn cors_origins(list: &[String]) -> Result<Vec<CorsOrigin>, ConfigError> {
    list.iter()
        .filter(|origin| !origin.trim().is_empty())
        .map(|origin| CorsOrigin::parse(origin))
        .collect()
}

/// `value` when `range` holds it; NaN is in no range.
fn within<T: PartialOrd + Display>(
    setting: &'static str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::invalid(
            setting,
            format!(
                "must be between {} and {}, not {value}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// Each entry may hold a document of up to 32 KiB, parsed and as text.
const MAX_DOCUMENT_CACHE_ENTRIES: usize = 100_000;

/// Messages of up to 10,000 characters: a million of them is gigabytes already.
const MAX_MESSAGES: u64 = 1_000_000;

/// Far past what one process can serve, and within what a semaphore can count.
const MAX_CONNECTIONS: usize = 1_000_000;

fn positive(setting: &'static str, value: u64) -> Result<u64, ConfigError> {
    within(setting, value, 1..=u64::MAX)
}

/// Whole seconds, from `min` to a day.
fn seconds(setting: &'static str, value: u64, min: u64) -> Result<Duration, ConfigError> {
    within(setting, value, min..=MAX_SECONDS).map(Duration::from_secs)
}

/// Seconds with a fraction, from a millisecond to a day.
fn fractional_seconds(setting: &'static str, value: f64) -> Result<Duration, ConfigError> {
    // The bounds exclude NaN and the infinities, which `Duration` cannot hold.
    within(setting, value, 0.001..=MAX_SECONDS as f64).map(Duration::from_secs_f64)
}

/// An address that is not the API's: the metrics must not end up on its port.
fn apart_from(
    setting: &'static str,
    address: SocketAddr,
    api: SocketAddr,
) -> Result<SocketAddr, ConfigError> {
    let same_port = address.port() != 0 && address.port() == api.port();
    let overlapping =
        address.ip() == api.ip() || address.ip().is_unspecified() || api.ip().is_unspecified();
    if same_port && overlapping {
        return Err(ConfigError::invalid(
            setting,
            format!("{address} is where LISTEN_ADDR ({api}) serves the API"),
        ));
    }
    Ok(address)
}

/// Zero (no mutation is ever regained) or a rate the retry hint can be computed from.
fn rate_per_second(value: f64) -> Result<f64, ConfigError> {
    if value == 0.0 {
        return Ok(0.0);
    }
    within(
        "MUTATION_RATE_LIMIT_PER_SECOND",
        value,
        RATE_LIMIT_PER_SECOND,
    )
}

/// A complete, checked configuration. Tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub listen_addr: SocketAddr,
    /// Where the metrics are served; `None`, nowhere.
    pub metrics_addr: Option<SocketAddr>,
    pub auth: AuthConfig,
    pub http: HttpOptions,
    pub webhooks: WebhookOptions,
    /// How long requests in flight may run on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long the server keeps serving after SIGTERM, not ready, before it stops.
    pub shutdown_drain: Duration,
}

/// How to reach the database and how long to wait for it.
#[derive(Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection (and so, while the database is
    /// unreachable, how long until it fails).
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout`; zero for none. SQLite has no equivalent.
    pub statement_timeout: Duration,
}

impl DatabaseConfig {
    /// `url` with the default limits.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_DATABASE_ACQUIRE_TIMEOUT,
            statement_timeout: DEFAULT_DATABASE_STATEMENT_TIMEOUT,
        }
    }
}

/// The URL's password stays out of logs and error messages that print a `Config`.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &crate::db::redacted_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// A setting that cannot be used; the message names it by its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error("{setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

impl ConfigError {
    fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Checks every setting. Authentication comes last: it may generate a secret file,
    /// which a configuration refused for another reason should not leave behind.
    pub fn from_settings(settings: ServerSettings) -> Result<Self, ConfigError> {
        let database: DatabaseConfig = settings.database.try_into()?;
        let http = settings.http.try_into()?;
        let webhooks = settings.webhooks.try_into()?;
        let shutdown_grace = seconds("SHUTDOWN_GRACE_SECONDS", settings.shutdown_grace_seconds, 0)?;
        let shutdown_drain = within(
            "SHUTDOWN_DRAIN_SECONDS",
            settings.shutdown_drain_seconds,
            0..=MAX_SHUTDOWN_DRAIN_SECONDS,
        )
        .map(Duration::from_secs)?;
        let metrics_addr = settings
            .metrics_addr
            .map(|address| apart_from("METRICS_ADDR", address, settings.listen_addr))
            .transpose()?;
        Ok(Self {
            auth: AuthConfig::from_settings(settings.auth, &database.url)?,
            database,
            listen_addr: settings.listen_addr,
            metrics_addr,
            http,
            webhooks,
            shutdown_grace,
            shutdown_drain,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A secret of the least length accepted.
    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    /// A database for which no secret is ever generated.
    const POSTGRES_URL: &str = "postgres://supportdesk@127.0.0.1:5432/supportdesk";

    /// The HTTP settings as the flags' defaults give them.
    #[derive(Parser)]
    struct DefaultHttpSettings {
        #[command(flatten)]
        http: HttpSettings,
    }

    /// Settings that pass, over PostgreSQL with a secret.
    fn valid_settings() -> ServerSettings {
        ServerSettings {
            database: DatabaseSettings {
                url: DatabaseUrl {
                    database_url: POSTGRES_URL.into(),
                },
                database_max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
                database_acquire_timeout_seconds: DEFAULT_DATABASE_ACQUIRE_TIMEOUT.as_secs(),
                database_statement_timeout_seconds: DEFAULT_DATABASE_STATEMENT_TIMEOUT.as_secs(),
            },
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE.as_secs(),
            shutdown_drain_seconds: DEFAULT_SHUTDOWN_DRAIN.as_secs(),
            listen_addr: "0.0.0.0:8080".parse().expect("socket address"),
            metrics_addr: None,
            auth: AuthSettings {
                jwt_secret: Some(SECRET.into()),
                ..AuthSettings::without_keys()
            },
            http: DefaultHttpSettings::parse_from(["supportdesk"]).http,
            webhooks: WebhookSettings {
                webhook_allow_http: false,
                webhook_allow_private_networks: false,
                webhook_secret_key: None,
                delivery: WebhookDeliverySettings::defaults(),
            },
        }
    }

    fn refusal(settings: ServerSettings) -> String {
        Config::from_settings(settings)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn the_http_flag_defaults_are_the_documented_defaults() {
        let config = Config::from_settings(valid_settings()).expect("config");
        assert_eq!(config.http, HttpOptions::DEFAULT);
    }

    #[test]
    fn a_request_timeout_of_zero_is_refused() {
        let mut settings = valid_settings();
        settings.http.request_timeout_seconds = 0.0;
        assert!(refusal(settings).contains("REQUEST_TIMEOUT_SECONDS"));
    }

    #[test]
    fn a_request_timeout_that_is_not_a_number_is_refused() {
        for timeout in [f64::NAN, f64::INFINITY, -1.0] {
            let mut settings = valid_settings();
            settings.http.request_timeout_seconds = timeout;
            assert!(
                refusal(settings).contains("REQUEST_TIMEOUT_SECONDS"),
                "{timeout}"
            );
        }
    }

    #[test]
    fn a_request_timeout_over_a_day_is_refused() {
        let mut settings = valid_settings();
        settings.http.request_timeout_seconds = 86_401.0;
        assert!(refusal(settings).contains("REQUEST_TIMEOUT_SECONDS"));
    }

    #[test]
    fn metrics_on_the_api_port_are_refused() {
        let mut settings = valid_settings();
        settings.metrics_addr = Some("127.0.0.1:8080".parse().expect("socket address"));
        let error = Config::from_settings(settings).expect_err("refused");
        assert!(error.to_string().starts_with("METRICS_ADDR:"), "{error}");
    }

    #[test]
    fn metrics_on_a_port_of_their_own_are_accepted() {
        let mut settings = valid_settings();
        let address = "127.0.0.1:9090".parse().expect("socket address");
        settings.metrics_addr = Some(address);
        let config = Config::from_settings(settings).expect("accepted");
        assert_eq!(config.metrics_addr, Some(address));
    }

    #[test]
    fn a_shutdown_grace_over_a_day_is_refused() {
        let mut settings = valid_settings();
        settings.shutdown_grace_seconds = u64::MAX;
        assert!(refusal(settings).contains("SHUTDOWN_GRACE_SECONDS"));
    }

    #[test]
    fn a_drain_over_ten_minutes_is_refused_and_none_is_accepted() {
        let mut settings = valid_settings();
        settings.shutdown_drain_seconds = 601;
        assert!(refusal(settings).contains("SHUTDOWN_DRAIN_SECONDS"));
        let mut settings = valid_settings();
        settings.shutdown_drain_seconds = 0;
        let config = Config::from_settings(settings).expect("accepted");
        assert_eq!(config.shutdown_drain, Duration::ZERO);
    }

    #[test]
    fn a_trusted_proxy_that_is_not_an_address_is_refused() {
        let mut settings = valid_settings();
        settings.http.trusted_proxies = vec!["10.0.0.0/8".into(), "proxy.internal".into()];
        assert!(refusal(settings).starts_with("TRUSTED_PROXIES:"));
    }

    /// A duration as HAProxy writes it: milliseconds unless suffixed.
    fn haproxy_duration(text: &str) -> Duration {
        let number = |digits: &str| digits.parse::<u64>().expect("a whole number");
        if let Some(millis) = text.strip_suffix("ms") {
            Duration::from_millis(number(millis))
        } else if let Some(seconds) = text.strip_suffix('s') {
            Duration::from_secs(number(seconds))
        } else if let Some(minutes) = text.strip_suffix('m') {
            Duration::from_secs(60 * number(minutes))
        } else {
            Duration::from_millis(number(text))
        }
    }

    /// The word after `key` on the first line of `deploy/haproxy.cfg` that starts with
    /// `line_start`.
    fn haproxy_setting(line_start: &str, key: &str) -> String {
        let config = include_str!("../../deploy/haproxy.cfg");
        let line = config
            .lines()
            .map(str::trim)
            .find(|line| {
                line.strip_prefix(line_start)
                    .is_some_and(|rest| rest.starts_with(char::is_whitespace))
            })
            .unwrap_or_else(|| panic!("no `{line_start}` line"));
        let mut words = line.split_whitespace();
        words.find(|word| *word == key);
        words
            .next()
            .unwrap_or_else(|| panic!("no `{key}` on `{line}`"))
            .to_owned()
    }

    /// The balancer takes an instance out after `fall` failed checks `inter` apart: the
    /// default drain must outlast that (or a deploy sends requests to a closed port), by
    /// less than one more check (or every deploy waits for nothing).
    #[test]
    fn the_default_drain_is_a_little_more_than_the_balancers_checks_take() {
        let inter = haproxy_duration(&haproxy_setting("default-server", "inter"));
        let fall: u32 = haproxy_setting("default-server", "fall")
            .parse()
            .expect("a count");
        let taken_out_within = inter * fall;
        assert!(DEFAULT_SHUTDOWN_DRAIN > taken_out_within);
        assert!(DEFAULT_SHUTDOWN_DRAIN <= taken_out_within + inter);
    }

    /// The balancer waits longer for an answer than the server takes to give one, so a
    /// slow request gets the server's `TIMEOUT`, not the balancer's 504.
    #[test]
    fn the_balancers_server_timeout_outlasts_the_default_request_timeout() {
        let timeout = haproxy_duration(&haproxy_setting("timeout server", "server"));
        assert!(timeout > HttpOptions::DEFAULT.request_timeout);
    }

    #[test]
    fn a_webhook_secret_key_that_is_not_32_bytes_of_base64_is_refused() {
        let mut settings = valid_settings();
        settings.webhooks.webhook_secret_key = Some("c2hvcnQ=".into());
        assert!(refusal(settings).starts_with("WEBHOOK_SECRET_KEY:"));
    }

    #[test]
    fn a_statement_timeout_over_a_day_is_refused() {
        let mut settings = valid_settings();
        settings.database.database_statement_timeout_seconds = u64::MAX;
        assert!(refusal(settings).contains("DATABASE_STATEMENT_TIMEOUT_SECONDS"));
    }

    #[test]
    fn a_rate_limit_that_is_not_a_number_is_refused() {
        for rate in [f64::NAN, f64::INFINITY, -1.0, 1e-300, 1e300] {
            let mut settings = valid_settings();
            settings.http.mutation_rate_limit_per_second = rate;
            assert!(
                refusal(settings).contains("MUTATION_RATE_LIMIT_PER_SECOND"),
                "{rate}"
            );
        }
    }

    #[test]
    fn a_rate_limit_of_zero_per_second_is_accepted() {
        let mut settings = valid_settings();
        settings.http.mutation_rate_limit_per_second = 0.0;
        assert!(Config::from_settings(settings).is_ok());
    }

    #[test]
    fn a_burst_of_zero_is_refused() {
        let mut settings = valid_settings();
        settings.http.mutation_rate_limit_burst = 0;
        assert!(refusal(settings).contains("MUTATION_RATE_LIMIT_BURST"));
    }

    #[test]
    fn a_nesting_limit_the_parser_cannot_survive_is_refused() {
        let mut settings = valid_settings();
        settings.http.graphql_max_nesting = 257;
        assert!(refusal(settings).contains("GRAPHQL_MAX_NESTING"));
    }

    #[test]
    fn a_query_limit_of_zero_is_refused() {
        let mut settings = valid_settings();
        settings.http.graphql_max_depth = 0;
        assert!(refusal(settings).contains("GRAPHQL_MAX_DEPTH"));
    }

    #[test]
    fn sockets_by_default_leave_a_quarter_of_the_connections_to_http() {
        let mut settings = valid_settings();
        settings.http.max_connections = 60;
        let config = Config::from_settings(settings).expect("config");
        assert_eq!(config.http.socket_limits.max_sockets, 45);
    }

    #[test]
    fn sockets_that_could_take_every_connection_are_refused() {
        let mut settings = valid_settings();
        settings.http.max_connections = 60;
        settings.http.ws_max_sockets = Some(60);
        assert!(refusal(settings).contains("WS_MAX_SOCKETS"));
    }

    #[test]
    fn a_user_without_subscriptions_or_a_reading_pace_of_zero_is_refused() {
        let mut settings = valid_settings();
        settings.http.ws_max_subscriptions_per_user = 0;
        assert!(refusal(settings).contains("WS_MAX_SUBSCRIPTIONS_PER_USER"));
        let mut settings = valid_settings();
        settings.http.ws_subscription_messages_per_second = 0;
        assert!(refusal(settings).contains("WS_SUBSCRIPTION_MESSAGES_PER_SECOND"));
    }

    #[test]
    fn an_idempotency_key_ttl_of_zero_or_over_thirty_days_is_refused() {
        for hours in [0, 721] {
            let mut settings = valid_settings();
            settings.http.idempotency.idempotency_key_ttl_hours = hours;
            assert!(
                refusal(settings).contains("IDEMPOTENCY_KEY_TTL_HOURS"),
                "{hours}"
            );
        }
    }

    #[test]
    fn an_idempotency_key_ttl_a_request_could_outlast_is_refused() {
        let mut settings = valid_settings();
        settings.http.request_timeout_seconds = 3_600.0;
        settings.http.idempotency.idempotency_key_ttl_hours = 1;
        let message = refusal(settings);
        assert!(
            message.starts_with("IDEMPOTENCY_KEY_TTL_HOURS:"),
            "{message}"
        );
        assert!(message.contains("REQUEST_TIMEOUT_SECONDS"), "{message}");
    }

    #[test]
    fn a_batch_limit_of_zero_is_refused() {
        let mut settings = valid_settings();
        settings.http.graphql_max_batch = 0;
        assert!(refusal(settings).contains("GRAPHQL_MAX_BATCH"));
    }

    #[test]
    fn a_body_limit_under_a_kibibyte_or_over_64_mebibytes_is_refused() {
        for bytes in [0, 1023, 64 * 1024 * 1024 + 1] {
            let mut settings = valid_settings();
            settings.http.max_body_bytes = bytes;
            assert!(refusal(settings).contains("MAX_BODY_BYTES"), "{bytes}");
        }
    }

    fn with_cors(origins: &[&str]) -> Result<Config, ConfigError> {
        let mut settings = valid_settings();
        settings.http.cors_origins = origins.iter().map(|origin| (*origin).to_owned()).collect();
        Config::from_settings(settings)
    }

    #[test]
    fn cors_origins_are_kept_as_browsers_write_them() {
        let config = with_cors(&["https://App.Example.com:443", " http://localhost:3000", ""])
            .expect("config");
        let origins: Vec<&HeaderValue> = config
            .http
            .cors_origins
            .iter()
            .map(CorsOrigin::header_value)
            .collect();
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
    }

    #[test]
    fn a_cors_wildcard_is_refused_with_a_request_to_list_origins() {
        let error = with_cors(&["*"]).expect_err("refused").to_string();
        assert!(error.contains("CORS_ORIGINS"), "{error}");
        assert!(error.contains("list the origins"), "{error}");
    }

    #[test]
    fn a_cors_entry_that_is_not_an_origin_is_refused() {
        for origin in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/app",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "ftp://app.example.com",
            "null",
            "https://",
        ] {
            let error = with_cors(&[origin]).expect_err(origin).to_string();
            assert!(error.contains("CORS_ORIGINS"), "{origin}: {error}");
        }
    }

    /// Every setting, by its environment variable; its flag is the same in kebab case.
    const SETTINGS: &[&str] = &[
        "DATABASE_URL",
        "DATABASE_MAX_CONNECTIONS",
        "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        "DATABASE_STATEMENT_TIMEOUT_SECONDS",
        "SHUTDOWN_GRACE_SECONDS",
        "SHUTDOWN_DRAIN_SECONDS",
        "LISTEN_ADDR",
        "METRICS_ADDR",
        "JWT_SECRET",
        "JWT_PUBLIC_KEY",
        "JWT_JWKS_URL",
        "JWT_JWKS_MIN_REFETCH_SECONDS",
        "JWT_JWKS_MAX_AGE_SECONDS",
        "JWT_ALGORITHMS",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "JWT_LEEWAY_SECONDS",
        "JWT_ROLE_CLAIM",
        "JWT_ADMIN_ROLE",
        "JWT_CUSTOMER_ROLE",
        "MAX_BODY_BYTES",
        "REQUEST_TIMEOUT_SECONDS",
        "CORS_ORIGINS",
        "TRUSTED_PROXIES",
        "GRAPHQL_INTROSPECTION",
        "GRAPHQL_MAX_DEPTH",
        "GRAPHQL_MAX_COMPLEXITY",
        "GRAPHQL_MAX_ALIASES",
        "GRAPHQL_MAX_ROOT_FIELDS",
        "GRAPHQL_MAX_DIRECTIVES",
        "GRAPHQL_MAX_NESTING",
        "GRAPHQL_MAX_BATCH",
        "GRAPHQL_MAX_COST",
        "GRAPHQL_MAX_MESSAGES",
        "GRAPHQL_DOCUMENT_CACHE_ENTRIES",
        "MAX_CONNECTIONS",
        "HEADER_READ_TIMEOUT_SECONDS",
        "MAX_REQUESTS_IN_FLIGHT",
        "WS_INIT_TIMEOUT_SECONDS",
        "WS_MAX_SUBSCRIPTIONS",
        "WS_MAX_SOCKETS_PER_USER",
        "WS_MAX_MESSAGE_BYTES",
        "WS_KEEPALIVE_SECONDS",
        "MUTATION_RATE_LIMIT_BURST",
        "MUTATION_RATE_LIMIT_PER_SECOND",
        "IDEMPOTENCY_KEY_TTL_HOURS",
        "RATE_LIMIT_REDIS_URL",
        "RATE_LIMIT_REDIS_KEY_PREFIX",
        "RATE_LIMIT_REDIS_TIMEOUT_MS",
    ];

    /// Values of every kind a setting may be given: text, numbers of any size and sign,
    /// floats with their NaN and infinities, things that look like URLs.
    fn any_value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<String>(),
            any::<u64>().prop_map(|number| number.to_string()),
            any::<i64>().prop_map(|number| number.to_string()),
            any::<f64>().prop_map(|number| number.to_string()),
            Just("NaN".to_owned()),
            Just("inf".to_owned()),
            "[-+0-9.eE]{0,12}",
            "(https?|ftp|null|\\*)(://)?[a-zA-Z0-9.:/@*?#\\[\\]-]{0,24}",
        ]
    }

    proptest::proptest! {
        /// Whatever a setting is given, the configuration is built or refused with a
        /// message naming that setting; it never panics.
        #[test]
        fn any_value_is_accepted_or_refused_naming_its_setting(
            setting in proptest::sample::select(SETTINGS),
            value in any_value(),
        ) {
            let flag = setting.to_ascii_lowercase().replace('_', "-");
            let mut arguments = vec![
                "supportdesk".to_owned(),
                format!("--{flag}={value}"),
            ];
            // Over PostgreSQL, so that no secret file is ever generated here.
            if setting != "DATABASE_URL" {
                arguments.push(format!("--database-url={POSTGRES_URL}"));
            }
            if setting != "JWT_SECRET" {
                arguments.push(format!("--jwt-secret={SECRET}"));
            }
            // What clap cannot read as the setting's type, it refuses (naming the flag,
            // with exit code 2) before any check of ours.
            if let Ok(cli) = crate::cli::Cli::try_parse_from(arguments)
                && let Err(error) = Config::from_settings(cli.server)
            {
                let message = error.to_string();
                proptest::prop_assert!(message.contains(setting), "{setting}={value:?}: {message}");
            }
        }
    }
}
