//! Point 3 of the live-hardening issue, measured: while one user floods the server with
//! subscriptions that replay a long ticket's timeline and re-read its history for every
//! event (and writes to it once a second), another user's small query is timed.
//!
//! Used by `bench/live_flood.sh`; settings from the environment: SERVER (address),
//! SERVER_PID, VICTIM_TOKEN, ATTACKER_TOKEN, TICKET (the attacker's long ticket),
//! FIRST_EVENT (its first event), SOCKETS (50), PER_SOCKET (20), SAMPLES (200),
//! WRITES (10, one a second).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use supportdesk_bench::{number, setting, status_mib, subscribed_socket};
use tokio_tungstenite::tungstenite::Message;

/// The selection of the issue's first scenario: every event re-reads the timeline, and
/// every event of it the ticket's whole history.
const FLOOD: &str = "subscription($id: ID!, $after: ID) {
    ticketEvents(ticketId: $id, after: $after) {
        ticket { events(limit: 100) { ticket { messages { id } } } }
    }
}";

/// A server that cannot answer keeps the run bounded all the same.
const SAMPLING_AT_MOST: Duration = Duration::from_secs(120);

const VICTIM_QUERY: &str = "{ tickets(limit: 1) { items { id } pagination { total } } }";

/// The process's user and system CPU time, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}

/// Times `samples` queries of the victim, one after another, or as many as fit in
/// [`SAMPLING_AT_MOST`].
async fn time_victim(client: &reqwest::Client, url: &str, token: &str, samples: usize) -> Sampled {
    let mut latencies = Vec::with_capacity(samples);
    let mut failed = 0;
    let started = Instant::now();
    for _ in 0..samples {
        if started.elapsed() > SAMPLING_AT_MOST {
            break;
        }
        let started = Instant::now();
        let response = client
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "query": VICTIM_QUERY }))
            .send()
            .await
            .expect("the server answers");
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if body.get("errors").is_some() || body.get("data").is_none() {
            failed += 1;
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    Sampled { latencies, failed }
}

/// The victim's latencies, sorted, and how many of its queries failed.
struct Sampled {
    latencies: Vec<Duration>,
    failed: usize,
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    // Indices of a few hundred samples: no precision is lost.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted
        .get(index)
        .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
}

fn summary(name: &str, sampled: &Sampled) -> String {
    let sorted = &sampled.latencies;
    format!(
        "{name}: {} samples ({} failed), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        sampled.failed,
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        percentile(sorted, 1.0)
    )
}

#[derive(Default)]
struct Received {
    events: AtomicU64,
    refusals: AtomicU64,
    bytes: AtomicU64,
}

#[tokio::main]
async fn main() {
    let server = setting("SERVER");
    let pid = setting("SERVER_PID");
    let victim = setting("VICTIM_TOKEN");
    let attacker = setting("ATTACKER_TOKEN");
    let ticket = setting("TICKET");
    let first_event = setting("FIRST_EVENT");
    let (sockets, per_socket) = (number("SOCKETS", 50), number("PER_SOCKET", 20));
    let samples = number("SAMPLES", 200);
    let writes = number("WRITES", 10);
    let url = format!("http://{server}/graphql");
    let client = reqwest::Client::new();

    let idle = time_victim(&client, &url, &victim, samples).await;
    println!("{}", summary("victim, idle", &idle));

    let cpu_before = cpu_seconds(&pid);
    let started = Instant::now();
    let received = Arc::new(Received::default());
    let socket_url = format!("ws://{server}/graphql");
    let payload = json!({ "query": FLOOD, "variables": { "id": ticket, "after": first_event } });
    for _ in 0..sockets {
        let mut socket = subscribed_socket(&socket_url, &attacker, per_socket, &payload).await;
        let received = Arc::clone(&received);
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                received
                    .bytes
                    .fetch_add(text.len() as u64, Ordering::Relaxed);
                if text.contains(r#""type":"next""#) {
                    received.events.fetch_add(1, Ordering::Relaxed);
                } else if text.contains(r#""type":"error""#) {
                    received.refusals.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let writer = tokio::spawn({
        let (client, url, ticket, attacker) = (
            client.clone(),
            url.clone(),
            ticket.clone(),
            attacker.clone(),
        );
        async move {
            for _ in 0..writes {
                let mutation = json!({
                    "query": "mutation($id: ID!) { addTicketMessage(ticketId: $id, body: \"more\") { id } }",
                    "variables": { "id": ticket },
                });
                let _ = client
                    .post(&url)
                    .bearer_auth(&attacker)
                    .json(&mutation)
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });

    let flooded = time_victim(&client, &url, &victim, samples).await;
    let _ = writer.await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&pid) - cpu_before;
    println!("{}", summary("victim, during the flood", &flooded));
    println!(
        "flood: {} subscriptions asked, {} refused, {} events delivered ({:.1} MB) in {elapsed:.1} s; server CPU {cpu:.1} s ({:.0} %), RSS {:.0} MiB (peak {:.0} MiB)",
        sockets * per_socket,
        received.refusals.load(Ordering::Relaxed),
        received.events.load(Ordering::Relaxed),
        // Megabytes of text, for a report.
        {
            #[allow(clippy::cast_precision_loss)]
            let megabytes = received.bytes.load(Ordering::Relaxed) as f64 / 1e6;
            megabytes
        },
        cpu / elapsed * 100.0,
        status_mib(&pid, "VmRSS:"),
        status_mib(&pid, "VmHWM:"),
    );
}
