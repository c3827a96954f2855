//! Who may triage: `updateTicket` and `updateTickets` are admin-only, whatever way a
//! customer tries to reach them, and a refused patch writes nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::socket::{PROTOCOLS, over_socket};

/// A patch that would change every field a customer might want to change.
fn everything() -> Value {
    json!({
        "status": "CLOSED",
        "priority": "URGENT",
        "assigneeId": "alice",
        "addTags": ["vip"],
    })
}

/// `{ updateTicket(id: "<id>", input: <everything>) { id } }` as a document, for the
/// transports that take no variables.
fn inline_patch(id: &str) -> String {
    format!(
        r#"updateTicket(id: "{id}", input: {{ status: CLOSED, priority: URGENT, assigneeId: "alice", addTags: ["vip"] }}) {{ id }}"#
    )
}

/// A server with alice's ticket, and that ticket as an admin sees it.
async fn alices_ticket() -> (TestApp, String, Value) {
    let app = spawn_app().await;
    let id = app.open_ticket(&app.customer("alice"), "Mine").await;
    let before = app.staff_view(&id).await;
    (app, id, before)
}

fn assert_code(body: &Value, code: &str) {
    assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body:#}");
}

#[tokio::test]
async fn a_customer_may_not_update_their_own_ticket() {
    let (app, id, before) = alices_ticket().await;

    let reply = app.patch(&app.customer("alice"), &id, everything()).await;

    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
    assert_eq!(reply.data("updateTicket"), &Value::Null);
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn without_a_token_update_ticket_is_unauthenticated() {
    let (app, id, before) = alices_ticket().await;
    let query = format!("mutation {{ {} }}", inline_patch(&id));

    let reply = app.post_graphql(None, &query, json!({})).await;

    assert_eq!(reply.error_code().as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn a_customer_may_not_update_their_tickets_in_bulk() {
    let (app, id, before) = alices_ticket().await;

    let reply = app
        .patch_many(&app.customer("alice"), &[&id], everything())
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn without_a_token_update_tickets_is_unauthenticated() {
    let (app, id, before) = alices_ticket().await;

    let reply = app
        .post_graphql(
            None,
            "mutation($ids: [ID!]!) { updateTickets(ids: $ids, input: { priority: HIGH }) { id } }",
            json!({ "ids": [id] }),
        )
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn a_customer_patching_through_an_alias_is_forbidden_and_writes_nothing() {
    let (app, id, before) = alices_ticket().await;
    let query = format!("mutation {{ innocent: {} }}", inline_patch(&id));

    let reply = app.graphql(&app.customer("alice"), &query, json!({})).await;

    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
    assert_eq!(reply.data("innocent"), &Value::Null);
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn a_customer_patching_in_a_named_operation_among_several_is_forbidden_and_writes_nothing() {
    let (app, id, before) = alices_ticket().await;
    let document = format!(
        "query Look {{ me {{ id }} }} mutation Sneak {{ {} }}",
        inline_patch(&id)
    );

    let reply = app
        .post_raw(
            &[
                ("content-type", "application/json"),
                (
                    "authorization",
                    &format!("Bearer {}", app.customer("alice").token),
                ),
            ],
            json!({ "query": document, "operationName": "Sneak" }).to_string(),
        )
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn a_customer_patching_over_the_socket_is_forbidden_and_writes_nothing() {
    let (app, id, before) = alices_ticket().await;
    let alice = app.customer("alice");
    let bulk = format!(
        r#"updateTickets(ids: ["{id}"], input: {{ priority: URGENT, addTags: ["vip"] }}) {{ id }}"#
    );

    for protocol in PROTOCOLS {
        for field in [inline_patch(&id), bulk.clone()] {
            let answer =
                over_socket(&app, protocol, &alice, &format!("mutation {{ {field} }}")).await;
            assert_code(&answer, "FORBIDDEN");
        }
    }

    assert_eq!(app.staff_view(&id).await, before);
}
