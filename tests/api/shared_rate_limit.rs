//! The mutation rate limit a fleet shares through Redis (`RATE_LIMIT_REDIS_URL`): the
//! instances share each user's bucket whatever carries the mutations, and while Redis
//! cannot be reached each serves on with buckets of its own (fail open), says so once,
//! counts it, and shares again once Redis answers.
//!
//! Redis is the machine's (127.0.0.1:6379), never stopped: a test plays its outage with a
//! proxy it cuts or stalls, or a listener that never answers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use supportdesk::config::{Config, RateLimit, SharedRateLimit};
use tokio::net::TcpListener;

use crate::helpers::{
    BucketStore, REDIS_ADDRESS, Reply, TestApp, User, assert_rate_limited, shared_in,
    spawn_another_instance, spawn_app_with,
};
use crate::prometheus::{Scrape, scrape};
use crate::proxy::TcpProxy;
use crate::server_process::{ServerProcess, free_port, spawn_server};
use crate::socket::over_socket;

const CREATE: &str = "mutation { createTicket(input: { subject: \"s\", message: \"m\" }) { id } }";
const FAILURES: &str = "supportdesk_rate_limit_redis_failures_total";
const BACKEND: &str = "supportdesk_rate_limit_backend";
/// What the server logs when an outage starts, and when it ends.
const OUTAGE_STARTS: &str = "the rate limit's Redis cannot be reached";
const OUTAGE_ENDS: &str = "the rate limit's Redis answers again";
/// Far longer than the server takes to reconnect once Redis answers (2 s at most).
const RECONNECTED_WITHIN: Duration = Duration::from_secs(10);

/// Two instances over one database, sharing buckets of `burst` in one Redis.
async fn two_instances(burst: u32) -> (TestApp, TestApp) {
    let store = BucketStore::redis();
    let first = spawn_app_with(store.limit(burst, 0.01)).await;
    let second = spawn_another_instance(&first, store.limit(burst, 0.01)).await;
    (first, second)
}

async fn create(app: &TestApp, user: &User) -> Reply {
    app.graphql(user, CREATE, json!({})).await
}

#[tokio::test]
async fn a_users_bucket_spent_on_one_instance_is_spent_on_the_other() {
    let (first, second) = two_instances(2).await;
    let (alice, bob) = (first.customer("alice"), first.customer("bob"));
    create(&first, &alice).await.expect_ok();
    create(&first, &alice).await.expect_ok();

    let refused = create(&second, &alice).await;

    // The first token comes back 100 s after it was spent, on either instance.
    let retry_after = assert_rate_limited(&refused);
    assert!((90..=100).contains(&retry_after), "{retry_after}");
    create(&second, &bob).await.expect_ok();
    assert_eq!(first.ticket_total().await, 3);
}

/// A batch, aliases, a named operation among several, both socket protocols, two
/// instances: one user's mutations all draw on one bucket of 5.
#[tokio::test]
async fn a_users_mutations_over_every_transport_and_instance_stay_within_one_burst() {
    let (first, second) = two_instances(5).await;
    let alice = first.customer("alice");
    let create_one = json!({ "query": CREATE });

    let batch = first
        .post_batch(Some(&alice), &vec![create_one.clone(); 3])
        .await;
    let aliases = second
        .graphql(
            &alice,
            "mutation {
                a: createTicket(input: { subject: \"a\", message: \"m\" }) { id }
                b: createTicket(input: { subject: \"b\", message: \"m\" }) { id }
            }",
            json!({}),
        )
        .await;
    let named = first
        .post_raw(
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", alice.token)),
            ],
            json!({
                "query": "query Peek { me { id } }
                    mutation Open { createTicket(input: { subject: \"s\", message: \"m\" }) { id } }",
                "operationName": "Open",
            })
            .to_string(),
        )
        .await;
    let transport_ws = over_socket(&second, "graphql-transport-ws", &alice, CREATE).await;
    let legacy_ws = over_socket(&first, "graphql-ws", &alice, CREATE).await;
    let late_batch = second.post_batch(Some(&alice), &[create_one]).await;

    for answer in batch.body.as_array().expect("a batch answer") {
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    aliases.expect_ok();
    assert_rate_limited(&named);
    for answer in [&transport_ws, &legacy_ws, &late_batch.body[0]] {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "RATE_LIMITED",
            "{answer}"
        );
    }
    assert_eq!(first.ticket_total().await, 5);
}

#[tokio::test]
async fn mutations_sent_at_once_through_two_instances_take_exactly_one_burst() {
    let (first, second) = two_instances(6).await;
    let alice = first.customer("alice");

    let replies = join_all((0..20).map(|n| {
        let app = if n % 2 == 0 { &first } else { &second };
        create(app, &alice)
    }))
    .await;

    let accepted = replies.iter().filter(|reply| reply.status == 200).count();
    let refused = replies.iter().filter(|reply| reply.status == 429).count();
    assert_eq!((accepted, refused), (6, 14));
    assert_eq!(first.ticket_total().await, 6);
}

/// The real binary behind a proxy to Redis that the test cuts, with its metrics.
struct BinaryBehindProxy {
    app: TestApp,
    server: ServerProcess,
    proxy: TcpProxy,
    metrics: String,
    /// The same buckets, reached without the proxy: an instance Redis stays reachable from.
    direct: SharedRateLimit,
}

impl BinaryBehindProxy {
    async fn start(burst: u32) -> Self {
        let proxy = TcpProxy::start(REDIS_ADDRESS).await;
        let shared = shared_in(&proxy.url_for(&format!("redis://{REDIS_ADDRESS}")));
        let metrics_port = free_port();
        let burst_setting = burst.to_string();
        let (app, server) = spawn_server(&[
            ("RATE_LIMIT_REDIS_URL", &shared.url),
            ("RATE_LIMIT_REDIS_KEY_PREFIX", &shared.key_prefix),
            ("RATE_LIMIT_REDIS_TIMEOUT_MS", "1000"),
            ("MUTATION_RATE_LIMIT_BURST", &burst_setting),
            ("MUTATION_RATE_LIMIT_PER_SECOND", "0.01"),
            ("METRICS_ADDR", &format!("127.0.0.1:{metrics_port}")),
        ])
        .await;
        Self {
            app,
            server,
            proxy,
            metrics: format!("http://127.0.0.1:{metrics_port}"),
            direct: SharedRateLimit {
                url: format!("redis://{REDIS_ADDRESS}"),
                ..shared
            },
        }
    }

    /// An instance beside the binary, on the same database and buckets, that reaches
    /// Redis directly.
    async fn instance_beside(&self, burst: u32) -> TestApp {
        spawn_another_instance(&self.app, shared_buckets(self.direct.clone(), burst, 0.01)).await
    }

    async fn scrape(&self) -> Scrape {
        scrape(&self.metrics).await
    }

    fn logged(&self, text: &str) -> usize {
        self.server.log().matches(text).count()
    }
}

fn failures(scrape: &Scrape) -> f64 {
    scrape.value(FAILURES, &[]).unwrap_or(0.0)
}

fn decided_in(scrape: &Scrape, backend: &str) -> bool {
    scrape.value(BACKEND, &[("backend", backend)]) == Some(1.0)
}

#[tokio::test]
async fn with_redis_cut_off_mid_test_the_server_serves_on_its_own_buckets_counts_it_logs_it_once_and_shares_again_once_it_is_back()
 {
    let fleet = BinaryBehindProxy::start(2).await;
    let other = fleet.instance_beside(2).await;
    let binary = &fleet.app;
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|id| binary.customer(id));
    create(binary, &alice).await.expect_ok();
    create(binary, &alice).await.expect_ok();
    assert_rate_limited(&create(&other, &alice).await);
    let before = fleet.scrape().await;
    assert!(decided_in(&before, "redis"));
    assert_eq!(failures(&before), 0.0);

    fleet.proxy.cut();
    let during: Vec<Reply> = {
        let mut replies = Vec::new();
        for _ in 0..3 {
            replies.push(create(binary, &bob).await);
        }
        replies
    };
    // Redis never saw them: bob's bucket there is still full.
    create(&other, &bob).await.expect_ok();
    let cut = fleet.scrape().await;

    assert_eq!(during[0].status, 200, "{:#}", during[0].body);
    assert_eq!(during[1].status, 200, "{:#}", during[1].body);
    assert_rate_limited(&during[2]);
    assert!(failures(&cut) >= 1.0, "{cut:?}");
    assert!(decided_in(&cut, "memory"));
    assert_eq!(fleet.logged(OUTAGE_STARTS), 1, "{}", fleet.server.log());

    fleet.proxy.restore();
    let deadline = Instant::now() + RECONNECTED_WITHIN;
    while !decided_in(&fleet.scrape().await, "redis") {
        assert!(Instant::now() < deadline, "never back on Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    create(binary, &carol).await.expect_ok();
    create(binary, &carol).await.expect_ok();

    assert_rate_limited(&create(&other, &carol).await);
    assert_eq!(fleet.logged(OUTAGE_STARTS), 1, "{}", fleet.server.log());
    assert_eq!(fleet.logged(OUTAGE_ENDS), 1, "{}", fleet.server.log());
}

#[tokio::test]
async fn a_redis_unreachable_at_start_is_logged_once_and_the_server_serves_on_its_own_buckets() {
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let (app, server) = spawn_server(&[
        ("RATE_LIMIT_REDIS_URL", &nowhere),
        ("MUTATION_RATE_LIMIT_BURST", "1"),
        ("MUTATION_RATE_LIMIT_PER_SECOND", "0.01"),
    ])
    .await;
    let alice = app.customer("alice");

    create(&app, &alice).await.expect_ok();
    let refused = create(&app, &alice).await;
    // Long enough for several attempts to reconnect.
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_rate_limited(&refused);
    let log = server.log();
    assert_eq!(log.matches(OUTAGE_STARTS).count(), 1, "{log}");
}

#[tokio::test]
async fn a_redis_url_that_does_not_parse_exits_with_code_2_without_showing_it() {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_supportdesk"))
        .arg("serve")
        .env_clear()
        .env("NO_COLOR", "1")
        .env("DATABASE_URL", "postgres://u@127.0.0.1:1/db")
        .env("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes")
        .env("LISTEN_ADDR", format!("127.0.0.1:{}", free_port()))
        .env(
            "RATE_LIMIT_REDIS_URL",
            "redis://:hunter2secretpw@127.0.0.1:port",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    // A server that took the URL would serve until killed: a failure, not a hang.
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("refused at start rather than served")
        .expect("the child's output");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let status = output.status;
    assert_eq!(status.code(), Some(2), "{printed}");
    assert!(printed.contains("RATE_LIMIT_REDIS_URL"), "{printed}");
    assert!(!printed.contains("hunter2secretpw"), "{printed}");
}

/// A server whose Redis is `url`, waiting `timeout` for it, with buckets of `burst`.
async fn app_with_redis_at(url: String, timeout: Duration, burst: u32) -> TestApp {
    let shared = SharedRateLimit {
        timeout,
        ..shared_in(&url)
    };
    spawn_app_with(shared_buckets(shared, burst, 0.01)).await
}

fn shared_buckets(
    shared: SharedRateLimit,
    burst: u32,
    per_second: f64,
) -> impl FnOnce(&mut Config) {
    move |config| {
        config.http.mutation_rate_limit = RateLimit { burst, per_second };
        config.http.shared_rate_limit = Some(shared);
    }
}

/// Accepts connections, keeps them, and never answers.
async fn silent_listener() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    format!("redis://{address}")
}

async fn timed_create(app: &TestApp, user: &User) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = create(app, user).await;
    (reply, started.elapsed())
}

#[tokio::test]
async fn a_redis_that_never_answers_delays_each_mutation_by_at_most_its_timeout() {
    let timeout = Duration::from_millis(300);
    let app = app_with_redis_at(silent_listener().await, timeout, 2).await;
    let alice = app.customer("alice");

    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(timed_create(&app, &alice).await);
    }

    for (reply, elapsed) in &replies {
        assert!(*elapsed < timeout + Duration::from_secs(1), "{elapsed:?}");
        assert_ne!(reply.status, 503, "{:#}", reply.body);
    }
    assert_eq!(replies[0].0.status, 200);
    assert_eq!(replies[1].0.status, 200);
    assert_rate_limited(&replies[2].0);
}

#[tokio::test]
async fn a_redis_that_stops_answering_costs_one_mutation_its_timeout_and_the_next_nothing() {
    let timeout = Duration::from_millis(800);
    let proxy = TcpProxy::start(REDIS_ADDRESS).await;
    let url = proxy.url_for(&format!("redis://{REDIS_ADDRESS}"));
    let app = app_with_redis_at(url, timeout, 3).await;
    let alice = app.customer("alice");
    create(&app, &alice).await.expect_ok();

    proxy.stall();
    let (waited, waited_for) = timed_create(&app, &alice).await;
    let (next, next_took) = timed_create(&app, &alice).await;

    waited.expect_ok();
    next.expect_ok();
    assert!(
        waited_for >= timeout && waited_for < timeout + Duration::from_secs(2),
        "{waited_for:?}"
    );
    assert!(next_took < Duration::from_millis(600), "{next_took:?}");
}

/// The bucket lives in Redis under the configured prefix, and expires once it would be
/// full again.
#[tokio::test]
async fn a_bucket_is_kept_under_the_key_prefix_until_it_would_be_full_again() {
    let shared = shared_in(&format!("redis://{REDIS_ADDRESS}"));
    let app = spawn_app_with(shared_buckets(shared.clone(), 10, 0.5)).await;
    let alice = app.customer("alice");
    create(&app, &alice).await.expect_ok();
    create(&app, &alice).await.expect_ok();

    let expires_in: i64 = redis::cmd("PTTL")
        .arg(format!("{}alice", shared.key_prefix))
        .query_async(&mut crate::helpers::redis_connection().await)
        .await
        .expect("PTTL");
    // Two tokens at 0.5 per second: full again in 4 s.
    assert!((3_000..=4_000).contains(&expires_in), "{expires_in} ms");
}
