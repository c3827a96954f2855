//! The HTTP edge: routes, authentication and the GraphQL endpoint.

mod auth;
mod graphql;
mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::auth::JwtKeys;
use crate::db::SchemaState;
use crate::graphql::{AppSchema, schema_builder};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    schema: AppSchema,
    keys: Arc<JwtKeys>,
    db: DatabaseConnection,
    db_schema: SchemaState,
}

impl AppState {
    pub fn new(db: DatabaseConnection, db_schema: SchemaState, keys: JwtKeys) -> Self {
        Self {
            schema: schema_builder().data(db.clone()).finish(),
            keys: Arc::new(keys),
            db,
            db_schema,
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
