//! Full-text `search`: every word, stemmed, in the subject or in a message the viewer may
//! see, with PostgreSQL's web-search syntax; never a word only an internal note holds for
//! a customer; searchable as soon as the mutation answered.

use serde_json::{Value, json};

use crate::helpers::{TestApp, User, spawn_app};

async fn found(app: &TestApp, user: &User, search: &str) -> Vec<String> {
    let reply = app
        .graphql(
            user,
            "query($search: String) { tickets(search: $search, limit: 100) { items { subject } pagination { total } } }",
            json!({ "search": search }),
        )
        .await
        .expect_ok();
    let page = reply.data("tickets");
    let subjects: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["subject"].as_str().expect("a subject").to_owned())
        .collect();
    assert_eq!(page["pagination"]["total"], subjects.len(), "{search}");
    subjects
}

async fn ticket_saying(app: &TestApp, user: &User, subject: &str, message: &str) -> String {
    let reply = app
        .graphql(
            user,
            "mutation($subject: String!, $message: String!) {
                createTicket(input: { subject: $subject, message: $message }) { id }
            }",
            json!({ "subject": subject, "message": message }),
        )
        .await
        .expect_ok();
    reply.data("createTicket")["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

#[tokio::test]
async fn a_search_finds_stemmed_words_in_the_subject_or_a_message() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(&app, &alice, "Printer broken", "It prints nothing.").await;
    ticket_saying(&app, &alice, "Login", "The printers upstairs are fine.").await;
    ticket_saying(&app, &alice, "Invoice", "Wrong amount.").await;

    let mut subjects = found(&app, &alice, "printers").await;
    subjects.sort();

    assert_eq!(subjects, ["Login", "Printer broken"]);
}

#[tokio::test]
async fn every_word_must_appear_somewhere_in_the_ticket() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(&app, &alice, "Refund", "The printer ate my money.").await;
    ticket_saying(&app, &alice, "Refund", "Charged twice.").await;

    assert_eq!(found(&app, &alice, "refund printer").await, ["Refund"]);
}

#[tokio::test]
async fn phrases_exclusions_and_alternatives_follow_web_search_syntax() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(&app, &alice, "Jam", "There is a paper jam in tray two.").await;
    ticket_saying(
        &app,
        &alice,
        "Tray",
        "Paper everywhere, and strawberry jam.",
    )
    .await;
    ticket_saying(&app, &alice, "Toner", "Out of toner.").await;

    assert_eq!(found(&app, &alice, "\"paper jam\"").await, ["Jam"]);
    assert_eq!(found(&app, &alice, "paper -strawberry").await, ["Jam"]);
    let mut either = found(&app, &alice, "toner or strawberry").await;
    either.sort();
    assert_eq!(either, ["Toner", "Tray"]);
}

#[tokio::test]
async fn a_customer_never_finds_a_word_only_an_internal_note_holds() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let root = app.admin("root");
    let id = ticket_saying(&app, &alice, "Printer", "Broken again.").await;
    app.add_message(&root, &id, "Suspect xylophone firmware.", true)
        .await
        .expect_ok();

    assert_eq!(found(&app, &alice, "xylophone").await, Vec::<String>::new());
    assert_eq!(found(&app, &root, "xylophone").await, ["Printer"]);
}

#[tokio::test]
async fn an_admin_searching_one_customers_tickets_finds_their_internal_notes_too() {
    let app = spawn_app().await;
    let (alice, bob, root) = (
        app.customer("alice"),
        app.customer("bob"),
        app.admin("root"),
    );
    let id = ticket_saying(&app, &alice, "Printer", "Broken again.").await;
    app.add_message(&root, &id, "Suspect xylophone firmware.", true)
        .await
        .expect_ok();
    ticket_saying(&app, &bob, "Scanner", "Xylophone noise.").await;

    let reply = app
        .graphql(
            &root,
            r#"{ tickets(userId: "alice", search: "xylophone", order: RELEVANCE) { items { subject } pagination { total } } }"#,
            json!({}),
        )
        .await
        .expect_ok();

    assert_eq!(
        reply.data("tickets"),
        &json!({ "items": [{ "subject": "Printer" }], "pagination": { "total": 1 } })
    );
}

#[tokio::test]
async fn a_customer_never_finds_another_customers_ticket() {
    let app = spawn_app().await;
    ticket_saying(&app, &app.customer("bob"), "Zeppelin", "Bob's secret.").await;

    assert_eq!(
        found(&app, &app.customer("alice"), "zeppelin").await,
        Vec::<String>::new()
    );
    assert_eq!(
        found(&app, &app.admin("root"), "zeppelin").await,
        ["Zeppelin"]
    );
}

#[tokio::test]
async fn a_message_is_found_as_soon_as_its_mutation_answered() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let id = ticket_saying(&app, &alice, "Help", "Hello.").await;

    app.add_message(&alice, &id, "Now the scanner smokes.", false)
        .await
        .expect_ok();

    assert_eq!(found(&app, &alice, "scanner").await, ["Help"]);
}

#[tokio::test]
async fn a_search_that_matches_nothing_is_an_empty_page() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(&app, &alice, "Printer", "Broken.").await;

    assert_eq!(found(&app, &alice, "unicorn").await, Vec::<String>::new());
}

#[tokio::test]
async fn operators_sql_and_fts_syntax_get_an_answer_never_an_error() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(&app, &alice, "Printer", "Broken.").await;

    for search in [
        "\"",
        "*",
        "NEAR(",
        "^printer",
        "-",
        "or",
        "\" OR 1=1 --",
        "'; DROP TABLE tickets; --",
        "printer*",
        "{subject} : printer",
        "a AND OR NOT b",
        "(((",
    ] {
        let reply = app
            .graphql(
                &alice,
                "query($search: String) { tickets(search: $search) { pagination { total } } }",
                json!({ "search": search }),
            )
            .await;

        assert_eq!(reply.errors(), Vec::<Value>::new(), "{search}");
        assert!(
            reply.data("tickets")["pagination"]["total"].is_u64(),
            "{search}"
        );
    }
}

#[tokio::test]
async fn a_search_is_one_to_two_hundred_characters_without_nul() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    for search in ["   ".to_owned(), "a".repeat(10_000), "printer\0".to_owned()] {
        let reply = app
            .graphql(
                &alice,
                "query($search: String) { tickets(search: $search) { items { id } } }",
                json!({ "search": search }),
            )
            .await;

        reply.expect_bad_input("search");
    }
}

#[tokio::test]
async fn relevance_puts_the_best_match_first() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(
        &app,
        &alice,
        "Refund refund",
        "Refund please, a refund, my refund.",
    )
    .await;
    ticket_saying(&app, &alice, "Question", "Is a refund possible?").await;
    ticket_saying(&app, &alice, "Other", "Nothing to see.").await;

    let reply = app
        .graphql(
            &alice,
            r#"{ tickets(search: "refund", order: RELEVANCE) { items { subject } } }"#,
            json!({}),
        )
        .await
        .expect_ok();

    assert_eq!(
        reply.data("tickets")["items"],
        json!([{ "subject": "Refund refund" }, { "subject": "Question" }])
    );
}

#[tokio::test]
async fn relevance_without_a_search_or_on_the_connection_is_refused_naming_order() {
    let app = spawn_app().await;
    let alice = app.customer("alice");

    let without_search = app
        .graphql(
            &alice,
            "{ tickets(order: RELEVANCE) { items { id } } }",
            json!({}),
        )
        .await;
    let on_connection = app
        .graphql(
            &alice,
            r#"{ ticketsConnection(search: "x", order: RELEVANCE) { totalCount } }"#,
            json!({}),
        )
        .await;

    without_search.expect_bad_input("order");
    on_connection.expect_bad_input("order");
}

#[tokio::test]
async fn the_connection_searches_as_the_page_does() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    ticket_saying(&app, &alice, "Printer", "Broken.").await;
    ticket_saying(&app, &alice, "Login", "Locked out.").await;

    let reply = app
        .graphql(
            &alice,
            r#"{ ticketsConnection(search: "printers") { nodes { subject } totalCount } }"#,
            json!({}),
        )
        .await
        .expect_ok();

    assert_eq!(
        reply.data("ticketsConnection"),
        &json!({ "nodes": [{ "subject": "Printer" }], "totalCount": 1 })
    );
}
