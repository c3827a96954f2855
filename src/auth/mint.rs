//! Tokens for trying the API: `supportdesk token`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use super::TokenError;
use super::roles::RoleMapping;
use super::settings::AuthConfig;
use crate::domain::Viewer;

/// The longest a minted token may live: a year. A token for trying the API that never
/// expires would outlive every reason it was minted for.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 365 * 24 * 60 * 60;

/// Signs HS256 tokens that this server's configuration accepts.
pub struct TokenMinter {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    roles: RoleMapping,
}

impl TokenMinter {
    /// Only a server with a secret can mint: with public keys alone, the identity provider
    /// holds the private keys.
    pub fn new(config: &AuthConfig) -> Result<Self, TokenError> {
        let secret = config.secret.as_ref().ok_or(TokenError::CannotMint(
            "supportdesk signs HS256 tokens with JWT_SECRET, which is not set; with \
             JWT_PUBLIC_KEY or JWT_JWKS_URL, get tokens from your identity provider",
        ))?;
        if !config.algorithms.contains(&Algorithm::HS256) {
            return Err(TokenError::CannotMint(
                "HS256 is not among JWT_ALGORITHMS, so the server would refuse the token",
            ));
        }
        Ok(Self {
            key: EncodingKey::from_secret(secret.expose().as_bytes()),
            issuer: config.issuer.clone(),
            audience: config.audience.first().cloned(),
            roles: config.roles.clone(),
        })
    }

    /// Signs a token for `viewer` that expires `ttl_seconds` from now. The role goes under
    /// the configured claim name as a whole, which verification tries first.
    pub fn mint(&self, viewer: &Viewer, ttl_seconds: u64) -> Result<String, TokenError> {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from(viewer.id.as_str()));
        if let Some(role) = self.roles.claim_value(viewer.role) {
            claims.insert(self.roles.claim().to_owned(), Value::from(role));
        }
        claims.insert(
            "exp".into(),
            Value::from(unix_now().saturating_add(ttl_seconds)),
        );
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), Value::from(issuer.as_str()));
        }
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), Value::from(audience.as_str()));
        }
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

    use super::*;
    use crate::auth::PublicKey;
    use crate::auth::settings::PublicKeys;

    #[test]
    fn without_a_secret_minting_is_refused_with_the_reason() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        let mut config = AuthConfig::hs256("unused-secret-of-at-least-32-bytes");
        config.secret = None;
        config.public_keys = Some(PublicKeys::Pem(PublicKey::from_pem(&pem).expect("key")));
        config.algorithms = vec![Algorithm::EdDSA];

        let error = TokenMinter::new(&config).err().expect("refused");

        assert!(error.to_string().contains("JWT_SECRET"), "{error}");
    }
}
