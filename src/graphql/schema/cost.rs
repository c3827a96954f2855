//! What a query may load, estimated before it runs: every field costs one, and a list
//! multiplies what one of its items costs by how many it may hold, as GitHub's node
//! limit does. async-graphql adds it up during validation, variables and defaults
//! applied, and refuses a query past `GRAPHQL_MAX_COST` before any resolver runs.

use async_graphql::parser::types::Field;
use async_graphql::{Value as ConstValue, Variables};

use crate::domain::PageRequest;

/// What a history is counted as: its length is not known before it is loaded, so what
/// one request may load of them is also bounded while loading (`crate::budget::MessageBudget`).
pub const HISTORY_ESTIMATE: usize = 20;

/// A page of at most `limit` tickets: `limit` times one ticket. A limit out of range is
/// refused by the resolver; it costs what the nearest valid one would.
pub fn page(limit: i32, child_complexity: usize) -> usize {
    let items = usize::try_from(limit.clamp(1, PageRequest::MAX_LIMIT)).unwrap_or(1);
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// One result per id, each costing what one item does: `ids` past the most one call takes
/// cost what the most would (the resolver refuses them).
pub fn per_id(ids: usize, child_complexity: usize) -> usize {
    ids.clamp(1, crate::tickets::MAX_BULK_IDS)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// How many ids of a bulk update count as one mutation against the rate limit.
pub const IDS_PER_MUTATION: u64 = 10;

/// What a root field of a mutation costs against the user's rate limit: one, and for
/// `updateTickets` one per 10 ids (rounded up), so that a bulk call cannot go around the
/// limit. Its `ids` are read as the request gives them, inline or in a variable; a value
/// that is not a list (coerced to a list of one) costs one.
pub fn root_field_rate_cost(field: &Field, variables: &Variables) -> u64 {
    if field.name.node != "updateTickets" {
        return 1;
    }
    let ids = field.get_argument("ids").and_then(|ids| {
        ids.node
            .clone()
            .into_const_with(|name| variables.get(&name).cloned().ok_or(()))
            .ok()
    });
    match ids {
        // Past the most one call takes, the resolver refuses the call: it costs what the
        // most would, so that the client hears why rather than to retry.
        Some(ConstValue::List(ids)) => (ids.len().min(crate::tickets::MAX_BULK_IDS) as u64)
            .div_ceil(IDS_PER_MUTATION)
            .max(1),
        _ => 1,
    }
}

/// What a delivery's attempts are counted as: its schedule makes at most eight; only
/// redeliveries add more.
pub const ATTEMPTS_ESTIMATE: usize = 8;

/// A ticket's message history.
pub fn history(child_complexity: usize) -> usize {
    estimated(HISTORY_ESTIMATE, child_complexity)
}

/// A webhook delivery's attempts.
pub fn attempts(child_complexity: usize) -> usize {
    estimated(ATTEMPTS_ESTIMATE, child_complexity)
}

/// A list whose length is not known before it is loaded, counted as `estimate` items.
fn estimated(estimate: usize, child_complexity: usize) -> usize {
    estimate.saturating_mul(child_complexity).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_costs_its_limit_times_one_item() {
        assert_eq!(page(10, 3), 31);
    }

    #[test]
    fn limits_out_of_range_cost_what_the_nearest_valid_one_costs() {
        assert_eq!(page(-5, 3), page(1, 3));
        assert_eq!(page(i32::MAX, 3), page(PageRequest::MAX_LIMIT, 3));
    }

    #[test]
    fn costs_saturate_instead_of_overflowing() {
        assert_eq!(history(usize::MAX), usize::MAX);
    }
}
