//! Checks database settings before a deploy starts its workers: what a pipeline runs before a
//! prefork server forks.
//!
//! It reads DATABASES from the TOML file given as its argument, or, without one, from the
//! environment (`DATABASE_URL`, `MILLPOND_DATABASES__<ALIAS>__<KEY>`); checks every alias
//! without connecting ([`Databases::validate`]: every mistyped option of every alias, pool
//! options and driver parameters, listed at once); then opens one connection per alias, as
//! its pool would, and prints how long each took:
//!
//! ```text
//! default  postgresql  ok  4.2 ms
//! cache    sqlite      ok  0.3 ms
//! shop     mysql       failed  could not open a database connection: …
//! ```
//!
//! It exits with 0 when every alias is sound and answers, 1 when any is not, and 2 when it is
//! called wrongly. Build it with the engines your application uses:
//!
//! ```text
//! cargo run --example check_settings --features toml,postgres,mysql -- settings.toml
//! DATABASE_URL=postgres://app@db/app cargo run --example check_settings --features toml,postgres
//! ```

use std::error::Error;
use std::ffi::OsString;
use std::io::Write;
use std::time::{Duration, Instant};

use millpond::settings::{DatabaseSettings, Databases, Engine, FromSettings, Registry};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = run(&args, std::env::vars_os(), &mut std::io::stdout());
    std::process::exit(code);
}

/// Checks the settings named by `args` (a TOML file, or none for the environment `vars`),
/// writing what it finds to `out`; the exit status.
pub fn run(
    args: &[String],
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    out: &mut impl Write,
) -> i32 {
    // A closed output (a pipe to `head`) is no reason to report the settings wrong.
    let databases = match args {
        [] => Databases::from_vars(vars),
        [path] if !path.starts_with('-') => Databases::from_toml_file(path),
        _ => {
            let _ = writeln!(
                out,
                "usage: check_settings [DATABASES.toml]\n\
                 without a file, the settings come from DATABASE_URL and MILLPOND_DATABASES__<ALIAS>__<KEY>"
            );
            return 2;
        }
    };
    let databases = match databases {
        Ok(databases) => databases,
        Err(err) => {
            let _ = writeln!(out, "{err}");
            return 1;
        }
    };
    if databases.is_empty() {
        let _ = writeln!(
            out,
            "no database is configured: give a DATABASES TOML file, or set DATABASE_URL or \
             MILLPOND_DATABASES__<ALIAS>__ENGINE and the like"
        );
        return 1;
    }
    if let Err(err) = databases.validate() {
        let _ = writeln!(out, "{err}");
        return 1;
    }

    let aliases: Vec<&str> = databases.aliases().collect();
    let alias_width = aliases.iter().map(|a| a.len()).max().unwrap_or(0);
    let engine_width = aliases
        .iter()
        .filter_map(|a| databases.get(a))
        .map(|s| short_name(s.engine()).len())
        .max()
        .unwrap_or(0);
    let mut failed = false;
    for alias in aliases {
        let Some(settings) = databases.get(alias) else {
            continue;
        };
        let engine = short_name(settings.engine());
        let line = match connect_once(alias, settings) {
            Ok(took) => format!("ok  {:.1} ms", took.as_secs_f64() * 1000.0),
            Err(err) => {
                failed = true;
                format!("failed  {}", chain(err.as_ref()))
            }
        };
        let _ = writeln!(out, "{alias:<alias_width$}  {engine:<engine_width$}  {line}");
    }
    i32::from(failed)
}

/// The engine's name without `millpond.backends.`.
fn short_name(engine: Engine) -> &'static str {
    let name = engine.name();
    name.strip_prefix("millpond.backends.").unwrap_or(name)
}

/// Opens one connection for `alias` through a pool of its settings (with `MIN_IDLE` 0, so the
/// pool opens only that one) and gives it back; how long the checkout took.
fn connect_once(alias: &str, settings: &DatabaseSettings) -> Result<Duration, Box<dyn Error>> {
    let settings = settings.clone().pool_option("MIN_IDLE", 0)?;
    let registry = Registry::new(Databases::new().with(alias, settings.clone()));
    match settings.engine() {
        #[cfg(feature = "postgres")]
        Engine::Postgresql => checkout::<millpond::postgres::PostgresManager>(&registry, alias),
        #[cfg(feature = "mysql")]
        Engine::Mysql => checkout::<millpond::mysql::MySqlManager>(&registry, alias),
        #[cfg(feature = "oracle")]
        Engine::Oracle => checkout::<millpond::oracle::OracleManager>(&registry, alias),
        #[cfg(feature = "sqlite")]
        Engine::Sqlite => checkout::<millpond::sqlite::SqliteManager>(&registry, alias),
        #[cfg(feature = "jdbc")]
        jdbc if jdbc.is_jdbc() => checkout::<millpond::jdbc::JdbcManager>(&registry, alias),
        // `validate` has already said so; kept for builds without every engine.
        engine => Err(format!(
            "this build leaves out {engine}: enable the `{}` feature",
            engine.feature()
        )
        .into()),
    }
}

/// Checks out one connection of `alias` and gives it back, closing the pool; how long the
/// checkout took.
#[allow(dead_code)] // unused in a build without any engine
fn checkout<M: FromSettings>(registry: &Registry, alias: &str) -> Result<Duration, Box<dyn Error>> {
    let start = Instant::now();
    let conn = registry.get::<M>(alias)?;
    let took = start.elapsed();
    drop(conn);
    registry.close_all();
    Ok(took)
}

/// The error and its causes, each once: `could not open a database connection: …`.
fn chain(err: &(dyn Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
