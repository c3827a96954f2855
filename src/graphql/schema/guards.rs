//! Who may call which field, written on the fields themselves so that the schema shows
//! it: thin wrappers over `policy`, where the rules live. The use cases ask `policy` again,
//! in the contract's order of errors; a guard only answers first.

use async_graphql::{Context, Guard, Result, ResultExt};

use crate::domain::Viewer;
use crate::error::AppError;
use crate::policy::{self, AdminWork};

/// Anyone with a valid token.
pub struct SignedIn;

/// Admins only, for the work it names (which the refusal names too).
pub struct AdminOnly(pub AdminWork);

/// Anyone signed in, and for an `internal` note, admins only.
pub struct MayWrite {
    internal: bool,
}

impl MayWrite {
    pub fn new(internal: bool) -> Self {
        Self { internal }
    }
}

fn viewer<'a>(ctx: &Context<'a>) -> Result<&'a Viewer, AppError> {
    ctx.data_opt::<Viewer>().ok_or(AppError::Unauthenticated)
}

impl Guard for SignedIn {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        viewer(ctx).map(drop).extend()
    }
}

impl Guard for AdminOnly {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        viewer(ctx)
            .and_then(|viewer| policy::ensure_admin(viewer, self.0))
            .extend()
    }
}

impl Guard for MayWrite {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        viewer(ctx)
            .and_then(|viewer| policy::ensure_may_write(viewer, self.internal))
            .extend()
    }
}
