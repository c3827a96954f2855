//! Settings from flags and the environment, checked into a [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://supportdesk.db?mode=rwc";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;
pub const DEFAULT_DATABASE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DATABASE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Used only when `JWT_SECRET` is unset and the server listens on a loopback address,
/// so that trying supportdesk on a laptop needs no set-up. Anyone can mint tokens with it.
const DEVELOPMENT_JWT_SECRET: &str = "supportdesk-development-secret-not-for-production";

/// The settings as given, each a flag and an environment variable.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Most connections the database pool holds open.
    #[arg(
        long,
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = DEFAULT_DATABASE_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..),
        global = true
    )]
    pub database_max_connections: u32,
    /// Seconds a request waits for a database connection before it fails.
    #[arg(
        long,
        env = "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        default_value_t = DEFAULT_DATABASE_ACQUIRE_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    pub database_acquire_timeout_seconds: u64,
    /// PostgreSQL only: seconds a statement may run before the database cancels it;
    /// 0 for no limit.
    #[arg(
        long,
        env = "DATABASE_STATEMENT_TIMEOUT_SECONDS",
        default_value_t = DEFAULT_DATABASE_STATEMENT_TIMEOUT.as_secs(),
        global = true
    )]
    pub database_statement_timeout_seconds: u64,
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR, global = true)]
    pub listen_addr: SocketAddr,
    /// Secret that signs and verifies HS256 tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// Seconds the server lets requests in flight finish after SIGTERM or SIGINT before
    /// it exits anyway.
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_SECONDS",
        default_value_t = DEFAULT_SHUTDOWN_GRACE.as_secs(),
        global = true
    )]
    pub shutdown_grace_seconds: u64,
}

impl Settings {
    /// The database settings alone: all that `supportdesk migrate` needs.
    pub fn database(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self.database_url.clone(),
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_seconds),
            statement_timeout: Duration::from_secs(self.database_statement_timeout_seconds),
        }
    }
}

/// A complete, checked configuration. Tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub listen_addr: SocketAddr,
    pub jwt_secret: String,
    /// How long requests in flight may run on after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// How to reach the database and how long to wait for it.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection (and so, while the database is
    /// unreachable, how long until it fails).
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout`; zero for none. SQLite has no equivalent.
    pub statement_timeout: Duration,
}

impl DatabaseConfig {
    /// `url` with the default limits.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_DATABASE_ACQUIRE_TIMEOUT,
            statement_timeout: DEFAULT_DATABASE_STATEMENT_TIMEOUT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "JWT_SECRET is not set. Without it supportdesk only listens on a loopback address \
         (with a development secret); set JWT_SECRET to listen on {0}"
    )]
    MissingJwtSecret(SocketAddr),
}

impl Config {
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let database = settings.database();
        let jwt_secret = match settings.jwt_secret.filter(|secret| !secret.is_empty()) {
            Some(secret) => secret,
            None if settings.listen_addr.ip().is_loopback() => {
                tracing::warn!(
                    "JWT_SECRET is not set: using the built-in DEVELOPMENT secret. Anyone can \
                     forge tokens for this server. Set JWT_SECRET before exposing it."
                );
                DEVELOPMENT_JWT_SECRET.to_owned()
            }
            None => return Err(ConfigError::MissingJwtSecret(settings.listen_addr)),
        };
        Ok(Self {
            database,
            listen_addr: settings.listen_addr,
            jwt_secret,
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listen_addr: &str, jwt_secret: Option<&str>) -> Settings {
        Settings {
            database_url: DEFAULT_DATABASE_URL.into(),
            database_max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
            database_acquire_timeout_seconds: DEFAULT_DATABASE_ACQUIRE_TIMEOUT.as_secs(),
            database_statement_timeout_seconds: DEFAULT_DATABASE_STATEMENT_TIMEOUT.as_secs(),
            listen_addr: listen_addr.parse().expect("socket address"),
            jwt_secret: jwt_secret.map(str::to_owned),
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE.as_secs(),
        }
    }

    #[test]
    fn loopback_without_secret_uses_the_development_secret() {
        let config = Config::from_settings(settings("127.0.0.1:0", None)).expect("config");
        assert_eq!(config.jwt_secret, DEVELOPMENT_JWT_SECRET);
    }

    #[test]
    fn public_address_without_secret_is_refused() {
        let error = Config::from_settings(settings("0.0.0.0:8080", None)).unwrap_err();
        assert!(error.to_string().contains("JWT_SECRET"));
    }

    #[test]
    fn an_empty_secret_counts_as_unset() {
        assert!(Config::from_settings(settings("0.0.0.0:8080", Some(""))).is_err());
    }

    #[test]
    fn a_given_secret_is_used_on_any_address() {
        let config =
            Config::from_settings(settings("0.0.0.0:8080", Some("s3cret"))).expect("config");
        assert_eq!(config.jwt_secret, "s3cret");
    }
}
