//! Response times: `firstRespondedAt`, set once by the first public message of an admin;
//! `resolvedAt`, set each time a ticket becomes RESOLVED or CLOSED and cleared when it
//! goes back to work.

use serde_json::{Value, json};

use crate::helpers::{TestApp, User, spawn_app};

/// A server, the customer alice, the admin root, and alice's ticket.
async fn alices_ticket() -> (TestApp, User, User, String) {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    (app, alice, root, id)
}

/// Adds a message, which must be accepted: its `createdAt`.
async fn message_at(app: &TestApp, user: &User, id: &str, body: &str, internal: bool) -> Value {
    app.add_message(user, id, body, internal)
        .await
        .expect_ok()
        .data("addTicketMessage")["createdAt"]
        .clone()
}

async fn first_responded_at(app: &TestApp, id: &str) -> Value {
    app.staff_view(id).await["firstRespondedAt"].clone()
}

async fn resolved_at(app: &TestApp, id: &str) -> Value {
    app.staff_view(id).await["resolvedAt"].clone()
}

/// Moves ticket `id` to `status` with `updateTicket`: the time it answers as `updatedAt`.
async fn move_to(app: &TestApp, root: &User, id: &str, status: &str) -> Value {
    app.patch(root, id, json!({ "status": status }))
        .await
        .expect_ok()
        .data("updateTicket")["updatedAt"]
        .clone()
}

#[tokio::test]
async fn the_first_public_admin_message_sets_first_responded_at() {
    let (app, _, root, id) = alices_ticket().await;

    let at = message_at(&app, &root, &id, "On it", false).await;

    assert_eq!(first_responded_at(&app, &id).await, at);
}

#[tokio::test]
async fn an_internal_note_does_not_set_first_responded_at() {
    let (app, _, root, id) = alices_ticket().await;

    message_at(&app, &root, &id, "Duplicate?", true).await;

    assert_eq!(first_responded_at(&app, &id).await, Value::Null);
}

#[tokio::test]
async fn a_customer_message_does_not_set_first_responded_at() {
    let (app, alice, _, id) = alices_ticket().await;

    message_at(&app, &alice, &id, "Anyone?", false).await;

    assert_eq!(first_responded_at(&app, &id).await, Value::Null);
}

#[tokio::test]
async fn a_later_admin_message_does_not_move_first_responded_at() {
    let (app, _, root, id) = alices_ticket().await;
    let first = message_at(&app, &root, &id, "On it", false).await;

    message_at(&app, &app.admin("other"), &id, "Still on it", false).await;

    assert_eq!(first_responded_at(&app, &id).await, first);
}

#[tokio::test]
async fn resolving_sets_resolved_at() {
    let (app, _, root, id) = alices_ticket().await;

    let at = move_to(&app, &root, &id, "RESOLVED").await;

    assert_eq!(resolved_at(&app, &id).await, at);
}

#[tokio::test]
async fn resolving_with_update_ticket_status_sets_resolved_at() {
    let (app, _, root, id) = alices_ticket().await;

    let reply = app.set_status(&root, &id, "RESOLVED").await.expect_ok();

    let at = &reply.data("updateTicketStatus")["updatedAt"];
    assert_eq!(&resolved_at(&app, &id).await, at);
}

#[tokio::test]
async fn a_customer_reply_reopening_a_resolved_ticket_clears_resolved_at() {
    let (app, alice, root, id) = alices_ticket().await;
    move_to(&app, &root, &id, "RESOLVED").await;

    message_at(&app, &alice, &id, "Still broken", false).await;

    let ticket = app.staff_view(&id).await;
    assert_eq!(ticket["status"], "OPEN");
    assert_eq!(ticket["resolvedAt"], Value::Null);
}

#[tokio::test]
async fn closing_a_reopened_ticket_sets_resolved_at_again() {
    let (app, alice, root, id) = alices_ticket().await;
    let resolved = move_to(&app, &root, &id, "RESOLVED").await;
    message_at(&app, &alice, &id, "Still broken", false).await;

    let closed = move_to(&app, &root, &id, "CLOSED").await;

    assert_eq!(resolved_at(&app, &id).await, closed);
    assert_ne!(closed, resolved);
}

#[tokio::test]
async fn closing_a_resolved_ticket_keeps_resolved_at() {
    let (app, _, root, id) = alices_ticket().await;
    let resolved = move_to(&app, &root, &id, "RESOLVED").await;

    move_to(&app, &root, &id, "CLOSED").await;

    assert_eq!(resolved_at(&app, &id).await, resolved);
}

#[tokio::test]
async fn moving_a_resolved_ticket_back_to_in_progress_clears_resolved_at() {
    let (app, _, root, id) = alices_ticket().await;
    move_to(&app, &root, &id, "RESOLVED").await;

    move_to(&app, &root, &id, "IN_PROGRESS").await;

    assert_eq!(resolved_at(&app, &id).await, Value::Null);
}
