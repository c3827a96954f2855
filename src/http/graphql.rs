use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::ALLOW;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::MaybeViewer;

pub async fn execute_post(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    crate::graphql::request::prepare(&mut request);
    execute(&state, request, viewer).await
}

/// GraphQL over GET is for queries only, so that a cross-site link can change nothing.
pub async fn query_over_get(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    request: GraphQLRequest,
) -> Response {
    let mut request = request.into_inner();
    if crate::graphql::request::prepare(&mut request) == Some(OperationType::Mutation) {
        let body = serde_json::json!({
            "errors": [{ "message": "Mutations must be sent with POST" }]
        });
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(ALLOW, "POST")],
            Json(body),
        )
            .into_response();
    }
    execute(&state, request, viewer).await.into_response()
}

pub async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

async fn execute(
    state: &AppState,
    request: async_graphql::Request,
    viewer: Option<crate::auth::Viewer>,
) -> GraphQLResponse {
    let request = match viewer {
        Some(viewer) => request.data(viewer),
        None => request,
    };
    state.schema.execute(request).await.into()
}
