//! Settings from flags and the environment, checked into a [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::{AuthConfig, AuthConfigError, AuthSettings};
use crate::graphql::limits::QueryLimits;
use crate::graphql::rate_limit::RateLimit;
use crate::http::serve::ConnectionLimits;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://supportdesk.db?mode=rwc";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 10;
pub const DEFAULT_DATABASE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DATABASE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

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
    /// Seconds the server lets requests in flight finish after SIGTERM or SIGINT before
    /// it exits anyway.
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_SECONDS",
        default_value_t = DEFAULT_SHUTDOWN_GRACE.as_secs(),
        global = true
    )]
    pub shutdown_grace_seconds: u64,
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR, global = true)]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub http: HttpSettings,
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

/// How the HTTP endpoint defends itself; every default is in [`HttpOptions::DEFAULT`].
#[derive(Clone, Debug, clap::Args)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes; a larger one gets 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = HttpOptions::DEFAULT.max_body_bytes, global = true)]
    pub max_body_bytes: usize,
    /// Time budget of one GraphQL operation, in seconds.
    #[arg(long, env = "REQUEST_TIMEOUT_SECONDS", default_value_t = HttpOptions::DEFAULT.request_timeout.as_secs_f64(), global = true)]
    pub request_timeout_seconds: f64,
    /// Origins allowed to call the API from a browser, comma-separated; none by default.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', global = true)]
    pub cors_origins: Vec<String>,
    /// Whether the schema can be introspected; `false` also turns off field suggestions.
    #[arg(long, env = "GRAPHQL_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub graphql_introspection: bool,
    /// Deepest field nesting of a query.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = QueryLimits::DEFAULT.max_depth, global = true)]
    pub graphql_max_depth: u64,
    /// Most fields in a query, fragments expanded (its complexity).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = QueryLimits::DEFAULT.max_fields, global = true)]
    pub graphql_max_complexity: u64,
    /// Most aliased fields in a query.
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = QueryLimits::DEFAULT.max_aliases, global = true)]
    pub graphql_max_aliases: u64,
    /// Most fields at the root of an operation.
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = QueryLimits::DEFAULT.max_root_fields, global = true)]
    pub graphql_max_root_fields: u64,
    /// Most directives in a document.
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = QueryLimits::DEFAULT.max_directives, global = true)]
    pub graphql_max_directives: u64,
    /// Most an operation may load: every field counts one, lists multiply by their size.
    #[arg(long, env = "GRAPHQL_MAX_COST", default_value_t = QueryLimits::DEFAULT.max_cost, global = true)]
    pub graphql_max_cost: u64,
    /// Deepest bracket nesting of a document's text and of its variables.
    #[arg(long, env = "GRAPHQL_MAX_NESTING", default_value_t = QueryLimits::DEFAULT.max_nesting, global = true)]
    pub graphql_max_nesting: usize,
    /// Most operations in one batched (JSON array) request.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = QueryLimits::DEFAULT.max_batch, global = true)]
    pub graphql_max_batch: usize,
    /// Most connections open at once; past it a new one is closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = HttpOptions::DEFAULT.connection_limits.max_connections, global = true)]
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers, and that a keep-alive
    /// connection may sit idle.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECONDS", default_value_t = HttpOptions::DEFAULT.connection_limits.header_read_timeout.as_secs_f64(), global = true)]
    pub header_read_timeout_seconds: f64,
    /// Most GraphQL requests served at once; past it, 503 with `Retry-After`.
    #[arg(long, env = "MAX_REQUESTS_IN_FLIGHT", default_value_t = HttpOptions::DEFAULT.max_requests_in_flight, global = true)]
    pub max_requests_in_flight: usize,
    /// Mutations a user may send at once.
    #[arg(long, env = "MUTATION_RATE_LIMIT_BURST", default_value_t = RateLimit::DEFAULT.burst, global = true)]
    pub mutation_rate_limit_burst: u32,
    /// Mutations a user regains per second.
    #[arg(long, env = "MUTATION_RATE_LIMIT_PER_SECOND", default_value_t = RateLimit::DEFAULT.per_second, global = true)]
    pub mutation_rate_limit_per_second: f64,
}

/// The checked form of [`HttpSettings`].
#[derive(Clone, Debug, PartialEq)]
pub struct HttpOptions {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub cors_origins: Vec<String>,
    pub introspection: bool,
    pub query_limits: QueryLimits,
    pub mutation_rate_limit: RateLimit,
    pub connection_limits: ConnectionLimits,
    pub max_requests_in_flight: usize,
}

impl HttpOptions {
    pub const DEFAULT: Self = Self {
        max_body_bytes: 1024 * 1024,
        request_timeout: Duration::from_secs(10),
        cors_origins: Vec::new(),
        introspection: true,
        query_limits: QueryLimits::DEFAULT,
        mutation_rate_limit: RateLimit::DEFAULT,
        connection_limits: ConnectionLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
        },
        max_requests_in_flight: 256,
    };
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<HttpSettings> for HttpOptions {
    type Error = ConfigError;

    fn try_from(settings: HttpSettings) -> Result<Self, ConfigError> {
        let request_timeout = Duration::try_from_secs_f64(settings.request_timeout_seconds)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or(ConfigError::Invalid(
                "REQUEST_TIMEOUT_SECONDS must be a positive number",
            ))?;
        let header_read_timeout = Duration::try_from_secs_f64(settings.header_read_timeout_seconds)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or(ConfigError::Invalid(
                "HEADER_READ_TIMEOUT_SECONDS must be a positive number",
            ))?;
        if !(1..=1_000_000).contains(&settings.max_connections) {
            return Err(ConfigError::Invalid(
                "MAX_CONNECTIONS must be between 1 and 1000000",
            ));
        }
        if !(1..=1_000_000).contains(&settings.max_requests_in_flight) {
            return Err(ConfigError::Invalid(
                "MAX_REQUESTS_IN_FLIGHT must be between 1 and 1000000",
            ));
        }
        let per_second = settings.mutation_rate_limit_per_second;
        if per_second.is_nan() || per_second < 0.0 {
            return Err(ConfigError::Invalid(
                "MUTATION_RATE_LIMIT_PER_SECOND must be zero or more",
            ));
        }
        Ok(Self {
            max_body_bytes: settings.max_body_bytes,
            request_timeout,
            cors_origins: settings.cors_origins,
            introspection: settings.graphql_introspection,
            query_limits: QueryLimits {
                max_depth: settings.graphql_max_depth,
                max_fields: settings.graphql_max_complexity,
                max_aliases: settings.graphql_max_aliases,
                max_root_fields: settings.graphql_max_root_fields,
                max_directives: settings.graphql_max_directives,
                max_cost: settings.graphql_max_cost,
                max_nesting: settings.graphql_max_nesting,
                max_batch: settings.graphql_max_batch,
            },
            mutation_rate_limit: RateLimit {
                burst: settings.mutation_rate_limit_burst,
                per_second,
            },
            connection_limits: ConnectionLimits {
                max_connections: settings.max_connections,
                header_read_timeout,
            },
            max_requests_in_flight: settings.max_requests_in_flight,
        })
    }
}

/// A complete, checked configuration. Tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub listen_addr: SocketAddr,
    pub auth: AuthConfig,
    pub http: HttpOptions,
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
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    #[error("{0}")]
    Invalid(&'static str),
}

impl Config {
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            database: settings.database(),
            auth: AuthConfig::from_settings(settings.auth, settings.listen_addr)?,
            listen_addr: settings.listen_addr,
            http: settings.http.try_into()?,
            shutdown_grace: Duration::from_secs(settings.shutdown_grace_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use jsonwebtoken::Algorithm;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    use super::*;
    use crate::auth::{AuthConfigError, DEVELOPMENT_JWT_SECRET, PublicKeys};

    fn auth_settings() -> AuthSettings {
        AuthSettings {
            jwt_secret: None,
            jwt_public_key: None,
            jwt_jwks_url: None,
            jwt_jwks_min_refetch_seconds: 30,
            jwt_jwks_max_age_seconds: 3600,
            jwt_algorithms: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway_seconds: 60,
            jwt_role_claim: "role".into(),
            jwt_admin_role: "admin".into(),
            jwt_customer_role: "customer".into(),
        }
    }

    /// The HTTP settings as the flags' defaults give them.
    #[derive(Parser)]
    struct DefaultHttpSettings {
        #[command(flatten)]
        http: HttpSettings,
    }

    fn settings(listen_addr: &str, jwt_secret: Option<&str>) -> Settings {
        Settings {
            database_url: DEFAULT_DATABASE_URL.into(),
            database_max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
            database_acquire_timeout_seconds: DEFAULT_DATABASE_ACQUIRE_TIMEOUT.as_secs(),
            database_statement_timeout_seconds: DEFAULT_DATABASE_STATEMENT_TIMEOUT.as_secs(),
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE.as_secs(),
            listen_addr: listen_addr.parse().expect("socket address"),
            auth: AuthSettings {
                jwt_secret: jwt_secret.map(str::to_owned),
                ..auth_settings()
            },
            http: DefaultHttpSettings::parse_from(["supportdesk"]).http,
        }
    }

    #[test]
    fn the_http_flag_defaults_are_the_documented_defaults() {
        let config = Config::from_settings(settings("127.0.0.1:0", Some("s"))).expect("config");
        assert_eq!(config.http, HttpOptions::DEFAULT);
    }

    #[test]
    fn a_request_timeout_of_zero_is_refused() {
        let mut settings = settings("127.0.0.1:0", Some("s"));
        settings.http.request_timeout_seconds = 0.0;
        assert!(Config::from_settings(settings).is_err());
    }

    fn with_auth(listen_addr: &str, auth: AuthSettings) -> Result<Config, ConfigError> {
        Config::from_settings(Settings {
            auth,
            ..settings(listen_addr, None)
        })
    }

    fn ed25519_pem() -> String {
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }

    fn secret_of(config: &Config) -> Option<&str> {
        config.auth.secret.as_ref().map(|secret| secret.expose())
    }

    #[test]
    fn loopback_without_secret_uses_the_development_secret() {
        let config = Config::from_settings(settings("127.0.0.1:0", None)).expect("config");
        assert_eq!(secret_of(&config), Some(DEVELOPMENT_JWT_SECRET));
        assert_eq!(config.auth.algorithms, [Algorithm::HS256]);
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
        assert_eq!(secret_of(&config), Some("s3cret"));
    }

    #[test]
    fn a_public_key_alone_suffices_on_any_address_and_brings_no_secret() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            ..auth_settings()
        };
        let config = with_auth("0.0.0.0:8080", auth).expect("config");
        assert_eq!(secret_of(&config), None);
        assert_eq!(config.auth.algorithms, [Algorithm::EdDSA]);
    }

    #[test]
    fn a_pem_with_escaped_newlines_is_read() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem().replace('\n', "\\n")),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth)
                .expect("config")
                .auth
                .public_keys,
            Some(PublicKeys::Pem(_))
        ));
    }

    #[test]
    fn a_public_key_is_read_from_a_file_path() {
        let directory = tempfile::tempdir().expect("a directory");
        let path = directory.path().join("key.pem");
        std::fs::write(&path, ed25519_pem()).expect("written");
        let auth = AuthSettings {
            jwt_public_key: Some(path.display().to_string()),
            ..auth_settings()
        };
        assert!(with_auth("127.0.0.1:0", auth).is_ok());
    }

    #[test]
    fn a_missing_key_file_is_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some("/nonexistent/key.pem".into()),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth),
            Err(ConfigError::Auth(AuthConfigError::ReadPublicKey { .. }))
        ));
    }

    #[test]
    fn a_jwks_url_accepts_rs256_es256_and_eddsa_by_default() {
        let auth = AuthSettings {
            jwt_jwks_url: Some("https://idp.example/jwks.json".into()),
            ..auth_settings()
        };
        let config = with_auth("0.0.0.0:8080", auth).expect("config");
        assert_eq!(
            config.auth.algorithms,
            [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
        );
    }

    #[test]
    fn a_plain_http_jwks_url_is_refused_unless_loopback() {
        for (url, accepted) in [
            ("http://idp.example/jwks.json", false),
            ("http://127.0.0.1:9000/jwks.json", true),
            ("http://[::1]:9000/jwks.json", true),
            ("http://localhost/jwks.json", true),
            ("ftp://idp.example/jwks.json", false),
        ] {
            let auth = AuthSettings {
                jwt_jwks_url: Some(url.into()),
                ..auth_settings()
            };
            assert_eq!(with_auth("0.0.0.0:8080", auth).is_ok(), accepted, "{url}");
        }
    }

    #[test]
    fn a_public_key_and_a_jwks_url_together_are_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            jwt_jwks_url: Some("https://idp.example/jwks.json".into()),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth),
            Err(ConfigError::Auth(AuthConfigError::BothKeySources))
        ));
    }

    #[test]
    fn an_hmac_algorithm_without_a_secret_is_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            jwt_algorithms: Some("EdDSA,HS256".into()),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth),
            Err(ConfigError::Auth(AuthConfigError::NoSecretFor(
                Algorithm::HS256
            )))
        ));
    }

    #[test]
    fn an_asymmetric_algorithm_without_a_public_key_is_refused() {
        let auth = AuthSettings {
            jwt_secret: Some("s3cret".into()),
            jwt_algorithms: Some("HS256,RS256".into()),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth),
            Err(ConfigError::Auth(AuthConfigError::NoPublicKeyFor(
                Algorithm::RS256
            )))
        ));
    }

    #[test]
    fn algorithms_the_pem_key_cannot_verify_are_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            jwt_algorithms: Some("RS256".into()),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth),
            Err(ConfigError::Auth(AuthConfigError::PublicKeyUnused(_)))
        ));
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        let auth = AuthSettings {
            jwt_secret: Some("s3cret".into()),
            jwt_algorithms: Some("none".into()),
            ..auth_settings()
        };
        assert!(matches!(
            with_auth("127.0.0.1:0", auth),
            Err(ConfigError::Auth(AuthConfigError::UnknownAlgorithm(_)))
        ));
    }

    #[test]
    fn audiences_are_a_comma_separated_list() {
        let auth = AuthSettings {
            jwt_secret: Some("s3cret".into()),
            jwt_audience: Some("supportdesk, account,".into()),
            ..auth_settings()
        };
        let config = with_auth("127.0.0.1:0", auth).expect("config");
        assert_eq!(config.auth.audience, ["supportdesk", "account"]);
    }
}
