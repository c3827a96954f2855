//! The HTTP edge: routes, authentication and the GraphQL endpoint.

mod auth;
mod graphql;
mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::auth::Verifier;
use crate::graphql::{AppSchema, schema_builder};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    schema: AppSchema,
    verifier: Arc<Verifier>,
    db: DatabaseConnection,
}

impl AppState {
    pub fn new(db: DatabaseConnection, verifier: Verifier) -> Self {
        Self {
            schema: schema_builder().data(db.clone()).finish(),
            verifier: Arc::new(verifier),
            db,
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql::query_over_get).post(graphql::execute_post),
        )
        .route("/graphiql", get(graphql::graphiql))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .with_state(state)
}
