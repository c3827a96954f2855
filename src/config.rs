//! Settings from flags and the environment, checked into a [`Config`].

use std::net::SocketAddr;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://supportdesk.db?mode=rwc";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";

/// Used only when `JWT_SECRET` is unset and the server listens on a loopback address,
/// so that trying supportdesk on a laptop needs no set-up. Anyone can mint tokens with it.
const DEVELOPMENT_JWT_SECRET: &str = "supportdesk-development-secret-not-for-production";

/// The settings as given, each a flag and an environment variable.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR, global = true)]
    pub listen_addr: SocketAddr,
    /// Secret that signs and verifies HS256 tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
}

/// A complete, checked configuration. Tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    pub jwt_secret: String,
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
            database_url: settings.database_url,
            listen_addr: settings.listen_addr,
            jwt_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(listen_addr: &str, jwt_secret: Option<&str>) -> Settings {
        Settings {
            database_url: DEFAULT_DATABASE_URL.into(),
            listen_addr: listen_addr.parse().expect("socket address"),
            jwt_secret: jwt_secret.map(str::to_owned),
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
