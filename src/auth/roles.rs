//! Which claim of a token carries the role, and which values mean admin and customer.

use entity::prelude::Role;
use serde_json::{Map, Value};

/// The `JWT_CUSTOMER_ROLE` value that makes every verified non-admin user a customer.
pub const ANY_USER: &str = "*";

#[derive(Debug, thiserror::Error)]
pub enum RoleMappingError {
    #[error("JWT_ROLE_CLAIM must not be empty")]
    EmptyClaim,
    #[error("JWT_ADMIN_ROLE and JWT_CUSTOMER_ROLE must not be empty")]
    EmptyRole,
    #[error("JWT_ADMIN_ROLE and JWT_CUSTOMER_ROLE must differ (both are `{0}`)")]
    SameRole(String),
    #[error("JWT_ADMIN_ROLE cannot be `*`")]
    WildcardAdmin,
}

/// Who is a customer besides those holding the admin role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerRole {
    /// Those whose role claim holds this value.
    Named(String),
    /// Every user with a verified token (`JWT_CUSTOMER_ROLE=*`): for identity providers that
    /// give ordinary users no role at all.
    AnyUser,
}

/// Turns a token's claims into a [`Role`], or none (the token is then refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleMapping {
    claim: String,
    admin: String,
    customer: CustomerRole,
}

impl Default for RoleMapping {
    /// The claim `role`, `admin` and `customer`.
    fn default() -> Self {
        Self {
            claim: "role".to_owned(),
            admin: "admin".to_owned(),
            customer: CustomerRole::Named("customer".to_owned()),
        }
    }
}

impl RoleMapping {
    /// `claim` is a claim name or a dotted path (`realm_access.roles`); `customer` may be
    /// [`ANY_USER`].
    pub fn new(claim: &str, admin: &str, customer: &str) -> Result<Self, RoleMappingError> {
        if claim.is_empty() {
            return Err(RoleMappingError::EmptyClaim);
        }
        if admin.is_empty() || customer.is_empty() {
            return Err(RoleMappingError::EmptyRole);
        }
        if admin == ANY_USER {
            return Err(RoleMappingError::WildcardAdmin);
        }
        if admin == customer {
            return Err(RoleMappingError::SameRole(admin.to_owned()));
        }
        let customer = match customer {
            ANY_USER => CustomerRole::AnyUser,
            name => CustomerRole::Named(name.to_owned()),
        };
        Ok(Self {
            claim: claim.to_owned(),
            admin: admin.to_owned(),
            customer,
        })
    }

    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// The value a minted token carries for `role`, or none for a customer when any user
    /// is one.
    pub fn claim_value(&self, role: Role) -> Option<&str> {
        match (role, &self.customer) {
            (Role::Admin, _) => Some(&self.admin),
            (Role::Customer, CustomerRole::Named(name)) => Some(name),
            (Role::Customer, CustomerRole::AnyUser) => None,
        }
    }

    /// Admin when the claim holds the admin value; customer when it holds the customer
    /// value (or always, with [`CustomerRole::AnyUser`]); otherwise none.
    ///
    /// The claim may be a string or an array of strings. Anything else counts as holding
    /// no value, so a malformed claim can never make an admin.
    pub fn role_of(&self, claims: &Map<String, Value>) -> Option<Role> {
        let values = find_claim(claims, &self.claim).map_or_else(Vec::new, strings);
        if values.contains(&self.admin.as_str()) {
            return Some(Role::Admin);
        }
        match &self.customer {
            CustomerRole::AnyUser => Some(Role::Customer),
            CustomerRole::Named(name) => values.contains(&name.as_str()).then_some(Role::Customer),
        }
    }
}

/// The claim at `path`. Claim names may themselves contain dots (Auth0's namespaced
/// `https://example.com/roles`, Keycloak client ids like `web.app`), so at each level the
/// longest key that matches wins: the whole remaining path first, then ever shorter
/// dot-separated prefixes, descending into objects.
fn find_claim<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = object.get(path) {
        return Some(value);
    }
    path.rmatch_indices('.').find_map(|(dot, _)| {
        let (key, rest) = (&path[..dot], &path[dot + 1..]);
        match object.get(key)? {
            Value::Object(inner) => find_claim(inner, rest),
            _ => None,
        }
    })
}

/// A string claim, or the elements of an array made only of strings.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(single) => vec![single.as_str()],
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    fn keycloak() -> RoleMapping {
        RoleMapping::new("realm_access.roles", "support-admin", "support-customer")
            .expect("a mapping")
    }

    #[test]
    fn by_default_the_role_claim_says_admin_or_customer() {
        let mapping = RoleMapping::default();
        assert_eq!(
            mapping.role_of(&claims(json!({ "role": "admin" }))),
            Some(Role::Admin)
        );
        assert_eq!(
            mapping.role_of(&claims(json!({ "role": "customer" }))),
            Some(Role::Customer)
        );
    }

    #[test]
    fn by_default_another_or_a_missing_role_maps_to_none() {
        let mapping = RoleMapping::default();
        assert_eq!(
            mapping.role_of(&claims(json!({ "role": "superuser" }))),
            None
        );
        assert_eq!(mapping.role_of(&claims(json!({ "role": "Admin" }))), None);
        assert_eq!(mapping.role_of(&claims(json!({}))), None);
    }

    #[test]
    fn a_dotted_path_descends_into_objects() {
        let token = claims(json!({ "realm_access": { "roles": ["offline", "support-admin"] } }));
        assert_eq!(keycloak().role_of(&token), Some(Role::Admin));
    }

    #[test]
    fn admin_wins_when_both_roles_are_held() {
        let token = claims(json!({
            "realm_access": { "roles": ["support-customer", "support-admin"] }
        }));
        assert_eq!(keycloak().role_of(&token), Some(Role::Admin));
    }

    #[test]
    fn a_claim_name_with_dots_is_matched_whole_first() {
        let mapping = RoleMapping::new("https://supportdesk.example/roles", "admin", "customer")
            .expect("a mapping");
        let token = claims(json!({ "https://supportdesk.example/roles": ["customer"] }));
        assert_eq!(mapping.role_of(&token), Some(Role::Customer));
    }

    #[test]
    fn a_nested_key_with_dots_is_found() {
        let mapping = RoleMapping::new("resource_access.web.app.roles", "admin", "customer")
            .expect("a mapping");
        let token = claims(json!({ "resource_access": { "web.app": { "roles": ["admin"] } } }));
        assert_eq!(mapping.role_of(&token), Some(Role::Admin));
    }

    #[test]
    fn an_array_with_a_non_string_holds_no_role() {
        let mapping = RoleMapping::new("roles", "admin", "customer").expect("a mapping");
        assert_eq!(
            mapping.role_of(&claims(json!({ "roles": ["admin", 1] }))),
            None
        );
        assert_eq!(
            mapping.role_of(&claims(json!({ "roles": { "admin": true } }))),
            None
        );
    }

    #[test]
    fn with_any_user_as_customer_a_token_without_role_is_a_customer() {
        let mapping = RoleMapping::new("roles", "admin", ANY_USER).expect("a mapping");
        assert_eq!(mapping.role_of(&claims(json!({}))), Some(Role::Customer));
        assert_eq!(
            mapping.role_of(&claims(json!({ "roles": ["admin"] }))),
            Some(Role::Admin)
        );
    }

    #[test]
    fn the_same_value_for_admin_and_customer_is_refused() {
        assert!(matches!(
            RoleMapping::new("role", "staff", "staff"),
            Err(RoleMappingError::SameRole(_))
        ));
    }

    #[test]
    fn a_wildcard_admin_is_refused() {
        assert!(RoleMapping::new("role", ANY_USER, "customer").is_err());
    }
}
