use serde_json::Value;

use crate::helpers::spawn_app;

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
    let id = app.create_ticket(&alice, "Case").await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
    assert_eq!(parsed.get_version_num(), 7);
    assert_eq!(id, parsed.hyphenated().to_string());
    let reply = app.ticket(&alice, &id.to_uppercase()).await.expect_ok();
    assert_eq!(reply.data("ticket")["id"], id);
}
