//! Building and running the server: what `main` and the tests share.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use sea_orm::DbErr;
use tokio::net::TcpListener;

use crate::auth::{TokenError, Verifier};
use crate::config::{Config, ConfigError};
use crate::http::{AppState, router};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("JWKS client: {0}")]
    JwksClient(#[from] reqwest::Error),
}

/// A server with its database migrated and its listener bound, ready to run.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let db = crate::db::connect_and_migrate(&config.database_url).await?;
        let verifier = Verifier::start(&config.auth).await?;
        let listener = TcpListener::bind(config.listen_addr).await?;
        let address = listener.local_addr()?;
        Ok(Self {
            listener,
            address,
            router: router(AppState::new(db, verifier, config.http)),
        })
    }

    /// The bound port: the one the OS chose when the configuration said 0.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        tracing::info!(address = %self.address, "supportdesk is listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
