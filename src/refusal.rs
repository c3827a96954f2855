//! Why a request is refused as a whole, before or around GraphQL, as opposed to the
//! domain's errors ([`crate::error::AppError`]), which fail a field. The transport decides
//! each refusal's HTTP status in one place (`http::refusal`); over any transport the
//! client reads the same message and `extensions.code`.

use async_graphql::ErrorExtensions;

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// An `Authorization` header without a valid token: refused rather than run as
    /// anonymous.
    #[error("Invalid or expired token")]
    InvalidToken,
    /// A mutation sent over GET, where a cross-site link could trigger it.
    #[error("Mutations must be sent with POST")]
    MutationOverGet,
    #[error("Accept application/graphql-response+json or application/json")]
    NotAcceptable,
    /// A WebSocket opened from a page whose origin is not in `CORS_ORIGINS`.
    #[error("This origin may not open a socket")]
    OriginNotAllowed,
    #[error("Request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("GraphQL requests are sent as application/json")]
    UnsupportedMediaType,
    /// A body a cross-site form could send, without a header that proves a preflight.
    #[error(
        "This request has been blocked as a potential cross-site request forgery: \
         send it with Content-Type: application/json"
    )]
    CrossSiteRequest,
    /// A body or query string that is not a GraphQL request.
    #[error("{0}")]
    Malformed(String),
    #[error("Batch of more than {limit} operations; the limit is {limit}")]
    BatchTooLarge { limit: usize },
    #[error("Too many requests; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    /// More requests in flight than the server takes at once.
    #[error("The server is busy; retry shortly")]
    Overloaded,
    /// As many WebSockets open as the instance takes (`WS_MAX_SOCKETS`): the rest of the
    /// connections stay for HTTP.
    #[error("Too many open sockets; retry shortly")]
    TooManySockets,
    /// The server started before its database was migrated, or could be reached.
    #[error("The database schema is not ready yet; retry shortly")]
    SchemaNotReady,
    #[error("The request took too long and was stopped")]
    Timeout,
    /// A document that is not GraphQL.
    #[error("{0}")]
    ParseFailed(String),
    /// A document that does not validate, or names no operation it holds.
    #[error("{0}")]
    ValidationFailed(String),
    /// A document past one of the query limits.
    #[error("{0}")]
    QueryTooComplex(String),
    /// Variables that nest deeper than `GRAPHQL_MAX_NESTING`.
    #[error("Variables nest deeper than {max_nesting} levels")]
    VariablesTooDeep { max_nesting: usize },
    /// An automatic persisted query sent by hash whose text this server does not hold:
    /// the client sends it again with its text. Apollo Client and urql look for this
    /// message.
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// A persisted query's hash that does not match its text, or a malformed extension.
    #[error("{0}")]
    BadPersistedQuery(String),
    /// An operation past the socket's or its user's cap on running operations.
    #[error("{0}")]
    TooManySubscriptions(String),
    /// An `Idempotency-Key` header that is malformed, sent twice, or on a batch.
    #[error("{0}")]
    BadIdempotencyKey(&'static str),
    /// The user's key was first sent with another request body.
    #[error(
        "This Idempotency-Key was first used with a different request body: retry with the \
         same body, or send a new key for a new request"
    )]
    IdempotencyKeyMismatch,
    /// The first request with the user's key has not been answered yet.
    #[error("A request with this Idempotency-Key is still running; retry shortly")]
    IdempotencyKeyInUse,
    /// The server failed to prepare the request: a bug, logged.
    #[error("Internal server error")]
    Internal(&'static str),
}

impl Refusal {
    /// The value of `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidToken => "UNAUTHENTICATED",
            Self::OriginNotAllowed => "FORBIDDEN",
            Self::MutationOverGet
            | Self::NotAcceptable
            | Self::BodyTooLarge { .. }
            | Self::UnsupportedMediaType
            | Self::CrossSiteRequest
            | Self::Malformed(_)
            | Self::BadPersistedQuery(_)
            | Self::BadIdempotencyKey(_) => "BAD_REQUEST",
            Self::IdempotencyKeyMismatch => "IDEMPOTENCY_KEY_MISMATCH",
            Self::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            Self::BatchTooLarge { .. } | Self::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Self::ParseFailed(_) => "GRAPHQL_PARSE_FAILED",
            Self::ValidationFailed(_) => "GRAPHQL_VALIDATION_FAILED",
            Self::VariablesTooDeep { .. } => "BAD_USER_INPUT",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::TooManySubscriptions(_) => "TOO_MANY_SUBSCRIPTIONS",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Overloaded | Self::TooManySockets | Self::SchemaNotReady => "SERVICE_UNAVAILABLE",
            Self::Timeout => "TIMEOUT",
        }
    }
}

impl Refusal {
    /// The `reason` label of `supportdesk_refusals_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::MutationOverGet => "method",
            Self::NotAcceptable | Self::UnsupportedMediaType => "media_type",
            Self::OriginNotAllowed => "origin",
            Self::BodyTooLarge { .. } => "body_size",
            Self::CrossSiteRequest => "csrf",
            Self::Malformed(_) | Self::BadPersistedQuery(_) => "malformed",
            Self::BadIdempotencyKey(_) => "idempotency_key",
            Self::IdempotencyKeyMismatch => "idempotency_key_mismatch",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::BatchTooLarge { .. }
            | Self::QueryTooComplex(_)
            | Self::VariablesTooDeep { .. } => "limit",
            Self::ParseFailed(_) => "parse",
            Self::ValidationFailed(_) => "validation",
            Self::PersistedQueryNotFound => "persisted_query_not_found",
            Self::TooManySubscriptions(_) => "too_many_subscriptions",
            Self::Internal(_) => "internal",
            Self::RateLimited { .. } => "rate_limit",
            Self::Overloaded => "overloaded",
            Self::TooManySockets => "sockets",
            Self::SchemaNotReady => "schema_not_ready",
            Self::Timeout => "timeout",
        }
    }
}

impl ErrorExtensions for Refusal {
    fn extend(&self) -> async_graphql::Error {
        if let Self::Internal(cause) = self {
            tracing::error!(error = cause, "internal error");
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            if let Self::VariablesTooDeep { .. } = self {
                extensions.set("field", "variables");
            }
            if let Self::RateLimited {
                retry_after_seconds,
            } = self
            {
                extensions.set("retryAfter", *retry_after_seconds);
            }
        })
    }
}
