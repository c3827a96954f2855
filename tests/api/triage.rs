//! `updateTicket`: a patch of a ticket's status, priority, assignee and tags, applied
//! whole or not at all, and the events it records, one per field that really changed.

use serde_json::{Value, json};

use crate::helpers::{MISSING_TICKET_ID, TestApp, User, kinds, spawn_app, spawn_app_with_ticket};
use crate::socket::Socket;

/// `updateTicket` as `root`, which must succeed: the ticket it answers.
async fn patched(app: &TestApp, root: &User, id: &str, input: Value) -> Value {
    app.patch(root, id, input)
        .await
        .expect_ok()
        .data("updateTicket")
        .clone()
}

/// Asks for `input` on ticket `id`, which must be refused as BAD_USER_INPUT naming
/// `field` and leave the ticket and its timeline as they were.
async fn assert_refused_naming(app: &TestApp, root: &User, id: &str, input: Value, field: &str) {
    let before = app.staff_view(id).await;

    let reply = app.patch(root, id, input).await;

    reply.expect_bad_input(field);
    assert_eq!(reply.data("updateTicket"), &Value::Null);
    assert_eq!(app.staff_view(id).await, before);
}

#[tokio::test]
async fn a_new_ticket_is_normal_unassigned_untagged_unanswered_and_unresolved() {
    let (app, _, id) = spawn_app_with_ticket().await;

    let ticket = app.staff_view(&id).await;

    assert_eq!(ticket["priority"], "NORMAL");
    assert_eq!(ticket["assigneeId"], Value::Null);
    assert_eq!(ticket["tags"], json!([]));
    assert_eq!(ticket["firstRespondedAt"], Value::Null);
    assert_eq!(ticket["resolvedAt"], Value::Null);
}

#[tokio::test]
async fn an_admin_sets_status_priority_assignee_and_tags_in_one_patch() {
    let (app, root, id) = spawn_app_with_ticket().await;

    let ticket = patched(
        &app,
        &root,
        &id,
        json!({
            "status": "IN_PROGRESS",
            "priority": "HIGH",
            "assigneeId": "root",
            "addTags": ["printer", "fire"],
        }),
    )
    .await;

    assert_eq!(ticket["status"], "IN_PROGRESS");
    assert_eq!(ticket["priority"], "HIGH");
    assert_eq!(ticket["assigneeId"], "root");
    assert_eq!(ticket["tags"], json!(["fire", "printer"]));
    let stored = app.staff_view(&id).await;
    assert_eq!(stored["priority"], "HIGH");
    assert_eq!(stored["assigneeId"], "root");
    assert_eq!(stored["tags"], json!(["fire", "printer"]));
}

#[tokio::test]
async fn a_patch_with_one_invalid_field_writes_none_of_it() {
    let (app, root, id) = spawn_app_with_ticket().await;

    assert_refused_naming(
        &app,
        &root,
        &id,
        json!({
            "status": "RESOLVED",
            "priority": "URGENT",
            "assigneeId": "root",
            "addTags": ["fine", "not fine"],
        }),
        "addTags",
    )
    .await;
}

#[tokio::test]
async fn a_patch_that_names_nothing_is_bad_user_input_naming_input() {
    let (app, root, id) = spawn_app_with_ticket().await;

    assert_refused_naming(&app, &root, &id, json!({}), "input").await;
    assert_refused_naming(&app, &root, &id, json!({ "unassign": false }), "input").await;
}

#[tokio::test]
async fn an_assignee_with_unassign_is_bad_user_input_naming_assignee_id() {
    let (app, root, id) = spawn_app_with_ticket().await;

    assert_refused_naming(
        &app,
        &root,
        &id,
        json!({ "assigneeId": "root", "unassign": true }),
        "assigneeId",
    )
    .await;
}

#[tokio::test]
async fn a_tag_both_added_and_removed_after_normalization_is_bad_user_input_naming_add_tags() {
    let (app, root, id) = spawn_app_with_ticket().await;

    assert_refused_naming(
        &app,
        &root,
        &id,
        json!({ "addTags": ["Billing"], "removeTags": ["  billing "] }),
        "addTags",
    )
    .await;
}

#[tokio::test]
async fn an_assignee_is_stored_trimmed() {
    let (app, root, id) = spawn_app_with_ticket().await;

    let ticket = patched(&app, &root, &id, json!({ "assigneeId": "  root  " })).await;

    assert_eq!(ticket["assigneeId"], "root");
    assert_eq!(app.staff_view(&id).await["assigneeId"], "root");
}

#[tokio::test]
async fn an_assignee_of_255_characters_fits() {
    let (app, root, id) = spawn_app_with_ticket().await;
    let long = "a".repeat(255);

    let ticket = patched(&app, &root, &id, json!({ "assigneeId": long })).await;

    assert_eq!(ticket["assigneeId"], long.as_str());
}

#[tokio::test]
async fn an_assignee_of_256_characters_is_bad_user_input_naming_assignee_id() {
    let (app, root, id) = spawn_app_with_ticket().await;

    assert_refused_naming(
        &app,
        &root,
        &id,
        json!({ "assigneeId": "a".repeat(256) }),
        "assigneeId",
    )
    .await;
}

#[tokio::test]
async fn a_blank_assignee_is_bad_user_input_naming_assignee_id() {
    let (app, root, id) = spawn_app_with_ticket().await;

    assert_refused_naming(
        &app,
        &root,
        &id,
        json!({ "assigneeId": "   " }),
        "assigneeId",
    )
    .await;
}

#[tokio::test]
async fn unassign_clears_the_assignee() {
    let (app, root, id) = spawn_app_with_ticket().await;
    patched(&app, &root, &id, json!({ "assigneeId": "root" })).await;

    let ticket = patched(&app, &root, &id, json!({ "unassign": true })).await;

    assert_eq!(ticket["assigneeId"], Value::Null);
    assert_eq!(app.staff_view(&id).await["assigneeId"], Value::Null);
}

#[tokio::test]
async fn patching_a_missing_ticket_is_not_found() {
    let app = spawn_app().await;
    let root = app.admin("root");

    for id in [MISSING_TICKET_ID, "not-a-uuid"] {
        let reply = app.patch(&root, id, json!({ "priority": "HIGH" })).await;

        assert_eq!(reply.error_code().as_deref(), Some("NOT_FOUND"), "{id}");
    }
}

#[tokio::test]
async fn a_patch_records_one_event_per_changed_field_in_the_contracts_order() {
    let (app, root, id) = spawn_app_with_ticket().await;

    patched(
        &app,
        &root,
        &id,
        json!({
            "addTags": ["printer"],
            "assigneeId": "root",
            "priority": "URGENT",
            "status": "IN_PROGRESS",
        }),
    )
    .await;

    let events = app.events(&root, &id).await;
    assert_eq!(
        kinds(&events[1..]),
        [
            "STATUS_CHANGED",
            "PRIORITY_CHANGED",
            "ASSIGNEE_CHANGED",
            "TAGS_CHANGED"
        ]
    );
    let (status, priority, assignee, tags) = (&events[1], &events[2], &events[3], &events[4]);
    assert_eq!(
        (&status["fromStatus"], &status["toStatus"]),
        (&json!("OPEN"), &json!("IN_PROGRESS"))
    );
    assert_eq!(
        (&priority["fromPriority"], &priority["toPriority"]),
        (&json!("NORMAL"), &json!("URGENT"))
    );
    assert_eq!(
        (&assignee["fromAssigneeId"], &assignee["toAssigneeId"]),
        (&Value::Null, &json!("root"))
    );
    assert_eq!(
        (&tags["addedTags"], &tags["removedTags"]),
        (&json!(["printer"]), &json!([]))
    );
}

#[tokio::test]
async fn an_event_carries_only_the_fields_of_its_kind() {
    let (app, root, id) = spawn_app_with_ticket().await;

    patched(&app, &root, &id, json!({ "priority": "LOW" })).await;

    let event = &app.events(&root, &id).await[1];
    assert_eq!(event["kind"], "PRIORITY_CHANGED");
    for field in [
        "fromStatus",
        "toStatus",
        "fromAssigneeId",
        "toAssigneeId",
        "addedTags",
        "removedTags",
    ] {
        assert_eq!(event[field], Value::Null, "{field}");
    }
}

#[tokio::test]
async fn the_tag_event_holds_only_the_tags_really_added_and_removed_sorted() {
    let (app, root, id) = spawn_app_with_ticket().await;
    patched(&app, &root, &id, json!({ "addTags": ["kept", "old"] })).await;

    patched(
        &app,
        &root,
        &id,
        json!({ "addTags": ["zebra", "kept", "apple"], "removeTags": ["old", "never-there"] }),
    )
    .await;

    let events = app.events(&root, &id).await;
    let last = events.last().expect("an event");
    assert_eq!(last["kind"], "TAGS_CHANGED");
    assert_eq!(last["addedTags"], json!(["apple", "zebra"]));
    assert_eq!(last["removedTags"], json!(["old"]));
}

#[tokio::test]
async fn reassigning_and_unassigning_record_who_it_was_and_who_it_is() {
    let (app, root, id) = spawn_app_with_ticket().await;

    patched(&app, &root, &id, json!({ "assigneeId": "root" })).await;
    patched(&app, &root, &id, json!({ "assigneeId": "bob" })).await;
    patched(&app, &root, &id, json!({ "unassign": true })).await;

    let moves: Vec<Value> = app.events(&root, &id).await[1..]
        .iter()
        .map(|event| json!([event["fromAssigneeId"], event["toAssigneeId"]]))
        .collect();
    assert_eq!(
        moves,
        [
            json!([null, "root"]),
            json!(["root", "bob"]),
            json!(["bob", null])
        ]
    );
}

#[tokio::test]
async fn a_patch_that_changes_nothing_records_nothing_and_answers_the_ticket_as_it_is() {
    let (app, root, id) = spawn_app_with_ticket().await;
    let before = app.staff_view(&id).await;

    let ticket = patched(
        &app,
        &root,
        &id,
        json!({ "status": "OPEN", "priority": "NORMAL", "unassign": true, "removeTags": ["none"] }),
    )
    .await;

    for field in ["status", "priority", "assigneeId", "tags", "updatedAt"] {
        assert_eq!(ticket[field], before[field], "{field}");
    }
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn a_repeated_patch_records_nothing_more() {
    let (app, root, id) = spawn_app_with_ticket().await;
    let patch = json!({
        "status": "RESOLVED",
        "priority": "HIGH",
        "assigneeId": "root",
        "addTags": ["billing"],
    });
    let first = patched(&app, &root, &id, patch.clone()).await;
    let after_first = app.staff_view(&id).await;

    let retry = patched(&app, &root, &id, patch).await;

    assert_eq!(retry, first);
    assert_eq!(app.staff_view(&id).await, after_first);
}

#[tokio::test]
async fn update_ticket_status_still_moves_the_status_with_one_event() {
    let (app, root, id) = spawn_app_with_ticket().await;

    app.set_status(&root, &id, "RESOLVED").await.expect_ok();

    let ticket = app.staff_view(&id).await;
    assert_eq!(ticket["status"], "RESOLVED");
    assert_eq!(
        kinds(&ticket["events"].as_array().expect("events")[1..]),
        ["STATUS_CHANGED"]
    );
}

const FEED: &str = "subscription($status: TicketStatus, $after: ID) {
    ticketFeed(status: $status, after: $after) { id kind ticketId toStatus toPriority }
}";

#[tokio::test]
async fn the_feed_filtered_by_status_gets_a_patchs_events_by_the_status_after_it() {
    let (app, root, id) = spawn_app_with_ticket().await;
    patched(&app, &root, &id, json!({ "status": "RESOLVED" })).await;
    let resolved = app.events(&root, &id).await[1]["id"].clone();
    let mut socket = Socket::signed_in(&app, Some(&root.token)).await;
    socket
        .subscribe(
            "feed",
            FEED,
            json!({ "status": "RESOLVED", "after": resolved }),
        )
        .await;

    let reopen = json!({ "status": "IN_PROGRESS", "priority": "HIGH" });
    patched(&app, &root, &id, reopen).await;
    let resolve = json!({ "status": "RESOLVED", "priority": "URGENT" });
    patched(&app, &root, &id, resolve).await;

    let first = socket.next_payload("feed").await["data"]["ticketFeed"].clone();
    let second = socket.next_payload("feed").await["data"]["ticketFeed"].clone();
    assert_eq!(
        (&first["kind"], &first["toStatus"]),
        (&json!("STATUS_CHANGED"), &json!("RESOLVED"))
    );
    assert_eq!(
        (&second["kind"], &second["toPriority"]),
        (&json!("PRIORITY_CHANGED"), &json!("URGENT"))
    );
}
