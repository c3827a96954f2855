//! Delivery of live events across two instances: `SUBSCRIPTIONS` subscriptions to the
//! admin feed open on instance B, while a writer adds `EVENTS` messages through instance
//! A, one at a time. For every delivery it records the time from the writer's request
//! (which includes its commit) to the subscriber's receipt, and prints the median and
//! p99, with instance B's resident memory before and after the subscriptions opened.
//!
//! Used by `bench/delivery.sh`; settings from the environment: WRITER (A's address),
//! READER (B's address), READER_PID, ADMIN_TOKENS (a file of admin tokens, one a line),
//! WRITER_TOKEN (an admin's), TICKET (a ticket id), SUBSCRIPTIONS (1000), EVENTS (100).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use supportdesk_bench::{number, setting, status_mib, subscribed_socket};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

/// Subscriptions per socket: the server's default ceiling.
const PER_SOCKET: usize = 20;

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() {
    let reader = setting("READER");
    let writer = setting("WRITER");
    let reader_pid = setting("READER_PID");
    let ticket = setting("TICKET");
    let writer_token = setting("WRITER_TOKEN");
    let admin_tokens: Vec<String> = std::fs::read_to_string(setting("ADMIN_TOKENS"))
        .expect("the tokens file")
        .lines()
        .map(str::to_owned)
        .collect();
    let subscriptions = number("SUBSCRIPTIONS", 1000);
    let events = number("EVENTS", 100);

    let before = status_mib(&reader_pid, "VmRSS:");
    let (latencies, mut ready) = (
        Arc::new(Mutex::new(Vec::<Duration>::new())),
        tokio::sync::mpsc::channel::<()>(1024),
    );
    let sent: Sent = Arc::default();
    let sockets = subscriptions.div_ceil(PER_SOCKET);
    for socket in 0..sockets {
        let token = admin_tokens[socket % admin_tokens.len()].clone();
        let count = PER_SOCKET.min(subscriptions - socket * PER_SOCKET);
        let (latencies, sent, ready) = (Arc::clone(&latencies), Arc::clone(&sent), ready.0.clone());
        let url = format!("ws://{reader}/graphql");
        tokio::spawn(async move {
            subscriber(url, token, count, latencies, sent, ready).await;
        });
    }
    drop(ready.0);
    for _ in 0..sockets {
        ready.1.recv().await.expect("a socket is ready");
    }
    // Every subscription has read where it starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = status_mib(&reader_pid, "VmRSS:");

    let client = reqwest_like::Client::new(&writer, &writer_token);
    for n in 0..events {
        let body = format!("delivery {n}");
        sent.lock().await.insert(body.clone(), Instant::now());
        client.add_message(&ticket, &body).await;
        // About as fast as a busy help desk writes, so each delivery is measured alone.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected = events * subscriptions;
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().await.len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = latencies.lock().await.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies
            .get(index)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "RESULT subscriptions={subscriptions} events={events} delivered={} expected={expected} \
         median_ms={:.2} p99_ms={:.2} max_ms={:.2} rss_before_mib={before:.1} \
         rss_after_mib={after:.1} kib_per_subscription={:.1}",
        latencies.len(),
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
        (after - before) * 1024.0 / subscriptions as f64,
    );
}

/// One socket with `count` subscriptions to the admin feed; records each delivery.
async fn subscriber(
    url: String,
    token: String,
    count: usize,
    latencies: Arc<Mutex<Vec<Duration>>>,
    sent: Sent,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let payload = json!({ "query": "subscription { ticketFeed { id message { body } } }" });
    let mut socket = subscribed_socket(&url, &token, count, &payload).await;
    let _ = ready.send(()).await;
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let received = Instant::now();
        let Ok(parsed) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let body = &parsed["payload"]["data"]["ticketFeed"]["message"]["body"];
        if let Some(body) = body.as_str()
            && let Some(started) = sent.lock().await.get(body).copied()
        {
            latencies.lock().await.push(received - started);
        }
    }
}

/// The writer: one `addTicketMessage` at a time over plain HTTP/1.1.
mod reqwest_like {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub struct Client {
        address: String,
        token: String,
    }

    impl Client {
        pub fn new(address: &str, token: &str) -> Self {
            Self {
                address: address.to_owned(),
                token: token.to_owned(),
            }
        }

        pub async fn add_message(&self, ticket: &str, body: &str) {
            let query = serde_json::json!({
                "query": "mutation($t: ID!, $b: String!) { addTicketMessage(ticketId: $t, body: $b) { id } }",
                "variables": { "t": ticket, "b": body },
            })
            .to_string();
            let request = format!(
                "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Authorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{query}",
                self.address,
                self.token,
                query.len()
            );
            let mut stream = TcpStream::connect(&self.address).await.expect("connected");
            stream.write_all(request.as_bytes()).await.expect("sent");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.expect("answered");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(!answer.contains("\"errors\""), "{answer}");
        }
    }
}
