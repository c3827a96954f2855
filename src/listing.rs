//! Ticket lists as a viewer may see them: a page by number (`tickets`), or a window by
//! cursor (`ticketsConnection`), both narrowed by the same filters, each ticket with its
//! history and its tags when asked for (in one query for the whole list). Errors come in
//! the contract's order: forbidden, then bad input.

use std::collections::HashMap;

use entity::ticket;
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::budget::MessageBudget;
use crate::domain::{
    CursorSigner, FilterInput, ListFilters, ListKey, ListOrder, PageRequest, PageSummary, Position,
    Viewer, WindowRequest,
};
use crate::error::AppError;
use crate::policy::{self, OwnerScope, Visibility};
use crate::store::{self, Direction, TicketFilter};
use crate::tickets::{TicketWithHistory, group_by_ticket, read_histories, tags_of_tickets};

/// What a list asks for, as the client sent it.
pub struct ListRequest<'a> {
    pub user_id: Option<&'a str>,
    pub filters: FilterInput<'a>,
    pub order: ListOrder,
}

/// What to load with each ticket of a list: its history (within the operation's budget),
/// its tags.
#[derive(Clone, Copy)]
pub struct Details<'a> {
    pub messages: Option<&'a MessageBudget>,
    pub tags: bool,
}

/// A list's filters as checked for its viewer, or `None` when nothing can match (a
/// customer asking for another owner's tickets).
struct Narrowed {
    scope: OwnerScope,
    filters: ListFilters,
    visibility: Visibility,
}

impl Narrowed {
    fn filter(&self) -> TicketFilter<'_> {
        TicketFilter {
            owner: self.scope.owner(),
            status: self.filters.status,
            priority: self.filters.priority,
            assignee: &self.filters.assignee,
            tags: &self.filters.tags,
            search: self.filters.search.as_ref(),
            visibility: self.visibility,
        }
    }

    /// What a cursor of this list is made for: the order, the owner and the filters.
    fn key(&self, order: ListOrder) -> ListKey {
        ListKey::new(order, &format!("{:?}|{:?}", self.scope, self.filters))
    }
}

fn narrow(viewer: &Viewer, request: &ListRequest<'_>) -> Result<Option<Narrowed>, AppError> {
    policy::ensure_may_filter(viewer, &request.filters)?;
    let filters = ListFilters::parse(request.filters)?;
    if request.order == ListOrder::Relevance && filters.search.is_none() {
        return Err(AppError::bad_input(
            "order",
            "RELEVANCE orders a search: give search too",
        ));
    }
    Ok(
        policy::owner_scope(viewer, request.user_id).map(|scope| Narrowed {
            scope,
            filters,
            visibility: policy::visibility(viewer),
        }),
    )
}

/// A page of tickets by number.
pub async fn page(
    db: &DatabaseConnection,
    viewer: &Viewer,
    request: ListRequest<'_>,
    page: i32,
    limit: i32,
    details: Details<'_>,
) -> Result<(Vec<TicketWithHistory>, PageSummary), AppError> {
    let narrowed = narrow(viewer, &request)?;
    let page = PageRequest::parse(page, limit)?;
    let Some(narrowed) = narrowed else {
        return Ok((Vec::new(), PageSummary::new(page, 0)));
    };
    let (tickets, total) = store::list_tickets(db, narrowed.filter(), request.order, page).await?;
    let tickets = with_details(db, viewer, tickets, details).await?;
    Ok((tickets, PageSummary::new(page, total)))
}

/// The page of a window, and where it lies in the whole list.
pub struct Window {
    /// Each ticket with its cursor, in the list's order.
    pub tickets: Vec<(TicketWithHistory, String)>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
    pub total: u64,
}

/// What a window of a list asks for, as the client sent it.
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowInput<'a> {
    pub first: Option<i32>,
    pub after: Option<&'a str>,
    pub last: Option<i32>,
    pub before: Option<&'a str>,
}

/// A window of tickets by cursor, as the Relay connection specification reads one:
/// `first` after `after`, or `last` before `before`. With `after` (`before`) the page
/// before (after) it is said to exist: the cursor's ticket stood there.
pub async fn window(
    db: &DatabaseConnection,
    cursors: &CursorKeys,
    viewer: &Viewer,
    request: ListRequest<'_>,
    input: WindowInput<'_>,
    details: Details<'_>,
) -> Result<Window, AppError> {
    let narrowed = narrow(viewer, &request)?;
    // A rank is no key a cursor can hold: the connection pages by the other orders.
    if request.order == ListOrder::Relevance {
        return Err(AppError::bad_input(
            "order",
            "RELEVANCE is offered on tickets only",
        ));
    }
    let size = WindowRequest::parse(input.first, input.last)?;
    let signer = cursors.signer(db).await?;
    let Some(narrowed) = narrowed else {
        return Ok(Window {
            tickets: Vec::new(),
            has_previous_page: false,
            has_next_page: false,
            total: 0,
        });
    };
    let list = narrowed.key(request.order);
    let position = |cursor: Option<&str>, field| {
        cursor
            .map(|cursor| signer.position(list, cursor, field))
            .transpose()
    };
    let after = position(input.after, "after")?;
    let before = position(input.before, "before")?;
    let (direction, from, to) = if size.backward() {
        (Direction::Backward, before.as_ref(), after.as_ref())
    } else {
        (Direction::Forward, after.as_ref(), before.as_ref())
    };
    let filter = narrowed.filter();
    let read = store::list_window(
        db,
        filter,
        request.order,
        from,
        to,
        direction,
        size.count() + 1,
    );
    let (mut tickets, total) = tokio::try_join!(read, store::count_tickets(db, filter))?;
    let more = tickets.len() as u64 > size.count();
    tickets.truncate(usize::try_from(size.count()).unwrap_or(usize::MAX));
    if direction == Direction::Backward {
        tickets.reverse();
    }
    let cursors: Vec<String> = tickets
        .iter()
        .map(|ticket| signer.cursor(list, &Position::from(ticket)))
        .collect();
    let tickets = with_details(db, viewer, tickets, details).await?;
    let (has_previous_page, has_next_page) = match direction {
        Direction::Forward => (after.is_some(), more),
        Direction::Backward => (more, before.is_some()),
    };
    Ok(Window {
        tickets: tickets.into_iter().zip(cursors).collect(),
        has_previous_page,
        has_next_page,
        total,
    })
}

/// The key that signs cursors, read once from the database the fleet shares (made there
/// by whichever instance needed it first).
#[derive(Default)]
pub struct CursorKeys(OnceCell<CursorSigner>);

impl CursorKeys {
    const NAME: &str = "cursor";

    async fn signer(&self, db: &DatabaseConnection) -> Result<&CursorSigner, AppError> {
        self.0
            .get_or_try_init(|| async {
                let mut candidate = vec![0; 32];
                getrandom::fill(&mut candidate)
                    .map_err(|_| AppError::Internal("no randomness for the cursor key"))?;
                let key = store::shared_secret(db, Self::NAME, candidate).await?;
                Ok(CursorSigner::new(key))
            })
            .await
    }
}

/// The tickets with what `details` asks for, loaded in one query each for them all.
async fn with_details(
    db: &DatabaseConnection,
    viewer: &Viewer,
    tickets: Vec<ticket::Model>,
    details: Details<'_>,
) -> Result<Vec<TicketWithHistory>, AppError> {
    let ids: Vec<Uuid> = tickets.iter().map(|ticket| ticket.id).collect();
    let mut histories = match details.messages {
        Some(budget) => group_by_ticket(read_histories(db, viewer, &ids, budget).await?),
        None => HashMap::new(),
    };
    let mut tags = if details.tags {
        Some(tags_of_tickets(db, viewer, &ids).await?)
    } else {
        None
    };
    Ok(tickets
        .into_iter()
        .map(|ticket| {
            let messages = histories
                .remove(&ticket.id)
                .or(details.messages.map(|_| Vec::new()));
            let tags = tags
                .as_mut()
                .map(|tags| tags.remove(&ticket.id).unwrap_or_default());
            TicketWithHistory {
                ticket,
                messages,
                tags,
            }
        })
        .collect())
}
