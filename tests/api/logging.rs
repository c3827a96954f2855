use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::spawn_app;

/// The real binary, with its real log configuration, on the test's database.
#[tokio::test]
async fn the_info_log_names_each_request_by_id_and_holds_no_token_or_message_text() {
    let app = spawn_app().await;
    let mut server = Command::new(env!("CARGO_BIN_EXE_supportdesk"))
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("JWT_SECRET", &app.jwt_secret)
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut log = BufReader::new(server.stderr.take().expect("stderr")).lines();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        let mut seen = String::new();
        while let Some(line) = log.next_line().await.expect("log line") {
            if let Some((_, address)) = line.split_once("address=") {
                return address.trim().to_owned();
            }
            seen.push_str(&line);
        }
        panic!("the server never said where it listens: {seen}");
    })
    .await
    .expect("the server starts listening");
    let alice = app.customer("alice");
    let secret_text = "my account number is 12345678";

    let response = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .bearer_auth(&alice.token)
        .json(&json!({
            "query": "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id } }",
            "variables": { "input": { "subject": "Bank", "message": secret_text } },
        }))
        .send()
        .await
        .expect("the server answers");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(500), log.next_line()).await
    {
        text.push_str(&line);
        text.push('\n');
    }
    server.kill().await.expect("the server stops");

    assert!(text.contains(&request_id), "{text}");
    assert!(!text.contains(&alice.token), "{text}");
    assert!(!text.contains(secret_text), "{text}");
}
