//! What the benchmark clients share: their settings from the environment, and what they
//! read of the server's process, and their sockets.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A required setting.
pub fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// A number setting, or `default`.
pub fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A field of `/proc/PID/status` given in kB (`VmRSS:`, `VmHWM:`), in MiB.
pub fn status_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A `graphql-transport-ws` socket at `url` signed in with `token`, acknowledged, running
/// `count` subscriptions of `payload` (ids `0`, `1`, …).
pub async fn subscribed_socket(
    url: &str,
    token: &str,
    count: usize,
    payload: &serde_json::Value,
) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
    let mut request = url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket
        .send(Message::text(init.to_string()))
        .await
        .expect("sent");
    let _ack = socket.next().await;
    for id in 0..count {
        let subscribe = json!({ "id": id.to_string(), "type": "subscribe", "payload": payload });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("sent");
    }
    socket
}
