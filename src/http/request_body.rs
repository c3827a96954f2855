//! Reading a GraphQL POST body: JSON only, CSRF prevention, a size limit.

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};

use crate::error::AppError;

/// Media types a browser may POST cross-site without a CORS preflight.
const SIMPLE_CONTENT_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// Headers no browser sends cross-site without a preflight, as Apollo Server's CSRF
/// prevention accepts them.
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];

/// Only JSON bodies are GraphQL requests. A body a cross-site form could send is refused
/// as a possible request forgery unless a header proves a preflight happened.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), (StatusCode, AppError)> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let preflighted = PREFLIGHT_HEADERS
        .iter()
        .any(|name| headers.get(*name).is_some_and(|value| !value.is_empty()));
    if (media_type.is_empty() || SIMPLE_CONTENT_TYPES.contains(&media_type.as_str()))
        && !preflighted
    {
        return Err((
            StatusCode::BAD_REQUEST,
            AppError::BadRequest(
                "This request has been blocked as a potential cross-site request forgery: \
                 send it with Content-Type: application/json"
                    .into(),
            ),
        ));
    }
    if media_type != "application/json" {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::BadRequest("GraphQL requests are sent as application/json".into()),
        ));
    }
    Ok(())
}

/// Reads at most `max_bytes` of the body: a larger one is refused without buffering it.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
) -> Result<Bytes, (StatusCode, AppError)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadRequest(format!("Request body is larger than {max_bytes} bytes")),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max_bytes)
        .await
        .map_err(|_| too_large())
}
