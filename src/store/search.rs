//! The full-text index of tickets (see the `add_search` migration): kept in the
//! transaction of each write, and read as a condition and an order on `tickets`.

use sea_orm::sea_query::{Alias, BinOper, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
};
use uuid::Uuid;

use crate::domain::SearchQuery;
use crate::policy::Visibility;

/// Indexes every ticket again, after rows were written around the index (bulk loads), in
/// one transaction: a search meanwhile sees the old index or the new one.
pub async fn rebuild_search(db: &DatabaseConnection) -> Result<(), DbErr> {
    // One statement indexes every ticket: at a million it runs for minutes.
    let txn = super::begin_bulk_write(db).await?;
    for statement in migration::search_rebuild(db.get_database_backend()) {
        txn.execute_unprepared(statement).await?;
    }
    txn.commit().await
}

/// Indexes a new ticket: its subject and its first (public) message.
pub async fn index_new_ticket(
    txn: &DatabaseTransaction,
    ticket: Uuid,
    subject: &str,
    message: &str,
) -> Result<(), DbErr> {
    let statements: &[&str] = match txn.get_database_backend() {
        DbBackend::Postgres => &["UPDATE tickets SET
            public_search = to_tsvector('english', $2) || to_tsvector('english', $3),
            staff_search = to_tsvector('english', $2) || to_tsvector('english', $3)
            WHERE id = $1"],
        // Writers take turns on SQLite: the next row number is free. SQLite numbers `$N`
        // in the order they first appear; `?N` are numbered as written.
        _ => &[
            "INSERT INTO ticket_search_rows (ticket_id, search_row)
                SELECT ?1, COALESCE(MAX(search_row), 0) + 1 FROM ticket_search_rows",
            "INSERT INTO ticket_search (rowid, subject, public_text, staff_text)
                SELECT search_row, ?2, ?3, '' FROM ticket_search_rows WHERE ticket_id = ?1",
        ],
    };
    for sql in statements {
        execute(txn, sql, ticket, [subject, message]).await?;
    }
    Ok(())
}

/// Adds a message to its ticket's index on SQLite: to what customers may find, unless
/// `internal`. (On PostgreSQL the index is columns of the ticket, written with it:
/// [`postgres_message_index`].)
pub(super) async fn index_message(
    txn: &DatabaseTransaction,
    ticket: Uuid,
    body: &str,
    internal: bool,
) -> Result<(), DbErr> {
    let sql = if internal {
        "UPDATE ticket_search SET staff_text = staff_text || ' ' || ?2
            WHERE rowid = (SELECT search_row FROM ticket_search_rows WHERE ticket_id = ?1)"
    } else {
        "UPDATE ticket_search SET public_text = public_text || ' ' || ?2
            WHERE rowid = (SELECT search_row FROM ticket_search_rows WHERE ticket_id = ?1)"
    };
    execute(txn, sql, ticket, [body]).await
}

/// The columns of a ticket's row that index a message added to it on PostgreSQL, each
/// with its new value: what customers may find, unless `internal`, and what staff may.
pub(super) fn postgres_message_index(body: &str, internal: bool) -> Vec<(Alias, SimpleExpr)> {
    let appended = |column: &str| {
        (
            Alias::new(column),
            Expr::cust_with_values(format!("{column} || to_tsvector('english', $1)"), [body]),
        )
    };
    let mut columns = vec![appended("staff_search")];
    if !internal {
        columns.push(appended("public_search"));
    }
    columns
}

async fn execute<const N: usize>(
    txn: &DatabaseTransaction,
    sql: &str,
    ticket: Uuid,
    texts: [&str; N],
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let mut values: Vec<sea_orm::Value> = vec![ticket.into()];
    values.extend(texts.iter().map(|text| sea_orm::Value::from(*text)));
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// The tickets `search` finds among what `visibility` may see: internal notes only for
/// staff. `None` when the search can find nothing at all on this database. (sea-query
/// reads `$N` placeholders on PostgreSQL, `?` on SQLite.)
pub fn matching(
    backend: DbBackend,
    search: &SearchQuery,
    visibility: Visibility,
) -> Option<SimpleExpr> {
    match backend {
        DbBackend::Postgres => Some(postgres_matching(postgres_document(visibility), search)),
        _ => search.fts5().map(|query| {
            Expr::cust_with_values(
                "tickets.id IN (SELECT r.ticket_id FROM ticket_search
                    JOIN ticket_search_rows r ON r.search_row = ticket_search.rowid
                    WHERE ticket_search MATCH ?)",
                [sqlite_match(&query, visibility)],
            )
        }),
    }
}

/// How well a ticket matches `search`, best first when sorted ascending.
pub fn relevance(backend: DbBackend, search: &SearchQuery, visibility: Visibility) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => postgres_relevance(postgres_document(visibility), search),
        _ => Expr::cust_with_values(
            "(SELECT bm25(ticket_search) FROM ticket_search
                JOIN ticket_search_rows r ON r.search_row = ticket_search.rowid
                WHERE ticket_search MATCH ? AND r.ticket_id = tickets.id)",
            [sqlite_match(&search.fts5().unwrap_or_default(), visibility)],
        ),
    }
}

/// The indexed text of a ticket that `visibility` may search on PostgreSQL.
pub fn postgres_document(visibility: Visibility) -> SimpleExpr {
    let column = if visibility.includes_staff_only() {
        "staff_search"
    } else {
        "public_search"
    };
    Expr::col((Alias::new("tickets"), Alias::new(column)))
}

/// Whether `document` (a `tsvector`) holds what `search` asks for.
pub fn postgres_matching(document: impl Into<SimpleExpr>, search: &SearchQuery) -> SimpleExpr {
    document.into().binary(
        BinOper::Custom("@@"),
        Expr::cust_with_values("websearch_to_tsquery('english', $1)", [search.as_str()]),
    )
}

/// How well `document` matches `search`, best first when sorted ascending.
pub fn postgres_relevance(document: impl Into<SimpleExpr>, search: &SearchQuery) -> SimpleExpr {
    Expr::cust_with_exprs(
        "-ts_rank($1, websearch_to_tsquery('english', $2))",
        [document.into(), Expr::val(search.as_str())],
    )
}

/// Customers search the subject and the public messages only.
fn sqlite_match(query: &str, visibility: Visibility) -> String {
    if visibility.includes_staff_only() {
        query.to_owned()
    } else {
        format!("{{subject public_text}} : ({query})")
    }
}
