//! A full-text search as the client wrote it, in the words of PostgreSQL's
//! `websearch_to_tsquery`: words that must all appear, `"quoted phrases"`, `-word` to
//! exclude, `or` between two alternatives.

use super::text::trimmed_text;
use crate::error::AppError;

/// A search: trimmed, 1 to 200 characters, no NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchQuery(String);

/// One term of a search: a word or a quoted phrase, wanted or excluded.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    text: String,
    excluded: bool,
}

impl SearchQuery {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        trimmed_text(raw, "search", Self::MAX_CHARS).map(Self)
    }

    /// As PostgreSQL's `websearch_to_tsquery` reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same search as an FTS5 query: each word and phrase quoted (so that no FTS5
    /// syntax in it means anything), wanted ones joined with AND (or OR where the client
    /// wrote `or`), excluded ones with NOT. `None` when it wants nothing (only excluded
    /// terms, or only operators): FTS5 cannot match "everything but", so such a search
    /// finds nothing on SQLite.
    pub fn fts5(&self) -> Option<String> {
        let terms = terms(&self.0);
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut or_pending = false;
        let mut excluded = Vec::new();
        for item in terms {
            match item {
                Item::Or => or_pending = true,
                Item::Term(term) if term.excluded => excluded.push(quoted(&term.text)),
                Item::Term(term) => {
                    match groups.last_mut() {
                        Some(group) if or_pending => group.push(quoted(&term.text)),
                        _ => groups.push(vec![quoted(&term.text)]),
                    }
                    or_pending = false;
                }
            }
        }
        if groups.is_empty() {
            return None;
        }
        let mut query = groups
            .iter()
            .map(|group| format!("({})", group.join(" OR ")))
            .collect::<Vec<_>>()
            .join(" AND ");
        for term in excluded {
            query = format!("({query}) NOT {term}");
        }
        Some(query)
    }
}

enum Item {
    Term(Term),
    Or,
}

/// The words and phrases of a search, in order.
fn terms(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return items;
        }
        let excluded = rest.starts_with('-');
        if excluded {
            rest = &rest[1..];
        }
        let (word, after) = if let Some(phrase) = rest.strip_prefix('"') {
            let end = phrase.find('"').unwrap_or(phrase.len());
            (&phrase[..end], phrase.get(end + 1..).unwrap_or(""))
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = after;
        if !excluded && word.eq_ignore_ascii_case("or") {
            items.push(Item::Or);
        } else if word.chars().any(char::is_alphanumeric) {
            items.push(Item::Term(Term {
                text: word.to_owned(),
                excluded,
            }));
        }
    }
}

/// A word or phrase as an FTS5 string: double quotes doubled inside.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts5(raw: &str) -> Option<String> {
        SearchQuery::parse(raw).expect("valid").fts5()
    }

    #[test]
    fn words_must_all_appear() {
        assert_eq!(
            fts5("printer refund").as_deref(),
            Some(r#"("printer") AND ("refund")"#)
        );
    }

    #[test]
    fn phrases_stay_phrases_and_or_joins_alternatives() {
        assert_eq!(
            fts5(r#""paper jam" or toner"#).as_deref(),
            Some(r#"("paper jam" OR "toner")"#)
        );
    }

    #[test]
    fn excluded_words_are_taken_away() {
        assert_eq!(
            fts5("printer -laser").as_deref(),
            Some(r#"(("printer")) NOT "laser""#)
        );
    }

    #[test]
    fn fts5_syntax_in_a_search_means_nothing() {
        assert_eq!(
            fts5(r#"NEAR( a* ^b"#).as_deref(),
            Some(r#"("NEAR(") AND ("a*") AND ("^b")"#)
        );
        assert_eq!(fts5(r#"say "hi"#).as_deref(), Some(r#"("say") AND ("hi")"#));
    }

    #[test]
    fn a_search_of_operators_or_exclusions_only_wants_nothing() {
        for raw in ["-printer", "or", "\"\"", "* ( ) :"] {
            assert_eq!(fts5(raw), None, "{raw}");
        }
    }

    #[test]
    fn a_search_is_one_to_two_hundred_characters_after_trimming() {
        assert!(SearchQuery::parse("   ").is_err());
        assert!(SearchQuery::parse(&"a".repeat(201)).is_err());
        assert!(SearchQuery::parse(&"a".repeat(200)).is_ok());
        assert!(SearchQuery::parse("a\0b").is_err());
    }
}
