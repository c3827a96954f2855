//! The `Authorization` header, turned into the viewer a request acts for.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::Viewer;
use crate::error::AppError;

/// The signed-in user, or `None` when the request has no `Authorization` header.
pub struct MaybeViewer(pub Option<Viewer>);

/// A present `Authorization` header that carries no valid token: the whole request is
/// refused, rather than run as anonymous.
pub struct InvalidToken;

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = InvalidToken;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = bearer_token(header).ok_or(InvalidToken)?;
        match state.verifier.verify(token).await {
            Ok(viewer) => Ok(Self(Some(viewer))),
            Err(reason) => {
                tracing::debug!(%reason, "refused a bearer token");
                Err(InvalidToken)
            }
        }
    }
}

/// The token of a `Bearer` header; the scheme is case-insensitive (RFC 7235).
fn bearer_token(header: &HeaderValue) -> Option<&str> {
    let (scheme, token) = header.to_str().ok()?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl IntoResponse for InvalidToken {
    fn into_response(self) -> Response {
        let error = AppError::Unauthenticated;
        let body = serde_json::json!({
            "errors": [{
                "message": "Invalid or expired token",
                "extensions": { "code": error.code() },
            }]
        });
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)],
            Json(body),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(value: &'static str) -> Option<&'static str> {
        bearer_token(Box::leak(Box::new(HeaderValue::from_static(value))))
    }

    #[test]
    fn the_bearer_scheme_is_matched_case_insensitively() {
        assert_eq!(token_of("bEaReR abc.def.ghi"), Some("abc.def.ghi"));
    }

    #[test]
    fn another_scheme_carries_no_token() {
        assert_eq!(token_of("Basic dXNlcjpwYXNz"), None);
    }

    #[test]
    fn a_bearer_header_without_a_token_carries_none() {
        assert_eq!(token_of("Bearer "), None);
        assert_eq!(token_of("Bearer"), None);
    }
}
