//! Shared test harness: a real server on port 0 over a fresh database, real signed JWTs.
//!
//! Each test gets its own SQLite file, or, when `TEST_DATABASE_URL` names a PostgreSQL
//! server, its own PostgreSQL database, dropped when the test ends.

mod app;
mod database;
mod rate_limits;
mod replies;
mod tokens;
mod triage;
mod webhook_receiver;

pub use app::*;
pub use database::*;
pub use rate_limits::*;
pub use replies::*;
pub use tokens::*;
pub use triage::*;
pub use webhook_receiver::*;
