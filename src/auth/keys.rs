//! Public keys that verify token signatures, from PEM or from a JWK.
//!
//! jsonwebtoken reads both formats, but parses a key only when a token comes. What it leaves
//! unchecked until then is checked here, when the key is read (an RSA modulus of a sane size,
//! an EC point on its curve, an Ed25519 key of 32 bytes), and each key knows which
//! algorithms it may verify, so a key can never be used with an algorithm of another family.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use rsa::BigUint;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;

/// RSA keys shorter than this are refused: 1024-bit moduli are within reach of factoring.
const MIN_RSA_BITS: usize = 2048;

/// The PEM labels of a public key. jsonwebtoken's loaders also take certificates and
/// private keys (an RSA private key even passes for a public one): only these are meant.
const PUBLIC_KEY_LABELS: [&str; 2] = [
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN RSA PUBLIC KEY-----",
];

/// The kind of a public key, which fixes the algorithms it can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyType {
    /// Every algorithm a key of this type can verify.
    pub fn algorithms(self) -> &'static [Algorithm] {
        match self {
            Self::Rsa => &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            Self::EcP256 => &[Algorithm::ES256],
            Self::EcP384 => &[Algorithm::ES384],
            Self::Ed25519 => &[Algorithm::EdDSA],
        }
    }

    /// The algorithm accepted for a PEM key of this type when `JWT_ALGORITHMS` is unset.
    pub fn default_algorithm(self) -> Algorithm {
        self.algorithms()[0]
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "not a PEM public key (`-----BEGIN PUBLIC KEY-----` or `-----BEGIN RSA PUBLIC KEY-----`) \
         of type RSA, EC P-256, EC P-384 or Ed25519"
    )]
    UnsupportedPem,
    #[error("RSA key of {0} bits; at least {MIN_RSA_BITS} are required")]
    RsaTooShort(usize),
    #[error("invalid RSA key: {0}")]
    InvalidRsa(String),
    #[error("invalid EC point for curve {0}")]
    InvalidEcPoint(&'static str),
    #[error("invalid Ed25519 key")]
    InvalidEd25519,
    #[error("not a JWK of type RSA, EC or OKP: {0}")]
    NotAJwk(String),
    #[error("a key member is not base64url: {0}")]
    BadMember(jsonwebtoken::errors::Error),
    #[error("key type `{0}` cannot verify signatures here (only RSA, EC and OKP are used)")]
    UnsupportedKeyType(&'static str),
    #[error("curve `{0:?}` is not supported (only P-256, P-384 and Ed25519)")]
    UnsupportedCurve(EllipticCurve),
    #[error("key is for `use: {0:?}`, not for signatures")]
    NotForSignatures(PublicKeyUse),
    #[error("`alg: {0}` is unknown or does not fit the key type")]
    AlgorithmMismatch(String),
}

/// A public key that verifies signatures, with the algorithms it may verify.
#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    key_type: KeyType,
    /// Set when the JWK names its algorithm: the key then verifies that one only.
    algorithm: Option<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads one SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM block.
    /// Private keys and certificates are refused rather than guessed at.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pem = pem.trim();
        if !PUBLIC_KEY_LABELS.iter().any(|label| pem.starts_with(label)) {
            return Err(KeyError::UnsupportedPem);
        }
        let pem = pem.as_bytes();
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Self::checked(None, KeyType::Rsa, key);
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Self::checked(None, KeyType::Ed25519, key);
        }
        let key = DecodingKey::from_ec_pem(pem).map_err(|_| KeyError::UnsupportedPem)?;
        // The point says its curve: only one of the two verifiers takes it.
        [KeyType::EcP256, KeyType::EcP384]
            .into_iter()
            .find_map(|key_type| Self::checked(None, key_type, key.clone()).ok())
            .ok_or(KeyError::UnsupportedPem)
    }

    /// Reads one entry of a JWKS document (RFC 7517). Encryption keys (`use: enc`) and
    /// symmetric keys (`kty: oct`) are refused: a published symmetric key would let anyone
    /// sign tokens.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, KeyError> {
        let jwk = Jwk::deserialize(jwk).map_err(|error| KeyError::NotAJwk(error.to_string()))?;
        if let Some(usage) =
            (jwk.common.public_key_use.clone()).filter(|usage| *usage != PublicKeyUse::Signature)
        {
            return Err(KeyError::NotForSignatures(usage));
        }
        let key_type = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyType::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyType::EcP256,
                EllipticCurve::P384 => KeyType::EcP384,
                ref curve => return Err(KeyError::UnsupportedCurve(curve.clone())),
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                KeyType::Ed25519
            }
            AlgorithmParameters::OctetKeyPair(okp) => {
                return Err(KeyError::UnsupportedCurve(okp.curve.clone()));
            }
            AlgorithmParameters::OctetKey(_) => return Err(KeyError::UnsupportedKeyType("oct")),
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(KeyError::BadMember)?;
        let mut key = Self::checked(jwk.common.key_id, key_type, key)?;
        if let Some(name) = jwk
            .common
            .key_algorithm
            .map(|algorithm| algorithm.to_string())
        {
            let algorithm = name
                .parse::<Algorithm>()
                .ok()
                .filter(|algorithm| key_type.algorithms().contains(algorithm))
                .ok_or(KeyError::AlgorithmMismatch(name))?;
            key.algorithm = Some(algorithm);
        }
        Ok(key)
    }

    /// The key, once it has passed what jsonwebtoken checks only when a token comes.
    fn checked(kid: Option<String>, key_type: KeyType, key: DecodingKey) -> Result<Self, KeyError> {
        match key_type {
            KeyType::Rsa => {
                let bits = rsa_modulus_bits(&key)?;
                if bits < MIN_RSA_BITS {
                    return Err(KeyError::RsaTooShort(bits));
                }
            }
            // jsonwebtoken's EdDSA verifier takes the first 32 bytes, and panics on fewer.
            KeyType::Ed25519 if key.as_bytes().len() != 32 || !verifier_takes(&key, key_type) => {
                return Err(KeyError::InvalidEd25519);
            }
            KeyType::EcP256 if !verifier_takes(&key, key_type) => {
                return Err(KeyError::InvalidEcPoint("P-256"));
            }
            KeyType::EcP384 if !verifier_takes(&key, key_type) => {
                return Err(KeyError::InvalidEcPoint("P-384"));
            }
            KeyType::Ed25519 | KeyType::EcP256 | KeyType::EcP384 => {}
        }
        Ok(Self {
            kid,
            key_type,
            algorithm: None,
            key,
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Whether this key may verify a token signed with `algorithm`.
    pub fn verifies(&self, algorithm: Algorithm) -> bool {
        match self.algorithm {
            Some(pinned) => pinned == algorithm,
            None => self.key_type.algorithms().contains(&algorithm),
        }
    }

    pub(super) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

/// Whether jsonwebtoken's verifier for this key type can be built from the key: building it
/// (to check no signature) parses an EC point or Ed25519 key, on its curve or not at all.
fn verifier_takes(key: &DecodingKey, key_type: KeyType) -> bool {
    jsonwebtoken::crypto::verify("", b"", key, key_type.default_algorithm()).is_ok()
}

/// jsonwebtoken's RSA verifier parses the key with the `rsa` crate anew at every token, and
/// builds its verifier without parsing it: this is that parse, done once, so that a
/// malformed key (or one over 4096 bits) is refused at start and the modulus measured.
fn rsa_modulus_bits(key: &DecodingKey) -> Result<usize, KeyError> {
    let parsed = match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            rsa::RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                .map_err(|error| error.to_string())
        }
        DecodingKeyKind::SecretOrDer(der) => {
            rsa::RsaPublicKey::from_pkcs1_der(der).map_err(|error| error.to_string())
        }
    };
    parsed
        .map(|key| key.n().bits())
        .map_err(KeyError::InvalidRsa)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use rand::rngs::OsRng;
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use serde_json::json;

    use super::*;

    fn p256_pem() -> String {
        let secret = p256::SecretKey::random(&mut OsRng);
        secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }

    #[test]
    fn an_ec_p256_pem_key_verifies_es256_only() {
        let key = PublicKey::from_pem(&p256_pem()).expect("a key");
        assert_eq!(key.key_type(), KeyType::EcP256);
        assert!(key.verifies(Algorithm::ES256));
        assert!(!key.verifies(Algorithm::ES384));
        assert!(!key.verifies(Algorithm::HS256));
    }

    #[test]
    fn an_ed25519_pem_key_verifies_eddsa() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        let key = PublicKey::from_pem(&pem).expect("a key");
        assert_eq!(key.key_type(), KeyType::Ed25519);
        assert!(key.verifies(Algorithm::EdDSA));
    }

    #[test]
    fn a_private_key_pem_is_refused() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pem = signing.to_pkcs8_pem(LineEnding::LF).expect("pem");
        assert!(matches!(
            PublicKey::from_pem(&pem),
            Err(KeyError::UnsupportedPem)
        ));
    }

    #[test]
    fn text_that_is_not_pem_is_refused() {
        assert!(PublicKey::from_pem("not a key").is_err());
    }

    #[test]
    fn an_rsa_key_under_2048_bits_is_refused() {
        let n = URL_SAFE_NO_PAD.encode([0xC5_u8; 128]);
        let jwk = json!({ "kty": "RSA", "n": n, "e": "AQAB" });
        assert!(matches!(
            PublicKey::from_jwk(&jwk),
            Err(KeyError::RsaTooShort(1024))
        ));
    }

    #[test]
    fn an_ec_jwk_with_a_point_off_the_curve_is_refused() {
        let coordinate = URL_SAFE_NO_PAD.encode([1_u8; 32]);
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": coordinate, "y": coordinate });
        assert!(matches!(
            PublicKey::from_jwk(&jwk),
            Err(KeyError::InvalidEcPoint("P-256"))
        ));
    }

    #[test]
    fn a_symmetric_jwk_is_refused() {
        let jwk = json!({ "kty": "oct", "k": "c2VjcmV0" });
        assert!(matches!(
            PublicKey::from_jwk(&jwk),
            Err(KeyError::UnsupportedKeyType(_))
        ));
    }

    #[test]
    fn an_encryption_jwk_is_refused() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "use": "enc" });
        assert!(matches!(
            PublicKey::from_jwk(&jwk),
            Err(KeyError::NotForSignatures(_))
        ));
    }

    #[test]
    fn a_jwk_naming_its_algorithm_verifies_that_one_only() {
        let secret = p256::SecretKey::random(&mut OsRng);
        let point = p256::EncodedPoint::from(secret.public_key());
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            panic!("an uncompressed point");
        };
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        let key = PublicKey::from_jwk(&jwk).expect("a key");
        assert_eq!(key.kid(), Some("k1"));
        assert!(key.verifies(Algorithm::ES256));
    }

    #[test]
    fn a_jwk_whose_algorithm_does_not_fit_its_type_is_refused() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "alg": "HS256" });
        assert!(matches!(
            PublicKey::from_jwk(&jwk),
            Err(KeyError::AlgorithmMismatch(_))
        ));
    }

    /// A public key of `bytes` bytes that passes the `rsa` crate's checks (odd modulus).
    fn rsa_public_key(bytes: usize) -> rsa::RsaPublicKey {
        let n = BigUint::from_bytes_be(&vec![0xC5; bytes]);
        rsa::RsaPublicKey::new(n, BigUint::from(65_537_u32)).expect("a key")
    }

    #[test]
    fn an_rsa_pem_key_is_read_as_spki_or_pkcs1_and_verifies_rsa_algorithms_only() {
        let key = rsa_public_key(256);
        let spki = key.to_public_key_pem(LineEnding::LF).expect("pem");
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).expect("pem");
        for pem in [spki, pkcs1] {
            let key = PublicKey::from_pem(&pem).expect("a key");
            assert_eq!(key.key_type(), KeyType::Rsa);
            assert!(key.verifies(Algorithm::RS256) && key.verifies(Algorithm::PS512));
            assert!(!key.verifies(Algorithm::ES256));
        }
    }

    #[test]
    fn an_rsa_pem_key_under_2048_bits_is_refused() {
        let pem = rsa_public_key(128)
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        assert!(matches!(
            PublicKey::from_pem(&pem),
            Err(KeyError::RsaTooShort(1024))
        ));
    }

    #[test]
    fn an_rsa_private_key_pem_is_refused() {
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 1024).expect("a key");
        let pem = private.to_pkcs1_pem(LineEnding::LF).expect("pem");
        assert!(DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok());
        assert!(matches!(
            PublicKey::from_pem(&pem),
            Err(KeyError::UnsupportedPem)
        ));
    }

    #[test]
    fn an_ec_p384_pem_key_verifies_es384_only() {
        let pem = p384::SecretKey::random(&mut OsRng)
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        let key = PublicKey::from_pem(&pem).expect("a key");
        assert_eq!(key.key_type(), KeyType::EcP384);
        assert_eq!(
            [Algorithm::ES256, Algorithm::ES384].map(|algorithm| key.verifies(algorithm)),
            [false, true]
        );
    }

    #[test]
    fn an_ed25519_jwk_that_is_not_32_bytes_is_refused() {
        for length in [31, 33] {
            let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(vec![7_u8; length]) });
            assert!(matches!(
                PublicKey::from_jwk(&jwk),
                Err(KeyError::InvalidEd25519)
            ));
        }
    }
}
