//! A resolver that panics fails its own field with INTERNAL_SERVER_ERROR; the rest of the
//! request resolves and the schema keeps serving.
//!
//! The production schema has no resolver that panics on purpose, so these tests put the
//! guard the server installs on a schema of their own.

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use serde_json::{Value, json};
use supportdesk::graphql::PanicGuard;

/// Panics, as a resolver with a bug does. Typed as a value rather than `!`, so that the
/// resolvers below compile without unreachable code.
fn bug<T>(message: &str) -> T {
    panic!("{message}")
}

struct Query;

#[derive(SimpleObject)]
struct Parent {
    name: String,
    child: Child,
}

struct Child;

#[Object]
impl Child {
    async fn broken(&self) -> i32 {
        bug("a bug in a nested resolver")
    }

    /// Fails the ordinary way, for comparison.
    async fn failing(&self) -> async_graphql::Result<i32> {
        Err("an ordinary failure".into())
    }
}

#[Object]
impl Query {
    async fn fine(&self) -> i32 {
        42
    }

    async fn broken(&self) -> Option<i32> {
        bug("a bug in a resolver")
    }

    async fn broken_with_a_formatted_message(&self, n: i32) -> Option<i32> {
        bug(&format!("a bug with {n}"))
    }

    async fn parent(&self) -> Option<Parent> {
        Some(Parent {
            name: "parent".into(),
            child: Child,
        })
    }
}

fn guarded_schema() -> Schema<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(PanicGuard)
        .finish()
}

async fn run(schema: &Schema<Query, EmptyMutation, EmptySubscription>, query: &str) -> Value {
    serde_json::to_value(schema.execute(query).await).expect("a JSON response")
}

#[tokio::test]
async fn a_panicking_resolver_fails_its_field_with_internal_server_error() {
    let response = run(&guarded_schema(), "{ broken fine }").await;

    assert_eq!(response["data"], json!({ "broken": null, "fine": 42 }));
    assert_eq!(
        response["errors"],
        json!([{
            "message": "Internal server error",
            "path": ["broken"],
            "extensions": { "code": "INTERNAL_SERVER_ERROR" },
        }])
    );
}

#[tokio::test]
async fn the_panic_message_stays_out_of_the_response() {
    let response = run(&guarded_schema(), "{ brokenWithAFormattedMessage(n: 7) }").await;

    assert!(!response.to_string().contains("bug"), "{response:#}");
    assert_eq!(response["errors"][0]["message"], "Internal server error");
}

#[tokio::test]
async fn a_panic_in_a_nested_field_fails_it_as_any_resolver_error_would() {
    let schema = guarded_schema();

    let panicked = run(&schema, "{ fine parent { name child { broken } } }").await;
    let failed = run(&schema, "{ fine parent { name child { failing } } }").await;

    assert_eq!(panicked["data"], failed["data"]);
    assert_eq!(
        panicked["errors"],
        json!([{
            "message": "Internal server error",
            "path": ["parent", "child", "broken"],
            "extensions": { "code": "INTERNAL_SERVER_ERROR" },
        }])
    );
}

#[tokio::test]
async fn the_schema_keeps_serving_after_panics() {
    let schema = guarded_schema();
    let panicking = futures_util::future::join_all((0..20).map(|_| run(&schema, "{ broken }")));
    for response in panicking.await {
        assert_eq!(response["data"]["broken"], Value::Null);
    }

    let response = run(&schema, "{ fine }").await;

    assert_eq!(response, json!({ "data": { "fine": 42 } }));
}
