//! The ceilings of the live surfaces, tried as an attacker would: frames of every kind,
//! sockets that never sign in, and subscriptions that read without end.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, User, spawn_app, spawn_app_with};
use crate::prometheus::scrape;
use crate::server_process::{ServerProcess, free_port, spawn_server};
use crate::socket::{PROTOCOLS, Received, Socket, acknowledged, code_of, refusal_code, start};

const FEED: &str = "subscription { ticketFeed { id } }";

/// A socket speaking `protocol`, acknowledged, as `user`.
async fn signed_in(app: &TestApp, protocol: &str, user: &User) -> Socket {
    acknowledged(app, protocol, Some(&user.token)).await
}

#[tokio::test]
async fn a_binary_frame_closes_the_socket_with_1003_over_both_protocols() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    for protocol in PROTOCOLS {
        let mut socket = signed_in(&app, protocol, &alice).await;

        socket
            .send_binary(start(protocol, "1", "{ me { id } }"))
            .await;

        assert_eq!(socket.close_code().await, Some(1003), "{protocol}");
    }
}

#[tokio::test]
async fn binary_frames_mixed_with_text_never_pass_the_operation_cap() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_subscriptions = 2).await;
    let alice = app.customer("alice");
    for protocol in PROTOCOLS {
        let mut socket = signed_in(&app, protocol, &alice).await;
        socket.send(start(protocol, "1", FEED)).await;
        socket.send(start(protocol, "2", FEED)).await;

        socket.send_binary(start(protocol, "3", FEED)).await;

        assert_eq!(socket.close_code().await, Some(1003), "{protocol}");
    }
}

#[tokio::test]
async fn a_fragmented_message_counts_against_the_operation_cap() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_subscriptions = 1).await;
    let alice = app.customer("alice");
    let mut socket = signed_in(&app, "graphql-transport-ws", &alice).await;
    socket.send(start("graphql-transport-ws", "1", FEED)).await;

    socket
        .send_fragmented(start("graphql-transport-ws", "2", FEED))
        .await;

    assert_eq!(refusal_code(&mut socket).await, "TOO_MANY_SUBSCRIPTIONS");
}

#[tokio::test]
async fn a_fragmented_message_past_the_size_limit_closes_the_socket() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_message_bytes = 1024).await;
    let alice = app.customer("alice");
    let mut socket = signed_in(&app, "graphql-transport-ws", &alice).await;
    let padded = format!("{{ me {{ id }} }} #{}", "x".repeat(2048));

    socket
        .send_fragmented(start("graphql-transport-ws", "1", &padded))
        .await;

    assert_eq!(socket.close_code().await, Some(1009));
}

#[tokio::test]
async fn anonymous_sockets_past_their_pool_are_closed_with_4429_over_both_protocols() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_anonymous_sockets = 1).await;
    let _first = Socket::signed_in(&app, None).await;
    for protocol in PROTOCOLS {
        let mut socket = Socket::open_with(&app, protocol, &[]).await;

        socket.init(None).await;

        assert_eq!(socket.close_code().await, Some(4429), "{protocol}");
    }
}

#[tokio::test]
async fn seventy_anonymous_sockets_leave_room_for_signed_in_sockets_and_http() {
    let app = spawn_app().await;
    let mut anonymous = Vec::new();
    let mut refused = 0;
    for _ in 0..70 {
        let mut socket = Socket::open_with(&app, "graphql-transport-ws", &[]).await;
        socket.init(None).await;
        match socket.receive().await {
            Received::Json(message) if message["type"] == "connection_ack" => {
                anonymous.push(socket);
            }
            Received::Closed(Some(4429)) => refused += 1,
            other => panic!("{other:?}"),
        }
    }

    let alice = app.customer("alice");
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    socket.subscribe("1", "{ me { id } }", json!({})).await;

    assert_eq!((anonymous.len(), refused), (64, 6));
    assert_eq!(socket.next_payload("1").await["data"]["me"]["id"], "alice");
    app.me(&alice.token).await.expect_ok();
}

#[tokio::test]
async fn an_anonymous_socket_is_closed_at_the_init_timeout_whatever_it_does() {
    let app = spawn_app_with(|config| {
        config.http.socket_limits.init_timeout = Duration::from_millis(800);
    })
    .await;
    for protocol in PROTOCOLS {
        let mut socket = acknowledged(&app, protocol, None).await;
        let opened = Instant::now();

        let closed = loop {
            if !socket
                .try_send(start(protocol, "1", "{ __typename }"))
                .await
            {
                break socket.close_code().await;
            }
            match socket.receive().await {
                Received::Closed(code) => break code,
                Received::Json(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };

        assert_eq!(closed, Some(4408), "{protocol}");
        assert!(opened.elapsed() < Duration::from_secs(5), "{protocol}");
    }
}

#[tokio::test]
async fn a_signed_in_socket_outlives_the_init_timeout() {
    let app = spawn_app_with(|config| {
        config.http.socket_limits.init_timeout = Duration::from_millis(300);
    })
    .await;
    let alice = app.customer("alice");
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    socket.subscribe("1", "{ me { id } }", json!({})).await;

    assert_eq!(socket.next_payload("1").await["data"]["me"]["id"], "alice");
}

#[tokio::test]
async fn an_invalid_token_then_a_valid_one_never_signs_a_legacy_socket_in() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let mut socket = Socket::open_with(&app, "graphql-ws", &[]).await;

    socket.init(Some("not-a-token")).await;
    socket.init(Some(&alice.token)).await;

    loop {
        match socket.receive().await {
            Received::Json(message) => assert_ne!(message["type"], "connection_ack"),
            Received::Closed(code) => {
                assert_eq!(code, Some(4403));
                break;
            }
        }
    }
}

#[tokio::test]
async fn sockets_past_ws_max_sockets_get_503_before_the_upgrade_and_http_still_answers() {
    let app = spawn_app_with(|config| config.http.socket_limits.max_sockets = 3).await;
    // Many users, each far under their own cap.
    let mut open = Vec::new();
    for user in ["ann", "bob", "cid"] {
        open.push(Socket::signed_in(&app, Some(&app.customer(user).token)).await);
    }

    let refused = Socket::try_open(&app, "graphql-transport-ws", &[]).await;

    let response = match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response,
        other => panic!("expected a refused upgrade, got {:?}", other.map(|_| ())),
    };
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    app.me(&app.customer("dan").token).await.expect_ok();
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    Socket::signed_in(&app, Some(&app.customer("dan").token)).await;
}

#[tokio::test]
async fn a_user_past_their_operations_across_sockets_is_refused_until_one_ends() {
    let app = spawn_app_with(|config| {
        config.http.socket_limits.max_subscriptions_per_user = 3;
    })
    .await;
    let alice = app.customer("alice");
    let mut first = signed_in(&app, "graphql-transport-ws", &alice).await;
    let mut second = signed_in(&app, "graphql-ws", &alice).await;
    first.send(start("graphql-transport-ws", "1", FEED)).await;
    first.send(start("graphql-transport-ws", "2", FEED)).await;
    all_read(&mut first).await;
    second.send(start("graphql-ws", "1", FEED)).await;

    second.send(start("graphql-ws", "2", FEED)).await;
    assert_eq!(refusal_code(&mut second).await, "TOO_MANY_SUBSCRIPTIONS");

    first.send(json!({ "id": "1", "type": "complete" })).await;
    all_read(&mut first).await;
    second.send(start("graphql-ws", "3", "{ me { id } }")).await;
    let answer = second.receive().await;
    assert!(
        matches!(&answer, Received::Json(message) if message["payload"]["data"]["me"]["id"] == "alice"),
        "{answer:?}"
    );
}

/// Returns once the server has read every message sent on `socket` so far: it reads them
/// in order, and answers a query after them.
async fn all_read(socket: &mut Socket) {
    socket.subscribe("read", "{ __typename }", json!({})).await;
    loop {
        match socket.receive().await {
            Received::Json(message) if message["id"] == "read" && message["type"] == "complete" => {
                return;
            }
            Received::Json(_) => {}
            Received::Closed(code) => panic!("closed with {code:?}"),
        }
    }
}

#[tokio::test]
async fn another_users_operations_do_not_count_against_a_users_cap() {
    let app = spawn_app_with(|config| {
        config.http.socket_limits.max_subscriptions_per_user = 1;
    })
    .await;
    let mut alice = signed_in(&app, "graphql-transport-ws", &app.customer("alice")).await;
    alice.send(start("graphql-transport-ws", "1", FEED)).await;
    let mut bob = signed_in(&app, "graphql-transport-ws", &app.customer("bob")).await;

    bob.subscribe("1", "{ me { id } }", json!({})).await;

    assert_eq!(bob.next_payload("1").await["data"]["me"]["id"], "bob");
}

/// A ticket of alice's with `messages` messages, the first included, and the ids of its
/// events, oldest first.
async fn ticket_with_messages(app: &TestApp, messages: usize) -> (String, Vec<String>) {
    let alice = app.customer("alice");
    let id = app.open_ticket_with_messages(&alice, messages).await;
    let mut events: Vec<String> = Vec::new();
    loop {
        let page = app
            .graphql(
                &alice,
                "query($id: ID!, $after: ID) { ticket(id: $id) { events(after: $after, limit: 100) { id } } }",
                json!({ "id": id, "after": events.last() }),
            )
            .await
            .expect_ok();
        let page = page.data("ticket")["events"]
            .as_array()
            .expect("the timeline")
            .iter()
            .map(|event| event["id"].as_str().expect("an id").to_owned())
            .collect::<Vec<_>>();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    (id, events)
}

const HISTORY_EVENTS: &str = "subscription($id: ID!, $after: ID) {
    ticketEvents(ticketId: $id, after: $after) { id ticket { messages { id } } }
}";

/// alice's ticket of `messages` messages, and her socket subscribed (as `1`) to its
/// events from now on, selecting its history.
async fn subscribed_to_history(app: &TestApp, messages: usize) -> (String, Socket) {
    let (ticket, events) = ticket_with_messages(app, messages).await;
    let newest = events.last().expect("an event");
    let mut socket = Socket::signed_in(app, Some(&app.customer("alice").token)).await;
    socket
        .subscribe(
            "1",
            HISTORY_EVENTS,
            json!({ "id": ticket, "after": newest }),
        )
        .await;
    (ticket, socket)
}

#[tokio::test]
async fn a_delivery_past_the_message_budget_answers_query_too_complex_and_the_next_still_comes() {
    let app = spawn_app_with(|config| config.http.query_limits.max_messages = 3).await;
    let (ticket, mut socket) = subscribed_to_history(&app, 3).await;
    let alice = app.customer("alice");

    app.add_message(&alice, &ticket, "Fourth", false)
        .await
        .expect_ok();
    app.add_message(&alice, &ticket, "Fifth", false)
        .await
        .expect_ok();

    for _ in 0..2 {
        let payload = socket.next_payload("1").await;
        assert_eq!(code_of(&payload), Some("QUERY_TOO_COMPLEX"), "{payload:#}");
    }
}

#[tokio::test]
async fn each_delivery_reads_under_a_message_budget_of_its_own() {
    let app = spawn_app_with(|config| config.http.query_limits.max_messages = 5).await;
    let (ticket, mut socket) = subscribed_to_history(&app, 3).await;
    let alice = app.customer("alice");

    for (expected, body) in [(4, "Fourth"), (5, "Fifth")] {
        // The ticket is read as it is at delivery: the next is written after.
        app.add_message(&alice, &ticket, body, false)
            .await
            .expect_ok();
        let payload = socket.next_payload("1").await;
        let messages = &payload["data"]["ticketEvents"]["ticket"]["messages"];
        assert_eq!(
            messages.as_array().map(Vec::len),
            Some(expected),
            "{payload:#}"
        );
    }
}

#[tokio::test]
async fn aliases_and_fragments_of_one_delivery_share_its_budget_over_the_legacy_protocol() {
    let app = spawn_app_with(|config| config.http.query_limits.max_messages = 5).await;
    let (ticket, events) = ticket_with_messages(&app, 3).await;
    let alice = app.customer("alice");
    let mut socket = signed_in(&app, "graphql-ws", &alice).await;
    // Each alias alone reads four messages, within the budget; together eight.
    let query = "subscription($id: ID!, $after: ID) {
        ticketEvents(ticketId: $id, after: $after) { ...History b: ticket { messages { id } } }
    }
    fragment History on TicketEvent { a: ticket { messages { id } } }";
    socket
        .send(json!({
            "id": "1",
            "type": "start",
            "payload": { "query": query, "variables": { "id": ticket, "after": events.last() } },
        }))
        .await;

    app.add_message(&alice, &ticket, "Fourth", false)
        .await
        .expect_ok();

    match socket.receive().await {
        Received::Json(message) if message["type"] == "data" => {
            assert_eq!(
                code_of(&message["payload"]),
                Some("QUERY_TOO_COMPLEX"),
                "{message:#}"
            );
        }
        other => panic!("expected the event, got {other:?}"),
    }
}

#[tokio::test]
async fn a_replay_from_the_first_event_reads_at_the_users_pace() {
    // Each delivery reserves 11 rows of a bucket of 22 that refills at 4 a second, and
    // gives back what it did not read.
    let app = spawn_app_with(|config| {
        config.http.query_limits.max_messages = 10;
        config.http.socket_limits.subscription_messages_per_second = 4;
    })
    .await;
    let (ticket, events) = ticket_with_messages(&app, 5).await;
    let alice = app.customer("alice");
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    let started = Instant::now();

    socket
        .subscribe(
            "1",
            HISTORY_EVENTS,
            json!({ "id": ticket, "after": events[0] }),
        )
        .await;
    for _ in 0..4 {
        let payload = socket.next_payload("1").await;
        assert!(payload.get("errors").is_none(), "{payload:#}");
    }

    // Four deliveries of 5 rows: after three the bucket holds 7 rows, and the fourth
    // waits a second for the 11 it reserves.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

/// How many messages of `kind` the socket receives until it is quiet for `quiet`.
async fn answers(socket: &mut Socket, kind: &str, quiet: Duration) -> usize {
    let mut count = 0;
    while let Ok(message) = tokio::time::timeout(quiet, socket.receive()).await {
        match message {
            Received::Json(message) if message["type"] == kind => count += 1,
            other => panic!("expected {kind}, got {other:?}"),
        }
    }
    count
}

/// The messages the server has read for operations, as its metrics count them.
async fn messages_read(metrics: &str) -> f64 {
    scrape(metrics)
        .await
        .value("supportdesk_messages_read_total", &[])
        .unwrap_or(0.0)
}

/// The real binary, with a metrics listener of its own (the process's recorder counts
/// only its reads), with `settings`; and the metrics' address.
async fn server_counting_reads(settings: &[(&str, &str)]) -> (TestApp, ServerProcess, String) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut all = vec![
        ("METRICS_ADDR", metrics.as_str()),
        ("MUTATION_RATE_LIMIT_BURST", "1000"),
    ];
    all.extend_from_slice(settings);
    let (app, server) = spawn_server(&all).await;
    (app, server, format!("http://{metrics}"))
}

#[tokio::test]
async fn list_items_loading_in_parallel_read_no_more_than_the_budget_and_one_row() {
    let (app, _server, metrics) = server_counting_reads(&[("GRAPHQL_MAX_MESSAGES", "50")]).await;
    // 30 events, each of whose ticket would read the whole history of 30 messages.
    let (ticket, _) = ticket_with_messages(&app, 30).await;
    let before = messages_read(&metrics).await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($id: ID!) { ticket(id: $id) { events(limit: 100) { ticket { messages { id } } } } }",
            json!({ "id": ticket }),
        )
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("QUERY_TOO_COMPLEX"));
    let read = messages_read(&metrics).await - before;
    assert!(read <= 51.0, "{read} messages read");
}

#[tokio::test]
async fn one_mutation_makes_a_users_hundred_subscriptions_read_one_history_each() {
    // Point 3's scenario with the defaults: one user's sockets, 20 subscriptions each, on
    // a ticket of 301 messages. Only the reading pace is raised, so the test is quick.
    let (app, _server, metrics) =
        server_counting_reads(&[("WS_SUBSCRIPTION_MESSAGES_PER_SECOND", "1000000")]).await;
    let (ticket, events) = ticket_with_messages(&app, 301).await;
    let alice = app.customer("alice");
    let newest = events.last().expect("an event");
    let mut sockets = Vec::new();
    for _ in 0..6 {
        let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
        for id in 0..20 {
            socket
                .subscribe(
                    &id.to_string(),
                    HISTORY_EVENTS,
                    json!({ "id": ticket, "after": newest }),
                )
                .await;
        }
        sockets.push(socket);
    }
    let mut refused = 0;
    for socket in &mut sockets {
        refused += answers(socket, "error", Duration::from_millis(300)).await;
    }
    let before = messages_read(&metrics).await;

    app.add_message(&app.admin("sam"), &ticket, "On it", false)
        .await
        .expect_ok();
    let mut delivered = 0;
    for socket in &mut sockets {
        delivered += answers(socket, "next", Duration::from_secs(1)).await;
    }

    let read = messages_read(&metrics).await - before;
    assert_eq!((delivered, refused), (100, 20));
    // 100 subscriptions × 302 messages; the bound the README states is 100 × 5,001.
    assert_eq!(read, 100.0 * 302.0);
}
