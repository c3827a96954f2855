//! Who a request acts for.

use entity::prelude::Role;

/// The signed-in user a request acts for, as their token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub id: String,
    pub role: Role,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
