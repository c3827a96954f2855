//! Webhook signing secrets: made here in the Standard Webhooks format (`whsec_` + base64 of
//! 32 random bytes), shown to the admin once, and stored encrypted (ChaCha20-Poly1305, a
//! random nonce per secret) so that a read of the database alone does not reveal them,
//! as long as the key is not in that database too: it is `WEBHOOK_SECRET_KEY` when set,
//! otherwise a key made once and kept in `server_keys` for the whole fleet. The answers
//! kept for `Idempotency-Key` (which may hold a secret) are sealed by the same vault.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sea_orm::ConnectionTrait;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::error::AppError;
use crate::store;

/// What every secret starts with, as the specification writes it.
const PREFIX: &str = "whsec_";
/// The secret's bytes, and the encryption key's.
const KEY_BYTES: usize = 32;
/// The name of the key kept in `server_keys` when `WEBHOOK_SECRET_KEY` is not set.
const STORED_KEY_NAME: &str = "webhook-secrets";

/// A webhook's signing secret: 32 random bytes, the HMAC-SHA256 key of its signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret([u8; KEY_BYTES]);

impl WebhookSecret {
    /// A new secret from the system's randomness.
    pub fn generate() -> Result<Self, AppError> {
        random().map(Self)
    }

    /// The HMAC-SHA256 key its signatures are made with.
    pub fn key(&self) -> &[u8] {
        &self.0
    }

    /// As the admin is shown it once, and verifier libraries take it: `whsec_` + base64.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0))
    }
}

/// Never printed: a log line must not hold a secret.
impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The key webhook secrets and kept answers are encrypted with, as `WEBHOOK_SECRET_KEY`
/// gives it.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_BYTES]);

impl SecretKey {
    /// The base64 of 32 bytes (`openssl rand -base64 32`).
    pub fn parse(text: &str) -> Result<Self, String> {
        STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
            .map(Self)
            .ok_or_else(|| {
                "must be the base64 of 32 bytes, as `openssl rand -base64 32` writes".to_owned()
            })
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Encrypts what must not be read from the database alone (webhook secrets, the answers
/// kept for `Idempotency-Key`) and decrypts it back. Without a configured key it reads (or
/// makes) the fleet's key in `server_keys` at its first use, once.
pub struct SecretVault {
    configured: Option<SecretKey>,
    key: OnceCell<LessSafeKey>,
}

impl SecretVault {
    /// Warns when no key is configured: the key then sits beside what it protects.
    pub fn new(configured: Option<SecretKey>) -> Self {
        if configured.is_none() {
            tracing::warn!(
                "WEBHOOK_SECRET_KEY is not set: webhook secrets and the answers kept for \
                 Idempotency-Key are encrypted with a key kept in the database, so a read of \
                 the database reveals them"
            );
        }
        Self {
            configured,
            key: OnceCell::new(),
        }
    }

    /// `secret` encrypted for the row of webhook `webhook_id` (and only that row: the id
    /// is authenticated with it).
    pub async fn seal(
        &self,
        db: &impl ConnectionTrait,
        webhook_id: Uuid,
        secret: &WebhookSecret,
    ) -> Result<Vec<u8>, AppError> {
        self.seal_bytes(db, webhook_id.as_bytes(), secret.key())
            .await
    }

    /// The secret [`Self::seal`] made `sealed` from for webhook `webhook_id`. Fails when
    /// the key is not the one it was sealed with (`WEBHOOK_SECRET_KEY` set or changed
    /// since): the webhook's secret must then be rotated.
    pub async fn open(
        &self,
        db: &impl ConnectionTrait,
        webhook_id: Uuid,
        sealed: &[u8],
    ) -> Result<WebhookSecret, AppError> {
        self.open_bytes(db, webhook_id.as_bytes(), sealed)
            .await?
            .and_then(|plain| <[u8; KEY_BYTES]>::try_from(plain).ok())
            .map(WebhookSecret)
            .ok_or(AppError::Internal(
                "a webhook secret could not be decrypted",
            ))
    }

    /// `plaintext` encrypted, with `associated_data` authenticated beside it (what it
    /// belongs to, so that it opens for that and nothing else): nonce, then ciphertext
    /// and tag.
    pub async fn seal_bytes(
        &self,
        db: &impl ConnectionTrait,
        associated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, AppError> {
        seal_with(self.key(db).await?, associated_data, plaintext)
    }

    /// What [`Self::seal_bytes`] made `sealed` from with `associated_data`; `None` when it
    /// does not open: another key (`WEBHOOK_SECRET_KEY` set or changed since), other
    /// associated data, or altered bytes. An error only when the key cannot be had.
    pub async fn open_bytes(
        &self,
        db: &impl ConnectionTrait,
        associated_data: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, AppError> {
        Ok(open_with(self.key(db).await?, associated_data, sealed))
    }

    async fn key(&self, db: &impl ConnectionTrait) -> Result<&LessSafeKey, AppError> {
        self.key
            .get_or_try_init(|| async {
                let bytes = match &self.configured {
                    Some(SecretKey(bytes)) => bytes.to_vec(),
                    None => {
                        let candidate: [u8; KEY_BYTES] = random()?;
                        store::shared_secret(db, STORED_KEY_NAME, candidate.to_vec()).await?
                    }
                };
                cipher(&bytes)
            })
            .await
    }
}

fn cipher(key: &[u8]) -> Result<LessSafeKey, AppError> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| AppError::Internal("the vault's key is not 32 bytes"))
}

fn seal_with(
    key: &LessSafeKey,
    associated_data: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, AppError> {
    let nonce: [u8; NONCE_LEN] = random()?;
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(associated_data),
        &mut sealed,
    )
    .map_err(|_| AppError::Internal("bytes for the database could not be encrypted"))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn open_with(key: &LessSafeKey, associated_data: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(associated_data), &mut buffer)
        .ok()?;
    Some(plain.to_vec())
}

fn random<const N: usize>() -> Result<[u8; N], AppError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|_| AppError::Internal("no randomness for a secret"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> LessSafeKey {
        cipher(&[byte; KEY_BYTES]).expect("a key")
    }

    #[test]
    fn a_secret_is_whsec_and_the_base64_of_32_bytes() {
        let secret = WebhookSecret::generate().expect("a secret");
        let text = secret.to_text();
        let encoded = text.strip_prefix("whsec_").expect("the prefix");
        let bytes = STANDARD.decode(encoded).expect("base64");
        assert_eq!(bytes, secret.key());
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn two_secrets_differ() {
        let first = WebhookSecret::generate().expect("a secret");
        let second = WebhookSecret::generate().expect("a secret");
        assert_ne!(first, second);
    }

    #[test]
    fn sealed_bytes_open_to_themselves_and_hold_none_of_their_bytes() {
        let id = Uuid::now_v7();
        let secret = WebhookSecret::generate().expect("a secret");
        let sealed = seal_with(&key(7), id.as_bytes(), secret.key()).expect("sealed");
        assert!(
            !sealed
                .windows(KEY_BYTES)
                .any(|window| window == secret.key())
        );
        assert_eq!(
            open_with(&key(7), id.as_bytes(), &sealed).as_deref(),
            Some(secret.key())
        );
    }

    #[test]
    fn the_same_bytes_sealed_twice_differ() {
        let id = Uuid::now_v7();
        let first = seal_with(&key(7), id.as_bytes(), b"answer").expect("sealed");
        let second = seal_with(&key(7), id.as_bytes(), b"answer").expect("sealed");
        assert_ne!(first, second);
    }

    #[test]
    fn bytes_sealed_for_one_row_do_not_open_for_another() {
        let sealed = seal_with(&key(7), Uuid::now_v7().as_bytes(), b"answer").expect("sealed");
        assert_eq!(open_with(&key(7), Uuid::now_v7().as_bytes(), &sealed), None);
    }

    #[test]
    fn another_key_cannot_open_sealed_bytes() {
        let id = Uuid::now_v7();
        let sealed = seal_with(&key(7), id.as_bytes(), b"answer").expect("sealed");
        assert_eq!(open_with(&key(8), id.as_bytes(), &sealed), None);
    }

    #[test]
    fn truncated_sealed_bytes_do_not_open() {
        let id = Uuid::now_v7();
        let sealed = seal_with(&key(7), id.as_bytes(), b"answer").expect("sealed");
        for length in [0, NONCE_LEN - 1, NONCE_LEN, sealed.len() - 1] {
            assert_eq!(
                open_with(&key(7), id.as_bytes(), &sealed[..length]),
                None,
                "{length}"
            );
        }
    }

    #[test]
    fn a_key_that_is_not_32_bytes_of_base64_is_refused() {
        assert!(SecretKey::parse(&STANDARD.encode([1; 32])).is_ok());
        for text in ["", "not base64!", &STANDARD.encode([1; 16])] {
            assert!(SecretKey::parse(text).is_err(), "{text}");
        }
    }
}
