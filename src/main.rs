use std::process::ExitCode;

use clap::Parser;
use supportdesk::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    supportdesk::telemetry::init();
    match cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::from(error.exit_code())
        }
    }
}
