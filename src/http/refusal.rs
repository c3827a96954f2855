//! The HTTP status and headers of every answer, decided here and nowhere else.

use axum::http::header::{ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::graphql_response::{error_body, respond};
use super::media::ResponseMedia;
use crate::graphql::execution_started;
use crate::refusal::Refusal;

/// The status of a GraphQL answer: 200 once execution started; otherwise its refusal's,
/// and for an error of the executor's own (its validation, behind the pipeline's), that
/// of a request error.
pub fn status_of(response: &async_graphql::Response, media: ResponseMedia) -> StatusCode {
    if execution_started(response) {
        return StatusCode::OK;
    }
    refusal_of(response).map_or_else(|| request_error(media), |refusal| refusal.status(media))
}

/// The refusal the pipeline answered with, if it refused the request as a whole.
pub fn refusal_of(response: &async_graphql::Response) -> Option<&Refusal> {
    if execution_started(response) {
        return None;
    }
    response
        .errors
        .first()
        .and_then(|error| error.source::<Refusal>())
}

/// A document that cannot run says so in its status only in the newer media type; in
/// `application/json` it is a 200, as the GraphQL-over-HTTP specification asks.
fn request_error(media: ResponseMedia) -> StatusCode {
    if media == ResponseMedia::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

impl Refusal {
    pub fn status(&self, media: ResponseMedia) -> StatusCode {
        match self {
            Self::ParseFailed(_)
            | Self::ValidationFailed(_)
            | Self::QueryTooComplex(_)
            | Self::VariablesTooDeep { .. }
            | Self::BadPersistedQuery(_)
            | Self::TooManySubscriptions(_) => request_error(media),
            // Apollo Client and urql send the query's text on a 200.
            Self::PersistedQueryNotFound => StatusCode::OK,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::MutationOverGet => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CrossSiteRequest
            | Self::Malformed(_)
            | Self::BatchTooLarge { .. }
            | Self::BadIdempotencyKey(_) => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInUse => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded | Self::TooManySockets | Self::SchemaNotReady | Self::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The headers that tell a client what to do next.
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        match self {
            Self::InvalidToken => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            Self::MutationOverGet => {
                headers.insert(ALLOW, HeaderValue::from_static("POST"));
            }
            Self::RateLimited {
                retry_after_seconds,
            } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Self::Overloaded
            | Self::TooManySockets
            | Self::SchemaNotReady
            | Self::IdempotencyKeyInUse => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
    }
}

/// A refusal of the extractors, before the client's media type is known.
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(ResponseMedia::Json, &self)
    }
}

/// The refusal as a response: its status, its headers, and a GraphQL error body in the
/// media type the client accepts. Every refusal of the HTTP edge passes here, and is
/// counted here; those of the pipeline are counted with their operation.
pub fn refuse(media: ResponseMedia, refusal: &Refusal) -> Response {
    crate::metrics::record_refusal(refusal.reason());
    let mut response = respond(
        media,
        refusal.status(media),
        error_body(refusal).to_string(),
    );
    refusal.add_headers(response.headers_mut());
    response
}
