//! Who may manage webhooks: admins only, on every field, whatever way a customer tries to
//! reach one (an alias, a named operation among several, a batch, the WebSocket); without
//! a token, UNAUTHENTICATED. A refused mutation writes nothing.

use entity::prelude::{Webhook, WebhookDelivery, WebhookDeliveryStatus};
use entity::{webhook, webhook_delivery};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::socket::{PROTOCOLS, over_socket};

/// An app with one webhook and one failed delivery of it, and every webhook field as a
/// document naming them: (root field, document).
async fn app_with_every_field() -> (TestApp, Vec<(&'static str, String)>) {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;
    let delivery = app
        .stored_delivery(&webhook, WebhookDeliveryStatus::Failed)
        .await;
    let input = r#"{ url: "https://93.184.215.14/mine", events: [TAGS_CHANGED] }"#;
    let fields = vec![
        ("webhooks", "query { webhooks { id url } }".to_owned()),
        (
            "webhookDeliveries",
            format!(r#"query {{ webhookDeliveries(webhookId: "{webhook}") {{ id }} }}"#),
        ),
        (
            "createWebhook",
            format!("mutation {{ createWebhook(input: {input}) {{ secret }} }}"),
        ),
        (
            "updateWebhook",
            format!(r#"mutation {{ updateWebhook(id: "{webhook}", input: {input}) {{ id }} }}"#),
        ),
        (
            "deleteWebhook",
            format!(r#"mutation {{ deleteWebhook(id: "{webhook}") }}"#),
        ),
        (
            "rotateWebhookSecret",
            format!(r#"mutation {{ rotateWebhookSecret(id: "{webhook}") {{ secret }} }}"#),
        ),
        (
            "redeliverWebhook",
            format!(r#"mutation {{ redeliverWebhook(deliveryId: "{delivery}") {{ status }} }}"#),
        ),
    ];
    (app, fields)
}

/// Every webhook and delivery as stored.
async fn everything(app: &TestApp) -> (Vec<webhook::Model>, Vec<webhook_delivery::Model>) {
    let db = app.db().await;
    let webhooks = Webhook::find().all(&db).await.expect("webhooks");
    let deliveries = WebhookDelivery::find().all(&db).await.expect("deliveries");
    (webhooks, deliveries)
}

fn assert_code(body: &Value, code: &str, field: &str) {
    assert_eq!(
        body["errors"][0]["extensions"]["code"], code,
        "{field}: {body:#}"
    );
}

#[tokio::test]
async fn a_customer_is_forbidden_every_webhook_field_and_nothing_is_written() {
    let (app, fields) = app_with_every_field().await;
    let before = everything(&app).await;

    for (field, document) in &fields {
        let reply = app
            .graphql(&app.customer("alice"), document, json!({}))
            .await;
        assert_code(&reply.body, "FORBIDDEN", field);
        assert!(
            reply.body["data"].is_null() || reply.body["data"][field].is_null(),
            "{field}: {:#}",
            reply.body
        );
    }

    assert_eq!(everything(&app).await, before);
}

#[tokio::test]
async fn without_a_token_every_webhook_field_is_unauthenticated() {
    let (app, fields) = app_with_every_field().await;
    let before = everything(&app).await;

    for (field, document) in &fields {
        let reply = app.post_graphql(None, document, json!({})).await;
        assert_code(&reply.body, "UNAUTHENTICATED", field);
    }

    assert_eq!(everything(&app).await, before);
}

/// `document` with its root field under an alias.
fn aliased(document: &str, field: &str) -> String {
    let aliased = document.replacen(&format!("{{ {field}"), &format!("{{ innocent: {field}"), 1);
    assert_ne!(aliased, document, "{field} is not aliased");
    aliased
}

#[tokio::test]
async fn a_customer_reaching_a_webhook_field_through_an_alias_is_forbidden() {
    let (app, fields) = app_with_every_field().await;
    let before = everything(&app).await;

    for (field, document) in &fields {
        let reply = app
            .graphql(&app.customer("alice"), &aliased(document, field), json!({}))
            .await;
        assert_code(&reply.body, "FORBIDDEN", field);
    }

    assert_eq!(everything(&app).await, before);
}

#[tokio::test]
async fn a_customer_picking_a_webhook_operation_by_name_among_several_is_forbidden() {
    let (app, fields) = app_with_every_field().await;
    let before = everything(&app).await;
    let token = format!("Bearer {}", app.customer("alice").token);

    for (field, document) in &fields {
        let named = document.replacen("query {", "query Sneak {", 1).replacen(
            "mutation {",
            "mutation Sneak {",
            1,
        );
        let several = format!("query Look {{ me {{ id }} }} {named}");
        let reply = app
            .post_raw(
                &[
                    ("content-type", "application/json"),
                    ("authorization", &token),
                ],
                json!({ "query": several, "operationName": "Sneak" }).to_string(),
            )
            .await;
        assert_code(&reply.body, "FORBIDDEN", field);
    }

    assert_eq!(everything(&app).await, before);
}

#[tokio::test]
async fn a_customer_sending_webhook_fields_in_a_batch_is_forbidden_on_each() {
    let (app, fields) = app_with_every_field().await;
    let before = everything(&app).await;
    let operations: Vec<Value> = fields
        .iter()
        .map(|(_, document)| json!({ "query": document }))
        .collect();

    let reply = app
        .post_batch(Some(&app.customer("alice")), &operations)
        .await;

    let answers = reply.body.as_array().expect("a batch answer");
    assert_eq!(answers.len(), fields.len());
    for ((field, _), answer) in fields.iter().zip(answers) {
        assert_code(answer, "FORBIDDEN", field);
    }
    assert_eq!(everything(&app).await, before);
}

#[tokio::test]
async fn a_customer_sending_webhook_fields_over_the_socket_is_forbidden() {
    let (app, fields) = app_with_every_field().await;
    let before = everything(&app).await;
    let alice = app.customer("alice");

    for protocol in PROTOCOLS {
        for (field, document) in &fields {
            let answer = over_socket(&app, protocol, &alice, document).await;
            assert_code(&answer, "FORBIDDEN", &format!("{field} over {protocol}"));
        }
    }

    assert_eq!(everything(&app).await, before);
}
