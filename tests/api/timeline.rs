//! A ticket's timeline (`Ticket.events`): every mutation records its events with its
//! change, oldest first; customers never see an internal note's; and the migration that
//! introduced it backfills what existing tickets tell.

use chrono::{DateTime, Duration, TimeZone, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use supportdesk::config::DatabaseConfig;
use uuid::Uuid;

use crate::helpers::{
    Reply, TestApp, TestDatabase, User, execute_sql, required_postgres_server_url, spawn_app,
    spawn_app_over,
};

const TIMELINE: &str = "query($id: ID!, $after: ID, $limit: Int!) {
    ticket(id: $id) {
        events(after: $after, limit: $limit) {
            id kind ticketId actorId actorRole createdAt fromStatus toStatus
            message { id body internal }
            ticket { id status }
        }
    }
}";

async fn timeline_reply(
    app: &TestApp,
    user: &User,
    id: &str,
    after: Option<&str>,
    limit: i32,
) -> Reply {
    app.graphql(
        user,
        TIMELINE,
        json!({ "id": id, "after": after, "limit": limit }),
    )
    .await
}

/// The whole timeline of ticket `id` as `user` sees it.
async fn timeline(app: &TestApp, user: &User, id: &str) -> Vec<Value> {
    let reply = timeline_reply(app, user, id, None, 100).await.expect_ok();
    reply.data("ticket")["events"]
        .as_array()
        .expect("events")
        .clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["kind"].as_str().expect("kind"))
        .collect()
}

fn ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn opening_a_ticket_records_its_creation_with_the_first_message() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let events = timeline(&app, &alice, &id).await;

    assert_eq!(kinds(&events), ["TICKET_CREATED"]);
    let created = &events[0];
    assert_eq!(created["ticketId"], id.as_str());
    assert_eq!(created["actorId"], "alice");
    assert_eq!(created["actorRole"], "CUSTOMER");
    assert_eq!(created["message"]["body"], "First message");
    assert_eq!(created["fromStatus"], Value::Null);
    assert_eq!(created["ticket"]["status"], "OPEN");
}

#[tokio::test]
async fn each_mutation_records_its_events_in_order() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;

    app.add_message(&root, &id, "On it", false)
        .await
        .expect_ok();
    app.set_status(&root, &id, "IN_PROGRESS").await.expect_ok();

    let events = timeline(&app, &root, &id).await;
    assert_eq!(
        kinds(&events),
        ["TICKET_CREATED", "MESSAGE_ADDED", "STATUS_CHANGED"]
    );
    assert_eq!(events[1]["actorId"], "root");
    assert_eq!(events[1]["actorRole"], "ADMIN");
    assert_eq!(events[1]["message"]["body"], "On it");
    assert_eq!(events[2]["fromStatus"], "OPEN");
    assert_eq!(events[2]["toStatus"], "IN_PROGRESS");
    assert_eq!(events[2]["message"], Value::Null);
    let mut sorted = ids(&events);
    sorted.sort_unstable();
    assert_eq!(sorted, ids(&events));
}

#[tokio::test]
async fn setting_the_status_a_ticket_already_has_records_nothing() {
    let app = spawn_app().await;
    let root = app.admin("root");
    let id = app.open_ticket(&app.customer("alice"), "Help").await;

    app.set_status(&root, &id, "OPEN").await.expect_ok();

    assert_eq!(kinds(&timeline(&app, &root, &id).await), ["TICKET_CREATED"]);
}

#[tokio::test]
async fn a_customer_reply_that_reopens_a_resolved_ticket_records_the_message_then_the_reopening() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.set_status(&root, &id, "RESOLVED").await.expect_ok();

    app.add_message(&alice, &id, "Still broken", false)
        .await
        .expect_ok();

    let events = timeline(&app, &alice, &id).await;
    assert_eq!(kinds(&events[2..]), ["MESSAGE_ADDED", "STATUS_CHANGED"]);
    let reopened = &events[3];
    assert_eq!(reopened["actorId"], "alice");
    assert_eq!(reopened["actorRole"], "CUSTOMER");
    assert_eq!(reopened["fromStatus"], "RESOLVED");
    assert_eq!(reopened["toStatus"], "OPEN");
}

#[tokio::test]
async fn a_customers_timeline_omits_internal_notes_that_the_admins_shows() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;

    app.add_message(&root, &id, "Looks like a duplicate", true)
        .await
        .expect_ok();

    let admins = timeline(&app, &root, &id).await;
    assert_eq!(kinds(&admins), ["TICKET_CREATED", "MESSAGE_ADDED"]);
    assert_eq!(admins[1]["message"]["internal"], true);
    assert_eq!(
        kinds(&timeline(&app, &alice, &id).await),
        ["TICKET_CREATED"]
    );
}

#[tokio::test]
async fn events_after_an_event_are_the_later_ones_a_page_at_a_time() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;
    for body in ["two", "three", "four"] {
        app.add_message(&alice, &id, body, false).await.expect_ok();
    }
    let all = timeline(&app, &alice, &id).await;

    let page = timeline_reply(&app, &alice, &id, Some(ids(&all)[1]), 1)
        .await
        .expect_ok();

    let page = page.data("ticket")["events"].as_array().expect("events");
    assert_eq!(ids(page), [ids(&all)[2]]);
    assert_eq!(page[0]["message"]["body"], "three");
}

#[tokio::test]
async fn the_limit_defaults_to_fifty() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    let reply = app
        .graphql(
            &alice,
            "query($id: ID!) { ticket(id: $id) { events { kind } } }",
            json!({ "id": id }),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("ticket")["events"][0]["kind"], "TICKET_CREATED");
}

#[tokio::test]
async fn an_after_that_names_no_event_of_the_ticket_is_bad_user_input() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;
    let other = app.open_ticket(&alice, "Help").await;
    let event_of_other = timeline(&app, &alice, &other).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    for after in [
        "not-a-uuid",
        &Uuid::now_v7().to_string(),
        event_of_other.as_str(),
    ] {
        let reply = timeline_reply(&app, &alice, &id, Some(after), 10).await;
        reply.expect_bad_input("after");
    }
}

#[tokio::test]
async fn a_customer_cannot_page_after_an_internal_note_they_may_not_see() {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Help").await;
    app.add_message(&root, &id, "Secret", true)
        .await
        .expect_ok();
    let note = timeline(&app, &root, &id).await[1]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let reply = timeline_reply(&app, &alice, &id, Some(&note), 10).await;

    reply.expect_bad_input("after");
    assert_eq!(
        reply.error_message(),
        timeline_reply(&app, &alice, &id, Some(&Uuid::now_v7().to_string()), 10)
            .await
            .error_message()
    );
}

#[tokio::test]
async fn a_limit_outside_one_to_one_hundred_is_bad_user_input() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Help").await;

    for limit in [0, 101] {
        let reply = timeline_reply(&app, &alice, &id, None, limit).await;
        reply.expect_bad_input("limit");
    }
}

#[tokio::test]
async fn another_customers_ticket_is_not_found() {
    let app = spawn_app().await;
    let id = app.open_ticket(&app.customer("alice"), "Help").await;

    let reply = timeline_reply(&app, &app.customer("bob"), &id, None, 10).await;

    assert_eq!(reply.error_code().as_deref(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn each_event_carries_the_ticket_as_it_is_now() {
    let app = spawn_app().await;
    let root = app.admin("root");
    let id = app.open_ticket(&app.customer("alice"), "Help").await;
    app.set_status(&root, &id, "CLOSED").await.expect_ok();

    let events = timeline(&app, &root, &id).await;

    assert!(
        events
            .iter()
            .all(|event| event["ticket"]["status"] == "CLOSED")
    );
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn recording_events_is_announced_after_the_commit_without_content_on_postgres() {
    required_postgres_server_url();
    let app = spawn_app().await;
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect(&app.database_url)
        .await
        .expect("a listener");
    listener
        .listen(supportdesk::store::events::NOTIFY_CHANNEL)
        .await
        .expect("listening");

    let id = app.open_ticket(&app.customer("alice"), "Help").await;

    let notification = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
        .await
        .expect("a notification in time")
        .expect("a notification");
    assert_eq!(notification.payload(), "");
    // Sent after the commit: what it announces is in the table.
    let db =
        supportdesk::db::connect(&DatabaseConfig::new(app.database_url.clone())).expect("a pool");
    let ticket = Uuid::parse_str(&id).expect("a ticket id");
    let recorded = entity::prelude::TicketEvent::find()
        .filter(entity::ticket_event::Column::TicketId.eq(ticket))
        .count(&db)
        .await
        .expect("a count");
    assert_eq!(recorded, 1);
}

/// The columns of `tickets` and `ticket_messages` as the first three migrations left them.
const INSERT_OLD_TICKET: &str = "INSERT INTO tickets
    (id, user_id, subject, status, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_OLD_MESSAGE: &str = "INSERT INTO ticket_messages
    (id, ticket_id, author_id, author_role, body, internal, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A ticket written before the timeline existed: opened by `owner` at `at`, with a
/// customer's first message, an admin's internal note and a public reply.
struct OldTicket {
    id: Uuid,
    owner: String,
    status: &'static str,
    at: DateTime<Utc>,
    messages: Vec<OldMessage>,
}

struct OldMessage {
    id: Uuid,
    author_id: String,
    author_role: &'static str,
    body: String,
    internal: bool,
    created_at: DateTime<Utc>,
}

fn old_ticket(owner: &str, at: DateTime<Utc>, status: &'static str) -> OldTicket {
    let message = |minutes: i64, author: &str, role: &'static str, internal: bool| OldMessage {
        id: Uuid::now_v7(),
        author_id: author.into(),
        author_role: role,
        body: format!("at +{minutes} min"),
        internal,
        created_at: at + Duration::minutes(minutes),
    };
    OldTicket {
        id: Uuid::now_v7(),
        owner: owner.into(),
        status,
        at,
        messages: vec![
            message(0, owner, "CUSTOMER", false),
            message(5, "root", "ADMIN", true),
            message(9, "root", "ADMIN", false),
        ],
    }
}

/// A server over a database that held `old` before the timeline existed, written in the
/// columns of that schema: the timeline's migration runs as the server starts.
async fn app_over_data_from_before_the_timeline(old: &OldTicket) -> TestApp {
    let database = TestDatabase::create().await;
    let db = supportdesk::db::connect(&DatabaseConfig::new(database.url.clone())).expect("a pool");
    Migrator::up(&db, Some(3))
        .await
        .expect("the first three migrations");
    execute_sql(
        &db,
        INSERT_OLD_TICKET,
        [
            old.id.into(),
            old.owner.as_str().into(),
            "Old".into(),
            old.status.into(),
            old.at.into(),
            old.at.into(),
        ],
    )
    .await;
    for message in &old.messages {
        execute_sql(
            &db,
            INSERT_OLD_MESSAGE,
            [
                message.id.into(),
                old.id.into(),
                message.author_id.as_str().into(),
                message.author_role.into(),
                message.body.as_str().into(),
                message.internal.into(),
                message.created_at.into(),
            ],
        )
        .await;
    }
    let app = spawn_app_over(database, |_| {}).await;
    assert!(
        app.becomes_ready_within(std::time::Duration::from_secs(10))
            .await
    );
    app
}

#[tokio::test]
async fn the_migration_backfills_a_creation_and_a_message_added_per_later_message() {
    let at = Utc
        .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("an instant");
    let old = old_ticket("alice", at, "RESOLVED");

    let app = app_over_data_from_before_the_timeline(&old).await;
    let id = old.id.to_string();

    let events = timeline(&app, &app.admin("root"), &id).await;
    assert_eq!(
        kinds(&events),
        ["TICKET_CREATED", "MESSAGE_ADDED", "MESSAGE_ADDED"]
    );
    let messages: Vec<String> = old.messages.iter().map(|m| m.id.to_string()).collect();
    for (event, message) in events.iter().zip(&messages) {
        assert_eq!(event["message"]["id"], message.as_str());
    }
    assert_eq!(events[0]["actorId"], "alice");
    assert_eq!(events[0]["actorRole"], "CUSTOMER");
    assert_eq!(events[0]["createdAt"], "2025-03-01T12:00:00.000000Z");
    assert_eq!(events[1]["actorId"], "root");
    assert_eq!(events[2]["createdAt"], "2025-03-01T12:09:00.000000Z");
    assert!(events.iter().all(|event| event["fromStatus"].is_null()));
    let customers = timeline(&app, &app.customer("alice"), &id).await;
    assert_eq!(kinds(&customers), ["TICKET_CREATED", "MESSAGE_ADDED"]);
}

#[tokio::test]
async fn backfilled_events_come_before_new_ones() {
    let mut old = old_ticket("alice", Utc::now() - Duration::days(1), "OPEN");
    old.messages.truncate(1);
    let app = app_over_data_from_before_the_timeline(&old).await;
    let id = old.id.to_string();
    let alice = app.customer("alice");

    app.add_message(&alice, &id, "Any news?", false)
        .await
        .expect_ok();

    let events = timeline(&app, &alice, &id).await;
    assert_eq!(kinds(&events), ["TICKET_CREATED", "MESSAGE_ADDED"]);
    assert_eq!(events[1]["message"]["body"], "Any news?");
}

/// The events of `ticket` in the table, whoever may see them.
async fn recorded_events(db: &sea_orm::DatabaseConnection, ticket: &str) -> u64 {
    let ticket = Uuid::parse_str(ticket).expect("a ticket id");
    entity::prelude::TicketEvent::find()
        .filter(entity::ticket_event::Column::TicketId.eq(ticket))
        .count(db)
        .await
        .expect("a count")
}

#[tokio::test]
async fn a_message_or_ticket_deleted_by_hand_takes_its_events_with_it() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = app.open_ticket(&alice, "Printer on fire").await;
    let reply = app.add_message(&alice, &id, "Still burning", false).await;
    let message = reply.data("addTicketMessage")["id"]
        .as_str()
        .expect("a message id")
        .to_owned();
    let db =
        supportdesk::db::connect(&DatabaseConfig::new(app.database_url.clone())).expect("a pool");
    assert_eq!(recorded_events(&db, &id).await, 2);

    let message = Uuid::parse_str(&message).expect("a message id");
    execute_sql(
        &db,
        "DELETE FROM ticket_messages WHERE id = $1",
        [message.into()],
    )
    .await;
    assert_eq!(recorded_events(&db, &id).await, 1);

    let ticket = Uuid::parse_str(&id).expect("a ticket id");
    execute_sql(&db, "DELETE FROM tickets WHERE id = $1", [ticket.into()]).await;
    assert_eq!(recorded_events(&db, &id).await, 0);
}
