use std::time::{SystemTime, UNIX_EPOCH};

use entity::prelude::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Viewer;

/// The longest `sub` accepted: it is stored as the owner of tickets and messages.
const MAX_SUBJECT_CHARS: usize = 255;

/// Why a presented token was refused. The client only learns that it was invalid.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token rejected: {0}")]
    Rejected(#[from] jsonwebtoken::errors::Error),
    #[error("token has an empty or over-long `sub`")]
    BadSubject,
    #[error("token has an unknown `role`")]
    UnknownRole,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

/// The HS256 key pair that signs and verifies tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks signature, algorithm, `exp`, `nbf`, `sub` and `role`.
    pub fn verify(&self, token: &str) -> Result<Viewer, TokenError> {
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        let sub_chars = claims.sub.chars().count();
        if sub_chars == 0 || sub_chars > MAX_SUBJECT_CHARS {
            return Err(TokenError::BadSubject);
        }
        let role = match claims.role.as_str() {
            "customer" => Role::Customer,
            "admin" => Role::Admin,
            _ => return Err(TokenError::UnknownRole),
        };
        Ok(Viewer {
            id: claims.sub,
            role,
        })
    }

    /// Signs a token for `viewer` that expires `ttl_seconds` from now.
    pub fn mint(&self, viewer: &Viewer, ttl_seconds: u64) -> Result<String, TokenError> {
        let claims = Claims {
            sub: viewer.id.clone(),
            role: role_claim(viewer.role).to_owned(),
            exp: unix_now().saturating_add(ttl_seconds),
            nbf: None,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }
}

fn role_claim(role: Role) -> &'static str {
    match role {
        Role::Customer => "customer",
        Role::Admin => "admin",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::hs256(b"unit-test-secret")
    }

    #[test]
    fn a_minted_token_verifies_as_its_viewer() {
        let viewer = Viewer {
            id: "user-1".into(),
            role: Role::Admin,
        };
        let token = keys().mint(&viewer, 60).expect("mint");
        assert_eq!(keys().verify(&token).expect("verify"), viewer);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let viewer = Viewer {
            id: "user-1".into(),
            role: Role::Customer,
        };
        let token = JwtKeys::hs256(b"other").mint(&viewer, 60).expect("mint");
        assert!(keys().verify(&token).is_err());
    }
}
