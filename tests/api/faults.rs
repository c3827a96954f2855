//! The database fails: missing at start, lost under load, too slow. The server keeps
//! answering: 503 SERVICE_UNAVAILABLE until it could migrate the database, then requests
//! that fail on a lost database fail fast with INTERNAL_SERVER_ERROR. It recovers by
//! itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use supportdesk::config::DatabaseConfig;

use crate::helpers::{
    Reply, TestApp, TestDatabase, User, required_postgres_server_url, spawn_app_with,
    spawn_app_without_waiting,
};
use crate::proxy::{TcpProxy, postgres_host_port};

/// Short, so that the tests are quick; the default is 5 s.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
/// What a failing request may take beyond the acquire timeout on a busy test machine.
const SLACK: Duration = Duration::from_millis(1500);
/// How long recovery may take once the database is back: the migration task's pause
/// between attempts grows to 5 s.
const RECOVERS_WITHIN: Duration = Duration::from_secs(15);

fn assert_internal_error(reply: &Reply) {
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    assert_eq!(
        reply.error_code().as_deref(),
        Some("INTERNAL_SERVER_ERROR"),
        "{:#}",
        reply.body
    );
    assert_eq!(
        reply.error_message().as_deref(),
        Some("Internal server error")
    );
    assert!(reply.data("createTicket").is_null(), "{:#}", reply.body);
}

/// The process answers, but is not ready, and a GraphQL request is refused at once
/// with 503 SERVICE_UNAVAILABLE: the schema was never migrated.
async fn assert_serving_but_not_ready(app: &TestApp, user: &User) {
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 503);
    let started = Instant::now();
    let reply = app.open_ticket_reply(user, "Database trouble").await;
    assert!(started.elapsed() < SLACK);
    assert_eq!(reply.status, 503, "{:#}", reply.body);
    assert_eq!(reply.headers["retry-after"], "1");
    assert_eq!(
        reply.error_code().as_deref(),
        Some("SERVICE_UNAVAILABLE"),
        "{:#}",
        reply.body
    );
}

#[tokio::test]
async fn an_sqlite_file_that_cannot_be_opened_at_start_answers_503_until_it_can() {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let directory = parent.path().join("created-later");
    let url = format!("sqlite://{}/supportdesk.db?mode=rwc", directory.display());
    let app = spawn_app_without_waiting(|config| {
        config.database = DatabaseConfig {
            acquire_timeout: ACQUIRE_TIMEOUT,
            ..DatabaseConfig::new(url)
        };
    })
    .await;
    let alice = app.customer("alice");

    assert_serving_but_not_ready(&app, &alice).await;

    std::fs::create_dir(&directory).expect("the directory is created");

    assert!(app.becomes_ready_within(RECOVERS_WITHIN).await);
    app.open_ticket_reply(&alice, "Database trouble")
        .await
        .expect_ok();
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn postgres_unreachable_at_start_answers_503_until_it_returns() {
    let server_url = required_postgres_server_url();
    let proxy = TcpProxy::cut_off(&postgres_host_port(&server_url)).await;
    let app = spawn_app_without_waiting(|config| {
        config.database.url = proxy.url_for(&config.database.url);
        config.database.acquire_timeout = ACQUIRE_TIMEOUT;
    })
    .await;
    let alice = app.customer("alice");

    assert_serving_but_not_ready(&app, &alice).await;

    proxy.restore();

    assert!(app.becomes_ready_within(RECOVERS_WITHIN).await);
    app.open_ticket_reply(&alice, "Database trouble")
        .await
        .expect_ok();
}

/// One request of the background load: when it started, how long it took, and whether
/// it succeeded.
struct Outcome {
    started: Instant,
    took: Duration,
    reply: Reply,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn losing_postgres_under_load_fails_requests_fast_and_recovers_by_itself() {
    let server_url = required_postgres_server_url();
    let proxy = TcpProxy::start(&postgres_host_port(&server_url)).await;
    let app = Arc::new(
        spawn_app_with(|config| {
            config.database.url = proxy.url_for(&config.database.url);
            config.database.acquire_timeout = ACQUIRE_TIMEOUT;
            // The workers write as fast as they can: the rate limit is not under test.
            config.http.mutation_rate_limit.burst = u32::MAX;
        })
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
            tokio::spawn(async move {
                let user = app.customer(&format!("user-{n}"));
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let reply = app.open_ticket_reply(&user, "Database trouble").await;
                    outcomes.push(Outcome {
                        started,
                        took: started.elapsed(),
                        reply,
                    });
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                outcomes
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let cut_at = Instant::now();
    proxy.cut();
    tokio::time::sleep(ACQUIRE_TIMEOUT * 2).await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    let restored_at = Instant::now();
    proxy.restore();
    assert!(app.becomes_ready_within(RECOVERS_WITHIN).await);
    let ready_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("a load worker"));
    }

    for outcome in &outcomes {
        assert!(
            outcome.took < ACQUIRE_TIMEOUT + SLACK,
            "a request took {:?}",
            outcome.took
        );
        if outcome.reply.errors().is_empty() {
            assert!(outcome.reply.data("createTicket")["id"].is_string());
        } else {
            assert_internal_error(&outcome.reply);
        }
    }
    let during_cut: Vec<_> = outcomes
        .iter()
        .filter(|outcome| outcome.started > cut_at && outcome.started + outcome.took < restored_at)
        .collect();
    assert!(!during_cut.is_empty(), "no request ran while cut off");
    for outcome in during_cut {
        assert_internal_error(&outcome.reply);
    }
    let after_recovery: Vec<_> = outcomes
        .iter()
        .filter(|outcome| outcome.started > ready_at)
        .collect();
    assert!(!after_recovery.is_empty(), "no request ran after recovery");
    for outcome in after_recovery {
        assert!(
            outcome.reply.errors().is_empty(),
            "{:#}",
            outcome.reply.body
        );
    }
    assert!(
        outcomes
            .iter()
            .any(|outcome| outcome.started < cut_at && outcome.reply.errors().is_empty()),
        "no request succeeded before the cut"
    );
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn a_postgres_statement_past_the_statement_timeout_is_cancelled() {
    required_postgres_server_url();
    let database = TestDatabase::create().await;
    let db = supportdesk::db::connect(&DatabaseConfig {
        statement_timeout: Duration::from_millis(200),
        ..DatabaseConfig::new(database.url.clone())
    })
    .expect("a pool");

    db.execute_unprepared("SELECT pg_sleep(0.05)")
        .await
        .expect("a statement within the timeout runs");
    let started = Instant::now();
    let error = db
        .execute_unprepared("SELECT pg_sleep(10)")
        .await
        .expect_err("the statement is cancelled");

    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(error.to_string().contains("statement timeout"), "{error}");
    db.close().await.expect("the pool closes");
}

/// A request cancelled while its `BEGIN` is on the wire (its time budget spent, its client
/// gone) must not leave the server inside a transaction on a pooled connection: the next
/// request to take that connection would run inside it, and what it writes would not be
/// committed. The database stalls while a transaction begins, the beginning is given up,
/// and the one connection of the pool then writes on its own.
#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn a_transaction_given_up_while_it_begins_leaves_the_next_write_committed() {
    let server_url = required_postgres_server_url();
    let database = TestDatabase::create().await;
    let proxy = TcpProxy::start(&postgres_host_port(&server_url)).await;
    let db = supportdesk::db::connect(&DatabaseConfig {
        max_connections: 1,
        ..DatabaseConfig::new(proxy.url_for(&database.url))
    })
    .expect("a pool");
    db.execute_unprepared("CREATE TABLE written (n int)")
        .await
        .expect("a table");
    // Back in the pool: its return takes a round trip of its own.
    tokio::time::sleep(Duration::from_millis(200)).await;

    proxy.stall();
    let given_up = tokio::time::timeout(Duration::from_millis(300), db.begin()).await;
    assert!(
        given_up.is_err(),
        "the transaction began through a stalled proxy"
    );
    proxy.restore();
    db.execute_unprepared("INSERT INTO written VALUES (1)")
        .await
        .expect("a write");

    let elsewhere =
        supportdesk::db::connect(&DatabaseConfig::new(database.url.clone())).expect("another pool");
    let seen = elsewhere
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM written",
        ))
        .await
        .expect("a count")
        .expect("a row");
    assert_eq!(seen.try_get::<i64>("", "n").expect("n"), 1);
}
