//! Savings on every write that records events, which a build recording none does not pay
//! (issue 16: within 10 % of it).
//!
//! - On PostgreSQL the database makes each event's id, as the column's default, in the
//!   `INSERT` itself: one statement less per write than asking for the ids first. The id
//!   is what `supportdesk::store::events::transaction_ordered_id` makes of the writing
//!   transaction's id and a number from `ticket_event_order`; `ticket_event_id` is its
//!   twin in SQL, and a test holds the two to the same answers.
//! - On PostgreSQL the events' foreign keys give way to triggers that delete a ticket's or
//!   a message's events with it. The keys checked, at every event, that its ticket and
//!   message exist (and locked them for it): half the cost of the `INSERT`, for rows the
//!   server only ever writes in the transaction that wrote or locked both. What they did
//!   on a delete, the triggers still do. SQLite keeps its keys: a table there cannot lose
//!   one without being copied, and its one writer at a time is not what this saves for.
//! - The two indexes of the feeds filtered by status go: two B-tree inserts per event for
//!   feeds that read well without them (a customer's through the owner's index, whose
//!   events are few; staff's through the primary key, filtering as they go).

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TicketEvents {
    Table,
    Id,
    OwnerId,
    StatusAfter,
}

const STATUS_INDEXES: [(&str, &[TicketEvents]); 2] = [
    ("idx_ticket_events_status_id", &[TicketEvents::StatusAfter]),
    (
        "idx_ticket_events_owner_status_id",
        &[TicketEvents::OwnerId, TicketEvents::StatusAfter],
    ),
];

/// 0xff, the transaction's 52 bits around the version nibble (8), then the variant (0b10)
/// and the number's low 62 bits: `to_hex` writes a negative bigint as its unsigned bits.
pub(crate) const EVENT_ID_FUNCTION: &str = "\
    CREATE OR REPLACE FUNCTION ticket_event_id(transaction bigint, number bigint) RETURNS uuid \
    LANGUAGE plpgsql IMMUTABLE STRICT AS $$ \
    BEGIN \
        IF transaction < 0 OR transaction > 4503599627370495 THEN \
            RAISE EXCEPTION 'transaction id % is past what an event id holds', transaction; \
        END IF; \
        RETURN ('ff' || lpad(to_hex(transaction >> 12), 10, '0') || '8' \
            || lpad(to_hex(transaction & 4095), 3, '0') \
            || to_hex((number & 4611686018427387903) | (-9223372036854775807 - 1)))::uuid; \
    END $$";

const EVENT_ID_DEFAULT: &str = "\
    ALTER TABLE ticket_events ALTER COLUMN id SET DEFAULT \
    ticket_event_id(pg_current_xact_id()::text::bigint, nextval('ticket_event_order'))";

/// What `ON DELETE CASCADE` of the two foreign keys did, once they are gone.
const CASCADES: [&str; 4] = [
    "ALTER TABLE ticket_events \
        DROP CONSTRAINT fk_ticket_events_ticket, DROP CONSTRAINT fk_ticket_events_message",
    "CREATE FUNCTION delete_ticket_events() RETURNS trigger LANGUAGE plpgsql AS $$ \
    BEGIN \
        IF TG_TABLE_NAME = 'tickets' THEN \
            DELETE FROM ticket_events WHERE ticket_id = OLD.id; \
        ELSE \
            DELETE FROM ticket_events WHERE message_id = OLD.id; \
        END IF; \
        RETURN OLD; \
    END $$",
    "CREATE TRIGGER delete_ticket_events AFTER DELETE ON tickets \
        FOR EACH ROW EXECUTE FUNCTION delete_ticket_events()",
    "CREATE TRIGGER delete_ticket_events AFTER DELETE ON ticket_messages \
        FOR EACH ROW EXECUTE FUNCTION delete_ticket_events()",
];

const FOREIGN_KEYS: [&str; 4] = [
    "DROP TRIGGER delete_ticket_events ON ticket_messages",
    "DROP TRIGGER delete_ticket_events ON tickets",
    "DROP FUNCTION delete_ticket_events()",
    "ALTER TABLE ticket_events \
        ADD CONSTRAINT fk_ticket_events_ticket FOREIGN KEY (ticket_id) \
            REFERENCES tickets (id) ON DELETE CASCADE, \
        ADD CONSTRAINT fk_ticket_events_message FOREIGN KEY (message_id) \
            REFERENCES ticket_messages (id) ON DELETE CASCADE",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            for statement in [EVENT_ID_FUNCTION, EVENT_ID_DEFAULT]
                .iter()
                .chain(&CASCADES)
            {
                db.execute_unprepared(statement).await?;
            }
        }
        for (name, _) in STATUS_INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(TicketEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, prefix) in STATUS_INDEXES {
            let mut index = Index::create();
            index.name(name).table(TicketEvents::Table);
            for column in prefix {
                index.col(*column);
            }
            index.col(TicketEvents::Id);
            manager.create_index(index.to_owned()).await?;
        }
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            let back = [
                "ALTER TABLE ticket_events ALTER COLUMN id DROP DEFAULT",
                "DROP FUNCTION ticket_event_id(bigint, bigint)",
            ];
            for statement in FOREIGN_KEYS.iter().chain(&back) {
                db.execute_unprepared(statement).await?;
            }
        }
        Ok(())
    }
}
