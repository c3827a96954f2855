//! Stopping the server: on SIGTERM it drains (`/readyz` answers 503, everything else is
//! served) for `SHUTDOWN_DRAIN_SECONDS`; then, as at once on SIGINT, it stops
//! accepting, lets the requests in flight finish within the grace period, closes its
//! sockets with 1001 and its pool, and exits 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::helpers::{Reply, TestApp, TicketLock, User, lock_ticket};
use crate::server_process::{ServerProcess, spawn_server};
use crate::socket::{Received, Socket};

/// A drain that outlasts whatever a test does during it, on a slow machine too.
const LONG_DRAIN: (&str, &str) = ("SHUTDOWN_DRAIN_SECONDS", "30");
/// A drain the tests that go past it wait out.
const SHORT_DRAIN: (&str, &str) = ("SHUTDOWN_DRAIN_SECONDS", "1");

/// Long enough for a request sent to reach the server and block on the lock.
const TO_REACH_THE_SERVER: Duration = Duration::from_millis(300);

/// Sends a message on the ticket in a task of its own; it blocks while the ticket is locked.
fn reply_in_flight(
    app: &Arc<TestApp>,
    user: &User,
    ticket_id: &str,
) -> JoinHandle<reqwest::Result<Reply>> {
    let (app, user, ticket_id) = (Arc::clone(app), user.clone(), ticket_id.to_owned());
    tokio::spawn(async move {
        app.try_graphql(
            &user,
            "mutation($id: ID!) { addTicketMessage(ticketId: $id, body: \"Still there?\") { body } }",
            json!({ "id": ticket_id }),
        )
        .await
    })
}

/// A server (started with `settings`) with a reply in flight, blocked on a ticket the
/// test holds locked.
struct Stalled {
    _app: Arc<TestApp>,
    server: ServerProcess,
    lock: TicketLock,
    in_flight: JoinHandle<reqwest::Result<Reply>>,
}

async fn stall_a_reply(settings: &[(&str, &str)]) -> Stalled {
    let (app, server) = spawn_server(settings).await;
    let app = Arc::new(app);
    let alice = app.customer("alice");
    let ticket_id = app.open_ticket(&alice, "Shutting down").await;
    let lock = lock_ticket(&app.database_url, &ticket_id).await;
    let in_flight = reply_in_flight(&app, &alice, &ticket_id);
    tokio::time::sleep(TO_REACH_THE_SERVER).await;
    assert!(
        !in_flight.is_finished(),
        "the request did not wait for the lock"
    );
    Stalled {
        _app: app,
        server,
        lock,
        in_flight,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_requests_in_flight_finish_new_connections_are_refused_and_it_exits_0() {
    let Stalled {
        mut server,
        lock,
        in_flight,
        ..
    } = stall_a_reply(&[SHORT_DRAIN]).await;

    server.signal("TERM");

    // After the drain.
    assert!(
        server
            .refuses_connections_within(Duration::from_secs(5))
            .await,
        "still accepting after SIGTERM:\n{}",
        server.log()
    );
    assert!(
        !in_flight.is_finished(),
        "the request ended before the lock was released"
    );
    lock.txn.commit().await.expect("the lock is released");
    let reply = in_flight
        .await
        .expect("the request task")
        .expect("the request in flight is answered")
        .expect_ok();
    assert_eq!(reply.data("addTicketMessage")["body"], "Still there?");
    server.assert_exits_0_within(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigint_a_request_still_running_after_the_grace_period_does_not_delay_the_exit() {
    let Stalled {
        mut server,
        lock,
        in_flight,
        ..
    } = stall_a_reply(&[("SHUTDOWN_GRACE_SECONDS", "1")]).await;

    server.signal("INT");

    // The lock is held for longer than the grace period (SQLite's busy timeout is 10 s).
    server.assert_exits_0_within(Duration::from_secs(4)).await;
    assert!(
        in_flight.await.expect("the request task").is_err(),
        "the abandoned request got an answer"
    );
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_open_sockets_are_closed_with_1001_and_it_exits_0() {
    let (app, mut server) = spawn_server(&[SHORT_DRAIN]).await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("alice").token)).await;

    server.signal("TERM");

    assert_eq!(socket.close_code().await, Some(1001));
    server.assert_exits_0_within(Duration::from_secs(10)).await;
}

/// `/readyz`'s answer, over a connection of its own.
async fn readiness(app: &TestApp) -> (StatusCode, String) {
    let response = new_connection()
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// A client that opens a new connection for each request: what a balancer's health
/// checks and a client arriving during the drain do.
fn new_connection() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client")
}

/// Polls `/readyz` until it answers 503, for at most `limit`; its body then.
async fn not_ready_within(app: &TestApp, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let (status, body) = readiness(app).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return Some(body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Sends SIGTERM and waits until `/readyz` answers 503, as it must at once; its body.
async fn start_draining(app: &TestApp, server: &ServerProcess) -> String {
    server.signal("TERM");
    not_ready_within(app, Duration::from_secs(1))
        .await
        .unwrap_or_else(|| panic!("/readyz still ready after SIGTERM:\n{}", server.log()))
}

/// Sends `signal` and asserts that the server refuses connections before `limit` has
/// passed, and then exits 0.
async fn assert_stops_accepting_within(server: &mut ServerProcess, signal: &str, limit: Duration) {
    server.signal(signal);

    assert!(
        server.refuses_connections_within(limit).await,
        "still accepting after SIG{signal}:\n{}",
        server.log()
    );
    server.assert_exits_0_within(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_readyz_answers_503_at_once_while_graphql_still_answers_on_new_connections() {
    let (app, mut server) = spawn_server(&[LONG_DRAIN]).await;
    let alice = app.customer("alice");

    let body = start_draining(&app, &server).await;

    assert!(body.contains("draining"), "{body}");
    let response = new_connection()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&alice.token)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("a new connection is still accepted while draining");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["me"]["id"], "alice", "{body:#}");
    assert!(server.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_drain_open_sockets_are_served_and_stay_open() {
    let (app, mut server) = spawn_server(&[LONG_DRAIN]).await;
    let mut socket = Socket::signed_in(&app, Some(&app.customer("alice").token)).await;

    start_draining(&app, &server).await;

    socket.subscribe("1", "{ me { id } }", json!({})).await;
    assert_eq!(socket.next_payload("1").await["data"]["me"]["id"], "alice");
    assert!(
        matches!(socket.receive().await, Received::Json(message) if message["type"] == "complete"),
        "the socket was closed during the drain"
    );
    assert!(server.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_during_the_drain_cuts_it_short() {
    let (app, mut server) = spawn_server(&[LONG_DRAIN]).await;
    start_draining(&app, &server).await;

    assert_stops_accepting_within(&mut server, "TERM", Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigint_it_stops_accepting_at_once_without_draining() {
    let (_app, mut server) = spawn_server(&[LONG_DRAIN]).await;

    assert_stops_accepting_within(&mut server, "INT", Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_drain_sigterm_stops_accepting_at_once() {
    let (_app, mut server) = spawn_server(&[("SHUTDOWN_DRAIN_SECONDS", "0")]).await;

    // Sooner than the default drain (3 s) would allow.
    assert_stops_accepting_within(&mut server, "TERM", Duration::from_secs(2)).await;
}
