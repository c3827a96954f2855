use sea_orm::entity::prelude::*;

/// A mutation sent with an `Idempotency-Key`: claimed by its first request, then holding
/// that request's answer until `expires_at`. A row without `status` is still running.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// The token's `sub`: keys are per user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 of the first request's body: a retry must send the same bytes.
    pub request_sha256: Vec<u8>,
    /// Made anew by each request that claims the key, so that one whose claim was taken
    /// over (as abandoned) can no longer complete or release it.
    pub claim_id: Uuid,
    /// The answer's HTTP status; `None` while its request runs.
    pub status: Option<i16>,
    /// The answer's headers, a JSON array of `[name, value]` pairs.
    #[sea_orm(column_type = "Text", nullable)]
    pub headers: Option<String>,
    /// The answer's body, encrypted with the key of webhook secrets (nonce, ciphertext and
    /// tag), the user and key authenticated with it.
    pub body: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
