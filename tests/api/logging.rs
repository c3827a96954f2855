//! What the real binary writes to its log, with its real log configuration.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::server_process::{ServerProcess, spawn_server};

/// Lets the log reader thread catch up with the server.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// The server's log, once it names the request `reply` answered by its id.
async fn log_naming(reply: &Reply, server: &ServerProcess) -> String {
    settle().await;
    let request_id = reply.headers["x-request-id"].to_str().expect("ascii");
    let log = server.log();
    assert!(log.contains(request_id), "{log}");
    log
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
    let log = log_naming(&reply, &server).await;
    assert!(!log.contains(&alice.token), "{log}");
    assert!(!log.contains(secret_text), "{log}");
}

#[tokio::test]
async fn a_request_id_that_would_forge_log_fields_never_reaches_the_log() {
    let (app, server) = spawn_server(&[]).await;
    let forged = "x\" level=ERROR fake=\"1";

    let reply = app
        .post_raw(
            &[
                ("content-type", "application/json"),
                ("x-request-id", forged),
            ],
            json!({ "query": "{ __typename }" }).to_string(),
        )
        .await
        .expect_ok();
    let log = log_naming(&reply, &server).await;
    assert!(!log.contains("fake"), "{log}");
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

#[tokio::test]
async fn log_format_json_writes_each_line_as_a_json_object_with_level_message_and_target() {
    let (app, server) = spawn_server(&[("LOG_FORMAT", "json")]).await;

    app.graphql(&app.customer("alice"), "{ me { id } }", json!({}))
        .await
        .expect_ok();
    settle().await;

    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|error| {
            panic!("not JSON ({error}): {line}");
        });
        for key in ["level", "message", "target"] {
            assert!(entry[key].is_string(), "no {key}: {line}");
        }
    }
    assert!(log.contains("supportdesk is listening"), "{log}");
}

#[tokio::test]
async fn text_logs_written_to_a_pipe_hold_no_colour_codes() {
    // An empty NO_COLOR counts as unset: only the pipe can turn the colours off here.
    let (app, server) = spawn_server(&[("NO_COLOR", "")]).await;

    app.graphql(&app.customer("alice"), "{ me { id } }", json!({}))
        .await
        .expect_ok();
    settle().await;

    let log = server.log();
    assert!(log.contains("supportdesk is listening address="), "{log}");
    assert!(!log.contains('\x1b'), "{log}");
}

/// The fields of the request span of the request `reply` answered, from the JSON log
/// line that says it was answered.
async fn request_span_of(reply: &Reply, server: &ServerProcess) -> Value {
    let log = log_naming(reply, server).await;
    let request_id = reply.headers["x-request-id"].to_str().expect("ascii");
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| {
            entry["span"]["id"] == request_id && entry["message"] == "finished processing request"
        })
        .map(|entry| entry["span"].clone())
        .unwrap_or_else(|| panic!("no line answering {request_id}:\n{log}"))
}

/// A query sent straight from this test (over 127.0.0.1) with `X-Forwarded-For` lines.
async fn forwarded_for(app: &TestApp, lines: &[&str]) -> Reply {
    let mut headers = vec![("content-type", "application/json")];
    headers.extend(lines.iter().map(|line| ("x-forwarded-for", *line)));
    app.post_raw(&headers, json!({ "query": "{ __typename }" }).to_string())
        .await
        .expect_ok()
}

#[tokio::test]
async fn a_forged_x_forwarded_for_from_an_untrusted_peer_is_not_believed() {
    let (app, server) = spawn_server(&[("LOG_FORMAT", "json")]).await;

    let reply = forwarded_for(&app, &["203.0.113.7"]).await;

    let span = request_span_of(&reply, &server).await;
    assert_eq!(span["client.address"], "127.0.0.1", "{span:#}");
    assert!(!server.log().contains("203.0.113.7"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_it_forwarded_for_is_logged_with_the_proxy() {
    let (app, server) =
        spawn_server(&[("LOG_FORMAT", "json"), ("TRUSTED_PROXIES", "127.0.0.1/32")]).await;

    let reply = forwarded_for(&app, &["203.0.113.7"]).await;

    let span = request_span_of(&reply, &server).await;
    assert_eq!(span["client.address"], "203.0.113.7", "{span:#}");
    assert_eq!(span["network.peer.address"], "127.0.0.1", "{span:#}");
}

#[tokio::test]
async fn of_a_forwarded_chain_the_right_most_address_no_trusted_proxy_has_is_logged() {
    let (app, server) = spawn_server(&[
        ("LOG_FORMAT", "json"),
        ("TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8"),
    ])
    .await;

    // What the client forged, the client as the edge proxy saw it, that proxy as the
    // next one saw it; the last line is HAProxy's, as `option forwardfor` adds it.
    let reply = forwarded_for(&app, &["198.51.100.1, 203.0.113.7", "10.1.2.3"]).await;

    let span = request_span_of(&reply, &server).await;
    assert_eq!(span["client.address"], "203.0.113.7", "{span:#}");
}
