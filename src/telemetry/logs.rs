//! Log lines on stderr: for people, coloured only at a terminal, or one JSON object per
//! line for a collector.

use std::ffi::OsString;
use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one line per event, coloured when stderr is a terminal.
    #[default]
    Text,
    /// For log collectors: one JSON object per line.
    Json,
}

/// The log layer, filtered by `RUST_LOG` (`info` for supportdesk by default).
pub(super) fn log_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,opentelemetry=warn"));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer
            .with_ansi(colours_wanted(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => layer
            .json()
            // `message` beside `level` and `target`, not nested in `fields`.
            .flatten_event(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    }
}

/// A log field's value that a client chose (a path, a reason quoting a token's claims):
/// written as it is when it is plain text — visible ASCII without quote or backslash —
/// and otherwise quoted and escaped as `Debug` writes a string. In a text log line a
/// space, a quote or a line break in such a value could end the field and forge others
/// (`x" level=ERROR fake="1`), or a whole line.
///
/// `Debug` (`?value`) escapes as well, but quotes every value, plain ones included: in
/// the JSON log and on trace attributes those quotes would be part of the value.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let plain = !text.is_empty()
            && text
                .bytes()
                .all(|byte| byte.is_ascii_graphic() && byte != b'"' && byte != b'\\');
        if plain {
            f.write_str(&text)
        } else {
            write!(f, "{text:?}")
        }
    }
}

/// Colours only for a person at a terminal who has not asked for none with a non-empty
/// `NO_COLOR` (<https://no-color.org>): escape codes are noise in a file or a collector.
fn colours_wanted(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{Escaped, colours_wanted};

    #[test]
    fn plain_text_is_logged_as_it_is() {
        assert_eq!(Escaped("/graphql").to_string(), "/graphql");
    }

    #[test]
    fn text_that_could_forge_a_field_is_quoted_and_escaped() {
        assert_eq!(
            Escaped("x\" level=ERROR fake=\"1").to_string(),
            r#""x\" level=ERROR fake=\"1""#
        );
    }

    #[test]
    fn text_with_more_than_visible_ascii_is_quoted_and_escaped() {
        for text in ["a\nb", "a\u{85}b", "a\u{2028}b", "a\\b", ""] {
            let escaped = Escaped(text).to_string();
            assert_eq!(escaped, format!("{text:?}"));
        }
    }

    #[test]
    fn a_terminal_gets_colours() {
        assert!(colours_wanted(true, None));
    }

    #[test]
    fn a_pipe_or_a_file_gets_no_colours() {
        assert!(!colours_wanted(false, None));
    }

    #[test]
    fn no_color_turns_colours_off_at_a_terminal() {
        assert!(!colours_wanted(true, Some("1".into())));
    }

    #[test]
    fn an_empty_no_color_counts_as_unset() {
        assert!(colours_wanted(true, Some("".into())));
    }
}
