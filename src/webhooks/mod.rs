//! Webhooks: every timeline event delivered, signed, to the receivers admins register.

pub mod payload;
pub mod signing;
