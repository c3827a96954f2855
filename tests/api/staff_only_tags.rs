//! What customers see of triage: priority, assignee and response times of their own
//! tickets, and never a tag, by any path: `tags`, the timeline, subscriptions, or a
//! telling `updatedAt`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, User, kinds, spawn_app};
use crate::socket::Socket;

/// A server, its admin "root", the customer alice and her ticket, tagged "vip".
async fn alices_tagged_ticket() -> (TestApp, User, User, String) {
    let app = spawn_app().await;
    let (alice, root) = (app.customer("alice"), app.admin("root"));
    let id = app.open_ticket(&alice, "Printer on fire").await;
    app.patch(&root, &id, json!({ "addTags": ["vip"] }))
        .await
        .expect_ok();
    (app, alice, root, id)
}

const TICKET_EVENTS: &str = "subscription($id: ID!, $after: ID) {
    ticketEvents(ticketId: $id, after: $after) { id kind ticket { id tags } }
}";

const FEED: &str = "subscription($after: ID) {
    ticketFeed(after: $after) { id kind ticket { id tags } }
}";

/// `user` subscribed with `query` after the newest event of `id` they see; the
/// subscription's variable `$id`, where it has one, is the ticket.
async fn subscribed(app: &TestApp, user: &User, id: &str, query: &str) -> Socket {
    let after = app.events(user, id).await.last().expect("an event")["id"].clone();
    let mut socket = Socket::signed_in(app, Some(&user.token)).await;
    socket
        .subscribe("1", query, json!({ "id": id, "after": after }))
        .await;
    socket
}

/// Adds a tag, then changes the priority: a customer's subscription must skip the first
/// and deliver the second, without tags.
async fn assert_skips_the_tag_change(query: &str, field: &str) {
    let (app, alice, root, id) = alices_tagged_ticket().await;
    let mut socket = subscribed(&app, &alice, &id, query).await;

    app.patch(&root, &id, json!({ "addTags": ["angry"] }))
        .await
        .expect_ok();
    app.patch(&root, &id, json!({ "priority": "HIGH" }))
        .await
        .expect_ok();

    let event = socket.next_payload("1").await["data"][field].clone();
    assert_eq!(event["kind"], "PRIORITY_CHANGED");
    assert_eq!(event["ticket"], json!({ "id": id, "tags": [] }));
}

#[tokio::test]
async fn a_customer_sees_the_priority_assignee_and_response_times_of_their_ticket() {
    let (app, alice, root, id) = alices_tagged_ticket().await;
    app.add_message(&root, &id, "On it", false)
        .await
        .expect_ok();
    app.patch(
        &root,
        &id,
        json!({ "priority": "URGENT", "assigneeId": "root", "status": "RESOLVED" }),
    )
    .await
    .expect_ok();

    let ticket = app.triage_view(&alice, &id).await;

    assert_eq!(ticket["priority"], "URGENT");
    assert_eq!(ticket["assigneeId"], "root");
    assert!(ticket["firstRespondedAt"].is_string(), "{ticket:#}");
    assert!(ticket["resolvedAt"].is_string(), "{ticket:#}");
}

#[tokio::test]
async fn a_customer_sees_no_tags_on_their_ticket() {
    let (app, alice, root, id) = alices_tagged_ticket().await;

    assert_eq!(app.triage_view(&alice, &id).await["tags"], json!([]));
    assert_eq!(app.triage_view(&root, &id).await["tags"], json!(["vip"]));
}

#[tokio::test]
async fn a_customer_sees_no_tags_in_their_ticket_list() {
    let (app, alice, _, _) = alices_tagged_ticket().await;

    let reply = app
        .graphql(&alice, "{ tickets { items { id tags } } }", json!({}))
        .await
        .expect_ok();

    let items = reply.data("tickets")["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["tags"], json!([]));
}

#[tokio::test]
async fn an_admin_sees_the_tags_in_the_ticket_list() {
    let (app, _, root, _) = alices_tagged_ticket().await;

    let reply = app
        .graphql(&root, "{ tickets { items { tags } } }", json!({}))
        .await
        .expect_ok();

    assert_eq!(reply.data("tickets")["items"][0]["tags"], json!(["vip"]));
}

#[tokio::test]
async fn a_customers_timeline_never_holds_a_tag_change() {
    let (app, alice, root, id) = alices_tagged_ticket().await;

    assert_eq!(kinds(&app.events(&alice, &id).await), ["TICKET_CREATED"]);
    assert_eq!(
        kinds(&app.events(&root, &id).await),
        ["TICKET_CREATED", "TAGS_CHANGED"]
    );
}

#[tokio::test]
async fn a_customers_ticket_events_skip_a_tag_change_and_carry_no_tags() {
    assert_skips_the_tag_change(TICKET_EVENTS, "ticketEvents").await;
}

#[tokio::test]
async fn a_customers_feed_skips_a_tag_change_and_carries_no_tags() {
    assert_skips_the_tag_change(FEED, "ticketFeed").await;
}

#[tokio::test]
async fn an_admins_ticket_events_deliver_the_tag_change() {
    let (app, _, root, id) = alices_tagged_ticket().await;
    let mut socket = subscribed(&app, &root, &id, TICKET_EVENTS).await;

    app.patch(&root, &id, json!({ "addTags": ["angry"] }))
        .await
        .expect_ok();

    let event = socket.next_payload("1").await["data"]["ticketEvents"].clone();
    assert_eq!(event["kind"], "TAGS_CHANGED");
    assert_eq!(event["ticket"]["tags"], json!(["angry", "vip"]));
}

/// The `updatedAt` of ticket `id` as `user` sees it.
async fn updated_at(app: &TestApp, user: &User, id: &str) -> Value {
    app.triage_view(user, id).await["updatedAt"].clone()
}

#[tokio::test]
async fn a_tag_only_patch_leaves_updated_at() {
    let (app, alice, root, id) = alices_tagged_ticket().await;
    let before = updated_at(&app, &alice, &id).await;

    let reply = app
        .patch(
            &root,
            &id,
            json!({ "addTags": ["angry"], "removeTags": ["vip"] }),
        )
        .await
        .expect_ok();

    assert_eq!(reply.data("updateTicket")["updatedAt"], before);
    assert_eq!(updated_at(&app, &alice, &id).await, before);
}

#[tokio::test]
async fn any_other_change_moves_updated_at() {
    let (app, alice, root, id) = alices_tagged_ticket().await;
    let mut seen = vec![updated_at(&app, &alice, &id).await];

    for change in [
        json!({ "priority": "LOW" }),
        json!({ "assigneeId": "root" }),
        json!({ "unassign": true }),
        json!({ "status": "IN_PROGRESS" }),
    ] {
        app.patch(&root, &id, change.clone()).await.expect_ok();
        let now = updated_at(&app, &alice, &id).await;
        assert!(
            now.as_str() > seen.last().expect("a time").as_str(),
            "{change}"
        );
        seen.push(now);
    }
}
