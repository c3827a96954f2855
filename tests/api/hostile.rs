//! Queries built to exhaust the server are refused before anything runs.

use serde_json::json;

use crate::helpers::{Reply, TestApp, assert_too_complex, spawn_app, spawn_app_with};

async fn query(app: &TestApp, document: &str) -> Reply {
    app.graphql(&app.customer("alice"), document, json!({}))
        .await
}

#[tokio::test]
async fn a_thousand_aliases_are_refused() {
    let app = spawn_app().await;
    let aliases: String = (0..1_000).map(|n| format!("m{n}: me {{ id }} ")).collect();

    assert_too_complex(&query(&app, &format!("{{ {aliases} }}")).await);
}

#[tokio::test]
async fn a_fifty_deep_selection_is_refused() {
    let app = spawn_app().await;
    let document = format!(
        "{{ {}__typename{} }}",
        "tickets { items { messages { ".repeat(17),
        " } } }".repeat(17)
    );

    assert_too_complex(&query(&app, &document).await);
}

#[tokio::test]
async fn a_fragment_cycle_is_refused() {
    let app = spawn_app().await;
    let document = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";

    let reply = query(&app, document).await;

    assert!(reply.body.get("data").is_none());
    assert!(reply.error_code().is_some());
}

#[tokio::test]
async fn ten_thousand_duplicated_fields_are_refused() {
    let app = spawn_app().await;
    let document = format!("{{ me {{ {} }} }}", "id ".repeat(10_000));

    assert_too_complex(&query(&app, &document).await);
}

#[tokio::test]
async fn five_hundred_directives_are_refused() {
    let app = spawn_app().await;
    let document = format!("{{ me {} {{ id }} }}", "@include(if: true) ".repeat(500));

    assert_too_complex(&query(&app, &document).await);
}

#[tokio::test]
async fn a_batch_of_a_thousand_operations_is_refused() {
    let app = spawn_app().await;
    let batch = vec![json!({ "query": "{ __typename }" }); 1_000];

    let reply = app.post_batch(None, &batch).await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code().as_deref(), Some("QUERY_TOO_COMPLEX"));
}

#[tokio::test]
async fn too_many_root_fields_are_refused() {
    let app = spawn_app_with(|config| config.http.query_limits.max_root_fields = 2).await;

    assert_too_complex(&query(&app, "{ me { id } a: me { id } b: me { id } }").await);
}

#[tokio::test]
async fn the_standard_introspection_query_fits_the_default_limits() {
    let app = spawn_app().await;

    let reply = app
        .post_graphql(None, INTROSPECTION, json!({}))
        .await
        .expect_ok();

    assert_eq!(reply.data("__schema")["queryType"]["name"], "Query");
}

#[tokio::test]
async fn deeply_nested_list_literals_are_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let document = format!(
        "{{ me @include(if: {}true{}) {{ id }} }}",
        "[".repeat(2_000),
        "]".repeat(2_000)
    );

    assert_too_complex(&query(&app, &document).await);
    query(&app, "{ me { id } }").await.expect_ok();
}

#[tokio::test]
async fn deeply_nested_object_literals_are_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let document = format!(
        "{{ ticket(id: {}\"x\"{}) {{ id }} }}",
        "{a: ".repeat(2_000),
        "}".repeat(2_000)
    );

    assert_too_complex(&query(&app, &document).await);
    query(&app, "{ me { id } }").await.expect_ok();
}

#[tokio::test]
async fn deeply_nested_selections_are_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let document = format!("{}{}", "{ a ".repeat(5_000), "}".repeat(5_000));

    assert_too_complex(&query(&app, &document).await);
    query(&app, "{ me { id } }").await.expect_ok();
}

#[tokio::test]
async fn a_hundred_level_nested_json_variable_is_bad_user_input() {
    let app = spawn_app().await;
    let mut nested = json!("deep");
    for _ in 0..100 {
        nested = json!([nested]);
    }

    let reply = app
        .graphql(
            &app.customer("alice"),
            "query($id: ID!) { ticket(id: $id) { id } }",
            json!({ "id": nested }),
        )
        .await;

    assert_eq!(reply.error_code().as_deref(), Some("BAD_USER_INPUT"));
    query(&app, "{ me { id } }").await.expect_ok();
}

#[tokio::test]
async fn with_introspection_off_the_schema_cannot_be_read_or_guessed() {
    let app = spawn_app_with(|config| config.http.introspection = false).await;

    let introspection = app
        .post_graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    let misspelled = query(&app, "{ tickt { items { id } } }").await;

    assert_eq!(introspection.data("__schema"), &serde_json::Value::Null);
    assert!(
        !misspelled
            .error_message()
            .unwrap_or_default()
            .contains("Did you mean")
    );
}

#[tokio::test]
async fn with_introspection_on_misspellings_get_suggestions() {
    let app = spawn_app().await;

    let misspelled = query(&app, "{ tickt { items { id } } }").await;

    assert!(
        misspelled
            .error_message()
            .unwrap_or_default()
            .contains("Did you mean")
    );
}

const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

#[tokio::test]
async fn a_ten_thousand_level_json_body_is_a_400_and_the_server_stays_up() {
    let app = spawn_app().await;
    let body = format!(
        r#"{{"query": "{{ me {{ id }} }}", "variables": {{ "v": {}1{} }} }}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );

    let reply = app
        .post_raw(&[("content-type", "application/json")], body)
        .await;

    assert_eq!(reply.status, 400);
    query(&app, "{ me { id } }").await.expect_ok();
}
