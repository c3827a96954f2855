//! Delivering webhooks, to real receivers on 127.0.0.1 (so the servers allow private
//! networks and plain HTTP), each delivery checked with the receiver's own implementation
//! of the Standard Webhooks specification: what arrives, when a receiver fails, is down,
//! is slow or hostile, when a server restarts or dies, and with two instances at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use entity::prelude::{
    TicketEvent, Webhook, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus,
};
use entity::{webhook, webhook_delivery};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use supportdesk::config::Config;
use supportdesk::store::webhooks::{NewWebhook, insert_webhook};
use supportdesk::webhooks::secret::{SecretVault, WebhookSecret};
use uuid::Uuid;

use crate::helpers::{
    Behaviour, Received, Receiver, TestApp, ids_of, required_postgres_server_url,
    spawn_another_instance, spawn_app_with, vacant_address, verify, verify_parts,
};
use crate::server_process::{spawn_server, spawn_server_over};

/// Long enough for a loaded machine; every wait returns as soon as it can.
const WITHIN: Duration = Duration::from_secs(30);

/// A retry every 200 ms: a failing receiver is tried again at once, and a delivery runs
/// out of attempts in about a second.
const QUICK_RETRIES: [Duration; 5] = [Duration::from_millis(200); 5];

/// The same, as the binary takes it.
const QUICK_RETRIES_SETTING: &str = "200ms,200ms,200ms,200ms,200ms";

/// Delivering to receivers on loopback, over plain HTTP, retrying quickly, with room for
/// the mutations that write the events.
fn delivering(config: &mut Config) {
    config.webhooks.allow_http = true;
    config.webhooks.allow_private_networks = true;
    config.webhooks.delivery.retry_delays = QUICK_RETRIES.to_vec();
    config.webhooks.delivery.timeout = Duration::from_secs(2);
    config.http.mutation_rate_limit.burst = 10_000;
    config.http.mutation_rate_limit.per_second = 1_000.0;
}

/// The binary's settings for the same.
const DELIVERING: [(&str, &str); 7] = [
    ("WEBHOOK_ALLOW_HTTP", "true"),
    ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
    ("WEBHOOK_RETRY_DELAYS", QUICK_RETRIES_SETTING),
    ("WEBHOOK_TIMEOUT_SECONDS", "1"),
    ("SHUTDOWN_DRAIN_SECONDS", "0"),
    ("SHUTDOWN_GRACE_SECONDS", "1"),
    ("MUTATION_RATE_LIMIT_BURST", "10000"),
];

/// [`DELIVERING`] with `overrides` (the later of two values of a variable wins).
fn with<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    [&DELIVERING[..], overrides].concat()
}

async fn spawn_delivering_app() -> TestApp {
    spawn_app_with(delivering).await
}

const PATCH: &str =
    "mutation($id: ID!, $input: TicketPatch!) { updateTicket(id: $id, input: $input) { id } }";
const ROTATE: &str = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }";
const REDELIVER: &str =
    "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id status attempts { at } } }";
const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(webhookId: $id, first: 100) { \
     id eventId eventKind status nextAttemptAt attempts { at responseStatus error durationMs } } }";
const WEBHOOKS: &str = "{ webhooks { id enabled disabledReason } }";
const TICKET: &str = "query($id: ID!) { ticket(id: $id) { id userId subject status priority \
     assigneeId tags createdAt updatedAt events(limit: 100) { id kind } } }";

/// A webhook the tests registered, with its secret.
struct Hook {
    id: String,
    secret: String,
}

impl TestApp {
    /// Registers a webhook to `url` for `events` (all when empty).
    async fn hook(&self, url: &str, events: &[&str]) -> Hook {
        let reply = self
            .create_webhook(json!({ "url": url, "events": events }))
            .await
            .expect_ok();
        let created = reply.data("createWebhook");
        Hook {
            id: created["webhook"]["id"].as_str().expect("an id").to_owned(),
            secret: created["secret"].as_str().expect("a secret").to_owned(),
        }
    }

    async fn deliveries(&self, hook: &Hook) -> Vec<Value> {
        let reply = self
            .graphql(&self.webhook_admin(), DELIVERIES, json!({ "id": hook.id }))
            .await
            .expect_ok();
        reply
            .data("webhookDeliveries")
            .as_array()
            .expect("a list")
            .clone()
    }

    /// The webhook's deliveries once `done` holds of them; panics after [`WITHIN`].
    async fn deliveries_once(
        &self,
        hook: &Hook,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + WITHIN;
        loop {
            let deliveries = self.deliveries(hook).await;
            if done(&deliveries) {
                return deliveries;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {WITHIN:?}: {deliveries:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The webhook's deliveries once its first has `status`.
    async fn first_delivery_once(&self, status: &str, hook: &Hook) -> Vec<Value> {
        self.deliveries_once(hook, status, |deliveries| {
            deliveries
                .first()
                .is_some_and(|delivery| delivery["status"] == status)
        })
        .await
    }

    /// The webhook as `webhooks` lists it once `done` holds of it.
    async fn webhook_once(&self, hook: &Hook, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WITHIN;
        loop {
            let reply = self
                .graphql(&self.webhook_admin(), WEBHOOKS, json!({}))
                .await
                .expect_ok();
            let listed = reply.data("webhooks").as_array().expect("a list").clone();
            let found = listed
                .into_iter()
                .find(|webhook| webhook["id"] == hook.id.as_str())
                .expect("the webhook");
            if done(&found) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "not within {WITHIN:?}: {found:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A ticket as an admin reads it (the fields a body holds), with its events.
    async fn ticket_with_events(&self, ticket: &str) -> Value {
        let reply = self
            .graphql(&self.webhook_admin(), TICKET, json!({ "id": ticket }))
            .await
            .expect_ok();
        reply.data("ticket").clone()
    }

    /// Opens `count` tickets as carol: one TICKET_CREATED each. Their ids.
    async fn open_tickets(&self, count: usize) -> Vec<String> {
        let carol = self.customer("carol");
        let mut tickets = Vec::with_capacity(count);
        for n in 0..count {
            tickets.push(self.open_ticket(&carol, &format!("Ticket {n}")).await);
        }
        tickets
    }

    /// Every event id of the timeline, read from the table.
    async fn all_event_ids(&self) -> BTreeSet<String> {
        TicketEvent::find()
            .all(&self.db().await)
            .await
            .expect("the events")
            .into_iter()
            .map(|event| event.id.to_string())
            .collect()
    }

    async fn stored_deliveries(&self) -> Vec<webhook_delivery::Model> {
        WebhookDelivery::find()
            .all(&self.db().await)
            .await
            .expect("the deliveries")
    }

    /// Waits until the table holds `expected` deliveries, every one SUCCEEDED.
    async fn all_delivered(&self, expected: u64) {
        let deadline = Instant::now() + WITHIN;
        loop {
            let db = self.db().await;
            let written = WebhookDelivery::find().count(&db).await.expect("a count");
            let unsettled = WebhookDelivery::find()
                .filter(webhook_delivery::Column::Status.ne(WebhookDeliveryStatus::Succeeded))
                .count(&db)
                .await
                .expect("a count");
            if written == expected && unsettled == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{written} deliveries of {expected} written, {unsettled} not delivered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn statuses(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|attempt| attempt["responseStatus"].clone())
        .collect()
}

fn assert_all_genuine(secret: &str, received: &[Received]) {
    for delivery in received {
        if let Err(why) = verify(secret, delivery) {
            panic!("{why}: {delivery:#?}");
        }
    }
}

/// The body's `type` of each event kind.
fn type_of(kind: &str) -> &'static str {
    match kind {
        "TICKET_CREATED" => "ticket.created",
        "MESSAGE_ADDED" => "ticket.message_added",
        "STATUS_CHANGED" => "ticket.status_changed",
        "PRIORITY_CHANGED" => "ticket.priority_changed",
        "ASSIGNEE_CHANGED" => "ticket.assignee_changed",
        "TAGS_CHANGED" => "ticket.tags_changed",
        other => panic!("no such kind: {other}"),
    }
}

/// Medians and the slowest of some latencies, in milliseconds.
fn summary(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort();
    let ms = |latency: Duration| latency.as_secs_f64() * 1000.0;
    (
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1]),
    )
}

#[tokio::test]
async fn every_kind_of_event_arrives_signed_with_its_body() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;
    let alice = app.admin("alice");

    let ticket = app
        .open_ticket(&app.customer("carol"), "Printer on fire")
        .await;
    app.add_message(&alice, &ticket, "On our way", false)
        .await
        .expect_ok();
    app.add_message(&alice, &ticket, "Customer is a VIP", true)
        .await
        .expect_ok();
    let patch = json!({ "status": "IN_PROGRESS", "priority": "URGENT", "assigneeId": "alice", "addTags": ["vip", "billing"] });
    app.graphql(&alice, PATCH, json!({ "id": ticket, "input": patch }))
        .await
        .expect_ok();

    let received = receiver.wait_for(7, WITHIN).await;
    assert_all_genuine(&hook.secret, &received);
    let now = app.ticket_with_events(&ticket).await;
    let kinds: BTreeMap<String, String> = now["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| {
            (
                event["id"].as_str().expect("an id").to_owned(),
                event["kind"].as_str().expect("a kind").to_owned(),
            )
        })
        .collect();
    let bodies: BTreeMap<String, Value> = received
        .iter()
        .map(|delivery| (delivery.id.clone(), delivery.json()))
        .collect();
    assert_eq!(bodies.len(), 7, "each event once");
    assert_eq!(
        bodies.keys().collect::<Vec<_>>(),
        kinds.keys().collect::<Vec<_>>()
    );
    for delivery in &received {
        assert_eq!(delivery.content_type, "application/json");
        let body = &bodies[&delivery.id];
        let kind = &kinds[&delivery.id];
        assert_eq!(body["type"], type_of(kind), "{body:#}");
        assert_eq!(body["data"]["event"]["id"], delivery.id.as_str());
        assert_eq!(body["data"]["event"]["kind"], kind.as_str());
        assert_eq!(body["data"]["event"]["ticketId"], ticket.as_str());
        assert_eq!(body["timestamp"], body["data"]["event"]["createdAt"]);
    }
    let by_kind = |kind: &str| {
        bodies
            .values()
            .filter(|body| body["data"]["event"]["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    // Created: the ticket as it was opened, with its first message.
    let created = &by_kind("TICKET_CREATED")[0]["data"];
    assert_eq!(created["ticket"]["status"], "OPEN");
    assert_eq!(created["ticket"]["priority"], "NORMAL");
    assert_eq!(created["ticket"]["assigneeId"], Value::Null);
    assert_eq!(created["ticket"]["tags"], json!([]));
    assert_eq!(created["message"]["body"], "First message");
    assert_eq!(created["event"]["actorId"], "carol");
    assert_eq!(created["event"]["actorRole"], "CUSTOMER");
    // The internal note is delivered: webhooks are staff integrations.
    let messages = by_kind("MESSAGE_ADDED");
    let note = messages
        .iter()
        .find(|body| body["data"]["message"]["internal"] == true)
        .expect("the note");
    assert_eq!(note["data"]["message"]["body"], "Customer is a VIP");
    assert_eq!(note["data"]["message"]["authorRole"], "ADMIN");
    // The patch's events, each with the ticket as it stood right after it.
    let status = &by_kind("STATUS_CHANGED")[0]["data"];
    assert_eq!(status["event"]["fromStatus"], "OPEN");
    assert_eq!(status["event"]["toStatus"], "IN_PROGRESS");
    assert_eq!(status["ticket"]["status"], "IN_PROGRESS");
    assert_eq!(status["ticket"]["priority"], "NORMAL");
    let priority = &by_kind("PRIORITY_CHANGED")[0]["data"];
    assert_eq!(priority["event"]["toPriority"], "URGENT");
    assert_eq!(priority["ticket"]["priority"], "URGENT");
    assert_eq!(priority["ticket"]["assigneeId"], Value::Null);
    let assignee = &by_kind("ASSIGNEE_CHANGED")[0]["data"];
    assert_eq!(assignee["event"]["toAssigneeId"], "alice");
    assert_eq!(assignee["ticket"]["tags"], json!([]));
    let tags = &by_kind("TAGS_CHANGED")[0]["data"];
    assert_eq!(tags["event"]["addedTags"], json!(["billing", "vip"]));
    assert_eq!(tags["event"]["removedTags"], json!([]));
    // After the last event, the ticket is the API's, field for field.
    let api_ticket: serde_json::Map<String, Value> = [
        "id",
        "userId",
        "subject",
        "status",
        "priority",
        "assigneeId",
        "tags",
        "createdAt",
        "updatedAt",
    ]
    .into_iter()
    .map(|field| (field.to_owned(), now[field].clone()))
    .collect();
    assert_eq!(tags["ticket"], Value::Object(api_ticket));
}

#[tokio::test]
async fn a_server_on_an_in_memory_database_delivers_through_its_one_connection() {
    let app = spawn_app_with(|config| {
        delivering(config);
        config.database.url = "sqlite::memory:".to_owned();
    })
    .await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;

    app.open_tickets(3).await;

    let received = receiver.wait_for(3, WITHIN).await;
    assert_all_genuine(&hook.secret, &received);
    assert_eq!(ids_of(&received).len(), 3);
}

#[tokio::test]
async fn a_tampered_body_or_another_secret_fails_the_receivers_check() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;
    let other = app.hook(&receiver.url, &["TAGS_CHANGED"]).await;

    app.open_tickets(1).await;

    let delivery = receiver.wait_for(1, WITHIN).await.remove(0);
    assert_eq!(verify(&hook.secret, &delivery), Ok(()));
    let tampered = delivery.body.replacen("First message", "First massage", 1);
    assert_ne!(tampered, delivery.body);
    let check = |body: &str, id: &str| {
        verify_parts(
            &hook.secret,
            id,
            &delivery.timestamp,
            body,
            &delivery.signature,
        )
    };
    assert!(check(&tampered, &delivery.id).is_err());
    assert!(check(&delivery.body, &Uuid::now_v7().to_string()).is_err());
    assert!(verify(&other.secret, &delivery).is_err());
}

#[tokio::test]
async fn after_a_rotation_deliveries_carry_a_signature_for_each_secret() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;
    let rotated = app
        .graphql(&app.webhook_admin(), ROTATE, json!({ "id": hook.id }))
        .await
        .expect_ok();
    let new_secret = rotated.data("rotateWebhookSecret")["secret"]
        .as_str()
        .expect("a secret");

    app.open_tickets(1).await;

    let delivery = receiver.wait_for(1, WITHIN).await.remove(0);
    let signatures: Vec<&str> = delivery.signature.split(' ').collect();
    assert_eq!(signatures.len(), 2, "{}", delivery.signature);
    let valid = |secret: &str, signature: &str| {
        verify_parts(
            secret,
            &delivery.id,
            &delivery.timestamp,
            &delivery.body,
            signature,
        )
        .is_ok()
    };
    assert!(valid(new_secret, signatures[0]) && !valid(&hook.secret, signatures[0]));
    assert!(valid(&hook.secret, signatures[1]) && !valid(new_secret, signatures[1]));
    assert_eq!(verify(new_secret, &delivery), Ok(()));
    assert_eq!(verify(&hook.secret, &delivery), Ok(()));
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_then_succeeds_gets_the_delivery() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::FailFirst(3)).await;
    let hook = app.hook(&receiver.url, &[]).await;

    app.open_tickets(1).await;

    let deliveries = app
        .deliveries_once(&hook, "delivered", |deliveries| {
            deliveries.len() == 1 && deliveries[0]["status"] == "SUCCEEDED"
        })
        .await;
    assert_eq!(
        statuses(&deliveries[0]),
        [json!(500), json!(500), json!(500), json!(204)]
    );
    let attempts = deliveries[0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts[0]["error"], "not yet");
    assert_eq!(attempts[3]["error"], Value::Null);
    assert_eq!(deliveries[0]["nextAttemptAt"], Value::Null);
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    assert_all_genuine(&hook.secret, &received);
    assert!(
        received
            .iter()
            .all(|attempt| attempt.id == received[0].id && attempt.body == received[0].body)
    );
}

#[tokio::test]
async fn a_receiver_down_while_events_are_written_gets_them_all_afterwards() {
    let app = spawn_app_with(|config| {
        delivering(config);
        config.webhooks.delivery.retry_delays = vec![Duration::from_millis(300); 30];
    })
    .await;
    let address = vacant_address();
    let hook = app.hook(&format!("http://{address}/hooks"), &[]).await;

    app.open_tickets(5).await;
    app.deliveries_once(&hook, "every delivery failed once", |deliveries| {
        deliveries.len() == 5
            && deliveries.iter().all(|delivery| {
                delivery["status"] == "PENDING"
                    && delivery["attempts"][0]["error"]
                        .as_str()
                        .is_some_and(|error| error.starts_with("could not connect"))
            })
    })
    .await;
    let receiver = Receiver::start_at(address, Behaviour::Accept).await;

    let expected = app.all_event_ids().await;
    receiver
        .wait_until(WITHIN, "every event", |received| {
            ids_of(received) == expected
        })
        .await;
    assert_all_genuine(&hook.secret, &receiver.received());
}

#[tokio::test]
async fn a_restart_of_the_server_mid_backlog_loses_no_event() {
    let receiver = Receiver::start(Behaviour::Held).await;
    // Held attempts time out and are retried: enough retries to outlast the restart.
    let retries = vec!["200ms"; 30].join(",");
    let settings = with(&[("WEBHOOK_RETRY_DELAYS", &retries)]);
    let (app, mut server) = spawn_server(&settings).await;
    let hook = app.hook(&receiver.url, &[]).await;
    app.open_tickets(30).await;
    receiver.release(10);
    receiver.wait_for(14, WITHIN).await;

    server.signal("TERM");
    server.assert_exits_0_within(Duration::from_secs(10)).await;
    let (app, _restarted) = spawn_server_over(&app, &settings).await;
    receiver.release(1_000);

    let expected = app.all_event_ids().await;
    assert_eq!(expected.len(), 30);
    receiver
        .wait_until(WITHIN, "every event", |received| {
            ids_of(received) == expected
        })
        .await;
    app.all_delivered(30).await;
    assert_all_genuine(&hook.secret, &receiver.received());
}

#[tokio::test]
async fn attempts_in_flight_at_shutdown_finish_within_the_grace() {
    let receiver = Receiver::start(Behaviour::Held).await;
    let (app, mut server) = spawn_server(&with(&[("WEBHOOK_TIMEOUT_SECONDS", "5")])).await;
    app.hook(&receiver.url, &[]).await;
    app.open_tickets(1).await;
    receiver.wait_for(1, WITHIN).await;

    server.signal("INT");
    tokio::time::sleep(Duration::from_millis(200)).await;
    receiver.release(1);
    server.assert_exits_0_within(Duration::from_secs(10)).await;

    let delivery = app.stored_deliveries().await.remove(0);
    assert_eq!(delivery.status, WebhookDeliveryStatus::Succeeded);
    let attempts = WebhookAttempt::find()
        .all(&app.db().await)
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].response_status, Some(204));
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn attempts_still_running_past_the_grace_are_given_back_at_shutdown() {
    let receiver = Receiver::start(Behaviour::Held).await;
    let (app, mut server) = spawn_server(&with(&[("WEBHOOK_TIMEOUT_SECONDS", "30")])).await;
    app.hook(&receiver.url, &[]).await;
    app.open_tickets(1).await;
    receiver.wait_for(1, WITHIN).await;

    server.signal("INT");
    server.assert_exits_0_within(Duration::from_secs(10)).await;

    let delivery = app.stored_deliveries().await.remove(0);
    assert_eq!(delivery.status, WebhookDeliveryStatus::Pending);
    assert_eq!(delivery.lease_until, None);
    assert!(
        delivery
            .next_attempt_at
            .is_some_and(|due| due <= Utc::now())
    );
    assert!(
        server.log().contains("their deliveries are due again"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_webhook_created_after_an_event_does_not_get_it() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let before = app.open_tickets(1).await.remove(0);
    let hook = app.hook(&receiver.url, &[]).await;

    let after = app.open_tickets(1).await.remove(0);

    let received = receiver.wait_for(1, WITHIN).await;
    assert_eq!(received[0].json()["data"]["ticket"]["id"], after.as_str());
    let deliveries = app.deliveries(&hook).await;
    assert_eq!(deliveries.len(), 1);
    let earlier = app.ticket_with_events(&before).await;
    assert_ne!(deliveries[0]["eventId"], earlier["events"][0]["id"]);
}

#[tokio::test]
async fn a_webhook_gets_only_the_kinds_it_asked_for() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &["STATUS_CHANGED"]).await;
    let alice = app.admin("alice");

    for ticket in app.open_tickets(2).await {
        app.add_message(&alice, &ticket, "Looking", false)
            .await
            .expect_ok();
        app.set_status(&alice, &ticket, "IN_PROGRESS")
            .await
            .expect_ok();
    }

    let received = receiver.wait_for(2, WITHIN).await;
    assert!(
        received
            .iter()
            .all(|delivery| delivery.json()["type"] == "ticket.status_changed")
    );
    let deliveries = app.deliveries(&hook).await;
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    assert!(
        deliveries
            .iter()
            .all(|delivery| delivery["eventKind"] == "STATUS_CHANGED")
    );
}

#[tokio::test]
async fn redeliver_queues_one_more_attempt() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;
    app.open_tickets(1).await;
    let delivered = app.first_delivery_once("SUCCEEDED", &hook).await;

    let requeued = app
        .graphql(
            &app.webhook_admin(),
            REDELIVER,
            json!({ "id": delivered[0]["id"] }),
        )
        .await
        .expect_ok();
    assert_eq!(requeued.data("redeliverWebhook")["status"], "PENDING");

    let received = receiver.wait_for(2, WITHIN).await;
    assert_eq!(received[0].id, received[1].id);
    assert_eq!(received[0].body, received[1].body);
    assert_all_genuine(&hook.secret, &received);
    let deliveries = app
        .deliveries_once(&hook, "delivered again", |deliveries| {
            deliveries[0]["status"] == "SUCCEEDED" && statuses(&deliveries[0]).len() == 2
        })
        .await;
    assert_eq!(deliveries.len(), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_fails_the_attempt() {
    let app = spawn_delivering_app().await;
    let inside = Receiver::start(Behaviour::Accept).await;
    let receiver = Receiver::start(Behaviour::RedirectTo(inside.url.clone())).await;
    let hook = app.hook(&receiver.url, &[]).await;

    app.open_tickets(1).await;

    let deliveries = app.first_delivery_once("FAILED", &hook).await;
    let attempts = deliveries[0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), QUICK_RETRIES.len() + 1);
    for attempt in attempts {
        assert_eq!(attempt["responseStatus"], 302);
        assert!(
            attempt["error"]
                .as_str()
                .is_some_and(|error| error.contains("redirects are not followed"))
        );
    }
    assert!(inside.received().is_empty());
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_at_the_attempt() {
    // Private networks are not allowed: the webhook, written behind the server's back,
    // points where `createWebhook` would have refused.
    let app = spawn_app_with(|config| {
        delivering(config);
        config.webhooks.allow_private_networks = false;
    })
    .await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let db = app.db().await;
    let id = Uuid::now_v7();
    let secret = WebhookSecret::generate().expect("a secret");
    let url = receiver.url.replace("127.0.0.1", "localhost");
    insert_webhook(
        &db,
        NewWebhook {
            id,
            url,
            events: String::new(),
            description: None,
            enabled: true,
            secret: SecretVault::new(None)
                .seal(&db, id, &secret)
                .await
                .expect("sealed"),
            at: Utc::now(),
        },
    )
    .await
    .expect("a webhook");
    let hook = Hook {
        id: id.to_string(),
        secret: secret.to_text(),
    };

    app.open_tickets(1).await;

    let deliveries = app
        .deliveries_once(&hook, "an attempt", |deliveries| {
            deliveries
                .first()
                .is_some_and(|delivery| !statuses(delivery).is_empty())
        })
        .await;
    let attempt = &deliveries[0]["attempts"][0];
    assert_eq!(attempt["responseStatus"], Value::Null);
    let error = attempt["error"].as_str().expect("an error");
    assert!(error.starts_with("localhost resolves to "), "{error}");
    assert!(error.contains("not a public address"), "{error}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_410_disables_the_webhook_saying_why() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Status(410)).await;
    let hook = app.hook(&receiver.url, &[]).await;

    app.open_tickets(1).await;

    let disabled = app
        .webhook_once(&hook, |webhook| webhook["enabled"] == false)
        .await;
    assert_eq!(disabled["disabledReason"], "The receiver answered 410 Gone");
    let deliveries = app.deliveries(&hook).await;
    assert_eq!(statuses(&deliveries[0]), [json!(410)]);
}

#[tokio::test]
async fn a_failure_after_five_days_of_failures_disables_the_webhook() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Status(503)).await;
    let hook = app.hook(&receiver.url, &[]).await;
    Webhook::update(webhook::ActiveModel {
        id: Set(Uuid::parse_str(&hook.id).expect("a uuid")),
        failing_since: Set(Some(
            Utc::now() - TimeDelta::days(5) - TimeDelta::minutes(1),
        )),
        ..Default::default()
    })
    .exec(&app.db().await)
    .await
    .expect("failing for five days");

    app.open_tickets(1).await;

    let disabled = app
        .webhook_once(&hook, |webhook| webhook["enabled"] == false)
        .await;
    assert_eq!(
        disabled["disabledReason"],
        "Every delivery failed for 5 days"
    );
}

#[tokio::test]
async fn a_webhook_failing_for_less_than_five_days_stays_enabled() {
    let app = spawn_delivering_app().await;
    let receiver = Receiver::start(Behaviour::Status(503)).await;
    let hook = app.hook(&receiver.url, &[]).await;

    app.open_tickets(1).await;

    app.first_delivery_once("FAILED", &hook).await;
    let listed = app.webhook_once(&hook, |_| true).await;
    assert_eq!(listed["enabled"], true);
    assert_eq!(listed["disabledReason"], Value::Null);
}

#[tokio::test]
async fn attempts_and_pending_deliveries_are_in_the_metrics() {
    let app = spawn_app_with(|config| {
        delivering(config);
        config.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
    })
    .await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;
    app.open_tickets(1).await;
    app.first_delivery_once("SUCCEEDED", &hook).await;

    let scrape = crate::prometheus::scrape(app.metrics_address.as_deref().expect("metrics")).await;

    let succeeded = scrape.value(
        "supportdesk_webhook_deliveries_total",
        &[("outcome", "succeeded")],
    );
    assert!(succeeded.is_some_and(|count| count >= 1.0), "{succeeded:?}");
    let timed = scrape.value("supportdesk_webhook_attempt_duration_seconds_count", &[]);
    assert!(timed.is_some_and(|count| count >= 1.0), "{timed:?}");
    assert_eq!(
        scrape.value("supportdesk_webhook_deliveries_pending", &[]),
        Some(0.0)
    );
}

/// How long after its event was written the healthy receiver got each of `tickets`
/// new tickets, written one after another.
async fn healthy_latencies(app: &TestApp, healthy: &Receiver, tickets: usize) -> Vec<Duration> {
    let carol = app.customer("carol");
    let mut latencies = Vec::with_capacity(tickets);
    for n in 0..tickets {
        let written = Instant::now();
        let ticket = app.open_ticket(&carol, &format!("Measured {n}")).await;
        let received = healthy
            .wait_until(WITHIN, "the healthy delivery", |received| {
                received
                    .iter()
                    .any(|r| r.json()["data"]["ticket"]["id"] == ticket.as_str())
            })
            .await;
        let arrived = received
            .iter()
            .find(|r| r.json()["data"]["ticket"]["id"] == ticket.as_str())
            .expect("arrived")
            .at;
        latencies.push(arrived.saturating_duration_since(written));
    }
    latencies
}

#[tokio::test]
async fn slow_and_hostile_receivers_do_not_slow_a_healthy_one() {
    let app = spawn_delivering_app().await;
    let healthy = Receiver::start(Behaviour::Accept).await;
    app.hook(&healthy.url, &[]).await;
    let mut alone = healthy_latencies(&app, &healthy, 20).await;

    let silent = Receiver::start(Behaviour::Hang).await;
    let endless = Receiver::start(Behaviour::EndlessBody).await;
    let failing = Receiver::start(Behaviour::Status(500)).await;
    for hostile in [&silent, &endless, &failing] {
        app.hook(&hostile.url, &[]).await;
    }
    // Every hostile receiver's share of places taken before measuring.
    app.open_tickets(8).await;
    silent.wait_for(4, WITHIN).await;
    let mut beside = healthy_latencies(&app, &healthy, 20).await;

    let (alone_median, alone_max) = summary(&mut alone);
    let (beside_median, beside_max) = summary(&mut beside);
    println!(
        "healthy receiver's latency: alone median {alone_median:.1} ms, slowest {alone_max:.1} ms; \
         beside a silent, an endless and a failing receiver median {beside_median:.1} ms, slowest {beside_max:.1} ms"
    );
    assert!(
        silent.received().len() >= 4
            && !endless.received().is_empty()
            && !failing.received().is_empty()
    );
    // The silent receiver holds its attempts for the whole timeout (2 s): waiting behind
    // it would show as seconds.
    assert!(beside_max < 1_000.0, "slowest {beside_max:.1} ms");
    assert!(
        beside_median < alone_median * 5.0 + 100.0,
        "median {beside_median:.1} ms against {alone_median:.1} ms"
    );
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn two_instances_make_each_attempt_once() {
    required_postgres_server_url();
    let app = spawn_delivering_app().await;
    let other = spawn_another_instance(&app, delivering).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let hook = app.hook(&receiver.url, &[]).await;

    for instance in [&app, &other, &app, &other] {
        instance.open_tickets(10).await;
    }

    let expected = app.all_event_ids().await;
    assert_eq!(expected.len(), 40);
    app.all_delivered(40).await;
    let received = receiver.received();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for delivery in &received {
        *times.entry(delivery.id.clone()).or_default() += 1;
    }
    assert_eq!(times.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(times.values().all(|&count| count == 1), "{times:?}");
    assert_all_genuine(&hook.secret, &received);
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn an_instance_killed_mid_attempt_leaves_the_delivery_to_another() {
    required_postgres_server_url();
    let receiver = Receiver::start(Behaviour::Held).await;
    let (app, killed) = spawn_server(&DELIVERING).await;
    let hook = app.hook(&receiver.url, &[]).await;
    app.open_tickets(1).await;
    receiver.wait_for(1, WITHIN).await;
    let other = spawn_another_instance(&app, delivering).await;

    killed.signal("KILL");
    receiver.set_behaviour(Behaviour::Accept);

    let received = receiver.wait_for(2, WITHIN).await;
    assert_eq!(received[0].id, received[1].id);
    let deliveries = other
        .deliveries_once(&hook, "delivered", |deliveries| {
            deliveries[0]["status"] == "SUCCEEDED"
        })
        .await;
    // The killed instance recorded nothing; the other made the one attempt recorded.
    assert_eq!(statuses(&deliveries[0]), [json!(204)]);
}
