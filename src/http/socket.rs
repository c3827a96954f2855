//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` (Apollo Client's
//! `GraphQLWsLink`, urql's `subscriptionExchange`) and the legacy `graphql-ws`, served by
//! async-graphql-axum from the very schema HTTP uses, so that every operation passes the
//! same pipeline. What this module adds is the edge: the token in `connection_init`, the
//! close codes, and the ceilings of a socket.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::ORIGIN;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt, future, sink};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;

use super::AppState;
use super::graphql_response::error_json;
use super::media::ResponseMedia;
use super::refusal::refuse;
use super::serve::ConnectionSlot;
use crate::config::SocketLimits;
use crate::domain::Viewer;
use crate::refusal::Refusal;

/// Close codes, as `graphql-ws` clients read them.
mod close {
    /// A token that is not valid, or that has expired: reconnect with a fresh one.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// The user has too many sockets open.
    pub const TOO_MANY_SOCKETS: u16 = 4429;
    /// The server is going away: reconnect, to another instance.
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A binary frame: GraphQL over WebSocket is text.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A message over the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}

/// The reason async-graphql closes with when `connection_init` fails: it always closes
/// with 1002, which this module turns into the code the reason stands for.
const FORBIDDEN_REASON: &str = "Forbidden";
const TOO_MANY_SOCKETS_REASON: &str = "Too many connections";
const TOO_MANY_ANONYMOUS_REASON: &str = "Too many anonymous connections";
const ANONYMOUS_TIME_UP_REASON: &str = "Anonymous socket time limit";

/// What the sockets of this instance hold, each counted until it is given back: the
/// sockets of all users together, each user's sockets, the anonymous sockets together,
/// and each user's operations over all their sockets.
pub struct OpenSockets {
    all: Arc<Semaphore>,
    per_user: Arc<Counts>,
    anonymous: Arc<Counts>,
    operations_per_user: Arc<Counts>,
}

impl OpenSockets {
    pub fn new(limits: &SocketLimits) -> Self {
        Self {
            all: Arc::new(Semaphore::new(limits.max_sockets)),
            per_user: Arc::default(),
            anonymous: Arc::default(),
            operations_per_user: Arc::default(),
        }
    }
}

/// How many each key holds.
#[derive(Default)]
struct Counts(Mutex<HashMap<String, usize>>);

impl Counts {
    /// Counts one more for `key`, unless it holds `limit` already.
    fn take(self: &Arc<Self>, key: &str, limit: usize) -> Option<Counted> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key.to_owned()).or_default();
        if *count >= limit {
            if *count == 0 {
                counts.remove(key);
            }
            return None;
        }
        *count += 1;
        Some(Counted {
            counts: Arc::clone(self),
            key: key.to_owned(),
        })
    }
}

/// One of a key's [`Counts`], given back on drop.
struct Counted {
    counts: Arc<Counts>,
    key: String,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The one key of the anonymous sockets' count: they share one pool.
const ANONYMOUS: &str = "";

/// `GET /graphql` with `Upgrade: websocket`.
pub async fn upgrade(
    state: AppState,
    headers: &HeaderMap,
    upgrade: WebSocketUpgrade,
    protocol: GraphQLProtocol,
    slot: Option<ConnectionSlot>,
) -> Response {
    if !origin_allowed(&state, headers) {
        return refuse(ResponseMedia::Json, &Refusal::OriginNotAllowed);
    }
    let Ok(place) = Arc::clone(&state.sockets.all).try_acquire_owned() else {
        return refuse(ResponseMedia::Json, &Refusal::TooManySockets);
    };
    let limits = state.http.socket_limits;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .on_upgrade(move |socket| async move {
            // The connection's place among the open ones, and the socket's among the
            // sockets, kept until the socket closes.
            let _slot = slot;
            let _place = place;
            serve(state, socket, protocol).await;
        })
}

/// A browser's `Origin` must be one the API is open to, when it is open to a list: a
/// WebSocket is not subject to CORS, so a page elsewhere could otherwise use it.
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let allowed = &state.http.cors_origins;
    match headers.get(ORIGIN) {
        Some(origin) if !allowed.is_empty() => allowed
            .iter()
            .any(|allowed| allowed.header_value() == origin),
        _ => true,
    }
}

/// What the socket learned at `connection_init`.
#[derive(Default)]
struct Session {
    /// Why `connection_init` was refused: the legacy protocol answers with a message, not
    /// a close, so the socket is closed with this once GraphQL is done with it.
    refused: Option<(u16, &'static str)>,
    /// Who signed in; `None` before `connection_init` and for an anonymous socket.
    user: Option<String>,
    /// When the token stops being accepted (its `exp` and the leeway), in seconds since
    /// the epoch.
    expires_at: Option<u64>,
    /// Its place among the user's sockets, or among the anonymous ones.
    place: Option<Counted>,
}

async fn serve(state: AppState, socket: WebSocket, protocol: GraphQLProtocol) {
    let _counted = state.open.sockets.hold();
    let opened = Instant::now();
    let limits = state.http.socket_limits;
    let (mut socket_sink, socket_stream) = socket.split();
    // Everything the client receives goes through one channel, so that the socket's own
    // messages (a keep-alive, a close) and GraphQL's never interleave mid-frame.
    let (outgoing, mut to_client) = mpsc::channel::<Message>(32);
    let writer = tokio::spawn(async move {
        // Pings keep idle proxies from cutting a quiet socket; browsers answer them.
        let mut keepalive = tokio::time::interval(limits.keepalive_interval);
        keepalive.tick().await;
        loop {
            let message = tokio::select! {
                message = to_client.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
                _ = keepalive.tick() => Message::Ping(Default::default()),
            };
            let closing = matches!(message, Message::Close(_));
            if socket_sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = socket_sink.close().await;
    });

    let session = Arc::new(Mutex::new(Session::default()));
    let initialized = Arc::new(Notify::new());
    let admission = Arc::new(Admission {
        active: Mutex::default(),
        session: Arc::clone(&session),
        sockets: Arc::clone(&state.sockets),
        limits,
        outgoing: outgoing.clone(),
    });
    let graphql_sink = sink::unfold(
        (outgoing.clone(), Arc::clone(&admission)),
        |(outgoing, admission), message: Message| async move {
            admission.note_finished_operation(&message);
            let message = with_close_code(message);
            outgoing
                .send(message)
                .await
                .map_err(|_| axum::Error::new("closed"))?;
            Ok::<_, axum::Error>((outgoing, admission))
        },
    );
    let incoming = socket_stream.filter_map({
        let admission = Arc::clone(&admission);
        move |message| future::ready(admission.admit(message))
    });
    let init = {
        let state = state.clone();
        let session = Arc::clone(&session);
        let initialized = Arc::clone(&initialized);
        move |payload| connection_init(state, session, initialized, payload)
    };
    let graphql =
        GraphQLWebSocket::new_with_pair(graphql_sink, incoming, state.schema.clone(), protocol)
            .on_connection_init(init)
            .serve();
    let mut stopping = state.stopping.subscribe();
    let ended = tokio::select! {
        () = graphql => session.lock().unwrap_or_else(PoisonError::into_inner).refused,
        code = watch_session(&session, &initialized, opened, limits) => {
            record_close(code);
            Some(code)
        }
        _ = stopping.wait_for(|stop| *stop) => Some((close::GOING_AWAY, "Server shutting down")),
    };
    if let Some((code, reason)) = ended {
        let _ = outgoing.send(close_frame(code, reason)).await;
    }
    drop(outgoing);
    let _ = writer.await;
}

/// Verifies the token in the `connection_init` payload exactly as the HTTP header is
/// verified: `{"Authorization": "Bearer <jwt>"}`, the key in any case. Without one the
/// socket opens anonymously, if the anonymous sockets have room, and every field answers
/// UNAUTHENTICATED.
async fn connection_init(
    state: AppState,
    session: Arc<Mutex<Session>>,
    initialized: Arc<Notify>,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let mut data = Data::default();
    let authorization = payload.as_object().and_then(|fields| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value)
    });
    let opened = match authorization {
        Some(authorization) => sign_in(&state, authorization).await.map(Opened::SignedIn),
        None => open_anonymously(&state).map(Opened::Anonymous),
    };
    let answer = {
        let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
        match opened {
            Ok(Opened::Anonymous(place)) => {
                session.place = Some(place);
                Ok(data)
            }
            Ok(Opened::SignedIn(SignedIn {
                viewer,
                expires_at,
                place,
            })) => {
                session.user = Some(viewer.id.clone());
                session.expires_at = expires_at;
                session.place = Some(place);
                data.insert::<Viewer>(viewer);
                Ok(data)
            }
            Err((code, reason)) => {
                record_close((code, reason));
                session.refused = Some((code, reason));
                Err(async_graphql::Error::new(reason))
            }
        }
    };
    // Only now: the watch reads what this has just written.
    initialized.notify_one();
    answer
}

/// A socket's place among the anonymous ones, when there is one left.
fn open_anonymously(state: &AppState) -> Result<Counted, (u16, &'static str)> {
    let limit = state.http.socket_limits.max_anonymous_sockets;
    state
        .sockets
        .anonymous
        .take(ANONYMOUS, limit)
        .ok_or((close::TOO_MANY_SOCKETS, TOO_MANY_ANONYMOUS_REASON))
}

/// A socket `connection_init` let in.
enum Opened {
    Anonymous(Counted),
    SignedIn(SignedIn),
}

struct SignedIn {
    viewer: Viewer,
    expires_at: Option<u64>,
    place: Counted,
}

/// The viewer of an `Authorization` value, when its token is valid and the user may open
/// one more socket.
async fn sign_in(
    state: &AppState,
    authorization: &serde_json::Value,
) -> Result<SignedIn, (u16, &'static str)> {
    let forbidden = (close::FORBIDDEN, FORBIDDEN_REASON);
    let token = authorization
        .as_str()
        .and_then(super::auth::bearer_token_of)
        .ok_or(forbidden)?;
    let (viewer, expires_at) = state
        .verifier
        .verify_with_expiry(token)
        .await
        .map_err(|_| forbidden)?;
    let place = state
        .sockets
        .per_user
        .take(&viewer.id, state.http.socket_limits.max_sockets_per_user)
        .ok_or((close::TOO_MANY_SOCKETS, TOO_MANY_SOCKETS_REASON))?;
    Ok(SignedIn {
        viewer,
        expires_at,
        place,
    })
}

/// Resolves with the close code when the socket must end: no `connection_init` in time,
/// an anonymous socket's time is up, or its token has expired.
async fn watch_session(
    session: &Mutex<Session>,
    initialized: &Notify,
    opened: Instant,
    limits: SocketLimits,
) -> (u16, &'static str) {
    let init_timeout = opened + limits.init_timeout;
    if tokio::time::timeout_at(init_timeout, initialized.notified())
        .await
        .is_err()
    {
        return (close::INIT_TIMEOUT, "Connection initialisation timeout");
    }
    let (signed_in, expires_at) = {
        let session = session.lock().unwrap_or_else(PoisonError::into_inner);
        (session.user.is_some(), session.expires_at)
    };
    if !signed_in {
        // Without a token a socket can do nothing but hold its place: it gets no longer
        // than it would have had to sign in.
        tokio::time::sleep_until(init_timeout).await;
        return (close::INIT_TIMEOUT, ANONYMOUS_TIME_UP_REASON);
    }
    let Some(expires_at) = expires_at else {
        return future::pending().await;
    };
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_secs());
        if now >= expires_at {
            return (close::FORBIDDEN, "Token expired");
        }
        tokio::time::sleep(Duration::from_secs(expires_at - now)).await;
    }
}

/// What lets a client's messages through: every frame, whatever its kind, passes here
/// before async-graphql reads it.
struct Admission {
    /// The operations running on this socket, each with its place among its user's.
    active: Mutex<HashMap<String, Option<Counted>>>,
    session: Arc<Mutex<Session>>,
    sockets: Arc<OpenSockets>,
    limits: SocketLimits,
    outgoing: mpsc::Sender<Message>,
}

impl Admission {
    /// Lets a client message through, unless it starts one operation more than the socket
    /// or its user may run at once (that one is answered with an error and dropped), or it
    /// is a binary frame, which no GraphQL client sends (the socket is closed with 1003).
    fn admit(&self, message: Result<Message, axum::Error>) -> Option<Result<Message, axum::Error>> {
        let text = match &message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                crate::metrics::record_refusal("binary_frame");
                let _ = self.outgoing.try_send(close_frame(
                    close::UNSUPPORTED_DATA,
                    "Binary frames are not accepted",
                ));
                return Some(Err(axum::Error::new("a binary frame")));
            }
            Ok(_) => return Some(message),
            Err(error) => {
                let _ = self.outgoing.try_send(unreadable(error));
                return Some(message);
            }
        };
        let Some(envelope) = Envelope::of(text) else {
            return Some(message);
        };
        let id = envelope.id.unwrap_or_default().into_owned();
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        match envelope.kind.as_ref() {
            // A second operation with a running one's id is async-graphql's to refuse.
            "subscribe" | "start" if active.contains_key(&id) => Some(message),
            "subscribe" | "start" => match self.place_for_operation(active.len()) {
                Ok(place) => {
                    active.insert(id, place);
                    Some(message)
                }
                Err(refusal) => {
                    crate::metrics::record_refusal(refusal.reason());
                    let error = serde_json::json!({
                        "id": id,
                        "type": "error",
                        "payload": [error_json(&refusal)],
                    });
                    let _ = self
                        .outgoing
                        .try_send(Message::Text(error.to_string().into()));
                    None
                }
            },
            "complete" | "stop" => {
                active.remove(&id);
                Some(message)
            }
            _ => Some(message),
        }
    }

    /// A place for one more operation, on the socket (which runs `running`) and among its
    /// user's; or why there is none.
    fn place_for_operation(&self, running: usize) -> Result<Option<Counted>, Refusal> {
        let limits = &self.limits;
        if running >= limits.max_subscriptions {
            return Err(Refusal::TooManySubscriptions(format!(
                "At most {} operations at once on one socket",
                limits.max_subscriptions
            )));
        }
        let user = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .user
            .clone();
        let Some(user) = user else {
            // An anonymous operation is refused as UNAUTHENTICATED, holding nothing.
            return Ok(None);
        };
        self.sockets
            .operations_per_user
            .take(&user, limits.max_subscriptions_per_user)
            .map(Some)
            .ok_or_else(|| {
                Refusal::TooManySubscriptions(format!(
                    "At most {} operations at once per user",
                    limits.max_subscriptions_per_user
                ))
            })
    }

    /// An operation the server completed, or failed, no longer counts.
    fn note_finished_operation(&self, message: &Message) {
        let Message::Text(text) = message else {
            return;
        };
        let Some(envelope) = Envelope::of(text) else {
            return;
        };
        if matches!(envelope.kind.as_ref(), "complete" | "error")
            && let Some(id) = envelope.id
        {
            self.active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id.as_ref());
        }
    }
}

/// The close of a socket whose next message could not be read: too large (1009), or not
/// a WebSocket frame at all (1002).
fn unreadable(error: &axum::Error) -> Message {
    let text = error.to_string();
    if text.contains("Space limit exceeded") || text.contains("too long") {
        record_close((close::MESSAGE_TOO_BIG, ""));
        close_frame(close::MESSAGE_TOO_BIG, "Message too big")
    } else {
        close_frame(close::PROTOCOL_ERROR, "Unreadable message")
    }
}

/// What the socket's ceilings read of a message: its type and operation id, borrowed from
/// the text where they hold no escape (and copied where they do, so that an escaped id
/// is read as async-graphql reads it); the payload (a whole event, on the way out) is
/// skipped, not built.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    fn of(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}

/// async-graphql closes a failed `connection_init` with 1002; the reason says which code
/// the client must see.
fn with_close_code(message: Message) -> Message {
    match message {
        Message::Close(Some(frame)) if frame.code == 1002 => match frame.reason.as_str() {
            FORBIDDEN_REASON => close_frame(close::FORBIDDEN, FORBIDDEN_REASON),
            reason @ (TOO_MANY_SOCKETS_REASON | TOO_MANY_ANONYMOUS_REASON) => {
                close_frame(close::TOO_MANY_SOCKETS, reason)
            }
            _ => Message::Close(Some(frame)),
        },
        message => message,
    }
}

/// Counts a socket closed for a reason of the client's, at the place that decides it.
fn record_close((code, reason): (u16, &str)) {
    let reason = match (code, reason) {
        (close::FORBIDDEN, _) => "invalid_token",
        (close::INIT_TIMEOUT, ANONYMOUS_TIME_UP_REASON) => "anonymous_time_limit",
        (close::INIT_TIMEOUT, _) => "init_timeout",
        (close::TOO_MANY_SOCKETS, TOO_MANY_ANONYMOUS_REASON) => "anonymous_sockets",
        (close::TOO_MANY_SOCKETS, _) => "too_many_sockets",
        (close::MESSAGE_TOO_BIG, _) => "body_size",
        _ => return,
    };
    crate::metrics::record_refusal(reason);
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
