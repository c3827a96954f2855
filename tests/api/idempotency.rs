//! `Idempotency-Key` on mutations: a retry never writes twice, and gets the first answer
//! byte for byte.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use entity::idempotency_key;
use entity::prelude::{IdempotencyKey, TicketEvent};
use reqwest::header::{HeaderMap, HeaderValue};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use supportdesk::config::ABANDONED_CLAIM_MARGIN;
use supportdesk::webhooks::secret::SecretKey;

use crate::helpers::{
    TestApp, User, required_postgres_server_url, spawn_another_instance, spawn_app, spawn_app_with,
};

const CREATE_TICKET: &str = "mutation($input: CreateTicketInput!) {
    createTicket(input: $input) { id subject createdAt }
}";

/// A `createTicket` request body, as the client sends it each time.
fn create_ticket_body(subject: &str) -> String {
    json!({
        "query": CREATE_TICKET,
        "variables": { "input": { "subject": subject, "message": "First message" } },
    })
    .to_string()
}

/// What the server answered, with the body's very bytes.
struct Answer {
    status: u16,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    fn code(&self) -> Option<String> {
        self.json()["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_owned)
    }

    fn replayed(&self) -> bool {
        self.headers.get("idempotent-replayed") == Some(&HeaderValue::from_static("true"))
    }
}

/// POSTs `body` as `user` (or anonymous) with `key` as its `Idempotency-Key`, if any.
async fn send(app: &TestApp, user: Option<&User>, key: Option<&[u8]>, body: &str) -> Answer {
    let mut request = app
        .request(reqwest::Method::POST, "/graphql")
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(user) = user {
        request = request.bearer_auth(&user.token);
    }
    if let Some(key) = key {
        let value = HeaderValue::from_bytes(key).expect("a header value");
        request = request.header("idempotency-key", value);
    }
    let response = request.send().await.expect("the server answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.expect("a body").to_vec(),
    }
}

async fn database(app: &TestApp) -> DatabaseConnection {
    Database::connect(&app.database_url)
        .await
        .expect("the database")
}

async fn kept_keys(app: &TestApp) -> u64 {
    IdempotencyKey::find()
        .count(&database(app).await)
        .await
        .expect("a count")
}

async fn events(app: &TestApp) -> u64 {
    TicketEvent::find()
        .count(&database(app).await)
        .await
        .expect("a count")
}

/// A claim written as a request of `user` with `body` would, made `age` ago and still
/// running: what a request in flight, or one whose instance died, leaves.
async fn running_claim(app: &TestApp, user: &User, key: &str, body: &str, age: Duration) {
    let created_at = Utc::now() - TimeDelta::from_std(age).expect("a duration");
    IdempotencyKey::insert(idempotency_key::ActiveModel {
        user_id: Set(user.id.clone()),
        key: Set(key.to_owned()),
        request_sha256: Set(Sha256::digest(body.as_bytes()).to_vec()),
        claim_id: Set(uuid::Uuid::now_v7()),
        status: Set(None),
        headers: Set(None),
        body: Set(None),
        created_at: Set(created_at),
        expires_at: Set(created_at + TimeDelta::hours(24)),
    })
    .exec_without_returning(&database(app).await)
    .await
    .expect("a claim");
}

/// Each row of `idempotency_keys` as a read of the table gives it: every column's bytes,
/// one after another.
pub async fn kept_rows(app: &TestApp) -> Vec<Vec<u8>> {
    let rows = IdempotencyKey::find()
        .all(&database(app).await)
        .await
        .expect("the rows");
    rows.into_iter()
        .map(|row| {
            [
                row.user_id.as_bytes(),
                row.key.as_bytes(),
                &row.request_sha256,
                row.claim_id.as_bytes(),
                row.status.unwrap_or_default().to_string().as_bytes(),
                row.headers.unwrap_or_default().as_bytes(),
                &row.body.unwrap_or_default(),
            ]
            .concat()
        })
        .collect()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn expire_every_key(app: &TestApp) {
    IdempotencyKey::update_many()
        .col_expr(
            idempotency_key::Column::ExpiresAt,
            Expr::value(Utc::now() - TimeDelta::seconds(1)),
        )
        .exec(&database(app).await)
        .await
        .expect("expired");
}

#[tokio::test]
async fn a_retried_mutation_opens_one_ticket_and_gets_the_first_answer_byte_for_byte() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Printer on fire");

    let first = send(&app, Some(&alice), Some(b"order-1"), &body).await;
    let retry = send(&app, Some(&alice), Some(b"order-1"), &body).await;

    assert_eq!(first.status, 200);
    assert!(!first.replayed());
    assert!(first.json()["data"]["createTicket"]["id"].is_string());
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.bytes, first.bytes);
    assert_eq!(retry.headers["content-type"], first.headers["content-type"]);
    assert!(retry.replayed());
    assert_eq!(app.ticket_total().await, 1);
    assert_eq!(events(&app).await, 1);
}

#[tokio::test]
async fn a_kept_answer_holds_nothing_of_its_text_in_plain_form() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Printer on fire");

    let first = send(&app, Some(&alice), Some(b"order-1"), &body).await;

    let id = first.json()["data"]["createTicket"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let rows = kept_rows(&app).await;
    assert_eq!(rows.len(), 1);
    for needle in [
        &first.bytes,
        id.as_bytes(),
        b"Printer on fire",
        b"createTicket",
    ] {
        assert!(
            !contains(&rows[0], needle),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
}

#[tokio::test]
async fn an_answer_kept_under_another_key_counts_as_expired_and_the_retry_runs() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Before the key was set");
    send(&app, Some(&alice), Some(b"rekeyed"), &body).await;
    let rekeyed = spawn_another_instance(&app, |config| {
        config.webhooks.secret_key =
            Some(SecretKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("a key"));
    })
    .await;

    let retry = send(&rekeyed, Some(&alice), Some(b"rekeyed"), &body).await;
    let again = send(&rekeyed, Some(&alice), Some(b"rekeyed"), &body).await;

    assert_eq!(retry.status, 200);
    assert!(!retry.replayed());
    assert!(retry.json()["data"]["createTicket"]["id"].is_string());
    assert!(again.replayed());
    assert_eq!(again.bytes, retry.bytes);
    assert_eq!(app.ticket_total().await, 2);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_as_a_mismatch() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    send(&app, Some(&alice), Some(b"k"), &create_ticket_body("One")).await;

    let other = send(&app, Some(&alice), Some(b"k"), &create_ticket_body("Two")).await;

    assert_eq!(other.status, 422);
    assert_eq!(other.code().as_deref(), Some("IDEMPOTENCY_KEY_MISMATCH"));
    assert!(other.json().get("data").is_none());
    assert_eq!(app.ticket_total().await, 1);
}

#[tokio::test]
async fn eight_concurrent_requests_with_one_key_open_one_ticket() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Eight times");

    let answers = futures_util::future::join_all(
        (0..8).map(|_| send(&app, Some(&alice), Some(b"burst"), &body)),
    )
    .await;

    let ran: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.status == 200 && !answer.replayed())
        .collect();
    assert_eq!(ran.len(), 1);
    for answer in &answers {
        match answer.status {
            200 if answer.replayed() => assert_eq!(answer.bytes, ran[0].bytes),
            200 => {}
            409 => {
                assert_eq!(answer.code().as_deref(), Some("IDEMPOTENCY_KEY_IN_USE"));
                assert_eq!(answer.headers["retry-after"], "1");
            }
            status => panic!("unexpected {status}: {:?}", answer.json()),
        }
    }
    assert_eq!(app.ticket_total().await, 1);
}

#[tokio::test]
async fn a_key_whose_first_request_still_runs_is_in_use() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Slow");
    running_claim(&app, &alice, "slow", &body, Duration::from_secs(1)).await;

    let answer = send(&app, Some(&alice), Some(b"slow"), &body).await;

    assert_eq!(answer.status, 409);
    assert_eq!(answer.code().as_deref(), Some("IDEMPOTENCY_KEY_IN_USE"));
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn a_running_claim_older_than_the_time_budget_and_its_margin_is_taken_over() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Orphaned");
    let abandoned = app_request_timeout() + ABANDONED_CLAIM_MARGIN + Duration::from_secs(5);
    running_claim(&app, &alice, "orphan", &body, abandoned).await;

    let answer = send(&app, Some(&alice), Some(b"orphan"), &body).await;
    let retry = send(&app, Some(&alice), Some(b"orphan"), &body).await;

    assert_eq!(answer.status, 200);
    assert!(!answer.replayed());
    assert!(retry.replayed());
    assert_eq!(app.ticket_total().await, 1);
}

/// The time budget of a test server: the default.
fn app_request_timeout() -> Duration {
    supportdesk::config::HttpOptions::DEFAULT.request_timeout
}

#[tokio::test]
async fn another_users_same_key_runs_on_its_own() {
    let app = spawn_app().await;
    let body = create_ticket_body("Same words");
    send(&app, Some(&app.customer("alice")), Some(b"shared"), &body).await;

    let bobs = send(&app, Some(&app.customer("bob")), Some(b"shared"), &body).await;

    assert_eq!(bobs.status, 200);
    assert!(!bobs.replayed());
    assert_eq!(bobs.json()["errors"], Value::Null);
    assert_eq!(app.ticket_total().await, 2);
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn one_key_holds_across_two_instances_on_one_postgresql() {
    required_postgres_server_url();
    let first = spawn_app().await;
    let second = spawn_another_instance(&first, |_| {}).await;
    let alice = first.customer("alice");
    let body = create_ticket_body("Retried elsewhere");

    let answer = send(&first, Some(&alice), Some(b"fleet"), &body).await;
    let retry = send(&second, Some(&alice), Some(b"fleet"), &body).await;

    assert_eq!(answer.status, 200);
    assert!(retry.replayed());
    assert_eq!(retry.bytes, answer.bytes);
    assert_eq!(first.ticket_total().await, 1);
}

#[tokio::test]
async fn a_mutation_refused_by_the_rate_limit_runs_when_retried_after_the_bucket_refills() {
    let app = spawn_app_with(|config| {
        config.http.mutation_rate_limit.burst = 1;
        config.http.mutation_rate_limit.per_second = 2.0;
    })
    .await;
    let alice = app.customer("alice");
    app.open_ticket_reply(&alice, "Spends the bucket")
        .await
        .expect_ok();
    let body = create_ticket_body("Retried");

    let limited = send(&app, Some(&alice), Some(b"later"), &body).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let retry = send(&app, Some(&alice), Some(b"later"), &body).await;

    assert_eq!(limited.status, 429);
    assert_eq!(retry.status, 200);
    assert!(!retry.replayed());
    assert_eq!(retry.json()["errors"], Value::Null);
    assert_eq!(app.ticket_total().await, 2);
}

#[tokio::test]
async fn a_mutation_refused_by_validation_releases_its_key() {
    let app = spawn_app().await;
    let body = json!({ "query": "mutation { createTicket(input: { subject: \"s\", message: \"m\" }) { nope } }" })
        .to_string();

    let answer = send(&app, Some(&app.customer("alice")), Some(b"typo"), &body).await;

    assert_eq!(answer.code().as_deref(), Some("GRAPHQL_VALIDATION_FAILED"));
    assert_eq!(kept_keys(&app).await, 0);
}

#[tokio::test]
async fn a_replay_spends_nothing_of_the_rate_limit() {
    let app = spawn_app_with(|config| {
        config.http.mutation_rate_limit.burst = 1;
        config.http.mutation_rate_limit.per_second = 0.001;
    })
    .await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Once");
    send(&app, Some(&alice), Some(b"once"), &body).await;

    let replays = futures_util::future::join_all(
        (0..3).map(|_| send(&app, Some(&alice), Some(b"once"), &body)),
    )
    .await;

    assert!(replays.iter().all(Answer::replayed));
    assert!(replays.iter().all(|answer| answer.status == 200));
}

#[tokio::test]
async fn malformed_keys_are_refused_with_400_and_run_nothing() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let too_long = "k".repeat(256);
    let body = create_ticket_body("Never");

    for key in [
        &b""[..],
        too_long.as_bytes(),
        "cl\u{e9}".as_bytes(),
        b"two words",
    ] {
        let answer = send(&app, Some(&alice), Some(key), &body).await;
        assert_eq!(answer.status, 400, "{key:?}");
        assert_eq!(answer.code().as_deref(), Some("BAD_REQUEST"), "{key:?}");
    }
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn a_key_of_255_visible_characters_is_accepted() {
    let app = spawn_app().await;
    let key = "~".repeat(255);

    let answer = send(
        &app,
        Some(&app.customer("alice")),
        Some(key.as_bytes()),
        &create_ticket_body("Long key"),
    )
    .await;

    assert_eq!(answer.status, 200);
    assert_eq!(kept_keys(&app).await, 1);
}

#[tokio::test]
async fn a_query_with_a_key_runs_as_if_it_had_none_and_keeps_nothing() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = json!({ "query": "{ me { id } }" }).to_string();

    let answer = send(&app, Some(&alice), Some(b"read"), &body).await;
    let again = send(&app, Some(&alice), Some(b"read"), &body).await;

    assert_eq!(answer.json()["data"]["me"]["id"], "alice");
    assert!(!again.replayed());
    assert_eq!(kept_keys(&app).await, 0);
}

#[tokio::test]
async fn the_operation_name_that_selects_a_mutation_beside_a_query_makes_it_keyed() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = json!({
        "query": "query Look { me { id } }
                  mutation Open { createTicket(input: { subject: \"s\", message: \"m\" }) { id } }",
        "operationName": "Open",
    })
    .to_string();

    send(&app, Some(&alice), Some(b"named"), &body).await;
    let retry = send(&app, Some(&alice), Some(b"named"), &body).await;

    assert!(retry.replayed());
    assert_eq!(app.ticket_total().await, 1);
}

#[tokio::test]
async fn a_batch_with_a_key_is_refused() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let operation: Value = serde_json::from_str(&create_ticket_body("Batched")).expect("JSON");
    let body = Value::from(vec![operation.clone(), operation]).to_string();

    let answer = send(&app, Some(&alice), Some(b"batch"), &body).await;

    assert_eq!(answer.status, 400);
    assert_eq!(answer.code().as_deref(), Some("BAD_REQUEST"));
    assert_eq!(app.ticket_total().await, 0);
}

#[tokio::test]
async fn an_expired_key_runs_again() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let body = create_ticket_body("Next week");
    send(&app, Some(&alice), Some(b"weekly"), &body).await;
    expire_every_key(&app).await;

    let again = send(&app, Some(&alice), Some(b"weekly"), &body).await;

    assert_eq!(again.status, 200);
    assert!(!again.replayed());
    assert_eq!(app.ticket_total().await, 2);
}

#[tokio::test]
async fn expired_keys_are_removed_in_the_background() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    send(&app, Some(&alice), Some(b"old"), &create_ticket_body("Old")).await;
    expire_every_key(&app).await;
    send(&app, Some(&alice), Some(b"new"), &create_ticket_body("New")).await;

    // An instance sweeps as soon as it starts, then every ten minutes.
    let _sweeper = spawn_another_instance(&app, |_| {}).await;

    let db = database(&app).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let old = IdempotencyKey::find()
            .filter(idempotency_key::Column::Key.eq("old"))
            .count(&db)
            .await
            .expect("a count");
        if old == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kept_keys(&app).await, 1);
}

#[tokio::test]
async fn an_anonymous_mutation_with_a_key_keeps_nothing() {
    let app = spawn_app().await;

    let answer = send(&app, None, Some(b"anon"), &create_ticket_body("Who?")).await;

    assert_eq!(answer.code().as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(kept_keys(&app).await, 0);
}

#[tokio::test]
async fn a_persisted_mutation_sent_by_hash_alone_with_a_key_is_asked_for_its_text() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let hash: String = Sha256::digest(CREATE_TICKET.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let variables = json!({ "input": { "subject": "APQ", "message": "m" } });
    let with_text =
        json!({ "query": CREATE_TICKET, "variables": variables, "extensions": extensions })
            .to_string();
    send(&app, Some(&alice), Some(b"apq-1"), &with_text).await;

    let by_hash = json!({ "variables": variables, "extensions": extensions }).to_string();
    let answer = send(&app, Some(&alice), Some(b"apq-2"), &by_hash).await;

    assert_eq!(answer.code().as_deref(), Some("PERSISTED_QUERY_NOT_FOUND"));
    assert_eq!(app.ticket_total().await, 1);
}

#[tokio::test]
async fn a_browser_may_send_a_key_and_read_that_an_answer_is_replayed() {
    let app = spawn_app_with(|config| {
        config.http.cors_origins = vec![
            supportdesk::config::CorsOrigin::parse("https://app.example.com").expect("an origin"),
        ];
    })
    .await;

    let preflight = app
        .request(reqwest::Method::OPTIONS, "/graphql")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key",
        )
        .send()
        .await
        .expect("the server answers");
    let simple = app
        .request(reqwest::Method::POST, "/graphql")
        .header("origin", "https://app.example.com")
        .header("content-type", "application/json")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .expect("the server answers");

    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(exposed.contains("idempotent-replayed"), "{exposed}");
}
