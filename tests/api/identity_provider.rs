//! A stand-in identity provider: real RSA, EC P-256 and Ed25519 keys generated here, tokens
//! signed with them, and a JWKS document served over HTTP on 127.0.0.1.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::rngs::OsRng;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use supportdesk::auth::JwksConfig;

/// One signing key of the provider, with its public halves (PEM and JWK).
pub struct IdpKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub public_pem: String,
    pub jwk: Value,
    encoding: EncodingKey,
}

/// One RSA key for the whole run: generating 2048-bit keys takes seconds in a debug build.
fn rsa_private_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("an RSA key"))
}

impl IdpKey {
    pub fn rs256(kid: &str) -> Self {
        let private = rsa_private_key();
        let public = private.to_public_key();
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::RS256,
            public_pem: public.to_public_key_pem(LineEnding::LF).expect("PEM"),
            jwk: json!({
                "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
            encoding: EncodingKey::from_rsa_der(private.to_pkcs1_der().expect("DER").as_bytes()),
        }
    }

    pub fn es256(kid: &str) -> Self {
        let private = p256::SecretKey::random(&mut OsRng);
        let public = private.public_key();
        let point = public.to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            panic!("an uncompressed point has coordinates");
        };
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::ES256,
            public_pem: public.to_public_key_pem(LineEnding::LF).expect("PEM"),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            }),
            encoding: EncodingKey::from_ec_der(private.to_pkcs8_der().expect("DER").as_bytes()),
        }
    }

    pub fn eddsa(kid: &str) -> Self {
        let private = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let public = private.verifying_key();
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::EdDSA,
            public_pem: public.to_public_key_pem(LineEnding::LF).expect("PEM"),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(public.as_bytes()),
            }),
            encoding: EncodingKey::from_ed_der(private.to_pkcs8_der().expect("DER").as_bytes()),
        }
    }

    /// Signs `claims` with this key, naming its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(Some(&self.kid), claims)
    }

    /// Signs `claims` with this key under any `kid`, or none.
    pub fn sign_as(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("claims encode")
    }
}

/// A JWKS endpoint that counts its hits and whose keys can be rotated.
pub struct JwksServer {
    url: String,
    state: Arc<JwksState>,
}

struct JwksState {
    document: Mutex<Value>,
    hits: AtomicUsize,
    failing: AtomicBool,
}

impl JwksServer {
    pub async fn start(keys: &[&IdpKey]) -> Self {
        let state = Arc::new(JwksState {
            document: Mutex::new(document(keys)),
            hits: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        });
        let router = axum::Router::new()
            .route("/protocol/openid-connect/certs", get(serve))
            .route("/moved", get(redirect_to_certs))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!(
            "http://{}/protocol/openid-connect/certs",
            listener.local_addr().expect("an address")
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    /// Replaces the published keys, as a provider rotating its keys does.
    pub fn publish(&self, keys: &[&IdpKey]) {
        *self.state.document.lock().expect("the document") = document(keys);
    }

    /// While failing, the endpoint answers 503.
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// How many times the document was requested.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// An address of this server that answers 302 Found pointing to the JWKS, with the
    /// rest of `config`.
    pub fn redirecting_config(&self, min_refetch_interval: Duration) -> JwksConfig {
        let mut config = self.config(min_refetch_interval);
        config.url.set_path("/moved");
        config
    }

    /// This endpoint, refetched at most every `min_refetch_interval`, kept for an hour.
    pub fn config(&self, min_refetch_interval: Duration) -> JwksConfig {
        JwksConfig {
            url: self.url.parse().expect("a URL"),
            min_refetch_interval,
            max_age: Duration::from_secs(3600),
        }
    }
}

async fn redirect_to_certs() -> Response {
    (
        StatusCode::FOUND,
        [(
            axum::http::header::LOCATION,
            "/protocol/openid-connect/certs",
        )],
    )
        .into_response()
}

fn document(keys: &[&IdpKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
}

async fn serve(State(state): State<Arc<JwksState>>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let document = state.document.lock().expect("the document").clone();
    Json(document).into_response()
}
