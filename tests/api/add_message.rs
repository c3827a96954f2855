use serde_json::Value;

use crate::helpers::{Reply, TestApp, User, message_bodies, spawn_app};

const MISSING_ID: &str = "01890a5d-ac96-774b-bcce-b302099a8057";

async fn shown_ticket(app: &TestApp, user: &User, id: &str) -> Value {
    app.ticket(user, id)
        .await
        .expect_ok()
        .data("ticket")
        .clone()
}

fn assert_code(reply: &Reply, code: &str) {
    assert_eq!(
        reply.error_code().as_deref(),
        Some(code),
        "{:#}",
        reply.body
    );
    assert_eq!(reply.data("addTicketMessage"), &Value::Null);
}

#[tokio::test]
async fn the_owner_replies_to_their_ticket() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let reply = app
        .add_message(&alice, &id, "  More details  ", false)
        .await
        .expect_ok();

    let message = reply.data("addTicketMessage");
    assert_eq!(message["ticketId"], id.as_str());
    assert_eq!(message["authorId"], "alice");
    assert_eq!(message["authorRole"], "CUSTOMER");
    assert_eq!(message["body"], "More details");
    assert_eq!(message["internal"], false);
    assert_eq!(
        message_bodies(&shown_ticket(&app, &alice, &id).await),
        ["First message", "More details"]
    );
}

#[tokio::test]
async fn an_admin_replies_to_any_ticket() {
    let app = spawn_app().await;
    let id = app.open_ticket(&app.customer("alice"), "Help").await;

    let reply = app
        .add_message(&app.admin("root"), &id, "On it", false)
        .await
        .expect_ok();

    assert_eq!(reply.data("addTicketMessage")["authorRole"], "ADMIN");
}

#[tokio::test]
async fn a_public_message_bumps_updated_at() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;
    let before = shown_ticket(&app, &alice, &id).await;

    app.add_message(&app.admin("root"), &id, "Reply", false)
        .await
        .expect_ok();

    let after = shown_ticket(&app, &alice, &id).await;
    assert!(after["updatedAt"].as_str() > before["updatedAt"].as_str());
}

#[tokio::test]
async fn another_customer_cannot_reply_and_learns_nothing() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let reply = app
        .add_message(&app.customer("mallory"), &id, "Hi", false)
        .await;

    assert_code(&reply, "NOT_FOUND");
    assert_eq!(reply.error_message().as_deref(), Some("Ticket not found"));
    assert_eq!(
        message_bodies(&shown_ticket(&app, &alice, &id).await),
        ["First message"]
    );
}

#[tokio::test]
async fn a_reply_to_a_missing_ticket_is_not_found() {
    let app = spawn_app().await;

    let reply = app
        .add_message(&app.admin("root"), MISSING_ID, "Hi", false)
        .await;

    assert_code(&reply, "NOT_FOUND");
}

#[tokio::test]
async fn a_reply_to_an_id_that_is_not_a_uuid_is_not_found() {
    let app = spawn_app().await;

    let reply = app
        .add_message(&app.admin("root"), "ticket-1", "Hi", false)
        .await;

    assert_code(&reply, "NOT_FOUND");
}

#[tokio::test]
async fn a_customer_may_not_write_an_internal_note() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let reply = app.add_message(&alice, &id, "psst", true).await;

    assert_code(&reply, "FORBIDDEN");
    assert_eq!(
        message_bodies(&shown_ticket(&app, &alice, &id).await),
        ["First message"]
    );
}

#[tokio::test]
async fn forbidden_comes_before_bad_input_and_not_found() {
    let app = spawn_app().await;

    let reply = app
        .add_message(&app.customer("alice"), MISSING_ID, "", true)
        .await;

    assert_code(&reply, "FORBIDDEN");
}

#[tokio::test]
async fn a_blank_body_is_bad_user_input_naming_body() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let reply = app.add_message(&alice, &id, " \n ", false).await;

    assert_code(&reply, "BAD_USER_INPUT");
    assert_eq!(reply.error_field().as_deref(), Some("body"));
}

#[tokio::test]
async fn a_body_over_10000_characters_is_bad_user_input() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let reply = app
        .add_message(&alice, &id, &"b".repeat(10_001), false)
        .await;

    assert_code(&reply, "BAD_USER_INPUT");
}

#[tokio::test]
async fn bad_input_comes_before_not_found() {
    let app = spawn_app().await;

    let reply = app
        .add_message(&app.admin("root"), MISSING_ID, "", false)
        .await;

    assert_code(&reply, "BAD_USER_INPUT");
}

#[tokio::test]
async fn customers_never_see_internal_notes() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;

    app.add_message(&admin, &id, "Customer is grumpy", true)
        .await
        .expect_ok();

    assert_eq!(
        message_bodies(&shown_ticket(&app, &alice, &id).await),
        ["First message"]
    );
    let seen_by_admin = shown_ticket(&app, &admin, &id).await;
    assert_eq!(
        message_bodies(&seen_by_admin),
        ["First message", "Customer is grumpy"]
    );
    assert_eq!(seen_by_admin["messages"][1]["internal"], true);
}

#[tokio::test]
async fn an_internal_note_leaves_updated_at_alone() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;
    let before = shown_ticket(&app, &alice, &id).await;

    app.add_message(&app.admin("root"), &id, "note", true)
        .await
        .expect_ok();

    assert_eq!(
        shown_ticket(&app, &alice, &id).await["updatedAt"],
        before["updatedAt"]
    );
}

#[tokio::test]
async fn a_closed_ticket_takes_no_more_messages() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.set_status(&admin, &id, "CLOSED").await.expect_ok();

    let from_customer = app.add_message(&alice, &id, "Hello?", false).await;
    let note_from_admin = app.add_message(&admin, &id, "note", true).await;

    assert_code(&from_customer, "FAILED_PRECONDITION");
    assert_eq!(
        from_customer.error_message().as_deref(),
        Some("Ticket is closed")
    );
    assert_code(&note_from_admin, "FAILED_PRECONDITION");
    assert_eq!(
        message_bodies(&shown_ticket(&app, &admin, &id).await),
        ["First message"]
    );
}

#[tokio::test]
async fn bad_input_comes_before_failed_precondition() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.set_status(&admin, &id, "CLOSED").await.expect_ok();

    let reply = app.add_message(&alice, &id, "", false).await;

    assert_code(&reply, "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_customer_reply_reopens_a_resolved_ticket() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.set_status(&admin, &id, "RESOLVED").await.expect_ok();

    app.add_message(&alice, &id, "Still broken", false)
        .await
        .expect_ok();

    assert_eq!(shown_ticket(&app, &alice, &id).await["status"], "OPEN");
}

#[tokio::test]
async fn an_admin_reply_leaves_a_resolved_ticket_resolved() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.set_status(&admin, &id, "RESOLVED").await.expect_ok();

    app.add_message(&admin, &id, "Glad it works", false)
        .await
        .expect_ok();

    assert_eq!(shown_ticket(&app, &alice, &id).await["status"], "RESOLVED");
}

#[tokio::test]
async fn a_customer_reply_leaves_an_in_progress_ticket_in_progress() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.set_status(&admin, &id, "IN_PROGRESS").await.expect_ok();

    app.add_message(&alice, &id, "Any news?", false)
        .await
        .expect_ok();

    assert_eq!(
        shown_ticket(&app, &alice, &id).await["status"],
        "IN_PROGRESS"
    );
}
