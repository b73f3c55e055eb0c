//! [`Builder`]: r2d2-style construction of a [`Pool`], one setter per option of the table in
//! `options.rs`, plus r2d2's names for the options it shares.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::Pool;
use crate::error::Error;
use crate::manage::ManageConnection;
use crate::options::{Chosen, PoolOptions, for_each_option, pool_defaults};

/// Builds a [`Pool`], r2d2-style: `Pool::builder().pool_size(4).build(manager)`.
///
/// Each setter takes the builder and returns it; one whose result is dropped set nothing, so
/// the type is `#[must_use]` (and so are the setters, which return it):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn configure<M: millpond::ManageConnection>(builder: millpond::Builder<M>) {
///     builder.pool_size(4); // dropped: the size is lost
/// }
/// ```
#[must_use = "a builder does nothing until `build` is called; a setter returns the changed builder"]
pub struct Builder<M> {
    options: PoolOptions,
    /// The options set rather than left at their defaults: some defaults depend on them
    /// ([`PoolOptions::settle`]).
    chosen: Chosen,
    manager: PhantomData<fn() -> M>,
}

impl<M> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("options", &self.options).finish()
    }
}

impl<M: ManageConnection> Default for Builder<M> {
    /// Starts from [`pool_defaults`](crate::settings::pool_defaults): the built-in defaults, or those
    /// given to [`setup`](crate::settings::setup).
    fn default() -> Self {
        Builder {
            options: pool_defaults(),
            chosen: Chosen::default(),
            manager: PhantomData,
        }
    }
}

/// One setter per option of the table.
macro_rules! make_setters {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $default:expr;
        set($arg:ident: $arg_ty:ty) => $set:expr;
        check $check:expr;
        settings $parse:ident;
        table $default_text:literal, $sqlalchemy:literal, $r2d2:literal, $hikari:literal;
    )+) => {
        impl<M: ManageConnection> Builder<M> {
            $(
                #[doc = concat!("Sets [`PoolOptions::", stringify!($field), "`]. Built-in default: ", $default_text, ".")]
                pub fn $field(mut self, $arg: $arg_ty) -> Self {
                    self.options.$field = $set;
                    self.chosen.$field = true;
                    self
                }
            )+
        }
    };
}

for_each_option!(make_setters);

impl<M: ManageConnection> Builder<M> {
    /// A builder starting from `options`, taken as given: no default is adjusted to the others
    /// (see [`PoolOptions::idle_timeout`]).
    pub fn from_options(options: PoolOptions) -> Self {
        Builder {
            options,
            chosen: Chosen::all(),
            manager: PhantomData,
        }
    }

    /// r2d2's `max_size`: a pool of `max_size` connections with no overflow.
    pub fn max_size(self, max_size: usize) -> Self {
        self.pool_size(max_size).max_overflow(0)
    }

    /// r2d2's `connection_timeout`: the same as [`Builder::timeout`].
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.timeout(timeout)
    }

    /// r2d2's `max_lifetime`: the same as [`Builder::recycle`].
    pub fn max_lifetime(self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.recycle(lifetime)
    }

    /// r2d2's `test_on_check_out`: the same as [`Builder::pre_ping`].
    pub fn test_on_check_out(self, test: bool) -> Self {
        self.pre_ping(test)
    }

    /// The options as set so far.
    pub fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// Validates the options, makes the pool and opens `min_idle` connections (at most
    /// `connect_concurrency` at once), failing with [`Error::Connect`] if one cannot be opened
    /// and with [`Error::Timeout`] if they are not all open within `timeout`.
    pub fn build(self, manager: M) -> Result<Pool<M>, Error> {
        let pool = self.build_unchecked(manager)?;
        pool.fill_min_idle()?;
        Ok(pool)
    }

    /// Validates the options and makes the pool without opening any connection: the first
    /// checkouts (or the reaper) open them.
    pub fn build_unchecked(mut self, manager: M) -> Result<Pool<M>, Error> {
        self.options.settle(&self.chosen);
        self.options.validate()?;
        manager.check_options(&self.options)?;
        Ok(Pool::from_parts(manager, self.options))
    }
}
