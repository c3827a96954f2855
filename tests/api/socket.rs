//! GraphQL over WebSocket on `/graphql`: the token in `connection_init`, the close codes,
//! and the same checks as over HTTP.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{
    BucketStore, TestApp, User, on_both_stores, spawn_app, spawn_app_with, unix_now,
};

/// Far longer than any answer takes; only a server that never answers reaches it.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

pub struct Socket(WebSocketStream<MaybeTlsStream<TcpStream>>);

/// What the server did next.
#[derive(Debug)]
pub enum Received {
    Json(Value),
    Closed(Option<u16>),
}

/// Both protocols a client may speak: graphql-transport-ws and the legacy graphql-ws.
pub const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// A `subscribe` (or the legacy protocol's `start`) of `query`.
pub fn start(protocol: &str, id: &str, query: &str) -> Value {
    let kind = if protocol == "graphql-ws" {
        "start"
    } else {
        "subscribe"
    };
    json!({ "id": id, "type": kind, "payload": { "query": query } })
}

/// A socket speaking `protocol`, acknowledged, with `token` or without one.
pub async fn acknowledged(app: &TestApp, protocol: &str, token: Option<&str>) -> Socket {
    let mut socket = Socket::open_with(app, protocol, &[]).await;
    socket.init(token).await;
    let ack = socket.receive().await;
    assert!(
        matches!(&ack, Received::Json(message) if message["type"] == "connection_ack"),
        "{ack:?}"
    );
    socket
}

/// The socket's answer to `query`, over `protocol`, as a response: a refusal before
/// execution comes as an `error` message whose payload is the list of errors.
pub async fn over_socket(app: &TestApp, protocol: &str, user: &User, query: &str) -> Value {
    let mut socket = acknowledged(app, protocol, Some(&user.token)).await;
    socket.send(start(protocol, "1", query)).await;
    match socket.receive().await {
        Received::Json(message) if message["id"] == "1" => match &message["payload"] {
            Value::Array(errors) => json!({ "errors": errors }),
            response => response.clone(),
        },
        other => panic!("expected an answer over {protocol}, got {other:?}"),
    }
}

impl Socket {
    /// A socket speaking `protocol`, with `headers` on the upgrade request.
    pub async fn open_with(app: &TestApp, protocol: &str, headers: &[(&str, &str)]) -> Self {
        Self::try_open(app, protocol, headers)
            .await
            .expect("the socket opens")
    }

    pub async fn try_open(
        app: &TestApp,
        protocol: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/graphql", app.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("a request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            protocol.parse().expect("a header"),
        );
        for (name, value) in headers {
            request.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                value.parse().expect("a value"),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self(stream))
    }

    /// A `graphql-transport-ws` socket, acknowledged, as `token`'s user (or anonymous).
    pub async fn signed_in(app: &TestApp, token: Option<&str>) -> Self {
        let mut socket = Self::open_with(app, "graphql-transport-ws", &[]).await;
        socket.init(token).await;
        let ack = socket.receive().await;
        assert!(
            matches!(&ack, Received::Json(message) if message["type"] == "connection_ack"),
            "{ack:?}"
        );
        socket
    }

    pub async fn init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    /// A message as written, for JSON spelled as a client may spell it.
    pub async fn send_text(&mut self, text: String) {
        self.0.send(Message::text(text)).await.expect("sent");
    }

    /// Sends `message` unless the socket is closed already.
    pub async fn try_send(&mut self, message: Value) -> bool {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .is_ok()
    }

    /// A message in a binary frame, as async-graphql-axum would also read it.
    pub async fn send_binary(&mut self, message: Value) {
        self.0
            .send(Message::binary(message.to_string().into_bytes()))
            .await
            .expect("sent");
    }

    /// A text message in two frames: the first unfinished, then its continuation.
    pub async fn send_fragmented(&mut self, message: Value) {
        let text = message.to_string().into_bytes();
        let (head, tail) = text.split_at(text.len() / 2);
        let first = Frame::message(head.to_vec(), OpCode::Data(Data::Text), false);
        let rest = Frame::message(tail.to_vec(), OpCode::Data(Data::Continue), true);
        self.0.send(Message::Frame(first)).await.expect("sent");
        self.0.send(Message::Frame(rest)).await.expect("sent");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query, "variables": variables },
        }))
        .await;
    }

    /// The next message or close, skipping pings.
    pub async fn receive(&mut self) -> Received {
        loop {
            let next = tokio::time::timeout(ANSWER_WITHIN, self.0.next())
                .await
                .expect("the server answers in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Received::Json(serde_json::from_str(&text).expect("JSON"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(frame.map(|frame| u16::from(frame.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Received::Closed(None),
            }
        }
    }

    /// The payload of the next message, which must be a `next` for `id`.
    pub async fn next_payload(&mut self, id: &str) -> Value {
        match self.receive().await {
            Received::Json(message) if message["type"] == "next" && message["id"] == id => {
                message["payload"].clone()
            }
            other => panic!("expected a next for {id}, got {other:?}"),
        }
    }

    /// The close code the server ends the socket with.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Received::Closed(code) = self.receive().await {
                return code;
            }
        }
    }
}

pub fn code_of(payload: &Value) -> Option<&str> {
    payload["errors"][0]["extensions"]["code"].as_str()
}

/// The code of the first error the server answered an operation with: in an `error`
/// message, or (as async-graphql answers a refused query) in a `next` without data.
pub async fn refusal_code(socket: &mut Socket) -> String {
    let message = match socket.receive().await {
        Received::Json(message) => message,
        other => panic!("expected an answer, got {other:?}"),
    };
    let error = match message["type"].as_str() {
        Some("error") => &message["payload"][0],
        Some("next") => &message["payload"]["errors"][0],
        _ => panic!("expected a refusal, got {message:#}"),
    };
    error["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_query_over_the_socket_answers_as_over_http() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;

    socket.subscribe("1", "{ me { id role } }", json!({})).await;

    let payload = socket.next_payload("1").await;
    assert_eq!(
        payload["data"]["me"],
        json!({ "id": "alice", "role": "CUSTOMER" })
    );
}

#[tokio::test]
async fn the_authorization_key_is_read_in_any_case() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let mut socket = Socket::open_with(&app, "graphql-transport-ws", &[]).await;
    socket
        .send(json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {}", alice.token) },
        }))
        .await;
    socket.receive().await;

    socket.subscribe("1", "{ me { id } }", json!({})).await;

    assert_eq!(socket.next_payload("1").await["data"]["me"]["id"], "alice");
}

#[tokio::test]
async fn without_a_token_the_socket_opens_and_fields_answer_unauthenticated() {
    let app = spawn_app().await;
    let mut socket = Socket::signed_in(&app, None).await;

    socket.subscribe("1", "{ me { id } }", json!({})).await;

    assert_eq!(
        code_of(&socket.next_payload("1").await),
        Some("UNAUTHENTICATED")
    );
}

#[tokio::test]
async fn an_invalid_token_closes_the_socket_with_4403() {
    let app = spawn_app().await;
    let mut socket = Socket::open_with(&app, "graphql-transport-ws", &[]).await;

    socket.init(Some("not-a-token")).await;

    assert_eq!(socket.close_code().await, Some(4403));
}

#[tokio::test]
async fn an_invalid_token_closes_a_legacy_socket_with_4403() {
    let app = spawn_app().await;
    let mut socket = Socket::open_with(&app, "graphql-ws", &[]).await;

    socket.init(Some("not-a-token")).await;

    assert_eq!(socket.close_code().await, Some(4403));
}

/// The leeway on `exp` the tests' servers grant, as production does by default.
const LEEWAY_SECONDS: u64 = 60;

#[tokio::test]
async fn the_socket_closes_with_4403_when_its_token_expires_past_the_leeway() {
    // Longer than the wait for an answer: the close comes at the token's expiry, not
    // once the time to initialise is over.
    let app = spawn_app_with(|config| {
        config.http.socket_limits.init_timeout = ANSWER_WITHIN * 3;
    })
    .await;
    let exp = unix_now() + 2 - LEEWAY_SECONDS;
    let token = app.sign(&json!({ "sub": "alice", "role": "customer", "exp": exp }));
    let mut socket = Socket::signed_in(&app, Some(&token)).await;

    assert_eq!(socket.close_code().await, Some(4403));
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_keeps_its_socket_as_http_accepts_it() {
    let app = spawn_app().await;
    let token = app.sign(&json!({ "sub": "alice", "role": "customer", "exp": unix_now() - 30 }));
    assert!(app.me(&token).await.errors().is_empty());
    let mut socket = Socket::signed_in(&app, Some(&token)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    socket.subscribe("1", "{ me { id } }", json!({})).await;

    assert_eq!(socket.next_payload("1").await["data"]["me"]["id"], "alice");
}

#[tokio::test]
async fn a_socket_without_connection_init_closes_with_4408() {
    let app = spawn_app_with(|config| {
        config.http.socket_limits.init_timeout = Duration::from_millis(200);
    })
    .await;
    let mut socket = Socket::open_with(&app, "graphql-transport-ws", &[]).await;

    assert_eq!(socket.close_code().await, Some(4408));
}

#[tokio::test]
async fn a_user_past_their_sockets_is_closed_with_4429() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_sockets_per_user = 1).await;
    let alice = app.customer("alice");
    let _first = Socket::signed_in(&app, Some(&alice.token)).await;
    let mut second = Socket::open_with(&app, "graphql-transport-ws", &[]).await;

    second.init(Some(&alice.token)).await;

    assert_eq!(second.close_code().await, Some(4429));
}

#[tokio::test]
async fn a_page_not_in_the_cors_origins_may_not_open_a_socket() {
    let app = spawn_app_with(|config| {
        config.http.cors_origins =
            vec![supportdesk::config::CorsOrigin::parse("https://app.example").expect("origin")];
    })
    .await;

    let refused = Socket::try_open(
        &app,
        "graphql-transport-ws",
        &[("origin", "https://evil.example")],
    )
    .await;
    let allowed = Socket::try_open(
        &app,
        "graphql-transport-ws",
        &[("origin", "https://app.example")],
    )
    .await;

    assert!(refused.is_err());
    assert!(allowed.is_ok());
}

#[tokio::test]
async fn a_query_past_the_limits_is_refused_over_the_socket() {
    let app = spawn_app().await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("alice").token)).await;
    let aliases: String = (0..500).map(|n| format!("a{n}: me {{ id }} ")).collect();

    socket
        .subscribe("1", &format!("query Q {{ {aliases} }}"), json!({}))
        .await;

    assert_eq!(refusal_code(&mut socket).await, "QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn hidden_nesting_is_refused_over_the_socket_and_the_server_stays_up() {
    let app = spawn_app().await;
    let mut socket = Socket::signed_in(&app, None).await;
    let document = format!(
        r#"{{ me(a: """x\\""" """, b: {}1{}) {{ id }} }}"#,
        "[".repeat(3_000),
        "]".repeat(3_000)
    );

    socket.subscribe("1", &document, json!({})).await;

    assert_eq!(refusal_code(&mut socket).await, "QUERY_TOO_COMPLEX");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

on_both_stores! {
async fn mutations_over_the_socket_count_against_the_rate_limit(store: BucketStore) {
    let app = spawn_app_with(store.limit(2, 0.1)).await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("alice").token)).await;
    let create = "createTicket(input: { subject: \"s\", message: \"m\" }) { id }";

    socket
        .subscribe(
            "1",
            &format!("mutation {{ a: {create} b: {create} c: {create} }}"),
            json!({}),
        )
        .await;

    assert_eq!(refusal_code(&mut socket).await, "RATE_LIMITED");
    assert_eq!(app.ticket_total().await, 0);
}
}

#[tokio::test]
async fn a_message_past_the_size_limit_closes_the_socket() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_message_bytes = 1024).await;
    let mut socket = Socket::signed_in(&app, None).await;

    socket
        .subscribe(
            "1",
            &format!("{{ me {{ id }} }} # {}", "x".repeat(2048)),
            json!({}),
        )
        .await;

    assert_eq!(socket.close_code().await, Some(1009));
}

#[tokio::test]
async fn an_unselected_operation_is_never_walked_over_the_socket() {
    let app = spawn_app().await;
    let mut socket = Socket::signed_in(&app, None).await;
    let mut document = String::from("query Ok { __typename } query Bomb { ...F0 } ");
    for level in 0..6 {
        let spreads = format!("...F{} ", level + 1).repeat(40);
        document.push_str(&format!("fragment F{level} on Query {{ {spreads} }} "));
    }
    document.push_str("fragment F6 on Query { __typename }");

    socket
        .send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": document, "operationName": "Ok" },
        }))
        .await;

    assert_eq!(
        socket.next_payload("1").await,
        json!({ "data": { "__typename": "Query" } })
    );
}

#[tokio::test]
async fn a_named_mutation_is_measured_over_the_socket() {
    let app = spawn_app().await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("mallory").token)).await;
    let fields: String = (0..200)
        .map(|n| {
            format!("a{n}: createTicket(input: {{ subject: \"s\", message: \"m\" }}) {{ id }} ")
        })
        .collect();

    socket
        .subscribe("1", &format!("mutation M {{ {fields} }}"), json!({}))
        .await;

    assert_eq!(refusal_code(&mut socket).await, "QUERY_TOO_COMPLEX");
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn the_server_pings_a_quiet_socket() {
    let app = spawn_app_with(|config| {
        config.http.socket_limits.keepalive_interval = Duration::from_millis(100);
    })
    .await;
    let mut socket = Socket::signed_in(&app, None).await;

    let ping = tokio::time::timeout(ANSWER_WITHIN, socket.0.next()).await;

    assert!(matches!(ping, Ok(Some(Ok(Message::Ping(_))))), "{ping:?}");
}

#[tokio::test]
async fn open_sockets_count_against_the_connection_cap() {
    let app = spawn_app_with(|config| {
        config.http.connection_limits.max_connections = 2;
        config.http.connection_limits.header_read_timeout = Duration::from_millis(200);
    })
    .await;
    // The readiness check's keep-alive connection closes once idle past the timeout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _first = Socket::signed_in(&app, None).await;
    let _second = Socket::signed_in(&app, None).await;

    let third = Socket::try_open(&app, "graphql-transport-ws", &[]).await;

    assert!(third.is_err(), "a third connection was served");
}

#[tokio::test]
async fn introspection_turned_off_is_refused_over_the_socket_too() {
    let app = spawn_app_with(|config| config.http.introspection = false).await;
    let mut socket = Socket::signed_in(&app, None).await;

    socket
        .subscribe(
            "1",
            "{ ...F } fragment F on Query { __schema { queryType { name } } }",
            json!({}),
        )
        .await;

    assert_eq!(refusal_code(&mut socket).await, "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn the_cost_of_a_page_is_counted_over_the_socket_too() {
    let app = spawn_app_with(|config| config.http.query_limits.max_cost = 500).await;
    let mut socket = Socket::signed_in(&app, Some(&app.admin("root").token)).await;

    socket
        .subscribe(
            "1",
            "query($limit: Int!) { tickets(limit: $limit) { items { messages { body } } } }",
            json!({ "limit": 100 }),
        )
        .await;

    assert_eq!(refusal_code(&mut socket).await, "QUERY_TOO_COMPLEX");
}
