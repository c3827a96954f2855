//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` (Apollo Client's
//! `GraphQLWsLink`, urql's `subscriptionExchange`) and the legacy `graphql-ws`, served by
//! async-graphql-axum from the very schema HTTP uses, so that every operation passes the
//! same pipeline. What this module adds is the edge: the token in `connection_init`, the
//! close codes, and the ceilings of a socket.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
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
use tokio::sync::{Notify, mpsc};

use super::AppState;
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
    /// A message over the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}

/// The reason async-graphql closes with when `connection_init` fails: it always closes
/// with 1002, which this module turns into the code the reason stands for.
const FORBIDDEN_REASON: &str = "Forbidden";
const TOO_MANY_SOCKETS_REASON: &str = "Too many connections";

/// The sockets each user has open on this instance.
#[derive(Default)]
pub struct OpenSockets(Mutex<HashMap<String, usize>>);

impl OpenSockets {
    /// Counts one more socket for `user`, unless they have `limit` already.
    fn open(self: &Arc<Self>, user: &str, limit: usize) -> Option<SocketSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(user.to_owned()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            sockets: Arc::clone(self),
            user: user.to_owned(),
        })
    }
}

/// One user's socket, counted until it closes.
struct SocketSlot {
    sockets: Arc<OpenSockets>,
    user: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self
            .sockets
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

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
    let limits = state.http.socket_limits;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .on_upgrade(move |socket| async move {
            // The connection's place among the open ones, kept until the socket closes.
            let _slot = slot;
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
    /// When the token expires, in seconds since the epoch.
    expires_at: Option<u64>,
    slot: Option<SocketSlot>,
}

async fn serve(state: AppState, socket: WebSocket, protocol: GraphQLProtocol) {
    let _counted = state.open.sockets.hold();
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
    let active = Arc::new(Mutex::new(HashSet::<String>::new()));
    let graphql_sink = sink::unfold(
        (outgoing.clone(), Arc::clone(&active)),
        |(outgoing, active), message: Message| async move {
            note_finished_operation(&message, &active);
            let message = with_close_code(message);
            outgoing
                .send(message)
                .await
                .map_err(|_| axum::Error::new("closed"))?;
            Ok::<_, axum::Error>((outgoing, active))
        },
    );
    let incoming = socket_stream.filter_map({
        let outgoing = outgoing.clone();
        let active = Arc::clone(&active);
        move |message| {
            let admitted = admit(message, &active, limits.max_subscriptions, &outgoing);
            future::ready(admitted)
        }
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
        code = watch_session(&session, &initialized, limits) => {
            record_close(code.0);
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
/// socket opens anonymously and every field answers UNAUTHENTICATED.
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
    let signed_in = match authorization {
        Some(authorization) => Some(sign_in(&state, authorization).await),
        None => None,
    };
    let answer = {
        let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
        match signed_in {
            None => Ok(data),
            Some(Ok((viewer, expires_at, slot))) => {
                session.expires_at = expires_at;
                session.slot = Some(slot);
                data.insert::<Viewer>(viewer);
                Ok(data)
            }
            Some(Err((code, reason))) => {
                record_close(code);
                session.refused = Some((code, reason));
                Err(async_graphql::Error::new(reason))
            }
        }
    };
    // Only now: the watch reads the expiry this has just written.
    initialized.notify_one();
    answer
}

/// The viewer of an `Authorization` value, when its token is valid and the user may open
/// one more socket.
async fn sign_in(
    state: &AppState,
    authorization: &serde_json::Value,
) -> Result<(Viewer, Option<u64>, SocketSlot), (u16, &'static str)> {
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
    let slot = state
        .sockets
        .open(&viewer.id, state.http.socket_limits.max_sockets_per_user)
        .ok_or((close::TOO_MANY_SOCKETS, TOO_MANY_SOCKETS_REASON))?;
    Ok((viewer, expires_at, slot))
}

/// Resolves with the close code when the socket must end: no `connection_init` in time,
/// or its token has expired.
async fn watch_session(
    session: &Mutex<Session>,
    initialized: &Notify,
    limits: SocketLimits,
) -> (u16, &'static str) {
    let init = tokio::time::timeout(limits.init_timeout, initialized.notified());
    if init.await.is_err() {
        return (close::INIT_TIMEOUT, "Connection initialisation timeout");
    }
    loop {
        let expires_at = session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .expires_at;
        let Some(expires_at) = expires_at else {
            return future::pending().await;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_secs());
        if now >= expires_at {
            return (close::FORBIDDEN, "Token expired");
        }
        tokio::time::sleep(Duration::from_secs(expires_at - now)).await;
    }
}

/// Lets a client message through, unless it starts one operation more than a socket may
/// run at once: that one is answered with an error and dropped.
fn admit(
    message: Result<Message, axum::Error>,
    active: &Mutex<HashSet<String>>,
    max_subscriptions: usize,
    outgoing: &mpsc::Sender<Message>,
) -> Option<Result<Message, axum::Error>> {
    let text = match &message {
        Ok(Message::Text(text)) => text,
        Ok(_) => return Some(message),
        Err(error) => {
            let _ = outgoing.try_send(unreadable(error));
            return Some(message);
        }
    };
    let Some(envelope) = Envelope::of(text) else {
        return Some(message);
    };
    let kind = envelope.kind.as_ref();
    let id = envelope.id.unwrap_or_default().into_owned();
    let mut active = active.lock().unwrap_or_else(PoisonError::into_inner);
    match kind {
        "subscribe" | "start" if !active.contains(&id) && active.len() >= max_subscriptions => {
            crate::metrics::record_refusal("too_many_subscriptions");
            let error = serde_json::json!({
                "id": id,
                "type": "error",
                "payload": [{
                    "message": format!("At most {max_subscriptions} operations at once on one socket"),
                    "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" },
                }],
            });
            let _ = outgoing.try_send(Message::Text(error.to_string().into()));
            None
        }
        "subscribe" | "start" => {
            active.insert(id);
            Some(message)
        }
        "complete" | "stop" => {
            active.remove(&id);
            Some(message)
        }
        _ => Some(message),
    }
}

/// The close of a socket whose next message could not be read: too large (1009), or not
/// a WebSocket frame at all (1002).
fn unreadable(error: &axum::Error) -> Message {
    let text = error.to_string();
    if text.contains("Space limit exceeded") || text.contains("too long") {
        record_close(close::MESSAGE_TOO_BIG);
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

/// An operation the server completed, or failed, no longer counts against the socket.
fn note_finished_operation(message: &Message, active: &Mutex<HashSet<String>>) {
    let Message::Text(text) = message else {
        return;
    };
    let Some(envelope) = Envelope::of(text) else {
        return;
    };
    if matches!(envelope.kind.as_ref(), "complete" | "error")
        && let Some(id) = envelope.id
    {
        active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id.as_ref());
    }
}

/// async-graphql closes a failed `connection_init` with 1002; the reason says which code
/// the client must see.
fn with_close_code(message: Message) -> Message {
    match message {
        Message::Close(Some(frame)) if frame.code == 1002 => match frame.reason.as_str() {
            FORBIDDEN_REASON => close_frame(close::FORBIDDEN, FORBIDDEN_REASON),
            TOO_MANY_SOCKETS_REASON => {
                close_frame(close::TOO_MANY_SOCKETS, TOO_MANY_SOCKETS_REASON)
            }
            _ => Message::Close(Some(frame)),
        },
        message => message,
    }
}

/// Counts a socket closed for a reason of the client's, at the place that decides it.
fn record_close(code: u16) {
    let reason = match code {
        close::FORBIDDEN => "invalid_token",
        close::INIT_TIMEOUT => "init_timeout",
        close::TOO_MANY_SOCKETS => "too_many_sockets",
        close::MESSAGE_TOO_BIG => "body_size",
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
