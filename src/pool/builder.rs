//! [`Builder`]: r2d2-style construction of a [`Pool`], one setter per option of the table in
//! `options.rs`, plus r2d2's names for the options it shares, and the hooks (code, which the
//! options, shared with settings, cannot hold).

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::Pool;
use super::hooks::{ConnectionInfo, Hooks};
use crate::error::{BoxError, Error};
use crate::manage::{ErrorClass, ManageConnection};
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
pub struct Builder<M: ManageConnection> {
    options: PoolOptions,
    /// The options set rather than left at their defaults: some defaults depend on them
    /// ([`PoolOptions::settle`]).
    chosen: Chosen,
    hooks: Hooks<M>,
    manager: PhantomData<fn() -> M>,
}

/// The options, and the names of the hooks set.
impl<M: ManageConnection> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("options", &self.options)
            .field("hooks", &self.hooks)
            .finish()
    }
}

impl<M: ManageConnection> Default for Builder<M> {
    /// Starts from [`pool_defaults`](crate::settings::pool_defaults): the built-in defaults, or those
    /// given to [`setup`](crate::settings::setup).
    fn default() -> Self {
        Builder {
            options: pool_defaults(),
            chosen: Chosen::default(),
            hooks: Hooks::default(),
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
            hooks: Hooks::default(),
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

    /// Runs `hook` on every new connection before the pool uses it: session setup (`SET
    /// search_path`, `SET TIME ZONE`, a role, prepared statements). An error fails that
    /// connect as a connect error does: the connection is closed and the checkout that opened
    /// it gets [`Error::Connect`], whose source says the hook refused it and whose source in
    /// turn is the hook's error. A panic frees the slot as a panicking connect does. It runs
    /// where connects run (the checkout's own connect thread, the reaper, `build`), outside
    /// the pool's lock, within the connect's bound for the caller. One hook; a later call
    /// replaces it (and [`connection_customizer`](Builder::connection_customizer)).
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use millpond::{Pool, sqlite::SqliteManager};
    ///
    /// let pool = Pool::builder()
    ///     .after_connect(|conn: &mut millpond::sqlite::Connection| {
    ///         conn.execute_batch("PRAGMA foreign_keys = ON")?;
    ///         Ok(())
    ///     })
    ///     .build(SqliteManager::memory())
    ///     .unwrap();
    /// let on: i64 = pool.get().unwrap().query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    /// assert_eq!(on, 1);
    /// # }
    /// ```
    pub fn after_connect(
        mut self,
        hook: impl Fn(&mut M::Connection) -> Result<(), BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.after_connect = Some(("after_connect", Box::new(hook)));
        self
    }

    /// Runs `hook` on every connection about to be handed out (idle or new), after the pool's
    /// own checks (lifetime, invalidation, pre-ping), with what the pool knows of it
    /// ([`ConnectionInfo`], including `time_left`, what remains of the checkout's deadline,
    /// which a hook doing I/O must respect). An error refuses the connection: it is closed and
    /// the checkout goes on, within the same deadline, with another (idle, or new). With no
    /// time left the hook is not run and the checkout times out, as with a pre-ping. A panic
    /// closes the connection, frees its slot and goes on to the caller of `get`. Runs outside
    /// the pool's lock, in the caller's thread. One hook; a later call replaces it.
    pub fn before_checkout(
        mut self,
        hook: impl Fn(&mut M::Connection, &ConnectionInfo) -> Result<(), BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.before_checkout = Some(Box::new(hook));
        self
    }

    /// Runs `hook` on every connection given back that the pool would keep (after the reset,
    /// and unless it is broken or past its lifetime): `true` keeps it, `false` closes it
    /// (counted as [`discarded`](crate::observe::Stats::discarded)). For connections that
    /// changed session state the pool cannot see, or that have served enough. A panic closes
    /// the connection, frees its slot and goes on to the thread giving it back. Runs outside
    /// the pool's lock, in that thread; not when it is panicking. One hook; a later call
    /// replaces it.
    pub fn after_checkin(
        mut self,
        hook: impl Fn(&mut M::Connection, &ConnectionInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hooks.after_checkin = Some(Box::new(hook));
        self
    }

    /// Decides what the backend's errors mean where the pool meets them (a ping, the reset on
    /// return, a connect), overriding the backend's own rules:
    /// [`ErrorClass`] says what each answer does. [`ErrorClass::Backend`] leaves an error to
    /// those rules. HikariCP's `SQLExceptionOverride`. A classifier that panics is taken to
    /// answer `Backend` (the panic is logged). One classifier; a later call replaces it.
    ///
    /// ```
    /// # #[cfg(feature = "postgres")] {
    /// use millpond::{ErrorClass, Pool, postgres::{PostgresManager, SqlState}};
    ///
    /// let builder = Pool::<PostgresManager>::builder().classify_errors(|err| match err.code() {
    ///     // A read-only standby after a failover: every connection must go.
    ///     Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => ErrorClass::LostServer,
    ///     _ => ErrorClass::Backend,
    /// });
    /// # }
    /// ```
    pub fn classify_errors(
        mut self,
        classify: impl Fn(&M::Error) -> ErrorClass + Send + Sync + 'static,
    ) -> Self {
        self.hooks.classify = Some(Box::new(classify));
        self
    }

    /// r2d2's `connection_customizer`: its `on_acquire` becomes the
    /// [`after_connect`](Builder::after_connect) hook (replacing one set before; an error
    /// fails the connect), and its `on_release` gets each connection the pool closes (a panic
    /// there is logged). Moving from r2d2 keeps the customizer as it is.
    #[cfg(feature = "r2d2")]
    #[cfg_attr(docsrs, doc(cfg(feature = "r2d2")))]
    pub fn connection_customizer(
        mut self,
        customizer: Box<dyn r2d2::CustomizeConnection<M::Connection, M::Error>>,
    ) -> Self {
        let customizer: std::sync::Arc<dyn r2d2::CustomizeConnection<M::Connection, M::Error>> =
            customizer.into();
        let on_release = std::sync::Arc::clone(&customizer);
        self.hooks.after_connect = Some((
            "connection customizer's on_acquire",
            Box::new(move |conn| {
                customizer
                    .on_acquire(conn)
                    .map_err(|err| Box::new(err) as BoxError)
            }),
        ));
        self.hooks.on_close = Some(Box::new(move |conn| on_release.on_release(conn)));
        self
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
        Ok(Pool::from_parts(manager, self.options, self.hooks))
    }
}
