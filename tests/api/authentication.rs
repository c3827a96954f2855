use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{assert_refused, sign_hs256, spawn_app, unix_now};

const ME: &str = "{ me { id role } }";

fn valid_claims() -> Value {
    json!({ "sub": "alice", "role": "customer", "exp": unix_now() + 600 })
}

#[tokio::test]
async fn me_answers_who_the_token_says() {
    let app = spawn_app().await;
    let admin = app.admin("root-7");

    let reply = app.graphql(&admin, ME, json!({})).await.expect_ok();

    assert_eq!(
        reply.data("me"),
        &json!({ "id": "root-7", "role": "ADMIN" })
    );
}

#[tokio::test]
async fn every_field_needs_a_signed_in_user() {
    let app = spawn_app().await;
    let id = "01890a5d-ac96-774b-bcce-b302099a8057";
    let fields = [
        ("me", ME.to_owned()),
        ("tickets", "{ tickets { items { id } } }".to_owned()),
        ("ticket", format!(r#"{{ ticket(id: "{id}") {{ id }} }}"#)),
        (
            "createTicket",
            r#"mutation { createTicket(input: { subject: "s", message: "m" }) { id } }"#.to_owned(),
        ),
        (
            "updateTicketStatus",
            format!(r#"mutation {{ updateTicketStatus(id: "{id}", status: CLOSED) {{ id }} }}"#),
        ),
        (
            "addTicketMessage",
            format!(r#"mutation {{ addTicketMessage(ticketId: "{id}", body: "b") {{ id }} }}"#),
        ),
    ];

    for (field, query) in fields {
        let reply = app.post_graphql(None, &query, json!({})).await;
        assert_eq!(reply.status, 200, "{field}");
        assert_eq!(reply.body["data"].get(field), Some(&Value::Null), "{field}");
        assert_eq!(
            reply.error_code().as_deref(),
            Some("UNAUTHENTICATED"),
            "{field}"
        );
    }
}

#[tokio::test]
async fn introspection_and_typename_need_no_token() {
    let app = spawn_app().await;

    let reply = app
        .post_graphql(
            None,
            "{ __typename __schema { queryType { name } } }",
            json!({}),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("__typename"), "Query");
    assert_eq!(reply.data("__schema")["queryType"]["name"], "Query");
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_case_insensitively() {
    let app = spawn_app().await;
    let token = app.customer("alice").token;

    let reply = app
        .post_graphql(Some(&format!("bEARER {token}")), ME, json!({}))
        .await;

    assert_eq!(reply.expect_ok().data("me")["id"], "alice");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let token = app.sign(&json!({ "sub": "alice", "role": "customer", "exp": unix_now() - 3600 }));

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_that_is_not_yet_valid_is_refused() {
    let app = spawn_app().await;
    let mut claims = valid_claims();
    claims["nbf"] = json!(unix_now() + 3600);
    let token = app.sign(&claims);

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let app = spawn_app().await;
    let token = sign_hs256(&valid_claims(), "not-the-server-secret");

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_with_another_algorithm_is_refused() {
    let app = spawn_app().await;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &valid_claims(),
        &jsonwebtoken::EncodingKey::from_secret(app.jwt_secret.as_bytes()),
    )
    .expect("encodes");

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = spawn_app().await;
    let encode = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let token = format!(
        "{}.{}.",
        encode(json!({ "alg": "none", "typ": "JWT" })),
        encode(valid_claims())
    );

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let app = spawn_app().await;
    let token = app.sign(&json!({ "sub": "alice", "role": "customer" }));

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_without_sub_is_refused() {
    let app = spawn_app().await;
    let token = app.sign(&json!({ "role": "customer", "exp": unix_now() + 600 }));

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_with_an_over_long_sub_is_refused() {
    let app = spawn_app().await;
    let mut claims = valid_claims();
    claims["sub"] = json!("u".repeat(256));
    let token = app.sign(&claims);

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_sub_of_255_characters_is_accepted() {
    let app = spawn_app().await;
    let mut claims = valid_claims();
    claims["sub"] = json!("ü".repeat(255));
    let token = app.sign(&claims);

    let reply = app
        .post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
        .await;

    assert_eq!(reply.expect_ok().data("me")["id"], "ü".repeat(255));
}

#[tokio::test]
async fn a_token_with_an_unknown_role_is_refused() {
    let app = spawn_app().await;
    let mut claims = valid_claims();
    claims["role"] = json!("superuser");
    let token = app.sign(&claims);

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_token_without_role_is_refused() {
    let app = spawn_app().await;
    let token = app.sign(&json!({ "sub": "alice", "exp": unix_now() + 600 }));

    assert_refused(
        &app.post_graphql(Some(&format!("Bearer {token}")), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_malformed_token_is_refused() {
    let app = spawn_app().await;

    assert_refused(
        &app.post_graphql(Some("Bearer not.a.jwt"), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn another_scheme_is_refused() {
    let app = spawn_app().await;

    assert_refused(
        &app.post_graphql(Some("Basic YWxpY2U6c2VjcmV0"), ME, json!({}))
            .await,
    );
}

#[tokio::test]
async fn an_empty_authorization_header_is_refused() {
    let app = spawn_app().await;

    assert_refused(&app.post_graphql(Some(""), ME, json!({})).await);
}
