//! Who the tests sign in as: users of the test server, and tokens signed with its secret.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::TestApp;

/// A signed-in user of the tests: their id and a valid token.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

impl TestApp {
    pub fn customer(&self, id: &str) -> User {
        self.user(id, "customer")
    }

    pub fn admin(&self, id: &str) -> User {
        self.user(id, "admin")
    }

    fn user(&self, id: &str, role: &str) -> User {
        User {
            id: id.to_owned(),
            token: self.sign(&json!({ "sub": id, "role": role, "exp": unix_now() + 3600 })),
        }
    }

    /// Signs any claims with the server's secret, for tokens the server must refuse.
    pub fn sign(&self, claims: &Value) -> String {
        sign_hs256(claims, &self.jwt_secret)
    }
}

pub fn sign_hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("claims encode")
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
