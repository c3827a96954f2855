//! Shared test harness: a real server on port 0 over a fresh database, real signed JWTs.
//!
//! Each test gets its own SQLite file, or, when `TEST_DATABASE_URL` names a PostgreSQL
//! server, its own PostgreSQL database, dropped when the test ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use entity::prelude::Ticket;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, EntityTrait, QuerySelect,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::{Value, json};
use supportdesk::auth::AuthConfig;
use supportdesk::config::{Config, DEFAULT_SHUTDOWN_GRACE, DatabaseConfig, HttpOptions};
use supportdesk::db::SchemaState;
use supportdesk::http::AppState;
use supportdesk::startup::Application;

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, when the server has one.
    pub metrics_address: Option<String>,
    pub jwt_secret: String,
    pub database_url: String,
    client: reqwest::Client,
    _database: TestDatabase,
}

/// A signed-in user of the tests: their id and a valid token.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

/// What the server answered to a GraphQL request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The value of one root field; panics when the reply carries no `data`.
    pub fn data(&self, field: &str) -> &Value {
        &self.body["data"][field]
    }

    /// The errors, or an empty list.
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// `extensions.code` of the first error.
    pub fn error_code(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|error| error["extensions"]["code"].as_str().map(str::to_owned))
    }

    pub fn error_message(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|error| error["message"].as_str().map(str::to_owned))
    }

    pub fn error_field(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|error| error["extensions"]["field"].as_str().map(str::to_owned))
    }

    /// Panics with the reply unless its first error is `BAD_USER_INPUT` naming `field`.
    pub fn expect_bad_input(&self, field: &str) {
        assert_eq!(
            self.error_code().as_deref(),
            Some("BAD_USER_INPUT"),
            "{:#}",
            self.body
        );
        assert_eq!(self.error_field().as_deref(), Some(field));
    }

    /// Panics with the reply when it carries errors.
    pub fn expect_ok(self) -> Self {
        assert!(
            self.errors().is_empty(),
            "unexpected errors: {:#}",
            self.body
        );
        self
    }
}

/// A server over a fresh, migrated database, with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose database connection counts the SQL statements it runs, built from the
/// same router as the real one.
pub async fn spawn_app_counting_statements() -> (TestApp, Arc<AtomicUsize>) {
    let database = TestDatabase::create().await;
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::now_v7());
    let mut db =
        supportdesk::db::connect(&DatabaseConfig::new(database.url.clone())).expect("a pool");
    let schema = SchemaState::default();
    supportdesk::db::migrate_when_reachable(db.clone(), schema.clone()).await;
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&statements);
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let verifier = supportdesk::auth::Verifier::start(&AuthConfig::hs256(jwt_secret.clone()))
        .await
        .expect("a verifier");
    let state = AppState::new(db, schema, verifier, HttpOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("bound").port();
    tokio::spawn(async move { axum::serve(listener, supportdesk::http::router(state)).await });
    let database_url = database.url.clone();
    (
        TestApp::new(port, jwt_secret, database_url, database),
        statements,
    )
}

/// A server with its configuration adjusted by `configure`, once it is ready.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let app = spawn_app_without_waiting(configure).await;
    assert!(
        app.becomes_ready_within(READY_WITHIN).await,
        "the server is not ready after {READY_WITHIN:?}"
    );
    app
}

/// A server that may not be ready, for tests of a database that is not there yet.
pub async fn spawn_app_without_waiting(configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_over(TestDatabase::create().await, configure).await
}

/// A server over a database the test prepared first, which may not be ready.
pub async fn spawn_app_over(
    database: TestDatabase,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::now_v7());
    spawn_instance(database, jwt_secret, configure).await
}

/// Another instance of `app`'s server, over the same database and with the same secret:
/// what a load balancer would have beside it. The database stays `app`'s to drop.
pub async fn spawn_another_instance(app: &TestApp, configure: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase {
        url: app.database_url.clone(),
        cleanup: Cleanup::None,
    };
    let instance = spawn_instance(database, app.jwt_secret.clone(), configure).await;
    assert!(
        instance.becomes_ready_within(READY_WITHIN).await,
        "the other instance is not ready after {READY_WITHIN:?}"
    );
    instance
}

async fn spawn_instance(
    database: TestDatabase,
    jwt_secret: String,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = test_config(&database, &jwt_secret);
    configure(&mut config);
    let application = Application::build(config.clone())
        .await
        .expect("the server starts");
    let port = application.port();
    let metrics_port = application.metrics_port();
    tokio::spawn(application.run_until(std::future::pending()));
    let mut app = TestApp::new(port, jwt_secret, config.database.url, database);
    app.metrics_address = metrics_port.map(|port| format!("http://127.0.0.1:{port}"));
    app
}

/// The configuration of a test server over `database`: port 0, the defaults otherwise.
pub fn test_config(database: &TestDatabase, jwt_secret: &str) -> Config {
    Config {
        database: DatabaseConfig::new(database.url.clone()),
        listen_addr: "127.0.0.1:0".parse().expect("socket address"),
        metrics_addr: None,
        auth: AuthConfig::hs256(jwt_secret.to_owned()),
        http: HttpOptions::default(),
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
    }
}

/// How long a server over a reachable database may take to migrate it and be ready.
const READY_WITHIN: Duration = Duration::from_secs(10);

impl TestApp {
    /// A client of the server on `port`, which uses `database_url` and signs tokens with
    /// `jwt_secret`; `database` is dropped with it.
    pub fn new(
        port: u16,
        jwt_secret: String,
        database_url: String,
        database: TestDatabase,
    ) -> Self {
        Self {
            address: format!("http://127.0.0.1:{port}"),
            metrics_address: None,
            jwt_secret,
            database_url,
            client: reqwest::Client::new(),
            _database: database,
        }
    }

    /// Polls `/readyz` until it answers 200 or `limit` has passed.
    pub async fn becomes_ready_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.address))
                .send()
                .await
                .is_ok_and(|response| response.status() == StatusCode::OK);
            if ready {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn customer(&self, id: &str) -> User {
        self.user(id, "customer")
    }

    pub fn admin(&self, id: &str) -> User {
        self.user(id, "admin")
    }

    fn user(&self, id: &str, role: &str) -> User {
        User {
            id: id.to_owned(),
            token: self.sign(&json!({ "sub": id, "role": role, "exp": unix_now() + 3600 })),
        }
    }

    /// Signs any claims with the server's secret, for tokens the server must refuse.
    pub fn sign(&self, claims: &Value) -> String {
        sign_hs256(claims, &self.jwt_secret)
    }

    /// `{ me { id role } }` with `Authorization: Bearer <token>`.
    pub async fn me(&self, token: &str) -> Reply {
        self.post_graphql(
            Some(&format!("Bearer {token}")),
            "{ me { id role } }",
            json!({}),
        )
        .await
    }

    /// A GraphQL POST as `user`.
    pub async fn graphql(&self, user: &User, query: &str, variables: Value) -> Reply {
        self.post_graphql(Some(&format!("Bearer {}", user.token)), query, variables)
            .await
    }

    /// A GraphQL POST with the given `Authorization` header, or none.
    pub async fn post_graphql(
        &self,
        authorization: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Reply {
        self.try_post_graphql(authorization, query, variables)
            .await
            .expect("the server answers")
    }

    /// A GraphQL POST as `user` that may get no answer at all.
    pub async fn try_graphql(
        &self,
        user: &User,
        query: &str,
        variables: Value,
    ) -> reqwest::Result<Reply> {
        self.try_post_graphql(Some(&format!("Bearer {}", user.token)), query, variables)
            .await
    }

    async fn try_post_graphql(
        &self,
        authorization: Option<&str>,
        query: &str,
        variables: Value,
    ) -> reqwest::Result<Reply> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        Ok(reply(request.send().await?).await)
    }

    /// A POST to `/graphql` with the given headers and raw body.
    pub async fn post_raw(
        &self,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send().await.expect("the server answers")).await
    }

    /// A batch (a JSON array of `operations`) as `user`, or anonymous.
    pub async fn post_batch(&self, user: Option<&User>, operations: &[Value]) -> Reply {
        let authorization = user.map(|user| format!("Bearer {}", user.token));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization));
        }
        self.post_raw(&headers, Value::from(operations).to_string())
            .await
    }

    /// A GET to `/graphql` with the given query-string pairs and headers.
    pub async fn get_raw(&self, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .client
            .get(format!("{}/graphql", self.address))
            .query(query);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send().await.expect("the server answers")).await
    }

    /// Any request to the server, for what the typed helpers do not cover.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn get_graphql(&self, user: &User, query: &str) -> Reply {
        let request = self
            .client
            .get(format!("{}/graphql", self.address))
            .query(&[("query", query)])
            .bearer_auth(&user.token);
        reply(request.send().await.expect("the server answers")).await
    }

    /// Opens a ticket as `user` and returns it with `id`, `subject`, `status`,
    /// `createdAt`, `updatedAt`.
    pub async fn create_ticket(&self, user: &User, subject: &str) -> Value {
        let reply = self
            .graphql(
                user,
                "mutation($input: CreateTicketInput!) {
                    createTicket(input: $input) { id userId subject status createdAt updatedAt }
                }",
                json!({ "input": { "subject": subject, "message": "First message" } }),
            )
            .await
            .expect_ok();
        reply.data("createTicket").clone()
    }

    pub async fn set_status(&self, admin: &User, ticket_id: &str, status: &str) -> Reply {
        self.graphql(
            admin,
            "mutation($id: ID!, $status: TicketStatus!) {
                updateTicketStatus(id: $id, status: $status) { id status updatedAt }
            }",
            json!({ "id": ticket_id, "status": status }),
        )
        .await
    }

    pub async fn add_message(
        &self,
        user: &User,
        ticket_id: &str,
        body: &str,
        internal: bool,
    ) -> Reply {
        self.graphql(
            user,
            "mutation($ticketId: ID!, $body: String!, $internal: Boolean!) {
                addTicketMessage(ticketId: $ticketId, body: $body, internal: $internal) {
                    id ticketId authorId authorRole body internal createdAt
                }
            }",
            json!({ "ticketId": ticket_id, "body": body, "internal": internal }),
        )
        .await
    }

    /// How many tickets exist, as an admin's list counts them.
    pub async fn ticket_total(&self) -> Value {
        self.graphql(
            &self.admin("auditor"),
            "{ tickets { pagination { total } } }",
            json!({}),
        )
        .await
        .expect_ok()
        .data("tickets")["pagination"]["total"]
            .clone()
    }

    /// One ticket as `user` sees it, with its messages.
    pub async fn ticket(&self, user: &User, id: &str) -> Reply {
        self.graphql(
            user,
            "query($id: ID!) {
                ticket(id: $id) {
                    id userId subject status createdAt updatedAt
                    messages { id ticketId authorId authorRole body internal createdAt }
                }
            }",
            json!({ "id": id }),
        )
        .await
    }
}

/// A request refused before it ran, as past a query limit: `QUERY_TOO_COMPLEX`, no `data`.
pub fn assert_too_complex(reply: &Reply) {
    assert_eq!(
        reply.error_code().as_deref(),
        Some("QUERY_TOO_COMPLEX"),
        "{:#}",
        reply.body
    );
    assert!(reply.body.get("data").is_none(), "{:#}", reply.body);
}

/// Exactly the answer to a present but invalid token: HTTP 401, the `WWW-Authenticate`
/// challenge, `UNAUTHENTICATED` and no `data`.
pub fn assert_refused(reply: &Reply) {
    assert_eq!(reply.status, 401, "{:#}", reply.body);
    assert_eq!(
        reply.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(reply.error_code().as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(
        reply.error_message().as_deref(),
        Some("Invalid or expired token")
    );
    assert!(reply.body.get("data").is_none());
}

/// The lock a new message on a ticket waits for while the test holds it: SQLite's write
/// lock, or, on PostgreSQL, the lock on the ticket's row.
pub struct TicketLock {
    _db: DatabaseConnection,
    pub txn: DatabaseTransaction,
}

pub async fn lock_ticket(database_url: &str, ticket_id: &str) -> TicketLock {
    let db = Database::connect(database_url).await.expect("the database");
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .expect("a transaction");
    Ticket::find_by_id(ticket_id.parse::<uuid::Uuid>().expect("a UUID"))
        .lock_exclusive()
        .one(&txn)
        .await
        .expect("the ticket is locked")
        .expect("the ticket exists");
    TicketLock { _db: db, txn }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

pub fn sign_hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("claims encode")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The database of one test.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Another test app's database: that one drops it.
    None,
    /// Removed, with the SQLite file, when dropped.
    SqliteDirectory {
        _directory: tempfile::TempDir,
    },
    PostgresDatabase {
        server_url: String,
        name: String,
    },
}

/// The PostgreSQL server of a test that runs on PostgreSQL only (marked `#[ignore]`, and
/// run with `--include-ignored` when `TEST_DATABASE_URL` names PostgreSQL).
pub fn required_postgres_server_url() -> String {
    postgres_server_url().expect("this test needs TEST_DATABASE_URL=postgres://…")
}

/// The PostgreSQL server the suite runs on, if it runs on PostgreSQL.
pub fn postgres_server_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

impl TestDatabase {
    /// A fresh database on the backend the suite runs on.
    pub async fn create() -> Self {
        match postgres_server_url() {
            Some(server_url) => Self::postgres(server_url).await,
            None => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}/supportdesk.db?mode=rwc",
            directory.path().display()
        );
        Self {
            url,
            cleanup: Cleanup::SqliteDirectory {
                _directory: directory,
            },
        }
    }

    async fn postgres(server_url: String) -> Self {
        let name = format!("supportdesk_test_{}", uuid::Uuid::now_v7().simple());
        let server = Database::connect(&server_url)
            .await
            .expect("PostgreSQL answers");
        server
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("a test database is created");
        server.close().await.expect("the admin connection closes");
        Self {
            url: with_database(&server_url, &name),
            cleanup: Cleanup::PostgresDatabase { server_url, name },
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::PostgresDatabase { server_url, name } = &self.cleanup else {
            return;
        };
        let (server_url, name) = (server_url.clone(), name.clone());
        let database = name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: drop the
        // database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let server = Database::connect(&server_url).await?;
                server
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
                server.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {database}: {dropped:?}");
        }
    }
}

/// `postgres://user@host:port/db?opts` with `db` replaced by `name`.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, options) = server_url
        .split_once('?')
        .map_or((server_url, None), |(base, options)| (base, Some(options)));
    let authority_end = base.find("://").map_or(0, |scheme| scheme + 3);
    let root = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match options {
        Some(options) => format!("{root}/{name}?{options}"),
        None => format!("{root}/{name}"),
    }
}
