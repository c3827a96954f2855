use chrono::{DateTime, TimeZone, Utc};
use entity::prelude::{Role, TicketStatus};
use entity::{ticket, ticket_message};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, Database, DatabaseConnection};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, message_bodies, spawn_app};

fn assert_ticket_not_found(reply: &crate::helpers::Reply) {
    assert_eq!(
        reply.error_code().as_deref(),
        Some("NOT_FOUND"),
        "{:#}",
        reply.body
    );
    assert_eq!(reply.error_message().as_deref(), Some("Ticket not found"));
    assert_eq!(reply.data("ticket"), &Value::Null);
}

#[tokio::test]
async fn a_ticket_comes_with_its_whole_history_oldest_first() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let ticket = app.create_ticket(&alice, "Broken login").await;
    let id = ticket["id"].as_str().expect("id");
    app.add_message(&admin, id, "Have you tried turning it off?", false)
        .await
        .expect_ok();
    app.add_message(&alice, id, "Yes.", false).await.expect_ok();

    let reply = app.ticket(&alice, id).await.expect_ok();

    let shown = reply.data("ticket");
    assert_eq!(shown["subject"], "Broken login");
    let history: Vec<_> = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| (message["authorRole"].clone(), message["body"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            ("CUSTOMER".into(), "First message".into()),
            ("ADMIN".into(), "Have you tried turning it off?".into()),
            ("CUSTOMER".into(), "Yes.".into()),
        ]
    );
}

#[tokio::test]
async fn an_admin_sees_any_customers_ticket() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(&app.customer("alice"), "Refund").await;

    let reply = app
        .ticket(&app.admin("root"), ticket["id"].as_str().expect("id"))
        .await
        .expect_ok();

    assert_eq!(reply.data("ticket")["userId"], "alice");
}

#[tokio::test]
async fn another_customers_ticket_is_not_found() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(&app.customer("alice"), "Private").await;

    let reply = app
        .ticket(&app.customer("mallory"), ticket["id"].as_str().expect("id"))
        .await;

    assert_ticket_not_found(&reply);
}

#[tokio::test]
async fn a_missing_ticket_is_not_found() {
    let app = spawn_app().await;

    let reply = app
        .ticket(&app.admin("root"), "01890a5d-ac96-774b-bcce-b302099a8057")
        .await;

    assert_ticket_not_found(&reply);
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_not_found() {
    let app = spawn_app().await;

    let reply = app
        .ticket(&app.admin("root"), "42; DROP TABLE tickets")
        .await;

    assert_ticket_not_found(&reply);
}

#[tokio::test]
async fn ticket_ids_are_lower_case_uuid_v7_and_parse_in_any_case() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Case").await;

    let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
    assert_eq!(parsed.get_version_num(), 7);
    assert_eq!(id, parsed.hyphenated().to_string());
    let reply = app.ticket(&alice, &id.to_uppercase()).await.expect_ok();
    assert_eq!(reply.data("ticket")["id"], id);
}

fn instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("instant")
}

/// Writes `alice`'s ticket straight into the database, bypassing the API (which always
/// opens a ticket with a public message); its id.
async fn insert_ticket(app: &TestApp) -> (DatabaseConnection, Uuid) {
    let db = Database::connect(&app.database_url)
        .await
        .expect("database");
    let id = Uuid::now_v7();
    ticket::ActiveModel {
        id: Set(id),
        user_id: Set("alice".into()),
        subject: Set("Quiet".into()),
        status: Set(TicketStatus::Open),
        created_at: Set(instant()),
        updated_at: Set(instant()),
        // The columns triage added take their defaults, as for a ticket written before them.
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("inserted");
    (db, id)
}

async fn insert_message(db: &DatabaseConnection, ticket_id: Uuid, id: &str, internal: bool) {
    ticket_message::ActiveModel {
        id: Set(id.parse().expect("uuid")),
        ticket_id: Set(ticket_id),
        author_id: Set("root".into()),
        author_role: Set(Role::Admin),
        body: Set(id.into()),
        internal: Set(internal),
        created_at: Set(instant()),
    }
    .insert(db)
    .await
    .expect("inserted");
}

#[tokio::test]
async fn a_ticket_with_only_internal_notes_is_found_with_no_messages_by_its_customer() {
    let app = spawn_app().await;
    let (db, id) = insert_ticket(&app).await;
    let note = "00000000-0000-7000-8000-000000000001";
    insert_message(&db, id, note, true).await;

    let reply = app
        .ticket(&app.customer("alice"), &id.to_string())
        .await
        .expect_ok();

    assert_eq!(reply.data("ticket")["subject"], "Quiet");
    assert_eq!(message_bodies(reply.data("ticket")), Vec::<String>::new());
    let seen_by_admin = app
        .ticket(&app.admin("root"), &id.to_string())
        .await
        .expect_ok();
    assert_eq!(message_bodies(seen_by_admin.data("ticket")), [note]);
}

#[tokio::test]
async fn a_ticket_without_messages_is_found_with_none() {
    let app = spawn_app().await;
    let (_db, id) = insert_ticket(&app).await;

    let reply = app
        .ticket(&app.customer("alice"), &id.to_string())
        .await
        .expect_ok();

    assert_eq!(reply.data("ticket")["id"], id.to_string());
    assert_eq!(message_bodies(reply.data("ticket")), Vec::<String>::new());
}

#[tokio::test]
async fn messages_written_at_the_same_instant_are_ordered_by_id() {
    let app = spawn_app().await;
    let (db, id) = insert_ticket(&app).await;
    let ids = [
        "00000000-0000-7000-8000-000000000002",
        "00000000-0000-7000-8000-000000000003",
        "00000000-0000-7000-8000-000000000001",
    ];
    for message in ids {
        insert_message(&db, id, message, false).await;
    }

    let reply = app
        .ticket(&app.customer("alice"), &id.to_string())
        .await
        .expect_ok();

    assert_eq!(
        message_bodies(reply.data("ticket")),
        [ids[2], ids[0], ids[1]]
    );
}
