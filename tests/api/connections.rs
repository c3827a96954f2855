//! Ceilings on connections: slow clients, idle connections, too many of either.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, lock_ticket, spawn_app_with};

/// Far past every ceiling these tests set; only a server that never closes reaches it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp) -> TcpStream {
    connect_to(&app.address).await
}

async fn connect_to(address: &str) -> TcpStream {
    let address = address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connected")
}

/// Everything the server sends until it closes the connection; `None` when it keeps it
/// open past [`GIVE_UP_AFTER`].
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(GIVE_UP_AFTER, stream.read_to_end(&mut received)).await;
    match read {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&received).into_owned()),
        // A reset closes it too.
        Ok(Err(_)) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

fn header_timeout(timeout: Duration) -> impl FnOnce(&mut supportdesk::config::Config) {
    move |config| config.http.connection_limits.header_read_timeout = timeout
}

#[tokio::test]
async fn a_client_that_sends_half_its_headers_is_disconnected() {
    let app = spawn_app_with(header_timeout(Duration::from_millis(300))).await;
    let mut stream = connect(&app).await;

    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("sent");

    assert!(read_until_closed(&mut stream).await.is_some());
}

#[tokio::test]
async fn a_client_that_sends_half_its_headers_to_the_metrics_listener_is_disconnected() {
    let app = spawn_app_with(|config| {
        header_timeout(Duration::from_millis(300))(config);
        config.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
    })
    .await;
    let metrics = app.metrics_address.as_deref().expect("a metrics listener");
    let mut stream = connect_to(metrics).await;

    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("sent");

    assert!(read_until_closed(&mut stream).await.is_some());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app_with(header_timeout(Duration::from_millis(300))).await;
    let mut stream = connect(&app).await;

    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("sent");

    let received = read_until_closed(&mut stream).await.expect("closed");
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_gets_a_timeout_within_the_request_budget() {
    let app = spawn_app_with(|config| {
        config.http.request_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = connect(&app).await;

    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .expect("sent");

    let received = read_until_closed(&mut stream).await.expect("answered");
    assert!(received.starts_with("HTTP/1.1 503"), "{received}");
    assert!(received.contains("TIMEOUT"), "{received}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once() {
    let app = spawn_app_with(|config| {
        config.http.connection_limits.max_connections = 2;
    })
    .await;
    let _first = connect(&app).await;
    let _second = connect(&app).await;
    // Both are accepted (and hold their slots) before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;

    let received = read_until_closed(&mut third).await.expect("closed");
    assert_eq!(received, "");
}

#[tokio::test]
async fn requests_past_the_in_flight_cap_get_503_with_retry_after() {
    let app = spawn_app_with(|config| config.http.max_requests_in_flight = 1).await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Busy").await;
    let lock = lock_ticket(&app.database_url, &id).await;
    let stalled = {
        let (app, alice, id) = (&app, alice.clone(), id.clone());
        async move { app.add_message(&alice, &id, "Waiting", false).await }
    };
    let refused = async {
        // The stalled request takes the only slot first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let reply = app.me(&alice.token).await;
        lock.txn.rollback().await.expect("released");
        reply
    };

    let (stalled, refused) = tokio::join!(stalled, refused);

    assert_eq!(refused.status, 503, "{:#}", refused.body);
    assert_eq!(refused.headers["retry-after"], "1");
    assert_eq!(refused.error_code().as_deref(), Some("SERVICE_UNAVAILABLE"));
    stalled.expect_ok();
    app.me(&alice.token).await.expect_ok();
}
