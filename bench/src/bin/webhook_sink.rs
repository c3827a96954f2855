//! A webhook receiver for `bench/webhooks.sh`: answers every `POST /hooks` with 204 at
//! once and counts them; `GET /stats` tells how many came, how many distinct
//! `webhook-id`s, and when the first and the last came (milliseconds since the Unix
//! epoch).
//!
//! ```sh
//! webhook_sink 127.0.0.1:18190
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Serialize;

#[derive(Default, Serialize, Clone)]
struct Stats {
    requests: u64,
    distinct: usize,
    first_ms: u128,
    last_ms: u128,
}

#[derive(Default)]
struct Sink {
    stats: Stats,
    ids: HashSet<String>,
}

type Shared = Arc<Mutex<Sink>>;

async fn receive(State(sink): State<Shared>, headers: HeaderMap) -> StatusCode {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    let id = headers
        .get("webhook-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
    if sink.stats.requests == 0 {
        sink.stats.first_ms = now;
    }
    sink.stats.requests += 1;
    sink.stats.last_ms = now;
    sink.ids.insert(id);
    sink.stats.distinct = sink.ids.len();
    StatusCode::NO_CONTENT
}

async fn stats(State(sink): State<Shared>) -> Json<Stats> {
    Json(
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
            .clone(),
    )
}

#[tokio::main]
async fn main() {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18190".to_owned())
        .parse()
        .expect("an address: 127.0.0.1:18190");
    let router = Router::new()
        .route("/hooks", post(receive))
        .route("/stats", get(stats))
        .with_state(Shared::default());
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .expect("the address is free");
    axum::serve(listener, router).await.expect("serving");
}
