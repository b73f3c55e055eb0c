//! Opening a connection on a short-lived thread, so the connect timeout bounds the whole opening.

use std::borrow::Cow;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use postgres::NoTls;

use super::config::{Settings, target};
use super::conn::PgConnection;
use super::error::PostgresError;

impl Settings {
    /// The longest the whole opening may take: `connect_timeout` for each host to be tried.
    pub(super) fn open_limit(&self) -> Option<Duration> {
        let hosts = self
            .config
            .get_hosts()
            .len()
            .max(self.config.get_hostaddrs().len())
            .max(1);
        self.connect_timeout
            .map(|timeout| timeout.saturating_mul(u32::try_from(hosts).unwrap_or(u32::MAX)))
    }

    /// Opens a connection in this thread, with no bound of its own beyond the driver's TCP
    /// connect timeout. With a credentials provider, it is asked first.
    fn open(&self) -> Result<PgConnection, PostgresError> {
        let tls = self
            .tls
            .as_ref()
            .map_err(|message| PostgresError::other(self.connecting(), message.clone()))?;
        let config = match &self.credentials {
            None => Cow::Borrowed(&self.config),
            Some(provider) => {
                let credentials = provider
                    .fetch()
                    .map_err(|failed| PostgresError::credentials(self.connecting(), failed))?;
                let mut config = self.config.clone();
                config.password(credentials.password.expose());
                if let Some(user) = credentials.user() {
                    config.user(user);
                }
                Cow::Owned(config)
            }
        };
        let client = match tls {
            Some(tls) => config.connect(tls.clone()),
            None => config.connect(NoTls),
        }
        .map_err(|err| PostgresError::driver(err).context(format!("connecting to {}", target(&config))))?;
        let mut conn = if self.pgbouncer {
            PgConnection::behind_pgbouncer(client, self.statement_cache_capacity)
        } else {
            PgConnection::with_statement_cache(client, self.statement_cache_capacity)
        };
        if let Some(sql) = &self.init {
            conn.batch_execute(sql).map_err(|err| {
                PostgresError::driver(err).context(format!("running the init statement on {}", self.target()))
            })?;
        }
        Ok(conn)
    }

    fn connecting(&self) -> String {
        format!("connecting to {}", self.target())
    }
}

/// Opens a connection, bounded by [`Settings::open_limit`] when there is one.
pub(super) fn open_bounded(settings: &Arc<Settings>) -> Result<PgConnection, PostgresError> {
    let Some(limit) = settings.open_limit() else {
        return settings.open();
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let shared = Arc::clone(settings);
    let spawned = thread::Builder::new()
        .name("millpond-pg-connect".to_owned())
        .spawn(move || {
            let result = shared.open();
            // Nobody listens after a timeout: the connection (if any) is closed here.
            let _ = tx.send(result);
        });
    if let Err(err) = spawned {
        return Err(PostgresError::other(
            settings.connecting(),
            format!("could not start a thread to connect on: {err}"),
        ));
    }
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            log::warn!(target: "millpond::postgres", "{}: no answer within {limit:?}", settings.connecting());
            Err(PostgresError::connect_timeout(limit, settings.connecting()))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(PostgresError::other(
            settings.connecting(),
            "the connecting thread panicked".to_owned(),
        )),
    }
}
