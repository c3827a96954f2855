//! Who is calling: bearer tokens in, a [`Viewer`] out.
//!
//! `settings` checks the configuration; `keys` reads public keys (PEM, JWK); `jwks` keeps
//! an identity provider's keys fresh; `roles` maps a claim to a [`Role`]; `verifier` puts
//! them together; `mint` signs tokens for `supportdesk token`.

mod jwks;
mod keys;
mod mint;
mod roles;
mod secret_file;
mod settings;
mod verifier;

pub use jwks::JwksConfig;
pub use keys::{KeyError, KeyType, PublicKey};
pub use mint::{MAX_TOKEN_TTL_SECONDS, TokenMinter};
pub use roles::{ANY_USER, CustomerRole, RoleMapping, RoleMappingError};
pub use secret_file::SecretFileError;
pub use settings::{
    AuthConfig, AuthConfigError, AuthSettings, MIN_SECRET_BYTES, PublicKeys, Secret,
};
pub use verifier::{TokenError, Verifier};
