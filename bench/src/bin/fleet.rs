//! The clients of the fleet benchmark (`bench/fleet.sh`), one subcommand each:
//!
//! - `load`: CONNECTIONS workers send a read/write mix through the balancer (three list
//!   reads, then one `createTicket` carrying an `Idempotency-Key`) until STOP_FILE exists;
//!   prints a summary line and writes the keys of every write meant (`intended.txt`) and
//!   of those that failed (`failed.txt`) into OUT_DIR;
//! - `retry`: sends each failed write of OUT_DIR again, with its key and byte for byte its
//!   body, until it is answered;
//! - `subscribe`: SUBSCRIBERS admin feeds through the balancer, from after the event AFTER,
//!   each reconnecting with `after` its last event whenever its socket closes, until
//!   STOP_FILE exists; writes the ids each received into OUT_DIR/subscriber-N.txt;
//! - `check`: compares each subscriber's ids with EXPECTED (one id a line);
//! - `burst`: REQUESTS mutations of one user sent at once, spread over URLS; prints how
//!   many were accepted and how long the burst took.
//!
//! Each prints one line `RESULT key=value …` the script reads. Settings come from the
//! environment: URL, WS_URL, READ_TOKEN, WRITE_TOKEN, TOKEN, CONNECTIONS (16),
//! SUBSCRIBERS (20), AFTER, STOP_FILE, OUT_DIR, EXPECTED, URLS, REQUESTS (200).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use supportdesk_bench::{number, setting};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const READ: &str = "{ tickets(limit: 10) { items { id subject status } pagination { total } } }";
const CREATE: &str =
    "mutation Open($input: CreateTicketInput!) { createTicket(input: $input) { id } }";
const FEED: &str = "subscription Feed($after: ID) { ticketFeed(after: $after) { id } }";

#[tokio::main]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("load") => load().await,
        Some("retry") => retry().await,
        Some("subscribe") => subscribe().await,
        Some("check") => check(),
        Some("burst") => burst().await,
        _ => panic!("usage: fleet load|retry|subscribe|check|burst"),
    }
}

/// The body of the write with `key`: the same bytes every time it is sent.
fn write_body(key: &str) -> String {
    json!({
        "query": CREATE,
        "variables": { "input": { "subject": format!("fleet {key}"), "message": "Sent by bench/fleet.sh." } }
    })
    .to_string()
}

/// What one request came to.
enum Outcome {
    Answered,
    Replayed,
    Failed(String),
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: String,
    key: Option<&str>,
) -> Outcome {
    let mut request = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Outcome::Failed(format!("transport: {error}")),
    };
    let status = response.status();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let answer: Value = match response.json().await {
        Ok(answer) => answer,
        Err(error) => return Outcome::Failed(format!("{status}: unreadable body: {error}")),
    };
    if !status.is_success() || answer.get("errors").is_some() {
        let code = answer["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("none");
        return Outcome::Failed(format!("{status}: {code}"));
    }
    if replayed {
        Outcome::Replayed
    } else {
        Outcome::Answered
    }
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(setting("OUT_DIR"));
    std::fs::create_dir_all(&dir).expect("OUT_DIR can be made");
    dir
}

fn stopped(stop_file: &Path) -> bool {
    stop_file.exists()
}

#[derive(Default)]
struct LoadTally {
    requests: usize,
    failed: HashMap<String, usize>,
    intended: Vec<String>,
    failed_writes: Vec<String>,
}

async fn load() {
    let url = setting("URL");
    let (read_token, write_token) = (setting("READ_TOKEN"), setting("WRITE_TOKEN"));
    let stop_file = PathBuf::from(setting("STOP_FILE"));
    let tally = Arc::new(Mutex::new(LoadTally::default()));
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..number("CONNECTIONS", 16))
        .map(|_| {
            let (client, url, tally, stop_file) = (
                client.clone(),
                url.clone(),
                Arc::clone(&tally),
                stop_file.clone(),
            );
            let (read_token, write_token) = (read_token.clone(), write_token.clone());
            tokio::spawn(async move {
                let mut turn = 0usize;
                while !stopped(&stop_file) {
                    turn += 1;
                    let (outcome, key) = if turn.is_multiple_of(4) {
                        let key = uuid::Uuid::now_v7().to_string();
                        tally.lock().await.intended.push(key.clone());
                        (
                            post(&client, &url, &write_token, write_body(&key), Some(&key)).await,
                            Some(key),
                        )
                    } else {
                        let body = json!({ "query": READ }).to_string();
                        (post(&client, &url, &read_token, body, None).await, None)
                    };
                    let mut tally = tally.lock().await;
                    tally.requests += 1;
                    if let Outcome::Failed(reason) = outcome {
                        *tally.failed.entry(reason).or_default() += 1;
                        tally.failed_writes.extend(key);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker ends");
    }
    let tally = tally.lock().await;
    let dir = out_dir();
    write_lines(&dir.join("intended.txt"), &tally.intended);
    write_lines(&dir.join("failed.txt"), &tally.failed_writes);
    let failed: usize = tally.failed.values().sum();
    println!(
        "RESULT requests={} failed={} writes={} failed_writes={} reasons={:?}",
        tally.requests,
        failed,
        tally.intended.len(),
        tally.failed_writes.len(),
        tally.failed
    );
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("the file is written");
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn retry() {
    let (url, token) = (setting("URL"), setting("WRITE_TOKEN"));
    let client = reqwest::Client::new();
    let failed = read_lines(&out_dir().join("failed.txt"));
    let retries: Vec<_> = failed
        .iter()
        .map(|key| {
            let (client, url, token, key) =
                (client.clone(), url.clone(), token.clone(), key.clone());
            tokio::spawn(async move { retry_until_answered(&client, &url, &token, &key).await })
        })
        .collect();
    let (mut ran, mut replayed, mut given_up) = (0, 0, 0);
    for retry in retries {
        match retry.await.expect("a retry ends") {
            Outcome::Answered => ran += 1,
            Outcome::Replayed => replayed += 1,
            Outcome::Failed(_) => given_up += 1,
        }
    }
    println!(
        "RESULT retried={} ran={ran} replayed={replayed} given_up={given_up}",
        failed.len()
    );
}

/// Sends the write of `key` until it is answered. A first attempt cut off mid-run holds
/// its key until it counts as abandoned (REQUEST_TIMEOUT_SECONDS + 30 s: 409 until then),
/// so this tries for a minute.
async fn retry_until_answered(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
) -> Outcome {
    let mut outcome = Outcome::Failed("never sent".into());
    for _ in 0..240 {
        outcome = post(client, url, token, write_body(key), Some(key)).await;
        if !matches!(outcome, Outcome::Failed(_)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    outcome
}

async fn subscribe() {
    let ws_url = setting("WS_URL");
    let token = setting("TOKEN");
    // Empty: from the first event on.
    let after = Some(setting("AFTER")).filter(|after| !after.is_empty());
    let stop_file = PathBuf::from(setting("STOP_FILE"));
    let dir = out_dir();
    let reconnects = Arc::new(AtomicUsize::new(0));
    let subscribers: Vec<_> = (0..number("SUBSCRIBERS", 20))
        .map(|index| {
            let (ws_url, token, after, stop_file) = (
                ws_url.clone(),
                token.clone(),
                after.clone(),
                stop_file.clone(),
            );
            let (dir, reconnects) = (dir.clone(), Arc::clone(&reconnects));
            tokio::spawn(async move {
                let received = follow(&ws_url, &token, after, &stop_file, &reconnects).await;
                write_lines(&dir.join(format!("subscriber-{index}.txt")), &received);
            })
        })
        .collect();
    let count = subscribers.len();
    for subscriber in subscribers {
        subscriber.await.expect("a subscriber ends");
    }
    println!(
        "RESULT subscribers={count} reconnects={}",
        reconnects.load(Ordering::Relaxed)
    );
}

/// The ids of the feed's events after `after`, over as many sockets as it takes.
async fn follow(
    ws_url: &str,
    token: &str,
    mut after: Option<String>,
    stop_file: &Path,
    reconnects: &AtomicUsize,
) -> Vec<String> {
    let mut received = Vec::new();
    let mut first = true;
    while !stopped(stop_file) {
        if !first {
            reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        first = false;
        let mut request = ws_url.into_client_request().expect("a request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("a header"),
        );
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            continue;
        };
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        let subscribe = json!({ "id": "feed", "type": "subscribe", "payload": { "query": FEED, "variables": { "after": after } } });
        if socket.send(Message::text(init.to_string())).await.is_err()
            || socket
                .send(Message::text(subscribe.to_string()))
                .await
                .is_err()
        {
            continue;
        }
        loop {
            let next = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
            let message = match next {
                Err(_) if stopped(stop_file) => return received,
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                // Closed (1001 on a drain), refused or broken: reconnect after the last id.
                Ok(_) => break,
            };
            let Ok(message) = serde_json::from_str::<Value>(&message) else {
                break;
            };
            match message["type"].as_str() {
                Some("next") => {
                    if let Some(id) = message["payload"]["data"]["ticketFeed"]["id"].as_str() {
                        after = Some(id.to_owned());
                        received.push(id.to_owned());
                    }
                }
                Some("connection_ack" | "ping" | "pong") => {}
                _ => break,
            }
        }
    }
    received
}

fn check() {
    let expected = read_lines(Path::new(&setting("EXPECTED")));
    let wanted: std::collections::HashSet<&String> = expected.iter().collect();
    let dir = PathBuf::from(setting("OUT_DIR"));
    let (mut subscribers, mut missing, mut duplicates, mut foreign) = (0, 0, 0, 0);
    for index in 0.. {
        let path = dir.join(format!("subscriber-{index}.txt"));
        if !path.exists() {
            break;
        }
        subscribers += 1;
        let received = read_lines(&path);
        let mut seen = std::collections::HashSet::new();
        for id in &received {
            if !seen.insert(id) {
                duplicates += 1;
            } else if !wanted.contains(id) {
                foreign += 1;
            }
        }
        missing += wanted.iter().filter(|id| !seen.contains(**id)).count();
    }
    println!(
        "RESULT subscribers={subscribers} expected={} missing={missing} duplicates={duplicates} unexpected={foreign}",
        expected.len()
    );
}

async fn burst() {
    let urls: Vec<String> = setting("URLS").split(',').map(str::to_owned).collect();
    let token = setting("TOKEN");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let sends: Vec<_> = (0..number("REQUESTS", 200))
        .map(|n| {
            let (client, url, token) =
                (client.clone(), urls[n % urls.len()].clone(), token.clone());
            tokio::spawn(async move {
                let key = uuid::Uuid::now_v7().to_string();
                post(&client, &url, &token, write_body(&key), None).await
            })
        })
        .collect();
    let (mut accepted, mut limited, mut other) = (0, 0, 0);
    for send in sends {
        match send.await.expect("a send ends") {
            Outcome::Answered | Outcome::Replayed => accepted += 1,
            Outcome::Failed(reason) if reason.ends_with("RATE_LIMITED") => limited += 1,
            Outcome::Failed(_) => other += 1,
        }
    }
    println!(
        "RESULT accepted={accepted} rate_limited={limited} other_failures={other} seconds={:.3}",
        started.elapsed().as_secs_f64()
    );
}
