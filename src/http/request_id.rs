//! `X-Request-Id`: the client's, when it is a short plain token, else a new UUID. Either
//! way it is echoed in the response and names the request in every log line, so a
//! client's may not be long (it would repeat on every line) nor hold anything but
//! `[A-Za-z0-9._:-]` (a space or a quote could forge fields in a text log line).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client: a UUID, a trace id or a load balancer's
/// id fit.
const MAX_REQUEST_ID_BYTES: usize = 64;

/// Removes an `X-Request-Id` that may not be used as sent (or several), so that the
/// request id layer behind makes a new one. Layered in front of `SetRequestIdLayer`.
pub fn drop_unusable_request_id(mut request: Request<Body>) -> Request<Body> {
    let mut sent = request.headers().get_all(&REQUEST_ID).iter();
    let usable = match (sent.next(), sent.next()) {
        (None, _) => true,
        (Some(id), None) => is_usable(id),
        (Some(_), Some(_)) => false,
    };
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// 1 to 64 characters of `[A-Za-z0-9._:-]`.
fn is_usable(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len())
        && id
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || b"._:-".contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with_ids(ids: &[&'static str]) -> Request<Body> {
        let mut request = Request::new(Body::empty());
        for id in ids {
            request
                .headers_mut()
                .append(REQUEST_ID, HeaderValue::from_static(id));
        }
        request
    }

    fn ids_kept(ids: &[&'static str]) -> usize {
        drop_unusable_request_id(request_with_ids(ids))
            .headers()
            .get_all(REQUEST_ID)
            .iter()
            .count()
    }

    #[test]
    fn a_plain_short_id_is_kept() {
        assert_eq!(ids_kept(&["0f8e1c2a-3b4d.trace:7_x"]), 1);
    }

    #[test]
    fn an_id_with_anything_but_letters_digits_and_dot_colon_dash_underscore_is_dropped() {
        for id in ["a b", "a\"b", "a=b", "a/b", "a\tb", ""] {
            assert_eq!(ids_kept(&[id]), 0, "{id:?}");
        }
    }

    #[test]
    fn several_ids_are_all_dropped() {
        assert_eq!(ids_kept(&["first", "second"]), 0);
    }
}
