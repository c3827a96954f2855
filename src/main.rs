use std::process::ExitCode;

use clap::Parser;
use supportdesk::cli::{self, Cli};
use supportdesk::startup::WORKER_STACK_BYTES;

fn main() -> ExitCode {
    // A setting clap cannot parse (LOG_FORMAT among them) exits 2 here, before anything
    // is logged.
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match supportdesk::telemetry::init(&cli.log, runtime.handle()) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let exit_code = match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::from(error.exit_code())
        }
    };
    // The runtime still runs: the exporter sends the last spans on it.
    telemetry.shutdown();
    exit_code
}
