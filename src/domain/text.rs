use crate::error::AppError;

/// Trims surrounding Unicode whitespace and checks the length in Unicode scalar values.
pub(super) fn trimmed_text(
    raw: &str,
    field: &'static str,
    max_chars: usize,
) -> Result<String, AppError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if chars > max_chars {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max_chars} characters"),
        ));
    }
    // PostgreSQL rejects NUL in text; refuse it here with a clear message instead.
    if text.contains('\0') {
        return Err(AppError::bad_input(
            field,
            format!("{field} must not contain NUL characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A ticket's subject: trimmed, 1 to 255 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        trimmed_text(raw, "subject", Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The text of a message: trimmed, 1 to 10,000 characters. `field` names the input it
/// came from (`message` when opening a ticket, `body` when replying).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str, field: &'static str) -> Result<Self, AppError> {
        trimmed_text(raw, field, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(error: AppError) -> &'static str {
        error.field().expect("a BAD_USER_INPUT")
    }

    #[test]
    fn subject_is_stored_trimmed() {
        let subject = Subject::parse("\u{3000} Printer on fire \n").expect("valid subject");
        assert_eq!(subject.into_inner(), "Printer on fire");
    }

    #[test]
    fn subject_of_only_whitespace_is_rejected() {
        assert_eq!(field_of(Subject::parse(" \t\n").unwrap_err()), "subject");
    }

    #[test]
    fn subject_length_counts_characters_not_bytes() {
        assert!(Subject::parse(&"é".repeat(255)).is_ok());
        assert!(Subject::parse(&"é".repeat(256)).is_err());
    }

    #[test]
    fn subject_length_is_measured_after_trimming() {
        let padded = format!("  {}  ", "a".repeat(255));
        assert!(Subject::parse(&padded).is_ok());
    }

    #[test]
    fn message_body_accepts_ten_thousand_characters_and_no_more() {
        assert!(MessageBody::parse(&"x".repeat(10_000), "body").is_ok());
        let error = MessageBody::parse(&"x".repeat(10_001), "body").unwrap_err();
        assert_eq!(field_of(error), "body");
    }

    #[test]
    fn message_body_names_the_field_it_came_from() {
        assert_eq!(
            field_of(MessageBody::parse("", "message").unwrap_err()),
            "message"
        );
    }

    #[test]
    fn text_with_a_nul_character_is_rejected() {
        assert!(Subject::parse("a\0b").is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_parsed_subject_is_trimmed_bounded_and_stable(raw in "\\PC{0,300}|[ \\t\\n\\u{3000}a-z\\u{0}]{0,300}") {
            if let Ok(subject) = Subject::parse(&raw) {
                let text = subject.into_inner();
                prop_assert_eq!(text.trim(), text.as_str());
                prop_assert!((1..=Subject::MAX_CHARS).contains(&text.chars().count()));
                prop_assert!(!text.contains('\0'));
                prop_assert_eq!(Subject::parse(&text).map(Subject::into_inner).ok(), Some(text));
            } else {
                let trimmed = raw.trim();
                let count = trimmed.chars().count();
                prop_assert!(count == 0 || count > Subject::MAX_CHARS || trimmed.contains('\0'));
            }
        }

        #[test]
        fn a_message_body_of_valid_length_is_accepted(body in "[^\\u{0}]{1,200}") {
            prop_assume!(!body.trim().is_empty());
            prop_assert!(MessageBody::parse(&body, "body").is_ok());
        }
    }
}
