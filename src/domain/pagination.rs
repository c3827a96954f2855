use crate::error::AppError;

/// The order of a ticket list. Every order is total (ties broken by id), so that pages
/// never repeat or skip a ticket while nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOrder {
    /// `created_at` descending, then id descending.
    NewestFirst,
    /// The exact reverse of `NewestFirst`.
    OldestFirst,
    /// The most urgent first; within a priority the oldest first, then id ascending.
    Priority,
    /// `updated_at` descending, then id descending.
    RecentlyUpdated,
    /// The best match of a search first; ties newest first.
    Relevance,
}

/// A valid page request: `page` ≥ 1 and 1 ≤ `limit` ≤ 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    page: u64,
    limit: u64,
}

impl PageRequest {
    pub const MAX_LIMIT: i32 = 100;

    pub fn parse(page: i32, limit: i32) -> Result<Self, AppError> {
        if page < 1 {
            return Err(AppError::bad_input("page", "page must be at least 1"));
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(AppError::bad_input(
                "limit",
                format!("limit must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        Ok(Self {
            page: page.unsigned_abs().into(),
            limit: limit.unsigned_abs().into(),
        })
    }

    pub fn page(self) -> u64 {
        self.page
    }

    pub fn limit(self) -> u64 {
        self.limit
    }

    /// Rows to skip to reach this page.
    pub fn offset(self) -> u64 {
        (self.page - 1) * self.limit
    }
}

/// A valid window of a connection: `first` or `last`, 1 to 100; neither is `first: 10`;
/// both are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowRequest {
    count: u64,
    backward: bool,
}

impl WindowRequest {
    pub const DEFAULT_FIRST: i32 = 10;

    pub fn parse(first: Option<i32>, last: Option<i32>) -> Result<Self, AppError> {
        let (count, backward, field) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input(
                    "last",
                    "first and last cannot go together",
                ));
            }
            (None, Some(last)) => (last, true, "last"),
            (first, None) => (first.unwrap_or(Self::DEFAULT_FIRST), false, "first"),
        };
        if !(1..=PageRequest::MAX_LIMIT).contains(&count) {
            return Err(AppError::bad_input(
                field,
                format!("{field} must be between 1 and {}", PageRequest::MAX_LIMIT),
            ));
        }
        Ok(Self {
            count: count.unsigned_abs().into(),
            backward,
        })
    }

    pub fn count(self) -> u64 {
        self.count
    }

    /// `last`: read from the end (or from `before`) backwards.
    pub fn backward(self) -> bool {
        self.backward
    }
}

/// How many events one read of a timeline returns: 1 to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLimit(u64);

impl EventLimit {
    pub const MAX: i32 = 100;
    /// The largest page: what a subscriber reads at once.
    pub const LARGEST: Self = Self(100);

    pub fn parse(limit: i32) -> Result<Self, AppError> {
        if !(1..=Self::MAX).contains(&limit) {
            return Err(AppError::bad_input(
                "limit",
                format!("limit must be between 1 and {}", Self::MAX),
            ));
        }
        Ok(Self(limit.unsigned_abs().into()))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// The arithmetic of a page within `total` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSummary {
    pub total: u64,
    pub page: u64,
    pub limit: u64,
    pub total_pages: u64,
}

impl PageSummary {
    pub fn new(request: PageRequest, total: u64) -> Self {
        Self {
            total,
            page: request.page,
            limit: request.limit,
            total_pages: total.div_ceil(request.limit),
        }
    }

    pub fn has_next_page(&self) -> bool {
        self.page < self.total_pages
    }

    pub fn has_previous_page(&self) -> bool {
        self.page > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(page: i32, limit: i32, total: u64) -> PageSummary {
        PageSummary::new(
            PageRequest::parse(page, limit).expect("valid request"),
            total,
        )
    }

    #[test]
    fn page_zero_is_rejected() {
        assert!(PageRequest::parse(0, 10).is_err());
    }

    #[test]
    fn limit_must_lie_between_one_and_one_hundred() {
        assert!(PageRequest::parse(1, 0).is_err());
        assert!(PageRequest::parse(1, 1).is_ok());
        assert!(PageRequest::parse(1, 100).is_ok());
        assert!(PageRequest::parse(1, 101).is_err());
    }

    #[test]
    fn an_event_limit_lies_between_one_and_one_hundred() {
        assert!(EventLimit::parse(0).is_err());
        assert_eq!(EventLimit::parse(1).map(EventLimit::get).ok(), Some(1));
        assert_eq!(EventLimit::parse(100).map(EventLimit::get).ok(), Some(100));
        assert!(EventLimit::parse(101).is_err());
    }

    #[test]
    fn offset_skips_the_earlier_pages() {
        assert_eq!(PageRequest::parse(3, 20).expect("valid").offset(), 40);
    }

    #[test]
    fn total_pages_rounds_up() {
        assert_eq!(summary(1, 10, 21).total_pages, 3);
        assert_eq!(summary(1, 10, 20).total_pages, 2);
    }

    #[test]
    fn no_matches_means_no_pages() {
        let empty = summary(1, 10, 0);
        assert_eq!(empty.total_pages, 0);
        assert!(!empty.has_next_page());
        assert!(!empty.has_previous_page());
    }

    #[test]
    fn a_middle_page_has_neighbours_on_both_sides() {
        let middle = summary(2, 10, 30);
        assert!(middle.has_next_page());
        assert!(middle.has_previous_page());
    }

    #[test]
    fn a_page_past_the_end_keeps_the_totals() {
        let past = summary(9, 10, 15);
        assert_eq!((past.total, past.total_pages), (15, 2));
        assert!(!past.has_next_page());
        assert!(past.has_previous_page());
    }

    #[test]
    fn the_largest_page_number_does_not_overflow_the_offset() {
        let request = PageRequest::parse(i32::MAX, 100).expect("valid");
        assert_eq!(
            request.offset(),
            (u64::from(i32::MAX.unsigned_abs()) - 1) * 100
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_page_request_is_valid_exactly_within_the_bounds(page in any::<i32>(), limit in any::<i32>()) {
            let valid = page >= 1 && (1..=PageRequest::MAX_LIMIT).contains(&limit);
            prop_assert_eq!(PageRequest::parse(page, limit).is_ok(), valid);
        }

        #[test]
        fn the_page_arithmetic_holds_for_any_total(page in 1..i32::MAX, limit in 1..=100i32, total in 0..u64::from(u32::MAX)) {
            let summary = PageSummary::new(PageRequest::parse(page, limit).expect("valid"), total);
            prop_assert!(summary.total_pages * summary.limit >= total);
            prop_assert!(summary.total_pages * summary.limit < total + summary.limit);
            prop_assert_eq!(summary.has_next_page(), summary.page < summary.total_pages);
        }
    }
}
