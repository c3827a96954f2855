//! GraphiQL is served from the binary alone: the page, its start-up files and the vendored
//! GraphiQL and React builds, with a policy that lets the browser load nothing else.

use reqwest::Response;

use crate::helpers::{TestApp, spawn_app};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("a text header")
}

/// The values of the page's `src` and `href` attributes, in order.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in [" src=\"", " href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').expect("a closed attribute");
            found.push(rest[..end].to_owned());
        }
    }
    found
}

/// The page's Content-Security-Policy as `(directive, sources)` pairs.
fn policy_of(page: &Response) -> Vec<(String, Vec<String>)> {
    header(page, "content-security-policy")
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace().map(str::to_owned);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// The files the page loads from the server: everything it references but its `data:` icon.
async fn files_of_the_page(app: &TestApp) -> Vec<String> {
    let html = app.get("/graphiql").await.text().await.expect("html");
    references(&html)
        .into_iter()
        .filter(|reference| !reference.starts_with("data:"))
        .collect()
}

fn nonce_of_page(html: &str) -> &str {
    let marker = "<meta name=\"style-nonce\" content=\"";
    let start = html.find(marker).expect("a style nonce") + marker.len();
    let length = html[start..].find('"').expect("a closed attribute");
    &html[start..start + length]
}

#[tokio::test]
async fn the_page_is_html_that_the_browser_revalidates() {
    let app = spawn_app().await;

    let page = app.get("/graphiql").await;

    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn the_page_s_policy_allows_nothing_outside_the_server() {
    let app = spawn_app().await;

    let page = app.get("/graphiql").await;

    let policy = policy_of(&page);
    let sources_of = |name: &str| {
        policy
            .iter()
            .find(|(directive, _)| directive == name)
            .map(|(_, sources)| sources.join(" "))
            .unwrap_or_else(|| panic!("no {name} in {policy:?}"))
    };
    for closed in ["default-src", "base-uri", "form-action", "frame-ancestors"] {
        assert_eq!(sources_of(closed), "'none'", "{closed}");
    }
    assert_eq!(sources_of("script-src"), "'self'");
    assert_eq!(sources_of("connect-src"), "'self'");
    for (directive, sources) in &policy {
        for source in sources {
            let allowed = ["'self'", "'none'", "data:"].contains(&source.as_str())
                || (directive == "style-src" && source.starts_with("'nonce-"));
            assert!(allowed, "{directive} allows {source}");
        }
    }
}

#[tokio::test]
async fn each_page_has_a_style_nonce_of_its_own_that_its_policy_names() {
    let app = spawn_app().await;

    let first = app.get("/graphiql").await;
    let second = app.get("/graphiql").await;

    let first_policy = header(&first, "content-security-policy").to_owned();
    let first_html = first.text().await.expect("html");
    let first_nonce = nonce_of_page(&first_html);
    assert!(
        first_policy.contains(&format!("style-src 'self' 'nonce-{first_nonce}';")),
        "{first_policy}"
    );
    let second_html = second.text().await.expect("html");
    assert_ne!(nonce_of_page(&second_html), first_nonce);
}

#[tokio::test]
async fn the_page_references_no_other_host() {
    let app = spawn_app().await;

    let html = app.get("/graphiql").await.text().await.expect("html");

    let references = references(&html);
    assert!(references.len() >= 6, "{references:?}");
    for reference in references {
        let on_this_server = reference.starts_with('/') && !reference.starts_with("//");
        assert!(
            on_this_server || reference == "data:,",
            "the page references {reference}"
        );
    }
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_with_its_content_type() {
    let app = spawn_app().await;

    for path in files_of_the_page(&app).await {
        let response = app.get(&path).await;

        assert_eq!(response.status(), 200, "{path}");
        let expected = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            panic!("the page loads {path}, which is neither a script nor a stylesheet")
        };
        assert_eq!(header(&response, "content-type"), expected, "{path}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert!(
            !response.bytes().await.expect("a body").is_empty(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn vendored_files_are_cached_for_good_and_our_own_are_revalidated() {
    let app = spawn_app().await;

    let files = files_of_the_page(&app).await;

    let vendored = |path: &str| path.starts_with("/graphiql/assets/");
    assert_eq!(
        files.iter().filter(|path| vendored(path)).count(),
        4,
        "{files:?}"
    );
    for path in &files {
        let expected = if vendored(path) {
            IMMUTABLE
        } else {
            "no-cache"
        };
        let response = app.get(path).await;
        assert_eq!(header(&response, "cache-control"), expected, "{path}");
    }
}

#[tokio::test]
async fn the_license_of_each_vendored_package_is_served_beside_it() {
    let app = spawn_app().await;

    for path in files_of_the_page(&app).await {
        let Some(file) = path.strip_prefix("/graphiql/assets/") else {
            continue;
        };
        let package = file.split('/').next().expect("a package directory");

        let license = app
            .get(&format!("/graphiql/assets/{package}/LICENSE"))
            .await;

        assert_eq!(license.status(), 200, "{package}");
        assert_eq!(
            header(&license, "content-type"),
            "text/plain; charset=utf-8"
        );
        let text = license.text().await.expect("text");
        assert!(text.contains("MIT License"), "{package}: {text}");
    }
}

#[tokio::test]
async fn an_unknown_asset_is_not_found() {
    let app = spawn_app().await;

    for path in [
        "/graphiql/assets/graphiql-0.0.0/index.umd.js",
        "/graphiql/assets/graphiql-4.1.2/index.umd.js.map",
        "/graphiql/index.html",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
}
