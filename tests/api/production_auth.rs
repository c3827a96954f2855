//! Tokens from a real identity provider: asymmetric keys from PEM or a JWKS URL, pinned
//! algorithms, issuer and audience, and roles taken from the provider's claims.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use supportdesk::auth::{
    ANY_USER, AuthConfig, JwksConfig, PublicKey, PublicKeys, RoleMapping, Secret,
};

use crate::helpers::{TestApp, assert_refused, sign_hs256, spawn_app_with, unix_now};
use crate::identity_provider::{IdpKey, JwksServer};

const ISSUER: &str = "https://idp.test/realms/support";
const AUDIENCE: &str = "supportdesk";
const NO_FLOOR: Duration = Duration::ZERO;
const AN_HOUR: Duration = Duration::from_secs(3600);

/// What the provider's tokens say about alice, a customer.
fn claims() -> Value {
    json!({
        "sub": "alice", "role": "customer",
        "iss": ISSUER, "aud": AUDIENCE, "exp": unix_now() + 600,
    })
}

fn claims_with(field: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[field] = value;
    claims
}

/// Public keys only, with the provider's issuer and audience required.
fn provider_auth(public_keys: PublicKeys, algorithms: &[Algorithm]) -> AuthConfig {
    AuthConfig {
        secret: None,
        public_keys: Some(public_keys),
        algorithms: algorithms.to_vec(),
        issuer: Some(ISSUER.to_owned()),
        audience: vec![AUDIENCE.to_owned()],
        leeway_seconds: 60,
        roles: RoleMapping::default(),
    }
}

fn pem(key: &IdpKey) -> PublicKeys {
    PublicKeys::Pem(PublicKey::from_pem(&key.public_pem).expect("a PEM public key"))
}

async fn spawn_with_pem(key: &IdpKey) -> TestApp {
    let auth = provider_auth(pem(key), &[key.algorithm]);
    spawn_app_with(|config| config.auth = auth).await
}

async fn spawn_with_jwks(jwks: JwksConfig) -> TestApp {
    let auth = provider_auth(
        PublicKeys::Jwks(jwks),
        &[Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
    );
    spawn_app_with(|config| config.auth = auth).await
}

async fn assert_signed_in_as(app: &TestApp, token: &str, id: &str, role: &str) {
    let reply = app.me(token).await;
    assert_eq!(
        reply.expect_ok().data("me"),
        &json!({ "id": id, "role": role })
    );
}

// Keys from PEM.

#[tokio::test]
async fn an_rs256_token_verifies_with_the_configured_pem_key() {
    let key = IdpKey::rs256("rsa-1");
    let app = spawn_with_pem(&key).await;

    assert_signed_in_as(&app, &key.sign(&claims()), "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn an_eddsa_token_verifies_with_the_configured_pem_key() {
    let key = IdpKey::eddsa("ed-1");
    let app = spawn_with_pem(&key).await;

    assert_signed_in_as(&app, &key.sign(&claims()), "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused() {
    let app = spawn_with_pem(&IdpKey::es256("ec-1")).await;
    let impostor = IdpKey::es256("ec-1");

    assert_refused(&app.me(&impostor.sign(&claims())).await);
}

// Algorithm confusion.

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_as_secret_is_refused() {
    let key = IdpKey::rs256("rsa-1");
    let app = spawn_with_pem(&key).await;

    let forged = sign_hs256(&claims(), &key.public_pem);

    assert_refused(&app.me(&forged).await);
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_refused_next_to_a_secret() {
    let key = IdpKey::rs256("rsa-1");
    let mut auth = provider_auth(pem(&key), &[Algorithm::HS256, Algorithm::RS256]);
    auth.secret = Some(Secret::new("the-real-secret"));
    let app = spawn_app_with(|config| config.auth = auth).await;

    let forged = sign_hs256(&claims(), &key.public_pem);

    assert_refused(&app.me(&forged).await);
    assert_signed_in_as(
        &app,
        &sign_hs256(&claims(), "the-real-secret"),
        "alice",
        "CUSTOMER",
    )
    .await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused_with_a_public_key() {
    let app = spawn_with_pem(&IdpKey::eddsa("ed-1")).await;
    let encode = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let token = format!(
        "{}.{}.",
        encode(json!({ "alg": "none", "typ": "JWT" })),
        encode(claims())
    );

    assert_refused(&app.me(&token).await);
}

#[tokio::test]
async fn a_token_in_an_algorithm_that_is_not_pinned_is_refused() {
    let rsa = IdpKey::rs256("rsa-1");
    let ec = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&rsa, &ec]).await;
    let auth = provider_auth(PublicKeys::Jwks(jwks.config(NO_FLOOR)), &[Algorithm::ES256]);
    let app = spawn_app_with(|config| config.auth = auth).await;

    assert_refused(&app.me(&rsa.sign(&claims())).await);
    assert_signed_in_as(&app, &ec.sign(&claims()), "alice", "CUSTOMER").await;
}

// Keys from a JWKS URL.

#[tokio::test]
async fn an_es256_token_verifies_with_a_key_from_the_jwks() {
    let key = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&key]).await;
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;

    let token = key.sign(&claims_with("role", json!("admin")));

    assert_signed_in_as(&app, &token, "alice", "ADMIN").await;
}

#[tokio::test]
async fn rs256_and_eddsa_tokens_verify_with_keys_from_the_jwks() {
    let rsa = IdpKey::rs256("rsa-1");
    let ed = IdpKey::eddsa("ed-1");
    let jwks = JwksServer::start(&[&rsa, &ed]).await;
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;

    assert_signed_in_as(&app, &rsa.sign(&claims()), "alice", "CUSTOMER").await;
    assert_signed_in_as(&app, &ed.sign(&claims()), "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn a_token_without_kid_is_checked_against_the_keys_of_its_algorithm() {
    let first = IdpKey::es256("ec-1");
    let second = IdpKey::es256("ec-2");
    let jwks = JwksServer::start(&[&first, &second]).await;
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;

    assert_signed_in_as(&app, &second.sign_as(None, &claims()), "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn a_token_naming_a_known_kid_but_signed_by_another_key_is_refused() {
    let published = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&published]).await;
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;
    let impostor = IdpKey::es256("ec-1");

    assert_refused(&app.me(&impostor.sign(&claims())).await);
}

#[tokio::test]
async fn the_jwks_is_fetched_once_at_start() {
    let key = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&key]).await;
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;
    assert_eq!(jwks.hits(), 1);

    for _ in 0..3 {
        assert_signed_in_as(&app, &key.sign(&claims()), "alice", "CUSTOMER").await;
    }

    assert_eq!(jwks.hits(), 1, "known keys are served from the cache");
}

#[tokio::test]
async fn a_token_naming_an_unknown_kid_makes_the_server_refetch_the_jwks() {
    let old = IdpKey::es256("2024");
    let new = IdpKey::eddsa("2025");
    let jwks = JwksServer::start(&[&old]).await;
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;

    jwks.publish(&[&new]);

    assert_signed_in_as(&app, &new.sign(&claims()), "alice", "CUSTOMER").await;
    assert_eq!(jwks.hits(), 2);
}

#[tokio::test]
async fn unknown_kids_trigger_no_refetch_within_the_floor() {
    let old = IdpKey::es256("2024");
    let new = IdpKey::es256("2025");
    let jwks = JwksServer::start(&[&old]).await;
    let app = spawn_with_jwks(jwks.config(AN_HOUR)).await;
    jwks.publish(&[&new]);

    let tokens: Vec<String> = (0..20)
        .map(|n| match n % 2 {
            0 => new.sign(&claims()),
            _ => new.sign_as(Some(&format!("made-up-{n}")), &claims()),
        })
        .collect();
    let replies = join_all(tokens.iter().map(|token| app.me(token))).await;

    replies.iter().for_each(assert_refused);
    assert_eq!(jwks.hits(), 1, "only the fetch at start");
}

#[tokio::test]
async fn once_the_floor_has_passed_one_refetch_serves_a_burst_of_requests() {
    let old = IdpKey::es256("2024");
    let new = IdpKey::es256("2025");
    let jwks = JwksServer::start(&[&old]).await;
    let floor = Duration::from_secs(2);
    let app = spawn_with_jwks(jwks.config(floor)).await;
    jwks.publish(&[&new]);
    let token = new.sign(&claims());

    tokio::time::sleep(floor + Duration::from_millis(200)).await;
    let replies = join_all((0..10).map(|_| app.me(&token))).await;

    for reply in replies {
        assert_eq!(reply.expect_ok().data("me")["id"], "alice");
    }
    assert_eq!(jwks.hits(), 2, "one fetch at start, one for the burst");
}

#[tokio::test]
async fn a_key_withdrawn_from_the_jwks_is_refused_once_the_cache_is_older_than_its_max_age() {
    let withdrawn = IdpKey::es256("leaked");
    let kept = IdpKey::es256("kept");
    let jwks = JwksServer::start(&[&withdrawn, &kept]).await;
    let max_age = Duration::from_secs(1);
    let app = spawn_with_jwks(JwksConfig {
        max_age,
        ..jwks.config(NO_FLOOR)
    })
    .await;
    let token = withdrawn.sign(&claims());
    assert_signed_in_as(&app, &token, "alice", "CUSTOMER").await;

    jwks.publish(&[&kept]);
    tokio::time::sleep(max_age + Duration::from_millis(200)).await;

    assert_refused(&app.me(&token).await);
    assert_signed_in_as(&app, &kept.sign(&claims()), "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn a_jwks_url_that_redirects_yields_no_keys() {
    let key = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&key]).await;
    let app = spawn_with_jwks(jwks.redirecting_config(NO_FLOOR)).await;

    assert_refused(&app.me(&key.sign(&claims())).await);
}

#[tokio::test]
async fn the_server_starts_while_the_jwks_is_unreachable_and_recovers() {
    let key = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&key]).await;
    jwks.set_failing(true);
    let app = spawn_with_jwks(jwks.config(NO_FLOOR)).await;
    let token = key.sign(&claims());
    assert_refused(&app.me(&token).await);

    jwks.set_failing(false);

    assert_signed_in_as(&app, &token, "alice", "CUSTOMER").await;
}

// Issuer, audience, time.

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let key = IdpKey::es256("ec-1");
    let app = spawn_with_pem(&key).await;

    let token = key.sign(&claims_with(
        "iss",
        json!("https://evil.test/realms/support"),
    ));

    assert_refused(&app.me(&token).await);
}

#[tokio::test]
async fn a_token_without_issuer_is_refused_when_one_is_configured() {
    let key = IdpKey::es256("ec-1");
    let app = spawn_with_pem(&key).await;
    let mut claims = claims();
    claims.as_object_mut().expect("an object").remove("iss");

    assert_refused(&app.me(&key.sign(&claims)).await);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let key = IdpKey::es256("ec-1");
    let app = spawn_with_pem(&key).await;

    let token = key.sign(&claims_with("aud", json!("billing")));

    assert_refused(&app.me(&token).await);
}

#[tokio::test]
async fn a_token_naming_the_audience_among_others_is_accepted() {
    let key = IdpKey::es256("ec-1");
    let app = spawn_with_pem(&key).await;

    let token = key.sign(&claims_with("aud", json!(["billing", AUDIENCE])));

    assert_signed_in_as(&app, &token, "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn a_token_carrying_an_audience_is_refused_when_none_is_configured() {
    let key = IdpKey::es256("ec-1");
    let mut auth = provider_auth(pem(&key), &[key.algorithm]);
    auth.audience = Vec::new();
    let app = spawn_app_with(|config| config.auth = auth).await;

    assert_refused(&app.me(&key.sign(&claims())).await);
}

#[tokio::test]
async fn a_token_that_is_not_yet_valid_is_refused() {
    let key = IdpKey::es256("ec-1");
    let app = spawn_with_pem(&key).await;

    let token = key.sign(&claims_with("nbf", json!(unix_now() + 3600)));

    assert_refused(&app.me(&token).await);
}

#[tokio::test]
async fn the_clock_leeway_is_configurable() {
    let key = IdpKey::es256("ec-1");
    let token = key.sign(&claims_with("exp", json!(unix_now() - 10)));
    let lenient = spawn_with_pem(&key).await;
    let mut auth = provider_auth(pem(&key), &[key.algorithm]);
    auth.leeway_seconds = 0;
    let strict = spawn_app_with(|config| config.auth = auth).await;

    assert_signed_in_as(&lenient, &token, "alice", "CUSTOMER").await;
    assert_refused(&strict.me(&token).await);
}

// Roles from the provider's claims.

async fn spawn_with_roles(key: &IdpKey, roles: RoleMapping) -> TestApp {
    let mut auth = provider_auth(pem(key), &[key.algorithm]);
    auth.roles = roles;
    spawn_app_with(|config| config.auth = auth).await
}

#[tokio::test]
async fn the_role_is_read_from_a_keycloak_realm_access_roles_array() {
    let key = IdpKey::es256("ec-1");
    let roles = RoleMapping::new("realm_access.roles", "support-admin", "support-customer")
        .expect("a mapping");
    let app = spawn_with_roles(&key, roles).await;
    let with_roles = |roles: Value| {
        let mut claims = claims();
        let claims_map = claims.as_object_mut().expect("an object");
        claims_map.remove("role");
        claims_map.insert("realm_access".into(), json!({ "roles": roles }));
        key.sign(&claims)
    };

    let admin = with_roles(json!(["offline_access", "support-admin"]));
    let customer = with_roles(json!(["offline_access", "support-customer"]));
    let neither = with_roles(json!(["offline_access"]));

    assert_signed_in_as(&app, &admin, "alice", "ADMIN").await;
    assert_signed_in_as(&app, &customer, "alice", "CUSTOMER").await;
    assert_refused(&app.me(&neither).await);
}

#[tokio::test]
async fn the_role_is_read_from_a_namespaced_claim() {
    let key = IdpKey::es256("ec-1");
    let claim = "https://supportdesk.example.com/roles";
    let roles = RoleMapping::new(claim, "admin", "customer").expect("a mapping");
    let app = spawn_with_roles(&key, roles).await;

    let admin = key.sign(&claims_with(claim, json!(["admin"])));
    let customer = key.sign(&claims_with(claim, json!("customer")));

    assert_signed_in_as(&app, &admin, "alice", "ADMIN").await;
    assert_signed_in_as(&app, &customer, "alice", "CUSTOMER").await;
}

#[tokio::test]
async fn with_any_user_as_customer_a_token_without_role_signs_in_a_customer() {
    let key = IdpKey::es256("ec-1");
    let roles = RoleMapping::new("groups", "support-admins", ANY_USER).expect("a mapping");
    let app = spawn_with_roles(&key, roles).await;
    let mut claims = claims();
    claims.as_object_mut().expect("an object").remove("role");

    assert_signed_in_as(&app, &key.sign(&claims), "alice", "CUSTOMER").await;
}

// HS256 next to a provider.

#[tokio::test]
async fn hs256_tokens_still_verify_with_the_secret_next_to_a_jwks() {
    let key = IdpKey::es256("ec-1");
    let jwks = JwksServer::start(&[&key]).await;
    let mut auth = provider_auth(
        PublicKeys::Jwks(jwks.config(NO_FLOOR)),
        &[Algorithm::HS256, Algorithm::ES256],
    );
    auth.secret = Some(Secret::new("the-secret"));
    let app = spawn_app_with(|config| config.auth = auth).await;

    assert_signed_in_as(
        &app,
        &sign_hs256(&claims(), "the-secret"),
        "alice",
        "CUSTOMER",
    )
    .await;
    assert_signed_in_as(&app, &key.sign(&claims()), "alice", "CUSTOMER").await;
}
