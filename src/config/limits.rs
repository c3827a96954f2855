//! The checked limits the server runs with: what a document, a user and a connection may
//! take. Each field is a setting (see the README); `config` fills them from the flags and
//! the environment, and tests set them directly.

use std::num::NonZeroUsize;
use std::time::Duration;

/// How large a document may be. Every limit is a setting; see the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Deepest field nesting, counting the root fields as depth 1.
    pub max_depth: u64,
    /// Fields in the expanded document: the complexity of a request.
    pub max_fields: u64,
    /// Aliased fields in the expanded document.
    pub max_aliases: u64,
    /// Fields selected at the root of the operation.
    pub max_root_fields: u64,
    /// Directives written in the document.
    pub max_directives: u64,
    /// What the operation may load, lists multiplied (see `graphql::cost`).
    pub max_cost: u64,
    /// Messages the operation may read, counted as they are read.
    pub max_messages: u64,
    /// Brackets (`{`, `[`, `(`) open at once in the text, checked before parsing: the
    /// parser and validator recurse on them and would overflow the stack.
    pub max_nesting: usize,
    /// Operations in one batched (JSON array) request.
    pub max_batch: usize,
    /// Prepared documents (and persisted queries) kept for reuse.
    pub document_cache_entries: NonZeroUsize,
}

impl QueryLimits {
    /// Roomy enough for GraphiQL's introspection query and every use of the API.
    pub const DEFAULT: Self = Self {
        max_depth: 15,
        max_fields: 1_000,
        max_aliases: 30,
        max_root_fields: 20,
        max_directives: 50,
        max_cost: 10_000,
        max_messages: 5_000,
        max_nesting: 64,
        max_batch: 10,
        document_cache_entries: NonZeroUsize::new(1_000).expect("not zero"),
    };
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How many mutations a user may send: `burst` at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl RateLimit {
    pub const DEFAULT: Self = Self {
        burst: 30,
        per_second: 1.0,
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How many connections may be open at once, and how long a client may take to send a
/// request's headers (or, between requests, to start the next one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// What one WebSocket may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketLimits {
    /// How long a socket may stay open without `connection_init`.
    pub init_timeout: Duration,
    /// Operations one socket may run at once.
    pub max_subscriptions: usize,
    /// Sockets one user may have open on this instance.
    pub max_sockets_per_user: usize,
    /// Sockets of every user together on this instance, so that HTTP always finds a
    /// connection: fewer than `MAX_CONNECTIONS`.
    pub max_sockets: usize,
    /// Sockets signed in without a token, together, on this instance.
    pub max_anonymous_sockets: usize,
    /// Operations one user may run at once over all their sockets on this instance.
    pub max_subscriptions_per_user: usize,
    /// Messages one user's subscriptions together may read per second, on average.
    pub subscription_messages_per_second: u64,
    /// The largest message a client may send.
    pub max_message_bytes: usize,
    /// How often the server pings a socket, so that idle proxies do not cut it.
    pub keepalive_interval: Duration,
}

impl SocketLimits {
    pub const DEFAULT: Self = Self {
        init_timeout: Duration::from_secs(10),
        max_subscriptions: 20,
        max_sockets_per_user: 50,
        max_sockets: Self::default_max_sockets(1024),
        max_anonymous_sockets: 64,
        max_subscriptions_per_user: 100,
        subscription_messages_per_second: 5_000,
        max_message_bytes: 64 * 1024,
        keepalive_interval: Duration::from_secs(15),
    };

    /// Three quarters of the connections: the rest stays for HTTP requests and health
    /// checks, whatever sockets are open.
    pub const fn default_max_sockets(max_connections: usize) -> usize {
        max_connections / 4 * 3 + max_connections % 4 * 3 / 4
    }
}
