//! Exact ticket counts per owner and status, maintained in the same transaction as the
//! tickets, so that a list's total costs one indexed read at any size.

use entity::prelude::{TicketCount, TicketStatus};
use entity::ticket_count;
use sea_orm::sea_query::{Expr, OnConflict, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};

use super::TicketFilter;

/// The owner that stands for all owners.
const ALL_OWNERS: &str = "";

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

/// One row, one column (`total`): how many tickets match the filter, from the counts kept
/// per owner and status when it narrows by nothing else, otherwise counted.
pub(super) fn total_query(backend: DbBackend, filter: TicketFilter<'_>) -> SelectStatement {
    if !filter.counted_by_owner_and_status() {
        return filter
            .select(backend)
            .select_only()
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), TOTAL)
            .into_query();
    }
    // PostgreSQL sums BIGINT into NUMERIC: cast back so both databases answer an i64.
    TicketCount::find()
        .select_only()
        .column_as(Expr::cust("CAST(COALESCE(SUM(count), 0) AS BIGINT)"), TOTAL)
        .filter(ticket_count::Column::UserId.eq(filter.owner.unwrap_or(ALL_OWNERS)))
        .apply_if(filter.status, |query, status| {
            query.filter(ticket_count::Column::Status.eq(status))
        })
        .into_query()
}

/// Adds each delta to `owner`'s count and to the count of all owners. Rows are locked
/// in one order (all owners first, then by status) so that concurrent writers never
/// deadlock on them.
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
    TicketCount::insert_many(models)
        .on_conflict(
            OnConflict::columns([ticket_count::Column::UserId, ticket_count::Column::Status])
                .value(
                    ticket_count::Column::Count,
                    Expr::cust("ticket_counts.count + excluded.count"),
                )
                .to_owned(),
        )
        .exec(txn)
        .await?;
    Ok(())
}

/// Recounts every ticket, after rows were written around [`adjust`] (bulk loads). The
/// counts are replaced in one transaction, so a list read meanwhile sees the old counts
/// or the new ones, never a table half emptied.
pub async fn rebuild_counts(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = super::begin_write(db).await?;
    txn.execute_unprepared("DELETE FROM ticket_counts").await?;
    txn.execute_unprepared(
        "INSERT INTO ticket_counts (user_id, status, count) \
         SELECT user_id, status, COUNT(*) FROM tickets GROUP BY user_id, status",
    )
    .await?;
    txn.execute_unprepared(
        "INSERT INTO ticket_counts (user_id, status, count) \
         SELECT '', status, COUNT(*) FROM tickets GROUP BY status",
    )
    .await?;
    txn.commit().await
}
