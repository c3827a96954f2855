//! The one error type of the domain and its mapping to GraphQL `extensions.code`.

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

use crate::telemetry::Escaped;

/// What went wrong while serving a request.
///
/// Client mistakes carry a message meant for the client. Internal failures carry their
/// cause for the log only: their `Display` is a generic text, so nothing leaks.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{message}")]
    BadUserInput {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    FailedPrecondition(&'static str),
    /// A document past one of the query limits; refused before anything runs.
    #[error("{0}")]
    QueryTooComplex(String),
    /// A document that is not GraphQL.
    #[error("{0}")]
    ParseFailed(String),
    /// A document that does not validate, or names no operation it holds.
    #[error("{0}")]
    ValidationFailed(String),
    /// An automatic persisted query sent by hash whose text this server does not hold:
    /// the client sends it again with its text. Apollo Client and urql look for this
    /// message.
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// A GraphQL request that cannot be served as sent (a persisted query's hash that does
    /// not match its text).
    #[error("{0}")]
    BadRequest(String),
    #[error("Internal server error")]
    Database(#[from] DbErr),
    #[error("Internal server error")]
    Internal(&'static str),
    /// A resolver panicked: a bug, caught so that it fails one field only.
    #[error("Internal server error")]
    Panic { field: String, message: String },
}

impl AppError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field,
            message: message.into(),
        }
    }

    pub const fn ticket_not_found() -> Self {
        Self::NotFound("Ticket")
    }

    /// The value of `extensions.code` that clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput { .. } => BAD_USER_INPUT,
            Self::NotFound(_) => "NOT_FOUND",
            Self::FailedPrecondition(_) => "FAILED_PRECONDITION",
            Self::QueryTooComplex(_) => "QUERY_TOO_COMPLEX",
            Self::ParseFailed(_) => "GRAPHQL_PARSE_FAILED",
            Self::ValidationFailed(_) => GRAPHQL_VALIDATION_FAILED,
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Database(_) | Self::Internal(_) | Self::Panic { .. } => "INTERNAL_SERVER_ERROR",
        }
    }
}

const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// The beginnings of the refusals of async-graphql's own ceilings, which stand behind
/// the document checks of `graphql::limits` as a backstop.
const EXECUTOR_LIMIT_MESSAGES: [&str; 4] = [
    "Query is too complex",
    "Query is nested too deep",
    "The recursion depth of the query",
    "The number of directives on the field",
];

/// The code of an error that async-graphql raised itself (it gives its errors none).
/// Before execution it is a validation failure, except a value of the wrong type, which
/// is the client's input, and a ceiling of the schema; during execution it comes from
/// coercing an argument.
pub fn executor_error_code(message: &str, during_execution: bool) -> &'static str {
    // The cost model reads arguments during validation, and words a bad one its own way.
    let bad_input = ["Invalid value for argument", "Failed to parse \""];
    if during_execution || bad_input.iter().any(|start| message.starts_with(start)) {
        BAD_USER_INPUT
    } else if EXECUTOR_LIMIT_MESSAGES
        .iter()
        .any(|limit| message.starts_with(limit))
    {
        "QUERY_TOO_COMPLEX"
    } else {
        GRAPHQL_VALIDATION_FAILED
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            // The database's message may quote a value a client sent; the panic's too,
            // and the field's path holds the client's aliases.
            Self::Database(cause) => tracing::error!(error = %Escaped(cause), "database error"),
            Self::Internal(cause) => tracing::error!(error = cause, "internal error"),
            Self::Panic { field, message } => {
                tracing::error!(
                    field = %Escaped(field),
                    panic = %Escaped(message),
                    "a resolver panicked"
                );
            }
            _ => {}
        }
        async_graphql::Error::new(self.to_string()).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            if let Self::BadUserInput { field, .. } = self {
                extensions.set("field", *field);
            }
        })
    }
}
