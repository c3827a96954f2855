//! How far `supportdesk seed` has got. In a terminal, a bar redrawn in place; anywhere
//! else (a log file, CI), a plain line every few seconds: carriage-return redraws would
//! land in the log as thousands of lines.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the bar is redrawn in a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// How often a plain line is written elsewhere.
const LINE_EVERY: Duration = Duration::from_secs(5);
const BAR_WIDTH: u64 = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Bar,
    Lines,
}

pub struct Progress<W: Write> {
    out: W,
    style: Style,
    total: u64,
    done: u64,
    started: Instant,
    shown: Option<Instant>,
}

impl Progress<std::io::Stderr> {
    /// Progress on stderr, in the style its destination calls for.
    pub fn on_stderr(total: u64) -> Self {
        let stderr = std::io::stderr();
        let style = if stderr.is_terminal() {
            Style::Bar
        } else {
            Style::Lines
        };
        Self::new(stderr, style, total)
    }
}

impl<W: Write> Progress<W> {
    fn new(out: W, style: Style, total: u64) -> Self {
        Self {
            out,
            style,
            total,
            done: 0,
            started: Instant::now(),
            shown: None,
        }
    }

    pub fn advance(&mut self, done: u64) {
        self.done += done;
        let interval = match self.style {
            Style::Bar => REDRAW_EVERY,
            Style::Lines => LINE_EVERY,
        };
        let due = self.shown.is_none_or(|shown| shown.elapsed() >= interval);
        // The last step is left to `finish`, which shows it once.
        if due && self.done < self.total {
            self.show();
        }
    }

    pub fn finish(&mut self) {
        self.show();
        if self.style == Style::Bar {
            self.write(format_args!("\n"));
        }
    }

    fn show(&mut self) {
        self.shown = Some(Instant::now());
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let (done, total) = (self.done, self.total);
        match self.style {
            Style::Bar => {
                let filled = (done * BAR_WIDTH).checked_div(total).unwrap_or(BAR_WIDTH);
                let bar = "#".repeat(filled as usize) + &".".repeat((BAR_WIDTH - filled) as usize);
                self.write(format_args!(
                    "\r[{bar}] {done}/{total} tickets, {rate:.0}/s "
                ));
            }
            Style::Lines => {
                self.write(format_args!("{done}/{total} tickets, {rate:.0}/s\n"));
            }
        }
    }

    /// Progress is a courtesy: a closed or full stderr must not stop the seed.
    fn write(&mut self, text: std::fmt::Arguments) {
        let _ = self.out.write_fmt(text).and_then(|()| self.out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(progress: Progress<Vec<u8>>) -> String {
        String::from_utf8(progress.out).expect("progress writes UTF-8")
    }

    #[test]
    fn outside_a_terminal_progress_is_plain_lines_without_carriage_returns() {
        let mut progress = Progress::new(Vec::new(), Style::Lines, 10_000);
        for _ in 0..5 {
            progress.advance(2_000);
        }
        progress.finish();
        let text = written(progress);
        assert!(!text.contains('\r'), "{text:?}");
        assert!(
            text.lines().all(|line| line.contains(" tickets, ")),
            "{text:?}"
        );
    }

    #[test]
    fn outside_a_terminal_a_quick_run_writes_the_first_step_and_the_end_only() {
        let mut progress = Progress::new(Vec::new(), Style::Lines, 10_000);
        for _ in 0..5 {
            progress.advance(2_000);
        }
        progress.finish();
        let text = written(progress);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(lines[0].starts_with("2000/10000 tickets"), "{text:?}");
        assert!(lines[1].starts_with("10000/10000 tickets"), "{text:?}");
    }

    #[test]
    fn in_a_terminal_the_bar_is_redrawn_in_place_and_ends_the_line() {
        let mut progress = Progress::new(Vec::new(), Style::Bar, 4);
        progress.advance(2);
        progress.advance(2);
        progress.finish();
        let text = written(progress);
        assert!(
            text.starts_with("\r[####################....................] 2/4"),
            "{text:?}"
        );
        assert!(
            text.contains("\r[########################################] 4/4"),
            "{text:?}"
        );
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.ends_with('\n'), "{text:?}");
    }
}
