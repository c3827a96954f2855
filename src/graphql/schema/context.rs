use async_graphql::Context;
use sea_orm::DatabaseConnection;

use crate::budget::MessageBudget;
use crate::domain::Viewer;
use crate::error::AppError;

/// What every resolver needs: the database, the signed-in user, and what the operation
/// may still read.
pub struct Session<'a> {
    pub db: &'a DatabaseConnection,
    pub viewer: &'a Viewer,
    pub messages: &'a MessageBudget,
}

impl<'a> Session<'a> {
    /// UNAUTHENTICATED when the request carried no token.
    pub fn from_context(ctx: &Context<'a>) -> Result<Self, AppError> {
        let viewer = ctx.data_opt::<Viewer>().ok_or(AppError::Unauthenticated)?;
        let db = ctx
            .data_opt::<DatabaseConnection>()
            .ok_or(AppError::Internal(
                "the schema was built without a database",
            ))?;
        let messages = ctx
            .data_opt::<MessageBudget>()
            .ok_or(AppError::Internal("the request did not pass the pipeline"))?;
        Ok(Self {
            db,
            viewer,
            messages,
        })
    }
}
