//! GraphiQL, served from the binary: the page, its start-up script, and the pinned
//! GraphiQL and React builds that `scripts/vendor-graphiql.sh` copies into
//! `src/http/graphiql/vendor/`. The page loads nothing from outside the server, and its
//! Content-Security-Policy tells the browser to allow nothing else.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::AppState;

/// Only this server: scripts and styles from its files (GraphiQL sets most styles through
/// the DOM, which the policy does not govern), requests and the subscription socket to it
/// (`'self'` covers `ws:` and `wss:` on the same host), the images and fonts that GraphiQL's
/// stylesheet inlines as `data:` URLs, and the `<style>` with the page's nonce that
/// GraphiQL's dialogs insert to lock scrolling.
fn policy(style_nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{style_nonce}'; \
         connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Our own files change with the binary, under the same path: the browser revalidates.
const REVALIDATE: &str = "no-cache";
/// A vendored file's path names its package's version, so its content never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

struct File {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    cache: &'static str,
}

/// A file of `vendor/<package>-<version>/`, served at `/graphiql/assets/<package>-<version>/`.
macro_rules! vendored {
    ($package:literal, $file:literal, $content_type:expr) => {
        File {
            path: concat!("assets/", $package, "/", $file),
            body: include_bytes!(concat!("graphiql/vendor/", $package, "/", $file)),
            content_type: $content_type,
            cache: IMMUTABLE,
        }
    };
}

/// Everything under `/graphiql/`, by the path that follows it.
const FILES: &[File] = &[
    File {
        path: "start.js",
        body: include_bytes!("graphiql/start.js"),
        content_type: JAVASCRIPT,
        cache: REVALIDATE,
    },
    File {
        path: "page.css",
        body: include_bytes!("graphiql/page.css"),
        content_type: CSS,
        cache: REVALIDATE,
    },
    vendored!("graphiql-4.1.2", "index.umd.js", JAVASCRIPT),
    vendored!("graphiql-4.1.2", "style.css", CSS),
    vendored!("graphiql-4.1.2", "LICENSE", TEXT),
    vendored!("react-18.3.1", "react.production.min.js", JAVASCRIPT),
    vendored!("react-18.3.1", "LICENSE", TEXT),
    vendored!(
        "react-dom-18.3.1",
        "react-dom.production.min.js",
        JAVASCRIPT
    ),
    vendored!("react-dom-18.3.1", "LICENSE", TEXT),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphiql", get(page))
        .route("/graphiql/{*path}", get(file))
}

/// The page, with a nonce of its own for the styles GraphiQL inserts.
async fn page() -> Response {
    let mut random = [0u8; 16];
    if let Err(error) = getrandom::fill(&mut random) {
        tracing::error!(%error, "no randomness for the GraphiQL page's nonce");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let nonce = STANDARD.encode(random);
    let headers = [
        (CONTENT_TYPE, HTML),
        (CACHE_CONTROL, REVALIDATE),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    let page = include_str!("graphiql/index.html").replace("{STYLE_NONCE}", &nonce);
    (headers, [(CONTENT_SECURITY_POLICY, policy(&nonce))], page).into_response()
}

async fn file(Path(path): Path<String>) -> Response {
    let Some(file) = FILES.iter().find(|file| file.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers: [(HeaderName, &str); 3] = [
        (CONTENT_TYPE, file.content_type),
        (CACHE_CONTROL, file.cache),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, file.body).into_response()
}
