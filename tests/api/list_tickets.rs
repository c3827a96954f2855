use chrono::{TimeZone, Utc};
use entity::prelude::TicketStatus;
use entity::ticket;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, Database};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, User, spawn_app};

const LIST: &str =
    "query($status: TicketStatus, $userId: ID, $page: Int, $limit: Int, $order: TicketOrder) {
    tickets(status: $status, userId: $userId, page: $page, limit: $limit, order: $order) {
        items { id userId subject status }
        pagination { total page limit totalPages hasNextPage hasPreviousPage }
    }
}";

async fn list(app: &TestApp, user: &User, arguments: Value) -> Reply {
    app.graphql(user, LIST, arguments).await
}

fn subjects(reply: &Reply) -> Vec<String> {
    reply.data("tickets")["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["subject"].as_str().expect("subject").to_owned())
        .collect()
}

fn pagination(reply: &Reply) -> Value {
    reply.data("tickets")["pagination"].clone()
}

async fn open_tickets(app: &TestApp, user: &User, count: usize) {
    for n in 0..count {
        app.create_ticket(user, &format!("{} #{n}", user.id)).await;
    }
}

#[tokio::test]
async fn a_customer_sees_only_their_own_tickets() {
    let app = spawn_app().await;
    let (alice, bob) = (app.customer("alice"), app.customer("bob"));
    open_tickets(&app, &alice, 2).await;
    open_tickets(&app, &bob, 3).await;

    let reply = list(&app, &alice, json!({})).await.expect_ok();

    assert_eq!(subjects(&reply), ["alice #1", "alice #0"]);
    assert_eq!(pagination(&reply)["total"], 2);
}

#[tokio::test]
async fn a_customer_naming_another_user_gets_an_empty_page() {
    let app = spawn_app().await;
    let (alice, bob) = (app.customer("alice"), app.customer("bob"));
    open_tickets(&app, &bob, 2).await;

    let reply = list(&app, &alice, json!({ "userId": "bob" }))
        .await
        .expect_ok();

    assert!(subjects(&reply).is_empty());
    assert_eq!(pagination(&reply)["total"], 0);
}

#[tokio::test]
async fn an_admin_sees_every_ticket() {
    let app = spawn_app().await;
    open_tickets(&app, &app.customer("alice"), 2).await;
    open_tickets(&app, &app.customer("bob"), 1).await;

    let reply = list(&app, &app.admin("root"), json!({})).await.expect_ok();

    assert_eq!(subjects(&reply), ["bob #0", "alice #1", "alice #0"]);
}

#[tokio::test]
async fn an_admin_filters_by_user() {
    let app = spawn_app().await;
    open_tickets(&app, &app.customer("alice"), 2).await;
    open_tickets(&app, &app.customer("bob"), 1).await;

    let reply = list(&app, &app.admin("root"), json!({ "userId": "alice" }))
        .await
        .expect_ok();

    assert_eq!(subjects(&reply), ["alice #1", "alice #0"]);
}

#[tokio::test]
async fn status_filters_the_list() {
    let app = spawn_app().await;
    let (alice, admin) = (app.customer("alice"), app.admin("root"));
    let first = app.create_ticket(&alice, "first").await;
    app.create_ticket(&alice, "second").await;
    app.set_status(&admin, first["id"].as_str().expect("id"), "RESOLVED")
        .await
        .expect_ok();

    let resolved = list(&app, &alice, json!({ "status": "RESOLVED" }))
        .await
        .expect_ok();
    let open = list(&app, &alice, json!({ "status": "OPEN" }))
        .await
        .expect_ok();

    assert_eq!(subjects(&resolved), ["first"]);
    assert_eq!(subjects(&open), ["second"]);
}

#[tokio::test]
async fn newest_first_is_the_default_order() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    open_tickets(&app, &alice, 3).await;

    let reply = list(&app, &alice, json!({})).await.expect_ok();

    assert_eq!(subjects(&reply), ["alice #2", "alice #1", "alice #0"]);
}

#[tokio::test]
async fn oldest_first_is_the_exact_reverse() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    open_tickets(&app, &alice, 3).await;

    let reply = list(&app, &alice, json!({ "order": "OLDEST_FIRST" }))
        .await
        .expect_ok();

    assert_eq!(subjects(&reply), ["alice #0", "alice #1", "alice #2"]);
}

#[tokio::test]
async fn tickets_created_at_the_same_instant_are_ordered_by_id() {
    let app = spawn_app().await;
    let db = Database::connect(&app.database_url)
        .await
        .expect("database");
    let instant = Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("instant");
    let ids = [
        "00000000-0000-7000-8000-000000000002",
        "00000000-0000-7000-8000-000000000003",
        "00000000-0000-7000-8000-000000000001",
    ];
    for id in ids {
        ticket::ActiveModel {
            id: Set(id.parse().expect("uuid")),
            user_id: Set("alice".into()),
            subject: Set(id.into()),
            status: Set(TicketStatus::Open),
            created_at: Set(instant),
            updated_at: Set(instant),
            // The columns triage added take their defaults, as for a ticket written before them.
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("inserted");
    }
    let alice = app.customer("alice");

    let newest = list(&app, &alice, json!({})).await.expect_ok();
    let oldest = list(&app, &alice, json!({ "order": "OLDEST_FIRST" }))
        .await
        .expect_ok();

    assert_eq!(subjects(&newest), [ids[1], ids[0], ids[2]]);
    assert_eq!(subjects(&oldest), [ids[2], ids[0], ids[1]]);
}

#[tokio::test]
async fn pages_split_the_matches_and_count_them_all() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    open_tickets(&app, &alice, 5).await;

    let first = list(&app, &alice, json!({ "page": 1, "limit": 2 }))
        .await
        .expect_ok();
    let middle = list(&app, &alice, json!({ "page": 2, "limit": 2 }))
        .await
        .expect_ok();
    let last = list(&app, &alice, json!({ "page": 3, "limit": 2 }))
        .await
        .expect_ok();

    assert_eq!(subjects(&first), ["alice #4", "alice #3"]);
    assert_eq!(subjects(&middle), ["alice #2", "alice #1"]);
    assert_eq!(subjects(&last), ["alice #0"]);
    assert_eq!(
        pagination(&first),
        json!({ "total": 5, "page": 1, "limit": 2, "totalPages": 3, "hasNextPage": true, "hasPreviousPage": false })
    );
    assert_eq!(
        pagination(&middle),
        json!({ "total": 5, "page": 2, "limit": 2, "totalPages": 3, "hasNextPage": true, "hasPreviousPage": true })
    );
    assert_eq!(
        pagination(&last),
        json!({ "total": 5, "page": 3, "limit": 2, "totalPages": 3, "hasNextPage": false, "hasPreviousPage": true })
    );
}

#[tokio::test]
async fn a_page_past_the_end_has_no_items_but_correct_totals() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    open_tickets(&app, &alice, 3).await;

    let reply = list(&app, &alice, json!({ "page": 5, "limit": 2 }))
        .await
        .expect_ok();

    assert!(subjects(&reply).is_empty());
    assert_eq!(
        pagination(&reply),
        json!({ "total": 3, "page": 5, "limit": 2, "totalPages": 2, "hasNextPage": false, "hasPreviousPage": true })
    );
}

#[tokio::test]
async fn no_matches_means_zero_pages() {
    let app = spawn_app().await;

    let reply = list(&app, &app.customer("alice"), json!({}))
        .await
        .expect_ok();

    assert_eq!(
        pagination(&reply),
        json!({ "total": 0, "page": 1, "limit": 10, "totalPages": 0, "hasNextPage": false, "hasPreviousPage": false })
    );
}

#[tokio::test]
async fn a_page_below_one_is_bad_user_input() {
    let app = spawn_app().await;

    let reply = list(&app, &app.customer("alice"), json!({ "page": 0 })).await;

    assert_eq!(reply.error_code().as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(reply.error_field().as_deref(), Some("page"));
    assert_eq!(reply.data("tickets"), &Value::Null);
}

#[tokio::test]
async fn a_limit_outside_one_to_one_hundred_is_bad_user_input() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    for limit in [0, 101, -1] {
        let reply = list(&app, &alice, json!({ "limit": limit })).await;
        assert_eq!(
            reply.error_code().as_deref(),
            Some("BAD_USER_INPUT"),
            "limit {limit}"
        );
        assert_eq!(
            reply.error_field().as_deref(),
            Some("limit"),
            "limit {limit}"
        );
    }
}

#[tokio::test]
async fn a_limit_of_one_hundred_is_accepted() {
    let app = spawn_app().await;

    let reply = list(&app, &app.customer("alice"), json!({ "limit": 100 }))
        .await
        .expect_ok();

    assert_eq!(pagination(&reply)["limit"], 100);
}
