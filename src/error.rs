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
    /// An operation that would read more messages than `GRAPHQL_MAX_MESSAGES`: the
    /// field that would pass it fails.
    #[error("The operation would read more than {limit} messages; ask for fewer tickets")]
    TooManyMessages { limit: u64 },
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

    /// The input a BAD_USER_INPUT names (`extensions.field`); `None` for any other error.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::BadUserInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The value of `extensions.code` that clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::FailedPrecondition(_) => "FAILED_PRECONDITION",
            Self::TooManyMessages { .. } => "QUERY_TOO_COMPLEX",
            Self::Database(_) | Self::Internal(_) | Self::Panic { .. } => "INTERNAL_SERVER_ERROR",
        }
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
            if let Some(field) = self.field() {
                extensions.set("field", field);
            }
        })
    }
}
