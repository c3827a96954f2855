//! Cursors of a ticket connection: opaque to clients (base64url), made for one order and
//! one set of filters, and signed with a key the fleet shares, so that a cursor that is
//! malformed, forged, or from another order or other filters is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::prelude::TicketPriority;
use entity::ticket;
use hmac::{Hmac, Mac};
use sea_orm::ActiveEnum;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ListOrder;
use crate::error::AppError;

const VERSION: u8 = 1;
/// version, order, list fingerprint, priority, created_at, updated_at, id.
const PAYLOAD: usize = 1 + 1 + 8 + 2 + 8 + 8 + 16;
const TAG: usize = 16;

/// Where a ticket stands in a list: every key any order sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub priority: TicketPriority,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub id: Uuid,
}

impl From<&ticket::Model> for Position {
    fn from(ticket: &ticket::Model) -> Self {
        Self {
            priority: ticket.priority,
            created_at: ticket.created_at,
            updated_at: ticket.updated_at,
            id: ticket.id,
        }
    }
}

/// What a cursor is valid for: one order, and the fingerprint of one viewer's filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListKey {
    order: ListOrder,
    fingerprint: [u8; 8],
}

impl ListKey {
    /// `filters` is the canonical text of the list's filters and owner scope: a cursor
    /// made under other filters carries another fingerprint.
    pub fn new(order: ListOrder, filters: &str) -> Self {
        let digest = Sha256::digest(filters.as_bytes());
        let mut fingerprint = [0; 8];
        fingerprint.copy_from_slice(&digest[..8]);
        Self { order, fingerprint }
    }
}

/// Makes and reads cursors with the fleet's key.
#[derive(Clone)]
pub struct CursorSigner {
    key: Vec<u8>,
}

impl CursorSigner {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    pub fn cursor(&self, list: ListKey, position: &Position) -> String {
        let payload = payload(list, position);
        let mut token = payload.to_vec();
        token.extend_from_slice(&self.tag(&payload));
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The position `cursor` names in `list`; BAD_USER_INPUT naming `field` (`after` or
    /// `before`) when it is not one this server made for this list.
    pub fn position(
        &self,
        list: ListKey,
        cursor: &str,
        field: &'static str,
    ) -> Result<Position, AppError> {
        let refused = || {
            AppError::bad_input(
                field,
                format!("{field} is not a cursor of this list (its order and filters)"),
            )
        };
        let token = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
        if token.len() != PAYLOAD + TAG {
            return Err(refused());
        }
        let (payload, tag) = token.split_at(PAYLOAD);
        let mut mac = self.mac();
        mac.update(payload);
        mac.verify_truncated_left(tag).map_err(|_| refused())?;
        if payload[0] != VERSION
            || payload[1] != order_byte(list.order)
            || payload[2..10] != list.fingerprint
        {
            return Err(refused());
        }
        decode_position(&payload[10..]).ok_or_else(refused)
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG] {
        let mut mac = self.mac();
        mac.update(payload);
        let mut tag = [0; TAG];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..TAG]);
        tag
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }
}

fn order_byte(order: ListOrder) -> u8 {
    match order {
        ListOrder::NewestFirst => 1,
        ListOrder::OldestFirst => 2,
        ListOrder::Priority => 3,
        ListOrder::RecentlyUpdated => 4,
        ListOrder::Relevance => 5,
    }
}

fn payload(list: ListKey, position: &Position) -> [u8; PAYLOAD] {
    let mut payload = [0; PAYLOAD];
    payload[0] = VERSION;
    payload[1] = order_byte(list.order);
    payload[2..10].copy_from_slice(&list.fingerprint);
    payload[10..12].copy_from_slice(&position.priority.to_value().to_be_bytes());
    payload[12..20].copy_from_slice(&position.created_at.timestamp_micros().to_be_bytes());
    payload[20..28].copy_from_slice(&position.updated_at.timestamp_micros().to_be_bytes());
    payload[28..44].copy_from_slice(position.id.as_bytes());
    payload
}

fn decode_position(bytes: &[u8]) -> Option<Position> {
    let priority = i16::from_be_bytes(bytes.get(0..2)?.try_into().ok()?);
    let micros = |range: std::ops::Range<usize>| {
        let micros = i64::from_be_bytes(bytes.get(range)?.try_into().ok()?);
        DateTime::from_timestamp_micros(micros)
    };
    Some(Position {
        priority: TicketPriority::try_from_value(&priority).ok()?,
        created_at: micros(2..10)?,
        updated_at: micros(10..18)?,
        id: Uuid::from_slice(bytes.get(18..34)?).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        let at = DateTime::from_timestamp_micros(1_733_000_000_123_456).expect("a time");
        Position {
            priority: TicketPriority::High,
            created_at: at,
            updated_at: at,
            id: Uuid::now_v7(),
        }
    }

    fn signer() -> CursorSigner {
        CursorSigner::new(b"a key the fleet shares".to_vec())
    }

    #[test]
    fn a_cursor_names_the_position_it_was_made_at() {
        let list = ListKey::new(ListOrder::Priority, "status=OPEN");
        let made_at = position();
        let cursor = signer().cursor(list, &made_at);
        assert_eq!(
            signer().position(list, &cursor, "after").ok(),
            Some(made_at)
        );
    }

    #[test]
    fn a_cursor_of_another_order_or_other_filters_is_refused() {
        let made = ListKey::new(ListOrder::Priority, "status=OPEN");
        let cursor = signer().cursor(made, &position());
        for other in [
            ListKey::new(ListOrder::NewestFirst, "status=OPEN"),
            ListKey::new(ListOrder::Priority, "status=CLOSED"),
        ] {
            assert!(signer().position(other, &cursor, "before").is_err());
        }
    }

    #[test]
    fn a_tampered_or_foreign_cursor_is_refused() {
        let list = ListKey::new(ListOrder::NewestFirst, "");
        let cursor = signer().cursor(list, &position());
        let mut bytes = URL_SAFE_NO_PAD.decode(&cursor).expect("base64");
        bytes[30] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(&bytes);
        let foreign = CursorSigner::new(b"another key".to_vec()).cursor(list, &position());
        for cursor in [
            tampered.as_str(),
            foreign.as_str(),
            "",
            "not base64!",
            "AAAA",
        ] {
            assert!(
                signer().position(list, cursor, "after").is_err(),
                "{cursor}"
            );
        }
    }
}
