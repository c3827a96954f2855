//! A webhook receiver the tests run: a real HTTP server on 127.0.0.1 that keeps every
//! request it gets and answers as the test tells it; and the Standard Webhooks check a
//! receiver makes, written here from the specification's text (not the server's code).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

/// How a receiver answers.
#[derive(Clone)]
pub enum Behaviour {
    /// 204 at once.
    Accept,
    /// 500 for the first `n` requests, then 204.
    FailFirst(usize),
    /// This status, always.
    Status(u16),
    /// Never answers: the request stays open until the client gives up.
    Hang,
    /// 200, then a body that never ends.
    EndlessBody,
    /// 302 to `location`.
    RedirectTo(String),
    /// Answers 204 once the test lets it ([`Receiver::release`]), one request per permit.
    Held,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    release: Semaphore,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// A receiver on a port of its own.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        Self::serve(listener, behaviour)
    }

    /// A receiver on `address`, where a webhook already points.
    pub async fn start_at(address: SocketAddr, behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("the receiver's port is free again");
        Self::serve(listener, behaviour)
    }

    fn serve(listener: tokio::net::TcpListener, behaviour: Behaviour) -> Self {
        let address = listener.local_addr().expect("bound");
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            release: Semaphore::new(0),
        });
        let router = Router::new()
            .route("/hooks", post(receive))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url: format!("http://{address}/hooks"),
            shared,
            server,
        }
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// Lets `requests` held requests be answered.
    pub fn release(&self, requests: usize) {
        self.shared.release.add_permits(requests);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What had arrived once `done` held of it; panics after `limit`.
    pub async fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.received();
            if done(&received) {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{what}: not within {limit:?}; {} requests arrived",
                received.len()
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }

    /// Waits until `count` requests arrived in all.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        self.wait_until(limit, &format!("{count} requests"), |received| {
            received.len() >= count
        })
        .await
    }
}

/// The distinct `webhook-id`s of `received`.
pub fn ids_of(received: &[Received]) -> std::collections::BTreeSet<String> {
    received
        .iter()
        .map(|delivery| delivery.id.clone())
        .collect()
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let count = {
        let mut received = shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        received.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        received.len()
    };
    shared.arrived.notify_waiters();
    let behaviour = shared
        .behaviour
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match behaviour {
        Behaviour::Accept => StatusCode::NO_CONTENT.into_response(),
        Behaviour::FailFirst(failures) if count <= failures => {
            (StatusCode::INTERNAL_SERVER_ERROR, "not yet").into_response()
        }
        Behaviour::FailFirst(_) => StatusCode::NO_CONTENT.into_response(),
        Behaviour::Status(status) => {
            let status = StatusCode::from_u16(status).expect("a status");
            (status, "as told").into_response()
        }
        Behaviour::Hang => std::future::pending().await,
        Behaviour::EndlessBody => {
            let chunks = futures_util::stream::repeat_with(|| {
                Ok::<_, Infallible>(Bytes::from_static(&[b'x'; 16 * 1024]))
            });
            (StatusCode::OK, Body::from_stream(chunks)).into_response()
        }
        Behaviour::RedirectTo(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Behaviour::Held => {
            let permit = shared.release.acquire().await.expect("open");
            permit.forget();
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

/// How far a `webhook-timestamp` may be from now, as the specification's libraries allow.
const TOLERANCE_SECONDS: i64 = 5 * 60;

/// The receiver's check, from the Standard Webhooks specification: the key is the base64
/// after `whsec_`; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`; each
/// space-separated `v1,<base64>` of `webhook-signature` is an HMAC-SHA256 of it; the
/// delivery is genuine when one of them is (compared in constant time), and fresh when
/// its timestamp is within five minutes of now.
pub fn verify(secret: &str, received: &Received) -> Result<(), String> {
    verify_parts(
        secret,
        &received.id,
        &received.timestamp,
        &received.body,
        &received.signature,
    )
}

pub fn verify_parts(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &str,
    signature_header: &str,
) -> Result<(), String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("no whsec_ prefix")?)
        .map_err(|error| error.to_string())?;
    let sent_at: i64 = timestamp.parse().map_err(|_| "no timestamp")?;
    let now = i64::try_from(super::unix_now()).expect("a time");
    if (now - sent_at).abs() > TOLERANCE_SECONDS {
        return Err(format!(
            "timestamp {sent_at} is not within 5 minutes of {now}"
        ));
    }
    let signed = format!("{id}.{timestamp}.{body}");
    let genuine = signature_header.split(' ').any(|signature| {
        let Some(("v1", encoded)) = signature.split_once(',') else {
            return false;
        };
        let Ok(mac) = STANDARD.decode(encoded) else {
            return false;
        };
        let mut expected = Hmac::<Sha256>::new_from_slice(&key).expect("any key");
        expected.update(signed.as_bytes());
        expected.verify_slice(&mac).is_ok()
    });
    if genuine {
        Ok(())
    } else {
        Err(format!("no signature of {signature_header:?} is valid"))
    }
}

/// A port nothing listens on now, to point a webhook at a receiver that is down.
pub fn vacant_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}
