//! The traces the real binary exports over OTLP/HTTP, as a collector receives them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

use crate::helpers::{TestApp, User, required_postgres_server_url};
use crate::server_process::{ServerProcess, spawn_server};
use crate::socket::Socket;

/// The trace a client says the request belongs to, and the client's span in it.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID: &str = "00f067aa0ba902b7";
/// Text the client writes that must reach the database and no trace.
const SUBJECT: &str = "Subject-zq81-never-traced";
const MESSAGE: &str = "Message-zq82-never-traced";

const CREATE_TICKET: &str = "mutation CreateTicket($input: CreateTicketInput!) {
    createTicket(input: $input) { id }
}";

/// A stand-in for an OpenTelemetry collector: it keeps every export it is sent.
#[derive(Clone, Default)]
struct Collector {
    exports: Arc<Mutex<Vec<Bytes>>>,
}

impl Collector {
    /// Listens on a free port; the server is to export to the returned endpoint.
    async fn start(&self) -> String {
        let router = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    fn exports(&self) -> Vec<Bytes> {
        self.exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn spans(&self) -> Vec<Span> {
        self.exports()
            .iter()
            .map(|body| ExportTraceServiceRequest::decode(body.clone()).expect("an OTLP export"))
            .flat_map(|export| export.resource_spans)
            .flat_map(|resource| resource.scope_spans)
            .flat_map(|scope| scope.spans)
            .collect()
    }

    fn service_names(&self) -> Vec<String> {
        self.exports()
            .iter()
            .map(|body| ExportTraceServiceRequest::decode(body.clone()).expect("an OTLP export"))
            .flat_map(|export| export.resource_spans)
            .filter_map(|spans| spans.resource)
            .filter_map(|resource| string_attribute(&resource.attributes, "service.name"))
            .collect()
    }

    /// The span of the request the client sent in [`TRACE_ID`], once it arrives.
    async fn request_span(&self) -> Span {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .spans()
                .into_iter()
                .find(|span| span.name == "POST /graphql" && hex(&span.trace_id) == TRACE_ID);
            if let Some(span) = found {
                return span;
            }
            assert!(
                Instant::now() < deadline,
                "no request span arrived: {:#?}",
                self.spans()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The spans below `parent`, however deep. A span ends after its children, so once
    /// `parent` has arrived, they have too.
    fn descendants_of(&self, parent: &Span) -> Vec<Span> {
        let spans = self.spans();
        let mut found: Vec<Span> = Vec::new();
        let mut parents = vec![parent.span_id.clone()];
        while let Some(parent_id) = parents.pop() {
            for span in spans.iter().filter(|span| span.parent_span_id == parent_id) {
                parents.push(span.span_id.clone());
                found.push(span.clone());
            }
        }
        found
    }
}

async fn receive(State(collector): State<Collector>, body: Bytes) -> impl IntoResponse {
    collector
        .exports
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(body);
    (
        [(CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// The binary, exporting to `collector` every 100 ms, with `settings` on top.
async fn spawn_traced_server(
    collector: &Collector,
    settings: &[(&str, &str)],
) -> (TestApp, ServerProcess) {
    let endpoint = collector.start().await;
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    all.extend_from_slice(settings);
    spawn_server(&all).await
}

/// Opens a ticket as `user`, the request carrying a W3C `traceparent`.
async fn create_ticket_in_the_clients_trace(app: &TestApp, user: &User) {
    let response = app
        .request(reqwest::Method::POST, "/graphql")
        .bearer_auth(&user.token)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .json(&json!({
            "query": CREATE_TICKET,
            "variables": { "input": { "subject": SUBJECT, "message": MESSAGE } },
        }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(body["errors"].is_null(), "{body}");
}

/// A ticket opened by alice in the client's trace, as a traced server exported it.
struct TracedTicket {
    collector: Collector,
    /// The span of the request that opened it.
    request: Span,
    /// Kept so that the server runs until the test ends.
    _server: ServerProcess,
}

async fn traced_ticket_creation() -> TracedTicket {
    let collector = Collector::default();
    let (app, server) = spawn_traced_server(&collector, &[]).await;
    create_ticket_in_the_clients_trace(&app, &app.customer("alice")).await;
    let request = collector.request_span().await;
    TracedTicket {
        collector,
        request,
        _server: server,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn string_attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value| match &value.value {
            Some(AnyValue::StringValue(text)) => Some(text.clone()),
            Some(AnyValue::IntValue(number)) => Some(number.to_string()),
            _ => None,
        })
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|span| span.name.as_str()).collect()
}

#[tokio::test]
async fn a_request_with_a_traceparent_continues_the_clients_trace_as_a_server_span() {
    let traced = traced_ticket_creation().await;
    let span = &traced.request;
    assert_eq!(hex(&span.parent_span_id), CLIENT_SPAN_ID);
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attribute(&span.attributes, "http.route").as_deref(),
        Some("/graphql")
    );
    assert_eq!(
        string_attribute(&span.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
}

#[tokio::test]
async fn each_operation_is_parsed_validated_and_executed_in_spans_under_its_request() {
    let TracedTicket {
        collector,
        request,
        _server,
    } = traced_ticket_creation().await;
    let children: Vec<Span> = collector
        .descendants_of(&request)
        .into_iter()
        .filter(|span| span.parent_span_id == request.span_id)
        .collect();
    assert_eq!(
        names(&children),
        ["graphql.parse", "graphql.validate", "graphql.execute"]
    );
    for stage in &children {
        assert_eq!(
            string_attribute(&stage.attributes, "graphql.operation.name").as_deref(),
            Some("CreateTicket"),
            "{stage:#?}"
        );
        assert_eq!(
            string_attribute(&stage.attributes, "graphql.operation.type").as_deref(),
            Some("mutation"),
            "{stage:#?}"
        );
    }
}

#[tokio::test]
async fn each_database_statement_of_an_operation_has_a_client_span_with_its_sql() {
    let TracedTicket {
        collector,
        request,
        _server,
    } = traced_ticket_creation().await;
    let statements: Vec<Span> = collector
        .descendants_of(&request)
        .into_iter()
        .filter(|span| string_attribute(&span.attributes, "db.query.text").is_some())
        .collect();
    let inserts: Vec<String> = statements
        .iter()
        .filter_map(|span| string_attribute(&span.attributes, "db.query.text"))
        .filter(|sql| sql.starts_with("INSERT"))
        .collect();
    assert!(!inserts.is_empty(), "{statements:#?}");
    for span in &statements {
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert!(
            string_attribute(&span.attributes, "db.system.name").is_some(),
            "{span:#?}"
        );
    }
}

#[tokio::test]
#[ignore = "PostgreSQL only: TEST_DATABASE_URL=postgres://… cargo test --test api -- --include-ignored"]
async fn on_postgresql_a_ticket_creation_records_its_event_with_its_message_in_one_statement() {
    required_postgres_server_url();
    let TracedTicket {
        collector,
        request,
        _server,
    } = traced_ticket_creation().await;
    let statements: Vec<String> = collector
        .descendants_of(&request)
        .iter()
        .filter_map(|span| string_attribute(&span.attributes, "db.query.text"))
        .collect();
    let event_statements: Vec<&String> = statements
        .iter()
        .filter(|sql| sql.contains("ticket_event_order") || sql.contains("\"ticket_events\""))
        .collect();
    assert_eq!(event_statements.len(), 1, "{statements:#?}");
    assert!(
        event_statements[0].starts_with("WITH \"written\" AS (INSERT INTO \"ticket_messages\""),
        "{statements:#?}"
    );
    assert!(
        event_statements[0].contains(") INSERT INTO \"ticket_events\""),
        "{statements:#?}"
    );
    assert!(
        !statements.iter().any(|sql| sql.contains("pg_advisory")),
        "{statements:#?}"
    );
}

#[tokio::test]
async fn spans_carry_no_source_location_thread_or_access_log_line() {
    let TracedTicket {
        collector,
        request,
        _server,
    } = traced_ticket_creation().await;
    let mut spans = collector.descendants_of(&request);
    spans.push(request);
    for span in &spans {
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert!(
            keys.iter().all(|key| !key.starts_with("code.")
                && !key.starts_with("thread.")
                && !["target", "busy_ns", "idle_ns"].contains(key)),
            "{}: {keys:?}",
            span.name
        );
        assert!(span.events.is_empty(), "{}: {:#?}", span.name, span.events);
    }
}

/// Whether the exports, as they travelled, hold `text` anywhere: in a name, an
/// attribute or an event of any span.
fn exports_hold(collector: &Collector, text: &str) -> bool {
    collector
        .exports()
        .concat()
        .windows(text.len())
        .any(|window| window == text.as_bytes())
}

#[tokio::test]
async fn no_exported_span_or_event_holds_the_clients_text_or_token() {
    let collector = Collector::default();
    let (app, _server) = spawn_traced_server(&collector, &[]).await;
    let alice = app.customer("alice");

    create_ticket_in_the_clients_trace(&app, &alice).await;
    let request = collector.request_span().await;
    assert!(!collector.descendants_of(&request).is_empty());

    assert!(
        exports_hold(&collector, "CreateTicket"),
        "the check reads the exports' text"
    );
    assert!(!exports_hold(&collector, SUBJECT));
    assert!(!exports_hold(&collector, MESSAGE));
    assert!(!exports_hold(&collector, &alice.token));
}

#[tokio::test]
async fn text_written_into_the_document_itself_reaches_no_span_in_a_batch() {
    let collector = Collector::default();
    let (app, _server) = spawn_traced_server(&collector, &[]).await;
    let inline = format!(
        "mutation Inline {{ createTicket(input: {{ subject: \"{SUBJECT}\", message: \"{MESSAGE}\" }}) {{ id }} }}"
    );
    let unselected = format!("query Me {{ me {{ id }} }} {inline}");
    let malformed = format!("query Broken {{ me {{ id }} \"{MESSAGE}\"");

    let response = app
        .request(reqwest::Method::POST, "/graphql")
        .bearer_auth(&app.customer("alice").token)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .json(&json!([
            { "query": inline },
            { "query": unselected, "operationName": "Me" },
            { "query": malformed },
        ]))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    let request = collector.request_span().await;
    let executed = collector
        .descendants_of(&request)
        .iter()
        .filter(|span| span.name == "graphql.execute")
        .count();
    assert_eq!(executed, 2, "the two valid operations ran");
    assert!(!exports_hold(&collector, SUBJECT));
    assert!(!exports_hold(&collector, MESSAGE));
}

#[tokio::test]
async fn spans_still_queued_at_shutdown_are_exported_before_the_process_exits() {
    let collector = Collector::default();
    // A schedule far longer than the test: only the flush at shutdown can send them.
    let (app, mut server) =
        spawn_traced_server(&collector, &[("OTEL_BSP_SCHEDULE_DELAY", "600000")]).await;

    create_ticket_in_the_clients_trace(&app, &app.customer("alice")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(collector.spans().is_empty());
    server.signal("TERM");
    server.assert_exits_0_within(Duration::from_secs(10)).await;

    collector.request_span().await;
}

/// The service names of the exports of a server started with `settings`.
async fn service_names_exported_with(settings: &[(&str, &str)]) -> Vec<String> {
    let collector = Collector::default();
    let (app, _server) = spawn_traced_server(&collector, settings).await;
    create_ticket_in_the_clients_trace(&app, &app.customer("alice")).await;
    collector.request_span().await;
    collector.service_names()
}

#[tokio::test]
async fn traces_name_the_supportdesk_service_by_default() {
    let names = service_names_exported_with(&[]).await;

    assert!(!names.is_empty());
    assert!(names.iter().all(|name| name == "supportdesk"), "{names:?}");
}

#[tokio::test]
async fn otel_service_name_names_the_service_in_traces() {
    let names = service_names_exported_with(&[("OTEL_SERVICE_NAME", "desk-eu")]).await;

    assert!(!names.is_empty());
    assert!(names.iter().all(|name| name == "desk-eu"), "{names:?}");
}

#[tokio::test]
async fn operations_over_the_websocket_make_no_spans() {
    let collector = Collector::default();
    let (app, _server) = spawn_traced_server(&collector, &[]).await;
    let alice = app.customer("alice");
    let mut socket = Socket::signed_in(&app, Some(&alice.token)).await;
    socket
        .subscribe(
            "1",
            CREATE_TICKET,
            json!({ "input": { "subject": "Over the socket", "message": "Hello" } }),
        )
        .await;
    let payload = socket.next_payload("1").await;
    assert!(payload["errors"].is_null(), "{payload}");

    // Spans are exported in the order they end: once this request's span has arrived,
    // any span of the operation over the socket has too.
    create_ticket_in_the_clients_trace(&app, &alice).await;
    collector.request_span().await;

    let outside_the_request: Vec<Span> = collector
        .spans()
        .into_iter()
        .filter(|span| hex(&span.trace_id) != TRACE_ID)
        .filter(|span| span.kind != SpanKind::Server as i32)
        .collect();
    assert!(
        outside_the_request.is_empty(),
        "{:?}",
        names(&outside_the_request)
    );
}

#[tokio::test]
async fn otel_exporter_otlp_traces_endpoint_alone_turns_the_traces_on() {
    let collector = Collector::default();
    let traces_endpoint = format!("{}/v1/traces", collector.start().await);
    let (app, _server) = spawn_server(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            traces_endpoint.as_str(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;

    create_ticket_in_the_clients_trace(&app, &app.customer("alice")).await;

    collector.request_span().await;
}
