//! What the server answered, and the assertions the tests make on it.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// What the server answered to a GraphQL request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The value of one root field; panics when the reply carries no `data`.
    pub fn data(&self, field: &str) -> &Value {
        &self.body["data"][field]
    }

    /// The errors, or an empty list.
    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// `extensions.code` of the first error.
    pub fn error_code(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|error| error["extensions"]["code"].as_str().map(str::to_owned))
    }

    pub fn error_message(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|error| error["message"].as_str().map(str::to_owned))
    }

    pub fn error_field(&self) -> Option<String> {
        self.errors()
            .first()
            .and_then(|error| error["extensions"]["field"].as_str().map(str::to_owned))
    }

    /// Panics with the reply unless its first error is `BAD_USER_INPUT` naming `field`.
    pub fn expect_bad_input(&self, field: &str) {
        assert_eq!(
            self.error_code().as_deref(),
            Some("BAD_USER_INPUT"),
            "{:#}",
            self.body
        );
        assert_eq!(self.error_field().as_deref(), Some(field));
    }

    /// Panics with the reply when it carries errors.
    pub fn expect_ok(self) -> Self {
        assert!(
            self.errors().is_empty(),
            "unexpected errors: {:#}",
            self.body
        );
        self
    }
}

/// The bodies of a `ticket`'s `messages`, oldest first.
pub fn message_bodies(ticket: &Value) -> Vec<String> {
    ticket["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| message["body"].as_str().expect("body").to_owned())
        .collect()
}

/// A request refused before it ran, as past a query limit: `QUERY_TOO_COMPLEX`, no `data`.
pub fn assert_too_complex(reply: &Reply) {
    assert_eq!(
        reply.error_code().as_deref(),
        Some("QUERY_TOO_COMPLEX"),
        "{:#}",
        reply.body
    );
    assert!(reply.body.get("data").is_none(), "{:#}", reply.body);
}

/// Exactly the answer to a present but invalid token: HTTP 401, the `WWW-Authenticate`
/// challenge, `UNAUTHENTICATED` and no `data`.
pub fn assert_refused(reply: &Reply) {
    assert_eq!(reply.status, 401, "{:#}", reply.body);
    assert_eq!(
        reply.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(reply.error_code().as_deref(), Some("UNAUTHENTICATED"));
    assert_eq!(
        reply.error_message().as_deref(),
        Some("Invalid or expired token")
    );
    assert!(reply.body.get("data").is_none());
}

/// The reply to a request the server answered.
pub(super) async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}
