//! The bracket nesting of a document's text, checked before the parser recurses on it.

use crate::error::AppError;

fn too_complex(message: String) -> AppError {
    AppError::QueryTooComplex(message)
}

/// Refuses text whose brackets nest deeper than `max_nesting`, before it is parsed.
/// Brackets inside strings, block strings and comments do not count.
pub fn check_nesting(query: &str, max_nesting: usize) -> Result<(), AppError> {
    let mut depth = 0usize;
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '[' | '(' => {
                depth += 1;
                if depth > max_nesting {
                    return Err(too_complex(format!(
                        "Query nests deeper than {max_nesting} levels"
                    )));
                }
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '"' => skip_string(&mut chars),
            _ => {}
        }
    }
    Ok(())
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Skips the rest of a string literal whose opening quote was read: `""` is an empty
/// string, `"""` opens a block string.
fn skip_string(chars: &mut Chars<'_>) {
    if chars.next_if_eq(&'"').is_none() {
        skip_until_quotes(chars, 1);
    } else if chars.next_if_eq(&'"').is_some() {
        skip_until_quotes(chars, 3);
    }
}

/// Skips past `closing` consecutive unescaped quotes.
fn skip_until_quotes(chars: &mut Chars<'_>, closing: usize) {
    let mut quotes = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                quotes = 0;
            }
            '"' => {
                quotes += 1;
                if quotes == closing {
                    return;
                }
            }
            _ => quotes = 0,
        }
    }
}
