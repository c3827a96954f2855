//! Public keys that verify token signatures, from PEM or from a JWK.
//!
//! Each key is checked when it is read (an RSA modulus of a sane size, an EC point on its
//! curve, an Ed25519 point that decodes) and knows which algorithms it may verify, so a key
//! can never be used with an algorithm of another family.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rsa::BigUint;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;

/// RSA keys shorter than this are refused: 1024-bit moduli are within reach of factoring.
const MIN_RSA_BITS: usize = 2048;

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
        match self {
            Self::Rsa => Algorithm::RS256,
            Self::EcP256 => Algorithm::ES256,
            Self::EcP384 => Algorithm::ES384,
            Self::Ed25519 => Algorithm::EdDSA,
        }
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
    #[error("not a JWK: {0}")]
    NotAJwk(String),
    #[error("`{0}` is missing or not base64url")]
    BadMember(&'static str),
    #[error("key type `{0}` cannot verify signatures here (only RSA, EC and OKP are used)")]
    UnsupportedKeyType(String),
    #[error("curve `{0}` is not supported (only P-256, P-384 and Ed25519)")]
    UnsupportedCurve(String),
    #[error("key is for `use: {0}`, not for signatures")]
    NotForSignatures(String),
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
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_pem(pem) {
            return Self::rsa(&key, None);
        }
        if let Ok(key) = rsa::RsaPublicKey::from_pkcs1_pem(pem) {
            return Self::rsa(&key, None);
        }
        if let Ok(key) = p256::PublicKey::from_public_key_pem(pem) {
            let point = key.to_encoded_point(false);
            return Ok(Self::ec(None, KeyType::EcP256, point.as_bytes()));
        }
        if let Ok(key) = p384::PublicKey::from_public_key_pem(pem) {
            let point = key.to_encoded_point(false);
            return Ok(Self::ec(None, KeyType::EcP384, point.as_bytes()));
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::ed25519(None, &key));
        }
        Err(KeyError::UnsupportedPem)
    }

    /// Reads one entry of a JWKS document (RFC 7517). Encryption keys (`use: enc`) and
    /// symmetric keys (`kty: oct`) are refused: a published symmetric key would let anyone
    /// sign tokens.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, KeyError> {
        let jwk = Jwk::deserialize(jwk).map_err(|error| KeyError::NotAJwk(error.to_string()))?;
        if let Some(usage) = jwk.usage.as_deref().filter(|usage| *usage != "sig") {
            return Err(KeyError::NotForSignatures(usage.to_owned()));
        }
        let mut key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => {
                let n = BigUint::from_bytes_be(&member(jwk.n.as_deref(), "n")?);
                let e = BigUint::from_bytes_be(&member(jwk.e.as_deref(), "e")?);
                let key = rsa::RsaPublicKey::new(n, e)
                    .map_err(|error| KeyError::InvalidRsa(error.to_string()))?;
                Self::rsa(&key, jwk.kid)?
            }
            ("EC", Some("P-256")) => {
                let point = ec_point(&jwk)?;
                p256::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| KeyError::InvalidEcPoint("P-256"))?;
                Self::ec(jwk.kid, KeyType::EcP256, &point)
            }
            ("EC", Some("P-384")) => {
                let point = ec_point(&jwk)?;
                p384::PublicKey::from_sec1_bytes(&point)
                    .map_err(|_| KeyError::InvalidEcPoint("P-384"))?;
                Self::ec(jwk.kid, KeyType::EcP384, &point)
            }
            ("OKP", Some("Ed25519")) => {
                let x = member(jwk.x.as_deref(), "x")?;
                let bytes: [u8; 32] = x.try_into().map_err(|_| KeyError::InvalidEd25519)?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| KeyError::InvalidEd25519)?;
                Self::ed25519(jwk.kid, &key)
            }
            ("EC" | "OKP", curve) => {
                return Err(KeyError::UnsupportedCurve(curve.unwrap_or("").to_owned()));
            }
            (kty, _) => return Err(KeyError::UnsupportedKeyType(kty.to_owned())),
        };
        if let Some(name) = jwk.alg {
            let algorithm = name
                .parse::<Algorithm>()
                .ok()
                .filter(|algorithm| key.key_type.algorithms().contains(algorithm))
                .ok_or(KeyError::AlgorithmMismatch(name))?;
            key.algorithm = Some(algorithm);
        }
        Ok(key)
    }

    fn rsa(key: &rsa::RsaPublicKey, kid: Option<String>) -> Result<Self, KeyError> {
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(KeyError::RsaTooShort(bits));
        }
        Ok(Self {
            kid,
            key_type: KeyType::Rsa,
            algorithm: None,
            key: DecodingKey::from_rsa_raw_components(
                &key.n().to_bytes_be(),
                &key.e().to_bytes_be(),
            ),
        })
    }

    /// An EC key from its checked, uncompressed SEC1 point.
    fn ec(kid: Option<String>, key_type: KeyType, point: &[u8]) -> Self {
        Self {
            kid,
            key_type,
            algorithm: None,
            key: DecodingKey::from_ec_der(point),
        }
    }

    fn ed25519(kid: Option<String>, key: &ed25519_dalek::VerifyingKey) -> Self {
        Self {
            kid,
            key_type: KeyType::Ed25519,
            algorithm: None,
            key: DecodingKey::from_ed_der(key.as_bytes()),
        }
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

/// The members of a JWK this server reads; the others are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn member(value: Option<&str>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    value
        .and_then(|value| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).ok())
        .filter(|bytes| !bytes.is_empty())
        .ok_or(KeyError::BadMember(name))
}

/// The uncompressed SEC1 encoding of an EC JWK's point: `04 || x || y`.
fn ec_point(jwk: &Jwk) -> Result<Vec<u8>, KeyError> {
    let x = member(jwk.x.as_deref(), "x")?;
    let y = member(jwk.y.as_deref(), "y")?;
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use rand::rngs::OsRng;
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
}
