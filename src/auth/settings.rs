//! Authentication settings as given, checked into an [`AuthConfig`].

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use reqwest::Url;

use super::jwks::JwksConfig;
use super::keys::{KeyError, PublicKey};
use super::roles::{RoleMapping, RoleMappingError};
use super::secret_file::{self, SecretFileError};
use crate::db::{SqliteStorage, sqlite_storage};

/// An HS256 key shorter than the hash is refused (RFC 7518 §3.2): a short secret can be
/// brute-forced from any one token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated at most: beyond it `exp` would mean little.
const MAX_LEEWAY_SECONDS: u64 = 3600;

/// JWKS intervals, in seconds: at least a second, so the provider cannot be flooded, and
/// at most a day.
const JWKS_INTERVAL_SECONDS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// What a JWKS URL is assumed to offer when `JWT_ALGORITHMS` is unset.
const JWKS_DEFAULT_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// The authentication settings, each a flag and an environment variable.
#[derive(Clone, Debug, clap::Args)]
pub struct AuthSettings {
    /// Secret that signs and verifies HS256 tokens, at least 32 bytes. Unset, with no other
    /// key, an SQLite database file gets one generated beside it (`<file>.jwt-secret`).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Public key that verifies RS256, ES256 or EdDSA tokens: PEM text, or the path of a
    /// PEM file.
    #[arg(long, env = "JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,
    /// URL of the identity provider's JWKS document (https).
    #[arg(long, env = "JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// Least seconds between two fetches of the JWKS document.
    #[arg(long, env = "JWT_JWKS_MIN_REFETCH_SECONDS", default_value_t = 30)]
    pub jwt_jwks_min_refetch_seconds: u64,
    /// Seconds after which the cached JWKS is fetched again on the next token.
    #[arg(long, env = "JWT_JWKS_MAX_AGE_SECONDS", default_value_t = 3600)]
    pub jwt_jwks_max_age_seconds: u64,
    /// Comma-separated algorithms accepted (e.g. `RS256,ES256`); by default those of the
    /// configured keys.
    #[arg(long, env = "JWT_ALGORITHMS")]
    pub jwt_algorithms: Option<String>,
    /// Required `iss` claim.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Comma-separated audiences; the `aud` claim must name one of them.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "JWT_LEEWAY_SECONDS", default_value_t = 60)]
    pub jwt_leeway_seconds: u64,
    /// Claim carrying the role: a name or a dotted path (`realm_access.roles`).
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: String,
    /// Role claim value that makes an admin.
    #[arg(long, env = "JWT_ADMIN_ROLE", default_value = "admin")]
    pub jwt_admin_role: String,
    /// Role claim value that makes a customer; `*` makes every other verified user one.
    #[arg(long, env = "JWT_CUSTOMER_ROLE", default_value = "customer")]
    pub jwt_customer_role: String,
}

/// A secret that stays out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where the public keys come from.
#[derive(Clone, Debug)]
pub enum PublicKeys {
    /// One key, from `JWT_PUBLIC_KEY`.
    Pem(PublicKey),
    /// The identity provider's keys, from `JWT_JWKS_URL`.
    Jwks(JwksConfig),
}

/// Checked authentication settings. Tests build it directly.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Verifies (and mints) HMAC tokens.
    pub secret: Option<Secret>,
    pub public_keys: Option<PublicKeys>,
    /// The only algorithms a token may name. HMAC ones are verified with the secret only,
    /// the others with the public keys only.
    pub algorithms: Vec<Algorithm>,
    pub issuer: Option<String>,
    /// When not empty, `aud` is required and must name one of these. When empty, a token
    /// that carries `aud` is refused (RFC 7519: it is meant for someone else).
    pub audience: Vec<String>,
    pub leeway_seconds: u64,
    pub roles: RoleMapping,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error(
        "no JWT key is configured: set JWT_SECRET (at least {MIN_SECRET_BYTES} bytes), \
         JWT_PUBLIC_KEY or JWT_JWKS_URL. Only an SQLite database file gets a generated secret"
    )]
    MissingKey,
    #[error(
        "no JWT key is configured and the SQLite database is in memory, so a generated secret \
         could be kept nowhere: set JWT_SECRET (at least {MIN_SECRET_BYTES} bytes), \
         JWT_PUBLIC_KEY or JWT_JWKS_URL"
    )]
    MissingKeyInMemory,
    #[error("JWT_SECRET is not set, and the generated secret cannot be used: {0}")]
    SecretFile(#[from] SecretFileError),
    #[error("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 §3.2); it has {0}")]
    ShortSecret(usize),
    #[error("{setting} must be between {} and {}, not {value}", .range.start(), .range.end())]
    OutOfRange {
        setting: &'static str,
        value: u64,
        range: std::ops::RangeInclusive<u64>,
    },
    #[error("set JWT_PUBLIC_KEY or JWT_JWKS_URL, not both")]
    BothKeySources,
    #[error("JWT_PUBLIC_KEY: cannot read {path}: {source}")]
    ReadPublicKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JWT_PUBLIC_KEY: {0}")]
    InvalidPublicKey(#[from] KeyError),
    #[error("JWT_JWKS_URL: {0}")]
    InvalidJwksUrl(String),
    #[error("JWT_JWKS_URL must be https (plain http only on a loopback host): {0}")]
    InsecureJwksUrl(String),
    #[error("JWT_ALGORITHMS: unknown algorithm `{0}`")]
    UnknownAlgorithm(String),
    #[error("JWT_ALGORITHMS: {0:?} needs JWT_SECRET")]
    NoSecretFor(Algorithm),
    #[error("JWT_ALGORITHMS: {0:?} needs JWT_PUBLIC_KEY or JWT_JWKS_URL")]
    NoPublicKeyFor(Algorithm),
    #[error("JWT_ALGORITHMS: the JWT_PUBLIC_KEY ({0}) verifies none of the listed algorithms")]
    PublicKeyUnused(String),
    #[error(transparent)]
    Roles(#[from] RoleMappingError),
}

impl AuthConfig {
    /// HS256 with `secret` and today's defaults: claim `role`, 60 s of leeway, no issuer or
    /// audience.
    pub fn hs256(secret: impl Into<String>) -> Self {
        Self {
            secret: Some(Secret::new(secret)),
            public_keys: None,
            algorithms: vec![Algorithm::HS256],
            issuer: None,
            audience: Vec::new(),
            leeway_seconds: 60,
            roles: RoleMapping::default(),
        }
    }

    /// With no key configured at all, an SQLite database file gets a secret of its own,
    /// generated beside it (see `secret_file`); any other database needs a key.
    pub fn from_settings(
        settings: AuthSettings,
        database_url: &str,
    ) -> Result<Self, AuthConfigError> {
        let leeway_seconds = within(
            "JWT_LEEWAY_SECONDS",
            settings.jwt_leeway_seconds,
            0..=MAX_LEEWAY_SECONDS,
        )?;
        let min_refetch_interval = Duration::from_secs(within(
            "JWT_JWKS_MIN_REFETCH_SECONDS",
            settings.jwt_jwks_min_refetch_seconds,
            JWKS_INTERVAL_SECONDS,
        )?);
        let max_age = Duration::from_secs(within(
            "JWT_JWKS_MAX_AGE_SECONDS",
            settings.jwt_jwks_max_age_seconds,
            JWKS_INTERVAL_SECONDS,
        )?);
        let public_keys = match (
            non_empty(settings.jwt_public_key),
            non_empty(settings.jwt_jwks_url),
        ) {
            (Some(_), Some(_)) => return Err(AuthConfigError::BothKeySources),
            (Some(pem), None) => Some(PublicKeys::Pem(read_public_key(&pem)?)),
            (None, Some(url)) => Some(PublicKeys::Jwks(JwksConfig {
                url: jwks_url(&url)?,
                min_refetch_interval,
                max_age,
            })),
            (None, None) => None,
        };
        let secret = match (non_empty(settings.jwt_secret), &public_keys) {
            (Some(secret), _) => Some(given_secret(secret)?),
            (None, Some(_)) => None,
            (None, None) => Some(generated_secret(database_url)?),
        };
        let algorithms = match non_empty(settings.jwt_algorithms) {
            Some(list) => pinned_algorithms(&list, secret.is_some(), public_keys.as_ref())?,
            None => default_algorithms(secret.is_some(), public_keys.as_ref()),
        };
        let audience: Vec<String> = settings
            .jwt_audience
            .iter()
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|audience| !audience.is_empty())
            .map(str::to_owned)
            .collect();
        if public_keys.is_some() && audience.is_empty() {
            tracing::warn!(
                "JWT_AUDIENCE is not set: tokens that carry an `aud` claim (as identity \
                 providers' tokens usually do) are refused"
            );
        }
        Ok(Self {
            secret,
            public_keys,
            algorithms,
            issuer: non_empty(settings.jwt_issuer),
            audience,
            leeway_seconds,
            roles: RoleMapping::new(
                &settings.jwt_role_claim,
                &settings.jwt_admin_role,
                &settings.jwt_customer_role,
            )?,
        })
    }
}

fn within(
    setting: &'static str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, AuthConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(AuthConfigError::OutOfRange {
            setting,
            value,
            range,
        })
    }
}

fn given_secret(secret: String) -> Result<Secret, AuthConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(AuthConfigError::ShortSecret(secret.len()));
    }
    Ok(Secret::new(secret))
}

/// The secret kept beside the SQLite database file. An in-memory database is refused
/// rather than given a secret of the moment: it would change at every start, and
/// `supportdesk token`, another process, could not know it.
fn generated_secret(database_url: &str) -> Result<Secret, AuthConfigError> {
    match sqlite_storage(database_url) {
        Some(SqliteStorage::File(database)) => Ok(secret_file::load_or_create(
            &secret_file::path_beside(&database),
        )?),
        Some(SqliteStorage::Memory) => Err(AuthConfigError::MissingKeyInMemory),
        None => Err(AuthConfigError::MissingKey),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

/// PEM text (where a platform flattened the newlines into `\n`, they are restored), or
/// else the path of a PEM file.
fn read_public_key(value: &str) -> Result<PublicKey, AuthConfigError> {
    let pem = if value.contains("-----BEGIN") {
        value.replace("\\n", "\n")
    } else {
        let path = PathBuf::from(value.trim());
        std::fs::read_to_string(&path)
            .map_err(|source| AuthConfigError::ReadPublicKey { path, source })?
    };
    Ok(PublicKey::from_pem(&pem)?)
}

/// Keys fetched over plain http could be swapped by anyone on the path, so only https is
/// accepted, except on a loopback host (a local proxy, tests).
fn jwks_url(value: &str) -> Result<Url, AuthConfigError> {
    let url = Url::parse(value.trim())
        .map_err(|error| AuthConfigError::InvalidJwksUrl(error.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(url),
        _ => Err(AuthConfigError::InsecureJwksUrl(
            crate::db::redacted_url(url.as_str()).into_owned(),
        )),
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn default_algorithms(has_secret: bool, public_keys: Option<&PublicKeys>) -> Vec<Algorithm> {
    let mut algorithms = Vec::new();
    if has_secret {
        algorithms.push(Algorithm::HS256);
    }
    match public_keys {
        Some(PublicKeys::Pem(key)) => algorithms.push(key.key_type().default_algorithm()),
        Some(PublicKeys::Jwks(_)) => algorithms.extend(JWKS_DEFAULT_ALGORITHMS),
        None => {}
    }
    algorithms
}

/// The listed algorithms, each with a key that can verify it.
fn pinned_algorithms(
    list: &str,
    has_secret: bool,
    public_keys: Option<&PublicKeys>,
) -> Result<Vec<Algorithm>, AuthConfigError> {
    let mut algorithms = Vec::new();
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let algorithm = name
            .parse::<Algorithm>()
            .map_err(|_| AuthConfigError::UnknownAlgorithm(name.to_owned()))?;
        let hmac = algorithm.family() == AlgorithmFamily::Hmac;
        if hmac && !has_secret {
            return Err(AuthConfigError::NoSecretFor(algorithm));
        }
        if !hmac && public_keys.is_none() {
            return Err(AuthConfigError::NoPublicKeyFor(algorithm));
        }
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    if algorithms.is_empty() {
        return Err(AuthConfigError::UnknownAlgorithm(list.to_owned()));
    }
    if let Some(PublicKeys::Pem(key)) = public_keys
        && !algorithms.iter().any(|algorithm| key.verifies(*algorithm))
    {
        return Err(AuthConfigError::PublicKeyUnused(format!(
            "{:?}",
            key.key_type()
        )));
    }
    Ok(algorithms)
}

#[cfg(test)]
mod tests {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};

    use super::*;

    /// A secret of the least length accepted.
    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    /// A database for which no secret is ever generated.
    const POSTGRES_URL: &str = "postgres://supportdesk@127.0.0.1:5432/supportdesk";

    impl AuthSettings {
        /// The flags' defaults, no key set: what the tests start from.
        pub(crate) fn without_keys() -> Self {
            Self {
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
    }

    fn with_secret(secret: &str) -> AuthSettings {
        AuthSettings {
            jwt_secret: Some(secret.into()),
            ..AuthSettings::without_keys()
        }
    }

    /// Checked over PostgreSQL, for which no secret is ever generated.
    fn checked(auth: AuthSettings) -> Result<AuthConfig, AuthConfigError> {
        AuthConfig::from_settings(auth, POSTGRES_URL)
    }

    fn refusal(auth: AuthSettings) -> String {
        checked(auth).expect_err("refused").to_string()
    }

    /// Checked with no key set, over `database_url`.
    fn keyless(database_url: &str) -> Result<AuthConfig, AuthConfigError> {
        AuthConfig::from_settings(AuthSettings::without_keys(), database_url)
    }

    #[test]
    fn a_leeway_over_an_hour_is_refused() {
        let auth = AuthSettings {
            jwt_leeway_seconds: 3601,
            ..with_secret(SECRET)
        };
        assert!(refusal(auth).contains("JWT_LEEWAY_SECONDS"));
    }

    #[test]
    fn a_jwks_refetch_floor_of_zero_is_refused() {
        let auth = AuthSettings {
            jwt_jwks_min_refetch_seconds: 0,
            ..with_secret(SECRET)
        };
        assert!(refusal(auth).contains("JWT_JWKS_MIN_REFETCH_SECONDS"));
    }

    #[test]
    fn a_jwks_max_age_over_a_day_is_refused() {
        let auth = AuthSettings {
            jwt_jwks_max_age_seconds: 86_401,
            ..with_secret(SECRET)
        };
        assert!(refusal(auth).contains("JWT_JWKS_MAX_AGE_SECONDS"));
    }

    fn ed25519_pem() -> String {
        ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }

    fn secret_of(config: &AuthConfig) -> Option<&str> {
        config.secret.as_ref().map(|secret| secret.expose())
    }

    /// An SQLite database file in a directory of its own, and its URL.
    fn sqlite_file() -> (tempfile::TempDir, String) {
        let directory = tempfile::tempdir().expect("a directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            directory.path().join("app.db").display()
        );
        (directory, url)
    }

    #[test]
    fn sqlite_without_a_key_generates_a_secret_beside_the_database() {
        let (directory, url) = sqlite_file();

        let config = keyless(&url).expect("config");

        let kept = std::fs::read_to_string(directory.path().join("app.db.jwt-secret"))
            .expect("a secret file");
        assert_eq!(secret_of(&config), Some(kept.trim()));
        assert_eq!(config.algorithms, [Algorithm::HS256]);
    }

    #[test]
    fn sqlite_without_a_key_uses_the_same_secret_at_every_start() {
        let (_directory, url) = sqlite_file();
        let first = keyless(&url).expect("config");

        let second = keyless(&url).expect("config");

        assert_eq!(secret_of(&first), secret_of(&second));
    }

    #[test]
    fn a_generated_secret_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (directory, url) = sqlite_file();
        keyless(&url).expect("config");
        let path = directory.path().join("app.db.jwt-secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");

        let error = keyless(&url).expect_err("refused");

        assert!(matches!(
            error,
            AuthConfigError::SecretFile(SecretFileError::Exposed { .. })
        ));
    }

    #[test]
    fn in_memory_sqlite_without_a_key_is_refused() {
        let error = keyless("sqlite::memory:").expect_err("refused").to_string();
        assert!(error.contains("JWT_SECRET"), "{error}");
    }

    #[test]
    fn postgres_without_a_key_is_refused_naming_every_key_setting() {
        let error = refusal(AuthSettings::without_keys());
        for setting in ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS_URL"] {
            assert!(error.contains(setting), "{error}");
        }
    }

    #[test]
    fn an_empty_secret_counts_as_unset() {
        assert!(matches!(
            checked(with_secret(" ")),
            Err(AuthConfigError::MissingKey)
        ));
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        let error = refusal(with_secret("s3cret"));
        assert!(error.contains("JWT_SECRET"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn a_given_secret_is_used() {
        let config = checked(with_secret(SECRET)).expect("config");
        assert_eq!(secret_of(&config), Some(SECRET));
    }

    #[test]
    fn a_public_key_alone_suffices_on_any_address_and_brings_no_secret() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            ..AuthSettings::without_keys()
        };
        let config = checked(auth).expect("config");
        assert_eq!(secret_of(&config), None);
        assert_eq!(config.algorithms, [Algorithm::EdDSA]);
    }

    #[test]
    fn a_pem_with_escaped_newlines_is_read() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem().replace('\n', "\\n")),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth).expect("config").public_keys,
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
            ..AuthSettings::without_keys()
        };
        assert!(checked(auth).is_ok());
    }

    #[test]
    fn a_missing_key_file_is_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some("/nonexistent/key.pem".into()),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth),
            Err(AuthConfigError::ReadPublicKey { .. })
        ));
    }

    #[test]
    fn a_jwks_url_accepts_rs256_es256_and_eddsa_by_default() {
        let auth = AuthSettings {
            jwt_jwks_url: Some("https://idp.example/jwks.json".into()),
            ..AuthSettings::without_keys()
        };
        let config = checked(auth).expect("config");
        assert_eq!(
            config.algorithms,
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
                ..AuthSettings::without_keys()
            };
            assert_eq!(checked(auth).is_ok(), accepted, "{url}");
        }
    }

    #[test]
    fn a_public_key_and_a_jwks_url_together_are_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            jwt_jwks_url: Some("https://idp.example/jwks.json".into()),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth),
            Err(AuthConfigError::BothKeySources)
        ));
    }

    #[test]
    fn an_hmac_algorithm_without_a_secret_is_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            jwt_algorithms: Some("EdDSA,HS256".into()),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth),
            Err(AuthConfigError::NoSecretFor(Algorithm::HS256))
        ));
    }

    #[test]
    fn an_asymmetric_algorithm_without_a_public_key_is_refused() {
        let auth = AuthSettings {
            jwt_secret: Some(SECRET.into()),
            jwt_algorithms: Some("HS256,RS256".into()),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth),
            Err(AuthConfigError::NoPublicKeyFor(Algorithm::RS256))
        ));
    }

    #[test]
    fn algorithms_the_pem_key_cannot_verify_are_refused() {
        let auth = AuthSettings {
            jwt_public_key: Some(ed25519_pem()),
            jwt_algorithms: Some("RS256".into()),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth),
            Err(AuthConfigError::PublicKeyUnused(_))
        ));
    }

    #[test]
    fn an_unknown_algorithm_is_refused() {
        let auth = AuthSettings {
            jwt_secret: Some(SECRET.into()),
            jwt_algorithms: Some("none".into()),
            ..AuthSettings::without_keys()
        };
        assert!(matches!(
            checked(auth),
            Err(AuthConfigError::UnknownAlgorithm(_))
        ));
    }

    #[test]
    fn audiences_are_a_comma_separated_list() {
        let auth = AuthSettings {
            jwt_secret: Some(SECRET.into()),
            jwt_audience: Some("supportdesk, account,".into()),
            ..AuthSettings::without_keys()
        };
        let config = checked(auth).expect("config");
        assert_eq!(config.audience, ["supportdesk", "account"]);
    }
}
