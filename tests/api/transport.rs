//! GraphQL over HTTP: media types, status codes and refusals at the transport.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const JSON: (&str, &str) = ("content-type", "application/json");
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn me_body() -> String {
    json!({ "query": "{ me { id } }" }).to_string()
}

/// POSTs `query` asking for `application/graphql-response+json`.
async fn post_for_graphql_response(app: &TestApp, query: &str) -> crate::helpers::Reply {
    app.post_raw(
        &[JSON, ("accept", GRAPHQL_RESPONSE)],
        json!({ "query": query }).to_string(),
    )
    .await
}

fn content_type(reply: &crate::helpers::Reply) -> &str {
    reply.headers["content-type"].to_str().expect("ascii")
}

#[tokio::test]
async fn without_accept_the_response_is_application_json() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[JSON], me_body()).await;

    assert_eq!(reply.status, 200);
    assert!(content_type(&reply).starts_with("application/json"));
}

#[tokio::test]
async fn accepting_anything_gets_application_json() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[JSON, ("accept", "*/*")], me_body()).await;

    assert!(content_type(&reply).starts_with("application/json"));
}

#[tokio::test]
async fn accepting_graphql_response_json_gets_it() {
    let app = spawn_app().await;

    let reply = app
        .post_raw(
            &[
                JSON,
                (
                    "accept",
                    "application/graphql-response+json, application/json;q=0.9",
                ),
            ],
            me_body(),
        )
        .await;

    assert_eq!(reply.status, 200);
    assert!(content_type(&reply).starts_with(GRAPHQL_RESPONSE));
}

#[tokio::test]
async fn accepting_neither_json_type_is_not_acceptable() {
    let app = spawn_app().await;

    let reply = app
        .post_raw(&[JSON, ("accept", "text/html")], me_body())
        .await;

    assert_eq!(reply.status, 406);
}

#[tokio::test]
async fn a_document_that_does_not_parse_is_a_400_without_data_for_graphql_response_json() {
    let app = spawn_app().await;

    let reply = post_for_graphql_response(&app, "{ me { id ").await;

    assert_eq!(reply.status, 400);
    assert!(reply.body.get("data").is_none(), "{:#}", reply.body);
    assert_eq!(reply.error_code().as_deref(), Some("GRAPHQL_PARSE_FAILED"));
}

#[tokio::test]
async fn a_document_that_does_not_validate_is_a_400_without_data_for_graphql_response_json() {
    let app = spawn_app().await;

    let reply = post_for_graphql_response(&app, "{ noSuchField }").await;

    assert_eq!(reply.status, 400);
    assert!(reply.body.get("data").is_none());
    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
}

#[tokio::test]
async fn a_document_that_does_not_validate_is_a_200_for_application_json() {
    let app = spawn_app().await;

    let reply = app
        .post_raw(&[JSON], json!({ "query": "{ noSuchField }" }).to_string())
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
}

#[tokio::test]
async fn a_post_without_content_type_is_refused() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[], me_body()).await;

    assert!(reply.status.is_client_error(), "{}", reply.status);
}

#[tokio::test]
async fn a_post_of_another_content_type_is_unsupported() {
    let app = spawn_app().await;

    let reply = app
        .post_raw(
            &[
                ("content-type", "application/xml"),
                ("apollo-require-preflight", "true"),
            ],
            me_body(),
        )
        .await;

    assert_eq!(reply.status, 415);
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[JSON], r#"{"query": "{ me { id } }""#).await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code().as_deref(), Some("BAD_REQUEST"));
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[JSON], vec![b'{', 0xff, 0xfe, b'}']).await;

    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn simple_content_types_without_a_preflight_header_are_refused_as_csrf() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let authorization = format!("Bearer {}", alice.token);
    let mutation = json!({
        "query": r#"mutation { createTicket(input: { subject: "csrf", message: "m" }) { id } }"#
    })
    .to_string();

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let reply = app
            .post_raw(
                &[
                    ("content-type", content_type),
                    ("authorization", &authorization),
                ],
                mutation.clone(),
            )
            .await;
        assert_eq!(reply.status, 400, "{content_type}");
        assert!(
            reply
                .error_message()
                .unwrap_or_default()
                .contains("cross-site request forgery")
        );
    }
    assert_eq!(app.ticket_total().await, 0);
}

/// A valid request padded to more than `bytes`.
fn padded_body(bytes: usize) -> String {
    let padding = "x".repeat(bytes);
    json!({ "query": "{ me { id } }", "extensions": { "pad": padding } }).to_string()
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = spawn_app_with(|config| config.http.max_body_bytes = 1024).await;

    let reply = app.post_raw(&[JSON], padded_body(2048)).await;

    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn a_body_of_one_mebibyte_is_refused_by_default() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[JSON], padded_body(1024 * 1024)).await;

    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_refused_without_a_length() {
    let app = spawn_app_with(|config| config.http.max_body_bytes = 1024).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b' '; 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

    let reply = app.post_raw(&[JSON], body).await;

    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn a_batch_runs_each_operation() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let authorization = format!("Bearer {}", alice.token);

    let reply = app
        .post_raw(
            &[JSON, ("authorization", &authorization)],
            json!([{ "query": "{ me { id } }" }, { "query": "{ __typename }" }]).to_string(),
        )
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body[0]["data"]["me"]["id"], "alice");
    assert_eq!(reply.body[1]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn variables_of_the_wrong_type_are_bad_user_input() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($page: Int!) { tickets(page: $page) { items { id } } }",
            json!({ "page": "one" }),
        )
        .await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("BAD_USER_INPUT"),
        "{:#}",
        reply.body
    );
}

#[tokio::test]
async fn an_unknown_enum_value_is_bad_user_input() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($status: TicketStatus) { tickets(status: $status) { items { id } } }",
            json!({ "status": "ON_FIRE" }),
        )
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn an_integer_past_32_bits_is_bad_user_input() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($limit: Int!) { tickets(limit: $limit) { items { id } } }",
            json!({ "limit": 4_294_967_296_i64 }),
        )
        .await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("BAD_USER_INPUT"),
        "{:#}",
        reply.body
    );
}

#[tokio::test]
async fn an_omitted_nullable_variable_takes_the_arguments_default() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($page: Int, $limit: Int, $order: TicketOrder) {
                tickets(page: $page, limit: $limit, order: $order) { pagination { page limit } }
            }",
            json!({}),
        )
        .await
        .expect_ok();

    assert_eq!(
        reply.data("tickets")["pagination"],
        json!({ "page": 1, "limit": 10 })
    );
}

#[tokio::test]
async fn a_subject_of_a_million_characters_is_bad_user_input_and_nothing_is_written() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }",
            json!({ "input": { "subject": "s".repeat(1_000_000), "message": "m" } }),
        )
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.error_code().as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;

    let reply = app.post_raw(&[JSON], me_body()).await;
    let echoed = app
        .post_raw(&[JSON, ("x-request-id", "abc-123")], me_body())
        .await;

    assert!(!reply.headers["x-request-id"].is_empty());
    assert_eq!(echoed.headers["x-request-id"], "abc-123");
}

#[tokio::test]
async fn a_get_without_a_query_is_a_request_error() {
    let app = spawn_app().await;

    let reply = app.get_raw(&[], &[("accept", GRAPHQL_RESPONSE)]).await;

    assert_eq!(reply.status, 400);
    assert!(reply.body.get("data").is_none());
}

#[tokio::test]
async fn a_get_query_answers_in_the_negotiated_media_type() {
    let app = spawn_app().await;

    let reply = app
        .get_raw(
            &[("query", "{ __typename }")],
            &[("accept", GRAPHQL_RESPONSE)],
        )
        .await;

    assert_eq!(reply.status, 200);
    assert!(content_type(&reply).starts_with(GRAPHQL_RESPONSE));
    assert_eq!(reply.data("__typename"), "Query");
}
