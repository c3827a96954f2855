//! The real `supportdesk` binary as a child process, configured through its environment
//! as in production, for what only a process shows: signals and its exit code.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, TestDatabase};

pub struct ServerProcess {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

/// Starts the binary over a fresh database with `settings` (environment variables) on
/// top of the required ones, and waits until it is ready.
pub async fn spawn_server(settings: &[(&str, &str)]) -> (TestApp, ServerProcess) {
    let database = TestDatabase::create().await;
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::now_v7());
    start(database, jwt_secret, settings).await
}

/// Starts the binary over `app`'s database, with its secret: the same server restarted,
/// or another instance beside it. The database stays `app`'s to drop.
pub async fn spawn_server_over(
    app: &TestApp,
    settings: &[(&str, &str)],
) -> (TestApp, ServerProcess) {
    let database = TestDatabase::borrowed(&app.database_url);
    start(database, app.jwt_secret.clone(), settings).await
}

async fn start(
    database: TestDatabase,
    jwt_secret: String,
    settings: &[(&str, &str)],
) -> (TestApp, ServerProcess) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_supportdesk"))
        .arg("serve")
        // Only what the test sets: no setting leaks in from the developer's shell.
        .env_clear()
        .env("DATABASE_URL", &database.url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", &jwt_secret)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let log = Arc::new(Mutex::new(String::new()));
    if let Some(stderr) = child.stderr.take() {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let mut server = ServerProcess { child, port, log };
    let database_url = database.url.clone();
    let app = TestApp::new(port, jwt_secret, database_url, database);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.becomes_ready_within(Duration::from_millis(200)).await {
        let exited = server.child.try_wait().expect("the child's status");
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "the server did not become ready ({exited:?}):\n{}",
            server.log()
        );
    }
    (app, server)
}

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running: a stack overflow aborts it.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (`TERM`, `INT`) the way an orchestrator does.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Whether connecting to the server's port is refused before `limit` has passed.
    pub async fn refuses_connections_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return true;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        false
    }

    /// The exit status, once the process has exited, if it does before `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts the process exits, with 0, before `limit` has passed.
    pub async fn assert_exits_0_within(&mut self, limit: Duration) {
        let status = self.exit_within(limit).await;
        assert_eq!(
            status.and_then(|status| status.code()),
            Some(0),
            "{}",
            self.log()
        );
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A failed test must not leave the server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
