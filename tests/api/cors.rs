use reqwest::Method;
use supportdesk::config::CorsOrigin;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.request(Method::OPTIONS, "/graphql")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .expect("the server answers")
}

fn app_origin() -> CorsOrigin {
    CorsOrigin::parse("https://app.example.com").expect("an origin")
}

#[tokio::test]
async fn no_origin_is_allowed_by_default() {
    let app = spawn_app().await;

    let response = preflight(&app, "https://app.example.com").await;

    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_listed_origin_is_allowed() {
    let app = spawn_app_with(|config| {
        config.http.cors_origins = vec![app_origin()];
    })
    .await;

    let response = preflight(&app, "https://app.example.com").await;

    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed_headers = response.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed_headers.contains("authorization"));
}

#[tokio::test]
async fn an_unlisted_origin_is_not_allowed() {
    let app = spawn_app_with(|config| {
        config.http.cors_origins = vec![app_origin()];
    })
    .await;

    let response = preflight(&app, "https://evil.example.net").await;

    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
