use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, User, spawn_app};

const CREATE: &str = "mutation($input: CreateTicketInput!) {
    createTicket(input: $input) {
        id userId subject status createdAt updatedAt
        messages { ticketId authorId authorRole body internal createdAt }
    }
}";

async fn create(app: &TestApp, user: &User, subject: &str, message: &str) -> Reply {
    app.graphql(
        user,
        CREATE,
        json!({ "input": { "subject": subject, "message": message } }),
    )
    .await
}

fn assert_bad_input(reply: &Reply, field: &str) {
    reply.expect_bad_input(field);
    assert_eq!(reply.data("createTicket"), &Value::Null);
}

#[tokio::test]
async fn a_new_ticket_is_open_owned_by_its_creator_with_the_first_message() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    let reply = create(&app, &alice, "Printer on fire", "Flames everywhere")
        .await
        .expect_ok();

    let ticket = reply.data("createTicket");
    assert_eq!(ticket["userId"], "alice");
    assert_eq!(ticket["status"], "OPEN");
    assert_eq!(ticket["createdAt"], ticket["updatedAt"]);
    assert_eq!(
        ticket["messages"],
        json!([{
            "ticketId": ticket["id"],
            "authorId": "alice",
            "authorRole": "CUSTOMER",
            "body": "Flames everywhere",
            "internal": false,
            "createdAt": ticket["createdAt"],
        }])
    );
}

#[tokio::test]
async fn timestamps_are_rfc3339_in_utc_with_milliseconds() {
    let app = spawn_app().await;

    let reply = create(&app, &app.customer("alice"), "Clock", "Tick")
        .await
        .expect_ok();

    let created_at = reply.data("createTicket")["createdAt"]
        .as_str()
        .expect("string")
        .to_owned();
    assert!(created_at.ends_with('Z'), "{created_at}");
    let fraction = created_at
        .split('.')
        .nth(1)
        .expect("a fraction of a second");
    assert!(fraction.len() > 3, "{created_at}");
    let parsed: DateTime<Utc> = created_at.parse().expect("RFC 3339");
    assert!((Utc::now() - parsed).num_seconds().abs() < 60);
}

#[tokio::test]
async fn subject_and_message_are_stored_trimmed() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let created = create(&app, &alice, "\u{2003} Spaced out \t", "\n  body \u{a0}")
        .await
        .expect_ok();
    let id = created.data("createTicket")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let stored = app.ticket(&alice, &id).await.expect_ok();

    assert_eq!(stored.data("ticket")["subject"], "Spaced out");
    assert_eq!(stored.data("ticket")["messages"][0]["body"], "body");
}

#[tokio::test]
async fn a_blank_subject_is_bad_user_input_and_nothing_is_written() {
    let app = spawn_app().await;

    let reply = create(&app, &app.customer("alice"), "   ", "Hello").await;

    assert_bad_input(&reply, "subject");
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn a_blank_message_is_bad_user_input_and_nothing_is_written() {
    let app = spawn_app().await;

    let reply = create(&app, &app.customer("alice"), "Hello", "\n\t ").await;

    assert_bad_input(&reply, "message");
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn when_subject_and_message_are_both_invalid_the_error_names_subject() {
    let app = spawn_app().await;

    let reply = create(&app, &app.customer("alice"), "", "").await;

    assert_bad_input(&reply, "subject");
}

#[tokio::test]
async fn a_subject_holds_up_to_255_characters_counted_not_bytes() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    let longest = create(&app, &alice, &"ж".repeat(255), "ok").await;
    let too_long = create(&app, &alice, &"ж".repeat(256), "ok").await;

    assert_eq!(
        longest.expect_ok().data("createTicket")["subject"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(255)
    );
    assert_bad_input(&too_long, "subject");
}

#[tokio::test]
async fn a_message_holds_up_to_10000_characters() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    let longest = create(&app, &alice, "Long", &"🦀".repeat(10_000)).await;
    let too_long = create(&app, &alice, "Long", &"a".repeat(10_001)).await;

    longest.expect_ok();
    assert_bad_input(&too_long, "message");
    assert_eq!(app.ticket_total().await, 1);
}

#[tokio::test]
async fn text_with_a_nul_character_is_bad_user_input() {
    let app = spawn_app().await;

    let reply = create(&app, &app.customer("alice"), "nul\u{0}here", "Hello").await;

    assert_bad_input(&reply, "subject");
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn an_admin_may_open_a_ticket_too() {
    let app = spawn_app().await;

    let reply = create(&app, &app.admin("root"), "Internal", "Hi")
        .await
        .expect_ok();

    assert_eq!(
        reply.data("createTicket")["messages"][0]["authorRole"],
        "ADMIN"
    );
}
