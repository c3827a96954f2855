//! `updateTickets`: one patch for 1 to 100 distinct tickets, checked once before anything
//! is written, then applied to each ticket on its own, one result per id in the order given.

use serde_json::{Value, json};

use crate::helpers::{MISSING_TICKET_ID, TestApp, User, kinds, numbered_tags, spawn_app};

/// A server, its admin "root", and `count` tickets alice opened.
async fn app_with_tickets(count: usize) -> (TestApp, User, Vec<String>) {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        ids.push(app.open_ticket(&alice, &format!("Ticket {n}")).await);
    }
    let root = app.admin("root");
    (app, root, ids)
}

/// The results of `updateTickets`, which must answer without a request-level error.
async fn results(app: &TestApp, root: &User, ids: &[&str], input: Value) -> Vec<Value> {
    app.patch_many(root, ids, input)
        .await
        .expect_ok()
        .data("updateTickets")
        .as_array()
        .expect("results")
        .clone()
}

/// Each ticket as an admin sees it, with its timeline.
async fn staff_views(app: &TestApp, ids: &[String]) -> Vec<Value> {
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        views.push(app.staff_view(id).await);
    }
    views
}

/// Sends `updateTickets(ids, input)`, which must be refused whole as BAD_USER_INPUT
/// naming `field`, with every one of `tickets` left as it was.
async fn assert_refused_naming(
    app: &TestApp,
    root: &User,
    tickets: &[String],
    ids: &[&str],
    input: Value,
    field: &str,
) {
    let before = staff_views(app, tickets).await;

    let reply = app.patch_many(root, ids, input).await;

    reply.expect_bad_input(field);
    assert_eq!(reply.data("updateTickets"), &Value::Null);
    assert_eq!(staff_views(app, tickets).await, before);
}

/// Sends `ids` with a valid patch, which must be refused whole naming `ids`.
async fn assert_ids_refused(app: &TestApp, root: &User, tickets: &[String], ids: &[&str]) {
    assert_refused_naming(
        app,
        root,
        tickets,
        ids,
        json!({ "priority": "HIGH" }),
        "ids",
    )
    .await;
}

fn refs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn an_admin_patches_several_tickets_at_once() {
    let (app, root, ids) = app_with_tickets(3).await;

    let answered = results(
        &app,
        &root,
        &refs(&ids),
        json!({ "priority": "HIGH", "assigneeId": "root", "addTags": ["outage"] }),
    )
    .await;

    assert_eq!(answered.len(), 3);
    for (result, id) in answered.iter().zip(&ids) {
        assert_eq!(result["error"], Value::Null);
        assert_eq!(result["ticket"]["id"], id.as_str());
        let stored = app.staff_view(id).await;
        assert_eq!(stored["priority"], "HIGH");
        assert_eq!(stored["assigneeId"], "root");
        assert_eq!(stored["tags"], json!(["outage"]));
    }
}

#[tokio::test]
async fn each_ticket_of_a_bulk_patch_records_its_own_events() {
    let (app, root, ids) = app_with_tickets(2).await;

    results(
        &app,
        &root,
        &refs(&ids),
        json!({ "status": "IN_PROGRESS", "priority": "LOW" }),
    )
    .await;

    for id in &ids {
        let events = app.events(&root, id).await;
        assert_eq!(
            kinds(&events),
            ["TICKET_CREATED", "STATUS_CHANGED", "PRIORITY_CHANGED"]
        );
    }
}

#[tokio::test]
async fn good_unknown_and_malformed_ids_get_one_result_each_in_the_order_given() {
    let (app, root, ids) = app_with_tickets(2).await;
    let sent = [
        ids[0].as_str(),
        MISSING_TICKET_ID,
        "not-a-uuid",
        ids[1].as_str(),
    ];

    let answered = results(&app, &root, &sent, json!({ "priority": "URGENT" })).await;

    let ids_answered: Vec<&Value> = answered.iter().map(|result| &result["id"]).collect();
    assert_eq!(ids_answered, sent);
    for good in [&answered[0], &answered[3]] {
        assert_eq!(good["error"], Value::Null);
        assert_eq!(good["ticket"]["id"], good["id"]);
        assert_eq!(good["ticket"]["priority"], "URGENT");
    }
    for bad in [&answered[1], &answered[2]] {
        assert_eq!(bad["ticket"], Value::Null);
        assert_eq!(bad["error"]["code"], "NOT_FOUND");
    }
    for id in &ids {
        assert_eq!(app.staff_view(id).await["priority"], "URGENT");
    }
}

#[tokio::test]
async fn no_ids_is_bad_user_input_naming_ids() {
    let (app, root, tickets) = app_with_tickets(1).await;

    assert_ids_refused(&app, &root, &tickets, &[]).await;
}

#[tokio::test]
async fn a_hundred_and_one_ids_are_bad_user_input_naming_ids_and_write_nothing() {
    let (app, root, tickets) = app_with_tickets(1).await;
    let mut ids: Vec<String> = (0..100).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    ids.push(tickets[0].clone());

    assert_ids_refused(&app, &root, &tickets, &refs(&ids)).await;
}

#[tokio::test]
async fn a_hundred_ids_are_accepted() {
    let (app, root, tickets) = app_with_tickets(1).await;
    let mut ids: Vec<String> = (0..99).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    ids.push(tickets[0].clone());

    let answered = results(&app, &root, &refs(&ids), json!({ "priority": "HIGH" })).await;

    assert_eq!(answered.len(), 100);
    assert_eq!(answered[99]["ticket"]["priority"], "HIGH");
}

#[tokio::test]
async fn the_same_id_twice_is_bad_user_input_naming_ids_and_writes_nothing() {
    let (app, root, tickets) = app_with_tickets(2).await;
    let ids = [
        tickets[0].as_str(),
        tickets[1].as_str(),
        tickets[0].as_str(),
    ];

    assert_ids_refused(&app, &root, &tickets, &ids).await;
}

#[tokio::test]
async fn the_same_id_in_another_spelling_is_the_same_id() {
    let (app, root, tickets) = app_with_tickets(1).await;
    let shouted = tickets[0].to_uppercase();
    let ids = [tickets[0].as_str(), shouted.as_str()];

    assert_ids_refused(&app, &root, &tickets, &ids).await;
}

#[tokio::test]
async fn an_invalid_patch_is_refused_before_any_ticket_is_written() {
    let (app, root, tickets) = app_with_tickets(2).await;

    assert_refused_naming(
        &app,
        &root,
        &tickets,
        &refs(&tickets),
        json!({ "priority": "HIGH", "addTags": ["ok", "Not OK"] }),
        "addTags",
    )
    .await;
}

#[tokio::test]
async fn the_patch_is_checked_before_the_ids() {
    let (app, root, tickets) = app_with_tickets(1).await;

    assert_refused_naming(&app, &root, &tickets, &[], json!({}), "input").await;
}

#[tokio::test]
async fn a_ticket_that_would_pass_twenty_tags_gets_its_own_error_and_the_others_are_updated() {
    let (app, root, ids) = app_with_tickets(2).await;
    app.patch(&root, &ids[0], json!({ "addTags": numbered_tags(20) }))
        .await
        .expect_ok();
    let full_before = app.staff_view(&ids[0]).await;

    let answered = results(
        &app,
        &root,
        &refs(&ids),
        json!({ "priority": "HIGH", "addTags": ["one-more"] }),
    )
    .await;

    assert_eq!(answered[0]["ticket"], Value::Null);
    assert_eq!(answered[0]["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(app.staff_view(&ids[0]).await, full_before);
    assert_eq!(answered[1]["error"], Value::Null);
    assert_eq!(answered[1]["ticket"]["tags"], json!(["one-more"]));
    assert_eq!(answered[1]["ticket"]["priority"], "HIGH");
}
