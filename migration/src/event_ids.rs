//! Ids of events made after the fact, by the backfill of `create_ticket_events` and by
//! `supportdesk seed`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The id of an event that happened at `at`, made after the fact: a UUID v7 of that
/// millisecond, with the microseconds within it in the counter bits, then `position`
/// (the event's place in its ticket's timeline), then the random tail of `source` (the
/// ticket or message it tells of). Ids so sort by time, a ticket's events of one instant
/// in their order, and the same data always gets the same ids. `supportdesk seed` makes
/// its events' ids with it too.
pub fn historical_event_id(at: DateTime<Utc>, position: u16, source: Uuid) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let micros = u16::try_from(at.timestamp_subsec_micros() % 1_000).unwrap_or(0);
    let mut bits = [0u8; 10];
    bits[..2].copy_from_slice(&micros.to_be_bytes());
    // The two high bits of this byte become the UUID's variant.
    bits[2..4].copy_from_slice(&position.min(0x3fff).to_be_bytes());
    bits[4..].copy_from_slice(&source.as_bytes()[10..]);
    uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(micros: i64) -> DateTime<Utc> {
        Utc.timestamp_micros(1_790_000_000_000_000 + micros)
            .single()
            .expect("an instant")
    }

    #[test]
    fn historical_ids_sort_by_time_to_the_microsecond() {
        let source = Uuid::now_v7();
        let earlier = historical_event_id(at(1), 5, source);
        let later = historical_event_id(at(2), 0, source);
        assert!(earlier < later);
        assert_eq!(later.get_version_num(), 7);
    }

    #[test]
    fn a_tickets_events_of_one_instant_sort_by_position() {
        let first = historical_event_id(at(7), 0, Uuid::now_v7());
        let second = historical_event_id(at(7), 1, Uuid::now_v7());
        assert!(first < second);
    }

    #[test]
    fn the_same_event_gets_the_same_id() {
        let source = Uuid::now_v7();
        assert_eq!(
            historical_event_id(at(3), 2, source),
            historical_event_id(at(3), 2, source)
        );
    }
}
