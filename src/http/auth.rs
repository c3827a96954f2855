//! The `Authorization` header, turned into the viewer a request acts for.

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::domain::Viewer;
use crate::refusal::Refusal;
use crate::telemetry::Escaped;

/// The signed-in user, or `None` when the request has no `Authorization` header.
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = bearer_token(header).ok_or(Refusal::InvalidToken)?;
        match state.verifier.verify(token).await {
            Ok(viewer) => Ok(Self(Some(viewer))),
            Err(reason) => {
                // The reason may quote what the token's claims hold.
                tracing::debug!(reason = %Escaped(&reason), "refused a bearer token");
                Err(Refusal::InvalidToken)
            }
        }
    }
}

/// The token of a `Bearer` header; the scheme is case-insensitive (RFC 7235).
fn bearer_token(header: &HeaderValue) -> Option<&str> {
    bearer_token_of(header.to_str().ok()?)
}

/// The token of a `Bearer <token>` value, wherever it came from.
pub(super) fn bearer_token_of(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
