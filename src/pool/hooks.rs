//! The user's code the pool calls on its connections: hooks after a connect, before a checkout
//! and after a checkin; the classifier of the backend's errors; what an r2d2 connection
//! customizer adds (a call with each connection closed). Each is set on the [`Builder`] and
//! called outside the pool's lock, on a connection the calling thread owns.
//!
//! [`Builder`]: crate::Builder

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::error::BoxError;
use crate::manage::{ErrorClass, ManageConnection};

/// What the pool knows of one connection, for the hooks and [`Pool::retain`](crate::Pool::retain)
/// to judge it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The connection's id, unique within its pool (as in events and leak reports).
    pub id: u64,
    /// How long ago it was opened.
    pub age: Duration,
    /// How long it has sat idle in the pool, since it was last given back (or opened); zero in
    /// [`after_checkin`](crate::Builder::after_checkin), which sees it just given back.
    pub idle: Duration,
    /// How many times it was checked out: before this checkout in
    /// [`before_checkout`](crate::Builder::before_checkout), this one included in
    /// [`after_checkin`](crate::Builder::after_checkin).
    pub uses: u64,
    /// The pool's invalidation generation when it was opened: connections of an older
    /// generation than the pool's are replaced when next touched
    /// ([`Pool::invalidate`](crate::Pool::invalidate)).
    pub generation: u64,
    /// In [`before_checkout`](crate::Builder::before_checkout), what is left of the checkout's
    /// deadline: a hook doing I/O must not take longer (as a pre-ping gets no more). `None`
    /// elsewhere.
    pub time_left: Option<Duration>,
}

/// The hook run on each new connection.
pub(crate) type AfterConnect<M> =
    Box<dyn Fn(&mut <M as ManageConnection>::Connection) -> Result<(), BoxError> + Send + Sync>;
/// The hook run before each checkout.
pub(crate) type BeforeCheckout<M> = Box<
    dyn Fn(&mut <M as ManageConnection>::Connection, &ConnectionInfo) -> Result<(), BoxError> + Send + Sync,
>;
/// The hook run after each checkin.
pub(crate) type AfterCheckin<M> =
    Box<dyn Fn(&mut <M as ManageConnection>::Connection, &ConnectionInfo) -> bool + Send + Sync>;
/// The classifier of the backend's errors.
pub(crate) type Classify<M> = Box<dyn Fn(&<M as ManageConnection>::Error) -> ErrorClass + Send + Sync>;
/// Called with each connection the pool closes (an r2d2 customizer's `on_release`).
pub(crate) type OnClose<M> = Box<dyn Fn(<M as ManageConnection>::Connection) + Send + Sync>;

/// The hooks of one pool: each set once on the builder (a later call replaces an earlier one).
pub(crate) struct Hooks<M: ManageConnection> {
    /// With the name an error of it goes by.
    pub(crate) after_connect: Option<(&'static str, AfterConnect<M>)>,
    pub(crate) before_checkout: Option<BeforeCheckout<M>>,
    pub(crate) after_checkin: Option<AfterCheckin<M>>,
    pub(crate) classify: Option<Classify<M>>,
    pub(crate) on_close: Option<OnClose<M>>,
}

impl<M: ManageConnection> Default for Hooks<M> {
    fn default() -> Self {
        Hooks {
            after_connect: None,
            before_checkout: None,
            after_checkin: None,
            classify: None,
            on_close: None,
        }
    }
}

/// The names of the hooks set.
impl<M: ManageConnection> fmt::Debug for Hooks<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_list();
        if let Some((name, _)) = &self.after_connect {
            set.entry(name);
        }
        for (name, on) in [
            ("before_checkout", self.before_checkout.is_some()),
            ("after_checkin", self.after_checkin.is_some()),
            ("classify_errors", self.classify.is_some()),
            ("on_release", self.on_close.is_some()),
        ] {
            if on {
                set.entry(&name);
            }
        }
        set.finish()
    }
}

/// A hook's refusal of a connection, as the source of [`Error::Connect`](crate::Error::Connect):
/// the hook's own error is its source.
#[derive(Debug)]
pub(crate) struct HookError {
    pub(crate) hook: &'static str,
    pub(crate) source: BoxError,
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} hook refused the new connection", self.hook)
    }
}

impl StdError for HookError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

/// What an error means for the pool, once the classifier and the backend's rules have had
/// their say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Invalidate the pool, and close the connection.
    LostServer,
    /// Close the connection.
    Broken,
    /// Keep the connection.
    Harmless,
}
