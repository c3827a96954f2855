//! The `supportdesk` command line.

use clap::{Parser, Subcommand, ValueEnum};
use entity::prelude::Role;

use crate::auth::{AuthConfig, AuthSettings, MAX_TOKEN_TTL_SECONDS, TokenMinter};
use crate::config::{
    Config, ConfigError, DatabaseConfig, DatabaseSettings, DatabaseUrl, ServerSettings,
};
use crate::domain::Viewer;
use crate::seed::SeedArgs;
use crate::startup::{Application, StartupError};
use crate::telemetry::LogSettings;

// Each command takes the settings it uses, and only those, so that `migrate --help` does
// not bury the database settings under the server's.
#[derive(Debug, Parser)]
#[command(
    name = "supportdesk",
    version,
    about = "Support-ticket backend served as a GraphQL API",
    // Without a command the server's settings stand at the top, for `serve`; given before
    // a command they would be silently ignored, so they are refused there.
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// `serve`'s settings, for when no command is named.
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub log: LogSettings,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// One is parsed per process: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API.
    Serve(ServerSettings),
    /// Apply pending migrations and exit.
    Migrate(DatabaseSettings),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print an HS256 token signed with the configured secret, for trying the API.
    Token {
        #[command(flatten)]
        token: TokenArgs,
        #[command(flatten)]
        database: DatabaseUrl,
        #[command(flatten)]
        auth: AuthSettings,
    },
    /// Fill the database with made-up tickets and messages (for benchmarks and demos).
    Seed {
        #[command(flatten)]
        seed: SeedArgs,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user id the token speaks for.
    #[arg(long)]
    pub sub: String,
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Seconds until the token expires: 1 to 31536000 (a year).
    #[arg(
        long,
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(1..=MAX_TOKEN_TTL_SECONDS)
    )]
    pub ttl: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Customer,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Customer => Role::Customer,
            RoleArg::Admin => Role::Admin,
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), StartupError> {
    match cli.command.unwrap_or(Command::Serve(cli.server)) {
        Command::Serve(settings) => {
            let config = Config::from_settings(settings)?;
            Application::build(config).await?.run_until_stopped().await
        }
        Command::Seed { seed, database } => {
            let db = crate::db::connect_and_migrate(&DatabaseConfig::try_from(database)?).await?;
            crate::seed::seed(&db, seed).await?;
            Ok(())
        }
        Command::Migrate(database) => {
            let db = crate::db::connect_and_migrate(&DatabaseConfig::try_from(database)?).await?;
            db.close().await?;
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Token {
            token,
            database,
            auth,
        } => {
            let auth = AuthConfig::from_settings(auth, &database.database_url)
                .map_err(ConfigError::from)?;
            let viewer = Viewer {
                id: token.sub,
                role: token.role.into(),
            };
            println!("{}", TokenMinter::new(&auth)?.mint(&viewer, token.ttl)?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;

    /// Flags only the server uses, one of each kind of setting.
    const SERVER_ONLY: &[&str] = &[
        "--listen-addr",
        "--metrics-addr",
        "--shutdown-grace-seconds",
        "--cors-origins",
        "--graphql-max-depth",
        "--max-body-bytes",
        "--ws-max-sockets",
        "--mutation-rate-limit-burst",
    ];
    const KEYS: &[&str] = &["--jwt-secret", "--jwt-public-key", "--jwt-jwks-url"];
    const POOL: &[&str] = &[
        "--database-max-connections",
        "--database-acquire-timeout-seconds",
        "--database-statement-timeout-seconds",
    ];

    fn parse(arguments: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("supportdesk").chain(arguments.iter().copied()))
    }

    /// What `supportdesk <arguments> --help` prints.
    fn help(arguments: &[&str]) -> String {
        let mut arguments = arguments.to_vec();
        arguments.push("--help");
        let shown = parse(&arguments).expect_err("help is shown");
        assert_eq!(shown.kind(), ErrorKind::DisplayHelp);
        shown.to_string()
    }

    fn assert_lists(help: &str, flags: &[&str]) {
        for flag in flags {
            assert!(help.contains(flag), "{flag} missing from\n{help}");
        }
    }

    fn assert_omits(help: &str, flags: &[&str]) {
        for flag in flags {
            assert!(!help.contains(flag), "{flag} in\n{help}");
            let variable = flag
                .trim_start_matches('-')
                .to_uppercase()
                .replace('-', "_");
            assert!(!help.contains(&variable), "{variable} in\n{help}");
        }
    }

    #[test]
    fn migrate_and_seed_list_the_database_settings_and_no_server_or_key_setting() {
        for command in ["migrate", "seed"] {
            let help = help(&[command]);
            assert_lists(&help, &["--database-url", "DATABASE_URL"]);
            assert_lists(&help, POOL);
            assert_omits(&help, SERVER_ONLY);
            assert_omits(&help, KEYS);
        }
        assert_lists(&help(&["seed"]), &["--tickets", "--users"]);
    }

    #[test]
    fn token_lists_the_key_settings_and_the_database_url_but_not_the_listen_address() {
        let help = help(&["token"]);
        assert_lists(&help, KEYS);
        assert_lists(
            &help,
            &["--jwt-audience", "--jwt-role-claim", "--database-url"],
        );
        assert_omits(&help, SERVER_ONLY);
        assert_omits(&help, POOL);
    }

    #[test]
    fn schema_takes_no_settings() {
        let refused = parse(&["schema", "--database-url", "sqlite::memory:"]).expect_err("refused");
        assert_eq!(refused.kind(), ErrorKind::UnknownArgument);
    }

    #[test]
    fn without_a_command_the_server_settings_are_accepted() {
        let cli = parse(&["--listen-addr", "0.0.0.0:9000", "--graphql-max-depth", "3"])
            .expect("accepted");
        assert!(cli.command.is_none());
        assert_eq!(cli.server.listen_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(cli.server.http.graphql_max_depth, 3);
    }

    #[test]
    fn serve_takes_every_setting_plain_supportdesk_takes() {
        let plain = help(&[]);
        let serve = help(&["serve"]);
        let flags = plain
            .split_whitespace()
            .filter(|word| word.starts_with("--") && *word != "--help" && *word != "--version");
        for flag in flags {
            assert!(serve.contains(flag), "{flag} missing from\n{serve}");
        }
    }

    #[test]
    fn a_server_setting_is_refused_by_the_other_commands_wherever_it_stands() {
        for arguments in [
            ["migrate", "--listen-addr", "0.0.0.0:9000"],
            ["--listen-addr", "0.0.0.0:9000", "migrate"],
            ["seed", "--jwt-secret", "0123456789abcdef0123456789abcdef"],
            ["token", "--cors-origins", "https://app.example.com"],
        ] {
            assert!(parse(&arguments).is_err(), "{arguments:?}");
        }
    }
}
