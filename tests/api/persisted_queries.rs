//! Apollo's automatic persisted queries: a client sends the SHA-256 of a query, and its
//! text only when the server asks for it.

use std::num::NonZeroUsize;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

const QUERY: &str = "{ me { id } }";

fn hash_of(query: &str) -> String {
    Sha256::digest(query.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, body: Value) -> Reply {
    let token = format!("Bearer {}", app.customer("alice").token);
    app.post_raw(
        &[
            ("content-type", "application/json"),
            ("authorization", &token),
        ],
        body.to_string(),
    )
    .await
}

/// Sends `query` with its hash, so that the server keeps it; the extension to send it by.
async fn persist(app: &TestApp, query: &str) -> Value {
    let extensions = persisted(&hash_of(query));
    post(app, json!({ "query": query, "extensions": extensions }))
        .await
        .expect_ok();
    extensions
}

/// A GET with only the persisted query's hash.
async fn get_by_hash(app: &TestApp, extensions: &Value) -> Reply {
    let token = format!("Bearer {}", app.customer("alice").token);
    app.get_raw(
        &[("extensions", &extensions.to_string())],
        &[("authorization", &token)],
    )
    .await
}

#[tokio::test]
async fn a_hash_the_server_has_never_seen_asks_for_the_text() {
    let app = spawn_app().await;

    let reply = post(&app, json!({ "extensions": persisted(&hash_of(QUERY)) })).await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.error_message().as_deref(),
        Some("PersistedQueryNotFound")
    );
    assert_eq!(
        reply.error_code().as_deref(),
        Some("PERSISTED_QUERY_NOT_FOUND")
    );
}

#[tokio::test]
async fn a_query_sent_once_with_its_hash_is_then_served_by_hash_alone() {
    let app = spawn_app().await;
    let extensions = persist(&app, QUERY).await;

    let reply = post(&app, json!({ "extensions": extensions }))
        .await
        .expect_ok();

    assert_eq!(reply.data("me")["id"], "alice");
}

#[tokio::test]
async fn a_persisted_query_is_served_over_get() {
    let app = spawn_app().await;
    let extensions = persist(&app, QUERY).await;

    let reply = get_by_hash(&app, &extensions).await.expect_ok();

    assert_eq!(reply.data("me")["id"], "alice");
}

#[tokio::test]
async fn a_hash_that_does_not_match_its_query_is_refused() {
    let app = spawn_app().await;

    let reply = post(
        &app,
        json!({ "query": QUERY, "extensions": persisted(&hash_of("{ __typename }")) }),
    )
    .await;

    assert_eq!(reply.error_code().as_deref(), Some("BAD_REQUEST"));
    assert!(reply.body.get("data").is_none());
}

#[tokio::test]
async fn a_persisted_mutation_is_still_refused_over_get() {
    let app = spawn_app().await;
    let mutation = "mutation { createTicket(input: { subject: \"s\", message: \"m\" }) { id } }";
    let extensions = persist(&app, mutation).await;

    let reply = get_by_hash(&app, &extensions).await;

    assert_eq!(reply.status, 405);
    assert_eq!(app.ticket_total().await, 1);
}

/// Sends `query` with its hash and no token.
async fn post_anonymously(app: &TestApp, query: &str) -> Reply {
    let body = json!({ "query": query, "extensions": persisted(&hash_of(query)) });
    app.post_raw(&[("content-type", "application/json")], body.to_string())
        .await
}

#[tokio::test]
async fn an_anonymous_clients_persisted_query_runs_but_is_not_kept() {
    let app = spawn_app().await;
    let query = "query Anonymous { __typename }";
    post_anonymously(&app, query).await.expect_ok();

    let reply = post(&app, json!({ "extensions": persisted(&hash_of(query)) })).await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("PERSISTED_QUERY_NOT_FOUND")
    );
}

#[tokio::test]
async fn anonymous_registrations_do_not_push_a_customers_persisted_query_out() {
    let entries = 4;
    let app = spawn_app_with(|config| {
        config.http.query_limits.document_cache_entries =
            NonZeroUsize::new(entries).expect("not zero");
    })
    .await;
    let extensions = persist(&app, QUERY).await;

    for index in 0..entries * 5 {
        post_anonymously(&app, &format!("query Junk{index} {{ __typename }}"))
            .await
            .expect_ok();
    }

    let reply = post(&app, json!({ "extensions": extensions }))
        .await
        .expect_ok();
    assert_eq!(reply.data("me")["id"], "alice");
}
