//! What a ticket list may be narrowed by, beyond its owner and status: priority, assignee
//! and tags, each parsed once.

use entity::prelude::{TicketPriority, TicketStatus};

use super::search::SearchQuery;
use super::triage::{AssigneeId, Tag};
use crate::error::AppError;

/// Whom the listed tickets are assigned to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AssigneeFilter {
    #[default]
    Anyone,
    /// Assigned to this user id.
    To(String),
    /// No assignee.
    Nobody,
}

/// The filters of a list as the client sent them.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilterInput<'a> {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub assignee_id: Option<&'a str>,
    pub unassigned: Option<bool>,
    pub tags: Option<&'a [String]>,
    pub search: Option<&'a str>,
}

/// Valid filters, combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilters {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub assignee: AssigneeFilter,
    /// Every one of them, normalized as tags are, distinct and sorted.
    pub tags: Vec<String>,
    pub search: Option<SearchQuery>,
}

impl ListFilters {
    /// The most tags one list asks for.
    pub const MAX_TAGS: usize = 5;

    /// `unassigned: true` with `assigneeId` is refused naming `unassigned`
    /// (`unassigned: false` is no filter); `tags` holds 1 to 5 valid tags.
    pub fn parse(input: FilterInput<'_>) -> Result<Self, AppError> {
        let assignee = match (input.assignee_id, input.unassigned.unwrap_or(false)) {
            (Some(_), true) => {
                return Err(AppError::bad_input(
                    "unassigned",
                    "unassigned: true cannot go with assigneeId",
                ));
            }
            (Some(raw), false) => AssigneeFilter::To(AssigneeId::parse(raw)?.into_inner()),
            (None, true) => AssigneeFilter::Nobody,
            (None, false) => AssigneeFilter::Anyone,
        };
        let tags = match input.tags {
            None => Vec::new(),
            Some(raw) => {
                let mut tags = raw
                    .iter()
                    .map(|tag| Tag::parse(tag, "tags").map(|tag| tag.as_str().to_owned()))
                    .collect::<Result<Vec<_>, _>>()?;
                tags.sort_unstable();
                tags.dedup();
                if tags.is_empty() || raw.len() > Self::MAX_TAGS {
                    return Err(AppError::bad_input(
                        "tags",
                        format!("tags must hold 1 to {} tags", Self::MAX_TAGS),
                    ));
                }
                tags
            }
        };
        let search = input.search.map(SearchQuery::parse).transpose()?;
        Ok(Self {
            status: input.status,
            priority: input.priority,
            assignee,
            tags,
            search,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(input: FilterInput<'_>) -> &'static str {
        let error = ListFilters::parse(input).expect_err("refused");
        error.field().expect("a BAD_USER_INPUT")
    }

    #[test]
    fn unassigned_with_an_assignee_is_refused_naming_unassigned() {
        let input = FilterInput {
            assignee_id: Some("root"),
            unassigned: Some(true),
            ..FilterInput::default()
        };
        assert_eq!(refused_field(input), "unassigned");
    }

    #[test]
    fn unassigned_false_is_no_filter() {
        let input = FilterInput {
            unassigned: Some(false),
            ..FilterInput::default()
        };
        assert_eq!(
            ListFilters::parse(input).expect("valid").assignee,
            AssigneeFilter::Anyone
        );
    }

    #[test]
    fn tags_are_normalized_as_tags_are() {
        let raw = vec!["BILLING".to_owned(), " vip ".to_owned()];
        let input = FilterInput {
            tags: Some(&raw),
            ..FilterInput::default()
        };
        assert_eq!(
            ListFilters::parse(input).expect("valid").tags,
            ["billing", "vip"]
        );
    }

    #[test]
    fn no_tags_or_more_than_five_are_refused_naming_tags() {
        let none: Vec<String> = Vec::new();
        let six: Vec<String> = (0..6).map(|index| format!("t{index}")).collect();
        for raw in [&none, &six] {
            let input = FilterInput {
                tags: Some(raw),
                ..FilterInput::default()
            };
            assert_eq!(refused_field(input), "tags");
        }
    }
}
