//! Credentials fetched for each connect: the provider the PostgreSQL and MySQL managers call for
//! the password (an AWS IAM token, a Vault lease, a rotated secret) of every new connection, so
//! that rotating it needs no new pool. What a provider returns is never shown: not by `Debug`,
//! not in errors, not in log lines.

#![cfg_attr(
    not(all(feature = "postgres", feature = "mysql", feature = "oracle", feature = "jdbc")),
    allow(dead_code)
)]

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::backends::redact::Secret;
use crate::error::BoxError;

/// What a credentials provider gives for one connect: the password (or token) and, when the
/// provider says so, the user to log in as (a Vault lease names one); otherwise the manager's
/// own user. `Debug` shows the password as `***`.
///
/// ```
/// # #[cfg(feature = "postgres")] {
/// use millpond::postgres::Credentials;
///
/// let token = Credentials::password("s3cr3t-token");
/// let lease = Credentials::password("s3cr3t").with_user("v-app-a1b2c3");
/// assert!(!format!("{token:?} {lease:?}").contains("s3cr3t"));
/// # }
/// ```
#[derive(Clone)]
pub struct Credentials {
    pub(crate) user: Option<String>,
    pub(crate) password: Secret,
}

impl Credentials {
    /// The password (or token) for this connect, for the manager's own user.
    pub fn password(password: impl Into<String>) -> Self {
        Credentials {
            user: None,
            password: Secret::new(password),
        }
    }

    /// Logs in as `user` instead of the manager's own user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The user to log in as, if the provider named one.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password)
            .finish()
    }
}

/// A provider as a manager keeps it: shared by the manager's clones and the threads that open
/// connections.
#[derive(Clone)]
pub(crate) struct CredentialsProvider(Arc<dyn Fn() -> Result<Credentials, BoxError> + Send + Sync>);

impl CredentialsProvider {
    pub(crate) fn new(provider: impl Fn() -> Result<Credentials, BoxError> + Send + Sync + 'static) -> Self {
        CredentialsProvider(Arc::new(provider))
    }

    /// The credentials for one connect, or why the provider could not give them (its error, as
    /// the source of the one returned).
    pub(crate) fn fetch(&self) -> Result<Credentials, ProviderFailed> {
        (self.0)().map_err(ProviderFailed)
    }
}

/// Shows that a provider is set, never what it returns.
impl fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsProvider(…)")
    }
}

/// A credentials provider failed; its own error is the source.
#[derive(Debug)]
pub(crate) struct ProviderFailed(pub(crate) BoxError);

impl fmt::Display for ProviderFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the credentials provider failed")
    }
}

impl StdError for ProviderFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let creds = Credentials::password("hunter2-token").with_user("v-app");
        let shown = format!("{creds:?}");
        assert_eq!(shown, r#"Credentials { user: Some("v-app"), password: "***" }"#);
        let provider = CredentialsProvider::new(|| Ok(Credentials::password("hunter2-token")));
        assert_eq!(format!("{provider:?}"), "CredentialsProvider(…)");
        assert_eq!(provider.fetch().unwrap().password.expose(), "hunter2-token");
    }

    #[test]
    fn a_failure_keeps_the_providers_error_as_its_source() {
        let provider = CredentialsProvider::new(|| Err("vault is sealed".into()));
        let err = provider.fetch().unwrap_err();
        assert_eq!(
            crate::error::chain(&err),
            "the credentials provider failed: vault is sealed"
        );
    }
}
