//! Triage: a ticket's tags, its assignee, the patch that changes them with its status and
//! priority, and the response times the changes set.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::prelude::{Role, TicketPriority, TicketStatus};
use entity::ticket;

use super::text::trimmed_text;
use crate::error::AppError;

/// A staff-only label: trimmed and lower-cased (ASCII only, so that no look-alike letter
/// lower-cases into one), then `^[a-z0-9][a-z0-9_:-]{0,39}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub const MAX_CHARS: usize = 40;
    /// The most tags one ticket holds.
    pub const MAX_PER_TICKET: usize = 20;

    /// `field` names the input it came from (`addTags`, `removeTags`, `tags`).
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, AppError> {
        let tag = raw.trim().to_ascii_lowercase();
        let mut chars = tag.chars();
        let first_fits = chars
            .next()
            .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit());
        let rest_fits = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '-'));
        if first_fits && rest_fits && tag.len() <= Self::MAX_CHARS {
            Ok(Self(tag))
        } else {
            Err(AppError::bad_input(
                field,
                format!(
                    "{field}: a tag is 1-40 characters of a-z, 0-9, '_', ':' and '-', \
                     starting with a letter or a digit"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The user id of a ticket's owner among the admins: any id a token's `sub` may hold,
/// trimmed, 1 to 255 characters. The server keeps no user directory, so it cannot check
/// that the id belongs to an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssigneeId(String);

impl AssigneeId {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        trimmed_text(raw, "assigneeId", 255).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What a patch does to a ticket's assignee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssigneeChange {
    Assign(AssigneeId),
    Unassign,
}

/// A patch as the client sent it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PatchInput<'a> {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub assignee_id: Option<&'a str>,
    pub unassign: bool,
    pub add_tags: Option<&'a [String]>,
    pub remove_tags: Option<&'a [String]>,
}

/// A valid patch: what it names is applied, in one transaction, or none of it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketPatch {
    status: Option<TicketStatus>,
    priority: Option<TicketPriority>,
    assignee: Option<AssigneeChange>,
    add_tags: BTreeSet<Tag>,
    remove_tags: BTreeSet<Tag>,
}

impl TicketPatch {
    /// Checks, in this order: that it names something, the assignee, each tag, a tag
    /// both added and removed, and more tags added than a ticket holds.
    pub fn parse(input: PatchInput<'_>) -> Result<Self, AppError> {
        let names_nothing = input.status.is_none()
            && input.priority.is_none()
            && input.assignee_id.is_none()
            && !input.unassign
            && input.add_tags.is_none()
            && input.remove_tags.is_none();
        if names_nothing {
            return Err(AppError::bad_input(
                "input",
                "The patch must name at least one change",
            ));
        }
        let assignee = match (input.assignee_id, input.unassign) {
            (Some(_), true) => {
                return Err(AppError::bad_input(
                    "assigneeId",
                    "assigneeId and unassign: true cannot go together",
                ));
            }
            (Some(raw), false) => Some(AssigneeChange::Assign(AssigneeId::parse(raw)?)),
            (None, true) => Some(AssigneeChange::Unassign),
            (None, false) => None,
        };
        let add_tags = tags(input.add_tags, "addTags")?;
        let remove_tags = tags(input.remove_tags, "removeTags")?;
        if add_tags.intersection(&remove_tags).next().is_some() {
            return Err(AppError::bad_input(
                "addTags",
                "A tag cannot be both added and removed",
            ));
        }
        if add_tags.len() > Tag::MAX_PER_TICKET {
            return Err(too_many_tags());
        }
        Ok(Self {
            status: input.status,
            priority: input.priority,
            assignee,
            add_tags,
            remove_tags,
        })
    }

    /// Whether it adds or removes tags: only then are the ticket's tags worth reading.
    pub fn touches_tags(&self) -> bool {
        !self.add_tags.is_empty() || !self.remove_tags.is_empty()
    }

    /// `updateTicketStatus`: a patch of the status alone.
    pub fn status_only(status: TicketStatus) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// The ticket once patched at `at`, and the tags that really change, given the tags
    /// it holds. BAD_USER_INPUT (`addTags`) when it would hold more than it may.
    pub fn apply(
        &self,
        ticket: &ticket::Model,
        tags: &BTreeSet<String>,
        at: DateTime<Utc>,
    ) -> Result<Patched, AppError> {
        let mut after = ticket.clone();
        if let Some(status) = self.status {
            after.status = status;
            after.resolved_at = resolved_at_after(ticket.status, status, ticket.resolved_at, at);
        }
        if let Some(priority) = self.priority {
            after.priority = priority;
        }
        match &self.assignee {
            Some(AssigneeChange::Assign(AssigneeId(id))) => after.assignee_id = Some(id.clone()),
            Some(AssigneeChange::Unassign) => after.assignee_id = None,
            None => {}
        }
        // A tag-only change leaves `updated_at`, so that a customer cannot detect it.
        if after != *ticket {
            after.updated_at = at;
        }
        let added: Vec<String> = self
            .add_tags
            .iter()
            .filter(|tag| !tags.contains(tag.as_str()))
            .map(|tag| tag.as_str().to_owned())
            .collect();
        let removed: Vec<String> = self
            .remove_tags
            .iter()
            .filter(|tag| tags.contains(tag.as_str()))
            .map(|tag| tag.as_str().to_owned())
            .collect();
        if tags.len() + added.len() - removed.len() > Tag::MAX_PER_TICKET {
            return Err(too_many_tags());
        }
        Ok(Patched {
            ticket: after,
            added_tags: added,
            removed_tags: removed,
        })
    }
}

/// A ticket as a patch leaves it, and the tags it really added and removed, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patched {
    pub ticket: ticket::Model,
    pub added_tags: Vec<String>,
    pub removed_tags: Vec<String>,
}

fn tags(raw: Option<&[String]>, field: &'static str) -> Result<BTreeSet<Tag>, AppError> {
    raw.unwrap_or_default()
        .iter()
        .map(|tag| Tag::parse(tag, field))
        .collect()
}

fn too_many_tags() -> AppError {
    AppError::bad_input(
        "addTags",
        format!("A ticket holds at most {} tags", Tag::MAX_PER_TICKET),
    )
}

fn is_done(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Resolved | TicketStatus::Closed)
}

/// `resolved_at` once the status moves from `from` to `to`: set when the ticket becomes
/// RESOLVED or CLOSED from OPEN or IN_PROGRESS, cleared when it goes back to OPEN or
/// IN_PROGRESS, kept otherwise (RESOLVED to CLOSED, or no move).
pub fn resolved_at_after(
    from: TicketStatus,
    to: TicketStatus,
    resolved_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (is_done(from), is_done(to)) {
        (false, true) => Some(at),
        (_, false) => None,
        (true, true) => resolved_at,
    }
}

/// `first_responded_at` once a message is added: set by the first public message of an
/// admin, and never again.
pub fn first_responded_at_after(
    first_responded_at: Option<DateTime<Utc>>,
    author: Role,
    internal: bool,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match first_responded_at {
        None if author == Role::Admin && !internal => Some(at),
        kept => kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(error: AppError) -> &'static str {
        error.field().expect("a BAD_USER_INPUT")
    }

    #[test]
    fn a_tag_is_trimmed_and_lower_cased() {
        let tag = Tag::parse("  Billing:EU-2  ", "addTags").expect("valid");
        assert_eq!(tag.as_str(), "billing:eu-2");
    }

    #[test]
    fn a_tag_of_forty_characters_fits_and_of_forty_one_does_not() {
        assert!(Tag::parse(&"a".repeat(40), "addTags").is_ok());
        assert_eq!(
            field_of(Tag::parse(&"a".repeat(41), "addTags").unwrap_err()),
            "addTags"
        );
    }

    #[test]
    fn look_alike_letters_inner_spaces_and_leading_punctuation_are_refused() {
        // KELVIN SIGN lower-cases to an ASCII k under Unicode rules; a Cyrillic a looks
        // like a Latin one.
        for raw in [
            "\u{212A}ey",
            "b\u{0430}d",
            "two words",
            "-leading",
            "",
            "   ",
            "tab\tbed",
        ] {
            assert!(Tag::parse(raw, "removeTags").is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_patch_that_names_nothing_is_refused_naming_input() {
        let error = TicketPatch::parse(PatchInput::default()).unwrap_err();
        assert_eq!(field_of(error), "input");
    }

    #[test]
    fn an_assignee_with_unassign_is_refused_naming_assignee_id() {
        let input = PatchInput {
            assignee_id: Some("root"),
            unassign: true,
            ..PatchInput::default()
        };
        assert_eq!(
            field_of(TicketPatch::parse(input).unwrap_err()),
            "assigneeId"
        );
    }

    #[test]
    fn a_tag_both_added_and_removed_after_normalization_is_refused_naming_add_tags() {
        let add = vec!["Billing".to_owned()];
        let remove = vec![" billing ".to_owned()];
        let input = PatchInput {
            add_tags: Some(&add),
            remove_tags: Some(&remove),
            ..PatchInput::default()
        };
        assert_eq!(field_of(TicketPatch::parse(input).unwrap_err()), "addTags");
    }

    #[test]
    fn resolving_sets_resolved_at_and_reopening_clears_it() {
        let at = Utc::now();
        let earlier = at - chrono::Duration::hours(1);
        use TicketStatus::*;
        assert_eq!(resolved_at_after(Open, Resolved, None, at), Some(at));
        assert_eq!(resolved_at_after(InProgress, Closed, None, at), Some(at));
        assert_eq!(
            resolved_at_after(Resolved, Closed, Some(earlier), at),
            Some(earlier)
        );
        assert_eq!(resolved_at_after(Resolved, Open, Some(earlier), at), None);
        assert_eq!(resolved_at_after(Open, InProgress, None, at), None);
    }

    #[test]
    fn only_an_admins_first_public_message_sets_the_first_response() {
        let at = Utc::now();
        let earlier = at - chrono::Duration::hours(1);
        assert_eq!(
            first_responded_at_after(None, Role::Admin, false, at),
            Some(at)
        );
        assert_eq!(first_responded_at_after(None, Role::Admin, true, at), None);
        assert_eq!(
            first_responded_at_after(None, Role::Customer, false, at),
            None
        );
        assert_eq!(
            first_responded_at_after(Some(earlier), Role::Admin, false, at),
            Some(earlier)
        );
    }
}
