//! Statements for PgBouncer's transaction mode (`pgbouncer=true`), where each transaction may
//! run on a different server connection, shared with other clients and other processes.
//!
//! A named prepared statement lives on the server connection that made it, so there it is gone
//! (`26000`), taken by another client's statement of the same name (`42P05`, or worse, that
//! statement run with these parameters), or left behind. So SQL text runs as the unnamed
//! statement, parsed, bound and executed in one flight (the driver's `query_typed`), declaring
//! the parameter types the server reported for that text. Those are learned once per connection
//! and SQL text: the statement is prepared and closed again inside a transaction (one of its
//! own when none is open), so the prepared statement never outlives it.
//!
//! The driver looks up the types it does not know built in (enums, domains, composite and
//! extension types) with named statements of its own, which it keeps for the connection's life.
//! When learning a statement's types made it do so, every prepared statement on that server
//! connection is dropped before the transaction ends, the connection is closed when it goes
//! back instead of being pooled again (its driver would reuse statements that no longer exist),
//! and a warning says to cast such values to text in the SQL.

use std::iter;
use std::sync::Arc;

use postgres::GenericClient;
use postgres::types::{ToSql, Type};

use super::cache::{StatementCache, forgets_statements};
use super::commit::{begins_transaction, ends_transaction};

/// The parameter types of a statement that has none: one shared list, so that transaction
/// control (`BEGIN`, `COMMIT`, run on every transaction behind PgBouncer) allocates nothing.
fn no_params() -> Arc<[Type]> {
    static NONE: std::sync::OnceLock<Arc<[Type]>> = std::sync::OnceLock::new();
    Arc::clone(NONE.get_or_init(|| Arc::from([])))
}

/// The parameter types of `sql`: kept in `cache`, or learned now (see the module's doc).
/// `own_transaction`: no transaction is open, so the learning runs in one of its own.
pub(super) fn param_types(
    client: &mut impl GenericClient,
    cache: &mut StatementCache,
    sql: &str,
    own_transaction: bool,
) -> Result<Arc<[Type]>, postgres::Error> {
    if !needs_description(sql) {
        return Ok(no_params());
    }
    let mut found_custom = false;
    let types = cache.get_or_describe(sql, |sql| {
        let (types, custom) = describe(client, sql, own_transaction)?;
        found_custom = custom;
        Ok(types)
    })?;
    if found_custom && !cache.must_retire() {
        cache.retire();
        log::warn!(
            target: "millpond::postgres",
            "behind PgBouncer (pgbouncer=true), a statement uses a type the driver does not know built in \
             (an enum, domain, composite or extension type); the driver looks such types up with named \
             statements PgBouncer cannot keep, so this connection is closed when it goes back. Cast such \
             values to and from text in the SQL to keep connections pooled: {sql}"
        );
    }
    Ok(types)
}

/// Whether `sql` is worth describing: transaction control and statements that drop prepared
/// ones take no parameters and return no rows.
fn needs_description(sql: &str) -> bool {
    !(begins_transaction(sql) || ends_transaction(sql) || forgets_statements(sql))
}

/// Prepares `sql`, notes its parameter types and whether it involves a type the driver had to
/// look up, and closes it again, all inside one transaction.
fn describe(
    client: &mut impl GenericClient,
    sql: &str,
    own_transaction: bool,
) -> Result<(Arc<[Type]>, bool), postgres::Error> {
    if !own_transaction {
        return describe_here(client, sql);
    }
    let mut transaction = client.transaction()?;
    let described = describe_here(&mut transaction, sql);
    // Nothing was done: a rollback is as good as a commit, and also ends a failed transaction.
    let ended = transaction.rollback();
    let described = described?;
    ended?;
    Ok(described)
}

fn describe_here(client: &mut impl GenericClient, sql: &str) -> Result<(Arc<[Type]>, bool), postgres::Error> {
    let statement = client.prepare(sql)?;
    let types: Arc<[Type]> = statement.params().into();
    let custom = types
        .iter()
        .chain(statement.columns().iter().map(|column| column.type_()))
        .any(|ty| Type::from_oid(ty.oid()).is_none());
    // The driver sends the statement's `Close` now, ahead of anything sent after.
    drop(statement);
    if custom {
        // The driver's type lookups were prepared on this server connection and are kept by
        // the driver: drop them here, before the transaction ends and the server connection
        // goes to another client.
        client.batch_execute("DEALLOCATE ALL")?;
    }
    Ok((types, custom))
}

/// Whether an error running SQL text unnamed may come from the types kept for it having gone
/// stale (a column's type changed since they were learned): a value the driver could not
/// encode for a kept type (no SQLSTATE), a type mismatch or a missing function or operator
/// (class 42), or a type the server no longer knows (`XX000`). The types are then forgotten,
/// to be learned again on the next run. Errors about the data (constraints, serialization
/// failures, bad input: classes 22, 23, 40) keep them.
pub(super) fn may_be_stale(err: &postgres::Error) -> bool {
    match err.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("42") || code == "XX000"
        }
    }
}

/// `params` with the types to declare for them. Parameters beyond the statement's own are
/// declared `unknown`, so that the server's count check reports the mismatch.
pub(super) fn typed<'p>(
    params: &[&'p (dyn ToSql + Sync)],
    types: &[Type],
) -> Vec<(&'p (dyn ToSql + Sync), Type)> {
    params.iter().copied().zip(declared(types)).collect()
}

/// The types to declare, parameter by parameter (see [`typed`]).
pub(super) fn declared(types: &[Type]) -> impl Iterator<Item = Type> + '_ {
    types.iter().cloned().chain(iter::repeat(Type::UNKNOWN))
}
