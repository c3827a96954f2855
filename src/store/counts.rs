//! Exact ticket counts, maintained in the same transaction as the tickets, so that a
//! list's total costs a read of a few rows at any size:
//! - `ticket_counts`: per owner and status, and for all owners (`''`);
//! - `ticket_queue_counts`: per status, priority and assignee (`''` for nobody);
//! - `ticket_tag_counts`: per tag and status.
//!
//! Writers never deadlock on them: each write changes each table in at most one
//! statement, and locks rows in one global order: those of `ticket_counts`, then of
//! `ticket_queue_counts`, then of `ticket_tag_counts`, each table's sorted by key.

use entity::prelude::{
    TicketCount, TicketPriority, TicketQueueCount, TicketStatus, TicketTag, TicketTagCount,
};
use entity::{ticket, ticket_count, ticket_queue_count, ticket_tag, ticket_tag_count};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, OnConflict, Order, Query, SelectStatement, UnionType,
};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
    Select,
};
use uuid::Uuid;

use super::{TagChanges, TicketFilter};
use crate::domain::AssigneeFilter;

/// The owner that stands for all owners.
const ALL_OWNERS: &str = "";
/// The assignee that stands for nobody (see the `create_queue_and_tag_counts` migration).
const NOBODY: &str = "";

/// How many tickets match the filter.
pub async fn count_tickets(
    db: &DatabaseConnection,
    filter: TicketFilter<'_>,
) -> Result<u64, DbErr> {
    let statement = db
        .get_database_backend()
        .build(&total_query(db.get_database_backend(), filter));
    let total: Option<i64> = match db.query_one_raw(statement).await? {
        Some(row) => row.try_get("", TOTAL)?,
        None => None,
    };
    Ok(total.map_or(0, |total| u64::try_from(total).unwrap_or(0)))
}

/// The column [`total_query`] answers in.
pub(super) const TOTAL: &str = "total";

/// What answers a list's total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TotalSource<'a> {
    /// `ticket_counts`: the filter narrows by owner and status at most.
    OwnerCounts,
    /// `ticket_queue_counts`: no owner, no tag; status, priority and assignee at most.
    QueueCounts,
    /// `ticket_tag_counts`: no owner, this one tag, and a status at most.
    TagCounts(&'a str),
    /// A `COUNT(*)` of the matching tickets: no kept count answers the filter (an owner
    /// with a priority, an assignee or tags; several tags; a tag with a priority or an
    /// assignee; a search).
    Counted,
}

fn total_source<'a>(filter: &TicketFilter<'a>) -> TotalSource<'a> {
    if filter.search.is_some() {
        return TotalSource::Counted;
    }
    let narrows_queue = filter.priority.is_some() || *filter.assignee != AssigneeFilter::Anyone;
    match (filter.owner, filter.tags, narrows_queue) {
        (_, [], false) => TotalSource::OwnerCounts,
        (None, [], true) => TotalSource::QueueCounts,
        (None, [tag], false) => TotalSource::TagCounts(tag),
        _ => TotalSource::Counted,
    }
}

/// One row, one column (`total`): how many tickets match the filter, from the counts kept
/// when one of them answers it (see [`TotalSource`]), otherwise counted.
pub(super) fn total_query(backend: DbBackend, filter: TicketFilter<'_>) -> SelectStatement {
    match total_source(&filter) {
        TotalSource::OwnerCounts => owner_total(&filter),
        TotalSource::QueueCounts => queue_total(&filter),
        TotalSource::TagCounts(tag) => tag_total(tag, filter.status),
        TotalSource::Counted => filter
            .select(backend)
            .select_only()
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), TOTAL)
            .into_query(),
    }
}

/// The sum of the `count` column of `E`'s rows, to narrow to those a filter picks.
fn summed<E: EntityTrait>() -> Select<E> {
    // PostgreSQL sums BIGINT into NUMERIC: cast back so both databases answer an i64.
    E::find()
        .select_only()
        .column_as(Expr::cust("CAST(COALESCE(SUM(count), 0) AS BIGINT)"), TOTAL)
}

fn owner_total(filter: &TicketFilter<'_>) -> SelectStatement {
    summed::<TicketCount>()
        .filter(ticket_count::Column::UserId.eq(filter.owner.unwrap_or(ALL_OWNERS)))
        .apply_if(filter.status, |query, status| {
            query.filter(ticket_count::Column::Status.eq(status))
        })
        .into_query()
}

fn queue_total(filter: &TicketFilter<'_>) -> SelectStatement {
    let assignee = match filter.assignee {
        AssigneeFilter::Anyone => None,
        AssigneeFilter::To(assignee) => Some(assignee.as_str()),
        AssigneeFilter::Nobody => Some(NOBODY),
    };
    summed::<TicketQueueCount>()
        .apply_if(filter.status, |query, status| {
            query.filter(ticket_queue_count::Column::Status.eq(status))
        })
        .apply_if(filter.priority, |query, priority| {
            query.filter(ticket_queue_count::Column::Priority.eq(priority))
        })
        .apply_if(assignee, |query, assignee| {
            query.filter(ticket_queue_count::Column::AssigneeId.eq(assignee))
        })
        .into_query()
}

fn tag_total(tag: &str, status: Option<TicketStatus>) -> SelectStatement {
    summed::<TicketTagCount>()
        .filter(ticket_tag_count::Column::Tag.eq(tag))
        .apply_if(status, |query, status| {
            query.filter(ticket_tag_count::Column::Status.eq(status))
        })
        .into_query()
}

/// Adds each row's `count` to the row of its key, inserting the keys not there yet, in one
/// statement. The rows must come sorted by key: that is the order they are locked in.
async fn add_counts<E>(
    txn: &DatabaseTransaction,
    rows: impl IntoIterator<Item = E::ActiveModel>,
    key: impl IntoIterator<Item = E::Column>,
) -> Result<(), DbErr>
where
    E: EntityTrait,
{
    let table = E::default().table_name();
    E::insert_many(rows)
        .on_conflict(
            OnConflict::columns(key)
                .value(
                    Alias::new("count"),
                    Expr::cust(format!("{table}.count + excluded.count")),
                )
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Adds each delta to `owner`'s count and to the count of all owners.
pub(super) async fn adjust(
    txn: &DatabaseTransaction,
    owner: &str,
    deltas: &[(TicketStatus, i64)],
) -> Result<(), DbErr> {
    let mut rows: Vec<(&str, TicketStatus, i64)> = deltas
        .iter()
        .flat_map(|&(status, delta)| [(ALL_OWNERS, status, delta), (owner, status, delta)])
        .collect();
    rows.sort_by_key(|&(user_id, status, _)| (user_id, status));
    let models = rows
        .into_iter()
        .map(|(user_id, status, count)| ticket_count::ActiveModel {
            user_id: Set(user_id.to_owned()),
            status: Set(status),
            count: Set(count),
        });
    add_counts::<TicketCount>(
        txn,
        models,
        [ticket_count::Column::UserId, ticket_count::Column::Status],
    )
    .await
}

/// The queue a ticket counts in: its row of `ticket_queue_counts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Queue<'a> {
    status: TicketStatus,
    priority: TicketPriority,
    assignee: &'a str,
}

impl<'a> Queue<'a> {
    pub(super) fn of(ticket: &'a ticket::Model) -> Self {
        Self {
            status: ticket.status,
            priority: ticket.priority,
            assignee: ticket.assignee_id.as_deref().unwrap_or(NOBODY),
        }
    }
}

/// Counts a ticket in queue `to` rather than `from` (`None`: a new ticket), in one
/// statement; nothing when it stays where it was.
pub(super) async fn move_in_queues(
    txn: &DatabaseTransaction,
    from: Option<Queue<'_>>,
    to: Queue<'_>,
) -> Result<(), DbErr> {
    if from == Some(to) {
        return Ok(());
    }
    let mut rows: Vec<(Queue<'_>, i64)> = from.map(|from| (from, -1)).into_iter().collect();
    rows.push((to, 1));
    rows.sort_by_key(|&(queue, _)| queue);
    let models = rows
        .into_iter()
        .map(|(queue, count)| ticket_queue_count::ActiveModel {
            status: Set(queue.status),
            priority: Set(queue.priority),
            assignee_id: Set(queue.assignee.to_owned()),
            count: Set(count),
        });
    add_counts::<TicketQueueCount>(
        txn,
        models,
        [
            ticket_queue_count::Column::Status,
            ticket_queue_count::Column::Priority,
            ticket_queue_count::Column::AssigneeId,
        ],
    )
    .await
}

/// Keeps `ticket_tag_counts` exact when a locked ticket moves from status `from` to `to`
/// and its tags change, in one statement run before the tags are written: the tags it
/// holds (read by the statement, never into Rust) leave `from` and join `to`; `added`
/// join `to`, `removed` leave it. The deltas are summed per key (a key may not be
/// upserted twice in one statement), those that cancel out are dropped, and the rest
/// are upserted sorted by key: the order their rows are locked in.
pub(super) async fn move_tags(
    txn: &DatabaseTransaction,
    ticket: Uuid,
    from: TicketStatus,
    to: TicketStatus,
    tags: TagChanges<'_>,
) -> Result<(), DbErr> {
    let mut parts = Vec::new();
    if from != to {
        parts.push(held_tags(ticket, from, -1));
        parts.push(held_tags(ticket, to, 1));
    }
    parts.extend(tags.added.iter().map(|tag| one_tag(tag, to, 1)));
    parts.extend(tags.removed.iter().map(|tag| one_tag(tag, to, -1)));
    let mut parts = parts.into_iter();
    let Some(mut deltas) = parts.next() else {
        return Ok(());
    };
    for part in parts {
        deltas.union(UnionType::All, part);
    }
    let (tag, status, delta) = (Alias::new("tag"), Alias::new("status"), Alias::new(DELTA));
    let mut summed = Query::select();
    summed
        .column(tag.clone())
        .column(status.clone())
        .expr(Expr::cust("CAST(SUM(delta) AS BIGINT)"))
        .from_subquery(deltas, Alias::new("deltas"))
        .group_by_col(tag.clone())
        .group_by_col(status.clone())
        .and_having(Func::sum(Expr::col(delta)).ne(0))
        .order_by(tag, Order::Asc)
        .order_by(status, Order::Asc);
    let mut insert = Query::insert();
    insert
        .into_table(TicketTagCount)
        .columns([
            ticket_tag_count::Column::Tag,
            ticket_tag_count::Column::Status,
            ticket_tag_count::Column::Count,
        ])
        .select_from(summed)
        .map_err(|error| DbErr::Custom(format!("the tag counts' statement: {error}")))?
        .on_conflict(
            OnConflict::columns([
                ticket_tag_count::Column::Tag,
                ticket_tag_count::Column::Status,
            ])
            .value(
                ticket_tag_count::Column::Count,
                Expr::cust("ticket_tag_counts.count + excluded.count"),
            )
            .to_owned(),
        );
    txn.execute(&insert).await?;
    Ok(())
}

/// The column of [`move_tags`]' deltas.
const DELTA: &str = "delta";

/// `delta` for each tag `ticket` holds, at `status`.
fn held_tags(ticket: Uuid, status: TicketStatus, delta: i64) -> SelectStatement {
    TicketTag::find()
        .select_only()
        .column(ticket_tag::Column::Tag)
        .column_as(Expr::val(status.to_value()), "status")
        .column_as(Expr::val(delta), DELTA)
        .filter(ticket_tag::Column::TicketId.eq(ticket))
        .into_query()
}

/// `delta` for `tag` at `status`.
fn one_tag(tag: &str, status: TicketStatus, delta: i64) -> SelectStatement {
    Query::select()
        .expr_as(Expr::val(tag), Alias::new("tag"))
        .expr_as(Expr::val(status.to_value()), Alias::new("status"))
        .expr_as(Expr::val(delta), Alias::new(DELTA))
        .to_owned()
}

/// Recounts every ticket into every kept count, after rows were written around them (bulk
/// loads). The counts are replaced in one transaction, so a list read meanwhile sees the
/// old counts or the new ones, never a table half emptied.
pub async fn rebuild_counts(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = super::begin_bulk_write(db).await?;
    for statement in migration::COUNTS_REBUILD {
        txn.execute_unprepared(statement).await?;
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SearchQuery;

    fn filter<'a>(
        owner: Option<&'a str>,
        assignee: &'a AssigneeFilter,
        tags: &'a [String],
    ) -> TicketFilter<'a> {
        TicketFilter {
            owner,
            status: Some(TicketStatus::Open),
            priority: None,
            assignee,
            tags,
            search: None,
            visibility: crate::policy::server_wide(),
        }
    }

    #[test]
    fn an_owner_and_a_status_alone_read_the_owner_counts() {
        let anyone = AssigneeFilter::Anyone;
        for owner in [None, Some("alice")] {
            let source = total_source(&filter(owner, &anyone, &[]));
            assert_eq!(source, TotalSource::OwnerCounts);
        }
    }

    #[test]
    fn a_queue_without_an_owner_reads_the_queue_counts() {
        let nobody = AssigneeFilter::Nobody;
        let mut queue = filter(None, &nobody, &[]);
        assert_eq!(total_source(&queue), TotalSource::QueueCounts);
        queue.priority = Some(TicketPriority::Urgent);
        assert_eq!(total_source(&queue), TotalSource::QueueCounts);
    }

    #[test]
    fn one_tag_without_an_owner_reads_the_tag_counts() {
        let (anyone, tags) = (AssigneeFilter::Anyone, ["billing".to_owned()]);
        let source = total_source(&filter(None, &anyone, &tags));
        assert_eq!(source, TotalSource::TagCounts("billing"));
    }

    #[test]
    fn what_no_kept_count_answers_is_counted() {
        let (anyone, nobody) = (AssigneeFilter::Anyone, AssigneeFilter::Nobody);
        let (one, two) = (
            ["billing".to_owned()],
            ["billing".to_owned(), "vip".to_owned()],
        );
        let mut tag_and_priority = filter(None, &anyone, &one);
        tag_and_priority.priority = Some(TicketPriority::High);
        let search = SearchQuery::parse("refund").expect("a search");
        let mut searched = filter(None, &anyone, &[]);
        searched.search = Some(&search);
        for counted in [
            filter(Some("alice"), &nobody, &[]),
            filter(Some("alice"), &anyone, &one),
            filter(None, &anyone, &two),
            filter(None, &nobody, &one),
            tag_and_priority,
            searched,
        ] {
            assert_eq!(total_source(&counted), TotalSource::Counted, "{counted:?}");
        }
    }
}
