use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// The longest a readiness probe waits for the database.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 while the process serves, draining included: a liveness probe that failed then
/// would have the process killed before it has finished.
pub async fn live() -> StatusCode {
    StatusCode::OK
}

/// 200 only once the migrations have run and while the database answers, so a load
/// balancer routes around an instance that lost it (or never had it); and 503 from
/// SIGTERM on, so that it takes the instance out before it stops. The body says which,
/// for whoever reads the balancer's checks.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "draining: this instance is shutting down\n",
        );
    }
    if !state.db_schema.is_current() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database schema is not migrated yet\n",
        );
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database does not answer\n",
        ),
    }
}
