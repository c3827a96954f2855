//! The `supportdesk` command line.

use clap::{Parser, Subcommand, ValueEnum};
use entity::prelude::Role;

use crate::auth::{MAX_TOKEN_TTL_SECONDS, TokenMinter};
use crate::config::{Config, Settings};
use crate::domain::Viewer;
use crate::startup::{Application, StartupError};
use crate::telemetry::LogSettings;

#[derive(Debug, Parser)]
#[command(
    name = "supportdesk",
    version,
    about = "Support-ticket backend served as a GraphQL API"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub log: LogSettings,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print an HS256 token signed with the configured secret, for trying the API.
    Token(TokenArgs),
    /// Fill the database with made-up tickets and messages (for benchmarks and demos).
    Seed(crate::seed::SeedArgs),
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
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::from_settings(cli.settings)?;
            Application::build(config).await?.run_until_stopped().await
        }
        Command::Seed(args) => {
            let db = crate::db::connect_and_migrate(&cli.settings.database()?).await?;
            crate::seed::seed(&db, args).await?;
            Ok(())
        }
        Command::Migrate => {
            let db = crate::db::connect_and_migrate(&cli.settings.database()?).await?;
            db.close().await?;
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Token(args) => {
            let config = Config::from_settings(cli.settings)?;
            let viewer = Viewer {
                id: args.sub,
                role: args.role.into(),
            };
            let token = TokenMinter::new(&config.auth)?.mint(&viewer, args.ttl)?;
            println!("{token}");
            Ok(())
        }
    }
}
