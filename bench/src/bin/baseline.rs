//! The raw baseline of the benchmark: workloads W2, W3 and W4 without GraphQL.
//!
//! `GET /tickets?limit=20` (W2), `GET /tickets?status=OPEN&limit=20&messages=true` (W3) and
//! `GET /tickets/{id}` (W4) verify the same HS256 bearer token as the server, run the same
//! SQL through the same store functions as the `tickets` and `ticket` fields, and write the
//! JSON that the benchmark's GraphQL queries answer —
//! `{"data":{"tickets":{"items":[…],"pagination":{…}}}}` and
//! `{"data":{"ticket":{…,"messages":[…]}}}` — byte for byte (the server writes each
//! object's keys in the order the query selects them, and these structs declare their
//! fields in that order). What it leaves out is what is being
//! measured: GraphQL parsing, validation and execution, and the server's request-id and
//! log layers.
//!
//! Settings from the environment: `DATABASE_URL`, `JWT_SECRET`, `LISTEN_ADDR`
//! (default `127.0.0.1:8081`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::prelude::TicketStatus;
use entity::{ticket, ticket_message};
use sea_orm::{ActiveEnum, DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use supportdesk::auth::{AuthConfig, Verifier};
use supportdesk::config::{DatabaseConfig, QueryLimits};
use supportdesk::domain::{AssigneeFilter, ListOrder, PageRequest, PageSummary, Viewer};
use supportdesk::policy;
use supportdesk::store::{self, TicketFilter};
use uuid::Uuid;

/// The server reads at most its message budget and one more; so does the baseline.
const MESSAGE_ROWS: u64 = QueryLimits::DEFAULT.max_messages + 1;

struct App {
    db: DatabaseConnection,
    verifier: Verifier,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let secret = std::env::var("JWT_SECRET").map_err(|_| "set JWT_SECRET")?;
    let listen_addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let app = App {
        db: supportdesk::db::connect(&DatabaseConfig::new(database_url))?,
        verifier: Verifier::start(&AuthConfig::hs256(secret)).await?,
    };
    let router = Router::new()
        .route("/tickets", get(tickets))
        .route("/tickets/{id}", get(ticket))
        .with_state(Arc::new(app));
    let listener = tokio::net::TcpListener::bind(&listen_addr).await?;
    axum::serve(listener, router).await?;
    Ok(())
}

#[derive(Deserialize)]
struct ListParams {
    status: Option<String>,
    limit: i32,
    #[serde(default)]
    messages: bool,
}

async fn tickets(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let Some(viewer) = viewer(&app.verifier, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(page) = PageRequest::parse(1, params.limit) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Ok(status) = params
        .status
        .map(|status| TicketStatus::try_from_value(&status))
        .transpose()
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match list(&app.db, &viewer, status, page, params.messages).await {
        Ok(body) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// W4: one ticket with its history, NOT_FOUND (404) when it does not exist or is not the
/// viewer's, as the `ticket` field decides.
async fn ticket(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(viewer) = viewer(&app.verifier, &headers).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match shown_ticket(&app.db, &viewer, id).await {
        Ok(Some(body)) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn viewer(verifier: &Verifier, headers: &HeaderMap) -> Option<Viewer> {
    let (scheme, token) = headers.get(AUTHORIZATION)?.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    verifier.verify(token.trim()).await.ok()
}

/// The page as JSON: the same queries `supportdesk::tickets::list` runs.
async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    status: Option<TicketStatus>,
    page: PageRequest,
    with_messages: bool,
) -> Result<Vec<u8>, DbErr> {
    // The baseline's client never asks for another owner's tickets.
    let scope = policy::owner_scope(viewer, None);
    let filter = TicketFilter {
        owner: scope.as_ref().and_then(policy::OwnerScope::owner),
        status,
        priority: None,
        assignee: &AssigneeFilter::Anyone,
        tags: &[],
        search: None,
        visibility: policy::visibility(viewer),
    };
    let (tickets, total) = store::list_tickets(db, filter, ListOrder::NewestFirst, page).await?;
    let mut histories: HashMap<Uuid, Vec<ticket_message::Model>> = HashMap::new();
    if with_messages {
        let ids: Vec<Uuid> = tickets.iter().map(|ticket| ticket.id).collect();
        let messages =
            store::messages_of_tickets(db, &ids, policy::visibility(viewer), MESSAGE_ROWS).await?;
        for message in messages {
            histories
                .entry(message.ticket_id)
                .or_default()
                .push(message);
        }
    }
    let items = tickets
        .iter()
        .map(|ticket| Item::new(ticket, with_messages, &mut histories))
        .collect();
    let body = Body {
        data: Data {
            tickets: Page {
                items,
                pagination: Pagination::from(PageSummary::new(page, total)),
            },
        },
    };
    serde_json::to_vec(&body).map_err(|error| DbErr::Custom(error.to_string()))
}

/// The ticket as JSON, or `None` when the viewer may not see it: the same statement
/// `supportdesk::tickets::get` runs.
async fn shown_ticket(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
) -> Result<Option<Vec<u8>>, DbErr> {
    let found =
        store::find_ticket_with_messages(db, id, policy::visibility(viewer), MESSAGE_ROWS).await?;
    let Some((ticket, messages)) =
        found.filter(|(ticket, _)| policy::can_see_ticket(viewer, ticket))
    else {
        return Ok(None);
    };
    let body = TicketBody {
        data: TicketData {
            ticket: ShownTicket {
                id: ticket.id.to_string(),
                subject: &ticket.subject,
                status: ticket.status.to_value(),
                created_at: rfc3339(ticket.created_at),
                messages: messages.iter().map(HistoryMessage::from).collect(),
            },
        },
    };
    serde_json::to_vec(&body)
        .map(Some)
        .map_err(|error| DbErr::Custom(error.to_string()))
}

#[derive(Serialize)]
struct TicketBody<'a> {
    data: TicketData<'a>,
}

#[derive(Serialize)]
struct TicketData<'a> {
    ticket: ShownTicket<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShownTicket<'a> {
    id: String,
    subject: &'a str,
    status: String,
    created_at: String,
    messages: Vec<HistoryMessage<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryMessage<'a> {
    id: String,
    author_role: String,
    body: &'a str,
    created_at: String,
}

impl<'a> From<&'a ticket_message::Model> for HistoryMessage<'a> {
    fn from(message: &'a ticket_message::Model) -> Self {
        Self {
            id: message.id.to_string(),
            author_role: message.author_role.to_value(),
            body: &message.body,
            created_at: rfc3339(message.created_at),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    tickets: Page<'a>,
}

#[derive(Serialize)]
struct Page<'a> {
    items: Vec<Item<'a>>,
    pagination: Pagination,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    id: String,
    subject: &'a str,
    status: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<Message>>,
}

impl<'a> Item<'a> {
    fn new(
        ticket: &'a ticket::Model,
        with_messages: bool,
        histories: &mut HashMap<Uuid, Vec<ticket_message::Model>>,
    ) -> Self {
        let messages = with_messages.then(|| {
            histories
                .remove(&ticket.id)
                .unwrap_or_default()
                .into_iter()
                .map(Message::from)
                .collect()
        });
        Self {
            created_at: rfc3339(ticket.created_at),
            id: ticket.id.to_string(),
            messages,
            status: ticket.status.to_value(),
            subject: &ticket.subject,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    body: String,
    author_role: String,
}

impl From<ticket_message::Model> for Message {
    fn from(message: ticket_message::Model) -> Self {
        Self {
            author_role: message.author_role.to_value(),
            body: message.body,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Pagination {
    total: u64,
    page: u64,
    limit: u64,
    total_pages: u64,
    has_next_page: bool,
    has_previous_page: bool,
}

impl From<PageSummary> for Pagination {
    fn from(summary: PageSummary) -> Self {
        Self {
            has_next_page: summary.has_next_page(),
            has_previous_page: summary.has_previous_page(),
            limit: summary.limit,
            page: summary.page,
            total: summary.total,
            total_pages: summary.total_pages,
        }
    }
}

/// The `DateTime` scalar's format: RFC 3339 in UTC with microseconds.
fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}
