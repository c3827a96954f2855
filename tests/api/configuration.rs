//! Settings the real binary refuses at start: exit code 2, a message naming the setting,
//! no panic, and no secret in what it prints.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PASSWORD: &str = "hunter2secretpw";
/// A database nothing listens on: the configuration is refused before it is reached.
const POSTGRES_URL: &str = "postgres://u:hunter2secretpw@127.0.0.1:1/db";
const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";

/// Runs the binary with only `settings` in its environment.
fn run(arguments: &[&str], settings: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_supportdesk"))
        .args(arguments)
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(settings.iter().copied())
        .output()
        .expect("the binary runs")
}

/// Everything the process printed, on either stream.
fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_refused_naming(output: &Output, setting: &str) {
    let printed = printed(output);
    assert_eq!(output.status.code(), Some(2), "{printed}");
    assert!(printed.contains(setting), "{printed}");
    assert!(!printed.contains("panicked"), "{printed}");
}

fn assert_printed(output: &Output, text: &str) {
    let printed = printed(output);
    assert!(printed.contains(text), "{printed}");
}

#[test]
fn help_does_not_show_the_database_password() {
    for command in [&[][..], &["serve"], &["migrate"], &["seed"], &["token"]] {
        let output = run(
            &[command, &["--help"]].concat(),
            &[("DATABASE_URL", POSTGRES_URL)],
        );

        assert!(output.status.success(), "{command:?}");
        assert!(!printed(&output).contains(PASSWORD), "{}", printed(&output));
    }
}

#[test]
fn a_cors_wildcard_exits_with_code_2_naming_cors_origins() {
    let output = run(
        &["serve"],
        &[
            ("DATABASE_URL", POSTGRES_URL),
            ("JWT_SECRET", SECRET),
            ("CORS_ORIGINS", "*"),
        ],
    );

    assert_refused_naming(&output, "CORS_ORIGINS");
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_or_a_network_exits_with_code_2_naming_it() {
    let output = run(
        &["serve"],
        &[
            ("DATABASE_URL", POSTGRES_URL),
            ("JWT_SECRET", SECRET),
            ("TRUSTED_PROXIES", "10.0.0.0/8,balancer.internal"),
        ],
    );

    assert_refused_naming(&output, "TRUSTED_PROXIES");
    assert_printed(&output, "balancer.internal");
}

#[test]
fn a_short_jwt_secret_exits_with_code_2_without_showing_it() {
    let output = run(
        &["serve"],
        &[("DATABASE_URL", POSTGRES_URL), ("JWT_SECRET", "s3cret")],
    );

    assert_refused_naming(&output, "JWT_SECRET");
    assert!(!printed(&output).contains("s3cret"));
}

#[test]
fn an_unknown_log_format_exits_with_code_2_naming_log_format() {
    let output = run(&["serve"], &[("LOG_FORMAT", "xml")]);

    assert_refused_naming(&output, "LOG_FORMAT");
}

#[test]
fn an_otlp_endpoint_that_is_not_a_url_exits_with_code_2_naming_it() {
    let output = run(&["serve"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]);

    assert_refused_naming(&output, "OTEL_EXPORTER_OTLP_ENDPOINT");
}

#[test]
fn postgres_without_a_key_exits_with_code_2_without_showing_the_password() {
    let output = run(&["serve"], &[("DATABASE_URL", POSTGRES_URL)]);

    assert_refused_naming(&output, "JWT_SECRET");
    assert!(!printed(&output).contains(PASSWORD));
}

#[test]
fn a_token_for_a_sqlite_file_needs_no_key_and_keeps_its_secret_private() {
    let directory = tempfile::tempdir().expect("a directory");
    let database = directory.path().join("app.db");
    let url = format!("sqlite://{}?mode=rwc", database.display());

    let output = run(
        &["token", "--sub", "alice", "--role", "customer"],
        &[("DATABASE_URL", &url)],
    );

    assert!(output.status.success(), "{}", printed(&output));
    let secret_file = directory.path().join("app.db.jwt-secret");
    let mode = std::fs::metadata(&secret_file)
        .expect("a secret file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Settings the server refuses, none of them `migrate`'s or `token`'s.
const SERVER_SETTINGS_REFUSED: &[(&str, &str)] = &[
    ("CORS_ORIGINS", "*"),
    ("LISTEN_ADDR", "127.0.0.1:8080"),
    ("METRICS_ADDR", "127.0.0.1:8080"),
    ("GRAPHQL_MAX_DEPTH", "0"),
];

#[test]
fn migrate_and_token_ignore_server_settings_the_server_would_refuse() {
    let (_directory, url, _secret_file) = sqlite_database();
    let mut settings = SERVER_SETTINGS_REFUSED.to_vec();
    settings.push(("DATABASE_URL", &url));

    for arguments in [
        &["migrate"][..],
        &["token", "--sub", "alice", "--role", "customer"],
    ] {
        let output = run(arguments, &settings);
        assert!(
            output.status.success(),
            "{arguments:?}: {}",
            printed(&output)
        );
    }
}

#[test]
fn a_metrics_addr_that_is_no_address_exits_with_code_2_naming_it() {
    let output = run(
        &["serve"],
        &[
            ("DATABASE_URL", POSTGRES_URL),
            ("JWT_SECRET", SECRET),
            ("METRICS_ADDR", "metrics.internal"),
        ],
    );

    assert_refused_naming(&output, "METRICS_ADDR");
}

#[test]
fn metrics_on_the_api_port_exit_with_code_2_naming_metrics_addr() {
    let output = run(
        &["serve"],
        &[
            ("DATABASE_URL", POSTGRES_URL),
            ("JWT_SECRET", SECRET),
            ("LISTEN_ADDR", "0.0.0.0:8080"),
            ("METRICS_ADDR", "127.0.0.1:8080"),
        ],
    );

    assert_refused_naming(&output, "METRICS_ADDR");
}

/// An SQLite database file in a directory of its own, its URL, and where its generated
/// secret goes.
fn sqlite_database() -> (tempfile::TempDir, String, PathBuf) {
    let directory = tempfile::tempdir().expect("a directory");
    let database = directory.path().join("app.db");
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let secret_file = directory.path().join("app.db.jwt-secret");
    (directory, url, secret_file)
}

/// A secret file as a first start writes it: long enough, the owner's alone.
fn write_secret_file(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .expect("a new file");
    std::io::Write::write_all(
        &mut file,
        b"a-planted-secret-of-at-least-thirty-two-bytes\n",
    )
    .expect("written");
}

fn mint_token(database_url: &str) -> Output {
    run(
        &["token", "--sub", "alice", "--role", "customer"],
        &[("DATABASE_URL", database_url)],
    )
}

#[test]
fn a_secret_file_that_is_a_symbolic_link_exits_with_code_2_naming_it() {
    let (_directory, url, secret_file) = sqlite_database();
    let elsewhere = tempfile::tempdir().expect("a directory");
    let planted = elsewhere.path().join("planted");
    write_secret_file(&planted);
    std::os::unix::fs::symlink(&planted, &secret_file).expect("a link");

    let output = mint_token(&url);

    assert_refused_naming(&output, &secret_file.display().to_string());
    assert_printed(&output, "symbolic link");
}

#[test]
fn a_secret_file_in_a_directory_others_may_write_exits_with_code_2_naming_it() {
    let (directory, url, secret_file) = sqlite_database();
    write_secret_file(&secret_file);
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");

    let output = mint_token(&url);

    assert_refused_naming(&output, &directory.path().display().to_string());
    assert_printed(&output, "written by other users");
}

#[test]
fn no_secret_is_generated_in_a_directory_others_may_write() {
    let (directory, url, secret_file) = sqlite_database();
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o770))
        .expect("chmod");

    let output = mint_token(&url);

    assert_refused_naming(&output, &directory.path().display().to_string());
    assert!(!secret_file.exists());
}

#[test]
fn a_secret_file_another_user_owns_exits_with_code_2_naming_it() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let (_directory, url, secret_file) = sqlite_database();
    write_secret_file(&secret_file);
    let nobody = 65534;
    std::os::unix::fs::chown(&secret_file, Some(nobody), Some(nobody)).expect("chown");

    let output = mint_token(&url);

    assert_refused_naming(&output, &secret_file.display().to_string());
    assert_printed(&output, "owned by uid 65534");
}

fn mint_token_living(ttl: &str) -> Output {
    run(
        &[
            "token", "--sub", "alice", "--role", "customer", "--ttl", ttl,
        ],
        &[("DATABASE_URL", POSTGRES_URL), ("JWT_SECRET", SECRET)],
    )
}

#[test]
fn a_token_that_would_never_expire_exits_with_code_2_naming_ttl() {
    let output = mint_token_living("18446744073709551615");

    assert_refused_naming(&output, "--ttl");
    assert!(output.stdout.is_empty(), "no token: {}", printed(&output));
}

#[test]
fn a_token_may_live_one_year_and_not_a_second_longer() {
    let year = mint_token_living("31536000");
    let longer = mint_token_living("31536001");

    assert!(year.status.success(), "{}", printed(&year));
    assert_refused_naming(&longer, "--ttl");
}

#[test]
fn a_token_that_expires_at_once_exits_with_code_2_naming_ttl() {
    let output = mint_token_living("0");

    assert_refused_naming(&output, "--ttl");
}
