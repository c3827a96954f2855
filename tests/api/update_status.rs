use serde_json::Value;

use crate::helpers::spawn_app;

const MISSING_ID: &str = "01890a5d-ac96-774b-bcce-b302099a8057";

#[tokio::test]
async fn an_admin_moves_a_ticket_through_its_statuses() {
    let app = spawn_app().await;
    let admin = app.admin("root");
    let ticket = app.create_ticket(&app.customer("alice"), "Flow").await;
    let id = ticket["id"].as_str().expect("id");

    for status in ["IN_PROGRESS", "RESOLVED", "CLOSED", "OPEN"] {
        let reply = app.set_status(&admin, id, status).await.expect_ok();
        assert_eq!(reply.data("updateTicketStatus")["status"], status);
    }
}

#[tokio::test]
async fn a_status_change_bumps_updated_at() {
    let app = spawn_app().await;
    let ticket = app.create_ticket(&app.customer("alice"), "Bump").await;

    let reply = app
        .set_status(
            &app.admin("root"),
            ticket["id"].as_str().expect("id"),
            "IN_PROGRESS",
        )
        .await
        .expect_ok();

    let updated_at = reply.data("updateTicketStatus")["updatedAt"]
        .as_str()
        .expect("time");
    assert!(updated_at > ticket["updatedAt"].as_str().expect("time"));
}

#[tokio::test]
async fn a_customer_may_not_change_the_status_of_their_own_ticket() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let ticket = app.create_ticket(&alice, "Mine").await;
    let id = ticket["id"].as_str().expect("id");

    let reply = app.set_status(&alice, id, "CLOSED").await;

    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
    assert_eq!(reply.data("updateTicketStatus"), &Value::Null);
    let unchanged = app.ticket(&alice, id).await.expect_ok();
    assert_eq!(unchanged.data("ticket")["status"], "OPEN");
}

#[tokio::test]
async fn a_customer_is_forbidden_even_when_the_ticket_does_not_exist() {
    let app = spawn_app().await;

    let reply = app
        .set_status(&app.customer("alice"), MISSING_ID, "CLOSED")
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("FORBIDDEN"));
}

#[tokio::test]
async fn a_missing_ticket_is_not_found() {
    let app = spawn_app().await;

    let reply = app
        .set_status(&app.admin("root"), MISSING_ID, "CLOSED")
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("NOT_FOUND"));
    assert_eq!(reply.error_message().as_deref(), Some("Ticket not found"));
}
