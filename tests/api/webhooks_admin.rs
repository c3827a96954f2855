//! Managing webhooks as an admin: each query and mutation does what it says, and again
//! what its repeat is documented to do; the secret is shown once (and stored encrypted);
//! a URL that could reach the server's own network is refused at create and update.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use entity::prelude::{
    ServerKey, TicketEventKind, Webhook, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus,
};
use entity::{webhook, webhook_attempt, webhook_delivery};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
};
use serde_json::{Value, json};
use supportdesk::webhooks::secret::{SecretKey, SecretVault};
use uuid::Uuid;

use crate::helpers::{
    Reply, TestApp, User, spawn_app, spawn_app_logging_statements, spawn_app_with,
};
use crate::idempotency::{contains, kept_rows};

/// A key for `WEBHOOK_SECRET_KEY`.
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub const CREATE: &str = "mutation($input: WebhookInput!) { createWebhook(input: $input) { \
     secret webhook { id url events description enabled createdAt disabledReason } } }";
const UPDATE: &str = "mutation($id: ID!, $input: WebhookInput!) { updateWebhook(id: $id, \
     input: $input) { id url events description enabled createdAt disabledReason } }";
const DELETE: &str = "mutation($id: ID!) { deleteWebhook(id: $id) }";
const ROTATE: &str =
    "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { id } } }";
const REDELIVER: &str = "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { \
     id webhookId eventId eventKind status nextAttemptAt attempts { at responseStatus error durationMs } } }";
const DELIVERIES: &str = "query($webhookId: ID!, $status: WebhookDeliveryStatus, $first: Int! = 20, \
     $after: ID) { webhookDeliveries(webhookId: $webhookId, status: $status, first: $first, \
     after: $after) { id status nextAttemptAt attempts { responseStatus } } }";
const LIST: &str = "{ webhooks { id url events description enabled createdAt disabledReason } }";

/// A public address that needs no DNS lookup (the tests run without one).
const PUBLIC_URL: &str = "https://93.184.215.14/hooks";

impl TestApp {
    pub fn webhook_admin(&self) -> User {
        self.admin("root")
    }

    pub async fn create_webhook(&self, input: Value) -> Reply {
        self.graphql(&self.webhook_admin(), CREATE, json!({ "input": input }))
            .await
    }

    /// A webhook to `PUBLIC_URL` for every event: its id and secret. Disabled, so that no
    /// delivery is attempted of those the tests write.
    pub async fn new_webhook(&self) -> (String, String) {
        let reply = self
            .create_webhook(json!({ "url": PUBLIC_URL, "enabled": false }))
            .await
            .expect_ok();
        let created = reply.data("createWebhook");
        (
            created["webhook"]["id"].as_str().expect("an id").to_owned(),
            created["secret"].as_str().expect("a secret").to_owned(),
        )
    }

    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.database_url)
            .await
            .expect("the database")
    }

    pub async fn webhook_count(&self) -> u64 {
        Webhook::find()
            .count(&self.db().await)
            .await
            .expect("a count")
    }

    async fn stored_webhook(&self, id: &str) -> webhook::Model {
        Webhook::find_by_id(Uuid::parse_str(id).expect("a uuid"))
            .one(&self.db().await)
            .await
            .expect("a read")
            .expect("the webhook")
    }

    /// A delivery of webhook `webhook_id` written behind the server's back (the fan-out
    /// is not under test here), with one failed attempt.
    pub async fn stored_delivery(&self, webhook_id: &str, status: WebhookDeliveryStatus) -> String {
        let db = self.db().await;
        let id = Uuid::now_v7();
        let pending = status == WebhookDeliveryStatus::Pending;
        webhook_delivery::ActiveModel {
            id: Set(id),
            webhook_id: Set(Uuid::parse_str(webhook_id).expect("a uuid")),
            event_id: Set(Uuid::now_v7()),
            event_kind: Set(TicketEventKind::TicketCreated),
            status: Set(status),
            attempts_left: Set(0),
            attempt_count: Set(1),
            next_attempt_at: Set(pending.then(|| Utc::now() + TimeDelta::hours(1))),
            lease_until: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(&db)
        .await
        .expect("a delivery");
        webhook_attempt::ActiveModel {
            id: Set(Uuid::now_v7()),
            delivery_id: Set(id),
            at: Set(Utc::now()),
            response_status: Set(Some(500)),
            error: Set(Some("Internal Server Error".to_owned())),
            duration_ms: Set(12),
        }
        .insert(&db)
        .await
        .expect("an attempt");
        id.to_string()
    }
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn assert_is_a_secret(secret: &str) {
    let encoded = secret.strip_prefix("whsec_").expect("whsec_ first");
    let bytes = STANDARD.decode(encoded).expect("base64");
    assert_eq!(bytes.len(), 32);
}

async fn spawn_app_with_secret_key() -> TestApp {
    spawn_app_with(|config| {
        config.webhooks.secret_key = Some(SecretKey::parse(SECRET_KEY).expect("a key"));
    })
    .await
}

#[tokio::test]
async fn create_webhook_answers_the_webhook_and_its_secret() {
    let app = spawn_app().await;

    let reply = app
        .create_webhook(json!({
            "url": PUBLIC_URL,
            "events": ["STATUS_CHANGED", "TICKET_CREATED", "STATUS_CHANGED"],
            "description": "  On-call pager  ",
        }))
        .await
        .expect_ok();

    let created = reply.data("createWebhook");
    assert_is_a_secret(created["secret"].as_str().expect("a secret"));
    let webhook = &created["webhook"];
    assert_eq!(webhook["url"], PUBLIC_URL);
    assert_eq!(
        webhook["events"],
        json!(["STATUS_CHANGED", "TICKET_CREATED"])
    );
    assert_eq!(webhook["description"], "On-call pager");
    assert_eq!(webhook["enabled"], true);
    assert_eq!(webhook["disabledReason"], Value::Null);
    let age = Utc::now() - instant(&webhook["createdAt"]);
    assert!(age < TimeDelta::seconds(10), "{age}");
}

#[tokio::test]
async fn create_webhook_sent_twice_makes_two_webhooks_with_two_secrets() {
    let app = spawn_app().await;

    let first = app.new_webhook().await;
    let second = app.new_webhook().await;

    assert_ne!(first.0, second.0);
    assert_ne!(first.1, second.1);
    assert_eq!(app.webhook_count().await, 2);
}

#[tokio::test]
async fn create_webhook_retried_with_an_idempotency_key_makes_one_webhook() {
    let app = spawn_app().await;
    let body = json!({ "query": CREATE, "variables": { "input": { "url": PUBLIC_URL } } });
    let send = || {
        app.request(reqwest::Method::POST, "/graphql")
            .bearer_auth(&app.webhook_admin().token)
            .header("idempotency-key", "create-pager-hook")
            .json(&body)
            .send()
    };

    let first = send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");
    let second = send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("a body");

    assert_eq!(first, second);
    assert_eq!(app.webhook_count().await, 1);
}

#[tokio::test]
async fn with_a_secret_key_create_webhook_is_replayed_with_its_secret_and_the_kept_answer_holds_none_of_it()
 {
    let app = spawn_app_with_secret_key().await;
    let body = json!({ "query": CREATE, "variables": { "input": { "url": PUBLIC_URL } } });
    let send = || async {
        let response = app
            .request(reqwest::Method::POST, "/graphql")
            .bearer_auth(&app.webhook_admin().token)
            .header("idempotency-key", "create-pager-hook")
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let replayed = response.headers().contains_key("idempotent-replayed");
        (replayed, response.bytes().await.expect("a body"))
    };

    let (_, first) = send().await;
    let (replayed, second) = send().await;

    assert!(replayed);
    assert_eq!(second, first);
    let answer: Value = serde_json::from_slice(&first).expect("JSON");
    let secret = answer["data"]["createWebhook"]["secret"]
        .as_str()
        .expect("a secret");
    let encoded = secret.strip_prefix("whsec_").expect("the prefix");
    let raw = STANDARD.decode(encoded).expect("base64");
    let rows = kept_rows(&app).await;
    assert_eq!(rows.len(), 1);
    for needle in [secret.as_bytes(), encoded.as_bytes(), &raw] {
        assert!(!contains(&rows[0], needle));
    }
}

#[tokio::test]
async fn webhooks_lists_every_webhook_oldest_first_without_a_secret() {
    let app = spawn_app().await;
    let (first, first_secret) = app.new_webhook().await;
    let (second, second_secret) = app.new_webhook().await;

    let reply = app
        .graphql(&app.webhook_admin(), LIST, json!({}))
        .await
        .expect_ok();

    let ids: Vec<&str> = reply
        .data("webhooks")
        .as_array()
        .expect("a list")
        .iter()
        .map(|webhook| webhook["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    let text = reply.body.to_string();
    assert!(!text.contains(&first_secret) && !text.contains(&second_secret));
}

#[tokio::test]
async fn a_webhook_has_no_field_that_reads_its_secret() {
    let app = spawn_app().await;
    app.new_webhook().await;

    let reply = app
        .graphql(&app.webhook_admin(), "{ webhooks { secret } }", json!({}))
        .await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        reply.body
    );
}

#[tokio::test]
async fn with_a_secret_key_the_database_holds_neither_the_secret_nor_its_key() {
    let app = spawn_app_with_secret_key().await;
    let (id, secret) = app.new_webhook().await;

    let stored = app.stored_webhook(&id).await;

    let encoded = secret.strip_prefix("whsec_").expect("the prefix");
    let raw = STANDARD.decode(encoded).expect("base64");
    for needle in [secret.as_bytes(), encoded.as_bytes(), &raw] {
        assert!(
            !stored
                .secret
                .windows(needle.len())
                .any(|window| window == needle)
        );
    }
    let kept = ServerKey::find_by_id("webhook-secrets".to_owned())
        .one(&app.db().await)
        .await
        .expect("a read");
    assert_eq!(kept, None);
}

#[tokio::test]
async fn the_stored_secret_opens_with_the_key_to_the_secret_shown() {
    let app = spawn_app_with_secret_key().await;
    let (id, secret) = app.new_webhook().await;

    let stored = app.stored_webhook(&id).await;

    assert_eq!(opened(&app, &id, &stored.secret).await, secret);
}

/// What `sealed`, stored for webhook `id`, holds: opened with the tests' key.
async fn opened(app: &TestApp, id: &str, sealed: &[u8]) -> String {
    let vault = SecretVault::new(Some(SecretKey::parse(SECRET_KEY).expect("a key")));
    let id = Uuid::parse_str(id).expect("a uuid");
    vault
        .open(&app.db().await, id, sealed)
        .await
        .expect("the secret opens")
        .to_text()
}

#[tokio::test]
async fn without_a_secret_key_one_is_kept_in_the_database() {
    let app = spawn_app().await;
    app.new_webhook().await;

    let kept = ServerKey::find_by_id("webhook-secrets".to_owned())
        .one(&app.db().await)
        .await
        .expect("a read")
        .expect("the key");

    assert_eq!(kept.secret.len(), 32);
}

#[tokio::test]
async fn update_webhook_replaces_every_field_and_sent_again_leaves_the_same_state() {
    let app = spawn_app().await;
    let created = app
        .create_webhook(json!({ "url": PUBLIC_URL, "description": "Pager", "enabled": false }))
        .await
        .expect_ok();
    let id = created.data("createWebhook")["webhook"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let input = json!({
        "url": "https://93.184.215.15/other",
        "events": ["TAGS_CHANGED"],
    });
    let variables = json!({ "id": id, "input": input });

    let first = app
        .graphql(&app.webhook_admin(), UPDATE, variables.clone())
        .await
        .expect_ok();
    let stored = app.stored_webhook(&id).await;
    let second = app
        .graphql(&app.webhook_admin(), UPDATE, variables)
        .await
        .expect_ok();

    let updated = first.data("updateWebhook");
    assert_eq!(updated["url"], "https://93.184.215.15/other");
    assert_eq!(updated["events"], json!(["TAGS_CHANGED"]));
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["enabled"], true);
    assert_eq!(second.data("updateWebhook"), updated);
    let again = app.stored_webhook(&id).await;
    assert_eq!(
        (again.url, again.events, again.description, again.enabled),
        (
            stored.url,
            stored.events,
            stored.description,
            stored.enabled
        )
    );
}

#[tokio::test]
async fn enabling_a_webhook_the_server_disabled_clears_why_and_since_when_it_failed() {
    let app = spawn_app().await;
    let (id, _) = app.new_webhook().await;
    let mut disabled: webhook::ActiveModel = app.stored_webhook(&id).await.into();
    disabled.enabled = Set(false);
    disabled.disabled_reason = Set(Some("The receiver answered 410 Gone".to_owned()));
    disabled.failing_since = Set(Some(Utc::now() - TimeDelta::days(6)));
    disabled.update(&app.db().await).await.expect("disabled");

    let reply = app
        .graphql(
            &app.webhook_admin(),
            UPDATE,
            json!({ "id": id, "input": { "url": PUBLIC_URL, "enabled": true } }),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("updateWebhook")["disabledReason"], Value::Null);
    let stored = app.stored_webhook(&id).await;
    assert!(stored.enabled);
    assert_eq!((stored.disabled_reason, stored.failing_since), (None, None));
}

#[tokio::test]
async fn delete_webhook_removes_it_with_its_deliveries_and_sent_again_is_not_found() {
    let app = spawn_app().await;
    let (id, _) = app.new_webhook().await;
    app.stored_delivery(&id, WebhookDeliveryStatus::Failed)
        .await;

    let first = app
        .graphql(&app.webhook_admin(), DELETE, json!({ "id": id }))
        .await
        .expect_ok();
    let second = app
        .graphql(&app.webhook_admin(), DELETE, json!({ "id": id }))
        .await;

    assert_eq!(first.data("deleteWebhook"), true);
    assert_eq!(second.error_code().as_deref(), Some("NOT_FOUND"));
    let db = app.db().await;
    assert_eq!(app.webhook_count().await, 0);
    assert_eq!(
        WebhookDelivery::find().count(&db).await.expect("a count"),
        0
    );
    assert_eq!(WebhookAttempt::find().count(&db).await.expect("a count"), 0);
}

#[tokio::test]
async fn rotate_webhook_secret_answers_a_new_secret_and_keeps_the_old_one_for_a_day() {
    let app = spawn_app_with_secret_key().await;
    let (id, old) = app.new_webhook().await;

    let reply = app
        .graphql(&app.webhook_admin(), ROTATE, json!({ "id": id }))
        .await
        .expect_ok();

    let rotated = reply.data("rotateWebhookSecret");
    let new = rotated["secret"].as_str().expect("a secret");
    assert_is_a_secret(new);
    assert_ne!(new, old);
    assert_eq!(rotated["webhook"]["id"], id.as_str());
    let stored = app.stored_webhook(&id).await;
    assert_eq!(opened(&app, &id, &stored.secret).await, new);
    let previous = stored.previous_secret.expect("the previous secret");
    assert_eq!(opened(&app, &id, &previous).await, old);
    let expires_in = stored.previous_secret_expires_at.expect("an expiry") - Utc::now();
    assert!(
        expires_in > TimeDelta::hours(24) - TimeDelta::minutes(1)
            && expires_in <= TimeDelta::hours(24),
        "{expires_in}"
    );
}

#[tokio::test]
async fn rotate_webhook_secret_sent_again_keeps_only_the_latest_replaced_secret() {
    let app = spawn_app_with_secret_key().await;
    let (id, _) = app.new_webhook().await;
    let admin = app.webhook_admin();
    let rotate = || app.graphql(&admin, ROTATE, json!({ "id": id }));

    let first = rotate().await.expect_ok();
    let second = rotate().await.expect_ok();

    let first_secret = first.data("rotateWebhookSecret")["secret"]
        .as_str()
        .expect("a secret");
    let second_secret = second.data("rotateWebhookSecret")["secret"]
        .as_str()
        .expect("a secret");
    assert_ne!(first_secret, second_secret);
    let stored = app.stored_webhook(&id).await;
    assert_eq!(opened(&app, &id, &stored.secret).await, second_secret);
    let previous = stored.previous_secret.expect("the previous secret");
    assert_eq!(opened(&app, &id, &previous).await, first_secret);
}

#[tokio::test]
async fn redeliver_webhook_queues_one_more_attempt_of_a_failed_delivery_now() {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;
    let delivery = app
        .stored_delivery(&webhook, WebhookDeliveryStatus::Failed)
        .await;

    let reply = app
        .graphql(&app.webhook_admin(), REDELIVER, json!({ "id": delivery }))
        .await
        .expect_ok();

    let answered = reply.data("redeliverWebhook");
    assert_eq!(answered["id"], delivery.as_str());
    assert_eq!(answered["webhookId"], webhook.as_str());
    assert_eq!(answered["status"], "PENDING");
    assert_eq!(answered["eventKind"], "TICKET_CREATED");
    assert_eq!(answered["attempts"].as_array().expect("attempts").len(), 1);
    let due_in = instant(&answered["nextAttemptAt"]) - Utc::now();
    assert!(
        due_in <= TimeDelta::zero() && due_in > TimeDelta::seconds(-10),
        "{due_in}"
    );
    let stored = stored_delivery(&app, &delivery).await;
    assert_eq!(
        (stored.status, stored.attempts_left),
        (WebhookDeliveryStatus::Pending, 1)
    );
}

#[tokio::test]
async fn redeliver_webhook_sent_again_while_pending_changes_nothing() {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;
    let delivery = app
        .stored_delivery(&webhook, WebhookDeliveryStatus::Succeeded)
        .await;
    let admin = app.webhook_admin();
    let redeliver = || app.graphql(&admin, REDELIVER, json!({ "id": delivery }));
    let first = redeliver().await.expect_ok();
    let queued = stored_delivery(&app, &delivery).await;

    let second = redeliver().await.expect_ok();

    assert_eq!(
        second.data("redeliverWebhook"),
        first.data("redeliverWebhook")
    );
    assert_eq!(stored_delivery(&app, &delivery).await, queued);
}

async fn stored_delivery(app: &TestApp, id: &str) -> webhook_delivery::Model {
    WebhookDelivery::find_by_id(Uuid::parse_str(id).expect("a uuid"))
        .one(&app.db().await)
        .await
        .expect("a read")
        .expect("the delivery")
}

#[tokio::test]
async fn webhook_deliveries_pages_newest_first_after_the_delivery_given() {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            app.stored_delivery(&webhook, WebhookDeliveryStatus::Failed)
                .await,
        );
    }
    let admin = app.webhook_admin();
    let page = |after: Option<&str>| {
        app.graphql(
            &admin,
            DELIVERIES,
            json!({ "webhookId": webhook, "first": 2, "after": after }),
        )
    };

    let first = page(None).await.expect_ok();
    let second = page(Some(&ids[1])).await.expect_ok();

    let listed = |reply: &Reply| -> Vec<String> {
        reply
            .data("webhookDeliveries")
            .as_array()
            .expect("a list")
            .iter()
            .map(|delivery| delivery["id"].as_str().expect("an id").to_owned())
            .collect()
    };
    assert_eq!(listed(&first), [ids[2].clone(), ids[1].clone()]);
    assert_eq!(listed(&second), [ids[0].clone()]);
}

#[tokio::test]
async fn webhook_deliveries_of_a_status_are_only_those() {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;
    app.stored_delivery(&webhook, WebhookDeliveryStatus::Failed)
        .await;
    let pending = app
        .stored_delivery(&webhook, WebhookDeliveryStatus::Pending)
        .await;

    let reply = app
        .graphql(
            &app.webhook_admin(),
            DELIVERIES,
            json!({ "webhookId": webhook, "status": "PENDING" }),
        )
        .await
        .expect_ok();

    let deliveries = reply.data("webhookDeliveries");
    assert_eq!(deliveries.as_array().expect("a list").len(), 1);
    assert_eq!(deliveries[0]["id"], pending.as_str());
    assert!(deliveries[0]["nextAttemptAt"].is_string());
}

#[tokio::test]
async fn webhook_deliveries_read_their_attempts_in_one_query_for_the_page() {
    let (app, statements) = spawn_app_logging_statements().await;
    let (webhook, _) = app.new_webhook().await;
    let count_for_page = || async {
        let before = statements.count();
        app.graphql(
            &app.webhook_admin(),
            DELIVERIES,
            json!({ "webhookId": webhook }),
        )
        .await
        .expect_ok();
        statements.count() - before
    };
    app.stored_delivery(&webhook, WebhookDeliveryStatus::Failed)
        .await;
    let for_one = count_for_page().await;

    for _ in 0..5 {
        app.stored_delivery(&webhook, WebhookDeliveryStatus::Failed)
            .await;
    }
    let for_six = count_for_page().await;

    assert_eq!(for_six, for_one);
}

#[tokio::test]
async fn webhook_deliveries_take_1_to_100_first() {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;

    for first in [0, -1, 101] {
        let reply = app
            .graphql(
                &app.webhook_admin(),
                DELIVERIES,
                json!({ "webhookId": webhook, "first": first }),
            )
            .await;
        reply.expect_bad_input("first");
    }
}

#[tokio::test]
async fn webhook_deliveries_after_something_not_a_delivery_id_is_bad_input() {
    let app = spawn_app().await;
    let (webhook, _) = app.new_webhook().await;

    let reply = app
        .graphql(
            &app.webhook_admin(),
            DELIVERIES,
            json!({ "webhookId": webhook, "after": "yesterday" }),
        )
        .await;

    reply.expect_bad_input("after");
}

/// An id of nothing, and one that is no id at all.
const UNKNOWN_IDS: [&str; 2] = ["0190a5e1-0000-7000-8000-000000000000", "not-an-id"];

#[tokio::test]
async fn every_field_naming_an_unknown_id_is_not_found() {
    let app = spawn_app().await;
    let admin = app.webhook_admin();

    for id in UNKNOWN_IDS {
        let replies = [
            app.graphql(
                &admin,
                UPDATE,
                json!({ "id": id, "input": { "url": PUBLIC_URL } }),
            )
            .await,
            app.graphql(&admin, DELETE, json!({ "id": id })).await,
            app.graphql(&admin, ROTATE, json!({ "id": id })).await,
            app.graphql(&admin, REDELIVER, json!({ "id": id })).await,
            app.graphql(&admin, DELIVERIES, json!({ "webhookId": id }))
                .await,
        ];
        for reply in replies {
            assert_eq!(
                reply.error_code().as_deref(),
                Some("NOT_FOUND"),
                "{id}: {:#}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn a_description_of_more_than_500_characters_is_bad_input() {
    let app = spawn_app().await;

    let reply = app
        .create_webhook(json!({ "url": PUBLIC_URL, "description": "x".repeat(501) }))
        .await;

    reply.expect_bad_input("description");
    assert_eq!(app.webhook_count().await, 0);
}

/// URLs that could make the server call into its own network, or that break the rules
/// of a webhook URL.
const REFUSED_URLS: [&str; 9] = [
    "https://127.0.0.1/hooks",
    "https://[::1]/hooks",
    "https://10.1.2.3/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://0.0.0.0/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://localhost/hooks",
    "http://93.184.215.14/hooks",
    "https://user:pass@example.com/hooks",
];

#[tokio::test]
async fn create_webhook_refuses_every_url_that_could_reach_inside_and_writes_nothing() {
    let app = spawn_app().await;

    for url in REFUSED_URLS {
        let reply = app.create_webhook(json!({ "url": url })).await;
        reply.expect_bad_input("url");
        assert_eq!(reply.data("createWebhook"), &Value::Null, "{url}");
    }

    assert_eq!(app.webhook_count().await, 0);
}

#[tokio::test]
async fn update_webhook_refuses_every_url_that_could_reach_inside_and_writes_nothing() {
    let app = spawn_app().await;
    let (id, _) = app.new_webhook().await;
    let before = app.stored_webhook(&id).await;

    for url in REFUSED_URLS {
        let reply = app
            .graphql(
                &app.webhook_admin(),
                UPDATE,
                json!({ "id": id, "input": { "url": url, "enabled": false } }),
            )
            .await;
        reply.expect_bad_input("url");
    }

    assert_eq!(app.stored_webhook(&id).await, before);
}

#[tokio::test]
async fn a_loopback_http_url_is_accepted_when_the_settings_allow_both() {
    let app = spawn_app_with(|config| {
        config.webhooks.allow_http = true;
        config.webhooks.allow_private_networks = true;
    })
    .await;

    let reply = app
        .create_webhook(json!({ "url": "http://127.0.0.1:9/hooks" }))
        .await
        .expect_ok();

    assert_eq!(
        reply.data("createWebhook")["webhook"]["url"],
        "http://127.0.0.1:9/hooks"
    );
}
