//! A real server on port 0 over a fresh database, and a client with typed requests to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use supportdesk::auth::AuthConfig;
use supportdesk::config::{
    Config, DEFAULT_SHUTDOWN_DRAIN, DEFAULT_SHUTDOWN_GRACE, DatabaseConfig, HttpOptions,
    WebhookOptions,
};
use supportdesk::db::SchemaState;
use supportdesk::http::AppState;
use supportdesk::startup::Application;
use supportdesk::webhooks::Webhooks;

use super::replies::reply;
use super::{Reply, TestDatabase, User};

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, when the server has one.
    pub metrics_address: Option<String>,
    pub jwt_secret: String,
    pub database_url: String,
    client: reqwest::Client,
    _database: TestDatabase,
}

/// A server over a fresh, migrated database, with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The SQL statements a server ran, in order: their text, with placeholders for values.
#[derive(Default)]
pub struct StatementLog(Mutex<Vec<String>>);

impl StatementLog {
    pub fn clear(&self) {
        self.locked().clear();
    }

    pub fn count(&self) -> usize {
        self.locked().len()
    }

    pub fn texts(&self) -> Vec<String> {
        self.locked().clone()
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().expect("the statement log")
    }
}

/// A server whose database connection logs the SQL statements it runs, built from the
/// same router as the real one.
pub async fn spawn_app_logging_statements() -> (TestApp, Arc<StatementLog>) {
    let database = TestDatabase::create().await;
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::now_v7());
    let mut db =
        supportdesk::db::connect(&DatabaseConfig::new(database.url.clone())).expect("a pool");
    let schema = SchemaState::default();
    supportdesk::db::migrate_when_reachable(db.clone(), schema.clone()).await;
    let statements = Arc::new(StatementLog::default());
    let log = Arc::clone(&statements);
    db.set_metric_callback(move |info| {
        log.locked().push(info.statement.sql.clone());
    });
    let verifier = supportdesk::auth::Verifier::start(&AuthConfig::hs256(jwt_secret.clone()))
        .await
        .expect("a verifier");
    let state = AppState::new(
        db,
        schema,
        verifier,
        HttpOptions::default(),
        Webhooks::new(WebhookOptions::default()),
    );
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

/// A server whose mutation rate limit leaves room for building many fixtures.
pub async fn spawn_roomy_app() -> TestApp {
    spawn_app_with(|config| {
        config.http.mutation_rate_limit.burst = 10_000;
        config.http.mutation_rate_limit.per_second = 1_000.0;
    })
    .await
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
    let database = TestDatabase::borrowed(&app.database_url);
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
        webhooks: WebhookOptions::default(),
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        shutdown_drain: DEFAULT_SHUTDOWN_DRAIN,
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

    /// Asks to open a ticket as `user`, with the first message "First message": the reply
    /// as it comes, refusals and failures included.
    pub async fn open_ticket_reply(&self, user: &User, subject: &str) -> Reply {
        self.graphql(
            user,
            "mutation($input: CreateTicketInput!) {
                createTicket(input: $input) { id userId subject status createdAt updatedAt }
            }",
            json!({ "input": { "subject": subject, "message": "First message" } }),
        )
        .await
    }

    /// Opens a ticket as `user` and returns it with `id`, `userId`, `subject`, `status`,
    /// `createdAt`, `updatedAt`.
    pub async fn create_ticket(&self, user: &User, subject: &str) -> Value {
        let reply = self.open_ticket_reply(user, subject).await.expect_ok();
        reply.data("createTicket").clone()
    }

    /// Opens a ticket as `user` and returns its id.
    pub async fn open_ticket(&self, user: &User, subject: &str) -> String {
        self.create_ticket(user, subject).await["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }

    /// Opens a ticket as `user` holding `messages` public messages of theirs, the first
    /// included, and returns its id.
    pub async fn open_ticket_with_messages(&self, user: &User, messages: usize) -> String {
        let id = self.open_ticket(user, "Long story").await;
        for _ in 1..messages {
            self.add_message(user, &id, "And another thing", false)
                .await
                .expect_ok();
        }
        id
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
