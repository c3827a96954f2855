//! `Idempotency-Key` on mutations sent over POST, as the IETF draft and Stripe's API have
//! it: the first request with a user's key runs and its answer is kept in the database
//! (so every instance, and this one after a restart, sees it); a retry with the same body
//! gets that answer byte for byte, with `Idempotent-Replayed: true`, and runs nothing.
//!
//! Only answers of requests that reached execution are kept: one refused before (401,
//! 413, 429, 503, a document that does not parse or validate) wrote nothing, so its key
//! is released and a retry runs. A TIMEOUT is such a refusal too: the time budget cuts an
//! operation short only before its commit started, and so after a rollback.
//!
//! A kept body is encrypted by the vault of webhook secrets, with its row (user and key)
//! authenticated beside it: `createWebhook` answers a secret, which a read of the
//! database must not reveal.

use std::time::Duration;

use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::AppState;
use super::graphql::answer_one;
use super::graphql_response::HttpAnswer;
use super::media::ResponseMedia;
use super::refusal::refuse;
use crate::budget::Deadline;
use crate::config::{ABANDONED_CLAIM_MARGIN, HttpOptions};
use crate::domain::Viewer;
use crate::error::AppError;
use crate::graphql::pipeline::request::{Introspection, prepare_document};
use crate::refusal::Refusal;
use crate::store::idempotency::{
    Claim, ClaimTimes, KeyedRequest, StoredAnswer, claim, complete, delete_expired_keys, release,
    take_over,
};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The longest key, as the draft's implementations (Stripe's) take it.
const MAX_KEY_BYTES: usize = 255;

/// How often each instance removes the expired keys. Every instance does, and a key
/// deleted twice is deleted once: nothing needs electing.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How often it looks again while the database is not migrated yet.
const SWEEP_WAIT_FOR_SCHEMA: Duration = Duration::from_secs(1);

pub(super) const KEY_ON_A_BATCH: &str = "Idempotency-Key applies to one operation: send the \
     mutation on its own, not in a batch";
const MALFORMED_KEY: &str = "Idempotency-Key must be 1 to 255 visible ASCII characters \
     (no spaces or control characters)";
const SEVERAL_KEYS: &str = "Send one Idempotency-Key header, not several";

/// A key as a client may send it: 1 to 255 visible ASCII characters (0x21 to 0x7E). A
/// quoted key (the draft's structured-field string) is taken with its quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key, if it sent one.
    pub(super) fn of(headers: &HeaderMap) -> Result<Option<Self>, Refusal> {
        let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(Refusal::BadIdempotencyKey(SEVERAL_KEYS));
        }
        Self::parse(value.as_bytes()).map(Some)
    }

    fn parse(value: &[u8]) -> Result<Self, Refusal> {
        let visible_ascii = (1..=MAX_KEY_BYTES).contains(&value.len())
            && value.iter().all(|byte| (0x21..=0x7e).contains(byte));
        let key = visible_ascii
            .then(|| String::from_utf8(value.to_vec()).ok())
            .flatten();
        key.map(Self)
            .ok_or(Refusal::BadIdempotencyKey(MALFORMED_KEY))
    }
}

/// What the request will run, as far as a key is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Selected {
    Mutation,
    /// A query, a subscription, or a document the pipeline refuses: it runs (or is
    /// refused) as if it had no key.
    Other,
    /// A persisted query sent by its hash alone: its text, and so what it runs, is not
    /// known here.
    HashOnly,
}

/// Selects the operation as the pipeline will, with its own function, limits and nesting
/// guard: what is judged here is what runs. A document the pipeline refuses is refused
/// there whatever it selects, so it needs no key. It is a second parse, only of requests
/// that carry a key; the pipeline's prepared document is not reachable from here before
/// execution.
fn selected(http: &HttpOptions, request: &async_graphql::Request) -> Selected {
    if request.query.is_empty() && request.extensions.contains_key("persistedQuery") {
        return Selected::HashOnly;
    }
    let introspection = if http.introspection {
        Introspection::Allowed
    } else {
        Introspection::Refused
    };
    let prepared = prepare_document(
        &request.query,
        request.operation_name.as_deref(),
        &http.query_limits,
        introspection,
    );
    match prepared {
        Ok(prepared) if prepared.operation.kind == OperationType::Mutation => Selected::Mutation,
        _ => Selected::Other,
    }
}

/// One POST request with a signed-in viewer and a key: a mutation runs once per key, its
/// answer kept; anything else runs as if it had no key.
pub(super) async fn run_keyed(
    state: &AppState,
    media: ResponseMedia,
    request: async_graphql::Request,
    viewer: Viewer,
    key: IdempotencyKey,
    body: &[u8],
    deadline: Deadline,
) -> Response {
    match selected(&state.http, &request) {
        Selected::Mutation => {}
        Selected::Other => {
            let (answer, _) = answer_one(state, media, request, Some(&viewer), deadline).await;
            return answer.into_response();
        }
        // Apollo Client and urql send the text on this answer, and the retry is judged by it.
        Selected::HashOnly => return refuse(media, &Refusal::PersistedQueryNotFound),
    }
    let keyed = KeyedRequest {
        user_id: viewer.id.clone(),
        key: key.0,
        request_sha256: Sha256::digest(body).into(),
    };
    let now = Utc::now();
    let times = ClaimTimes {
        now,
        expires_at: later(now, state.http.idempotency.key_ttl),
        abandoned_before: earlier(now, state.http.request_timeout + ABANDONED_CLAIM_MARGIN),
    };
    match claim_opened(state, &keyed, times).await {
        Ok(Claim::Claimed(claim_id)) => {
            run_claimed(state, media, request, viewer, keyed, claim_id, deadline).await
        }
        Ok(Claim::Replay { answer, .. }) => replay(media, answer),
        Ok(Claim::Mismatch) => refuse(media, &Refusal::IdempotencyKeyMismatch),
        Ok(Claim::InUse) => refuse(media, &Refusal::IdempotencyKeyInUse),
        Err(error) => {
            tracing::error!(?error, "cannot claim an idempotency key");
            refuse(
                media,
                &Refusal::Internal("the idempotency key store failed"),
            )
        }
    }
}

/// The key's claim, a kept answer decrypted. One that does not decrypt (the vault's key
/// set or changed since it was kept) counts as expired, as it would after
/// `IDEMPOTENCY_KEY_TTL_HOURS`: the key is taken over and the request runs, where a 500
/// would refuse every retry until the key expired.
async fn claim_opened(
    state: &AppState,
    keyed: &KeyedRequest,
    times: ClaimTimes,
) -> Result<Claim, AppError> {
    let (claim_id, answer) = match claim(&state.db, keyed, times).await? {
        Claim::Replay { claim_id, answer } => (claim_id, answer),
        other => return Ok(other),
    };
    let vault = &state.webhooks.vault;
    if let Some(body) = vault
        .open_bytes(&state.db, &sealed_for(keyed), &answer.body)
        .await?
    {
        let answer = StoredAnswer { body, ..answer };
        return Ok(Claim::Replay { claim_id, answer });
    }
    tracing::warn!("a kept answer does not decrypt with the current key: it counts as expired");
    // Not taken: another retry took it over first, and runs.
    let taken = take_over(&state.db, keyed, claim_id, times).await?;
    Ok(taken.map_or(Claim::InUse, Claim::Claimed))
}

/// What a kept body is sealed for: its row. The key comes first: it is visible ASCII, so
/// the NUL after it ends it and no other user and key write the same bytes. The prefix
/// sets it apart from a webhook's id, the other thing the vault seals for.
fn sealed_for(keyed: &KeyedRequest) -> Vec<u8> {
    [
        b"idempotency_keys\0".as_slice(),
        keyed.key.as_bytes(),
        b"\0",
        keyed.user_id.as_bytes(),
    ]
    .concat()
}

/// Runs the mutation that holds the key, and keeps its answer or releases the key. It
/// runs in a task of its own, so that a client that hangs up cannot stop it between its
/// write and the keeping of its answer (which would leave the key claimed until it is
/// taken for abandoned, and the retry would then write again).
async fn run_claimed(
    state: &AppState,
    media: ResponseMedia,
    request: async_graphql::Request,
    viewer: Viewer,
    keyed: KeyedRequest,
    claim_id: uuid::Uuid,
    deadline: Deadline,
) -> Response {
    let state = state.clone();
    let task = tokio::spawn(
        async move {
            let (answer, executed) =
                answer_one(&state, media, request, Some(&viewer), deadline).await;
            settle(&state, &keyed, claim_id, &answer, executed).await;
            answer
        }
        .in_current_span(),
    );
    match task.await {
        Ok(answer) => answer.into_response(),
        Err(error) => {
            tracing::error!(%error, "a mutation sent with an idempotency key failed to run");
            refuse(media, &Refusal::Internal("a keyed mutation's task failed"))
        }
    }
}

/// Keeps the answer of a request that reached execution; releases the key of one that
/// did not, so that a retry runs. A failure to keep an answer leaves the key claimed:
/// retries are told it is in use until the claim counts as abandoned.
async fn settle(
    state: &AppState,
    keyed: &KeyedRequest,
    claim_id: uuid::Uuid,
    answer: &HttpAnswer,
    executed: bool,
) {
    let outcome = if executed {
        keep(state, keyed, claim_id, answer).await
    } else {
        release(&state.db, keyed, claim_id)
            .await
            .map_err(AppError::from)
    };
    if let Err(error) = outcome {
        tracing::error!(?error, executed, "cannot settle an idempotency key");
    }
}

/// Keeps the answer, its body encrypted, as the key's.
async fn keep(
    state: &AppState,
    keyed: &KeyedRequest,
    claim_id: uuid::Uuid,
    answer: &HttpAnswer,
) -> Result<(), AppError> {
    let answer = stored(answer);
    let body = state
        .webhooks
        .vault
        .seal_bytes(&state.db, &sealed_for(keyed), &answer.body)
        .await?;
    let kept = complete(&state.db, keyed, claim_id, StoredAnswer { body, ..answer }).await?;
    if !kept {
        tracing::warn!(
            "an idempotency key was taken over before its answer was kept: its request ran \
             longer than REQUEST_TIMEOUT_SECONDS and the margin"
        );
    }
    Ok(())
}

/// The answer as it is kept: every header the handler set (the content type, and a
/// refusal's own, such as `Retry-After`). The request id and CORS headers are added by
/// layers around the handler, for each request anew, replays included.
fn stored(answer: &HttpAnswer) -> StoredAnswer {
    let headers: Vec<serde_json::Value> = answer
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some(serde_json::json!([name.as_str(), value]))
        })
        .collect();
    StoredAnswer {
        status: i16::try_from(answer.status.as_u16()).unwrap_or(i16::MAX),
        headers: serde_json::Value::Array(headers).to_string(),
        body: answer.body.as_bytes().to_vec(),
    }
}

/// The kept answer, byte for byte, marked as a replay.
fn replay(media: ResponseMedia, stored: StoredAnswer) -> Response {
    let status = u16::try_from(stored.status)
        .ok()
        .and_then(|status| StatusCode::from_u16(status).ok());
    let headers = serde_json::from_str::<Vec<(String, String)>>(&stored.headers)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_str(&value).ok()?,
                    ))
                })
                .collect::<Option<Vec<_>>>()
        });
    let (Some(status), Some(headers)) = (status, headers) else {
        tracing::error!("a kept answer cannot be read back");
        return refuse(
            media,
            &Refusal::Internal("a kept answer cannot be read back"),
        );
    };
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().append(name, value);
    }
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(by)
        .ok()
        .and_then(|by| now.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn earlier(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(by)
        .ok()
        .and_then(|by| now.checked_sub_signed(by))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl AppState {
    /// Removes expired keys every [`SWEEP_INTERVAL`], from the time the database is
    /// migrated: one `DELETE` by the index on `expires_at`, of what expired since the last.
    pub fn sweep_expired_idempotency_keys(&self) -> JoinHandle<()> {
        let (db, schema) = (self.db.clone(), self.db_schema.clone());
        tokio::spawn(async move {
            loop {
                if !schema.is_current() {
                    tokio::time::sleep(SWEEP_WAIT_FOR_SCHEMA).await;
                    continue;
                }
                match delete_expired_keys(&db, Utc::now()).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "expired idempotency keys removed"),
                    Err(error) => tracing::warn!(%error, "cannot remove expired idempotency keys"),
                }
                tokio::time::sleep(SWEEP_INTERVAL).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &[u8]) -> Option<String> {
        IdempotencyKey::parse(value).ok().map(|key| key.0)
    }

    #[test]
    fn a_key_of_visible_ascii_up_to_255_characters_is_taken_as_it_is() {
        let longest = "k".repeat(255);
        assert_eq!(parsed(longest.as_bytes()), Some(longest));
        assert_eq!(parsed(b"\"8e03978e\""), Some("\"8e03978e\"".into()));
        assert_eq!(parsed(b"~!"), Some("~!".into()));
    }

    #[test]
    fn an_empty_long_spaced_or_non_ascii_key_is_refused() {
        for value in [
            &b""[..],
            "k".repeat(256).as_bytes(),
            b"two words",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            b"\x7f",
        ] {
            assert_eq!(parsed(value), None, "{value:?}");
        }
    }

    #[test]
    fn two_key_headers_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("a"));
        headers.append(IDEMPOTENCY_KEY, HeaderValue::from_static("b"));
        assert!(matches!(
            IdempotencyKey::of(&headers),
            Err(Refusal::BadIdempotencyKey(SEVERAL_KEYS))
        ));
    }

    fn selected_by(query: &str, operation_name: Option<&str>) -> Selected {
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        selected(&HttpOptions::DEFAULT, &request)
    }

    #[test]
    fn an_unnamed_single_mutation_is_a_mutation() {
        assert_eq!(
            selected_by("mutation { createTicket(input: {}) { id } }", None),
            Selected::Mutation
        );
    }

    #[test]
    fn the_operation_name_selects_the_mutation_beside_a_query() {
        let document = "query Q { me { id } } mutation M { createTicket(input: {}) { id } }";
        assert_eq!(selected_by(document, Some("M")), Selected::Mutation);
        assert_eq!(selected_by(document, Some("Q")), Selected::Other);
    }

    #[test]
    fn two_operations_without_a_name_select_nothing_and_are_refused_anyway() {
        let document = "query Q { me { id } } mutation M { createTicket(input: {}) { id } }";
        assert_eq!(selected_by(document, None), Selected::Other);
    }

    #[test]
    fn a_document_nested_past_the_guard_is_not_parsed() {
        let deep = format!("mutation {}", "{".repeat(100_000));
        assert_eq!(selected_by(&deep, None), Selected::Other);
    }
}
