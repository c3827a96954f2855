//! A ticket's tags: one row each, so that "every ticket tagged billing" reads an index.

use std::collections::{BTreeSet, HashMap};

use entity::prelude::TicketTag;
use entity::ticket_tag;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::TagChanges;

/// The tags of one ticket.
pub async fn tags_of(db: &impl ConnectionTrait, ticket: Uuid) -> Result<BTreeSet<String>, DbErr> {
    let rows = TicketTag::find()
        .filter(ticket_tag::Column::TicketId.eq(ticket))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| row.tag).collect())
}

/// The tags of several tickets in one query, each ticket's sorted.
pub async fn tags_of_tickets(
    db: &impl ConnectionTrait,
    tickets: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>, DbErr> {
    let mut grouped: HashMap<Uuid, Vec<String>> = HashMap::new();
    if tickets.is_empty() {
        return Ok(grouped);
    }
    let rows = TicketTag::find()
        .filter(ticket_tag::Column::TicketId.is_in(tickets.iter().copied()))
        .order_by_asc(ticket_tag::Column::TicketId)
        .order_by_asc(ticket_tag::Column::Tag)
        .all(db)
        .await?;
    for row in rows {
        grouped.entry(row.ticket_id).or_default().push(row.tag);
    }
    Ok(grouped)
}

/// Adds and removes tags of a locked ticket, as [`super::save_ticket`] does with its counts.
pub(super) async fn change_tags(
    txn: &DatabaseTransaction,
    ticket: Uuid,
    tags: TagChanges<'_>,
) -> Result<(), DbErr> {
    if !tags.removed.is_empty() {
        TicketTag::delete_many()
            .filter(ticket_tag::Column::TicketId.eq(ticket))
            .filter(ticket_tag::Column::Tag.is_in(tags.removed.iter().cloned()))
            .exec(txn)
            .await?;
    }
    if !tags.added.is_empty() {
        let rows = tags.added.iter().map(|tag| ticket_tag::ActiveModel {
            ticket_id: Set(ticket),
            tag: Set(tag.clone()),
        });
        TicketTag::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
