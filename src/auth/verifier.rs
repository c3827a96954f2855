//! Bearer tokens in, a [`Viewer`] out: signature, algorithm, time, issuer, audience, subject
//! and role, each checked.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwks::JwksCache;
use super::keys::PublicKey;
use super::roles::RoleMapping;
use super::settings::{AuthConfig, PublicKeys};
use crate::domain::Viewer;

/// The longest `sub` accepted: it is stored as the owner of tickets and messages.
const MAX_SUBJECT_CHARS: usize = 255;

type Claims = Map<String, Value>;

/// Why a token was refused, or could not be minted. A client only learns that its token
/// was invalid; the reason goes to the debug log.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    #[error("token names algorithm {0:?}, which is not accepted")]
    AlgorithmNotAccepted(Algorithm),
    #[error("no configured key can verify the token (kid {0:?})")]
    NoKey(Option<String>),
    #[error("token has a missing, empty or over-long `sub`")]
    BadSubject,
    #[error("token's role claim holds neither the admin nor the customer role")]
    UnknownRole,
    #[error("cannot mint a token: {0}")]
    CannotMint(&'static str),
}

/// Where a token's public key comes from at run time.
enum KeyStore {
    Pem(PublicKey),
    Jwks(JwksCache),
}

/// Verifies tokens as the configuration says.
pub struct Verifier {
    secret: Option<DecodingKey>,
    public_keys: Option<KeyStore>,
    /// One entry per accepted algorithm: the pin. A token naming any other is refused
    /// before a key is even chosen.
    validations: HashMap<Algorithm, Validation>,
    roles: RoleMapping,
}

impl Verifier {
    /// Builds the verifier, fetching the JWKS document when one is configured. Only an
    /// HTTP client that cannot be built is an error; see [`JwksCache::start`].
    pub async fn start(config: &AuthConfig) -> Result<Self, reqwest::Error> {
        let public_keys = match &config.public_keys {
            Some(PublicKeys::Pem(key)) => Some(KeyStore::Pem(key.clone())),
            Some(PublicKeys::Jwks(jwks)) => {
                Some(KeyStore::Jwks(JwksCache::start(jwks.clone()).await?))
            }
            None => None,
        };
        Ok(Self {
            secret: config
                .secret
                .as_ref()
                .map(|secret| DecodingKey::from_secret(secret.expose().as_bytes())),
            public_keys,
            validations: config
                .algorithms
                .iter()
                .map(|algorithm| (*algorithm, validation(config, *algorithm)))
                .collect(),
            roles: config.roles.clone(),
        })
    }

    /// Checks the token and says who it speaks for.
    ///
    /// HMAC tokens are checked with the secret only and the others with the public keys
    /// only, so a token "signed" with the public key as an HMAC secret never meets a key
    /// that accepts it.
    pub async fn verify(&self, token: &str) -> Result<Viewer, TokenError> {
        self.verify_with_expiry(token)
            .await
            .map(|(viewer, _)| viewer)
    }

    /// The viewer and when the token stops being accepted (its `exp` and the leeway, in
    /// seconds since the epoch, as HTTP refuses it), for a connection that must end when
    /// its token does.
    pub async fn verify_with_expiry(
        &self,
        token: &str,
    ) -> Result<(Viewer, Option<u64>), TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let algorithm = header.alg;
        let validation = self
            .validations
            .get(&algorithm)
            .ok_or(TokenError::AlgorithmNotAccepted(algorithm))?;
        let claims = if algorithm.family() == AlgorithmFamily::Hmac {
            let secret = self.secret.as_ref().ok_or(TokenError::NoKey(header.kid))?;
            jsonwebtoken::decode::<Claims>(token, secret, validation)?.claims
        } else {
            let fetched;
            let keys: &[PublicKey] = match &self.public_keys {
                Some(KeyStore::Pem(key)) => std::slice::from_ref(key),
                Some(KeyStore::Jwks(cache)) => {
                    fetched = cache.keys_for(header.kid.as_deref(), algorithm).await;
                    &fetched
                }
                None => &[],
            };
            match decode_with_any(token, keys, algorithm, validation) {
                Some(verified) => verified?,
                None => return Err(TokenError::NoKey(header.kid)),
            }
        };
        // Some identity providers write `exp` as a float.
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_f64)
            .map(|seconds| (seconds.max(0.0) as u64).saturating_add(validation.leeway));
        Ok((self.viewer(claims)?, expires_at))
    }

    fn viewer(&self, claims: Claims) -> Result<Viewer, TokenError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| (1..=MAX_SUBJECT_CHARS).contains(&sub.chars().count()))
            .ok_or(TokenError::BadSubject)?;
        let role = self.roles.role_of(&claims).ok_or(TokenError::UnknownRole)?;
        Ok(Viewer {
            id: sub.to_owned(),
            role,
        })
    }
}

/// The claims as verified by the first key whose signature matches, or the reason the
/// matching key refused them; none when no key can verify this algorithm.
fn decode_with_any(
    token: &str,
    keys: &[PublicKey],
    algorithm: Algorithm,
    validation: &Validation,
) -> Option<Result<Claims, TokenError>> {
    let mut outcome = None;
    for key in keys.iter().filter(|key| key.verifies(algorithm)) {
        match jsonwebtoken::decode::<Claims>(token, key.decoding_key(), validation) {
            Ok(data) => return Some(Ok(data.claims)),
            // Another key (a token without `kid`) may still match.
            Err(error) if matches!(error.kind(), ErrorKind::InvalidSignature) => {
                outcome = Some(Err(error.into()));
            }
            // The signature matched; the claims did not pass.
            Err(error) => return Some(Err(error.into())),
        }
    }
    outcome
}

fn validation(config: &AuthConfig, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    let mut required = vec!["exp", "sub"];
    validation.validate_nbf = true;
    validation.leeway = config.leeway_seconds;
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    if !config.audience.is_empty() {
        validation.set_audience(&config.audience);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

#[cfg(test)]
mod tests {
    use entity::prelude::Role;

    use super::*;
    use crate::auth::TokenMinter;

    fn viewer(role: Role) -> Viewer {
        Viewer {
            id: "user-1".into(),
            role,
        }
    }

    async fn verifier(config: &AuthConfig) -> Verifier {
        Verifier::start(config).await.expect("a verifier")
    }

    #[tokio::test]
    async fn a_minted_token_verifies_as_its_viewer() {
        let config = AuthConfig::hs256("unit-test-secret-of-at-least-32-bytes");
        let token = TokenMinter::new(&config)
            .expect("a minter")
            .mint(&viewer(Role::Admin), 60)
            .expect("mint");

        let verified = verifier(&config)
            .await
            .verify(&token)
            .await
            .expect("verify");

        assert_eq!(verified, viewer(Role::Admin));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_secret_is_rejected() {
        let other = AuthConfig::hs256("another-secret-of-at-least-32-bytes");
        let token = TokenMinter::new(&other)
            .expect("a minter")
            .mint(&viewer(Role::Customer), 60)
            .expect("mint");

        let config = AuthConfig::hs256("unit-test-secret-of-at-least-32-bytes");
        assert!(verifier(&config).await.verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn a_minted_token_carries_the_configured_issuer_audience_and_role_claim() {
        let mut config = AuthConfig::hs256("unit-test-secret-of-at-least-32-bytes");
        config.issuer = Some("https://idp.example".into());
        config.audience = vec!["supportdesk".into(), "other".into()];
        config.roles =
            RoleMapping::new("realm_access.roles", "support-admin", "*").expect("a mapping");
        let minter = TokenMinter::new(&config).expect("a minter");
        let verifier = verifier(&config).await;

        for role in [Role::Admin, Role::Customer] {
            let token = minter.mint(&viewer(role), 60).expect("mint");
            assert_eq!(verifier.verify(&token).await.expect("verify"), viewer(role));
        }
    }
}
