//! How many SQL statements a request runs: fixed, whatever the page size; and each
//! write's, pinned so that what a change adds to them is a decision.

use serde_json::{Value, json};

use crate::helpers::{
    Reply, StatementLog, TestApp, User, postgres_server_url, spawn_app_logging_statements,
};

const LIST_WITH_MESSAGES: &str = "query($limit: Int!) {
    tickets(limit: $limit) { items { id messages { body authorRole } } pagination { total } }
}";

/// Opens `count` tickets, each by a customer of its own, each with a reply.
async fn open_tickets(app: &TestApp, count: usize) {
    let admin = app.admin("root");
    for n in 0..count {
        let id = app
            .open_ticket(&app.customer(&format!("customer-{n}")), "Busy")
            .await;
        app.add_message(&admin, &id, "On it", false)
            .await
            .expect_ok();
    }
}

#[tokio::test]
async fn a_page_with_messages_takes_two_statements_whatever_its_size() {
    let (app, statements) = spawn_app_logging_statements().await;
    open_tickets(&app, 30).await;
    let admin = app.admin("root");

    for limit in [5, 30] {
        statements.clear();
        let reply = app
            .graphql(&admin, LIST_WITH_MESSAGES, json!({ "limit": limit }))
            .await
            .expect_ok();
        assert_eq!(
            reply.data("tickets")["items"].as_array().map(Vec::len),
            Some(limit)
        );
        assert_eq!(
            reply.data("tickets")["items"][0]["messages"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        // The page with its total, and the messages of the whole page.
        assert_eq!(statements.count(), 2, "limit {limit}");
    }
}

#[tokio::test]
async fn a_page_with_its_total_takes_one_statement() {
    let (app, statements) = spawn_app_logging_statements().await;
    open_tickets(&app, 3).await;
    statements.clear();

    app.graphql(
        &app.admin("root"),
        "{ tickets { items { id subject } pagination { total } } }",
        json!({}),
    )
    .await
    .expect_ok();

    assert_eq!(statements.count(), 1);
}

#[tokio::test]
async fn a_page_past_the_last_still_answers_the_total() {
    let app = crate::helpers::spawn_app().await;
    open_tickets(&app, 3).await;

    let reply = app
        .graphql(
            &app.admin("root"),
            "{ tickets(page: 9, limit: 2) { items { id } pagination { total totalPages } } }",
            json!({}),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("tickets")["items"], json!([]));
    assert_eq!(reply.data("tickets")["pagination"]["total"], 3);
    let customers = app
        .graphql(
            &app.customer("customer-1"),
            "{ tickets(page: 9) { items { id } pagination { total } } }",
            json!({}),
        )
        .await
        .expect_ok();
    assert_eq!(customers.data("tickets")["items"], json!([]));
    assert_eq!(customers.data("tickets")["pagination"]["total"], 1);
}

/// Opens a ticket for `alice` with an admin's reply and an internal note; its id.
async fn a_conversation(app: &TestApp) -> String {
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "One").await;
    app.add_message(&admin, &id, "On it", false)
        .await
        .expect_ok();
    app.add_message(&admin, &id, "Customer is grumpy", true)
        .await
        .expect_ok();
    id
}

#[tokio::test]
async fn a_ticket_with_its_history_takes_one_statement() {
    let (app, statements) = spawn_app_logging_statements().await;
    let id = a_conversation(&app).await;

    for (user, shown) in [(app.customer("alice"), 2), (app.admin("root"), 3)] {
        statements.clear();

        let reply = app.ticket(&user, &id).await.expect_ok();

        assert_eq!(
            reply.data("ticket")["messages"].as_array().map(Vec::len),
            Some(shown)
        );
        assert_eq!(statements.count(), 1);
    }
}

#[tokio::test]
async fn a_ticket_without_its_history_takes_one_statement() {
    let (app, statements) = spawn_app_logging_statements().await;
    let id = a_conversation(&app).await;
    statements.clear();

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($id: ID!) { ticket(id: $id) { id subject status } }",
            json!({ "id": id }),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("ticket")["id"], id.as_str());
    assert_eq!(statements.count(), 1);
}

#[tokio::test]
async fn another_customers_ticket_takes_one_statement_and_is_not_found() {
    let (app, statements) = spawn_app_logging_statements().await;
    let id = a_conversation(&app).await;
    statements.clear();

    let reply = app.ticket(&app.customer("mallory"), &id).await;

    assert_eq!(reply.error_code().as_deref(), Some("NOT_FOUND"));
    assert_eq!(statements.count(), 1);
}

/// How many statements `write` runs once sent, and that it succeeded.
async fn statements_of(statements: &StatementLog, write: impl Future<Output = Reply>) -> usize {
    statements.clear();
    write.await.expect_ok();
    statements.count()
}

/// The statements a write takes on the database the suite runs on: PostgreSQL numbers
/// events and indexes messages in other statements than SQLite.
fn pinned(sqlite: usize, postgres: usize) -> usize {
    if postgres_server_url().is_some() {
        postgres
    } else {
        sqlite
    }
}

// Each write below is pinned with what it took before the queue and tag counts were kept
// (SQLite, then PostgreSQL in parentheses) and what they add: one upsert per count table
// the write changes (`ticket_queue_counts` when the status, priority or assignee moves,
// `ticket_tag_counts` when the status or the tags do), however many rows it touches.
// Since events are ordered by transaction, PostgreSQL makes an event's id in the INSERT
// itself (the column's default) where it took two statements before it (the order lock,
// then the newest id), and announces them after the commit, outside the write (a
// statement not counted here, one per burst of writes): three fewer than in parentheses;
// and a write with a message inserts it and its events in one statement, one fewer still.

#[tokio::test]
async fn opening_a_ticket_takes_its_pinned_statements() {
    let (app, statements) = spawn_app_logging_statements().await;

    let taken = statements_of(
        &statements,
        app.open_ticket_reply(&app.customer("alice"), "Printer on fire"),
    )
    .await;

    // 7 (8) before the queue and tag counts; and the new ticket's queue count.
    assert_eq!(taken, pinned(8, 5));
}

#[tokio::test]
async fn a_status_change_takes_its_pinned_statements() {
    let (app, statements) = spawn_app_logging_statements().await;
    let id = ticket_of_alice(&app).await;

    let taken = statements_of(
        &statements,
        app.set_status(&app.admin("root"), &id, "RESOLVED"),
    )
    .await;

    // 5 (7) before the queue and tag counts; and one upsert for each.
    assert_eq!(taken, pinned(7, 6));
}

/// The statements root's `updateTicket` with `patch` takes on alice's new ticket, once
/// `before` (if any) was applied to it.
async fn statements_of_patch(before: Option<Value>, patch: Value) -> usize {
    let (app, statements) = spawn_app_logging_statements().await;
    let id = ticket_of_alice(&app).await;
    let root = app.admin("root");
    if let Some(before) = before {
        app.patch(&root, &id, before).await.expect_ok();
    }
    statements_of(&statements, app.patch(&root, &id, patch)).await
}

#[tokio::test]
async fn a_priority_and_assignee_change_takes_its_pinned_statements() {
    let taken =
        statements_of_patch(None, json!({ "priority": "HIGH", "assigneeId": "agent-1" })).await;

    // 5 (7) before the queue and tag counts; and the queue counts' upsert.
    assert_eq!(taken, pinned(6, 5));
}

#[tokio::test]
async fn a_tag_change_takes_its_pinned_statements() {
    let taken = statements_of_patch(
        Some(json!({ "addTags": ["billing", "vip"] })),
        json!({ "addTags": ["refund", "printer"], "removeTags": ["billing", "vip"] }),
    )
    .await;

    // 7 (9) before the queue and tag counts; and the tag counts' upsert, of four rows.
    assert_eq!(taken, pinned(8, 7));
}

#[tokio::test]
async fn a_status_and_tag_change_at_once_takes_its_pinned_statements() {
    let taken = statements_of_patch(
        Some(json!({ "addTags": ["billing"] })),
        json!({ "status": "IN_PROGRESS", "addTags": ["refund"] }),
    )
    .await;

    // 8 (10) before the queue and tag counts; and one upsert for each (the tag it held
    // moved and the one added in the same).
    assert_eq!(taken, pinned(10, 9));
}

/// A new ticket of alice's, OPEN.
async fn ticket_of_alice(app: &TestApp) -> String {
    app.open_ticket(&app.customer("alice"), "Printer on fire")
        .await
}

/// Alice's ticket, which root resolved: her reply reopens it.
async fn resolved_ticket_of_alice(app: &TestApp) -> (User, String) {
    let id = ticket_of_alice(app).await;
    app.set_status(&app.admin("root"), &id, "RESOLVED")
        .await
        .expect_ok();
    (app.customer("alice"), id)
}

#[tokio::test]
async fn a_reply_that_reopens_a_ticket_takes_its_pinned_statements() {
    let (app, statements) = spawn_app_logging_statements().await;
    let (alice, id) = resolved_ticket_of_alice(&app).await;

    let taken = statements_of(
        &statements,
        app.add_message(&alice, &id, "Still on fire", false),
    )
    .await;

    // 7 (9) before the queue and tag counts; and one upsert for each. On PostgreSQL the
    // ticket's row and its search index are one UPDATE.
    assert_eq!(taken, pinned(9, 6));
}

// The counts' rows are shared by every writer of a kind (every new ticket counts in the
// row of all owners) and stay locked until the commit: a write counts last, so that
// writers queue there for one another's commits only.

/// That `write`, once sent, touched the count tables in its last statements only (a tag
/// change writes the ticket's tags after their counts).
async fn assert_counted_last(statements: &StatementLog, write: impl Future<Output = Reply>) {
    statements_of(statements, write).await;
    let texts = statements.texts();
    let counts = |sql: &String| sql.contains("_counts");
    let first_count = texts.iter().position(counts).expect("a count");
    assert!(
        texts[first_count..]
            .iter()
            .all(|sql| counts(sql) || sql.contains("ticket_tags")),
        "{texts:#?}"
    );
}

#[tokio::test]
async fn a_new_ticket_is_counted_last_in_its_write() {
    let (app, statements) = spawn_app_logging_statements().await;

    assert_counted_last(
        &statements,
        app.open_ticket_reply(&app.customer("alice"), "Printer on fire"),
    )
    .await;
}

#[tokio::test]
async fn a_status_and_tag_change_is_counted_last_in_its_write() {
    let (app, statements) = spawn_app_logging_statements().await;
    let id = ticket_of_alice(&app).await;

    assert_counted_last(
        &statements,
        app.patch(
            &app.admin("root"),
            &id,
            json!({ "status": "IN_PROGRESS", "addTags": ["refund"] }),
        ),
    )
    .await;
}

#[tokio::test]
async fn a_reply_that_reopens_a_ticket_is_counted_last_in_its_write() {
    let (app, statements) = spawn_app_logging_statements().await;
    let (alice, id) = resolved_ticket_of_alice(&app).await;

    assert_counted_last(
        &statements,
        app.add_message(&alice, &id, "Still on fire", false),
    )
    .await;
}
