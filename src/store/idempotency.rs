//! The answers kept for `Idempotency-Key`: a key is claimed by the request that inserts
//! its row (the primary key `(user_id, key)` lets one insert win, on SQLite and
//! PostgreSQL alike), then completed with that request's answer, or released (deleted)
//! when the answer is not kept.

use chrono::{DateTime, Utc};
use entity::idempotency_key::{ActiveModel, Column};
use entity::prelude::IdempotencyKey;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Select,
};
use uuid::Uuid;

/// Whose key, which key, and the SHA-256 of the body it came with.
#[derive(Clone, Debug)]
pub struct KeyedRequest {
    pub user_id: String,
    pub key: String,
    pub request_sha256: [u8; 32],
}

/// The times a claim is judged by.
#[derive(Clone, Copy, Debug)]
pub struct ClaimTimes {
    pub now: DateTime<Utc>,
    /// When a key claimed now expires.
    pub expires_at: DateTime<Utc>,
    /// A running claim made before this is abandoned: its request died with its instance.
    pub abandoned_before: DateTime<Utc>,
}

/// An answer as it was sent: status, headers (a JSON array of `[name, value]`), body. The
/// HTTP layer keeps the body encrypted: the store takes and gives back whatever it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: i16,
    pub headers: String,
    pub body: Vec<u8>,
}

/// What a request with a key may do.
#[derive(Debug)]
pub enum Claim {
    /// It holds the key: it runs, then completes or releases the claim with this id.
    Claimed(Uuid),
    /// The key's first request was answered, with this same body; `claim_id` is the
    /// row's, for [`take_over`].
    Replay {
        claim_id: Uuid,
        answer: StoredAnswer,
    },
    /// The key was first used with another body.
    Mismatch,
    /// The key's first request is still running.
    InUse,
}

/// A claim lost to another request's insert, then found gone (released meanwhile), is
/// tried again; past this many turns the key is busy enough to be called in use.
const CLAIM_ATTEMPTS: usize = 3;

/// Claims the key for `request`, or tells what its stored row says. An expired row, or a
/// running one past `abandoned_before`, counts as absent and is taken over.
pub async fn claim(
    db: &impl ConnectionTrait,
    request: &KeyedRequest,
    times: ClaimTimes,
) -> Result<Claim, DbErr> {
    for _ in 0..CLAIM_ATTEMPTS {
        let claim_id = Uuid::now_v7();
        let inserted = IdempotencyKey::insert(ActiveModel {
            user_id: Set(request.user_id.clone()),
            key: Set(request.key.clone()),
            ..claimed(request, claim_id, times)
        })
        .on_conflict(
            OnConflict::columns([Column::UserId, Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted == 1 {
            return Ok(Claim::Claimed(claim_id));
        }
        let Some(row) = the_row(request).one(db).await? else {
            continue;
        };
        let stale = row.expires_at <= times.now
            || (row.status.is_none() && row.created_at < times.abandoned_before);
        if stale {
            match take_over(db, request, row.claim_id, times).await? {
                Some(claim_id) => return Ok(Claim::Claimed(claim_id)),
                None => continue,
            }
        }
        if row.request_sha256 != request.request_sha256 {
            return Ok(Claim::Mismatch);
        }
        return Ok(match (row.status, row.headers, row.body) {
            (Some(status), Some(headers), Some(body)) => Claim::Replay {
                claim_id: row.claim_id,
                answer: StoredAnswer {
                    status,
                    headers,
                    body,
                },
            },
            _ => Claim::InUse,
        });
    }
    Ok(Claim::InUse)
}

/// Claims the key anew, as if it were absent, if `held_by` still holds it; the new claim's
/// id, or `None` when another request took it first. Only the claim that was read is
/// taken over: of two requests that both judged it stale, one updates the row and the
/// other then matches nothing.
pub async fn take_over(
    db: &impl ConnectionTrait,
    request: &KeyedRequest,
    held_by: Uuid,
    times: ClaimTimes,
) -> Result<Option<Uuid>, DbErr> {
    let claim_id = Uuid::now_v7();
    let taken = IdempotencyKey::update_many()
        .set(claimed(request, claim_id, times))
        .filter(Column::UserId.eq(&request.user_id))
        .filter(Column::Key.eq(&request.key))
        .filter(Column::ClaimId.eq(held_by))
        .exec(db)
        .await?;
    Ok((taken.rows_affected == 1).then_some(claim_id))
}

/// Keeps `answer` as the key's, if `claim_id` still holds it; `false` if another request
/// took the claim over meanwhile.
pub async fn complete(
    db: &impl ConnectionTrait,
    request: &KeyedRequest,
    claim_id: Uuid,
    answer: StoredAnswer,
) -> Result<bool, DbErr> {
    let updated = IdempotencyKey::update_many()
        .set(ActiveModel {
            status: Set(Some(answer.status)),
            headers: Set(Some(answer.headers)),
            body: Set(Some(answer.body)),
            ..ActiveModel::default()
        })
        .filter(Column::UserId.eq(&request.user_id))
        .filter(Column::Key.eq(&request.key))
        .filter(Column::ClaimId.eq(claim_id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Gives the key back, if `claim_id` still holds it, so that a retry runs.
pub async fn release(
    db: &impl ConnectionTrait,
    request: &KeyedRequest,
    claim_id: Uuid,
) -> Result<(), DbErr> {
    IdempotencyKey::delete_many()
        .filter(Column::UserId.eq(&request.user_id))
        .filter(Column::Key.eq(&request.key))
        .filter(Column::ClaimId.eq(claim_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes the keys expired by `now`, by the index on `expires_at`; how many.
pub async fn delete_expired_keys(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let deleted = IdempotencyKey::delete_many()
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// The columns of a fresh claim, apart from the primary key.
fn claimed(request: &KeyedRequest, claim_id: Uuid, times: ClaimTimes) -> ActiveModel {
    ActiveModel {
        request_sha256: Set(request.request_sha256.to_vec()),
        claim_id: Set(claim_id),
        status: Set(None),
        headers: Set(None),
        body: Set(None),
        created_at: Set(times.now),
        expires_at: Set(times.expires_at),
        ..ActiveModel::default()
    }
}

fn the_row(request: &KeyedRequest) -> Select<IdempotencyKey> {
    IdempotencyKey::find_by_id((request.user_id.clone(), request.key.clone()))
}
