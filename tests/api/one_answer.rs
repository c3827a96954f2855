//! One answer, whatever the transport: the same document gives the same `data` and
//! `errors` over GET, POST, a batch and both WebSocket protocols.

use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::socket::{PROTOCOLS, over_socket};

const UNKNOWN_TICKET: &str = "0190c1f4-0000-7000-8000-000000000000";

fn failing_beside_resolving() -> String {
    format!(r#"{{ ticket(id: "{UNKNOWN_TICKET}") {{ id }} me {{ id }} }}"#)
}

/// `data` and each error's message, path and code: what a client reads.
fn shape_of(answer: &Value) -> Value {
    let errors: Vec<Value> = answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|error| {
            json!({
                "message": error["message"],
                "path": error["path"],
                "code": error["extensions"]["code"],
            })
        })
        .collect();
    json!({ "data": answer["data"], "errors": errors })
}

#[tokio::test]
async fn a_failed_field_is_null_beside_the_others_over_every_transport() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let query = failing_beside_resolving();
    let expected = json!({
        "data": { "ticket": null, "me": { "id": "alice" } },
        "errors": [{ "message": "Ticket not found", "path": ["ticket"], "code": "NOT_FOUND" }],
    });

    let post = app.graphql(&alice, &query, json!({})).await;
    assert_eq!(shape_of(&post.body), expected, "POST");
    let get = app.get_graphql(&alice, &query).await;
    assert_eq!(shape_of(&get.body), expected, "GET");
    let batch = app
        .post_batch(Some(&alice), &[json!({ "query": query })])
        .await;
    assert_eq!(shape_of(&batch.body[0]), expected, "batch");
    for protocol in PROTOCOLS {
        let answer = over_socket(&app, protocol, &alice, &query).await;
        assert_eq!(shape_of(&answer), expected, "{protocol}");
    }
}

#[tokio::test]
async fn an_invalid_document_has_no_data_over_every_transport() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let query = "{ me { nothingHere } }";

    let post = app.graphql(&alice, query, json!({})).await;
    let expected = shape_of(&post.body);
    assert_eq!(expected["data"], Value::Null);
    assert_eq!(expected["errors"][0]["code"], "GRAPHQL_VALIDATION_FAILED");
    for protocol in PROTOCOLS {
        let answer = over_socket(&app, protocol, &alice, query).await;
        assert_eq!(shape_of(&answer), expected, "{protocol}");
    }
}

#[tokio::test]
async fn a_failed_non_null_root_field_makes_the_whole_data_null_over_every_transport() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let mutation = format!(
        r#"mutation {{ updateTickets(ids: ["{UNKNOWN_TICKET}"], input: {{ priority: HIGH }}) {{ id }} }}"#
    );
    let expected = json!({
        "data": null,
        "errors": [{
            "message": "Only admins may update tickets",
            "path": ["updateTickets"],
            "code": "FORBIDDEN",
        }],
    });

    let post = app.graphql(&alice, &mutation, json!({})).await;
    assert_eq!(
        post.body.as_object().map(|body| body.contains_key("data")),
        Some(true)
    );
    assert_eq!(shape_of(&post.body), expected, "POST");
    let batch = app
        .post_batch(Some(&alice), &[json!({ "query": mutation })])
        .await;
    assert_eq!(shape_of(&batch.body[0]), expected, "batch");
    for protocol in PROTOCOLS {
        let answer = over_socket(&app, protocol, &alice, &mutation).await;
        assert_eq!(shape_of(&answer), expected, "{protocol}");
    }
}

#[tokio::test]
async fn a_failed_non_null_root_field_under_an_alias_makes_the_whole_data_null() {
    let app = spawn_app().await;
    let mutation = format!(
        r#"mutation {{ bulk: updateTickets(ids: ["{UNKNOWN_TICKET}"], input: {{ priority: LOW }}) {{ id }} }}"#
    );

    let reply = app
        .graphql(&app.customer("alice"), &mutation, json!({}))
        .await;

    assert_eq!(reply.body["data"], Value::Null);
    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
}
