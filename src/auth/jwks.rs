//! The identity provider's signing keys, fetched from its JWKS URL and cached.
//!
//! The document is fetched at start, then again when a token names a `kid` the cache does
//! not hold (the provider rotated its keys) or when the cached copy is older than its
//! maximum age (a key was withdrawn). Fetches are never closer together than a floor, so
//! tokens with made-up `kid`s cannot turn the server into a flood against the provider;
//! concurrent requests share one fetch.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use reqwest::Url;
use reqwest::header::ACCEPT;

use super::keys::PublicKey;

/// A JWKS document larger than this is refused: real ones hold a handful of keys.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the keys come from and how fresh they are kept.
#[derive(Clone, Debug)]
pub struct JwksConfig {
    /// `https`, or `http` on a loopback host only (see `settings`).
    pub url: Url,
    /// The least time between two fetches (`JWT_JWKS_MIN_REFETCH_SECONDS`).
    pub min_refetch_interval: Duration,
    /// Cached keys older than this are fetched again on the next token
    /// (`JWT_JWKS_MAX_AGE_SECONDS`).
    pub max_age: Duration,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {}", with_causes(.0))]
    Http(#[from] reqwest::Error),
    #[error("answered HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("document over {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("not a JWKS document: {0}")]
    NotJwks(String),
    #[error("no usable signing key in the document")]
    NoUsableKey,
}

/// The keys of one successful fetch.
struct KeySet {
    keys: Vec<PublicKey>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    /// Whether the set can answer for a token with this `kid` (or, without one, this
    /// algorithm) without a refetch.
    fn covers(&self, kid: Option<&str>, algorithm: Algorithm) -> bool {
        self.keys.iter().any(|key| match kid {
            Some(kid) => key.kid() == Some(kid),
            None => key.verifies(algorithm),
        })
    }

    fn matching(&self, kid: Option<&str>, algorithm: Algorithm) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|key| kid.is_none_or(|kid| key.kid() == Some(kid)) && key.verifies(algorithm))
            .cloned()
            .collect()
    }

    fn is_older_than(&self, max_age: Duration) -> bool {
        self.fetched_at.is_none_or(|at| at.elapsed() >= max_age)
    }
}

pub struct JwksCache {
    config: JwksConfig,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When the last fetch started, successful or not. Held across a fetch, so concurrent
    /// requests wait for it instead of fetching again.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    /// Builds the cache and fetches the document once. A failed fetch is logged and the
    /// server starts anyway (with no keys, every token is refused until a later fetch
    /// succeeds), as it does when the database is down. Only an HTTP client that cannot be
    /// built (no TLS backend) is an error.
    pub async fn start(config: JwksConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            // An https URL must not be redirected to plain http, where keys can be forged.
            .https_only(config.url.scheme() == "https")
            // Nor anywhere else: the keys come from the configured URL or from nowhere, so
            // an open redirect on the provider's host cannot hand over someone's keys. A
            // redirect is a failed fetch.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("supportdesk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let cache = Self {
            config,
            client,
            keys: RwLock::new(Arc::new(KeySet {
                keys: Vec::new(),
                fetched_at: None,
            })),
            last_fetch: tokio::sync::Mutex::new(None),
        };
        let mut last_fetch = cache.last_fetch.lock().await;
        cache.refresh(&mut last_fetch).await;
        drop(last_fetch);
        Ok(cache)
    }

    /// The keys that may verify a token with this `kid` and algorithm, refetching first
    /// when the cache cannot answer (or is past its maximum age) and the floor allows.
    pub async fn keys_for(&self, kid: Option<&str>, algorithm: Algorithm) -> Vec<PublicKey> {
        let keys = self.current();
        let covered = keys.covers(kid, algorithm);
        if covered && !keys.is_older_than(self.config.max_age) {
            return keys.matching(kid, algorithm);
        }
        let mut last_fetch = if covered {
            // Old but usable keys: refresh unless another request already is, and never
            // make this one wait for a slow provider.
            match self.last_fetch.try_lock() {
                Ok(guard) => guard,
                Err(_) => return keys.matching(kid, algorithm),
            }
        } else {
            self.last_fetch.lock().await
        };
        // Another request may have fetched while this one waited for the lock.
        let keys = self.current();
        let needed = !keys.covers(kid, algorithm) || keys.is_older_than(self.config.max_age);
        let allowed = last_fetch.is_none_or(|at| at.elapsed() >= self.config.min_refetch_interval);
        if !(needed && allowed) {
            return keys.matching(kid, algorithm);
        }
        self.refresh(&mut last_fetch).await;
        self.current().matching(kid, algorithm)
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Fetches the document; on failure keeps the keys it has, so a provider outage does
    /// not lock every user out.
    async fn refresh(&self, last_fetch: &mut Option<Instant>) {
        *last_fetch = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %self.logged_url(), keys = keys.len(), "fetched the JWKS");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(KeySet {
                    keys,
                    fetched_at: Some(Instant::now()),
                });
            }
            Err(error) => {
                tracing::error!(
                    url = %self.logged_url(),
                    %error,
                    "cannot fetch the JWKS; keeping the keys fetched before, if any"
                );
            }
        }
    }

    /// The URL without the password it may carry for the provider.
    fn logged_url(&self) -> std::borrow::Cow<'_, str> {
        crate::db::redacted_url(self.config.url.as_str())
    }

    async fn fetch(&self) -> Result<Vec<PublicKey>, FetchError> {
        let mut response = self
            .client
            .get(self.config.url.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_document(&body)
    }
}

/// The error and its causes: reqwest's own text ("error sending request") does not say
/// whether DNS, TCP or TLS failed.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The usable keys of a JWKS document. Keys this server cannot use (encryption keys,
/// unknown types) are skipped, so one exotic entry does not hide the others.
fn parse_document(body: &[u8]) -> Result<Vec<PublicKey>, FetchError> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|error| FetchError::NotJwks(error.to_string()))?;
    let keys: Vec<PublicKey> = document
        .keys
        .iter()
        .filter_map(|jwk| match PublicKey::from_jwk(jwk) {
            Ok(key) => Some(key),
            Err(reason) => {
                let kid = jwk.get("kid").and_then(serde_json::Value::as_str);
                tracing::warn!(?kid, %reason, "skipping a JWKS key");
                None
            }
        })
        .collect();
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let body = serde_json::json!({ "keys": [
            { "kty": "oct", "k": "c2VjcmV0" },
            { "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "ed" },
        ]});
        let keys = parse_document(body.to_string().as_bytes()).expect("keys");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), Some("ed"));
    }

    #[test]
    fn a_document_without_a_usable_key_is_an_error() {
        let body = br#"{ "keys": [ { "kty": "oct", "k": "c2VjcmV0" } ] }"#;
        assert!(matches!(parse_document(body), Err(FetchError::NoUsableKey)));
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(matches!(
            parse_document(br#"{ "issuer": "x" }"#),
            Err(FetchError::NotJwks(_))
        ));
    }
}
