//! A document sent again is served from the cache of prepared documents, and its
//! validation is reused only where nothing of it can change between requests: what a
//! request is refused for does not depend on whether its document was seen before.

use serde_json::json;

use crate::helpers::spawn_app;

const PAGE_OF: &str =
    "query Page($limit: Int!) { tickets(limit: $limit) { items { id } pagination { total } } }";

#[tokio::test]
async fn a_variables_value_is_refused_alike_whether_or_not_its_document_was_valid_before() {
    let five = json!({ "limit": "five" });
    let fresh = spawn_app().await;
    let refused_unseen = fresh
        .graphql(&fresh.customer("alice"), PAGE_OF, five.clone())
        .await;
    assert_eq!(
        refused_unseen.body["data"],
        json!(null),
        "{:#}",
        refused_unseen.body
    );
    assert!(!refused_unseen.errors().is_empty());

    let app = spawn_app().await;
    let alice = app.customer("alice");
    let valid = app.graphql(&alice, PAGE_OF, json!({ "limit": 5 })).await;
    assert_eq!(valid.expect_ok().data("tickets")["pagination"]["total"], 0);
    let refused_seen = app.graphql(&alice, PAGE_OF, five).await;
    assert_eq!(refused_seen.status, refused_unseen.status);
    assert_eq!(refused_seen.body, refused_unseen.body);
}

#[tokio::test]
async fn a_document_without_variables_answers_the_same_each_time_it_is_sent() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    app.open_ticket(&alice, "Printer").await;
    let query = "{ tickets { items { subject } pagination { total } } }";
    let first = app.graphql(&alice, query, json!({})).await.expect_ok();
    assert_eq!(first.data("tickets")["pagination"]["total"], 1);
    for _ in 0..3 {
        assert_eq!(app.graphql(&alice, query, json!({})).await.body, first.body);
    }
}

#[tokio::test]
async fn a_document_refused_by_validation_is_refused_each_time_it_is_sent() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let query = "{ tickets { items { id noSuchField } } }";
    for _ in 0..3 {
        let refused = app.graphql(&alice, query, json!({})).await;
        assert_eq!(
            refused.error_code().as_deref(),
            Some("GRAPHQL_VALIDATION_FAILED"),
            "{:#}",
            refused.body
        );
    }
}
