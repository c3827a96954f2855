//! Cheaper event ids on PostgreSQL, for the same ids (issue 16: a write that records
//! events within 10 % of one that records none).
//!
//! - `ticket_event_id` becomes one SQL expression, which the planner inlines into the
//!   `id` column's default: no PL/pgSQL call per event. The range check stays, as an
//!   error the cast to `uuid` raises on the message. (Not `STRICT`: PostgreSQL does not
//!   inline a strict function whose body is not strict, and a `NULL` id is refused by the
//!   column anyway.)
//! - `ticket_event_order` hands each session 32 numbers at a time instead of taking the
//!   sequence's lock for every event. A number only orders the events of one transaction,
//!   which runs in one session, whose numbers still increase; they stay unique.

use sea_orm_migration::prelude::*;

use crate::m20261204_000014_lighten_event_writes::EVENT_ID_FUNCTION;
use crate::postgres_only::run_on_postgres;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What the PL/pgSQL version computes (see `lighten_event_writes`), as one expression.
const INLINED_EVENT_ID_FUNCTION: &str = "\
    CREATE OR REPLACE FUNCTION ticket_event_id(transaction bigint, number bigint) RETURNS uuid \
    LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT AS $$ \
    SELECT CASE WHEN transaction BETWEEN 0 AND 4503599627370495 \
        THEN ('ff' || lpad(to_hex(transaction >> 12), 10, '0') || '8' \
            || lpad(to_hex(transaction & 4095), 3, '0') \
            || to_hex((number & 4611686018427387903) | (-9223372036854775807 - 1)))::uuid \
        ELSE ('transaction id ' || transaction::text || ' is past what an event id holds')::uuid \
    END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(
            manager,
            &[
                INLINED_EVENT_ID_FUNCTION,
                "ALTER SEQUENCE ticket_event_order CACHE 32",
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_postgres(
            manager,
            &[
                "ALTER SEQUENCE ticket_event_order CACHE 1",
                EVENT_ID_FUNCTION,
            ],
        )
        .await
    }
}
