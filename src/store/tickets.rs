use chrono::{DateTime, Utc};
use entity::prelude::{Ticket, TicketMessage, TicketPriority, TicketStatus, TicketTag};
use entity::{ticket, ticket_message, ticket_tag};
use sea_orm::sea_query::{
    Alias, Asterisk, CommonTableExpression, Expr, ExprTrait, IntoCondition, Order, Query,
    SelectStatement, WithClause,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityName, EntityTrait,
    FromQueryResult, IntoActiveModel, Iterable, JoinType, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, RelationTrait, Select,
};
use uuid::Uuid;

use super::counts;
use super::search;
use crate::domain::{AssigneeFilter, ListOrder, PageRequest, Position, SearchQuery};
use crate::policy::Visibility;

/// Which tickets a list holds: those of one owner (or all), narrowed by status, priority,
/// assignee and tags (every one of them), combined with AND.
#[derive(Clone, Copy, Debug)]
pub struct TicketFilter<'a> {
    pub owner: Option<&'a str>,
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub assignee: &'a AssigneeFilter,
    pub tags: &'a [String],
    /// Words to find, among what `visibility` may see.
    pub search: Option<&'a SearchQuery>,
    pub visibility: Visibility,
}

impl TicketFilter<'_> {
    /// The tickets that match on `backend`, as a query to order, page or count.
    pub(super) fn select(&self, backend: DbBackend) -> Select<Ticket> {
        let mut query = Ticket::find()
            .apply_if(self.owner, |query, owner| {
                query.filter(ticket::Column::UserId.eq(owner))
            })
            .apply_if(self.status, |query, status| {
                query.filter(ticket::Column::Status.eq(status))
            })
            .apply_if(self.priority, |query, priority| {
                query.filter(ticket::Column::Priority.eq(priority))
            });
        match self.assignee {
            AssigneeFilter::Anyone => {}
            AssigneeFilter::To(assignee) => {
                query = query.filter(ticket::Column::AssigneeId.eq(assignee.as_str()));
            }
            AssigneeFilter::Nobody => query = query.filter(ticket::Column::AssigneeId.is_null()),
        }
        // Tickets holding every tag: among those tagged with each one in turn. (A count of
        // the tags each ticket holds among those asked for, grouped by ticket, says the
        // same, but the database can only guess how many groups pass: at 1,000,000
        // tickets it guessed 257 of 55,000 and looked each up by id: 478 ms, not 79.)
        for tag in self.tags {
            let tagged = TicketTag::find()
                .select_only()
                .column(ticket_tag::Column::TicketId)
                .filter(ticket_tag::Column::Tag.eq(tag.as_str()))
                .into_query();
            query = query.filter(ticket::Column::Id.in_subquery(tagged));
        }
        if let Some(search) = self.search {
            query = match search::matching(backend, search, self.visibility) {
                Some(matching) => query.filter(matching),
                // A search that wants no word finds nothing.
                None => query.filter(Expr::val(false)),
            };
        }
        query
    }
}

/// The columns `order` sorts by, each with its direction; the last is the id, so the
/// order is total.
fn sort_keys(order: ListOrder) -> &'static [(ticket::Column, Order)] {
    match order {
        ListOrder::NewestFirst => &[
            (ticket::Column::CreatedAt, Order::Desc),
            (ticket::Column::Id, Order::Desc),
        ],
        ListOrder::OldestFirst => &[
            (ticket::Column::CreatedAt, Order::Asc),
            (ticket::Column::Id, Order::Asc),
        ],
        ListOrder::Priority => &[
            (ticket::Column::Priority, Order::Desc),
            (ticket::Column::CreatedAt, Order::Asc),
            (ticket::Column::Id, Order::Asc),
        ],
        ListOrder::RecentlyUpdated => &[
            (ticket::Column::UpdatedAt, Order::Desc),
            (ticket::Column::Id, Order::Desc),
        ],
        // After the rank (`list_tickets`), ties newest first.
        ListOrder::Relevance => &[
            (ticket::Column::CreatedAt, Order::Desc),
            (ticket::Column::Id, Order::Desc),
        ],
    }
}

fn ordered(mut query: Select<Ticket>, order: ListOrder, reversed: bool) -> Select<Ticket> {
    for (column, direction) in sort_keys(order) {
        query = query.order_by(*column, read_as(direction, reversed));
    }
    query
}

fn read_as(direction: &Order, reversed: bool) -> Order {
    match (direction, reversed) {
        (Order::Asc, true) => Order::Desc,
        (Order::Desc, true) => Order::Asc,
        (direction, _) => direction.clone(),
    }
}

/// One page of tickets and the count of all that match, in one statement: the count's one
/// row LEFT JOIN the page, so that a page past the last still answers the total.
pub async fn list_tickets(
    db: &DatabaseConnection,
    filter: TicketFilter<'_>,
    order: ListOrder,
    page: PageRequest,
) -> Result<(Vec<ticket::Model>, u64), DbErr> {
    let backend = db.get_database_backend();
    let (counted, listed) = (Alias::new("counted"), Alias::new("page"));
    let ranked = order == ListOrder::Relevance && filter.search.is_some();
    let (count_query, page_query, matches) = match filter.search {
        None => {
            let page_query = ordered(filter.select(backend), order, false)
                .offset(page.offset())
                .limit(page.limit())
                .into_query();
            (counts::total_query(backend, filter), page_query, None)
        }
        Some(search) => {
            let (count_query, page_query, matches) = searched(backend, filter, search, order, page);
            (count_query, page_query, Some(matches))
        }
    };
    let mut statement = Query::select();
    statement
        .column((counted.clone(), Alias::new(counts::TOTAL)))
        .column((listed.clone(), Asterisk))
        .from_subquery(count_query, counted)
        .join_subquery(
            JoinType::LeftJoin,
            page_query,
            listed.clone(),
            Expr::val(1).eq(1),
        );
    // A derived table keeps no order: the page's order is said again outside it.
    if ranked {
        statement.order_by((listed.clone(), Alias::new(RANK)), Order::Asc);
    }
    for (column, direction) in sort_keys(order) {
        statement.order_by((listed.clone(), *column), direction.clone());
    }
    let statement = match matches {
        None => backend.build(&statement),
        Some(matches) => backend.build(&statement.with(matches)),
    };
    let rows = db.query_all_raw(statement).await?;
    let mut total = 0;
    let mut tickets = Vec::with_capacity(rows.len());
    for row in rows {
        let counted: Option<i64> = row.try_get("", counts::TOTAL)?;
        total = counted.map_or(0, |total| u64::try_from(total).unwrap_or(0));
        if let Some(ticket) = ticket::Model::from_query_result_optional(&row, "")? {
            tickets.push(ticket);
        }
    }
    Ok((tickets, total))
}

/// The count and the page of a search, both read from its matches collected once (a
/// materialized common table expression). Read straight from `tickets`, PostgreSQL pages a
/// search by walking an index in the list's order and testing each ticket, which it
/// expects to be cheap because it cannot tell a rare word from a common one: a word in one
/// ticket of a million took 662 ms. The matches, collected through the text index, cost
/// what the exact count costs already, and the page is a sort of them.
fn searched(
    backend: DbBackend,
    filter: TicketFilter<'_>,
    search: &SearchQuery,
    order: ListOrder,
    page: PageRequest,
) -> (SelectStatement, SelectStatement, WithClause) {
    let (matches, collected) = collect_matches(backend, filter, search, order);
    let mut count_query = Query::select();
    count_query
        .expr_as(
            Expr::cust("CAST(COUNT(*) AS BIGINT)"),
            Alias::new(counts::TOTAL),
        )
        .from(matches.clone());
    let mut page_query = Query::select();
    page_query.column(Asterisk).from(matches.clone());
    if order == ListOrder::Relevance {
        page_query.order_by((matches.clone(), Alias::new(RANK)), Order::Asc);
    }
    for (column, direction) in sort_keys(order) {
        page_query.order_by((matches.clone(), *column), direction.clone());
    }
    page_query.offset(page.offset()).limit(page.limit());
    (count_query, page_query, collected)
}

/// The matches of a search as a table of their own, `matches`, which the database collects
/// once (see [`searched`]), with their rank for `RELEVANCE`.
fn collect_matches(
    backend: DbBackend,
    filter: TicketFilter<'_>,
    search: &SearchQuery,
    order: ListOrder,
) -> (Alias, WithClause) {
    if backend == DbBackend::Postgres && filter.owner.is_some() {
        return collect_owners_matches(filter, search, order);
    }
    let matches = Alias::new("matches");
    let mut selected = filter.select(backend);
    if order == ListOrder::Relevance {
        selected = selected.column_as(search::relevance(backend, search, filter.visibility), RANK);
    }
    let clause = WithClause::new()
        .cte(materialized(matches.clone(), selected.into_query()))
        .to_owned();
    (matches, clause)
}

/// One owner's matches on PostgreSQL: the owner's tickets first, then the search among
/// them. Left to choose, PostgreSQL intersects the owner's tickets with the whole posting
/// list of each word in the text index, which for a common word costs what the word's
/// frequency costs (a customer's 1,994 tickets against 125,702 tickets with `invoice`:
/// 26 ms); an owner's tickets, read by their index and each tested, cost what the owner's
/// number of tickets costs.
fn collect_owners_matches(
    filter: TicketFilter<'_>,
    search: &SearchQuery,
    order: ListOrder,
) -> (Alias, WithClause) {
    let (owned, matches) = (Alias::new("owned"), Alias::new("matches"));
    let document = Alias::new(DOCUMENT);
    let unsearched = TicketFilter {
        search: None,
        ..filter
    };
    let owners = unsearched
        .select(DbBackend::Postgres)
        .column_as(search::postgres_document(filter.visibility), DOCUMENT)
        .into_query();
    let mut found = Query::select();
    found
        .columns(ticket::Column::iter().map(|column| (owned.clone(), column)))
        .from(owned.clone())
        .and_where(search::postgres_matching(
            Expr::col((owned.clone(), document.clone())),
            search,
        ));
    if order == ListOrder::Relevance {
        found.expr_as(
            search::postgres_relevance(Expr::col((owned.clone(), document)), search),
            Alias::new(RANK),
        );
    }
    let clause = WithClause::new()
        .cte(materialized(owned, owners))
        .cte(materialized(matches.clone(), found))
        .to_owned();
    (matches, clause)
}

/// The column an owner's tickets carry their searchable text in.
const DOCUMENT: &str = "document";

/// `WITH name AS MATERIALIZED (query)`: computed once, however often it is read.
fn materialized(name: Alias, query: SelectStatement) -> CommonTableExpression {
    CommonTableExpression::new()
        .query(query)
        .table_name(name)
        .materialized(true)
        .to_owned()
}

/// The column a search's rank is read in, for `RELEVANCE`.
const RANK: &str = "search_rank";

/// Which way a window of a list reads from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The tickets after the cursor (all from the first without one), in the list's order.
    Forward,
    /// The tickets before the cursor (all up to the last without one), read from the cursor
    /// backwards: nearest first.
    Backward,
}

/// At most `limit` tickets read from `from` in `direction` (from the list's start or end
/// without it), and short of `to`, by key rather than by offset: a ticket written before
/// a cursor's position shifts nothing after it. Backward windows come nearest first; the
/// caller puts them back in the list's order.
pub async fn list_window(
    db: &DatabaseConnection,
    filter: TicketFilter<'_>,
    order: ListOrder,
    from: Option<&Position>,
    to: Option<&Position>,
    direction: Direction,
    limit: u64,
) -> Result<Vec<ticket::Model>, DbErr> {
    let backend = db.get_database_backend();
    let backward = direction == Direction::Backward;
    let bounds = |table: Alias| {
        let mut bounds = Condition::all();
        if let Some(position) = from {
            bounds = bounds.add(beyond(order, position, backward, table.clone()));
        }
        if let Some(position) = to {
            bounds = bounds.add(beyond(order, position, !backward, table));
        }
        bounds
    };
    let Some(search) = filter.search else {
        let query = filter
            .select(backend)
            .filter(bounds(Alias::new(ticket::Entity.table_name())));
        return ordered(query, order, backward).limit(limit).all(db).await;
    };
    // As a page of `tickets(search: …)`, the window is read from the matches collected once.
    let (matches, collected) = collect_matches(backend, filter, search, order);
    let mut window = Query::select();
    window
        .column(Asterisk)
        .from(matches.clone())
        .cond_where(bounds(matches.clone()));
    for (column, direction) in sort_keys(order) {
        window.order_by((matches.clone(), *column), read_as(direction, backward));
    }
    window.limit(limit);
    let statement = backend.build(&window.with(collected));
    ticket::Model::find_by_statement(statement).all(db).await
}

/// The rows strictly past `position` in `order` (before it when `backward`): the first
/// key that differs decides, compared in its own direction. The first key's bound is
/// also said on its own (implied by the rest, so it changes no answer): an index read in
/// the list's order starts at the position from it, where the alternatives alone only
/// filter every row from the list's start, and a far page would cost more than the first.
fn beyond(order: ListOrder, position: &Position, backward: bool, table: Alias) -> Condition {
    let keys = sort_keys(order);
    let column = |column: ticket::Column| Expr::col((table.clone(), column));
    let (first, first_direction) = &keys[0];
    let first_value = key_value(*first, position);
    let start = if matches!(first_direction, Order::Asc) != backward {
        column(*first).gte(first_value)
    } else {
        column(*first).lte(first_value)
    };
    let mut any = Condition::any();
    for (index, (key, direction)) in keys.iter().enumerate() {
        let mut all = Condition::all();
        for (equal, _) in &keys[..index] {
            all = all.add(column(*equal).eq(key_value(*equal, position)));
        }
        let value = key_value(*key, position);
        let ascending = matches!(direction, Order::Asc) != backward;
        all = all.add(if ascending {
            column(*key).gt(value)
        } else {
            column(*key).lt(value)
        });
        any = any.add(all);
    }
    Condition::all().add(start).add(any)
}

fn key_value(column: ticket::Column, position: &Position) -> sea_orm::Value {
    match column {
        ticket::Column::Priority => position.priority.to_value().into(),
        ticket::Column::CreatedAt => position.created_at.into(),
        ticket::Column::UpdatedAt => position.updated_at.into(),
        _ => position.id.into(),
    }
}

pub async fn find_ticket(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<ticket::Model>, DbErr> {
    Ticket::find_by_id(id).one(db).await
}

/// The tickets of `ids` that exist, in no order.
pub async fn find_tickets(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<ticket::Model>, DbErr> {
    Ticket::find()
        .filter(ticket::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// A ticket and its messages, oldest first, in one statement: the ticket LEFT JOIN its
/// messages. Internal notes, when left out, are left out in the join's `ON` clause, not
/// in `WHERE`, so that a ticket with no message to show is still found (with none).
pub async fn find_ticket_with_messages(
    db: &impl ConnectionTrait,
    id: Uuid,
    visibility: Visibility,
    max_messages: u64,
) -> Result<Option<(ticket::Model, Vec<ticket_message::Model>)>, DbErr> {
    let mut messages = ticket::Relation::Messages.def();
    if !visibility.includes_staff_only() {
        messages = messages
            .on_condition(|_, _| ticket_message::Column::Internal.eq(false).into_condition());
    }
    let rows = Ticket::find_by_id(id)
        .join(JoinType::LeftJoin, messages)
        .select_with(TicketMessage)
        .order_by_asc(ticket_message::Column::CreatedAt)
        .order_by_asc(ticket_message::Column::Id)
        // One row per message (or one for a ticket without any): at most `max_messages`.
        .limit(max_messages)
        .all(db)
        .await?;
    Ok(rows.into_iter().next())
}

/// Reads a ticket and, on PostgreSQL, locks its row until the transaction ends.
pub async fn lock_ticket(
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<Option<ticket::Model>, DbErr> {
    Ticket::find_by_id(id).lock_exclusive().one(txn).await
}

pub struct NewTicket {
    pub id: Uuid,
    pub owner: String,
    pub subject: String,
    pub at: DateTime<Utc>,
}

/// Inserts an OPEN ticket, to be counted by [`count_new_ticket`].
pub async fn insert_ticket(
    txn: &DatabaseTransaction,
    new: NewTicket,
) -> Result<ticket::Model, DbErr> {
    ticket::ActiveModel {
        id: Set(new.id),
        user_id: Set(new.owner),
        subject: Set(new.subject),
        status: Set(TicketStatus::Open),
        created_at: Set(new.at),
        updated_at: Set(new.at),
        priority: Set(TicketPriority::Normal),
        assignee_id: Set(None),
        first_responded_at: Set(None),
        resolved_at: Set(None),
    }
    .insert(txn)
    .await
}

/// Counts a new ticket. Last in its transaction, right before the commit: the counts' rows
/// are shared (the row of all owners by every new ticket) and stay locked until the
/// commit, so writers queue there for one another's commits only, not for the rest of
/// their writes.
pub async fn count_new_ticket(
    txn: &DatabaseTransaction,
    ticket: &ticket::Model,
) -> Result<(), DbErr> {
    counts::adjust(txn, &ticket.user_id, &[(ticket.status, 1)]).await?;
    counts::move_in_queues(txn, None, counts::Queue::of(ticket)).await
}

/// What a write does to a locked ticket's tags: `added` holds none it has, `removed` only
/// ones it has.
#[derive(Clone, Copy, Debug, Default)]
pub struct TagChanges<'a> {
    pub added: &'a [String],
    pub removed: &'a [String],
}

impl TagChanges<'_> {
    /// No tag added or removed.
    pub const NONE: TagChanges<'static> = TagChanges {
        added: &[],
        removed: &[],
    };

    pub(super) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Writes a locked ticket as it is `after` a change, with its tag changes, keeping every
/// count exact: the row, then the counts, in the order every writer locks them (see
/// [`counts`]), the tags' before the tags are written (their statement reads the tags
/// the ticket held). Callers save last, right before the commit, as the counts' rows are
/// shared (see [`count_new_ticket`]). Nothing is written when nothing changed.
pub async fn save_ticket(
    txn: &DatabaseTransaction,
    before: &ticket::Model,
    after: ticket::Model,
    tags: TagChanges<'_>,
) -> Result<ticket::Model, DbErr> {
    if after == *before && tags.is_empty() {
        return Ok(after);
    }
    let saved = if after == *before {
        after
    } else {
        after.into_active_model().reset_all().update(txn).await?
    };
    record_change(txn, before, &saved, tags).await?;
    Ok(saved)
}

/// [`save_ticket`] for a ticket that gained `message`, which is added to the ticket's
/// search index in the same write. On PostgreSQL the index is two columns of the
/// ticket's row, so the row is updated once, not twice: each update of a row writes a new
/// version of it and of every one of its index entries (an internal note, which leaves
/// the ticket as it was, updates the index alone).
pub async fn save_ticket_with_message(
    txn: &DatabaseTransaction,
    before: &ticket::Model,
    after: ticket::Model,
    message: &ticket_message::Model,
) -> Result<ticket::Model, DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        search::index_message(txn, before.id, &message.body, message.internal).await?;
        return save_ticket(txn, before, after, TagChanges::NONE).await;
    }
    let changed = after != *before;
    let mut update = Ticket::update_many().filter(ticket::Column::Id.eq(before.id));
    if changed {
        update = update.set(after.clone().into_active_model().reset_all());
    }
    for (column, indexed) in search::postgres_message_index(&message.body, message.internal) {
        update = update.col_expr(column, indexed);
    }
    update.exec(txn).await?;
    if changed {
        record_change(txn, before, &after, TagChanges::NONE).await?;
    }
    Ok(after)
}

/// What a change of a locked ticket writes besides its row: the counts kept exact (by
/// owner and status, by queue, by tag) and its tags, in the lock order of the counts.
async fn record_change(
    txn: &DatabaseTransaction,
    before: &ticket::Model,
    after: &ticket::Model,
    tags: TagChanges<'_>,
) -> Result<(), DbErr> {
    if after.status != before.status {
        counts::adjust(
            txn,
            &before.user_id,
            &[(before.status, -1), (after.status, 1)],
        )
        .await?;
    }
    counts::move_in_queues(
        txn,
        Some(counts::Queue::of(before)),
        counts::Queue::of(after),
    )
    .await?;
    counts::move_tags(txn, before.id, before.status, after.status, tags).await?;
    super::tags::change_tags(txn, before.id, tags).await
}
