use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn healthz_answers_while_the_process_serves() {
    let app = spawn_app().await;

    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn readyz_answers_while_the_database_answers() {
    let app = spawn_app().await;

    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_query_may_be_sent_with_get() {
    let app = spawn_app().await;

    let reply = app
        .get_graphql(&app.customer("alice"), "{ me { id } }")
        .await;

    assert_eq!(reply.expect_ok().data("me")["id"], "alice");
}

#[tokio::test]
async fn a_mutation_sent_with_get_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    let reply = app
        .get_graphql(
            &alice,
            r#"mutation { createTicket(input: { subject: "s", message: "m" }) { id } }"#,
        )
        .await;

    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "POST");
    let list = app
        .graphql(&alice, "{ tickets { pagination { total } } }", json!({}))
        .await
        .expect_ok();
    assert_eq!(list.data("tickets")["pagination"]["total"], 0);
}

#[tokio::test]
async fn a_failing_root_field_leaves_its_siblings_resolved() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            r#"{ me { id } ticket(id: "nope") { id } }"#,
            json!({}),
        )
        .await;

    assert_eq!(reply.data("me")["id"], "alice");
    assert_eq!(reply.body["data"].get("ticket"), Some(&Value::Null));
    assert_eq!(reply.errors().len(), 1);
    assert_eq!(reply.errors()[0]["path"], json!(["ticket"]));
}

/// The `X-Request-Id` the server answers a `GET /healthz` sent with `id`.
async fn request_id_answered_to(app: &TestApp, id: &str) -> String {
    let response = app
        .request(reqwest::Method::GET, "/healthz")
        .header("x-request-id", id)
        .send()
        .await
        .expect("the server answers");
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

fn assert_fresh_uuid(id: &str) {
    assert!(uuid::Uuid::parse_str(id).is_ok(), "not a UUID: {id}");
}

#[tokio::test]
async fn a_request_id_of_64_plain_characters_is_echoed() {
    let id = format!("{}.:-_", "Ab9".repeat(20));
    assert_eq!(id.len(), 64);

    assert_eq!(request_id_answered_to(&spawn_app().await, &id).await, id);
}

#[tokio::test]
async fn a_request_id_of_65_characters_is_replaced_by_a_fresh_uuid() {
    let id = "a".repeat(65);

    assert_fresh_uuid(&request_id_answered_to(&spawn_app().await, &id).await);
}

#[tokio::test]
async fn a_60_kb_request_id_is_replaced_by_a_fresh_uuid() {
    let id = "a".repeat(60 * 1024);

    assert_fresh_uuid(&request_id_answered_to(&spawn_app().await, &id).await);
}

#[tokio::test]
async fn a_request_id_with_a_space_or_a_quote_is_replaced_by_a_fresh_uuid() {
    let app = spawn_app().await;

    for id in ["two words", "a\"quote"] {
        assert_fresh_uuid(&request_id_answered_to(&app, id).await);
    }
}
