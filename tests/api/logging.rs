//! What the real binary writes to its log, with its real log configuration.

use std::time::Duration;

use serde_json::json;

use crate::server_process::spawn_server;

/// Lets the log reader thread catch up with the server.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn the_info_log_names_each_request_by_id_and_holds_no_token_or_message_text() {
    let (app, server) = spawn_server(&[]).await;
    let alice = app.customer("alice");
    let secret_text = "my account number is 12345678";

    let reply = app
        .graphql(
            &alice,
            "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }",
            json!({ "input": { "subject": "Bank", "message": secret_text } }),
        )
        .await
        .expect_ok();
    settle().await;

    let request_id = reply.headers["x-request-id"].to_str().expect("ascii");
    let log = server.log();
    assert!(log.contains(request_id), "{log}");
    assert!(!log.contains(&alice.token), "{log}");
    assert!(!log.contains(secret_text), "{log}");
}

#[tokio::test]
async fn client_mistakes_log_no_errors() {
    let (app, server) = spawn_server(&[]).await;
    let alice = app.customer("alice");

    app.post_raw(&[("content-type", "application/json")], "{ not json")
        .await;
    app.graphql(&alice, "{ noSuchField }", json!({})).await;
    app.graphql(&alice, "{ ticket(id: \"nope\") { id } }", json!({}))
        .await;
    app.graphql(
        &alice,
        "mutation { createTicket(input: { subject: \"\", message: \"m\" }) { id } }",
        json!({}),
    )
    .await;
    app.post_graphql(Some("Bearer forged.token.here"), "{ me { id } }", json!({}))
        .await;
    settle().await;

    let log = server.log();
    assert!(log.contains("finished processing request"), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}
