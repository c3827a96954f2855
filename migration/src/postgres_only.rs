//! Schema that exists on PostgreSQL alone (SQLite needs none of it).

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// Runs `statements` in order on PostgreSQL; nothing on SQLite.
pub(crate) async fn run_on_postgres(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() == DbBackend::Postgres {
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
    }
    Ok(())
}
