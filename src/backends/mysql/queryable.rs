//! [`Queryable`] for [`MySqlConnection`] and [`MySqlTransaction`], every statement watched.

use ::mysql::prelude::{AsStatement, FromRow, Protocol, Queryable};
use ::mysql::{
    Binary, Error, FromRowError, Params, QueryResult, Row, Statement, Text, from_row, from_row_opt,
};

use super::Result;
use super::conn::MySqlConnection;
use super::transaction::MySqlTransaction;

/// `Queryable` for a type with `text`, `binary`, `prepare`, `close_statement` and `note`: every
/// method that runs SQL goes through them. The methods that finish reading a result themselves
/// are overridden so that the errors the driver would meet while draining it (and ignore, as
/// `QueryResult`'s `Drop` does) are seen too: such an error still does not fail the call, as
/// with the driver, but it marks the connection broken when it should.
macro_rules! watched_queryable {
    ($ty:ty) => {
        impl Queryable for $ty {
            fn query_iter<Q: AsRef<str>>(&mut self, query: Q) -> Result<QueryResult<'_, '_, '_, Text>> {
                let sql = query.as_ref();
                self.text(sql, |c| c.query_iter(sql))
            }

            fn query_first<T, Q>(&mut self, query: Q) -> Result<Option<T>>
            where
                Q: AsRef<str>,
                T: FromRow,
            {
                let sql = query.as_ref();
                let (first, rest) = self.text(sql, |c| c.query_iter(sql).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row))
            }

            fn query_first_opt<T, Q>(
                &mut self,
                query: Q,
            ) -> Result<Option<std::result::Result<T, FromRowError>>>
            where
                Q: AsRef<str>,
                T: FromRow,
            {
                let sql = query.as_ref();
                let (first, rest) = self.text(sql, |c| c.query_iter(sql).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row_opt))
            }

            fn query_fold<T, F, Q, U>(&mut self, query: Q, init: U, mut f: F) -> Result<U>
            where
                Q: AsRef<str>,
                T: FromRow,
                F: FnMut(U, T) -> U,
            {
                let sql = query.as_ref();
                let (folded, rest) = self.text(sql, |c| {
                    let mut result = c.query_iter(sql)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn query_fold_opt<T, F, Q, U>(&mut self, query: Q, init: U, mut f: F) -> Result<U>
            where
                Q: AsRef<str>,
                T: FromRow,
                F: FnMut(U, std::result::Result<T, FromRowError>) -> U,
            {
                let sql = query.as_ref();
                let (folded, rest) = self.text(sql, |c| {
                    let mut result = c.query_iter(sql)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row_opt(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn query_drop<Q>(&mut self, query: Q) -> Result<()>
            where
                Q: AsRef<str>,
            {
                let sql = query.as_ref();
                let rest = self.text(sql, |c| c.query_iter(sql).map(finish))?;
                self.note(rest.as_ref());
                Ok(())
            }

            fn prep<Q: AsRef<str>>(&mut self, query: Q) -> Result<Statement> {
                self.prepare(query.as_ref())
            }

            fn close(&mut self, stmt: Statement) -> Result<()> {
                self.close_statement(stmt)
            }

            fn exec_iter<S, P>(&mut self, stmt: S, params: P) -> Result<QueryResult<'_, '_, '_, Binary>>
            where
                S: AsStatement,
                P: Into<Params>,
            {
                self.binary(stmt, |c, st| c.exec_iter(st, params))
            }

            fn exec_batch<S, P, I>(&mut self, stmt: S, params: I) -> Result<()>
            where
                Self: Sized,
                S: AsStatement,
                P: Into<Params>,
                I: IntoIterator<Item = P>,
            {
                self.binary(stmt, |c, st| c.exec_batch(st, params))
            }

            fn exec_first<T, S, P>(&mut self, stmt: S, params: P) -> Result<Option<T>>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
            {
                let (first, rest) = self.binary(stmt, |c, st| c.exec_iter(st, params).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row))
            }

            fn exec_first_opt<T, S, P>(
                &mut self,
                stmt: S,
                params: P,
            ) -> Result<Option<std::result::Result<T, FromRowError>>>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
            {
                let (first, rest) = self.binary(stmt, |c, st| c.exec_iter(st, params).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row_opt))
            }

            fn exec_fold<T, S, P, U, F>(&mut self, stmt: S, params: P, init: U, mut f: F) -> Result<U>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
                F: FnMut(U, T) -> U,
            {
                let (folded, rest) = self.binary(stmt, |c, st| {
                    let mut result = c.exec_iter(st, params)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn exec_fold_opt<T, S, P, U, F>(&mut self, stmt: S, params: P, init: U, mut f: F) -> Result<U>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
                F: FnMut(U, std::result::Result<T, FromRowError>) -> U,
            {
                let (folded, rest) = self.binary(stmt, |c, st| {
                    let mut result = c.exec_iter(st, params)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row_opt(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn exec_drop<S, P>(&mut self, stmt: S, params: P) -> Result<()>
            where
                S: AsStatement,
                P: Into<Params>,
            {
                let rest = self.binary(stmt, |c, st| c.exec_iter(st, params).map(finish))?;
                self.note(rest.as_ref());
                Ok(())
            }
        }
    };
}

/// The first row of a result, and the first error met reading the rest of it.
fn first_row<T: Protocol>(mut result: QueryResult<'_, '_, '_, T>) -> (Result<Option<Row>>, Option<Error>) {
    let first = result.next().transpose();
    (first, finish(result))
}

/// Reads what is left of a result, as its `Drop` would, but returns the first error met
/// instead of ignoring it.
fn finish<T: Protocol>(mut result: QueryResult<'_, '_, '_, T>) -> Option<Error> {
    let mut first = None;
    while let Some(set) = result.iter() {
        for row in set {
            if let Err(err) = row {
                first.get_or_insert(err);
            }
        }
    }
    first
}

watched_queryable!(MySqlConnection);
watched_queryable!(MySqlTransaction<'_>);
