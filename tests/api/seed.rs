//! `supportdesk seed` run as an operator would, with its output going to a log.

use std::process::Command;

#[test]
fn seeding_into_a_log_writes_plain_progress_lines_without_carriage_returns() {
    let directory = tempfile::tempdir().expect("a directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        directory.path().join("seeded.db").display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_supportdesk"))
        .args(["seed", "--tickets", "4500", "--users", "10"])
        .env_clear()
        .env("DATABASE_URL", &url)
        .output()
        .expect("the binary runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(!log.contains('\r'), "{log:?}");
    assert!(
        log.lines()
            .any(|line| line.starts_with("4500/4500 tickets")),
        "{log}"
    );
}
