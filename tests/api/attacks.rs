//! One request may not crash, stall or bloat the server: each attack that once worked,
//! tried again.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    BucketStore, Reply, TestApp, assert_too_complex, on_both_stores, spawn_app, spawn_app_with,
};
use crate::server_process::spawn_server;

/// Far longer than any of these requests takes once refused; on the code they were
/// found in, each held a core for minutes.
const ANSWERED_WITHIN: Duration = Duration::from_secs(30);

fn aliases(count: usize, field: &str) -> String {
    (0..count).map(|n| format!("a{n}: {field} ")).collect()
}

async fn create_tickets_named_m(app: &TestApp, count: usize) -> Reply {
    let fields = aliases(
        count,
        "createTicket(input: { subject: \"s\", message: \"m\" }) { id }",
    );
    app.graphql(
        &app.customer("mallory"),
        &format!("mutation M {{ {fields} }}"),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn brackets_hidden_behind_a_block_string_escape_do_not_crash_the_server() {
    let (app, mut server) = spawn_server(&[]).await;
    let document = format!(
        r#"{{ me(a: """x\\""" """, b: {}1{}) {{ id }} }}"#,
        "[".repeat(3_000),
        "]".repeat(3_000)
    );

    let reply = app.post_graphql(None, &document, json!({})).await;

    assert_too_complex(&reply);
    assert!(server.is_alive(), "the server died:\n{}", server.log());
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_named_query_sent_without_an_operation_name_is_measured() {
    let app = spawn_app().await;
    let document = format!("query Q {{ {} }}", aliases(500, "me { id }"));

    assert_too_complex(
        &app.graphql(&app.customer("alice"), &document, json!({}))
            .await,
    );
}

#[tokio::test]
async fn a_named_mutation_sent_without_an_operation_name_is_measured_and_writes_nothing() {
    let app = spawn_app().await;

    assert_too_complex(&create_tickets_named_m(&app, 200).await);
    assert_eq!(app.ticket_total().await, 0);
}

on_both_stores! {
async fn a_named_mutation_sent_without_an_operation_name_counts_against_the_rate_limit(
    store: BucketStore,
) {
    let app = spawn_app_with(store.limit(2, 0.1)).await;

    let reply = create_tickets_named_m(&app, 3).await;

    assert_eq!(reply.status, 429, "{:#}", reply.body);
    assert_eq!(app.ticket_total().await, 0);
}
}

#[tokio::test]
async fn a_named_mutation_over_get_is_refused() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    let reply = app
        .get_graphql(
            &alice,
            "mutation M { createTicket(input: { subject: \"s\", message: \"m\" }) { id } }",
        )
        .await;

    assert_eq!(reply.status, 405, "{:#}", reply.body);
    assert_eq!(reply.headers["allow"], "POST");
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn several_operations_without_an_operation_name_are_refused() {
    let app = spawn_app().await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query A { me { id } } query B { me { role } }",
            json!({}),
        )
        .await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
    assert!(reply.body.get("data").is_none());
}

#[tokio::test]
async fn the_operation_named_by_operation_name_runs() {
    let app = spawn_app().await;
    let reply = app
        .post_raw(
            &[
                ("content-type", "application/json"),
                (
                    "authorization",
                    &format!("Bearer {}", app.customer("alice").token),
                ),
            ],
            json!({
                "query": "query A { me { id } } query B { me { role } }",
                "operationName": "B",
            })
            .to_string(),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("me"), &json!({ "role": "CUSTOMER" }));
}

/// `query Ok { __typename } query Bomb { ...F0 }`, each fragment spreading the next
/// `width` times, `levels` deep: tiny, and exponential to walk without memoization.
fn fragment_bomb(levels: usize, width: usize) -> String {
    let mut document = String::from("query Ok { __typename } query Bomb { ...F0 } ");
    for level in 0..levels {
        let spreads = format!("...F{} ", level + 1).repeat(width);
        document.push_str(&format!("fragment F{level} on Query {{ {spreads} }} "));
    }
    document.push_str(&format!("fragment F{levels} on Query {{ __typename }}"));
    document
}

async fn post_operation(app: &TestApp, query: &str, operation_name: &str) -> Reply {
    let body = json!({ "query": query, "operationName": operation_name }).to_string();
    let request = app.post_raw(&[("content-type", "application/json")], body);
    tokio::time::timeout(ANSWERED_WITHIN, request)
        .await
        .expect("answered in time")
}

#[tokio::test]
async fn an_unselected_operation_is_never_walked() {
    let app = spawn_app().await;

    let reply = post_operation(&app, &fragment_bomb(6, 40), "Ok").await;

    assert_eq!(reply.body, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn a_selected_fragment_bomb_is_refused_before_it_is_walked() {
    let app = spawn_app().await;

    assert_too_complex(&post_operation(&app, &fragment_bomb(6, 40), "Bomb").await);
}

#[tokio::test]
async fn many_aliased_pages_of_histories_are_refused_before_they_load() {
    let app = spawn_app().await;
    let document = format!(
        "{{ {} }}",
        aliases(10, "tickets(limit: 100) { items { messages { body } } }")
    );

    assert_too_complex(&app.graphql(&app.admin("root"), &document, json!({})).await);
}

#[tokio::test]
async fn a_page_size_from_a_variable_counts_in_the_cost() {
    let app = spawn_app_with(|config| config.http.query_limits.max_cost = 500).await;
    let document = "query($limit: Int!) { tickets(limit: $limit) { items { messages { body } } } }";
    let admin = app.admin("root");

    app.graphql(&admin, document, json!({ "limit": 1 }))
        .await
        .expect_ok();
    assert_too_complex(&app.graphql(&admin, document, json!({ "limit": 100 })).await);
}

#[tokio::test]
async fn introspection_turned_off_is_a_clear_validation_error() {
    let app = spawn_app_with(|config| config.http.introspection = false).await;

    let reply = app
        .post_graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{:#}",
        reply.body
    );
    assert!(
        reply
            .error_message()
            .is_some_and(|message| message.contains("introspection is not allowed"))
    );
    assert!(reply.body.get("data").is_none());
}

#[tokio::test]
async fn introspection_turned_off_cannot_be_reached_through_a_fragment() {
    let app = spawn_app_with(|config| config.http.introspection = false).await;

    let reply = app
        .post_graphql(
            None,
            "{ ...F } fragment F on Query { __type(name: \"Ticket\") { name } }",
            json!({}),
        )
        .await;

    assert_eq!(
        reply.error_code().as_deref(),
        Some("GRAPHQL_VALIDATION_FAILED")
    );
}

/// A batch body of `count` empty objects.
fn empty_objects_batch(bytes: usize) -> String {
    let mut body = String::with_capacity(bytes + 3);
    body.push('[');
    while body.len() + 4 < bytes {
        body.push_str("{},");
    }
    body.push_str("{}]");
    body
}

#[tokio::test]
async fn a_batch_past_its_limit_is_refused_as_too_complex() {
    let app = spawn_app().await;
    let batch = vec![json!({ "query": "{ __typename }" }); 11];

    let reply = app.post_batch(None, &batch).await;

    assert_eq!(reply.status, 400);
    assert_too_complex(&reply);
}

/// Resident memory at its peak, from `/proc`.
fn peak_resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn eight_concurrent_one_mebibyte_batch_bodies_stay_within_bounded_memory() {
    let (app, server) = spawn_server(&[]).await;
    let body = empty_objects_batch(1024 * 1024 - 16);
    let before = peak_resident_kib(server.pid());

    let replies = futures_util::future::join_all(
        (0..8).map(|_| app.post_raw(&[("content-type", "application/json")], body.clone())),
    )
    .await;

    for reply in &replies {
        assert_eq!(reply.status, 400, "{:#}", reply.body);
    }
    let grown_mib = peak_resident_kib(server.pid()).saturating_sub(before) / 1024;
    // Eight bodies of 1 MiB each are read; parsed, they once took about 180 MiB apiece.
    assert!(grown_mib < 64, "the peak grew by {grown_mib} MiB");
}

/// A server that lets an operation read at most five messages, and a ticket of `messages`.
async fn ticket_of_messages(messages: usize) -> (TestApp, String) {
    let app = spawn_app_with(|config| config.http.query_limits.max_messages = 5).await;
    let alice = app.customer("alice");
    let id = app.open_ticket_with_messages(&alice, messages).await;
    (app, id)
}

#[tokio::test]
async fn a_history_longer_than_the_message_budget_is_refused() {
    let (app, id) = ticket_of_messages(6).await;

    let reply = app.ticket(&app.customer("alice"), &id).await;

    assert_too_complex_field(&reply, "ticket");
}

#[tokio::test]
async fn a_page_of_histories_longer_than_the_message_budget_is_refused() {
    let (app, _) = ticket_of_messages(6).await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "{ tickets { items { messages { id } } } }",
            json!({}),
        )
        .await;

    assert_too_complex_field(&reply, "tickets");
}

#[tokio::test]
async fn the_message_budget_is_shared_by_every_field_of_an_operation() {
    let (app, id) = ticket_of_messages(3).await;
    let alice = app.customer("alice");
    let one = format!("ticket(id: \"{id}\") {{ messages {{ id }} }}");
    app.graphql(&alice, &format!("{{ {one} }}"), json!({}))
        .await
        .expect_ok();

    let reply = app
        .graphql(&alice, &format!("{{ a: {one} b: {one} }}"), json!({}))
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("QUERY_TOO_COMPLEX"));
    assert_eq!(reply.errors().len(), 1, "{:#}", reply.body);
}

fn assert_too_complex_field(reply: &Reply, field: &str) {
    assert_eq!(
        reply.error_code().as_deref(),
        Some("QUERY_TOO_COMPLEX"),
        "{:#}",
        reply.body
    );
    assert_eq!(reply.data(field), &Value::Null);
}

#[tokio::test]
async fn the_operations_of_a_batch_share_one_message_budget() {
    let (app, id) = ticket_of_messages(3).await;
    let one = json!({ "query": format!("{{ ticket(id: \"{id}\") {{ messages {{ id }} }} }}") });

    let reply = app
        .post_batch(Some(&app.customer("alice")), &[one.clone(), one])
        .await;

    let answers = reply.body.as_array().expect("a batch answer");
    assert!(answers[0].get("errors").is_none(), "{:#}", reply.body);
    assert_eq!(
        answers[1]["errors"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
}

on_both_stores! {
async fn the_operations_of_a_batch_each_count_against_the_rate_limit(store: BucketStore) {
    let app = spawn_app_with(store.limit(2, 0.1)).await;
    let create = json!({
        "query": "mutation { createTicket(input: { subject: \"s\", message: \"m\" }) { id } }"
    });
    let mallory = app.customer("mallory");

    let reply = app.post_batch(Some(&mallory), &vec![create; 3]).await;

    let answers = reply.body.as_array().expect("a batch answer");
    assert_eq!(
        answers[2]["errors"][0]["extensions"]["code"],
        "RATE_LIMITED"
    );
    assert_eq!(app.ticket_total().await, 2);
    store.assert_holds_bucket_of(&mallory).await;
}
}

#[tokio::test]
async fn hidden_nesting_in_a_batch_is_refused() {
    let app = spawn_app().await;
    let attack = format!(
        r#"{{ me(a: """x\\""" """, b: {}1{}) {{ id }} }}"#,
        "[".repeat(3_000),
        "]".repeat(3_000)
    );

    let batch = [
        json!({ "query": "{ __typename }" }),
        json!({ "query": attack }),
    ];

    let reply = app.post_batch(None, &batch).await;

    let answers = reply.body.as_array().expect("a batch answer");
    assert_eq!(
        answers[1]["errors"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
    assert_eq!(app.get("/healthz").await.status(), 200);
}
