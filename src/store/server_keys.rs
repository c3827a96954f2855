//! Secrets the instances of a fleet share through their database.

use entity::prelude::ServerKey;
use entity::server_key;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

/// The secret named `name`: `candidate` when no instance has made it yet, otherwise the
/// one made first (every instance then reads the same).
pub async fn shared_secret(
    db: &impl ConnectionTrait,
    name: &str,
    candidate: Vec<u8>,
) -> Result<Vec<u8>, DbErr> {
    ServerKey::insert(server_key::ActiveModel {
        name: Set(name.to_owned()),
        secret: Set(candidate),
    })
    .on_conflict(
        OnConflict::column(server_key::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = ServerKey::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("server key {name}")))?;
    Ok(stored.secret)
}
