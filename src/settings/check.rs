//! Checking settings before any pool is made ([`Databases::validate`]): each alias's manager
//! made from its settings and its pool options settled and checked, without connecting, so a
//! deploy sees every problem of every alias before it starts its workers.

#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "oracle",
    feature = "sqlite"
))]
use crate::databases::Engine;
use crate::databases::{DatabaseSettings, Databases, FromSettings, Problems, SettingsError};
use crate::error::ConfigError;
use crate::options::PoolOptions;

impl Databases {
    /// Checks every alias as a pool would be made from it now, opening no connection, and
    /// reports every problem of every alias together:
    ///
    /// - the engine is one this build of millpond includes (a `millpond.backends.postgresql`
    ///   alias needs the `postgres` feature);
    /// - the engine's manager is made from the settings ([`FromSettings`]), which checks the
    ///   driver options (`OPTIONS`) and the URL's parameters; each one the engine does not read
    ///   is named where it was written (`default.OPTIONS.colour`, the URL's `?pool_sise=`),
    ///   with the closest accepted name and the list of what is accepted there (an engine
    ///   stops at a refused value, so the parameters after it wait for the next check);
    /// - the pool options (the [defaults](crate::settings::pool_defaults) of the moment with
    ///   `POOL_OPTIONS` applied) are checked alone and together, and by the manager (as when
    ///   a pool is built).
    ///
    /// [`configure`](crate::settings::configure) calls it; a deploy pipeline can too, before
    /// it starts its workers (`examples/check_settings.rs`). The aliases are checked against
    /// the managers of their engines: settings meant for a manager of your own that reads
    /// OPTIONS millpond's would refuse should skip it (use [`Registry::new`](crate::settings::Registry::new)).
    ///
    /// ```
    /// use millpond::settings::{DatabaseSettings, Databases};
    ///
    /// let databases = Databases::new()
    ///     .with("default", DatabaseSettings::from_url("sqlite::memory:?pool_size=2&wall=false")?)
    ///     .with("reports", DatabaseSettings::from_url("sqlite::memory:?min_idle=5&pool_size=2")?);
    /// let err = databases.validate().unwrap_err();
    /// assert_eq!(err.problems().len(), 2);
    /// assert!(err.to_string().contains("the URL's `?wall=` is not accepted (did you mean `wal`?)"));
    /// assert!(err.to_string().contains("reports: the pool option `min_idle` must be at most pool_size (2)"));
    /// # Ok::<(), millpond::ConfigError>(())
    /// ```
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Problems::default();
        for (alias, settings) in self.entries() {
            for error in check_alias(alias, settings) {
                problems.push(Some(alias), error);
            }
        }
        problems.or(())
    }
}

/// Every problem of one alias.
fn check_alias(alias: &str, settings: &DatabaseSettings) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let options = settings.pool_options_named(alias);
    let options = match options.validate() {
        Ok(()) => Some(options),
        Err(err) => {
            problems.push(ConfigError::new(
                err.option,
                format!("the pool option `{}` {}", err.option, err.message),
            ));
            None
        }
    };
    // Unused in a build with no engine at all.
    #[cfg_attr(
        not(any(
            feature = "postgres",
            feature = "mysql",
            feature = "oracle",
            feature = "sqlite",
            feature = "jdbc"
        )),
        allow(unused_variables)
    )]
    let options = options.as_ref();
    match settings.engine() {
        #[cfg(feature = "postgres")]
        Engine::Postgresql => check_manager::<crate::backends::postgres::PostgresManager>(
            alias,
            settings,
            options,
            &mut problems,
        ),
        #[cfg(feature = "mysql")]
        Engine::Mysql => {
            check_manager::<crate::backends::mysql::MySqlManager>(alias, settings, options, &mut problems)
        }
        #[cfg(feature = "oracle")]
        Engine::Oracle => {
            check_manager::<crate::backends::oracle::OracleManager>(alias, settings, options, &mut problems)
        }
        #[cfg(feature = "sqlite")]
        Engine::Sqlite => {
            check_manager::<crate::backends::sqlite::SqliteManager>(alias, settings, options, &mut problems)
        }
        #[cfg(feature = "jdbc")]
        jdbc if jdbc.is_jdbc() => {
            check_manager::<crate::backends::jdbc::JdbcManager>(alias, settings, options, &mut problems)
        }
        engine => problems.push(ConfigError::new(
            "ENGINE",
            format!(
                "ENGINE is {engine}, which this build of millpond leaves out: enable its Cargo \
                 feature, `{feature}` (millpond = {{ features = [\"{feature}\"] }})",
                feature = engine.feature()
            ),
        )),
    }
    problems
}

/// Makes the manager `M` from `settings` and has it check `options` (when they are sound).
/// Each parameter the engine does not read is noted and left out, and the manager made again,
/// so that every unknown parameter is named (an engine stops at the first).
#[cfg_attr(
    not(any(
        feature = "postgres",
        feature = "mysql",
        feature = "oracle",
        feature = "sqlite",
        feature = "jdbc"
    )),
    allow(dead_code)
)]
fn check_manager<M: FromSettings>(
    alias: &str,
    settings: &DatabaseSettings,
    options: Option<&PoolOptions>,
    problems: &mut Vec<ConfigError>,
) {
    let mut settings = settings.clone();
    loop {
        match M::from_settings(&settings) {
            Ok(manager) => {
                if let Some(Err(err)) = options.map(|options| manager.check_options(options)) {
                    problems.push(err);
                }
                return;
            }
            Err(err) => {
                let unknown = err.unknown_parameter().map(|unknown| unknown.key.clone());
                problems.push(settings.explain(alias, err));
                // Each turn takes a parameter out, so this ends.
                match unknown.and_then(|key| settings.without_parameter(&key)) {
                    Some(rest) => settings = rest,
                    None => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unknown_parameter_of_an_alias_is_named_and_values_are_checked() {
        let databases = Databases::new()
            .with(
                "default",
                DatabaseSettings::from_url("sqlite::memory:?pool_sise=3&wall=no&timeout=2")
                    .unwrap()
                    .option("colour", "blue"),
            )
            .with(
                "other",
                DatabaseSettings::from_url("sqlite::memory:?mode=sometimes").unwrap(),
            );
        let err = databases.validate().unwrap_err();
        let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines[0].starts_with(
                "default: the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?); the \
                 accepted ones are the pool options (pool_size, max_overflow,"
            ) && lines[0].ends_with(
                "and the driver parameters of millpond.backends.sqlite (mode, busy_timeout_ms and wal)"
            ),
            "{err}"
        );
        assert!(
            lines[1].contains("the URL's `?wall=` is not accepted (did you mean `wal`?)"),
            "{err}"
        );
        assert!(
            lines[2].starts_with(
                "default: `default.OPTIONS.colour` is not a driver option of millpond.backends.sqlite;"
            ),
            "{err}"
        );
        assert_eq!(
            lines[3],
            "other: mode `sometimes` is not accepted; use ro, rw or rwc"
        );
    }

    #[test]
    fn pool_options_are_checked_together() {
        let databases = Databases::new()
            .with(
                "good",
                DatabaseSettings::from_url("sqlite::memory:?pool_size=2&min_idle=2").unwrap(),
            )
            .with(
                "bad",
                DatabaseSettings::from_url("sqlite::memory:?pool_size=2&min_idle=3&keepalive=900").unwrap(),
            );
        let err = databases.validate().unwrap_err();
        assert_eq!(err.problems().len(), 1, "{err}");
        assert_eq!(err.problems()[0].alias.as_deref(), Some("bad"));
        assert_eq!(
            err.to_string(),
            "invalid database settings: bad: the pool option `min_idle` must be at most pool_size (2) (got 3)"
        );
        assert!(Databases::new().validate().is_ok());
    }

    /// Only in a build without the `oracle` feature (`cargo test --lib`, default features).
    #[cfg(not(feature = "oracle"))]
    #[test]
    fn an_engine_left_out_of_the_build_is_named_with_its_feature() {
        let err = Databases::new()
            .with("ledger", DatabaseSettings::new(Engine::Oracle).name("FREEPDB1"))
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid database settings: ledger: ENGINE is millpond.backends.oracle, which this build of \
             millpond leaves out: enable its Cargo feature, `oracle` (millpond = { features = [\"oracle\"] })"
        );
    }
}
