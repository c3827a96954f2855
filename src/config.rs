//! Settings from flags and the environment, checked into a [`Config`].

use std::net::SocketAddr;

use crate::auth::{AuthConfig, AuthConfigError, AuthSettings};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://supportdesk.db?mode=rwc";
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8080";

/// The settings as given, each a flag and an environment variable.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Address and port the HTTP server listens on.
    #[arg(long, env = "LISTEN_ADDR", default_value = DEFAULT_LISTEN_ADDR, global = true)]
    pub listen_addr: SocketAddr,
    #[command(flatten)]
    pub auth: AuthSettings,
}

/// A complete, checked configuration. Tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub listen_addr: SocketAddr,
    pub auth: AuthConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
}

impl Config {
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: AuthConfig::from_settings(settings.auth, settings.listen_addr)?,
            database_url: settings.database_url,
            listen_addr: settings.listen_addr,
        })
    }
}

#[cfg(test)]
mod tests {
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

    fn settings(listen_addr: &str, jwt_secret: Option<&str>) -> Settings {
        Settings {
            database_url: DEFAULT_DATABASE_URL.into(),
            listen_addr: listen_addr.parse().expect("socket address"),
            auth: AuthSettings {
                jwt_secret: jwt_secret.map(str::to_owned),
                ..auth_settings()
            },
        }
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
