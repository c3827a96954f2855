use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
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
    execute(&state, request.into_inner(), viewer).await
}

/// GraphQL over GET is for queries only, so that a cross-site link can change nothing.
pub async fn query_over_get(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    request: GraphQLRequest,
) -> Response {
    let request = request.into_inner();
    if selects_mutation(&request) {
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

/// Whether the operation the request would run is a mutation. A document that does not
/// parse is left to the executor, which reports the syntax error.
fn selects_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => request
            .operation_name
            .as_deref()
            .and_then(|name| operations.get(name)),
    };
    operation.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}
