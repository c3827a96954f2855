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
