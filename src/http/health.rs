use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// The longest a readiness probe waits for the database.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 while the process serves.
pub async fn live() -> StatusCode {
    StatusCode::OK
}

/// 200 only once the migrations have run and while the database answers, so a load
/// balancer routes around an instance that lost it (or never had it).
pub async fn ready(State(state): State<AppState>) -> StatusCode {
    if !state.db_schema.is_current() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}
