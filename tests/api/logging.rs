use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::spawn_app;

/// Collects what the log writes, for the test's thread only.
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_info_log_names_each_request_by_id_and_holds_no_token_or_message_text() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime runs the server on this thread, so a thread-local subscriber
    // sees its log.
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;
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

    let request_id = reply.headers["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let text = log.text();
    assert!(text.contains(&request_id), "{text}");
    assert!(!text.contains(&alice.token), "{text}");
    assert!(!text.contains(secret_text), "{text}");
}
