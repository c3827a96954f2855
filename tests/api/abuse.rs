//! Per-user rate limits and the time budget of a request. The rate limit's tests run
//! against both stores of its buckets, this instance's memory and Redis.

use serde_json::json;

use crate::helpers::{
    BucketStore, assert_rate_limited, lock_ticket, on_both_stores, spawn_app_with,
};
use crate::socket::{PROTOCOLS, over_socket};

on_both_stores! {
async fn mutations_past_the_burst_are_rate_limited_with_a_retry_hint(store: BucketStore) {
    let app = spawn_app_with(store.limit(2, 0.1)).await;
    let alice = app.customer("alice");
    app.open_ticket_reply(&alice, "s").await.expect_ok();
    app.open_ticket_reply(&alice, "s").await.expect_ok();

    let limited = app.open_ticket_reply(&alice, "s").await;

    let retry_after = assert_rate_limited(&limited);
    assert!(retry_after <= 10, "{retry_after}");
    assert_eq!(app.ticket_total().await, 2);
    store.assert_holds_bucket_of(&alice).await;
}
}

on_both_stores! {
async fn the_rate_limit_counts_every_root_mutation_field(store: BucketStore) {
    let app = spawn_app_with(store.limit(2, 0.1)).await;

    let reply = app
        .graphql(
            &app.customer("alice"),
            "mutation {
                a: createTicket(input: { subject: \"a\", message: \"m\" }) { id }
                b: createTicket(input: { subject: \"b\", message: \"m\" }) { id }
                c: createTicket(input: { subject: \"c\", message: \"m\" }) { id }
            }",
            json!({}),
        )
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("RATE_LIMITED"));
    assert_eq!(app.ticket_total().await, 0);
}
}

on_both_stores! {
async fn the_rate_limit_is_per_user_and_spares_queries(store: BucketStore) {
    let app = spawn_app_with(store.limit(1, 0.1)).await;
    let (alice, bob) = (app.customer("alice"), app.customer("bob"));
    app.open_ticket_reply(&alice, "s").await.expect_ok();

    assert_eq!(
        app.open_ticket_reply(&alice, "s")
            .await
            .error_code()
            .as_deref(),
        Some("RATE_LIMITED")
    );
    app.open_ticket_reply(&bob, "s").await.expect_ok();
    app.graphql(&alice, "{ me { id } }", json!({}))
        .await
        .expect_ok();
    store.assert_holds_bucket_of(&bob).await;
}
}

#[tokio::test]
async fn a_request_past_its_time_budget_gets_an_error_and_writes_nothing() {
    let app = spawn_app_with(|config| {
        config.http.request_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Slow").await;
    let lock = lock_ticket(&app.database_url, &id).await;

    let started = std::time::Instant::now();
    let reply = app.add_message(&alice, &id, "Waiting", false).await;

    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        reply.error_code().as_deref(),
        Some("TIMEOUT"),
        "{:#}",
        reply.body
    );
    lock.txn.rollback().await.expect("released");
    let ticket = app.ticket(&app.admin("root"), &id).await.expect_ok();
    assert_eq!(
        ticket.data("ticket")["messages"].as_array().map(Vec::len),
        Some(1)
    );
}

/// A ticket id of the right shape that names no ticket: a bulk call over such ids writes
/// nothing, whatever the rate limit says.
fn unknown_ids(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("00000000-0000-7000-8000-{index:012}"))
        .collect()
}

const BULK: &str = "mutation($ids: [ID!]!) {
    updateTickets(ids: $ids, input: { priority: HIGH }) { id error { code } }
}";

on_both_stores! {
async fn a_bulk_update_counts_one_mutation_per_ten_ids(store: BucketStore) {
    let app = spawn_app_with(store.limit(3, 0.01)).await;
    let root = app.admin("root");

    let thirty = app
        .graphql(&root, BULK, json!({ "ids": unknown_ids(30) }))
        .await;
    let one_more = app
        .graphql(&root, BULK, json!({ "ids": unknown_ids(1) }))
        .await;

    assert_eq!(thirty.errors(), Vec::<serde_json::Value>::new());
    assert_eq!(one_more.status, 429);
    assert_eq!(one_more.error_code().as_deref(), Some("RATE_LIMITED"));
    store.assert_holds_bucket_of(&root).await;
}
}

on_both_stores! {
async fn a_bulk_update_past_the_burst_is_refused_before_it_runs(store: BucketStore) {
    let app = spawn_app_with(store.limit(2, 0.01)).await;
    let root = app.admin("root");
    let ticket = app.open_ticket(&app.customer("alice"), "Printer").await;
    let mut ids = unknown_ids(20);
    ids.push(ticket.clone());

    let refused = app.graphql(&root, BULK, json!({ "ids": ids })).await;

    assert_eq!(refused.status, 429);
    assert_eq!(refused.error_code().as_deref(), Some("RATE_LIMITED"));
    let shown = app
        .graphql(
            &root,
            "query($id: ID!) { ticket(id: $id) { priority } }",
            json!({ "id": ticket }),
        )
        .await;
    assert_eq!(shown.data("ticket")["priority"], "NORMAL");
}
}

on_both_stores! {
async fn bulk_ids_written_inline_or_spread_over_aliases_count_the_same(store: BucketStore) {
    let app = spawn_app_with(store.limit(1, 0.01)).await;
    let ids = serde_json::to_string(&unknown_ids(11)).expect("json");
    let query = format!(
        "mutation {{ ...Bulk }} fragment Bulk on Mutation {{
            a: updateTickets(ids: {ids}, input: {{ priority: LOW }}) {{ id }}
        }}"
    );

    let refused = app.graphql(&app.admin("root"), &query, json!({})).await;

    assert_eq!(refused.error_code().as_deref(), Some("RATE_LIMITED"));
}
}

#[tokio::test]
async fn a_bulk_update_of_too_many_ids_is_told_so_rather_than_to_retry() {
    let app = spawn_app_with(|config| {
        config.http.mutation_rate_limit.burst = 10;
        config.http.mutation_rate_limit.per_second = 0.01;
    })
    .await;

    let reply = app
        .graphql(
            &app.admin("root"),
            BULK,
            json!({ "ids": unknown_ids(1000) }),
        )
        .await;

    reply.expect_bad_input("ids");
}

on_both_stores! {
async fn a_bulk_update_over_the_socket_costs_what_it_costs_over_http(store: BucketStore) {
    let app = spawn_app_with(store.limit(1, 0.01)).await;
    let ids = serde_json::to_string(&unknown_ids(11)).expect("json");
    let mutation =
        format!("mutation {{ updateTickets(ids: {ids}, input: {{ priority: LOW }}) {{ id }} }}");

    for protocol in PROTOCOLS {
        let answer = over_socket(&app, protocol, &app.admin("root"), &mutation).await;

        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "RATE_LIMITED",
            "{protocol}: {answer}"
        );
    }
}
}
