//! The registry: one pool per alias and process, made on first use from the settings.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, PoisonError, RwLock, RwLockWriteGuard};

use crate::databases::{DatabaseSettings, Databases, FromSettings, SettingsError};
use crate::error::{ConfigError, Error};
use crate::pool::Builder;
use crate::pool::{Pool, PooledConnection};

/// Pools by alias, each made on first use in each process, as django-db-connection-pool's pool
/// container makes them; share it between threads (the global one is [`registry`]).
///
/// After a `fork`, the child's first use of an alias makes a new pool: the pools inherited from
/// the parent are left untouched (never closed or used), so the parent's connections are the
/// parent's alone. A fork while other threads use the global [`registry`] waits for them to
/// leave it, so the child never inherits its locks held (see [`registry`]); a registry made
/// with [`Registry::new`] is not covered: fork while no other thread is using it, as with any
/// lock.
///
/// ```
/// use millpond::{settings::{Databases, DatabaseSettings, Registry}, sqlite::SqliteManager};
///
/// let registry = Registry::new(
///     Databases::new().with("default", DatabaseSettings::from_url("sqlite::memory:?min_idle=1")?),
/// );
/// let conn = registry.get::<SqliteManager>("default")?;
/// let two: i64 = conn.query_row("SELECT 1 + 1", [], |row| row.get(0))?;
/// assert_eq!(two, 2);
/// // The same pool again, from any thread.
/// assert_eq!(registry.pool::<SqliteManager>("default")?.state().in_use, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Registry {
    /// `None` until configured: the global registry then reads the environment on first use.
    databases: RwLock<Option<Databases>>,
    /// Read on every lookup; written only to make a pool, after a fork, or to close them all.
    pools: RwLock<ProcessPools>,
}

/// This process's pools.
struct ProcessPools {
    /// The fork generation of the process they were made in.
    generation: u64,
    /// A `Pool<M>` by manager type and alias (in that order, so a lookup by `&str` allocates
    /// nothing).
    pools: HashMap<TypeId, HashMap<String, Box<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One lock at a time: `pool` takes `databases` while it holds `pools`, so holding both
        // here in the other order could deadlock with it (and with the fork handler).
        let pools = {
            let pools = self.pools.read().unwrap_or_else(PoisonError::into_inner);
            pools.pools.values().map(HashMap::len).sum::<usize>()
        };
        let databases = self.databases.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("databases", &*databases)
            .field("pools", &pools)
            .finish()
    }
}

impl Registry {
    /// A registry of these databases; no pool is made until asked for. The settings are taken
    /// as given: each alias is checked as its pool is made. Call [`Databases::validate`] first
    /// to check them all before any is used.
    pub fn new(databases: Databases) -> Self {
        Registry::with(Some(databases))
    }

    fn with(databases: Option<Databases>) -> Self {
        crate::fork::watch();
        Registry {
            databases: RwLock::new(databases),
            pools: RwLock::new(ProcessPools {
                generation: crate::fork::generation(),
                pools: HashMap::new(),
            }),
        }
    }

    /// Replaces the databases, taken as given (each alias is checked as its pool is made; the
    /// free function [`configure`] checks them all first). This process's pools are closed
    /// (connections in use when they come back); the next use of an alias makes a pool from the
    /// new settings.
    pub fn configure(&self, databases: Databases) {
        *self.databases.write().unwrap_or_else(PoisonError::into_inner) = Some(databases);
        self.close_all();
    }

    /// The databases, as configured (read from the environment if that is how the global
    /// registry got them).
    pub fn databases(&self) -> Result<Databases, Error> {
        self.with_databases(|databases| Ok(databases.clone()))
    }

    /// The pool of `alias` in this process, made now if this is the first use here. Its
    /// options are the [defaults](crate::settings::pool_defaults) of the moment with the alias's
    /// `POOL_OPTIONS` applied, and it is named after the alias unless `NAME` says otherwise.
    /// `min_idle` connections are opened before it is returned (a failure is returned, and the
    /// pool stays registered).
    pub fn pool<M: FromSettings>(&self, alias: &str) -> Result<Pool<M>, Error> {
        {
            let pools = self.pools.read().unwrap_or_else(PoisonError::into_inner);
            if pools.generation == crate::fork::generation()
                && let Some(pool) = pools.get::<M>(alias)
            {
                return Ok(pool);
            }
        }
        let pool = {
            let mut pools = self.process_pools();
            if let Some(pool) = pools.get::<M>(alias) {
                // Another thread made it while this one waited for the lock.
                return Ok(pool);
            }
            let settings = self.settings(alias)?;
            let pool = make_pool::<M>(alias, &settings)?;
            pools
                .pools
                .entry(TypeId::of::<M>())
                .or_default()
                .insert(alias.to_owned(), Box::new(pool.clone()));
            pool
        };
        pool.fill_min_idle()?;
        Ok(pool)
    }

    /// A connection from the pool of `alias` ([`Registry::pool`], then [`Pool::get`]).
    pub fn get<M: FromSettings>(&self, alias: &str) -> Result<PooledConnection<M>, Error> {
        self.pool::<M>(alias)?.get()
    }

    /// Closes this process's pools and forgets them; the next use makes new ones.
    pub fn close_all(&self) {
        let pools = std::mem::take(&mut self.process_pools().pools);
        // Dropped outside the lock: closing may take time.
        drop(pools);
    }

    /// This process's pools; in a forked child, the parent's are forgotten first.
    fn process_pools(&self) -> RwLockWriteGuard<'_, ProcessPools> {
        let mut pools = self.pools.write().unwrap_or_else(PoisonError::into_inner);
        let generation = crate::fork::generation();
        if pools.generation != generation {
            // The parent's pools: leaked on purpose, so nothing in this process closes or
            // touches the parent's connections (the pools would leave them alone too, but
            // there is nothing to gain from running their code here).
            std::mem::forget(std::mem::take(&mut pools.pools));
            pools.generation = generation;
        }
        pools
    }

    /// The settings of `alias`.
    pub(crate) fn settings(&self, alias: &str) -> Result<DatabaseSettings, Error> {
        self.with_databases(|databases| {
            databases.get(alias).cloned().ok_or_else(|| {
                let known: Vec<&str> = databases.aliases().collect();
                Error::Config(ConfigError::new(
                    "DATABASES",
                    if known.is_empty() {
                        format!("there is no database `{alias}`: no alias is configured")
                    } else {
                        format!(
                            "there is no database `{alias}`; the configured aliases are {}",
                            known.join(", ")
                        )
                    },
                ))
            })
        })
    }

    fn with_databases<T>(&self, f: impl FnOnce(&Databases) -> Result<T, Error>) -> Result<T, Error> {
        {
            let databases = self.databases.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(databases) = &*databases {
                return f(databases);
            }
        }
        let mut databases = self.databases.write().unwrap_or_else(PoisonError::into_inner);
        if databases.is_none() {
            let from_env = Databases::from_env()?;
            if from_env.is_empty() {
                return Err(Error::Config(ConfigError::new(
                    "DATABASES",
                    "no database is configured: call millpond::settings::configure, or set DATABASE_URL or \
                     MILLPOND_DATABASES__<ALIAS>__ENGINE and the like",
                )));
            }
            // Checked whole, as `configure` checks what it is given.
            from_env.validate()?;
            *databases = Some(from_env);
        }
        f(databases.as_ref().expect("set above"))
    }
}

impl ProcessPools {
    fn get<M: FromSettings>(&self, alias: &str) -> Option<Pool<M>> {
        let pool = self.pools.get(&TypeId::of::<M>())?.get(alias)?;
        Some(
            pool.downcast_ref::<Pool<M>>()
                .expect("pools are stored under their own type")
                .clone(),
        )
    }
}

/// Makes the pool of `alias`, opening no connection.
fn make_pool<M: FromSettings>(alias: &str, settings: &DatabaseSettings) -> Result<Pool<M>, Error> {
    let in_alias = |err: ConfigError| {
        Error::Config(ConfigError::new(
            err.option,
            format!("database `{alias}`: {}", err.message),
        ))
    };
    let manager = M::from_settings(settings).map_err(|err| in_alias(settings.explain(alias, err)))?;
    let options = settings.pool_options_named(alias);
    Builder::from_options(options)
        .build_unchecked(manager)
        .map_err(|err| match err {
            Error::Config(err) => in_alias(err),
            other => other,
        })
}

/// The process-wide registry, once [`registry`] has made it.
static GLOBAL: OnceLock<Registry> = OnceLock::new();

/// The process-wide registry, as `django.db.connections` is: configure it once with
/// [`configure`], or leave it to read the environment ([`Databases::from_env`]) on first use
/// (checked whole then, as `configure` checks).
///
/// It is safe to `fork` while other threads use it (a prefork server's master, say): on Unix a
/// `pthread_atfork` handler takes its locks before the fork, so the fork waits until no other
/// thread is inside it (making a pool takes as long as [`FromSettings::from_settings`]), and
/// the child starts with them free. The thread that forks must not be inside the registry
/// itself (forking from `from_settings`, say), or the fork deadlocks on its own lock.
pub fn registry() -> &'static Registry {
    GLOBAL.get_or_init(|| {
        #[cfg(unix)]
        across_fork::watch();
        Registry::with(None)
    })
}

/// Keeps the global registry's locks free in a forked child: taken before the fork, released
/// after it in the parent and the child (all on the forking thread).
#[cfg(unix)]
mod across_fork {
    use std::cell::Cell;
    use std::sync::{Once, PoisonError, RwLockWriteGuard};

    use super::{Databases, GLOBAL, ProcessPools};

    /// The global registry's locks, in the order they are taken.
    type Held = (
        RwLockWriteGuard<'static, ProcessPools>,
        RwLockWriteGuard<'static, Option<Databases>>,
    );

    thread_local! {
        /// The locks the forking thread holds between the prepare handler and the parent's or
        /// child's (guards are not `Send`, and all three handlers run on that thread).
        static HELD: Cell<Option<Held>> = const { Cell::new(None) };
    }

    static REGISTER: Once = Once::new();

    /// Before a fork: waits until no other thread is inside the global registry, and keeps it
    /// so until the fork is done.
    extern "C" fn prepare() {
        // A registry still unmade has no lock to inherit; making it here could block the fork.
        let Some(registry) = GLOBAL.get() else {
            return;
        };
        // `pools` first: `Registry::pool` reads `databases` while it holds `pools`.
        let pools = registry.pools.write().unwrap_or_else(PoisonError::into_inner);
        let databases = registry.databases.write().unwrap_or_else(PoisonError::into_inner);
        // Without thread-locals (a fork from a thread's destructors) the guards drop here,
        // unlocking at once: no worse than no handler.
        let _ = HELD.try_with(|held| held.set(Some((pools, databases))));
    }

    /// After the fork, in the parent and in the child: releases what `prepare` took. In the
    /// child this only stores atomics and may wake a futex: async-signal-safe.
    extern "C" fn release() {
        let _ = HELD.try_with(|held| drop(held.take()));
    }

    /// Installs the handlers, once per process; called as the global registry is made.
    pub(super) fn watch() {
        REGISTER.call_once(|| {
            // The handlers only lock and unlock the global registry's `RwLock`s on the forking
            // thread, and touch no other state.
            if let Err(rc) = crate::fork::around(prepare, release, release) {
                log::warn!(
                    target: "millpond::pool",
                    "pthread_atfork failed ({rc}): a fork while another thread uses the registry may leave it locked in the child"
                );
            }
        });
    }
}

/// Checks these databases ([`Databases::validate`]: every alias's manager made from its
/// settings and its pool options checked, without connecting) and configures the process-wide
/// [`registry`] with them, closing any pools it made from earlier settings.
///
/// Call it before a prefork server forks: a mistyped option then stops the deploy with every
/// problem of every alias listed, rather than failing in each worker at its first use. Refused
/// settings change nothing. (To configure it with settings meant for a manager of your own
/// that millpond's would refuse, use `registry().configure(databases)`, which takes them as
/// given.)
///
/// ```
/// use millpond::settings::{DatabaseSettings, Databases};
///
/// let err = millpond::settings::configure(
///     Databases::new().with("default", DatabaseSettings::from_url("sqlite::memory:?pool_sise=3")?),
/// )
/// .unwrap_err();
/// assert!(err.to_string().contains("the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?)"));
/// # Ok::<(), millpond::ConfigError>(())
/// ```
pub fn configure(databases: Databases) -> Result<(), SettingsError> {
    databases.validate()?;
    registry().configure(databases);
    Ok(())
}
