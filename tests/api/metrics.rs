//! Prometheus metrics on a listener of their own (`METRICS_ADDR`).
//!
//! The recorder is the process's, shared by every server the tests run in it: a test
//! reads the series only it writes (an operation name of its own), the gauges a scrape
//! sets from its own server, or runs the real binary where it counts refusals exactly.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use supportdesk::graphql::pipeline::metrics::MAX_OPERATION_NAMES;
use supportdesk::startup::Application;

use crate::helpers::{
    Reply, TestApp, TestDatabase, User, assert_too_complex, spawn_app, spawn_app_with, test_config,
};
use crate::prometheus::{Scrape, scrape};
use crate::server_process::{free_port, spawn_server};
use crate::socket::Socket;

const REQUESTS: &str = "supportdesk_graphql_requests_total";
const DURATION: &str = "supportdesk_graphql_request_duration_seconds";
const REFUSALS: &str = "supportdesk_refusals_total";
const POOL: &str = "supportdesk_db_pool_connections";
const SOCKETS: &str = "supportdesk_websockets_open";
const SUBSCRIPTIONS: &str = "supportdesk_subscriptions_active";

/// Far longer than the server takes to notice a socket or subscription has ended.
const NOTICED_WITHIN: Duration = Duration::from_secs(10);

async fn spawn_app_with_metrics() -> TestApp {
    spawn_app_with(|config| {
        config.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
    })
    .await
}

async fn scrape_of(app: &TestApp) -> Scrape {
    scrape(
        app.metrics_address
            .as_deref()
            .expect("the server has a metrics listener"),
    )
    .await
}

/// An operation name no other test sends.
fn unique_name() -> String {
    format!("Op{}", uuid::Uuid::now_v7().simple())
}

fn operations(scrape: &Scrape, operation: &str, outcome: &str) -> f64 {
    scrape
        .value(REQUESTS, &[("operation", operation), ("outcome", outcome)])
        .unwrap_or(0.0)
}

fn gauge(scrape: &Scrape, name: &str) -> Option<f64> {
    scrape.value(name, &[])
}

/// Scrapes until `holds` is true of a scrape, or panics after [`NOTICED_WITHIN`].
async fn eventually(app: &TestApp, what: &str, holds: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + NOTICED_WITHIN;
    loop {
        let scrape = scrape_of(app).await;
        if holds(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_scrape_is_the_text_format_with_every_family_typed() {
    let app = spawn_app_with_metrics().await;
    app.me(&app.customer("alice").token).await.expect_ok();

    let scrape = scrape_of(&app).await;

    assert_eq!(scrape.types[REQUESTS], "counter");
    assert_eq!(scrape.types[DURATION], "histogram");
    for name in [POOL, SOCKETS, SUBSCRIPTIONS, "supportdesk_build_info"] {
        assert_eq!(scrape.types[name], "gauge", "{name}");
    }
}

#[tokio::test]
async fn the_build_version_is_a_label() {
    let app = spawn_app_with_metrics().await;

    let scrape = scrape_of(&app).await;

    assert_eq!(
        scrape.value(
            "supportdesk_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn each_operation_is_counted_and_timed_by_name_and_outcome() {
    let app = spawn_app_with_metrics().await;
    let alice = app.customer("alice");
    let name = unique_name();

    for _ in 0..3 {
        let query = format!("query {name} {{ me {{ id }} }}");
        app.graphql(&alice, &query, json!({})).await.expect_ok();
    }

    let scrape = scrape_of(&app).await;
    assert_eq!(operations(&scrape, &name, "OK"), 3.0);
    let labels = [("operation", name.as_str()), ("outcome", "OK")];
    assert_eq!(
        scrape.value(&format!("{DURATION}_count"), &labels),
        Some(3.0)
    );
    let sum = scrape.value(&format!("{DURATION}_sum"), &labels);
    assert!(sum.is_some_and(|seconds| seconds > 0.0), "{sum:?}");
    let buckets: Vec<f64> = scrape
        .named(&format!("{DURATION}_bucket"))
        .filter(|sample| sample.labels["operation"] == name)
        .map(|sample| sample.value)
        .collect();
    assert!(buckets.len() > 2, "{buckets:?}");
    assert!(buckets.is_sorted(), "cumulative: {buckets:?}");
    assert_eq!(buckets.last(), Some(&3.0));
}

/// A query named `name` selecting `selection`, as a signed-in customer.
async fn alices_query(app: &TestApp, name: &str, selection: &str) -> Reply {
    let query = format!("query {name} {{ {selection} }}");
    app.graphql(&app.customer("alice"), &query, json!({})).await
}

#[tokio::test]
async fn a_failed_operation_is_counted_by_its_first_error_code() {
    let app = spawn_app_with_metrics().await;
    let name = unique_name();

    let reply = alices_query(&app, &name, "ticket(id: \"nope\") { id }").await;

    assert_eq!(reply.error_code().as_deref(), Some("NOT_FOUND"));
    let scrape = scrape_of(&app).await;
    assert_eq!(operations(&scrape, &name, "NOT_FOUND"), 1.0);
    assert_eq!(operations(&scrape, &name, "OK"), 0.0);
}

#[tokio::test]
async fn anonymous_operations_leave_the_labels_to_signed_in_users() {
    let app = spawn_app_with_metrics().await;
    let junk = unique_name();
    send_named_operations(&app, None, &junk, MAX_OPERATION_NAMES + 10).await;
    let real = unique_name();

    alices_query(&app, &real, "me { id }").await.expect_ok();

    let scrape = scrape_of(&app).await;
    assert_eq!(operations(&scrape, &real, "OK"), 1.0);
    assert!(
        scrape
            .named(REQUESTS)
            .all(|sample| !sample.labels["operation"].starts_with(&junk))
    );
}

#[tokio::test]
async fn an_operation_that_fails_validation_takes_no_label() {
    let app = spawn_app_with_metrics().await;
    let name = unique_name();

    let reply = alices_query(&app, &name, "noSuchField").await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    let scrape = scrape_of(&app).await;
    assert!(
        scrape
            .named(REQUESTS)
            .all(|sample| sample.labels["operation"] != name)
    );
}

#[tokio::test]
async fn the_operation_counted_is_the_one_the_request_selects() {
    let app = spawn_app_with_metrics().await;
    let alice = app.customer("alice");
    let (skipped, selected) = (unique_name(), unique_name());
    let document =
        format!("query {skipped} {{ me {{ id }} }} query {selected} {{ me {{ role }} }}");
    let authorization = format!("Bearer {}", alice.token);
    let body = json!({ "query": document, "operationName": selected });
    let headers = [
        ("content-type", "application/json"),
        ("authorization", authorization.as_str()),
    ];

    app.post_raw(&headers, body.to_string()).await.expect_ok();

    let scrape = scrape_of(&app).await;
    assert_eq!(operations(&scrape, &selected, "OK"), 1.0);
    assert!(
        scrape
            .named(REQUESTS)
            .all(|sample| sample.labels["operation"] != skipped)
    );
}

#[tokio::test]
async fn an_operation_over_the_websocket_is_counted_and_timed() {
    let app = spawn_app_with_metrics().await;
    let alice = app.customer("alice");
    let name = unique_name();
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;

    socket
        .subscribe("1", &format!("query {name} {{ me {{ id }} }}"), json!({}))
        .await;
    socket.next_payload("1").await;

    let scrape = scrape_of(&app).await;
    assert_eq!(operations(&scrape, &name, "OK"), 1.0);
    let labels = [("operation", name.as_str()), ("outcome", "OK")];
    assert_eq!(
        scrape.value(&format!("{DURATION}_count"), &labels),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_subscription_stopped_before_any_event_is_counted_without_a_latency() {
    let app = spawn_app_with_metrics().await;
    let alice = app.customer("alice");
    let name = unique_name();
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    let subscription = format!("subscription {name} {{ ticketFeed {{ id }} }}");
    socket.subscribe("feed", &subscription, json!({})).await;
    eventually(&app, "the subscription runs", |scrape| {
        gauge(scrape, SUBSCRIPTIONS) == Some(1.0)
    })
    .await;

    socket
        .send(json!({ "id": "feed", "type": "complete" }))
        .await;

    let scrape = eventually(&app, "the subscription is counted", |scrape| {
        operations(scrape, &name, "OK") == 1.0
    })
    .await;
    let labels = [("operation", name.as_str()), ("outcome", "OK")];
    assert_eq!(scrape.value(&format!("{DURATION}_count"), &labels), None);
}

#[tokio::test]
async fn open_sockets_and_running_subscriptions_are_gauged() {
    let app = spawn_app_with_metrics().await;
    let alice = app.customer("alice");
    let before = scrape_of(&app).await;
    assert_eq!(gauge(&before, SOCKETS), Some(0.0));
    assert_eq!(gauge(&before, SUBSCRIPTIONS), Some(0.0));

    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    socket
        .subscribe("feed", "subscription { ticketFeed { id } }", json!({}))
        .await;
    eventually(&app, "one socket, one subscription", |scrape| {
        gauge(scrape, SOCKETS) == Some(1.0) && gauge(scrape, SUBSCRIPTIONS) == Some(1.0)
    })
    .await;

    socket
        .send(json!({ "id": "feed", "type": "complete" }))
        .await;
    eventually(&app, "the socket without its subscription", |scrape| {
        gauge(scrape, SOCKETS) == Some(1.0) && gauge(scrape, SUBSCRIPTIONS) == Some(0.0)
    })
    .await;

    drop(socket);
    eventually(&app, "no socket", |scrape| {
        gauge(scrape, SOCKETS) == Some(0.0)
    })
    .await;
}

#[tokio::test]
async fn the_database_pool_is_gauged_by_state() {
    let app = spawn_app_with_metrics().await;
    app.me(&app.customer("alice").token).await.expect_ok();

    let scrape = scrape_of(&app).await;

    let in_use = scrape.value(POOL, &[("state", "in_use")]);
    let idle = scrape.value(POOL, &[("state", "idle")]);
    let open = in_use.unwrap_or_default() + idle.unwrap_or_default();
    assert!(in_use.is_some() && idle.is_some(), "{in_use:?} {idle:?}");
    let most = f64::from(supportdesk::config::DEFAULT_DATABASE_MAX_CONNECTIONS);
    assert!((1.0..=most).contains(&open), "{in_use:?} {idle:?}");
}

/// Sends `count` operations named `{prefix}_{index}` as `user` (or without a token),
/// ten to a batch.
async fn send_named_operations(app: &TestApp, user: Option<&User>, prefix: &str, count: usize) {
    let names: Vec<String> = (0..count)
        .map(|index| format!("{prefix}_{index}"))
        .collect();
    for batch in names.chunks(10) {
        let operations: Vec<Value> = batch
            .iter()
            .map(|name| json!({ "query": format!("query {name} {{ __typename }}") }))
            .collect();
        let reply = app.post_batch(user, &operations).await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
    }
}

#[tokio::test]
async fn operation_names_past_the_bound_share_one_label() {
    let app = spawn_app_with_metrics().await;
    let prefix = unique_name();
    let past_the_bound = 10;
    let other_before = operations(&scrape_of(&app).await, "other", "OK");

    let alice = app.customer("alice");
    send_named_operations(
        &app,
        Some(&alice),
        &prefix,
        MAX_OPERATION_NAMES + past_the_bound,
    )
    .await;

    let scrape = scrape_of(&app).await;
    let labelled = scrape
        .named(REQUESTS)
        .filter(|sample| sample.labels["operation"].starts_with(&prefix))
        .count();
    assert_eq!(labelled, MAX_OPERATION_NAMES);
    let other = operations(&scrape, "other", "OK") - other_before;
    assert_eq!(other, past_the_bound as f64);
}

#[tokio::test]
async fn names_of_documents_that_never_parse_are_bounded_too() {
    let app = spawn_app_with_metrics().await;
    let prefix = unique_name();
    let alice = app.customer("alice");
    send_named_operations(&app, Some(&alice), &prefix, MAX_OPERATION_NAMES).await;
    let before = operations(&scrape_of(&app).await, "other", "GRAPHQL_PARSE_FAILED");
    let huge = "x".repeat(10_000);
    let names = [format!("{prefix}_late"), "not a name".to_owned(), huge];

    for name in &names {
        let reply = app
            .post_batch(
                Some(&alice),
                &[json!({ "query": "query {", "operationName": name })],
            )
            .await;
        assert_eq!(reply.status, 200, "{:#}", reply.body);
    }

    let scrape = scrape_of(&app).await;
    let other = operations(&scrape, "other", "GRAPHQL_PARSE_FAILED") - before;
    assert_eq!(other, names.len() as f64);
    assert!(
        scrape
            .named(REQUESTS)
            .all(|sample| sample.labels["operation"].len() <= 100),
        "no label holds a long name"
    );
}

#[tokio::test]
async fn metrics_are_not_served_on_the_api_port() {
    let app = spawn_app_with_metrics().await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn without_metrics_addr_no_metrics_listener_is_bound() {
    let app = spawn_app().await;

    assert_eq!(app.metrics_address, None);
}

#[tokio::test]
async fn the_metrics_listener_stops_with_the_server() {
    let database = TestDatabase::create().await;
    let mut config = test_config(&database, "a-secret-of-at-least-thirty-two-bytes");
    config.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
    let application = Application::build(config).await.expect("the server starts");
    let metrics_port = application.metrics_port().expect("a metrics listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(application.run_until(async {
        let _ = stopped.await;
    }));
    scrape(&format!("http://127.0.0.1:{metrics_port}")).await;

    let _ = stop.send(());
    running
        .await
        .expect("the server task")
        .expect("the server stops");

    let connected = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port)).await;
    assert!(connected.is_err(), "the metrics port still accepts");
}

/// In a process of its own, where no other test refuses anything.
#[tokio::test]
async fn each_refusal_is_counted_once_by_its_reason() {
    let metrics_address = format!("127.0.0.1:{}", free_port());
    let (app, _server) = spawn_server(&[
        ("METRICS_ADDR", &metrics_address),
        ("GRAPHQL_MAX_ROOT_FIELDS", "1"),
        ("MUTATION_RATE_LIMIT_BURST", "1"),
        ("MUTATION_RATE_LIMIT_PER_SECOND", "0"),
    ])
    .await;
    let alice = app.customer("alice");
    app.create_ticket(&alice, "The one mutation allowed").await;

    let form = app.post_raw(&[("content-type", "text/plain")], "{}").await;
    let xml = app
        .post_raw(&[("content-type", "application/xml")], "<query/>")
        .await;
    let bad_token = app.me("not-a-token").await;
    let two_roots = app
        .graphql(&alice, "{ a: me { id } b: me { id } }", json!({}))
        .await;
    let one_mutation_too_many = app
        .graphql(
            &alice,
            "mutation Again($input: CreateTicketInput!) { createTicket(input: $input) { id } }",
            json!({ "input": { "subject": "Again", "message": "Again" } }),
        )
        .await;
    let mut socket = Socket::open_with(&app, "graphql-transport-ws", &[]).await;
    socket.init(Some("not-a-token")).await;
    let socket_closed = socket.close_code().await;

    assert_eq!(form.status, 400);
    assert_eq!(xml.status, 415);
    assert_eq!(bad_token.status, 401);
    assert_too_complex(&two_roots);
    assert_eq!(
        one_mutation_too_many.error_code().as_deref(),
        Some("RATE_LIMITED")
    );
    assert_eq!(socket_closed, Some(4403));
    let scrape = scrape(&format!("http://{metrics_address}")).await;
    let refusals = |reason: &str| scrape.value(REFUSALS, &[("reason", reason)]);
    assert_eq!(refusals("csrf"), Some(1.0));
    assert_eq!(refusals("media_type"), Some(1.0));
    assert_eq!(refusals("invalid_token"), Some(2.0));
    assert_eq!(refusals("limit"), Some(1.0));
    assert_eq!(refusals("rate_limit"), Some(1.0));
    assert_eq!(operations(&scrape, "anonymous", "QUERY_TOO_COMPLEX"), 1.0);
    // Refused before validation: its name takes no label.
    assert_eq!(operations(&scrape, "other", "RATE_LIMITED"), 1.0);
}
