//! Subscriptions to the ticket timeline, over a real WebSocket: who receives what, the
//! errors, and nothing lost across a dropped socket or another instance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, User, required_postgres_server_url, spawn_another_instance, spawn_app, spawn_app_with,
};
use crate::proxy::{TcpProxy, postgres_host_port};
use crate::socket::{Received, Socket};

const TICKET_EVENTS: &str = "subscription($id: ID!, $after: ID) {
    ticketEvents(ticketId: $id, after: $after) {
        id kind actorRole message { body internal } fromStatus toStatus ticket { id status }
    }
}";

/// Only what the instance's reader hands on with each event: nothing else is read per
/// delivery.
const EVENTS_WITH_MESSAGES: &str = "subscription($id: ID!, $after: ID) {
    ticketEvents(ticketId: $id, after: $after) { id message { body } }
}";

const FEED: &str = "subscription($status: TicketStatus, $after: ID) {
    ticketFeed(status: $status, after: $after) { id kind ticketId message { body internal } }
}";

/// The next event delivered for subscription `id`.
async fn next_event(socket: &mut Socket, id: &str, field: &str) -> Value {
    let payload = socket.next_payload(id).await;
    assert!(payload.get("errors").is_none(), "{payload:#}");
    payload["data"][field].clone()
}

/// The id of the newest event of `ticket` as `user` sees it: a subscription `after` it
/// receives exactly what is written from now on, however long it takes to start.
async fn newest_event(app: &TestApp, user: &User, ticket: &str) -> Value {
    let events = event_ids_after(app, user, ticket, &Value::Null).await;
    events.last().cloned().expect("the ticket's first event")
}

/// The ids of the first 100 of `ticket`'s events after `after` (from its first when
/// null), as `user` sees them.
async fn event_ids_after(app: &TestApp, user: &User, ticket: &str, after: &Value) -> Vec<Value> {
    let reply = app
        .graphql(
            user,
            "query($id: ID!, $after: ID) { ticket(id: $id) { events(after: $after, limit: 100) { id } } }",
            json!({ "id": ticket, "after": after }),
        )
        .await
        .expect_ok();
    let events = reply.data("ticket")["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    events
        .into_iter()
        .map(|event| event["id"].clone())
        .collect()
}

/// `user` subscribed, as operation "1", to `ticket`'s events after `after` through
/// `document`.
async fn subscribed_after(
    app: &TestApp,
    user: &User,
    document: &str,
    ticket: &str,
    after: &Value,
) -> Socket {
    let mut socket = Socket::signed_in(app, Some(&user.token)).await;
    socket
        .subscribe("1", document, json!({ "id": ticket, "after": after }))
        .await;
    socket
}

/// `user` subscribed to `ticket`'s events after its newest one.
async fn subscribe_to_ticket(app: &TestApp, user: &User, ticket: &str) -> Socket {
    let after = newest_event(app, user, ticket).await;
    subscribed_after(app, user, TICKET_EVENTS, ticket, &after).await
}

#[tokio::test]
async fn a_customer_gets_an_admins_reply_and_never_an_internal_note() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let mut socket = subscribe_to_ticket(&app, &alice, &ticket).await;

    app.add_message(&root, &ticket, "Looking into it (internal)", true)
        .await
        .expect_ok();
    app.add_message(&root, &ticket, "We are on it", false)
        .await
        .expect_ok();

    let event = next_event(&mut socket, "1", "ticketEvents").await;
    assert_eq!(event["kind"], "MESSAGE_ADDED");
    assert_eq!(event["message"]["body"], "We are on it");
    assert_eq!(event["actorRole"], "ADMIN");
}

#[tokio::test]
async fn an_admins_feed_gets_internal_notes_and_replies() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let after = newest_event(&app, &root, &ticket).await;
    let mut socket = Socket::signed_in(&app, Some(&root.token)).await;
    socket
        .subscribe("feed", FEED, json!({ "after": after }))
        .await;

    app.add_message(&root, &ticket, "Internal", true)
        .await
        .expect_ok();
    app.add_message(&root, &ticket, "Public", false)
        .await
        .expect_ok();

    let first = next_event(&mut socket, "feed", "ticketFeed").await;
    let second = next_event(&mut socket, "feed", "ticketFeed").await;
    assert_eq!(
        first["message"],
        json!({ "body": "Internal", "internal": true })
    );
    assert_eq!(
        second["message"],
        json!({ "body": "Public", "internal": false })
    );
}

#[tokio::test]
async fn a_status_change_reaches_the_feed_filtered_by_that_status() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    app.set_status(&root, &ticket, "RESOLVED").await.expect_ok();
    let resolved = newest_event(&app, &root, &ticket).await;
    let mut socket = Socket::signed_in(&app, Some(&root.token)).await;
    socket
        .subscribe(
            "feed",
            FEED,
            json!({ "status": "RESOLVED", "after": resolved }),
        )
        .await;

    app.set_status(&root, &ticket, "IN_PROGRESS")
        .await
        .expect_ok();
    app.set_status(&root, &ticket, "RESOLVED").await.expect_ok();

    let event = next_event(&mut socket, "feed", "ticketFeed").await;
    assert_eq!(event["kind"], "STATUS_CHANGED");
    assert_ne!(event["id"], resolved);
    assert_eq!(event["ticketId"], ticket.as_str());
}

#[tokio::test]
async fn a_customers_feed_holds_only_their_own_tickets() {
    let app = spawn_app().await;
    let (alice, bob) = (app.customer("alice"), app.customer("bob"));
    let first = app.open_ticket(&alice, "Printer on fire").await;
    let after = newest_event(&app, &alice, &first).await;
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    socket
        .subscribe("feed", FEED, json!({ "after": after }))
        .await;

    app.open_ticket(&bob, "Printer on fire").await;
    let own = app.open_ticket(&alice, "Printer on fire").await;

    let event = next_event(&mut socket, "feed", "ticketFeed").await;
    assert_eq!(event["ticketId"], own.as_str());
}

/// The first answer to subscription `id`: its first error's code, if it failed.
async fn error_of(socket: &mut Socket, id: &str) -> (Option<String>, Option<String>) {
    let message = match socket.receive().await {
        Received::Json(message) => message,
        other => panic!("expected an answer, got {other:?}"),
    };
    assert_eq!(message["id"], id);
    let error = match message["type"].as_str() {
        Some("error") => message["payload"][0].clone(),
        _ => message["payload"]["errors"][0].clone(),
    };
    (
        error["extensions"]["code"].as_str().map(str::to_owned),
        error["extensions"]["field"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn another_customers_ticket_is_not_found() {
    let app = spawn_app().await;
    let ticket = app
        .open_ticket(&app.customer("alice"), "Printer on fire")
        .await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("bob").token)).await;
    socket
        .subscribe("1", TICKET_EVENTS, json!({ "id": ticket }))
        .await;

    assert_eq!(
        error_of(&mut socket, "1").await.0.as_deref(),
        Some("NOT_FOUND")
    );
}

#[tokio::test]
async fn a_ticket_that_does_not_exist_is_not_found() {
    let app = spawn_app().await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("alice").token)).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    socket
        .subscribe("1", TICKET_EVENTS, json!({ "id": unknown }))
        .await;

    assert_eq!(
        error_of(&mut socket, "1").await.0.as_deref(),
        Some("NOT_FOUND")
    );
}

#[tokio::test]
async fn a_subscription_without_a_token_is_unauthenticated() {
    let app = spawn_app().await;
    let ticket = app
        .open_ticket(&app.customer("alice"), "Printer on fire")
        .await;
    let mut socket = Socket::signed_in(&app, None).await;

    socket
        .subscribe("1", TICKET_EVENTS, json!({ "id": ticket }))
        .await;

    assert_eq!(
        error_of(&mut socket, "1").await.0.as_deref(),
        Some("UNAUTHENTICATED")
    );
}

#[tokio::test]
async fn after_naming_an_internal_note_is_bad_input_for_a_customer() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    app.add_message(&root, &ticket, "Internal", true)
        .await
        .expect_ok();
    let timeline = app
        .graphql(
            &root,
            "query($id: ID!) { ticket(id: $id) { events { id kind message { internal } } } }",
            json!({ "id": ticket }),
        )
        .await
        .expect_ok();
    let internal = timeline.data("ticket")["events"]
        .as_array()
        .and_then(|events| {
            events
                .iter()
                .find(|event| event["message"]["internal"] == true)
        })
        .expect("the note's event")["id"]
        .clone();
    let mut socket = subscribed_after(&app, &alice, TICKET_EVENTS, &ticket, &internal).await;

    assert_eq!(
        error_of(&mut socket, "1").await,
        (Some("BAD_USER_INPUT".into()), Some("after".into()))
    );
}

#[tokio::test]
async fn operations_past_the_limit_of_a_socket_are_refused() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_subscriptions = 2).await;
    let alice = app.customer("alice");
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let mut socket = subscribe_to_ticket(&app, &alice, &ticket).await;
    socket
        .subscribe("2", TICKET_EVENTS, json!({ "id": ticket }))
        .await;

    socket
        .subscribe("3", TICKET_EVENTS, json!({ "id": ticket }))
        .await;

    assert_eq!(
        error_of(&mut socket, "3").await.0.as_deref(),
        Some("TOO_MANY_SUBSCRIPTIONS")
    );
}

#[tokio::test]
async fn resuming_after_a_dropped_socket_loses_nothing() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let mut socket = subscribe_to_ticket(&app, &alice, &ticket).await;
    app.add_message(&root, &ticket, "One", false)
        .await
        .expect_ok();
    let seen = next_event(&mut socket, "1", "ticketEvents").await["id"].clone();
    drop(socket);

    app.add_message(&root, &ticket, "Two", false)
        .await
        .expect_ok();
    app.add_message(&alice, &ticket, "Three", false)
        .await
        .expect_ok();
    let mut socket = subscribed_after(&app, &alice, TICKET_EVENTS, &ticket, &seen).await;

    let bodies = [
        next_event(&mut socket, "1", "ticketEvents").await["message"]["body"].clone(),
        next_event(&mut socket, "1", "ticketEvents").await["message"]["body"].clone(),
    ];
    assert_eq!(bodies, [json!("Two"), json!("Three")]);
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn a_subscriber_on_one_instance_gets_events_written_through_another() {
    required_postgres_server_url();
    let first = spawn_app().await;
    let second = spawn_another_instance(&first, |_| {}).await;
    let (alice, root) = (first.customer("alice"), first.admin("root"));
    let ticket = first.open_ticket(&alice, "Printer on fire").await;
    let after = newest_event(&second, &alice, &ticket).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut socket = subscribed_after(&second, &alice, EVENTS_WITH_MESSAGES, &ticket, &after).await;
    // Delivered: the subscription is live before the cut.
    first
        .add_message(&root, &ticket, "Zero", false)
        .await
        .expect_ok();
    let zero = next_event(&mut socket, "1", "ticketEvents").await;
    assert_eq!(zero["message"]["body"], "Zero");

    first
        .add_message(&root, &ticket, "From the other instance", false)
        .await
        .expect_ok();

    let event = next_event(&mut socket, "1", "ticketEvents").await;
    assert_eq!(event["message"]["body"], "From the other instance");
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn events_written_while_the_listener_is_cut_off_are_all_delivered() {
    let server_url = required_postgres_server_url();
    let first = spawn_app().await;
    let proxy = TcpProxy::start(&postgres_host_port(&server_url)).await;
    let second = spawn_another_instance(&first, |config| {
        config.database.url = proxy.url_for(&config.database.url);
    })
    .await;
    let (alice, root) = (first.customer("alice"), first.admin("root"));
    let ticket = first.open_ticket(&alice, "Printer on fire").await;
    let after = newest_event(&second, &alice, &ticket).await;
    // Only what comes with the events: what is tested is the delivery alone, not a read on
    // a connection the cut broke.
    let mut socket = subscribed_after(&second, &alice, EVENTS_WITH_MESSAGES, &ticket, &after).await;
    // Delivered: the subscription has started before the cut.
    first
        .add_message(&root, &ticket, "Zero", false)
        .await
        .expect_ok();
    let zero = next_event(&mut socket, "1", "ticketEvents").await;
    assert_eq!(zero["message"]["body"], "Zero");

    proxy.cut();
    for body in ["One", "Two", "Three"] {
        first
            .add_message(&root, &ticket, body, false)
            .await
            .expect_ok();
    }
    proxy.restore();

    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(next_event(&mut socket, "1", "ticketEvents").await["message"]["body"].clone());
    }
    assert_eq!(bodies, [json!("One"), json!("Two"), json!("Three")]);
}

#[tokio::test]
async fn a_legacy_graphql_ws_client_receives_events_too() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let after = newest_event(&app, &alice, &ticket).await;
    let mut socket = Socket::open_with(&app, "graphql-ws", &[]).await;
    socket.init(Some(&alice.token)).await;
    assert!(
        matches!(socket.receive().await, Received::Json(ack) if ack["type"] == "connection_ack")
    );
    socket
        .send(json!({
            "id": "1",
            "type": "start",
            "payload": {
                "query": TICKET_EVENTS,
                "variables": { "id": ticket, "after": after },
            },
        }))
        .await;

    app.add_message(&root, &ticket, "Old clients too", false)
        .await
        .expect_ok();

    let delivered = loop {
        match socket.receive().await {
            Received::Json(message) if message["type"] == "data" => break message,
            Received::Json(_) => {}
            Received::Closed(code) => panic!("closed with {code:?}"),
        }
    };
    assert_eq!(
        delivered["payload"]["data"]["ticketEvents"]["message"]["body"],
        "Old clients too"
    );
}

#[tokio::test]
async fn an_operation_id_written_with_escapes_still_counts_against_the_socket() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_subscriptions = 2).await;
    let alice = app.customer("alice");
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let mut socket = subscribe_to_ticket(&app, &alice, &ticket).await;
    socket
        .subscribe("2", TICKET_EVENTS, json!({ "id": ticket }))
        .await;
    let payload = json!({ "query": TICKET_EVENTS, "variables": { "id": ticket } });

    // "\u0033" is "3": the same id to async-graphql, however the JSON spells it.
    socket
        .send_text(format!(
            r#"{{"id":"\u0033","type":"subscribe","payload":{payload}}}"#
        ))
        .await;

    assert_eq!(
        error_of(&mut socket, "3").await.0.as_deref(),
        Some("TOO_MANY_SUBSCRIPTIONS")
    );
}

/// The ids of `ticket`'s events after `after`, up to and with `last`, as `user` sees them.
async fn event_ids_between(
    app: &TestApp,
    user: &User,
    ticket: &str,
    after: &Value,
    last: &Value,
) -> Vec<Value> {
    let (mut ids, mut cursor) = (Vec::new(), after.clone());
    while ids.last() != Some(last) {
        let page = event_ids_after(app, user, ticket, &cursor).await;
        assert!(!page.is_empty(), "the table ends before {last}");
        for id in page {
            cursor = id;
            ids.push(cursor.clone());
            if &cursor == last {
                break;
            }
        }
    }
    ids
}

/// While no one subscribes, the instance passes the new events by unread; a subscriber
/// that comes meanwhile, at any point of that, must still get every event after where it
/// resumes. Each round resumes where the last left off while others keep writing, waits
/// for the event of a message it wrote itself, and compares what came with the table.
#[tokio::test]
async fn subscribers_that_come_and_go_while_others_write_miss_no_event() {
    const ROUNDS: usize = 20;
    let app = spawn_app_with(|config| {
        config.http.mutation_rate_limit.burst = 100_000;
        config.http.mutation_rate_limit.per_second = 10_000.0;
    })
    .await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let ticket = app.open_ticket(&alice, "Printer on fire").await;
    let writing = AtomicBool::new(true);
    let write = |body: &'static str| {
        let (app, root, ticket, writing) = (&app, &root, &ticket, &writing);
        async move {
            while writing.load(Ordering::Relaxed) {
                app.add_message(root, ticket, body, false).await.expect_ok();
                // Enough writes to overlap every step of a subscriber's start, few enough
                // that each round's subscriber soon has all of them read.
                let pause = rand::thread_rng().gen_range(5..25);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    };
    let subscribe_in_rounds = async {
        let mut last = newest_event(&app, &alice, &ticket).await;
        for round in 0..ROUNDS {
            let mut socket =
                subscribed_after(&app, &alice, EVENTS_WITH_MESSAGES, &ticket, &last).await;
            let pause = rand::thread_rng().gen_range(0..50);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let mark = format!("Round {round}");
            app.add_message(&root, &ticket, &mark, false)
                .await
                .expect_ok();
            let mut delivered = Vec::new();
            loop {
                let event = next_event(&mut socket, "1", "ticketEvents").await;
                delivered.push(event["id"].clone());
                if event["message"]["body"] == mark.as_str() {
                    break;
                }
            }
            drop(socket);
            let written = event_ids_between(
                &app,
                &alice,
                &ticket,
                &last,
                delivered.last().expect("the mark"),
            )
            .await;
            assert_eq!(delivered, written, "round {round} after {last}");
            last = written.last().cloned().expect("the mark");
            let pause = rand::thread_rng().gen_range(0..20);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        writing.store(false, Ordering::Relaxed);
    };
    tokio::join!(subscribe_in_rounds, write("Busy"), write("Busier"));
}
