//! Reading a GraphQL POST body: JSON only, CSRF prevention, a size limit.

use std::cell::Cell;

use async_graphql::{BatchRequest, Request};
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::refusal::Refusal;

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
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
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
        return Err(Refusal::CrossSiteRequest);
    }
    if media_type != "application/json" {
        return Err(Refusal::UnsupportedMediaType);
    }
    Ok(())
}

/// Reads at most `max_bytes` of the body: a larger one is refused without buffering it.
// Not tower-http's `RequestBodyLimitLayer`: its 413 has a plain-text body of its own, where a
// client is owed the GraphQL error (`BODY_TOO_LARGE`) in the media type it accepts.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
) -> Result<Bytes, Refusal> {
    let too_large = || Refusal::BodyTooLarge { limit: max_bytes };
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

/// The most JSON values (scalars, arrays, objects) a body may hold. Each costs far more
/// memory parsed than its few bytes of text, so without a ceiling a 1 MiB body of
/// `[{},{},…]` becomes hundreds of megabytes; with it, a parsed body stays within a small
/// multiple of its size.
pub const MAX_JSON_VALUES: usize = 20_000;

/// The body as one request or a batch, refusing a batch past `max_batch` as soon as its
/// next element starts, without reading the rest.
pub(super) fn parse_body(bytes: &[u8], max_batch: usize) -> Result<BatchRequest, Refusal> {
    if count_json_values(bytes) > MAX_JSON_VALUES {
        return Err(Refusal::Malformed(format!(
            "Request body holds more than {MAX_JSON_VALUES} JSON values"
        )));
    }
    let past_limit = Cell::new(false);
    let seed = BodySeed {
        max_batch,
        past_limit: &past_limit,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|batch| deserializer.end().map(|()| batch));
    match parsed {
        Ok(batch) => Ok(batch),
        Err(_) if past_limit.get() => Err(Refusal::BatchTooLarge { limit: max_batch }),
        Err(error) => Err(Refusal::Malformed(format!(
            "Malformed GraphQL request body: {error}"
        ))),
    }
}

/// How many JSON values the text may hold, counted without parsing it: one, plus one for
/// every comma and opening bracket outside strings. Never fewer than there are (each
/// value but the first follows a comma or an opening bracket); an empty array or object
/// counts as holding one.
fn count_json_values(bytes: &[u8]) -> usize {
    let mut count = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b',' | b'[' | b'{' => count = count.saturating_add(1),
                _ => {}
            }
        }
    }
    count
}

struct BodySeed<'a> {
    max_batch: usize,
    past_limit: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = BatchRequest;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<BatchRequest, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = BatchRequest;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a GraphQL request object or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BatchRequest, A::Error> {
        Request::deserialize(MapAccessDeserializer::new(map)).map(BatchRequest::Single)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<BatchRequest, A::Error> {
        let mut requests = Vec::new();
        while let Some(request) = items.next_element::<Request>()? {
            if requests.len() == self.max_batch {
                self.past_limit.set(true);
                return Err(de::Error::custom("batch past its limit"));
            }
            requests.push(request);
        }
        if requests.is_empty() {
            return Err(de::Error::custom("an empty batch"));
        }
        Ok(BatchRequest::Batch(requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_and_commas_inside_strings_are_not_values() {
        assert_eq!(count_json_values(br#"{"query": "{ a, b [c] \" , }"}"#), 2);
    }

    #[test]
    fn the_count_is_at_least_the_values_and_at_most_twice_as_many() {
        // The array and its three objects; each empty object counts as holding one.
        assert_eq!(count_json_values(b"[{},{},{}]"), 7);
        assert_eq!(count_json_values(b"[1,2,3]"), 4);
    }

    #[test]
    fn a_batch_one_past_its_limit_is_refused_as_too_complex() {
        let body = br#"[{"query":"{a}"},{"query":"{a}"},{"query":"{a}"}]"#;
        assert!(matches!(
            parse_body(body, 2),
            Err(Refusal::BatchTooLarge { .. })
        ));
        assert!(matches!(parse_body(body, 3), Ok(BatchRequest::Batch(batch)) if batch.len() == 3));
    }

    #[test]
    fn a_batch_refused_early_is_refused_whatever_follows() {
        let body = br#"[{"query":"{a}"},{"query":"{a}"}, this is not JSON"#;
        assert!(matches!(
            parse_body(body, 1),
            Err(Refusal::BatchTooLarge { .. })
        ));
    }

    #[test]
    fn a_single_request_is_read_as_one() {
        assert!(matches!(
            parse_body(br#"{"query":"{a}","variables":{"x":[1,2]}}"#, 1),
            Ok(BatchRequest::Single(_))
        ));
    }

    #[test]
    fn trailing_text_is_malformed() {
        assert!(matches!(
            parse_body(br#"{"query":"{a}"} {}"#, 1),
            Err(Refusal::Malformed(_))
        ));
    }
}
