//! Accepting connections, with the ceilings `axum::serve` does not set: a cap on open
//! connections, and a time limit on reading a request's headers, which also closes a
//! keep-alive connection that sits idle.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// A connection's place among the open ones, in every request's extensions. A WebSocket
/// keeps it for as long as it is open, after its HTTP connection has handed it over, so
/// that sockets count against `MAX_CONNECTIONS` too.
#[derive(Clone)]
pub struct ConnectionSlot {
    /// Held, never read: the place is given back when the last holder drops it.
    _permit: Arc<OwnedSemaphorePermit>,
}

/// Resolves once the server is told to stop (or is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// A pause after a failed `accept` (out of file descriptors, say), so that the loop does
/// not spin while the condition lasts.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, asks
/// every connection to close once its request in flight is answered, and returns when
/// all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
        };
        // Past the cap a new connection is closed at once: cheaper for everyone than
        // letting it wait in the backlog for a slot.
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            crate::metrics::record_refusal("connections");
            tracing::warn!(
                limit = limits.max_connections,
                "connection refused: too many open"
            );
            continue;
        };
        let slot = ConnectionSlot {
            _permit: Arc::new(slot),
        };
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(slot.clone());
                // The TCP peer, from which the client's address is told (`client_address`).
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            let served = tokio::select! {
                served = &mut connection => served,
                () = stopped(&mut stopping) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it has closed, and every socket until it has.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}
