//! Tags: trimmed and lower-cased, then `^[a-z0-9][a-z0-9_:-]{0,39}$`, at most 20 a
//! ticket, sorted; a text that only looks like a tag is refused and writes nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, User, kinds, numbered_tags, spawn_app_with_ticket};

/// The tags `input` leaves on ticket `id`, which must be accepted.
async fn tags_after(app: &TestApp, root: &User, id: &str, input: Value) -> Value {
    app.patch(root, id, input)
        .await
        .expect_ok()
        .data("updateTicket")["tags"]
        .clone()
}

/// Asks to add `raw` (or remove it, for `removeTags`), together with a valid priority:
/// it must be refused naming `field`, and the ticket and its timeline stay as they were.
async fn assert_tag_refused(raw: &str, field: &str) {
    let (app, root, id) = spawn_app_with_ticket().await;
    let before = app.staff_view(&id).await;

    let reply = app
        .patch(&root, &id, json!({ "priority": "HIGH", field: [raw] }))
        .await;

    reply.expect_bad_input(field);
    assert_eq!(app.staff_view(&id).await, before, "{raw:?}");
}

#[tokio::test]
async fn a_tag_is_trimmed_and_lower_cased() {
    let (app, root, id) = spawn_app_with_ticket().await;

    let stored = tags_after(&app, &root, &id, json!({ "addTags": ["  Billing "] })).await;

    assert_eq!(stored, json!(["billing"]));
}

#[tokio::test]
async fn an_uppercase_spelling_of_a_tag_is_the_same_tag() {
    let (app, root, id) = spawn_app_with_ticket().await;
    tags_after(&app, &root, &id, json!({ "addTags": ["vip"] })).await;
    let before = app.staff_view(&id).await;

    let stored = tags_after(&app, &root, &id, json!({ "addTags": ["VIP"] })).await;

    assert_eq!(stored, json!(["vip"]));
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn a_tag_of_forty_characters_fits() {
    let (app, root, id) = spawn_app_with_ticket().await;
    let long = "a".repeat(40);

    let stored = tags_after(&app, &root, &id, json!({ "addTags": [long] })).await;

    assert_eq!(stored, json!([long]));
}

#[tokio::test]
async fn a_tag_of_forty_one_characters_is_refused() {
    assert_tag_refused(&"a".repeat(41), "addTags").await;
}

#[tokio::test]
async fn a_kelvin_sign_that_lower_cases_to_k_is_refused() {
    assert_tag_refused("\u{212A}ey", "addTags").await;
}

#[tokio::test]
async fn a_cyrillic_look_alike_letter_is_refused() {
    assert_tag_refused("b\u{0430}d", "addTags").await;
}

#[tokio::test]
async fn a_non_ascii_uppercase_letter_is_refused() {
    assert_tag_refused("\u{C9}T\u{C9}", "addTags").await;
}

#[tokio::test]
async fn a_tag_with_an_inner_space_is_refused() {
    assert_tag_refused("two words", "addTags").await;
}

#[tokio::test]
async fn a_blank_tag_is_refused() {
    assert_tag_refused("   ", "addTags").await;
}

#[tokio::test]
async fn a_tag_starting_with_punctuation_is_refused() {
    assert_tag_refused("-urgent", "addTags").await;
}

#[tokio::test]
async fn a_refused_tag_to_remove_names_remove_tags() {
    assert_tag_refused("Not A Tag", "removeTags").await;
}

#[tokio::test]
async fn tags_are_sorted() {
    let (app, root, id) = spawn_app_with_ticket().await;

    let stored = tags_after(
        &app,
        &root,
        &id,
        json!({ "addTags": ["zeta", "alpha", "m:1", "9lives"] }),
    )
    .await;

    assert_eq!(stored, json!(["9lives", "alpha", "m:1", "zeta"]));
    assert_eq!(app.staff_view(&id).await["tags"], stored);
}

#[tokio::test]
async fn a_ticket_holds_twenty_tags() {
    let (app, root, id) = spawn_app_with_ticket().await;

    let stored = tags_after(&app, &root, &id, json!({ "addTags": numbered_tags(20) })).await;

    assert_eq!(stored, json!(numbered_tags(20)));
}

#[tokio::test]
async fn a_patch_that_would_leave_twenty_one_tags_is_bad_user_input_naming_add_tags() {
    let (app, root, id) = spawn_app_with_ticket().await;
    tags_after(&app, &root, &id, json!({ "addTags": numbered_tags(20) })).await;
    let before = app.staff_view(&id).await;

    let reply = app
        .patch(
            &root,
            &id,
            json!({ "priority": "HIGH", "addTags": ["one-more"] }),
        )
        .await;

    reply.expect_bad_input("addTags");
    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn twenty_one_tags_in_one_patch_are_bad_user_input_naming_add_tags() {
    let (app, root, id) = spawn_app_with_ticket().await;

    app.patch(&root, &id, json!({ "addTags": numbered_tags(21) }))
        .await
        .expect_bad_input("addTags");
}

#[tokio::test]
async fn a_full_ticket_takes_a_new_tag_in_the_patch_that_removes_one() {
    let (app, root, id) = spawn_app_with_ticket().await;
    tags_after(&app, &root, &id, json!({ "addTags": numbered_tags(20) })).await;

    let stored = tags_after(
        &app,
        &root,
        &id,
        json!({ "addTags": ["tag-new"], "removeTags": ["tag-00"] }),
    )
    .await;

    assert_eq!(stored.as_array().expect("tags").len(), 20);
    assert_eq!(stored[19], "tag-new");
}

#[tokio::test]
async fn adding_a_tag_the_ticket_has_changes_nothing_and_records_no_event() {
    let (app, root, id) = spawn_app_with_ticket().await;
    tags_after(&app, &root, &id, json!({ "addTags": ["billing"] })).await;
    let before = app.staff_view(&id).await;

    tags_after(&app, &root, &id, json!({ "addTags": ["billing"] })).await;

    assert_eq!(app.staff_view(&id).await, before);
}

#[tokio::test]
async fn removing_a_tag_the_ticket_lacks_changes_nothing_and_records_no_event() {
    let (app, root, id) = spawn_app_with_ticket().await;

    let stored = tags_after(&app, &root, &id, json!({ "removeTags": ["billing"] })).await;

    assert_eq!(stored, json!([]));
    assert_eq!(kinds(&app.events(&root, &id).await), ["TICKET_CREATED"]);
}

#[tokio::test]
async fn removing_a_tag_takes_it_off() {
    let (app, root, id) = spawn_app_with_ticket().await;
    tags_after(&app, &root, &id, json!({ "addTags": ["billing", "eu"] })).await;

    let stored = tags_after(&app, &root, &id, json!({ "removeTags": [" EU "] })).await;

    assert_eq!(stored, json!(["billing"]));
}
